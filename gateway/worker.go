package gateway

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// errGone: the message no longer needs sending (cancelled, expired,
// already sent); the claim is dropped.
var errGone = errors.New("message no longer pending")

// workerPoll is how often an idle worker looks again without a wake-up.
const workerPoll = 250 * time.Millisecond

// worker sends through one modem. Whenever the modem is usable, not paused
// and its pacer allows, it claims the best message the modem may send
// (Queue.Claim) and sends its parts, one committed transition before each
// step:
//
//	claim → opt-out re-check → texting window → submitting → AT+CMGS →
//	submitted | retry | failed | unknown
//
// Two things keep a fast modem busy: while the last part of a message is on
// the wire it claims its next message (claimAhead), and the last part's
// submitted record is committed while that next message's first part is
// marked submitting, so the two share an fsync (recordLater). Both run on
// goroutines counted in wg; an outcome is recorded even while stopping.
type worker struct {
	m       *modemEntry
	q       Queue
	fleet   *fleet
	pref    *healthPref
	optouts OptOutChecker
	reports *reports
	met     *metrics
	log     *slog.Logger
	now     func() time.Time
	emit    func(Event)
	cfg     Config
	wg      *sync.WaitGroup
}

func (w *worker) run(ctx context.Context) {
	defer w.wg.Done()
	defer close(w.m.done)
	wake := w.q.Wake(w.m.name)
	w.reports.blocks.rebuild(context.WithoutCancel(ctx), w.m.name)
	var next *Claim // claimed while the previous message's last part was on the wire
	defer func() {
		if next != nil {
			w.release(ctx, next, time.Time{})
		}
	}()
	for !w.stopped(ctx) {
		if next == nil {
			w.fleet.poll(w.m)
			ok, wait := w.fleet.ready(w.m, w.now())
			if ok {
				next = w.claim(ctx)
			}
			if next == nil {
				w.sleep(ctx, wake, wait)
				continue
			}
		} else if !w.awaitTurn(ctx) {
			w.release(ctx, next, time.Time{})
			next = nil
			continue
		}
		c := next
		next = w.send(ctx, c)
	}
}

func (w *worker) stopped(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	case <-w.m.stop:
		return true
	default:
		return false
	}
}

// sleep waits for a wake-up, at most wait (workerPoll when 0).
func (w *worker) sleep(ctx context.Context, wake <-chan struct{}, wait time.Duration) {
	if wait <= 0 || wait > workerPoll {
		wait = workerPoll
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-w.m.stop:
	case <-wake:
	case <-t.C:
	}
}

