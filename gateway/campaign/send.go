package campaign

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/simgate/simgate/gateway"
)

// Metadata keys on the gateway messages a campaign sends.
const (
	MetaCampaign      = "campaign"
	MetaContact       = "campaign_contact"
	MetaTexter        = "campaign_texter"
	MetaScriptVersion = "campaign_script_version"
	MetaStep          = "campaign_step"
)

// QueueItem is a contact waiting for its first message, as the texter will send it.
type QueueItem struct {
	Contact *Contact  `json:"contact"`
	Message Rendered  `json:"message"`
	Closes  time.Time `json:"closes"`            // the contact's window closes
	Problem string    `json:"problem,omitempty"` // why it cannot be sent (e.g. a missing merge value)
}

// Queue is a texter's contacts needing a first message.
type Queue struct {
	Items []QueueItem `json:"items"`
	// Waiting counts contacts outside their texting hours (not offered);
	// NextOpen is when the first of them opens.
	Waiting  int       `json:"waiting"`
	NextOpen time.Time `json:"next_open,omitzero"`
	// Remaining counts every contact of the texter still needing a first message.
	Remaining int `json:"remaining"`
}

// window is the texting window of ct in campaign c at now.
func (s *Service) window(c *Campaign, ct *Contact, now time.Time) Window {
	return windowAt(c.Hours, ct.TimeZone, now)
}

// textingWindow is the window the dispatcher holds ct's messages to (the
// campaign's hours in the contact's zone), so that a message accepted just
// before the window closes does not leave after it.
func textingWindow(c *Campaign, w Window) *gateway.TextingWindow {
	return &gateway.TextingWindow{Start: c.Hours.Start, End: c.Hours.End, TimeZone: w.Zone}
}

// Queue returns up to limit (default 20, max 500) of the acting texter's
// contacts that need a first message and are inside their texting hours,
// each with the message rendered as it will go (encoding, parts), lowest ID
// first; contacts outside their hours are counted, with when the first
// opens.
func (s *Service) Queue(ctx context.Context, a Actor, id string, limit int) (Queue, error) {
	if limit <= 0 {
		limit = 20
	}
	limit = min(limit, 500)
	c, err := s.st.Campaign(ctx, id)
	if err != nil {
		return Queue{}, err
	}
	var sc *Script
	if c.Script != "" {
		if sc, err = ParseScript(c.Script, nil); err != nil {
			return Queue{}, err
		}
	}
	t := s.texter(ctx, a.ID, a.Name)
	now := s.now()
	q := Queue{Items: []QueueItem{}}
	err = s.st.Contacts(ctx, id, ContactFilter{Texter: a.ID, Status: StatusNeedsMessage}, func(ct *Contact) error {
		if !ct.Offerable() || !c.Visible(ct.ID) {
			return nil
		}
		q.Remaining++
		w := s.window(c, ct, now)
		if !w.Open {
			q.Waiting++
			if q.NextOpen.IsZero() || w.Opens.Before(q.NextOpen) {
				q.NextOpen = w.Opens
			}
			return nil
		}
		if len(q.Items) >= limit {
			return nil
		}
		it := QueueItem{Contact: ct, Closes: w.Closes}
		if sc == nil {
			it.Problem = "the campaign has no script"
		} else if body, err := sc.Render(Values(ct, t)); err != nil {
			it.Problem = err.Error()
		} else if r, err := Measure(body); err != nil {
			it.Problem = err.Error()
		} else {
			it.Message = r
		}
		q.Items = append(q.Items, it)
		return nil
	})
	return q, err
}

// SendResult is what a send did.
type SendResult struct {
	Message *Message `json:"message"`
	Contact *Contact `json:"contact"`
	// Repeated: the message had been sent already; nothing new was sent.
	Repeated bool `json:"repeated"`
	// Held: the contact is outside their hours; the message waits for HeldUntil.
	Held      bool      `json:"held,omitempty"`
	HeldUntil time.Time `json:"held_until,omitzero"`
}

