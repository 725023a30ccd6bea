package campaign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/simgate/simgate/gateway"
)

// Notify implements gateway.Notifier: subscribed to gateway.Events, it
// routes a received message to the campaign that last texted its sender
// (the contact becomes needs_response, in its texter's reply queue) or to
// the organisation inbox; closes the sender in every campaign on an
// opt-out; and keeps campaign messages' delivery status in step. Errors are
// logged: the gateway has already stored what happened.
func (s *Service) Notify(e gateway.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	switch e.Type {
	case gateway.EventMessageReceived:
		if m, ok := e.Data.(*gateway.Message); ok {
			err = s.received(ctx, m)
		}
	case gateway.EventOptOut:
		if o, ok := e.Data.(gateway.OptOut); ok {
			err = s.closeEverywhere(ctx, o.Number, "system:optout", o.Keyword)
		}
	case gateway.EventMessageSent, gateway.EventMessageDelivered, gateway.EventMessageFailed,
		gateway.EventMessageUnknown, gateway.EventMessageExpired, gateway.EventMessageUnconfirmed:
		err = s.refresh(ctx, e.MessageID)
	}
	if err != nil {
		s.log.Error("campaign: event not applied", "type", string(e.Type), "message_id", e.MessageID, "err", err)
	}
}

// received files an inbound message.
func (s *Service) received(ctx context.Context, m *gateway.Message) error {
	if m.Direction != gateway.Inbound {
		return nil
	}
	cid, contactID, _, err := s.st.LatestTexted(ctx, m.Contact)
	if errors.Is(err, gateway.ErrNotFound) {
		return s.st.AddInbox(ctx, InboxItem{MessageID: m.ID, Contact: m.Contact, Modem: m.Modem, Body: m.Body, At: m.CreatedAt})
	}
	if err != nil {
		return err
	}
	now := s.now().UTC()
	rec := &Message{ID: m.ID, CampaignID: cid, ContactID: contactID, Direction: string(gateway.Inbound),
		Contact: m.Contact, Modem: m.Modem, Status: string(m.Status), Body: m.Body, Parts: m.Segments,
		Encoding: m.Encoding, CreatedAt: m.CreatedAt, UpdatedAt: m.CreatedAt}
	_, err = s.st.RecordSend(ctx, rec, func(ct *Contact) error {
		if ct.Status != StatusOptedOut && !ct.OptedOut {
			ct.Status = StatusNeedsResponse
		}
		ct.LastReplyAt = m.CreatedAt
		ct.UpdatedAt = now
		return nil
	}, []Event{{ID: "received:" + m.ID, CampaignID: cid, ContactID: contactID, Type: EventReceived, Actor: "contact", At: m.CreatedAt, MessageID: m.ID}})
	return err
}

// refresh copies a gateway message's status to its campaign record.
func (s *Service) refresh(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	if _, err := s.st.CampaignMessage(ctx, id); errors.Is(err, gateway.ErrNotFound) {
		return nil // not a campaign message
	} else if err != nil {
		return err
	}
	gm, err := s.msgs.GetMessage(ctx, id)
	if err != nil {
		return err
	}
	_, err = s.st.UpdateCampaignMessage(ctx, id, func(m *Message) error {
		m.Status, m.Modem, m.Error, m.UpdatedAt = string(gm.Status), gm.Modem, gm.Error, gm.UpdatedAt
		return nil
	})
	return err
}

