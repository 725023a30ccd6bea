package gateway

import (
	"context"
	"slices"
	"time"
)

// Store is everything the gateway keeps durably. store.DB implements it.
// Each method is one committed transaction unless it says otherwise; every
// method is safe for concurrent use.
type Store interface {
	MessageStore
	InboundStore
	ContactStore
	OptOutStore
	EventStore
	SIMStore
}

// MessageStore keeps messages and the indexes over them.
type MessageStore interface {
	// CreateMessage stores a new message durably (fsynced, group-committed
	// with concurrent callers) before returning. If m.IdempotencyKey is set
	// and already used, it returns an error wrapping ErrExists and stores nothing.
	CreateMessage(ctx context.Context, m *Message) error
	// GetMessage returns the message with id, or an error wrapping ErrNotFound.
	GetMessage(ctx context.Context, id string) (*Message, error)
	// MessageByIdempotencyKey returns the message created with key, or ErrNotFound.
	MessageByIdempotencyKey(ctx context.Context, key string) (*Message, error)
	// UpdateMessage reads the message, calls fn on it and, if fn returns
	// nil, writes it back and updates every index, all in one committed
	// transaction; it returns the stored result. fn must not block.
	UpdateMessage(ctx context.Context, id string, fn func(*Message) error) (*Message, error)
	// ListMessages lists messages newest first through the indexes.
	ListMessages(ctx context.Context, f MessageFilter) (MessagePage, error)
	// ActiveMessages calls fn for every outbound message whose status is not
	// terminal, through the status index (never a scan of all messages).
	ActiveMessages(ctx context.Context, fn func(*Message) error) error
	// QueueEntries calls fn with the QueueEntry (EntryOf) of every outbound
	// message that has a part to send or in flight, oldest first, with the
	// contact's sticky SIM; fn may call the store. A LocalQueue rebuilds
	// itself from them at start-up without reading the messages.
	QueueEntries(ctx context.Context, fn func(QueueEntry) error) error
	// PartByMR finds the part most recently submitted on modem with message
	// reference mr, submitted at or after since.
	PartByMR(ctx context.Context, modem string, mr int, since time.Time) (id string, seq int, err error)
	// SaveUnmatchedReport keeps a status report no part matched.
	SaveUnmatchedReport(ctx context.Context, r StatusReport) error
	// CountByStatus counts messages per status (for metrics).
	CountByStatus(ctx context.Context) (map[Status]int, error)
}

// MessageFilter selects messages for ListMessages. Zero fields match all.
type MessageFilter struct {
	Direction Direction
	Status    Status
	Contact   string // E.164
	Modem     string
	Agent     string
	Since     time.Time // CreatedAt >= Since
	Until     time.Time // CreatedAt < Until
	Cursor    string    // opaque, from MessagePage.Next
	Limit     int       // PageLimit: default DefaultPageLimit, at most MaxPageLimit
	Ascending bool      // oldest first (conversations)
}

// Matches reports whether m passes f's conditions (direction, status,
// contact, modem, agent, Since/Until); Cursor, Limit and order are the
// lister's.
func (f MessageFilter) Matches(m *Message) bool {
	switch {
	case f.Direction != "" && m.Direction != f.Direction,
		f.Status != "" && m.Status != f.Status,
		f.Contact != "" && m.Contact != f.Contact,
		f.Modem != "" && m.Modem != f.Modem,
		f.Agent != "" && m.Agent != f.Agent,
		!f.Since.IsZero() && m.CreatedAt.Before(f.Since),
		!f.Until.IsZero() && !m.CreatedAt.Before(f.Until):
		return false
	}
	return true
}

// MessagePage is one page of ListMessages.
type MessagePage struct {
	Messages []*Message
	Next     string // cursor for the next page; "" at the end
}

// StatusReport is a decoded SMS-STATUS-REPORT.
type StatusReport struct {
	Modem     string    `json:"modem"`
	MR        int       `json:"mr"`
	Status    int       `json:"status"` // TP-ST
	Recipient string    `json:"recipient,omitempty"`
	Received  time.Time `json:"received"`
}

// Fragment is one part of a concatenated inbound message.
type Fragment struct {
	Seq      int       `json:"seq"`
	Total    int       `json:"total"`
	TPDU     []byte    `json:"tpdu"`
	Received time.Time `json:"received"`
}

// InboundStore keeps inbound messages and the parts of long ones until they
// are complete, across restarts.
type InboundStore interface {
	// AddFragment durably stores f under key (sender, concatenation
	// reference, total, modem) and returns every fragment stored for key so
	// far. A fragment already stored (same key and seq) is not duplicated.
	AddFragment(ctx context.Context, key string, f Fragment) ([]Fragment, error)
	// CompleteInbound stores msg and deletes the fragments of key (if key is
	// not "") in one transaction. If a message with msg.ID exists already it
	// does nothing and returns an error wrapping ErrExists.
	CompleteInbound(ctx context.Context, msg *Message, key string) error
	// StaleFragments returns the fragment sets whose newest fragment is older than before.
	StaleFragments(ctx context.Context, before time.Time) (map[string][]Fragment, error)
}

