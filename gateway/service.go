package gateway

import (
	"context"
	"time"
)

// SendRequest is what an agent asks for: one message to one contact.
// Dispatcher.Submit validates it, normalises To to E.164, refuses opted-out
// numbers (ErrOptedOut), encodes it once into parts and stores it durably.
type SendRequest struct {
	To       string            // any form; normalised with the default region
	Body     string            //
	From     string            // optional modem or group name
	Agent    string            // who initiated it (defaults to the API key owner)
	SendAt   time.Time         // optional: not before
	Validity time.Duration     // optional: give up after CreatedAt+Validity
	Priority int               // higher first
	Metadata map[string]string //
	// CallbackURL receives this message's events (subject to the same SSRF rules as webhooks).
	CallbackURL  string
	AtLeastOnce  bool
	StatusReport *bool // nil = gateway default (on)
	// OptOutReply marks an answer to STOP, START or HELP (the Inbox's, or
	// the campaign service's one confirmation of an opt-out): it goes out
	// even to a number on the suppression list. The API never sets it.
	OptOutReply bool
	// TextingWindow limits the hours, in the contact's time zone, in which
	// the message may leave (see TextingWindow); nil = any time. Campaign
	// messages always carry one.
	TextingWindow *TextingWindow

	IdempotencyKey string // already scoped by the API (owner + key)
	RequestHash    string // hash of the canonical request body
	APIKeyID       string
}

// ModemView is a modem as operators and agents see it.
type ModemView struct {
	Name string `json:"name"`
	// SIM is the inventory ID of the SIM in the modem (its ICCID, or
	// "imsi:" and its IMSI; "" unknown): see Dispatcher.SIMs.
	SIM    string      `json:"sim,omitempty"`
	Groups []string    `json:"groups,omitempty"`
	Info   ModemInfo   `json:"info"`
	Status ModemStatus `json:"status"`
	// Usable: the modem can take a send now — up, registered and not
	// paused (a draining modem still sends to its own contacts).
	Usable      bool       `json:"usable"`
	Paused      bool       `json:"paused"`
	PauseReason string     `json:"pause_reason,omitempty"`
	PausedUntil time.Time  `json:"paused_until,omitzero"` // zero = until resumed
	Draining    bool       `json:"draining"`              // takes no new contacts; finishes its queue
	Budget      BudgetView `json:"budget"`
	Counters    Counters   `json:"counters"`
	Queued      int        `json:"queued"` // parts waiting for this modem
	Health      SIMHealth  `json:"health"` // see SIMHealth
}

// BudgetView shows a modem's pacing limits and what is left of them.
type BudgetView struct {
	PerMinute         int       `json:"per_minute"`
	PerDay            int       `json:"per_day"`
	NewContactsPerDay int       `json:"new_contacts_per_day"`
	UsedToday         int       `json:"used_today"`
	NewContactsToday  int       `json:"new_contacts_today"`
	LeftToday         int       `json:"left_today"`
	NewContactsLeft   int       `json:"new_contacts_left"`
	MinInterval       string    `json:"min_interval"`
	NextSendNotBefore time.Time `json:"next_send_not_before,omitzero"`
}

// Counters are a modem's totals since the gateway started.
type Counters struct {
	Sent             int `json:"sent"` // parts submitted
	Failed           int `json:"failed"`
	Received         int `json:"received"`
	Delivered        int `json:"delivered"`
	ConsecutiveFails int `json:"consecutive_failures"`
}

// Emitter records an event durably and passes it on to notifiers.
type Emitter interface {
	Emit(ctx context.Context, e Event)
}

// ReportHandler matches a status report to the part it reports on.
type ReportHandler interface {
	HandleReport(ctx context.Context, r StatusReport) error
}
