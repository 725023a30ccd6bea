package gateway

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Run loads the active messages (applying the crash rules: a part left
// submitting is unknown unless the message asked for at-least-once; an
// assigned one is queued again), then runs one worker per modem and the
// scheduler until ctx is done or Close is called. It waits for in-flight
// sends before returning.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	if d.running {
		d.mu.Unlock()
		return errors.New("dispatcher: already running")
	}
	d.running = true
	ctx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	runDone := make(chan struct{})
	d.runDone = runDone
	d.mu.Unlock()
	defer close(runDone)
	defer cancel()

	if err := d.recover(ctx); err != nil {
		d.mu.Lock()
		d.running = false
		d.mu.Unlock()
		return err
	}
	d.mu.Lock()
	d.runCtx = ctx
	for _, n := range d.order {
		d.startWorkerLocked(d.modems[n])
	}
	d.wg.Add(1)
	go d.schedule(ctx)
	d.mu.Unlock()
	d.log.Info("dispatcher running", "modems", len(d.order))

	<-ctx.Done()
	d.wg.Wait()
	d.mu.Lock()
	ms := make([]*modemEntry, 0, len(d.modems))
	for _, m := range d.modems {
		ms = append(ms, m)
	}
	d.mu.Unlock()
	for _, m := range ms {
		d.saveBudget(m)
	}
	d.flushEarly(context.Background(), d.now(), true)
	return nil
}

// Close stops taking work and waits (at most Config.CloseTimeout) for
// in-flight sends to be recorded.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	running, cancel, runDone := d.running, d.cancel, d.runDone
	d.mu.Unlock()
	if !running {
		return nil
	}
	cancel()
	select {
	case <-runDone:
		return nil
	case <-time.After(d.cfg.CloseTimeout):
		return errors.New("dispatcher: close timed out waiting for in-flight sends")
	}
}

