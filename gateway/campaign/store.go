package campaign

import (
	"context"
	"time"
)

// Store is what the campaign Service keeps durably. store.DB (bbolt) and
// store/postgres implement it; store/storetest is the conformance suite
// both pass. Every method is one committed transaction and safe for
// concurrent use. Missing things are errors wrapping gateway.ErrNotFound;
// duplicates wrap gateway.ErrExists. Update functions (fn) may run more than
// once and must be pure functions of what they are given; an error from fn
// aborts the update, writes nothing and is returned as is.
type Store interface {
	CampaignStore
	ContactStore
	ConversationStore
}

// CampaignStore keeps campaigns, texters and imports.
type CampaignStore interface {
	// CreateCampaign stores c (ErrExists if its ID is taken).
	CreateCampaign(ctx context.Context, c *Campaign) error
	// Campaign returns the campaign with id.
	Campaign(ctx context.Context, id string) (*Campaign, error)
	// Campaigns returns every campaign, oldest first.
	Campaigns(ctx context.Context) ([]*Campaign, error)
	// UpdateCampaign reads campaign id, calls fn and stores the result.
	UpdateCampaign(ctx context.Context, id string, fn func(*Campaign) error) (*Campaign, error)

	// PutTexter stores t (replacing a texter of the same ID).
	PutTexter(ctx context.Context, t Texter) error
	// Texter returns the texter with id.
	Texter(ctx context.Context, id string) (Texter, error)

	// PutImport stores the import report r (keyed by campaign and ID).
	PutImport(ctx context.Context, r *ImportReport) error
	// Import returns an import report.
	Import(ctx context.Context, campaignID, id string) (*ImportReport, error)
	// Imports lists a campaign's imports, oldest first.
	Imports(ctx context.Context, campaignID string) ([]*ImportReport, error)
	// AddRejects stores rejected rows of an import.
	AddRejects(ctx context.Context, campaignID, importID string, rows []Reject) error
	// Rejects calls fn for each rejected row of an import, by line.
	Rejects(ctx context.Context, campaignID, importID string, fn func(Reject) error) error
}

// ContactStore keeps campaign contacts and their indexes.
type ContactStore interface {
	// AddContacts stores, in one transaction, each contact whose Cell is
	// not yet in the campaign, numbering the stored ones first, first+1, ...
	// in order (it sets their ID and CampaignID). For every contact not
	// stored it returns the ID of the contact that holds its cell (dups[i]
	// != 0 means contacts[i] was not stored). An ID already taken is an
	// error wrapping ErrExists and stores nothing.
	AddContacts(ctx context.Context, campaignID string, first int64, contacts []*Contact) (dups []int64, err error)
	// DeleteContactsFrom deletes the campaign's contacts with ID >= from
	// (an import rolled back), at most limit of them per call; it returns how
	// many it deleted (0 = none left).
	DeleteContactsFrom(ctx context.Context, campaignID string, from int64, limit int) (int, error)
	// Contact returns one contact.
	Contact(ctx context.Context, campaignID string, id int64) (*Contact, error)
	// ContactByCell returns the campaign's contact with cell (E.164).
	ContactByCell(ctx context.Context, campaignID, cell string) (*Contact, error)
	// UpdateContact reads a contact, calls fn and stores the result,
	// keeping every index in step.
	UpdateContact(ctx context.Context, campaignID string, id int64, fn func(*Contact) error) (*Contact, error)
	// Contacts calls fn for the contacts f selects, in ID order, from a
	// read snapshot; fn returning an error stops the walk and it is
	// returned. fn must not call the store.
	Contacts(ctx context.Context, campaignID string, f ContactFilter, fn func(*Contact) error) error
	// AssignContacts assigns to texter up to n contacts that have no
	// texter, status needs_message, are not opted out and have an ID below
	// before (0 = no bound), lowest IDs first; it returns their IDs.
	AssignContacts(ctx context.Context, campaignID, texter string, n int, before int64) ([]int64, error)
	// CampaignsOfCell returns, for every campaign holding a contact with
	// cell, that contact's ID (campaign ID → contact ID).
	CampaignsOfCell(ctx context.Context, cell string) (map[string]int64, error)
	// CountContacts counts the campaign's contacts per status and texter.
	CountContacts(ctx context.Context, campaignID string) (ContactCounts, error)
}

// ContactFilter selects contacts. Zero fields match all.
type ContactFilter struct {
	Texter     string // assigned to this texter
	Status     Status
	Unassigned bool  // only contacts without a texter
	After      int64 // IDs greater than After
	Limit      int   // at most Limit (0 = all)
}

// ContactCounts are a campaign's contacts counted.
type ContactCounts struct {
	Total      int                       `json:"total"`
	ByStatus   map[Status]int            `json:"by_status"`
	ByTexter   map[string]map[Status]int `json:"by_texter"`
	OptedOut   int                       `json:"opted_out"`
	Unassigned int                       `json:"unassigned"`
}

// ConversationStore keeps messages, events, the "latest campaign that
// texted a number" index and the organisation inbox.
type ConversationStore interface {
	// RecordSend stores, in one transaction: m (replacing a record with the
	// same ID), the contact update fn (nil = none), every event (an event
	// whose ID is already stored is skipped) and, for outbound m, the
	// latest-texted index of m.Contact → (campaign, contact).
	RecordSend(ctx context.Context, m *Message, fn func(*Contact) error, events []Event) (*Contact, error)
	// UpdateCampaignMessage reads the campaign message with gateway ID id and calls fn.
	UpdateCampaignMessage(ctx context.Context, id string, fn func(*Message) error) (*Message, error)
	// CampaignMessage returns the campaign message with gateway ID id.
	CampaignMessage(ctx context.Context, id string) (*Message, error)
	// CampaignMessages calls fn for a campaign's messages (of one contact
	// when contactID != 0), oldest first (by ID), from a read snapshot; fn
	// must not call the store.
	CampaignMessages(ctx context.Context, campaignID string, contactID int64, fn func(*Message) error) error
	// LatestTexted returns the campaign and contact that last texted cell.
	LatestTexted(ctx context.Context, cell string) (campaignID string, contactID int64, at time.Time, err error)
	// AppendEvents stores events; an event equal to a stored one in
	// (campaign, contact, At, ID) is stored once.
	AppendEvents(ctx context.Context, events []Event) error
	// CampaignEvents calls fn for the events of one contact, or with
	// contactID 0 the campaign's own events (ContactID 0), oldest first.
	CampaignEvents(ctx context.Context, campaignID string, contactID int64, fn func(Event) error) error
	// AddInbox stores an unclaimed inbound message (idempotent by MessageID).
	AddInbox(ctx context.Context, it InboxItem) error
	// Inbox lists unclaimed inbound messages, newest first, at most limit.
	Inbox(ctx context.Context, limit int) ([]InboxItem, error)
}
