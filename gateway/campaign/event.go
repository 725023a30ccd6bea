package campaign

import "time"

// EventType names a campaign event.
type EventType string

const (
	EventCreated    EventType = "campaign.created"
	EventUpdated    EventType = "campaign.updated"
	EventState      EventType = "campaign.state"
	EventImported   EventType = "contact.imported"
	EventAssigned   EventType = "contact.assigned"
	EventReleased   EventType = "contact.released"
	EventReassigned EventType = "contact.reassigned"
	EventSent       EventType = "message.sent"
	EventReplied    EventType = "message.replied"
	EventReceived   EventType = "message.received"
	EventAnswered   EventType = "survey.answered"
	EventTagged     EventType = "contact.tagged"
	EventUntagged   EventType = "contact.untagged"
	EventOptedOut   EventType = "contact.opted_out"
	EventClosed     EventType = "contact.closed"
	EventReopened   EventType = "contact.reopened"
)

// Event is evidence: who did what to which contact, when. Fields beyond
// the first five are set by the types that need them.
type Event struct {
	ID         string    `json:"id"` // ULID (time order) or a deterministic key
	CampaignID string    `json:"campaign_id"`
	ContactID  int64     `json:"contact_id,omitempty"` // 0 = the campaign itself
	Type       EventType `json:"type"`
	Actor      string    `json:"actor"` // texter/organiser ID, or "system:…"
	At         time.Time `json:"at"`

	MessageID     string `json:"message_id,omitempty"`
	ScriptVersion int    `json:"script_version,omitempty"`
	Question      string `json:"question,omitempty"`
	Value         string `json:"value,omitempty"`    // answer, tag, state, texter
	Previous      string `json:"previous,omitempty"` // what it replaced
	Note          string `json:"note,omitempty"`
}
