package campaign

import "time"

// Status is where a contact is in its campaign.
//
//	needs_message → messaged → needs_response ⇄ conversing → closed
//	any → opted_out (final for the whole organisation)
//
// A reply to a messaged, conversing or closed contact makes it
// needs_response; a texter's reply makes it conversing.
type Status string

const (
	StatusNeedsMessage  Status = "needs_message"
	StatusMessaged      Status = "messaged"
	StatusNeedsResponse Status = "needs_response"
	StatusConversing    Status = "conversing"
	StatusClosed        Status = "closed"
	StatusOptedOut      Status = "opted_out"
)

// Statuses lists every contact status in lifecycle order.
var Statuses = []Status{StatusNeedsMessage, StatusMessaged, StatusNeedsResponse, StatusConversing, StatusClosed, StatusOptedOut}

// Contact is one person in one campaign.
type Contact struct {
	CampaignID string            `json:"campaign_id"`
	ID         int64             `json:"id"` // 1, 2, ... in import order
	ExternalID string            `json:"external_id,omitempty"`
	FirstName  string            `json:"first_name,omitempty"`
	LastName   string            `json:"last_name,omitempty"`
	Cell       string            `json:"cell"` // E.164
	CellRaw    string            `json:"cell_raw,omitempty"`
	Zip        string            `json:"zip,omitempty"`
	Fields     map[string]string `json:"fields,omitempty"` // custom columns
	// TimeZone is the contact's IANA zone, from the number or zip ("" = the campaign's).
	TimeZone string `json:"time_zone,omitempty"`
	Status   Status `json:"status"`
	OptedOut bool   `json:"opted_out,omitempty"`
	// Texter is the ID of the texter the contact is assigned to ("" = none).
	Texter string   `json:"texter,omitempty"`
	Tags   []string `json:"tags,omitempty"`
	// Answers holds the current answer per question ID (history is in the events).
	Answers map[string]Answer `json:"answers,omitempty"`
	// ImportID and Line say where the contact came from.
	ImportID string `json:"import_id,omitempty"`
	Line     int    `json:"line,omitempty"`
	// FirstMessageID is the gateway message of the first message, once sent.
	FirstMessageID string    `json:"first_message_id,omitempty"`
	LastMessageAt  time.Time `json:"last_message_at,omitzero"`
	LastReplyAt    time.Time `json:"last_reply_at,omitzero"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Offerable reports whether the contact can be given a first message
// (ignoring texting hours).
func (c *Contact) Offerable() bool {
	return c.Status == StatusNeedsMessage && !c.OptedOut
}

// Clone returns a deep copy.
func (c *Contact) Clone() *Contact {
	d := *c
	if c.Fields != nil {
		d.Fields = make(map[string]string, len(c.Fields))
		for k, v := range c.Fields {
			d.Fields[k] = v
		}
	}
	d.Tags = append([]string(nil), c.Tags...)
	if c.Answers != nil {
		d.Answers = make(map[string]Answer, len(c.Answers))
		for k, v := range c.Answers {
			d.Answers[k] = v
		}
	}
	return &d
}

// Answer is a recorded survey answer.
type Answer struct {
	Value string    `json:"value"`
	By    string    `json:"by"`
	At    time.Time `json:"at"`
}

// Texter is a person who sends: an API key's owner, or a web login.
type Texter struct {
	ID   string `json:"id"`   // the identity (API key owner or user name)
	Name string `json:"name"` // display name ({texterFirstName} is its first word)
}

// Actor is who calls the Service: a texter acts only on contacts assigned
// to them; an organiser acts on anything.
type Actor struct {
	ID        string
	Name      string
	Organiser bool
}

// Message is a campaign's record of one SMS to or from a contact. Outbound
// ones point at the gateway message that carries them.
type Message struct {
	ID            string    `json:"id"` // the gateway message ID
	CampaignID    string    `json:"campaign_id"`
	ContactID     int64     `json:"contact_id"`
	Direction     string    `json:"direction"` // "out" or "in"
	Step          string    `json:"step,omitempty"`
	Texter        string    `json:"texter,omitempty"`
	ScriptVersion int       `json:"script_version,omitempty"`
	Contact       string    `json:"contact"` // E.164
	Modem         string    `json:"modem,omitempty"`
	Status        string    `json:"status"` // the gateway status
	Body          string    `json:"body"`
	Parts         int       `json:"parts"`
	Encoding      string    `json:"encoding,omitempty"`
	Error         string    `json:"error,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Steps of an outbound campaign message.
const (
	StepFirst  = "first"
	StepReply  = "reply"
	StepOptOut = "optout_confirmation"
)

// InboxItem is an inbound message no campaign claimed (the organisation inbox).
type InboxItem struct {
	MessageID string    `json:"message_id"`
	Contact   string    `json:"contact"`
	Modem     string    `json:"modem,omitempty"`
	Body      string    `json:"body"`
	At        time.Time `json:"at"`
}
