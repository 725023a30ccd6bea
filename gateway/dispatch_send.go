package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errGone: the message no longer needs this worker (cancelled, expired,
// already sent); the worker drops its item.
var errGone = errors.New("message no longer pending")

const workerPoll = 250 * time.Millisecond

// work is modem m's worker: whenever m is usable, not paused and its pacer
// allows, it takes the best message m may send and sends its parts.
func (d *Dispatcher) work(ctx context.Context, m *modemEntry) {
	defer d.wg.Done()
	defer close(m.done)
	t := time.NewTimer(workerPoll)
	defer t.Stop()
	var next *prepared
	defer func() {
		if next != nil {
			d.release(next, m)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.stop:
			return
		default:
		}
		if next != nil {
			p := next
			next = nil
			if !d.awaitTurn(ctx, m) {
				d.release(p, m)
				continue
			}
			d.setSending(m, true)
			next = d.deliver(ctx, m, p.it, p.msg)
			d.setSending(m, false)
			continue
		}
		if ev, ok := d.observe(m.name, m.dev.Status()); ok {
			d.emit(ev)
		}
		now := d.now()
		wait := workerPoll
		var it *item
		d.mu.Lock()
		if !m.paused && m.usable {
			if at := m.pacer.readyAt(now); at.After(now) {
				wait = min(wait, at.Sub(now))
			} else {
				it = d.takeLocked(m, now)
			}
		}
		m.sending = it != nil
		d.mu.Unlock()
		if it != nil {
			next = d.sendItem(ctx, m, it)
			d.setSending(m, false)
			continue
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-m.stop:
			return
		case <-m.wake:
		case <-t.C:
		}
	}
}

func (d *Dispatcher) setSending(m *modemEntry, b bool) {
	d.mu.Lock()
	m.sending = b
	d.mu.Unlock()
}

// drop forgets it: the message needs no more sending from the queue.
func (d *Dispatcher) drop(it *item) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byID[it.id] == it {
		delete(d.byID, it.id)
	}
	it.where = inNone
}

// requeue puts it back, not before at.
func (d *Dispatcher) requeue(it *item, at time.Time) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byID[it.id] != it {
		return
	}
	it.where = inNone
	it.readyAt = 0
	if at.After(now) {
		it.readyAt = at.UnixNano()
	}
	d.pushLocked(it, now)
}

// awaitTurn waits until m may send its next part. It returns false if m
// stopped being able to send (paused, down, removed, shutting down).
func (d *Dispatcher) awaitTurn(ctx context.Context, m *modemEntry) bool {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		if ev, ok := d.observe(m.name, m.dev.Status()); ok {
			d.emit(ev)
		}
		now := d.now()
		d.mu.Lock()
		ok := !m.paused && m.usable
		at := m.pacer.readyAt(now)
		d.mu.Unlock()
		if !ok {
			return false
		}
		if !at.After(now) {
			return true
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(min(at.Sub(now), workerPoll))
		select {
		case <-ctx.Done():
			return false
		case <-m.stop:
			return false
		case <-t.C:
		}
	}
}

// prepared is a message taken and assigned to a modem, ready to send.
type prepared struct {
	it  *item
	msg *Message
}

// sendItem sends the pending parts of it through m, one committed state
// transition before each step. It may return the next message, taken and
// assigned while the last part was on the wire (so that the assignment's
// commit is off the critical path).
func (d *Dispatcher) sendItem(ctx context.Context, m *modemEntry, it *item) *prepared {
	msg := d.prepare(ctx, m, it)
	if msg == nil {
		return nil
	}
	return d.deliver(ctx, m, it, msg)
}