// closeEverywhere marks number opted out in every campaign holding it.
func (s *Service) closeEverywhere(ctx context.Context, number, actor, note string) error {
	refs, err := s.st.CampaignsOfCell(ctx, number)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	var errs []error
	for cid, contactID := range refs {
		changed := false
		_, err := s.st.UpdateContact(ctx, cid, contactID, func(ct *Contact) error {
			changed = !ct.OptedOut || ct.Status != StatusOptedOut
			ct.OptedOut, ct.Status, ct.UpdatedAt = true, StatusOptedOut, now
			return nil
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if changed {
			s.event(ctx, Event{CampaignID: cid, ContactID: contactID, Type: EventOptedOut, Actor: actor, At: now, Note: note})
		}
	}
	return errors.Join(errs...)
}

// Replies returns the acting texter's contacts whose replies wait for an
// answer (needs_response), oldest reply first.
func (s *Service) Replies(ctx context.Context, a Actor, id string) ([]*Contact, error) {
	var out []*Contact
	err := s.st.Contacts(ctx, id, ContactFilter{Texter: a.ID, Status: StatusNeedsResponse}, func(ct *Contact) error {
		out = append(out, ct)
		return nil
	})
	slices.SortStableFunc(out, func(x, y *Contact) int { return x.LastReplyAt.Compare(y.LastReplyAt) })
	return out, err
}

// Conversation is one contact's thread.
type Conversation struct {
	Contact  *Contact   `json:"contact"`
	Messages []*Message `json:"messages"`
	// Window is the contact's texting window now.
	Window Window `json:"window"`
	// Next is the next unanswered survey question along the answers given ("" = none).
	Next string `json:"next,omitempty"`
}

// Conversation returns the contact's messages, oldest first.
func (s *Service) Conversation(ctx context.Context, a Actor, id string, contactID int64) (*Conversation, error) {
	c, ct, err := s.contactFor(ctx, a, id, contactID)
	if err != nil {
		return nil, err
	}
	cv := &Conversation{Contact: ct, Messages: []*Message{}, Window: s.window(c, ct, s.now()), Next: nextQuestion(c.Survey, ct)}
	err = s.st.CampaignMessages(ctx, id, contactID, func(m *Message) error {
		cv.Messages = append(cv.Messages, m)
		return nil
	})
	return cv, err
}

// nextQuestion walks the survey from its root along ct's answers.
func nextQuestion(sv Survey, ct *Contact) string {
	if len(sv.Questions) == 0 {
		return ""
	}
	q := sv.Questions[0]
	for range len(sv.Questions) {
		a, ok := ct.Answers[q.ID]
		if !ok {
			return q.ID
		}
		next := ""
		for _, o := range q.Options {
			if o.Value == a.Value {
				next = o.Next
			}
		}
		if next == "" {
			return ""
		}
		q, _ = sv.Question(next)
	}
	return ""
}

// AnswerResult is a recorded answer and what the survey suggests next.
type AnswerResult struct {
	Contact *Contact `json:"contact"`
	// Reply is the option's suggested reply rendered for the contact ("" = none).
	Reply string `json:"reply,omitempty"`
	// Next is the next question ID ("" = the survey is done).
	Next string `json:"next,omitempty"`
}

// Answer records the contact's answer to a survey question (value must be
// one of its options; "" clears it). The earlier answer stays in the
// events (Previous), with who and when.
func (s *Service) Answer(ctx context.Context, a Actor, id string, contactID int64, question, value string) (*AnswerResult, error) {
	c, ct, err := s.contactFor(ctx, a, id, contactID)
	if err != nil {
		return nil, err
	}
	if c.State == StateArchived {
		return nil, fmt.Errorf("an archived campaign: %w", ErrState)
	}
	q, ok := c.Survey.Question(question)
	if !ok {
		return nil, Invalid("question", "no question %q in the survey", question)
	}
	var opt *Option
	for i := range q.Options {
		if q.Options[i].Value == value {
			opt = &q.Options[i]
		}
	}
	if opt == nil && value != "" {
		return nil, Invalid("value", "%q is not an option of question %q", value, question)
	}
	now := s.now().UTC()
	var prev string
	updated, err := s.st.UpdateContact(ctx, id, ct.ID, func(x *Contact) error {
		prev = x.Answers[question].Value
		if value == "" {
			delete(x.Answers, question)
		} else {
			if x.Answers == nil {
				x.Answers = map[string]Answer{}
			}
			x.Answers[question] = Answer{Value: value, By: a.ID, At: now}
		}
		x.UpdatedAt = now
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.event(ctx, Event{CampaignID: id, ContactID: ct.ID, Type: EventAnswered, Actor: a.ID, At: now, Question: question, Value: value, Previous: prev})
	res := &AnswerResult{Contact: updated}
	if opt != nil {
		res.Next = opt.Next
		if opt.Reply != "" {
			if sc, err := ParseScript(opt.Reply, nil); err == nil {
				res.Reply, _ = sc.Render(Values(updated, s.texter(ctx, a.ID, a.Name)))
			}
		}
	}
	return res, nil
}

// Tag adds and removes tags of a contact (each must be one of the campaign's tags).
func (s *Service) Tag(ctx context.Context, a Actor, id string, contactID int64, add, remove []string) (*Contact, error) {
	c, ct, err := s.contactFor(ctx, a, id, contactID)
	if err != nil {
		return nil, err
	}
	for _, t := range append(append([]string(nil), add...), remove...) {
		if !c.hasTag(t) {
			return nil, Invalid("tags", "%q is not a tag of the campaign (%s)", t, strings.Join(c.Tags, ", "))
		}
	}
	now := s.now().UTC()
	var added, removed []string
	updated, err := s.st.UpdateContact(ctx, id, ct.ID, func(x *Contact) error {
		added, removed = nil, nil
		for _, t := range add {
			if !slices.Contains(x.Tags, t) {
				x.Tags = append(x.Tags, t)
				added = append(added, t)
			}
		}
		for _, t := range remove {
			if i := slices.Index(x.Tags, t); i >= 0 {
				x.Tags = slices.Delete(x.Tags, i, i+1)
				removed = append(removed, t)
			}
		}
		x.UpdatedAt = now
		return nil
	})
	if err != nil {
		return nil, err
	}
	var evs []Event
	for _, t := range added {
		evs = append(evs, Event{ID: ulid.Make().String(), CampaignID: id, ContactID: ct.ID, Type: EventTagged, Actor: a.ID, At: now, Value: t})
	}
	for _, t := range removed {
		evs = append(evs, Event{ID: ulid.Make().String(), CampaignID: id, ContactID: ct.ID, Type: EventUntagged, Actor: a.ID, At: now, Value: t})
	}
	if err := s.st.AppendEvents(ctx, evs); err != nil {
		s.log.Error("tag events not stored", "campaign", id, "err", err)
	}
	return updated, nil
}

// OptOut opts the contact out for the whole organisation, from the
// conversation: the number joins the suppression list (source "campaign"),
// the contact is closed in every campaign and, if confirm, one
// confirmation (Config.OptOutReply) is sent from the conversation's SIM.
func (s *Service) OptOut(ctx context.Context, a Actor, id string, contactID int64, confirm bool) (*Contact, error) {
	c, ct, err := s.contactFor(ctx, a, id, contactID)
	if err != nil {
		return nil, err
	}
	out, err := s.opt.OptedOut(ctx, ct.Cell)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if !out {
		if confirm {
			// The one confirmation of an opt-out is exempt from the
			// suppression list it is about to join (see gateway.SendRequest.OptOutReply).
			key := sendKey(id, ct.ID, StepOptOut)
			gm, err := s.send.Submit(ctx, gateway.SendRequest{
				OptOutReply: true,
				To:          ct.Cell, Body: s.cfg.OptOutReply, From: c.ModemGroup, Agent: a.ID,
				Metadata: s.meta(c, ct, a.ID, StepOptOut), IdempotencyKey: key, RequestHash: key,
				TextingWindow: textingWindow(c, s.window(c, ct, now)),
			})
			if err != nil {
				s.log.Warn("opt-out confirmation not queued", "campaign", id, "err", err)
			} else if _, err := s.st.RecordSend(ctx, s.record(c, ct, gm, a.ID, StepOptOut), nil, nil); err != nil {
				s.log.Warn("opt-out confirmation not recorded", "campaign", id, "err", err)
			}
		}
		o := gateway.OptOut{Number: ct.Cell, Source: "campaign", At: now}
		if err := s.opt.AddOptOut(ctx, o); err != nil {
			return nil, fmt.Errorf("opt out: %w", err)
		}
		if s.em != nil {
			s.em.Emit(ctx, gateway.Event{Type: gateway.EventOptOut, Data: o})
		}
	}
	if err := s.closeEverywhere(ctx, ct.Cell, a.ID, "from the conversation"); err != nil {
		return nil, err
	}
	return s.st.Contact(ctx, id, ct.ID)
}

// Close closes the conversation (a later reply reopens it).
func (s *Service) Close(ctx context.Context, a Actor, id string, contactID int64) (*Contact, error) {
	_, ct, err := s.contactFor(ctx, a, id, contactID)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	updated, err := s.st.UpdateContact(ctx, id, ct.ID, func(x *Contact) error {
		if x.Status != StatusOptedOut {
			x.Status = StatusClosed
		}
		x.UpdatedAt = now
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.event(ctx, Event{CampaignID: id, ContactID: ct.ID, Type: EventClosed, Actor: a.ID, At: now})
	return updated, nil
}

// Inbox lists inbound messages no campaign claimed, newest first. Organisers only.
func (s *Service) Inbox(ctx context.Context, a Actor, limit int) ([]InboxItem, error) {
	if err := organiser(a); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	return s.st.Inbox(ctx, limit)
}