// awaitTurn waits until the modem may start its next send. It returns
// false if the modem stopped being able to send (paused, down, removed,
// shutting down).
func (w *worker) awaitTurn(ctx context.Context) bool {
	for {
		w.fleet.poll(w.m)
		ok, wait := w.fleet.ready(w.m, w.now())
		if ok {
			return true
		}
		if wait == 0 {
			return false
		}
		t := time.NewTimer(min(wait, workerPoll))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-w.m.stop:
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// claim asks the queue for the modem's next message and re-checks the
// suppression list (a STOP may have arrived while the message waited).
// nil: nothing to send now.
func (w *worker) claim(ctx context.Context) *Claim {
	bg := context.WithoutCancel(ctx)
	now := w.now()
	c, err := w.q.Claim(bg, w.pref.claimRequest(w.m, now))
	if err != nil {
		w.log.Error("claim", "modem", w.m.name, "err", err)
		return nil
	}
	if c == nil {
		return nil
	}
	if c.NewContact {
		w.fleet.addNewContact(w.m, now)
	}
	if IsOptOutExempt(c.Message) {
		return c
	}
	out, err := w.optouts.OptedOut(bg, c.Message.Contact)
	if err != nil {
		w.log.Error("opt-out re-check", "id", c.Message.ID, "err", err)
		w.release(ctx, c, now.Add(w.cfg.RetryBase))
		return nil
	}
	if out {
		msg, err := w.q.Fail(bg, c, 0, Failure{Class: "opted_out", Error: ErrOptedOut.Error()})
		if err != nil {
			w.log.Error("record opted out", "id", c.Message.ID, "err", err)
			return nil
		}
		w.emit(Event{Type: EventMessageFailed, MessageID: msg.ID, Data: MessageFailedData{Status: msg.Status, Reason: "opted_out"}})
		return nil
	}
	return c
}

// release gives c back to the queue, not claimable before notBefore.
func (w *worker) release(ctx context.Context, c *Claim, notBefore time.Time) {
	if err := w.q.Release(context.WithoutCancel(ctx), c, notBefore); err != nil && !errors.Is(err, ErrClaimLost) {
		w.log.Error("release", "id", c.Message.ID, "modem", w.m.name, "err", err)
	}
}

// send sends c's assigned parts, pacing between them. It returns the next
// claim if one was taken while the last part was on the wire.
func (w *worker) send(ctx context.Context, c *Claim) *Claim {
	var seqs []int
	for _, p := range c.Message.Parts {
		if p.State == PartAssigned {
			seqs = append(seqs, p.Seq)
		}
	}
	for i, seq := range seqs {
		if i == 0 {
			// The texting window is checked again right before the first
			// PDU is written: the claim may have waited for the pacer.
			if win := c.Message.TextingWindow; win != nil && !win.Open(w.now()) {
				w.release(ctx, c, win.NextOpen(w.now()))
				return nil
			}
		} else if !w.awaitTurn(ctx) {
			// Later parts must leave through the same SIM: wait for it.
			w.release(ctx, c, time.Time{})
			return nil
		}
		next, more := w.sendPart(ctx, c, seq, i == len(seqs)-1)
		if !more {
			return next
		}
	}
	return nil
}

// sendPart submits part seq of c. more reports whether the claim goes on
// (the next part may follow); next is a claim taken while the last part was
// on the wire.
func (w *worker) sendPart(ctx context.Context, c *Claim, seq int, last bool) (next *Claim, more bool) {
	bg := context.WithoutCancel(ctx) // outcomes are recorded even while stopping
	now := w.now()
	if err := w.q.Submitting(bg, c, seq); err != nil {
		if !errors.Is(err, ErrClaimLost) {
			w.log.Error("mark submitting", "id", c.Message.ID, "modem", w.m.name, "err", err)
		}
		return nil, false
	}
	w.fleet.started(w.m, now)
	var ahead <-chan *Claim
	if last && w.fleet.eager(w.m) {
		ahead = w.claimAhead(ctx)
	}

	// The reply signal starts waiting for the contact's answer before the
	// PDU goes out: an answer may arrive before +CMGS is recorded.
	awaits := seq == 1 && !IsOptOutExempt(c.Message)
	if awaits {
		w.reports.blocks.sentTo(w.m.name, c.Message.Contact, now)
	}
	mr, err := w.write(bg, c.Message.Parts[seq-1].PDU)
	end := w.now()
	w.fleet.done(w.m, end)
	if se := (*SendError)(nil); awaits && errors.As(err, &se) && !se.Ambiguous {
		w.reports.blocks.notSent(w.m.name, c.Message.Contact, now) // it never went out
	}

	if err == nil {
		if last {
			w.recordLater(func() { w.submitted(bg, c, seq, mr, end) })
			return takeAhead(ahead), false
		}
		return nil, w.submitted(bg, c, seq, mr, end)
	}
	var se *SendError
	if !errors.As(err, &se) {
		// Not the Device contract: we cannot know whether it went out.
		se = &SendError{Ambiguous: true, Err: err}
	}
	w.failed(bg, c, seq, se, end)
	return takeAhead(ahead), false
}

// write hands the PDU to the modem (AT+CMGS), bounded by Config.SendTimeout.
func (w *worker) write(ctx context.Context, pdu []byte) (int, error) {
	sctx, cancel := context.WithTimeout(ctx, w.cfg.SendTimeout)
	defer cancel()
	start := time.Now()
	mr, err := w.m.dev.SendPDU(sctx, pdu)
	w.met.sendDuration.WithLabelValues(w.m.name).Observe(time.Since(start).Seconds())
	return mr, err
}

// claimAhead claims the modem's next message on a goroutine.
func (w *worker) claimAhead(ctx context.Context) <-chan *Claim {
	ch := make(chan *Claim, 1)
	if ctx.Err() != nil || !w.fleet.sendable(w.m) {
		ch <- nil
		return ch
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		ch <- w.claim(ctx)
	}()
	return ch
}

// takeAhead waits for claimAhead's claim (nil when none was started).
func takeAhead(ch <-chan *Claim) *Claim {
	if ch == nil {
		return nil
	}
	return <-ch
}

// recordLater runs record on a goroutine counted in wg.
func (w *worker) recordLater(record func()) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		record()
	}()
}