// prepare commits the assignment of it's pending parts to m; nil means the
// item was dropped or requeued.
func (d *Dispatcher) prepare(ctx context.Context, m *modemEntry, it *item) *Message {
	bg := context.WithoutCancel(ctx) // outcomes are recorded even while stopping
	name := m.name
	now := d.now()
	if it.expires != 0 && it.expires <= now.UnixNano() {
		d.undoBind(it, name)
		d.drop(it)
		d.expire(bg, it.id, now)
		return nil
	}
	// Re-check the suppression list just before dispatch: a STOP may have
	// arrived while the message was queued.
	optedOut, err := d.st.OptedOut(bg, it.contact)
	if err != nil {
		d.log.Error("opt-out re-check", "id", it.id, "err", err)
		d.undoBind(it, name)
		d.requeue(it, now.Add(d.cfg.RetryBase))
		return nil
	}
	suppressed := false
	msg, err := d.st.UpdateMessage(bg, it.id, func(x *Message) error {
		if x.Status.Terminal() {
			return errGone
		}
		suppressed = optedOut && !IsOptOutExempt(x)
		if suppressed {
			for i := range x.Parts {
				if p := &x.Parts[i]; p.State == PartQueued || p.State == PartAssigned {
					p.State, p.UpdatedAt = PartFailed, now
					p.ErrorClass, p.Error = "opted_out", ErrOptedOut.Error()
				}
			}
			x.Status, x.Error, x.UpdatedAt = RollUp(x.Parts), ErrOptedOut.Error(), now
			return nil
		}
		n := 0
		for i := range x.Parts {
			if p := &x.Parts[i]; p.State == PartQueued || p.State == PartAssigned {
				p.State, p.Modem, p.UpdatedAt = PartAssigned, name, now
				n++
			}
		}
		if n == 0 {
			return errGone
		}
		x.Modem, x.Status, x.UpdatedAt = name, RollUp(x.Parts), now
		return nil
	})
	switch {
	case errors.Is(err, errGone) || errors.Is(err, ErrNotFound):
		d.undoBind(it, name)
		d.drop(it)
		return nil
	case err != nil:
		d.log.Error("assign", "id", it.id, "modem", name, "err", err)
		d.undoBind(it, name)
		d.requeue(it, now.Add(d.cfg.RetryBase))
		return nil
	case suppressed:
		d.undoBind(it, name)
		d.drop(it)
		d.emit(Event{Type: EventMessageFailed, MessageID: it.id, Data: map[string]any{"status": msg.Status, "reason": "opted_out"}})
		return nil
	}
	return msg
}

// release gives back a prepared message m could not send after all.
func (d *Dispatcher) release(p *prepared, m *modemEntry) {
	d.undoBind(p.it, m.name)
	d.requeue(p.it, time.Time{})
}

// deliver sends msg's assigned parts through m, pacing between them.
func (d *Dispatcher) deliver(ctx context.Context, m *modemEntry, it *item, msg *Message) *prepared {
	bg := context.WithoutCancel(ctx)
	first := true
	for i := range msg.Parts {
		if msg.Parts[i].State != PartAssigned {
			continue
		}
		if !first && !d.awaitTurn(ctx, m) {
			// Later parts must leave through the same SIM: wait for it.
			d.mu.Lock()
			it.parts = int16(countPending(msg))
			d.mu.Unlock()
			d.requeue(it, time.Time{})
			return nil
		}
		first = false
		var done bool
		var next *prepared
		msg, done, next = d.sendPart(ctx, bg, m, it, i)
		if done {
			return next
		}
	}
	d.drop(it)
	return nil
}

// prefetchBelow: modems paced at most this much between sends take and
// assign their next message while a send is on the wire.
const prefetchBelow = 50 * time.Millisecond

// prefetch takes and assigns m's next message while a send is in flight.
func (d *Dispatcher) prefetch(ctx context.Context, m *modemEntry) <-chan *prepared {
	ch := make(chan *prepared, 1)
	if ctx.Err() != nil {
		ch <- nil
		return ch
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		now := d.now()
		d.mu.Lock()
		var it *item
		if !m.paused && m.usable {
			it = d.takeLocked(m, now)
		}
		d.mu.Unlock()
		if it == nil {
			ch <- nil
			return
		}
		if msg := d.prepare(ctx, m, it); msg != nil {
			ch <- &prepared{it: it, msg: msg}
			return
		}
		ch <- nil
	}()
	return ch
}

func countPending(m *Message) int {
	n := 0
	for _, p := range m.Parts {
		if p.State == PartQueued || p.State == PartAssigned {
			n++
		}
	}
	return n
}

func anySubmitted(m *Message) bool {
	for _, p := range m.Parts {
		if p.State == PartSubmitted || p.State == PartDelivered {
			return true
		}
	}
	return false
}