func sendKey(campaignID string, contactID int64, step string) string {
	return "campaign:" + campaignID + ":" + strconv.FormatInt(contactID, 10) + ":" + step
}

// SendFirst sends the first message to one contact: the script rendered for
// that contact and the acting texter, through the Sender (sticky SIM,
// pacing, budgets and the opt-out re-check apply), attributed to the
// texter, campaign, contact and script version. It goes once per contact
// whatever the client repeats: a repeat (or a concurrent call) returns the
// message already sent with Repeated set. The campaign must be active, the
// contact assigned to the acting texter (ErrNotAssigned) and inside their
// texting hours (*HoursError with when they open).
func (s *Service) SendFirst(ctx context.Context, a Actor, id string, contactID int64) (*SendResult, error) {
	c, ct, err := s.contactFor(ctx, a, id, contactID)
	if err != nil {
		return nil, err
	}
	if ct.Texter != a.ID {
		return nil, ErrNotAssigned // organisers too: the first message is the texter's act
	}
	if ct.FirstMessageID != "" {
		m, err := s.st.CampaignMessage(ctx, ct.FirstMessageID)
		if err != nil {
			return nil, err
		}
		return &SendResult{Message: m, Contact: ct, Repeated: true}, nil
	}
	switch {
	case ct.OptedOut || ct.Status == StatusOptedOut:
		return nil, gateway.ErrOptedOut
	case ct.Status != StatusNeedsMessage:
		return nil, ErrContactClosed
	case c.State != StateActive:
		return nil, fmt.Errorf("the campaign is %s: %w", c.State, ErrState)
	}
	now := s.now()
	w := s.window(c, ct, now)
	if !w.Open {
		return nil, &HoursError{Opens: w.Opens, Zone: w.Zone}
	}
	sc, err := ParseScript(c.Script, nil)
	if err != nil {
		return nil, err
	}
	t := s.texter(ctx, a.ID, a.Name)
	body, err := sc.Render(Values(ct, t))
	if err != nil {
		return nil, err
	}
	key := sendKey(id, ct.ID, StepFirst)
	gm, err := s.send.Submit(ctx, gateway.SendRequest{
		To: ct.Cell, Body: body, From: c.ModemGroup, Agent: a.ID,
		Metadata:       s.meta(c, ct, a.ID, StepFirst),
		TextingWindow:  textingWindow(c, w),
		IdempotencyKey: key, RequestHash: key,
	})
	if err != nil {
		return nil, err
	}
	m := s.record(c, ct, gm, a.ID, StepFirst)
	repeated := false
	updated, err := s.st.RecordSend(ctx, m, func(x *Contact) error {
		repeated = false
		if x.FirstMessageID != "" {
			repeated = true
			return nil
		}
		x.FirstMessageID = gm.ID
		if x.Status == StatusNeedsMessage {
			x.Status = StatusMessaged
		}
		x.LastMessageAt = gm.CreatedAt
		x.UpdatedAt = now.UTC()
		return nil
	}, []Event{{ID: "sent:" + gm.ID, CampaignID: id, ContactID: ct.ID, Type: EventSent, Actor: a.ID, At: gm.CreatedAt,
		MessageID: gm.ID, ScriptVersion: c.ScriptVersion, Value: StepFirst}})
	if err != nil {
		return nil, fmt.Errorf("record send: %w", err)
	}
	return &SendResult{Message: m, Contact: updated, Repeated: repeated}, nil
}

func (s *Service) meta(c *Campaign, ct *Contact, texter, step string) map[string]string {
	return map[string]string{
		MetaCampaign: c.ID, MetaContact: strconv.FormatInt(ct.ID, 10), MetaTexter: texter,
		MetaScriptVersion: strconv.Itoa(c.ScriptVersion), MetaStep: step,
	}
}