// submitted records +CMGS success for part seq; false ends the claim.
func (w *worker) submitted(ctx context.Context, c *Claim, seq, mr int, at time.Time) bool {
	msg, err := w.q.Submitted(ctx, c, seq, mr, at)
	w.fleet.noteSent(w.m)
	w.reports.blocks.sent(w.m.name, mr, at, c.Message.StatusReport)
	w.met.sent.WithLabelValues(w.m.name).Inc()
	if err != nil {
		// The part went out but could not be recorded: it stays
		// submitting in the store (unknown after a restart), never resent.
		w.log.Error("record submitted", "id", c.Message.ID, "modem", w.m.name, "err", err)
		return false
	}
	w.reports.applyEarly(ctx, w.m.name, mr)
	if msg.Status == StatusSent {
		w.emit(Event{Type: EventMessageSent, MessageID: msg.ID, Modem: w.m.name, Data: MessageSentData{Segments: msg.Segments}})
	}
	return true
}

// failed records a failed send of part seq and decides: unknown, retry or fail.
func (w *worker) failed(ctx context.Context, c *Claim, seq int, se *SendError, now time.Time) {
	name, id := w.m.name, c.Message.ID
	f := failureOf(se)
	w.fleet.noteFailure(w.m, se, now)
	w.log.Warn("send failed", "id", id, "modem", name, "part", seq, "class", f.Class, "err", se)

	if se.Ambiguous && !c.Message.AtLeastOnce {
		w.met.unknown.WithLabelValues(name).Inc()
		if _, err := w.q.Unknown(ctx, c, seq, f); err != nil {
			w.log.Error("record unknown", "id", id, "err", err)
		}
		w.emit(Event{Type: EventMessageUnknown, MessageID: id, Modem: name, Data: MessageUnknownData{ErrorClass: f.Class, Error: f.Error}})
		return
	}
	w.met.failed.WithLabelValues(name, f.Class).Inc()
	attempts := c.Message.Parts[seq-1].Attempts
	if (se.Temporary || se.Ambiguous) && attempts < w.cfg.MaxAttempts {
		if _, err := w.q.Retry(ctx, c, seq, f, now.Add(Backoff{Base: w.cfg.RetryBase, Max: w.cfg.RetryMax}.Delay(attempts)), true); err != nil {
			w.log.Error("record retry", "id", id, "err", err)
		}
		return
	}
	if _, err := w.q.Fail(ctx, c, seq, f); err != nil {
		w.log.Error("record failure", "id", id, "err", err)
	}
	w.emit(Event{Type: EventMessageFailed, MessageID: id, Modem: name,
		Data: MessageFailedData{ErrorCode: f.Code, ErrorClass: f.Class, Error: f.Error}})
}

// failureOf is the Failure recorded for a SendError.
func failureOf(se *SendError) Failure {
	code := se.CMS
	if code == 0 {
		code = se.CME
	}
	return Failure{Code: code, Class: se.Class(), Error: se.Error()}
}
