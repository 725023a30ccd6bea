package gateway

import (
	"slices"
	"time"
)

// Direction of a message.
type Direction string

const (
	Outbound Direction = "out"
	Inbound  Direction = "in"
)

// Status is a message's state, rolled up from its parts (see RollUp).
type Status string

const (
	StatusQueued    Status = "queued"    // accepted, no part submitted yet
	StatusSending   Status = "sending"   // some parts submitted, others still to go
	StatusSent      Status = "sent"      // every part submitted (+CMGS answered)
	StatusDelivered Status = "delivered" // every part's status report said delivered
	StatusFailed    Status = "failed"    // a part failed permanently
	StatusUnknown   Status = "unknown"   // a part's fate cannot be known (crash or timeout after the PDU went out)
	StatusCancelled Status = "cancelled" // cancelled while queued
	StatusExpired   Status = "expired"   // validity ran out before it could be sent
	// StatusUnconfirmed: every part was submitted and asked for a status
	// report, and the report window (Config.ReportWindow) ended before some
	// part's report came. Final: the network never said.
	StatusUnconfirmed Status = "unconfirmed"
	StatusReceived    Status = "received" // inbound
)

// statuses is every message status, outbound in lifecycle order, then inbound.
var statuses = []Status{StatusQueued, StatusSending, StatusSent, StatusDelivered, StatusFailed,
	StatusUnknown, StatusCancelled, StatusExpired, StatusUnconfirmed, StatusReceived}

// Statuses returns every message status (a new slice each call): the one
// list the API and the CLI check a status filter against.
func Statuses() []Status { return slices.Clone(statuses) }

// Known reports whether s is one of Statuses.
func (s Status) Known() bool { return slices.Contains(statuses, s) }

// Terminal reports whether no further change is expected of the message's
// sending (delivery reports may still arrive for sent messages).
func (s Status) Terminal() bool {
	switch s {
	case StatusDelivered, StatusFailed, StatusUnknown, StatusCancelled, StatusExpired, StatusUnconfirmed, StatusReceived:
		return true
	}
	return false
}

// PartState is the state of one SMS part. Every transition is committed to
// the store before the next step is taken:
//
//	queued → assigned → submitting → submitted → delivered
//	                                 ↘ failed (status report)
//	                                 ↘ unconfirmed (no report within the report window)
//	submitting → unknown (crash or answer lost after the PDU went out)
//	queued/assigned → cancelled | expired | failed
//
// "submitted" is the "sent": the modem answered +CMGS with a
// message reference, which is all a modem ever says about a send.
type PartState string

const (
	PartQueued     PartState = "queued"
	PartAssigned   PartState = "assigned"
	PartSubmitting PartState = "submitting"
	PartSubmitted  PartState = "submitted"
	PartDelivered  PartState = "delivered"
	PartFailed     PartState = "failed"
	PartUnknown    PartState = "unknown"
	PartCancelled  PartState = "cancelled"
	PartExpired    PartState = "expired"
	// PartUnconfirmed: submitted, asked for a status report, and none came
	// within Config.ReportWindow. Final.
	PartUnconfirmed PartState = "unconfirmed"
)

// Part is one SMS of a message.
type Part struct {
	Seq          int       `json:"seq"`   // 1-based
	PDU          []byte    `json:"pdu"`   // SMS-SUBMIT TPDU, exactly as it goes to AT+CMGS
	State        PartState `json:"state"` //
	Modem        string    `json:"modem,omitempty"`
	MR           int       `json:"mr"`                    // TP-MR from +CMGS; -1 before
	Attempts     int       `json:"attempts"`              // submissions tried
	ErrorCode    int       `json:"error_code,omitempty"`  // +CMS ERROR or TP-ST of a failed report
	ErrorClass   string    `json:"error_class,omitempty"` // SendError.Class() or "report"
	Error        string    `json:"error,omitempty"`
	ReportStatus int       `json:"report_status"` // TP-ST of the status report; -1 before
	UpdatedAt    time.Time `json:"updated_at"`
	SubmittedAt  time.Time `json:"submitted_at,omitzero"`
	DeliveredAt  time.Time `json:"delivered_at,omitzero"`
}