// sendPart submits part i of msg through m. done means the item has been
// dropped or requeued; otherwise the next part may follow.
func (d *Dispatcher) sendPart(runCtx, ctx context.Context, m *modemEntry, it *item, i int) (*Message, bool, *prepared) {
	name := m.name
	now := d.now()
	msg, err := d.st.UpdateMessage(ctx, it.id, func(x *Message) error {
		if x.Status.Terminal() || i >= len(x.Parts) || x.Parts[i].State != PartAssigned {
			return errGone
		}
		p := &x.Parts[i]
		p.State, p.Modem, p.UpdatedAt = PartSubmitting, name, now
		p.Attempts++
		x.Status, x.UpdatedAt = RollUp(x.Parts), now
		return nil
	})
	if err != nil {
		if !errors.Is(err, errGone) {
			d.log.Error("mark submitting", "id", it.id, "modem", name, "err", err)
			d.requeue(it, now.Add(d.cfg.RetryBase))
			return msg, true, nil
		}
		d.drop(it)
		return msg, true, nil
	}
	d.mu.Lock()
	m.pacer.started(now)
	d.mu.Unlock()

	var next <-chan *prepared
	last := countPending(msg) == 0
	d.mu.Lock()
	// With a person's pace (seconds between sends) taking the next message
	// early would only keep it from a SIM that is free sooner.
	eager := m.pacer.cfg.MinInterval+m.pacer.cfg.Jitter <= prefetchBelow
	d.mu.Unlock()
	if last && eager {
		next = d.prefetch(runCtx, m)
	}
	sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	start := time.Now()
	mr, serr := m.dev.SendPDU(sctx, msg.Parts[i].PDU)
	took := time.Since(start)
	cancel()
	end := d.now()
	d.mu.Lock()
	m.pacer.done(end)
	d.mu.Unlock()
	d.met.sendDuration.WithLabelValues(name).Observe(took.Seconds())

	if serr == nil {
		if last {
			// The last part: record it while the worker takes its next
			// message, so the commit shares an fsync with that one's.
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				if _, done := d.submitted(ctx, m, it, i, mr, end); !done {
					d.drop(it)
				}
			}()
			return msg, true, takePrefetched(next)
		}
		msg, done := d.submitted(ctx, m, it, i, mr, end)
		return msg, done, nil
	}
	var se *SendError
	if !errors.As(serr, &se) {
		// Not the Device contract: we cannot know whether it went out.
		se = &SendError{Ambiguous: true, Err: serr}
	}
	d.failed(ctx, m, it, msg, i, se, end)
	return msg, true, takePrefetched(next)
}

// takePrefetched waits for the message prefetch took, if a prefetch was
// started (next is nil when it was not: a receive from it would block forever).
func takePrefetched(next <-chan *prepared) *prepared {
	if next == nil {
		return nil
	}
	return <-next
}

// submitted records +CMGS success for part i.
func (d *Dispatcher) submitted(ctx context.Context, m *modemEntry, it *item, i, mr int, now time.Time) (*Message, bool) {
	name := m.name
	msg, err := d.st.UpdateMessage(ctx, it.id, func(x *Message) error {
		if i >= len(x.Parts) {
			return ErrNotFound
		}
		p := &x.Parts[i]
		p.State, p.MR, p.SubmittedAt, p.UpdatedAt = PartSubmitted, mr, now, now
		p.ErrorCode, p.ErrorClass, p.Error = 0, "", ""
		x.NextAttemptAt = time.Time{}
		x.Status, x.UpdatedAt = RollUp(x.Parts), now
		return nil
	})
	d.mu.Lock()
	m.counters.Sent++
	m.counters.ConsecutiveFails, m.cms500 = 0, 0
	d.mu.Unlock()
	d.met.sent.WithLabelValues(name).Inc()
	if err != nil {
		// The part went out but we could not record it: it stays
		// "submitting" in the store (unknown after a restart), never resent.
		d.log.Error("record submitted", "id", it.id, "modem", name, "err", err)
		d.drop(it)
		return msg, true
	}
	d.applyEarly(ctx, name, mr)
	if it.newBind {
		it.newBind = false
		d.persistSticky(ctx, it, name, now)
	}
	if msg.Status == StatusSent {
		d.emit(Event{Type: EventMessageSent, MessageID: it.id, Modem: name, Data: map[string]any{"segments": msg.Segments}})
	}
	return msg, false
}

