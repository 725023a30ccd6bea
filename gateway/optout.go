package gateway

import (
	"context"
	"strings"
)

// Opt-out exemption.
//
// The confirmation of a STOP ("you have been unsubscribed") and the answers to
// HELP and START must reach a number that is on (or has just joined) the
// suppression list. Inbox marks such sends with WithOptOutExempt; nothing
// else may. The Sender that receives them (Dispatcher.Submit) is expected to:
//
//  1. skip its opt-out refusal when OptOutExempt(ctx) is true;
//  2. then, and only then, store Metadata[OptOutExemptKey] = "true" on the
//     message, and otherwise delete that key from caller-supplied metadata
//     (so an API client cannot forge the exemption);
//  3. skip the opt-out re-check before dispatch for messages where
//     IsOptOutExempt(msg) is true.
//
// Everything else about the message (pacing, budgets, idempotency) is
// unchanged. Inbox also sets IdempotencyKey on these replies so that a PDU
// re-read after a crash does not send a second one.

// OptOutExemptKey is the Metadata key marking a stored message as exempt from
// the opt-out re-check before dispatch. Only a Sender honouring
// WithOptOutExempt may set it.
const OptOutExemptKey = "simgate.optout_exempt"

// OptOutAgent is the Agent of record of the replies Inbox sends on its own
// (STOP confirmation, START and HELP answers).
const OptOutAgent = "system:optout"

type optOutExemptKey struct{}

// WithOptOutExempt returns a context under which a send may go to an
// opted-out number. Only the Inbox uses it, for the one confirmation of a
// STOP and for START/HELP answers.
func WithOptOutExempt(ctx context.Context) context.Context {
	return context.WithValue(ctx, optOutExemptKey{}, true)
}

// OptOutExempt reports whether ctx came from WithOptOutExempt.
func OptOutExempt(ctx context.Context) bool {
	v, _ := ctx.Value(optOutExemptKey{}).(bool)
	return v
}

// IsOptOutExempt reports whether m was stored as exempt from the opt-out
// re-check (Metadata[OptOutExemptKey] == "true").
func IsOptOutExempt(m *Message) bool {
	return m != nil && m.Metadata[OptOutExemptKey] == "true"
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

// exemptMetadata returns md with OptOutExemptKey set when exempt and removed
// otherwise, so that no API client can forge the exemption. md is not modified.
func exemptMetadata(md map[string]string, exempt bool) map[string]string {
	_, has := md[OptOutExemptKey]
	if !exempt && !has {
		return md
	}
	out := make(map[string]string, len(md)+1)
	for k, v := range md {
		if k != OptOutExemptKey {
			out[k] = v
		}
	}
	if exempt {
		out[OptOutExemptKey] = "true"
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