func (s *Service) record(c *Campaign, ct *Contact, gm *gateway.Message, texter, step string) *Message {
	m := &Message{
		ID: gm.ID, CampaignID: c.ID, ContactID: ct.ID, Direction: string(gateway.Outbound), Step: step,
		Texter: texter, Contact: gm.Contact, Modem: gm.Modem, Status: string(gm.Status),
		Body: gm.Body, Parts: gm.Segments, Encoding: gm.Encoding, Error: gm.Error,
		CreatedAt: gm.CreatedAt, UpdatedAt: gm.UpdatedAt,
	}
	if step == StepFirst {
		m.ScriptVersion = c.ScriptVersion
	}
	return m
}

// ReplyInput is a texter's reply in a conversation: Body, or the canned
// response CannedID rendered for the contact. Key, if set, makes the call
// idempotent (a repeat with the same key sends nothing new).
type ReplyInput struct {
	Body     string `json:"body,omitempty"`
	CannedID string `json:"canned_id,omitempty"`
	Key      string `json:"key,omitempty"`
}

// Reply sends a texter's message in a conversation. Outside the contact's
// texting hours it is accepted and held until they open (SendResult.Held).
// The campaign must be active or paused; the contact assigned to the
// acting texter (organisers may reply for anyone) and not opted out.
func (s *Service) Reply(ctx context.Context, a Actor, id string, contactID int64, in ReplyInput) (*SendResult, error) {
	c, ct, err := s.contactFor(ctx, a, id, contactID)
	if err != nil {
		return nil, err
	}
	if c.State != StateActive && c.State != StatePaused {
		return nil, fmt.Errorf("the campaign is %s: %w", c.State, ErrState)
	}
	if ct.OptedOut {
		return nil, gateway.ErrOptedOut
	}
	body := strings.TrimSpace(in.Body)
	if in.CannedID != "" {
		cr, ok := c.canned(in.CannedID)
		if !ok {
			return nil, Invalid("canned_id", "no canned response %q", in.CannedID)
		}
		sc, err := ParseScript(cr.Body, nil)
		if err != nil {
			return nil, err
		}
		if body, err = sc.Render(Values(ct, s.texter(ctx, a.ID, a.Name))); err != nil {
			return nil, err
		}
	}
	if body == "" {
		return nil, Invalid("body", "must not be empty (or name a canned_id)")
	}
	if len(in.Key) > 100 {
		return nil, Invalid("key", "at most 100 characters")
	}
	key := in.Key
	if key == "" {
		key = ulid.Make().String()
	}
	key = sendKey(id, ct.ID, StepReply+":"+key)
	now := s.now()
	w := s.window(c, ct, now)
	req := gateway.SendRequest{
		To: ct.Cell, Body: body, From: c.ModemGroup, Agent: a.ID,
		Metadata:       s.meta(c, ct, a.ID, StepReply),
		TextingWindow:  textingWindow(c, w),
		IdempotencyKey: key, RequestHash: key,
	}
	if !w.Open {
		req.SendAt = w.Opens
	}
	gm, err := s.send.Submit(ctx, req)
	if err != nil {
		if errors.Is(err, gateway.ErrIdempotencyMismatch) {
			return nil, Invalid("key", "was used for another message")
		}
		return nil, err
	}
	m := s.record(c, ct, gm, a.ID, StepReply)
	updated, err := s.st.RecordSend(ctx, m, func(x *Contact) error {
		if x.Status != StatusOptedOut {
			x.Status = StatusConversing
		}
		x.LastMessageAt = gm.CreatedAt
		x.UpdatedAt = now.UTC()
		return nil
	}, []Event{{ID: "sent:" + gm.ID, CampaignID: id, ContactID: ct.ID, Type: EventReplied, Actor: a.ID, At: gm.CreatedAt, MessageID: gm.ID}})
	if err != nil {
		return nil, fmt.Errorf("record reply: %w", err)
	}
	res := &SendResult{Message: m, Contact: updated}
	if !w.Open {
		res.Held, res.HeldUntil = true, w.Opens
	}
	return res, nil
}