// persistSticky durably binds it's contact to modem, recording a move.
func (d *Dispatcher) persistSticky(ctx context.Context, it *item, modem string, now time.Time) {
	s := Sticky{Modem: modem, Since: now}
	old, err := d.st.Sticky(ctx, it.contact)
	switch {
	case err == nil && old.Modem == modem:
		return
	case err == nil:
		reason := "rebound"
		if it.moveFrom != "" {
			reason = fmt.Sprintf("modem %s unavailable for more than %s", it.moveFrom, d.cfg.StickyTimeout)
		}
		s.Moves = append(old.Moves, StickyMove{From: old.Modem, To: modem, At: now, Reason: reason})
		d.log.Info("contact moved", "from", old.Modem, "to", modem, "reason", reason)
	case !errors.Is(err, ErrNotFound):
		d.log.Error("read sticky", "err", err)
		return
	}
	if err := d.st.SetSticky(ctx, it.contact, s); err != nil {
		d.log.Error("save sticky", "modem", modem, "err", err)
	}
}

// undoBind forgets a binding made when it was taken if nothing went out.
func (d *Dispatcher) undoBind(it *item, modem string) {
	if !it.newBind {
		return
	}
	it.newBind = false
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bound[it.contact] == modem {
		if it.moveFrom != "" {
			d.bound[it.contact] = it.moveFrom
		} else {
			delete(d.bound, it.contact)
		}
	}
	it.moveFrom = ""
	if !it.explicit && it.pinned == modem {
		it.pinned = "" // any SIM may take it again
	}
}

func (d *Dispatcher) backoff(attempts int) time.Duration {
	return Backoff{Base: d.cfg.RetryBase, Max: d.cfg.RetryMax}.Delay(attempts)
}

// failed records a failed send of part i and decides: unknown, retry or fail.
func (d *Dispatcher) failed(ctx context.Context, m *modemEntry, it *item, msg *Message, i int, se *SendError, now time.Time) {
	name := m.name
	class := se.Class()
	code := se.CMS
	if code == 0 {
		code = se.CME
	}
	d.noteFailure(m, se, now)
	d.log.Warn("send failed", "id", it.id, "modem", name, "part", i+1, "class", class, "err", se)

	if se.Ambiguous && !msg.AtLeastOnce {
		_, err := d.st.UpdateMessage(ctx, it.id, func(x *Message) error {
			if i >= len(x.Parts) {
				return ErrNotFound
			}
			p := &x.Parts[i]
			p.State, p.ErrorCode, p.ErrorClass, p.Error, p.UpdatedAt = PartUnknown, code, class, se.Error(), now
			cancelPending(x, now, "not sent: an earlier part's fate is unknown")
			x.Status, x.UpdatedAt = RollUp(x.Parts), now
			return nil
		})
		d.met.unknown.WithLabelValues(name).Inc()
		if err != nil {
			d.log.Error("record unknown", "id", it.id, "err", err)
		}
		if it.newBind && !anySubmitted(msg) {
			// It may have gone out: keep the binding to be safe.
			it.newBind = false
			d.persistSticky(ctx, it, name, now)
		}
		d.drop(it)
		d.emit(Event{Type: EventMessageUnknown, MessageID: it.id, Modem: name, Data: map[string]any{"error_class": class, "error": se.Error()}})
		return
	}
	d.met.failed.WithLabelValues(name, class).Inc()
	attempts := msg.Parts[i].Attempts
	if (se.Temporary || se.Ambiguous) && attempts < d.cfg.MaxAttempts {
		next := now.Add(d.backoff(attempts))
		msg2, err := d.st.UpdateMessage(ctx, it.id, func(x *Message) error {
			if i >= len(x.Parts) {
				return ErrNotFound
			}
			p := &x.Parts[i]
			p.State, p.ErrorCode, p.ErrorClass, p.Error, p.UpdatedAt = PartQueued, code, class, se.Error(), now
			for j := range x.Parts {
				if x.Parts[j].State == PartAssigned {
					x.Parts[j].State = PartQueued
				}
			}
			x.NextAttemptAt = next
			x.Status, x.UpdatedAt = RollUp(x.Parts), now
			return nil
		})
		if err != nil {
			d.log.Error("record retry", "id", it.id, "err", err)
			d.drop(it) // left submitting in the store: unknown after restart
			return
		}
		partial := anySubmitted(msg2)
		if !partial {
			d.undoBind(it, name)
		}
		d.mu.Lock()
		it.parts = int16(countPending(msg2))
		switch {
		case partial || it.explicit:
			it.pinned = name
		case d.bound[it.contact] == name:
			it.pinned = name // sticky: the contact stays on its SIM
		default:
			it.pinned, it.avoid = "", name // prefer another SIM
		}
		d.mu.Unlock()
		d.requeue(it, next)
		return
	}
	msg2, err := d.st.UpdateMessage(ctx, it.id, func(x *Message) error {
		if i >= len(x.Parts) {
			return ErrNotFound
		}
		p := &x.Parts[i]
		p.State, p.ErrorCode, p.ErrorClass, p.Error, p.UpdatedAt = PartFailed, code, class, se.Error(), now
		cancelPending(x, now, "not sent: an earlier part failed")
		x.ErrorCode, x.Error = code, se.Error()
		x.Status, x.UpdatedAt = RollUp(x.Parts), now
		return nil
	})
	if err != nil {
		d.log.Error("record failure", "id", it.id, "err", err)
	}
	if msg2 != nil && !anySubmitted(msg2) {
		d.undoBind(it, name)
	}
	d.drop(it)
	d.emit(Event{Type: EventMessageFailed, MessageID: it.id, Modem: name,
		Data: map[string]any{"error_code": code, "error_class": class, "error": se.Error()}})
}

