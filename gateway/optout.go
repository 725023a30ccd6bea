package gateway

import "strings"

// Opt-out exemption.
//
// The confirmation of a STOP ("you have been unsubscribed") and the answers to
// HELP and START must reach a number that is on (or has just joined) the
// suppression list. The Inbox (and the campaign service, for the one
// confirmation of an opt-out made in a conversation) sends them with
// SendRequest.OptOutReply set; nothing else may (the API builds its
// SendRequest from its own fields and never sets it). The Dispatcher then
//
//  1. skips its opt-out refusal at Submit,
//  2. stores Message.OptOutReply, and
//  3. skips the opt-out re-check before dispatch for such a message.
//
// Everything else about the message (pacing, budgets, idempotency) is
// unchanged. The Inbox also sets IdempotencyKey on these replies so that a PDU
// re-read after a crash does not send a second one.

// OptOutExemptKey is the Metadata key that marked a message as exempt
// before Message.OptOutReply existed. Records stored with it are honoured;
// Submit drops it from caller-supplied metadata, so it cannot be forged.
const OptOutExemptKey = "simgate.optout_exempt"

// OptOutAgent is the Agent of record of the replies Inbox sends on its own
// (STOP confirmation, START and HELP answers).
const OptOutAgent = "system:optout"

// IsOptOutExempt reports whether m is exempt from the opt-out re-check
// before dispatch (an Inbox reply, see SendRequest.OptOutReply).
func IsOptOutExempt(m *Message) bool {
	return m != nil && (m.OptOutReply || m.Metadata[OptOutExemptKey] == "true")
}

// Keyword is what an inbound body asks for.
type Keyword int

const (
	KeywordNone  Keyword = iota // an ordinary message
	KeywordStop                 // opt out
	KeywordStart                // opt back in
	KeywordHelp                 // ask for information
)

func (k Keyword) String() string {
	switch k {
	case KeywordStop:
		return "stop"
	case KeywordStart:
		return "start"
	case KeywordHelp:
		return "help"
	default:
		return "none"
	}
}

// Default keywords and replies (see InboxConfig).
var (
	DefaultStopWords  = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT"}
	DefaultStartWords = []string{"START", "UNSTOP"}
	DefaultHelpWords  = []string{"HELP", "INFO"}
)

const (
	DefaultStopReply  = "You are unsubscribed and will receive no further messages from this number. Reply START to resubscribe."
	DefaultStartReply = "You are subscribed again. Reply STOP to unsubscribe."
	DefaultHelpReply  = "Reply STOP to unsubscribe or START to resubscribe."
)

// MatchKeyword classifies body: it is a keyword when the whole body, with
// surrounding white space and trailing ".", "!" removed, equals one of the
// words (case-insensitive). Stop words win over start and help words.
func MatchKeyword(body string, stop, start, help []string) Keyword {
	b := strings.TrimSpace(body)
	b = strings.TrimRight(b, ".! \t\r\n")
	if b == "" || len(b) > 32 {
		return KeywordNone
	}
	for _, set := range []struct {
		words []string
		k     Keyword
	}{{stop, KeywordStop}, {start, KeywordStart}, {help, KeywordHelp}} {
		for _, w := range set.words {
			if strings.EqualFold(b, strings.TrimSpace(w)) {
				return set.k
			}
		}
	}
	return KeywordNone
}

// withoutReserved returns md without OptOutExemptKey, so that no caller
// can forge the exemption through metadata. md is not modified.
func withoutReserved(md map[string]string) map[string]string {
	if _, has := md[OptOutExemptKey]; !has {
		return md
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		if k != OptOutExemptKey {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
