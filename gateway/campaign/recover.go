package campaign

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/simgate/simgate/gateway"
)

// History is what Recover reads: the gateway's stored messages and
// suppression list. gateway.MessageStore and gateway.OptOutStore have it.
type History interface {
	ListMessages(ctx context.Context, f gateway.MessageFilter) (gateway.MessagePage, error)
	ListOptOuts(ctx context.Context, after string, limit int) ([]gateway.OptOut, error)
}

// Recover applies what Notify may have missed (the gateway hands events to
// notifiers from memory, so a crash between storing an inbound message or
// an opt-out and notifying loses the notification): every inbound message
// received since since that no campaign has filed is filed now, and every
// number on the suppression list is closed in every campaign that holds
// it. An import a crash interrupted (a campaign still marked importing by
// no import of this process) is rolled back first. It is safe to run while
// Notify runs (both are idempotent). It returns how many messages it filed
// and contacts it closed.
func (s *Service) Recover(ctx context.Context, h History, since time.Time) (filed, closed int, err error) {
	if err := s.rollbackInterrupted(ctx); err != nil {
		return 0, 0, err
	}
	cursor := ""
	for {
		page, err := h.ListMessages(ctx, gateway.MessageFilter{Direction: gateway.Inbound, Since: since, Cursor: cursor, Limit: 500, Ascending: true})
		if err != nil {
			return filed, closed, fmt.Errorf("recover: messages: %w", err)
		}
		for _, m := range page.Messages {
			if _, err := s.st.CampaignMessage(ctx, m.ID); err == nil {
				continue
			} else if !errors.Is(err, gateway.ErrNotFound) {
				return filed, closed, err
			}
			if err := s.received(ctx, m); err != nil {
				return filed, closed, fmt.Errorf("recover: file %s: %w", m.ID, err)
			}
			filed++
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	after := ""
	for {
		list, err := h.ListOptOuts(ctx, after, 1000)
		if err != nil {
			return filed, closed, fmt.Errorf("recover: opt-outs: %w", err)
		}
		for _, o := range list {
			n, err := s.closeOpen(ctx, o.Number)
			if err != nil {
				return filed, closed, err
			}
			closed += n
		}
		if len(list) < 1000 {
			return filed, closed, nil
		}
		after = list[len(list)-1].Number
	}
}

// closeOpen closes number in the campaigns where it is not opted out yet.
func (s *Service) closeOpen(ctx context.Context, number string) (int, error) {
	refs, err := s.st.CampaignsOfCell(ctx, number)
	if err != nil || len(refs) == 0 {
		return 0, err
	}
	n := 0
	for cid, id := range refs {
		ct, err := s.st.Contact(ctx, cid, id)
		if err != nil {
			return n, err
		}
		if !ct.OptedOut {
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	return n, s.closeEverywhere(ctx, number, "system:optout", "recovered")
}

// rollbackInterrupted rolls back the imports no Import of this process runs.
func (s *Service) rollbackInterrupted(ctx context.Context) error {
	cs, err := s.st.Campaigns(ctx)
	if err != nil {
		return fmt.Errorf("recover: campaigns: %w", err)
	}
	for _, c := range cs {
		if c.Importing == nil {
			continue
		}
		s.mu.Lock()
		running := s.imports[c.ID] != ""
		if !running {
			s.imports[c.ID] = "recover" // keeps Import out meanwhile
		}
		s.mu.Unlock()
		if running {
			continue
		}
		err := s.rollback(ctx, c.ID, c.Importing.ID, c.Importing.FirstID, "interrupted (the gateway stopped)")
		s.mu.Lock()
		delete(s.imports, c.ID)
		s.mu.Unlock()
		if err != nil {
			return fmt.Errorf("recover: %w", err)
		}
		s.log.Warn("campaign: an interrupted import was rolled back", "campaign", c.ID, "import", c.Importing.ID)
	}
	return nil
}