// noteFailure counts a failure against m and pauses it after
// PauseAfterFailures in a row or a CMS500Burst of +CMS ERROR: 500.
func (d *Dispatcher) noteFailure(m *modemEntry, se *SendError, now time.Time) {
	d.mu.Lock()
	m.counters.Failed++
	m.counters.ConsecutiveFails++
	if se.CMS == 500 {
		m.cms500++
	} else {
		m.cms500 = 0
	}
	var reason string
	switch {
	case m.paused:
	case d.cfg.CMS500Burst > 0 && m.cms500 >= d.cfg.CMS500Burst:
		reason = fmt.Sprintf("%d consecutive +CMS ERROR: 500: possible carrier block", m.cms500)
	case d.cfg.PauseAfterFailures > 0 && m.counters.ConsecutiveFails >= d.cfg.PauseAfterFailures:
		reason = fmt.Sprintf("%d consecutive send failures (last %s): possible carrier block", m.counters.ConsecutiveFails, se.Class())
	}
	var until time.Time
	if reason != "" {
		until = now.Add(d.cfg.PauseFor)
		m.paused, m.pauseReason, m.pausedUntil = true, reason, until
		m.pacer.dirty = true
	}
	d.mu.Unlock()
	if reason != "" {
		d.log.Warn("modem paused", "modem", m.name, "reason", reason, "until", until)
		d.emit(Event{Type: EventModemPaused, Modem: m.name, Data: map[string]any{"reason": reason, "until": until}})
	}
}

// HandleReport matches a status report to the part it reports on by
// (modem, message reference) within Config.ReportWindow and rolls the
// message up. Unmatched reports are stored and counted.
func (d *Dispatcher) HandleReport(ctx context.Context, r StatusReport) error {
	return d.handleReport(ctx, r, true)
}

