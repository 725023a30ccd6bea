package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Waiting says why an outbound message with parts still to send has not
// left yet: scheduled, backing off after a failure, outside its texting
// window, the queue still loading at start-up, held by a paused, down or removed modem (its contact's SIM, the
// modem its From names, or the SIM that sent its first parts), or no modem
// able or allowed to take it. It returns "" for a message with nothing to
// send, one being sent, and one that only waits its turn.
func (d *Dispatcher) Waiting(ctx context.Context, m *Message) string {
	if m == nil || m.Direction != Outbound || m.Status.Terminal() || countPending(m) == 0 {
		return ""
	}
	for _, p := range m.Parts {
		if p.State == PartAssigned || p.State == PartSubmitting {
			return ""
		}
	}
	if s := d.LoadingStatus(); s != "" {
		return s + "; sending starts once it is loaded"
	}
	now := d.now()
	switch {
	case m.SendAt.After(now):
		return "scheduled: not before " + m.SendAt.UTC().Format(time.RFC3339)
	case m.NextAttemptAt.After(now):
		return "retrying after " + m.NextAttemptAt.UTC().Format(time.RFC3339) + " (an earlier attempt failed)"
	}
	if w := m.TextingWindow; w != nil && !w.Open(now) {
		return fmt.Sprintf("outside its texting window (%s): opens %s", w, w.NextOpen(now).UTC().Format(time.RFC3339))
	}
	pending := countPending(m)
	if holder, why := d.holder(ctx, m, now); holder != "" {
		if r := d.fleet.blocked(holder, pending, now); r != "" {
			return fmt.Sprintf("waiting for modem %s (%s): %s", holder, why, r)
		}
		return ""
	}
	var reasons []string
	anyNew := false
	for _, md := range d.fleet.list() {
		if m.From != "" && !md.inGroup(m.From) {
			continue
		}
		if r := d.fleet.blocked(md.name, pending, now); r != "" {
			reasons = append(reasons, md.name+" "+r)
			continue
		}
		if d.fleet.mayTakeNew(md, now) {
			anyNew = true
		}
	}
	switch {
	case len(reasons) > 0 && !anyNew && len(reasons) == d.fleet.count(m.From):
		return "no modem can send it now: " + strings.Join(reasons, "; ")
	case !anyNew:
		return "no modem may take a new contact now (new-contact budgets used up or draining)"
	}
	return ""
}

// holder is the modem m must go through, if one, and why.
func (d *Dispatcher) holder(ctx context.Context, m *Message, now time.Time) (modem, why string) {
	switch {
	case m.From != "" && d.fleet.IsModem(m.From):
		return m.From, "named by from"
	case anySubmitted(m) && m.Modem != "":
		return m.Modem, "it sent the first parts"
	}
	s, err := d.st.Sticky(ctx, m.Contact)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			d.log.Warn("waiting: read sticky", "id", m.ID, "err", err)
		}
		return "", ""
	}
	if d.fleet.Gone(s.Modem, now) || (m.From != "" && !d.fleet.InGroup(s.Modem, m.From)) {
		return "", ""
	}
	return s.Modem, "the contact's SIM"
}