// recover loads budgets and active messages at start-up.
func (d *Dispatcher) recover(ctx context.Context) error {
	budgets, err := d.st.Budgets(ctx)
	if err != nil {
		return fmt.Errorf("load budgets: %w", err)
	}
	d.mu.Lock()
	for n, u := range budgets {
		d.budgets[n] = u
		if m := d.modems[n]; m != nil {
			m.pacer.usage = u
			m.restoreHoldLocked(u.Hold)
		}
	}
	d.mu.Unlock()
	var active []*Message
	err = d.st.ActiveMessages(ctx, func(m *Message) error {
		if m.Direction == Outbound {
			active = append(active, lean(m))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load active messages: %w", err)
	}
	unknown := 0
	for _, m := range active {
		needs := false
		for _, p := range m.Parts {
			if p.State == PartSubmitting || p.State == PartAssigned {
				needs = true
			}
		}
		if needs {
			now := d.now()
			fixed, err := d.st.UpdateMessage(ctx, m.ID, func(m *Message) error { recoverParts(m, now); return nil })
			if err != nil {
				return fmt.Errorf("recover %s: %w", m.ID, err)
			}
			for i, p := range fixed.Parts {
				if p.State == PartUnknown && m.Parts[i].State == PartSubmitting {
					unknown++
					d.met.unknown.WithLabelValues(p.Modem).Inc()
				}
			}
			if fixed.Status == StatusUnknown {
				d.emit(Event{Type: EventMessageUnknown, MessageID: m.ID, Modem: fixed.Modem,
					Data: map[string]any{"reason": "restart while a part was being submitted"}})
			}
			m = lean(fixed)
		}
		if err := d.enqueue(ctx, m); err != nil {
			return fmt.Errorf("queue %s: %w", m.ID, err)
		}
	}
	d.log.Info("recovered queue", "active", len(active), "unknown_parts", unknown)
	return nil
}

// lean drops what the queue does not need (PDUs, body) so that loading a
// large backlog does not hold it all in memory.
func lean(m *Message) *Message {
	c := *m
	c.Body, c.Metadata = "", nil
	c.Parts = slices.Clone(m.Parts)
	for i := range c.Parts {
		c.Parts[i].PDU = nil
	}
	return &c
}

// recoverParts applies the crash rules to m (pure: safe to call twice).
func recoverParts(m *Message, now time.Time) {
	for i := range m.Parts {
		p := &m.Parts[i]
		switch p.State {
		case PartSubmitting:
			if m.AtLeastOnce {
				p.State = PartQueued
			} else {
				p.State = PartUnknown
				p.ErrorClass = "ambiguous"
				p.Error = "gateway stopped while the part was being submitted"
			}
			p.UpdatedAt = now
		case PartAssigned:
			p.State = PartQueued
			p.UpdatedAt = now
		}
	}
	if RollUp(m.Parts) == StatusUnknown {
		cancelPending(m, now, "not sent: an earlier part's fate is unknown")
	}
	m.Status = RollUp(m.Parts)
	m.UpdatedAt = now
}

// cancelPending marks parts that were never submitted cancelled (the
// message failed or became unknown, so they will not go out).
func cancelPending(m *Message, now time.Time, why string) {
	for i := range m.Parts {
		p := &m.Parts[i]
		if p.State == PartQueued || p.State == PartAssigned {
			p.State = PartCancelled
			p.Error = why
			p.UpdatedAt = now
		}
	}
}

// schedule moves due items to the ready queues, expires, moves contacts off
// gone SIMs, lifts timed pauses, polls device status and saves budgets.
func (d *Dispatcher) schedule(ctx context.Context) {
	defer d.wg.Done()
	tick := min(250*time.Millisecond, d.cfg.StickyTimeout/4)
	tick = max(tick, time.Millisecond)
	t := time.NewTimer(tick)
	defer t.Stop()
	lastSave := d.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.schedWake:
		case <-t.C:
		}
		now := d.now()
		d.mu.Lock()
		for d.delayed.Len() > 0 && d.delayed[0].readyAt <= now.UnixNano() {
			it := heap.Pop(&d.delayed).(*item)
			it.where = inNone
			it.readyAt = 0
			d.pushLocked(it, now)
		}
		wait := tick
		if d.delayed.Len() > 0 {
			wait = min(wait, time.Duration(d.delayed[0].readyAt-now.UnixNano()))
		}
		d.mu.Unlock()
		d.housekeep(ctx, now, now.Sub(lastSave) >= time.Second)
		if now.Sub(lastSave) >= time.Second {
			lastSave = now
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(max(wait, time.Millisecond))
	}
}

func (d *Dispatcher) housekeep(ctx context.Context, now time.Time, save bool) {
	// Poll device status: observers may miss a change.
	d.mu.Lock()
	ms := make([]*modemEntry, 0, len(d.modems))
	for _, n := range d.order {
		ms = append(ms, d.modems[n])
	}
	d.mu.Unlock()
	var events []Event
	for _, m := range ms {
		if ev, ok := d.observe(m.name, m.dev.Status()); ok {
			events = append(events, ev)
		}
	}
	var expired []string
	d.mu.Lock()
	for _, m := range ms {
		if m.paused && !m.pausedUntil.IsZero() && !now.Before(m.pausedUntil) {
			m.paused, m.pauseReason, m.pausedUntil = false, "", time.Time{}
			m.pacer.dirty = true
			m.counters.ConsecutiveFails, m.cms500 = 0, 0
			m.poke()
			events = append(events, Event{Type: EventModemResumed, Modem: m.name, Data: map[string]any{"reason": "pause expired"}})
		}
	}
	// Contacts of SIMs gone too long move to the shared queues.
	for key, q := range d.queues {
		if len(key) < 2 || key[:2] != "m:" || q.Len() == 0 || !d.goneLocked(key[2:], now) {
			continue
		}
		var keep, move []*item
		for _, it := range *q {
			if it.explicit {
				keep = append(keep, it)
			} else {
				move = append(move, it)
			}
		}
		if len(move) == 0 {
			continue
		}
		*q = (*q)[:0]
		for _, it := range keep {
			heap.Push(q, it)
		}
		for _, it := range move {
			it.pinned = ""
			d.pushLocked(it, now)
		}
		d.log.Info("moving queue of gone modem", "modem", key[2:], "messages", len(move))
	}
	nowN := now.UnixNano()
	for id, it := range d.byID {
		if !save {
			break // expiry is checked once a second
		}
		if it.expires != 0 && it.expires <= nowN && (it.where == inReady || it.where == inDelayed) {
			d.removeLocked(it)
			delete(d.byID, id)
			expired = append(expired, id)
		}
	}
	d.mu.Unlock()
	for _, e := range events {
		d.emit(e)
	}
	for _, id := range expired {
		d.expire(ctx, id, now)
	}
	if save {
		for _, m := range ms {
			d.saveBudget(m)
		}
		d.flushEarly(context.WithoutCancel(ctx), now, false)
	}
}

// expire marks a message's unsent parts expired.
func (d *Dispatcher) expire(ctx context.Context, id string, now time.Time) {
	msg, err := d.st.UpdateMessage(context.WithoutCancel(ctx), id, func(m *Message) error {
		if m.Status.Terminal() {
			return ErrNotCancellable
		}
		for i := range m.Parts {
			if p := &m.Parts[i]; p.State == PartQueued || p.State == PartAssigned {
				p.State, p.UpdatedAt = PartExpired, now
			}
		}
		m.Status, m.UpdatedAt = RollUp(m.Parts), now
		return nil
	})
	if err != nil {
		if !errors.Is(err, ErrNotCancellable) {
			d.log.Error("expire", "id", id, "err", err)
		}
		return
	}
	d.emit(Event{Type: EventMessageExpired, MessageID: id, Data: map[string]any{"status": msg.Status}})
}

func (d *Dispatcher) saveBudget(m *modemEntry) {
	d.mu.Lock()
	if !m.pacer.dirty {
		d.mu.Unlock()
		return
	}
	u := m.pacer.usage
	u.Hold = m.holdLocked()
	m.pacer.dirty = false
	d.mu.Unlock()
	if err := d.st.SaveBudget(context.Background(), m.name, u); err != nil {
		d.log.Error("save budget", "modem", m.name, "err", err)
		d.mu.Lock()
		m.pacer.dirty = true
		d.mu.Unlock()
	}
}

// QueueLen is the number of messages waiting in the in-memory queue (not
// counting those being sent).
func (d *Dispatcher) QueueLen() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, it := range d.byID {
		if it.where != inFlight {
			n++
		}
	}
	return n
}