// handleReport matches r; mayStash lets a report that finds no part (or
// only an older, final part with the same wrapped MR) wait for the record
// of the send it may have overtaken.
func (d *Dispatcher) handleReport(ctx context.Context, r StatusReport, mayStash bool) error {
	now := d.now()
	if r.Received.IsZero() {
		r.Received = now
	}
	id, seq, err := d.st.PartByMR(ctx, r.Modem, r.MR, now.Add(-d.cfg.ReportWindow))
	if errors.Is(err, ErrNotFound) && mayStash && d.stashEarly(r, now) {
		// A report can overtake the commit of its part's +CMGS answer:
		// it is applied when that commit lands, or kept as unmatched
		// after earlyReportGrace.
		return nil
	}
	if errors.Is(err, ErrNotFound) {
		d.met.unmatched.Inc()
		d.log.Info("unmatched status report", "modem", r.Modem, "mr", r.MR, "status", r.Status)
		if err := d.st.SaveUnmatchedReport(ctx, r); err != nil {
			return fmt.Errorf("save unmatched report: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("match report: %w", err)
	}
	var before Status
	var changed PartState
	msg, err := d.st.UpdateMessage(ctx, id, func(x *Message) error {
		before, changed = x.Status, ""
		if seq < 1 || seq > len(x.Parts) {
			return fmt.Errorf("part %d of %s: %w", seq, id, ErrNotFound)
		}
		p := &x.Parts[seq-1]
		if p.State != PartSubmitted {
			return errGone // already final (duplicate report)
		}
		p.ReportStatus, p.UpdatedAt = r.Status, now
		switch {
		case r.Status < 0x20:
			p.State, p.DeliveredAt = PartDelivered, r.Received
		case r.Status < 0x40:
			// temporary: the SMSC keeps trying
		default:
			p.State, p.ErrorClass, p.ErrorCode = PartFailed, "report", r.Status
			p.Error = fmt.Sprintf("status report: TP-ST 0x%02X", r.Status)
			x.ErrorCode, x.Error = r.Status, p.Error
		}
		changed = p.State
		x.Status, x.UpdatedAt = RollUp(x.Parts), now
		return nil
	})
	if errors.Is(err, errGone) {
		// The part is final already: a duplicate report, or one for a
		// newer send with the same (wrapped) MR not yet recorded.
		if mayStash {
			d.stashEarly(r, now)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("record report: %w", err)
	}
	switch changed {
	case PartDelivered:
		d.met.delivered.WithLabelValues(r.Modem).Inc()
		d.mu.Lock()
		if m := d.modems[r.Modem]; m != nil {
			m.counters.Delivered++
		}
		d.mu.Unlock()
	case PartFailed:
		d.met.failed.WithLabelValues(r.Modem, "report").Inc()
	}
	if msg.Status != before {
		switch msg.Status {
		case StatusDelivered:
			d.emit(Event{Type: EventMessageDelivered, MessageID: id, Modem: r.Modem})
		case StatusFailed:
			d.emit(Event{Type: EventMessageFailed, MessageID: id, Modem: r.Modem,
				Data: map[string]any{"error_code": r.Status, "error_class": "report"}})
		}
	}
	return nil
}

// earlyReportGrace is how long a status report that matched no part waits
// for its part's submission to be recorded before it counts as unmatched.
const earlyReportGrace = 10 * time.Second

type earlyReport struct {
	r  StatusReport
	at time.Time
}

// stashEarly keeps r for a while if modem is sending; false if not stashed.
func (d *Dispatcher) stashEarly(r StatusReport, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.modems[r.Modem] == nil || len(d.early) >= 10000 {
		return false
	}
	d.early = append(d.early, earlyReport{r: r, at: now})
	return true
}

// applyEarly re-handles stashed reports for (modem, mr) once that part's
// submission is recorded.
func (d *Dispatcher) applyEarly(ctx context.Context, modem string, mr int) {
	d.mu.Lock()
	var match []StatusReport
	keep := d.early[:0]
	for _, e := range d.early {
		if e.r.Modem == modem && e.r.MR == mr {
			match = append(match, e.r)
		} else {
			keep = append(keep, e)
		}
	}
	d.early = keep
	d.mu.Unlock()
	for _, r := range match {
		if err := d.handleReport(ctx, r, false); err != nil {
			d.log.Error("status report", "modem", modem, "err", err)
		}
	}
}

// flushEarly stores the stashed reports older than earlyReportGrace (all of
// them when all is set) as unmatched.
func (d *Dispatcher) flushEarly(ctx context.Context, now time.Time, all bool) {
	d.mu.Lock()
	var old []StatusReport
	keep := d.early[:0]
	for _, e := range d.early {
		if all || now.Sub(e.at) >= earlyReportGrace {
			old = append(old, e.r)
		} else {
			keep = append(keep, e)
		}
	}
	d.early = keep
	d.mu.Unlock()
	for _, r := range old {
		// One last look: the part may have been recorded meanwhile.
		if _, _, err := d.st.PartByMR(ctx, r.Modem, r.MR, now.Add(-d.cfg.ReportWindow)); err == nil {
			if err := d.handleReport(ctx, r, false); err != nil {
				d.log.Error("status report", "modem", r.Modem, "err", err)
			}
			continue
		}
		d.met.unmatched.Inc()
		d.log.Info("unmatched status report", "modem", r.Modem, "mr", r.MR, "status", r.Status)
		if err := d.st.SaveUnmatchedReport(ctx, r); err != nil {
			d.log.Error("save unmatched report", "modem", r.Modem, "err", err)
		}
	}
}