// Sticky binds a contact to the SIM that first texted it.
type Sticky struct {
	Modem string `json:"modem"`
	// SIM is the inventory ID of the SIM (see SIMID) the contact is bound
	// to; Modem is the modem that SIM is in (or a stand-in while it is in
	// none). "" for a binding made before the inventory, or through a modem
	// that reports no SIM identity.
	SIM   string    `json:"sim,omitempty"`
	Since time.Time `json:"since"`
	// Moves records earlier bindings, newest last.
	Moves []StickyMove `json:"moves,omitempty"`
}

// StickyMove records a contact moved from one SIM to another.
type StickyMove struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// ContactStore keeps sticky bindings and per-modem budgets.
type ContactStore interface {
	// Sticky returns the binding of contact, or ErrNotFound.
	Sticky(ctx context.Context, contact string) (Sticky, error)
	// SetSticky binds contact to s (replacing and recording any earlier one).
	SetSticky(ctx context.Context, contact string, s Sticky) error
	// Budgets returns the stored budget usage of every modem.
	Budgets(ctx context.Context) (map[string]BudgetUsage, error)
	// SaveBudget stores modem's budget usage.
	SaveBudget(ctx context.Context, modem string, u BudgetUsage) error
}

// BudgetUsage is what a modem has used of its daily budgets.
type BudgetUsage struct {
	Day         string    `json:"day"` // YYYY-MM-DD in the gateway's time zone
	Parts       int       `json:"parts"`
	NewContacts int       `json:"new_contacts"`
	LastSend    time.Time `json:"last_send,omitzero"`
	// Hold is the modem's pause or drain, kept so that a restart does not
	// resume a SIM the operator (or a carrier-block guard) stopped.
	Hold *ModemHold `json:"hold,omitempty"`
	// WatchFrom: the carrier-block detector judges only the parts and
	// sends that went out from this time on when it rebuilds the SIM's
	// record after a restart (set at its last verdict, whose window is
	// not history).
	WatchFrom time.Time `json:"watch_from,omitzero"`
}