// Message is an outbound or inbound SMS. Outbound messages carry their
// encoded parts; inbound ones carry the reassembled body.
type Message struct {
	ID        string    `json:"id"` // ULID: sorts by creation time
	Direction Direction `json:"direction"`
	// Contact is the other party in E.164 (or an alphanumeric sender for
	// inbound messages from e.g. a bank); ContactRaw is what was given.
	Contact    string `json:"contact"`
	ContactRaw string `json:"contact_raw,omitempty"`
	// Modem is the modem that sent (last assigned) or received it.
	Modem string `json:"modem,omitempty"`
	// From is the modem or group name the caller asked for, if any.
	From     string `json:"from,omitempty"`
	Body     string `json:"body"`
	Agent    string `json:"agent,omitempty"`    // the person who initiated it (TCPA record)
	Encoding string `json:"encoding,omitempty"` // "gsm7" or "ucs2"
	Segments int    `json:"segments"`
	Priority int    `json:"priority"` // higher first; default 0

	SendAt    time.Time `json:"send_at,omitzero"`    // not before
	ExpiresAt time.Time `json:"expires_at,omitzero"` // validity; zero = none
	// TextingWindow: the message leaves only while it is open (nil = any time).
	TextingWindow *TextingWindow    `json:"texting_window,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	CallbackURL   string            `json:"callback_url,omitempty"`
	// AtLeastOnce asks for a part whose fate is unknown to be resent
	// (accepting a possible duplicate) instead of being marked unknown.
	AtLeastOnce bool `json:"at_least_once,omitempty"`
	// OptOutReply: the Inbox's answer to STOP, START or HELP, sent even to
	// an opted-out number (SendRequest.OptOutReply).
	OptOutReply bool `json:"optout_reply,omitempty"`
	// RequestedDeliveryReport: the PDUs have TP-SRR set.
	StatusReport bool `json:"status_report,omitempty"`

	Status    Status `json:"status"`
	ErrorCode int    `json:"error_code,omitempty"`
	Error     string `json:"error,omitempty"`
	Parts     []Part `json:"parts,omitempty"`

	// IdempotencyKey is scoped by Agent's API key owner (the API prefixes it);
	// RequestHash identifies the request body it was first used with.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	RequestHash    string `json:"request_hash,omitempty"`
	// APIKeyID is the key that made the request (evidence of who initiated it).
	APIKeyID string `json:"api_key_id,omitempty"`

	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"` // retry backoff
	SentAt        time.Time `json:"sent_at,omitzero"`         // inbound: the SMSC timestamp
}

// RollUp derives the message status from its parts:
// cancelled/expired if every part is; failed if any part failed; unknown if
// any part is unknown; delivered only when every part is; unconfirmed when
// every part is delivered or unconfirmed and one is unconfirmed; sent when
// every part is submitted, delivered or unconfirmed; sending when some are;
// queued otherwise.
func RollUp(parts []Part) Status {
	if len(parts) == 0 {
		return StatusQueued
	}
	var failed, unknown, cancelled, expired, delivered, submitted, submitting, unconfirmed int
	for _, p := range parts {
		switch p.State {
		case PartFailed:
			failed++
		case PartUnknown:
			unknown++
		case PartCancelled:
			cancelled++
		case PartExpired:
			expired++
		case PartDelivered:
			delivered++
		case PartSubmitted:
			submitted++
		case PartSubmitting:
			submitting++
		case PartUnconfirmed:
			unconfirmed++
		}
	}
	n := len(parts)
	switch {
	case failed > 0:
		return StatusFailed
	case unknown > 0:
		return StatusUnknown
	case cancelled == n:
		return StatusCancelled
	case expired > 0 && expired+cancelled == n:
		return StatusExpired
	case delivered == n:
		return StatusDelivered
	case unconfirmed > 0 && submitted == 0 && unconfirmed+delivered == n:
		return StatusUnconfirmed
	case submitted+delivered+unconfirmed == n:
		return StatusSent
	case submitted+delivered+unconfirmed+submitting > 0:
		return StatusSending
	}
	return StatusQueued
}

// Clone returns a deep copy of m.
func (m *Message) Clone() *Message {
	c := *m
	c.Parts = append([]Part(nil), m.Parts...)
	for i := range c.Parts {
		c.Parts[i].PDU = append([]byte(nil), m.Parts[i].PDU...)
	}
	if m.TextingWindow != nil {
		w := *m.TextingWindow
		c.TextingWindow = &w
	}
	if m.Metadata != nil {
		c.Metadata = make(map[string]string, len(m.Metadata))
		for k, v := range m.Metadata {
			c.Metadata[k] = v
		}
	}
	return &c
}
