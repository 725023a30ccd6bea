package campaign

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/oklog/ulid/v2"
)

// ErrHasUnsent: a texter asking for a batch still has contacts to message.
var ErrHasUnsent = errors.New("send the first messages you have before asking for more contacts")

// MaxAssign bounds one static assignment.
const MaxAssign = 100000

// Assign gives texter up to n unassigned contacts that need a first
// message, lowest IDs first (static assignment); it returns how many it
// gave. Organisers only; not on an archived campaign.
func (s *Service) Assign(ctx context.Context, a Actor, id, texter string, n int) (int, error) {
	if err := organiser(a); err != nil {
		return 0, err
	}
	texter = strings.TrimSpace(texter)
	if texter == "" {
		return 0, Invalid("texter", "is required")
	}
	if n < 1 || n > MaxAssign {
		return 0, Invalid("count", "must be between 1 and %d", MaxAssign)
	}
	c, err := s.st.Campaign(ctx, id)
	if err != nil {
		return 0, err
	}
	if c.State == StateArchived {
		return 0, fmt.Errorf("an archived campaign: %w", ErrState)
	}
	return s.assign(ctx, a, c, texter, n)
}

func (s *Service) assign(ctx context.Context, a Actor, c *Campaign, texter string, n int) (int, error) {
	var before int64
	if c.Importing != nil {
		before = c.Importing.FirstID
	}
	ids, err := s.st.AssignContacts(ctx, c.ID, texter, n, before)
	if err != nil {
		return 0, fmt.Errorf("assign: %w", err)
	}
	now := s.now().UTC()
	evs := make([]Event, 0, len(ids))
	for _, cid := range ids {
		evs = append(evs, Event{ID: ulid.Make().String(), CampaignID: c.ID, ContactID: cid, Type: EventAssigned, Actor: a.ID, At: now, Value: texter})
	}
	if err := s.st.AppendEvents(ctx, evs); err != nil {
		s.log.Error("assignment events not stored", "campaign", c.ID, "err", err)
	}
	return len(ids), nil
}

// NextBatch gives the acting texter the campaign's next dynamic batch
// (Campaign.BatchSize contacts) — only when they have no open replies
// (ErrOpenReplies) and no contact left to message (ErrHasUnsent). The
// campaign must be active. It returns how many contacts were given (0
// when none are left).
func (s *Service) NextBatch(ctx context.Context, a Actor, id string) (int, error) {
	c, err := s.st.Campaign(ctx, id)
	if err != nil {
		return 0, err
	}
	if c.State != StateActive {
		return 0, fmt.Errorf("the campaign is %s: %w", c.State, ErrState)
	}
	open, unsent := 0, 0
	err = s.st.Contacts(ctx, id, ContactFilter{Texter: a.ID}, func(ct *Contact) error {
		switch ct.Status {
		case StatusNeedsResponse:
			open++
		case StatusNeedsMessage:
			if !ct.OptedOut {
				unsent++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if open > 0 {
		return 0, fmt.Errorf("%d open replies: %w", open, ErrOpenReplies)
	}
	if unsent > 0 {
		return 0, fmt.Errorf("%d contacts to message: %w", unsent, ErrHasUnsent)
	}
	n := c.BatchSize
	if n <= 0 {
		n = DefaultBatchSize
	}
	return s.assign(ctx, a, c, a.ID, n)
}

// Release un-assigns texter's contacts that have not had a first message,
// so they can go to someone else; it returns how many. A texter may
// release their own; organisers anyone's.
func (s *Service) Release(ctx context.Context, a Actor, id, texter string) (int, error) {
	if texter == "" {
		texter = a.ID
	}
	if texter != a.ID && !a.Organiser {
		return 0, ErrForbidden
	}
	var ids []int64
	err := s.st.Contacts(ctx, id, ContactFilter{Texter: texter, Status: StatusNeedsMessage}, func(ct *Contact) error {
		ids = append(ids, ct.ID)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return s.move(ctx, a, id, ids, texter, "", EventReleased, func(ct *Contact) bool {
		return ct.Status == StatusNeedsMessage && ct.FirstMessageID == ""
	})
}

// Reassign moves contacts from one texter to another: the given contact
// IDs, or (none given) every contact of from, whatever their status.
// It returns how many moved. Organisers only.
func (s *Service) Reassign(ctx context.Context, a Actor, id, from, to string, contactIDs []int64) (int, error) {
	if err := organiser(a); err != nil {
		return 0, err
	}
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	if to == "" {
		return 0, Invalid("to", "is required")
	}
	if from == "" && len(contactIDs) == 0 {
		return 0, Invalid("from", "name a texter or list contact IDs")
	}
	ids := contactIDs
	if len(ids) == 0 {
		err := s.st.Contacts(ctx, id, ContactFilter{Texter: from}, func(ct *Contact) error {
			ids = append(ids, ct.ID)
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return s.move(ctx, a, id, ids, from, to, EventReassigned, func(ct *Contact) bool {
		return from == "" || ct.Texter == from
	})
}

// move sets the texter of each contact in ids to to when ok(contact).
func (s *Service) move(ctx context.Context, a Actor, id string, ids []int64, from, to string, typ EventType, ok func(*Contact) bool) (int, error) {
	now := s.now().UTC()
	n := 0
	var evs []Event
	for _, cid := range ids {
		var prev string
		changed := false
		_, err := s.st.UpdateContact(ctx, id, cid, func(ct *Contact) error {
			changed = false
			if !ok(ct) || ct.Texter == to {
				return nil
			}
			prev, ct.Texter, ct.UpdatedAt = ct.Texter, to, now
			changed = true
			return nil
		})
		if err != nil {
			return n, err
		}
		if changed {
			n++
			evs = append(evs, Event{ID: ulid.Make().String(), CampaignID: id, ContactID: cid, Type: typ, Actor: a.ID, At: now, Value: to, Previous: prev})
		}
	}
	if err := s.st.AppendEvents(ctx, evs); err != nil {
		s.log.Error("assignment events not stored", "campaign", id, "err", err)
	}
	return n, nil
}