// ModemHold is a pause or drain of a modem.
type ModemHold struct {
	Paused   bool      `json:"paused,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Until    time.Time `json:"until,omitzero"` // zero = until resumed
	Draining bool      `json:"draining,omitempty"`
}

// OptOut is an entry of the suppression list.
type OptOut struct {
	Number  string    `json:"number"` // E.164
	Keyword string    `json:"keyword,omitempty"`
	Source  string    `json:"source"` // "sms", "api", "import"
	Modem   string    `json:"modem,omitempty"`
	At      time.Time `json:"at"`
}

// OptOutStore keeps the suppression list.
type OptOutStore interface {
	OptedOut(ctx context.Context, number string) (bool, error)
	AddOptOut(ctx context.Context, o OptOut) error
	// RemoveOptOut returns ErrNotFound if number was not on the list.
	RemoveOptOut(ctx context.Context, number string) error
	// ListOptOuts lists entries ordered by number, after the given one.
	ListOptOuts(ctx context.Context, after string, limit int) ([]OptOut, error)
}

// Event is something that happened, for webhooks and the audit trail.
type Event struct {
	ID        string    `json:"id"` // ULID
	Type      EventType `json:"type"`
	Time      time.Time `json:"time"`
	MessageID string    `json:"message_id,omitempty"`
	Modem     string    `json:"modem,omitempty"`
	Data      EventData `json:"data,omitempty"` // the payload of Type (see EventData)
}

// EventType names an event.
type EventType string

const (
	EventMessageReceived  EventType = "message.received"
	EventMessageSent      EventType = "message.sent"
	EventMessageDelivered EventType = "message.delivered"
	EventMessageFailed    EventType = "message.failed"
	EventMessageUnknown   EventType = "message.unknown"
	EventMessageExpired   EventType = "message.expired"
	// EventMessageUnconfirmed: the report window ended before every part's
	// status report came (StatusUnconfirmed).
	EventMessageUnconfirmed EventType = "message.unconfirmed"
	EventOptOut             EventType = "optout.added"
	EventOptIn              EventType = "optout.removed"
	EventModemUp            EventType = "modem.up"
	EventModemDown          EventType = "modem.down"
	EventModemPaused        EventType = "modem.paused"
	EventModemResumed       EventType = "modem.resumed"
	// EventModemBlockSuspected: the block detector paused the SIM
	// (BlockSuspectedData).
	EventModemBlockSuspected EventType = "modem.block_suspected"
)

// eventTypes is every event type, in documentation order.
var eventTypes = []EventType{
	EventMessageReceived, EventMessageSent, EventMessageDelivered, EventMessageFailed,
	EventMessageUnknown, EventMessageExpired, EventMessageUnconfirmed, EventOptOut, EventOptIn,
	EventModemUp, EventModemDown, EventModemPaused, EventModemResumed, EventModemBlockSuspected,
}

// EventTypes returns every event type (a new slice each call): the one list
// the API and the configuration check webhook subscriptions against.
func EventTypes() []EventType { return slices.Clone(eventTypes) }

// AboutOutboundMessage reports whether events of type t are about an
// outbound message (Event.MessageID names it): the events a message's
// callback_url receives.
func (t EventType) AboutOutboundMessage() bool {
	switch t {
	case EventMessageSent, EventMessageDelivered, EventMessageFailed, EventMessageUnknown, EventMessageExpired,
		EventMessageUnconfirmed:
		return true
	}
	return false
}

// Known reports whether t is one of EventTypes.
func (t EventType) Known() bool { return slices.Contains(eventTypes, t) }

// EventStore keeps events (an outbox the webhook deliverer reads).
type EventStore interface {
	// AppendEvent stores e durably.
	AppendEvent(ctx context.Context, e Event) error
}

// EventOutbox hands the stored events to the webhook deliverer in the order
// they were committed, after a durable cursor: an event stored before a
// crash is still turned into deliveries after the restart, exactly once.
// It has one consumer.
type EventOutbox interface {
	// NextEvents returns up to limit events committed after the cursor,
	// oldest first, and the position of the last one ("" when there are
	// none). Events appear in commit order: one committed later is never
	// returned before one committed earlier.
	NextEvents(ctx context.Context, limit int) ([]Event, string, error)
	// AdvanceEvents stores ds (as EnqueueDeliveries) and moves the cursor to
	// pos, in one transaction. A pos not after the cursor stores nothing
	// and returns ErrExists.
	AdvanceEvents(ctx context.Context, pos string, ds []Delivery) error
}

// Notifier hears every event once it is stored (e.g. the webhook deliverer).
type Notifier interface {
	Notify(e Event)
}

// APIKey is an API key as stored: only a hash of the secret is kept.
type APIKey struct {
	ID        string    `json:"id"`    // short public id, shown in lists
	Hash      []byte    `json:"hash"`  // SHA-256 of the secret
	Owner     string    `json:"owner"` // the agent of record
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
}

// KeyStore keeps API keys.
type KeyStore interface {
	CreateKey(ctx context.Context, k APIKey) error
	// KeyByHash returns the key with hash, or ErrNotFound.
	KeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	ListKeys(ctx context.Context) ([]APIKey, error)
	// RevokeKey marks the key revoked; ErrNotFound if there is none.
	RevokeKey(ctx context.Context, id string, at time.Time) error
}

// Webhook is an endpoint that receives events.
type Webhook struct {
	ID        string      `json:"id"`
	URL       string      `json:"url"`
	Events    []EventType `json:"events"` // empty = all
	Secret    string      `json:"-"`      // Standard Webhooks secret ("whsec_" + base64)
	CreatedAt time.Time   `json:"created_at"`
	Source    string      `json:"source"` // "config" or "api"
}

// Delivery is one event to be delivered to one webhook.
type Delivery struct {
	ID          string    `json:"id"` // the webhook-id header: stable across retries
	WebhookID   string    `json:"webhook_id"`
	Event       Event     `json:"event"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastStatus  int       `json:"last_status,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	Done        bool      `json:"done"`
	Failed      bool      `json:"failed"` // gave up
	CreatedAt   time.Time `json:"created_at"`
}

// WebhookStore keeps webhook endpoints and the delivery outbox.
type WebhookStore interface {
	PutWebhook(ctx context.Context, w Webhook) error
	DeleteWebhook(ctx context.Context, id string) error
	ListWebhooks(ctx context.Context) ([]Webhook, error)
	// EnqueueDeliveries stores deliveries durably in one transaction.
	EnqueueDeliveries(ctx context.Context, ds []Delivery) error
	// DueDeliveries returns up to limit pending deliveries with NextAttempt
	// <= now, oldest first, leaving out those skip (if not nil) returns true
	// for, given their ID and WebhookID: the caller skips the endpoints that
	// are busy, so that their backlog does not hide the others' deliveries.
	// skip must not call the store.
	DueDeliveries(ctx context.Context, now time.Time, limit int, skip func(id, webhookID string) bool) ([]Delivery, error)
	// UpdateDelivery stores d; a Done or Failed delivery leaves the pending index.
	UpdateDelivery(ctx context.Context, d Delivery) error
	// ListDeliveries lists deliveries of a webhook, newest first.
	ListDeliveries(ctx context.Context, webhookID string, limit int) ([]Delivery, error)
	// PendingDeliveries counts deliveries not yet done or failed.
	PendingDeliveries(ctx context.Context) (int, error)
}
