package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// reportStore is what the report matcher needs of the store.
type reportStore interface {
	PartByMR(ctx context.Context, modem string, mr int, since time.Time) (id string, seq int, err error)
	UpdateMessage(ctx context.Context, id string, fn func(*Message) error) (*Message, error)
	SaveUnmatchedReport(ctx context.Context, r StatusReport) error
	ListMessages(ctx context.Context, f MessageFilter) (MessagePage, error)
}

// reports matches status reports to the parts they report on, by (modem,
// message reference) within Config.ReportWindow, and rolls the message up.
// A report that finds no part may have overtaken the commit of its part's
// +CMGS answer: it waits (at most earlyReportGrace) for Submitted to call
// applyEarly; after that it is stored as unmatched.
//
// Concurrency: safe for concurrent use; mu guards the early reports only.
type reports struct {
	st     reportStore
	fleet  *fleet
	met    *metrics
	log    *slog.Logger
	now    func() time.Time
	emit   func(Event)
	window time.Duration
	blocks *blockWatch // fed each matched report

	mu    sync.Mutex
	early []earlyReport // status reports that overtook their part's record
}

// earlyReportGrace is how long a status report that matched no part waits
// for its part's submission to be recorded before it counts as unmatched.
const earlyReportGrace = 10 * time.Second

type earlyReport struct {
	r  StatusReport
	at time.Time
}

// handle matches r; mayStash lets a report that finds no part (or only an
// older, final part with the same wrapped MR) wait for the record of the
// send it may have overtaken.
func (rp *reports) handle(ctx context.Context, r StatusReport, mayStash bool) error {
	now := rp.now()
	if r.Received.IsZero() {
		r.Received = now
	}
	id, seq, err := rp.st.PartByMR(ctx, r.Modem, r.MR, now.Add(-rp.window))
	if errors.Is(err, ErrNotFound) && mayStash && rp.stash(r, now) {
		return nil
	}
	if errors.Is(err, ErrNotFound) {
		return rp.unmatched(ctx, r)
	}
	if err != nil {
		return fmt.Errorf("match report: %w", err)
	}
	var before Status
	var changed PartState
	msg, err := rp.st.UpdateMessage(ctx, id, func(x *Message) error {
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
			rp.stash(r, now)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("record report: %w", err)
	}
	rp.blocks.reported(r.Modem, r.MR, r.Status)
	switch changed {
	case PartDelivered:
		rp.met.delivered.WithLabelValues(r.Modem).Inc()
		rp.fleet.noteDelivered(r.Modem)
	case PartFailed:
		rp.met.failed.WithLabelValues(r.Modem, "report").Inc()
	}
	if msg.Status != before {
		switch msg.Status {
		case StatusDelivered:
			rp.emit(Event{Type: EventMessageDelivered, MessageID: id, Modem: r.Modem})
		case StatusFailed:
			rp.emit(Event{Type: EventMessageFailed, MessageID: id, Modem: r.Modem,
				Data: MessageFailedData{ErrorCode: r.Status, ErrorClass: "report"}})
		}
	}
	return nil
}

func (rp *reports) unmatched(ctx context.Context, r StatusReport) error {
	rp.met.unmatched.Inc()
	rp.log.Info("unmatched status report", "modem", r.Modem, "mr", r.MR, "status", r.Status)
	if err := rp.st.SaveUnmatchedReport(ctx, r); err != nil {
		return fmt.Errorf("save unmatched report: %w", err)
	}
	return nil
}

// stash keeps r for a while if its modem is in the fleet; false if not.
func (rp *reports) stash(r StatusReport, now time.Time) bool {
	if !rp.fleet.IsModem(r.Modem) {
		return false
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.early) >= 10000 {
		return false
	}
	rp.early = append(rp.early, earlyReport{r: r, at: now})
	return true
}

// applyEarly re-handles stashed reports for (modem, mr) once that part's
// submission is recorded.
func (rp *reports) applyEarly(ctx context.Context, modem string, mr int) {
	rp.mu.Lock()
	var match []StatusReport
	keep := rp.early[:0]
	for _, e := range rp.early {
		if e.r.Modem == modem && e.r.MR == mr {
			match = append(match, e.r)
		} else {
			keep = append(keep, e)
		}
	}
	rp.early = keep
	rp.mu.Unlock()
	for _, r := range match {
		if err := rp.handle(ctx, r, false); err != nil {
			rp.log.Error("status report", "modem", modem, "err", err)
		}
	}
}

// flushEarly stores the stashed reports older than earlyReportGrace (all of
// them when all is set) as unmatched.
func (rp *reports) flushEarly(ctx context.Context, now time.Time, all bool) {
	rp.mu.Lock()
	var old []StatusReport
	keep := rp.early[:0]
	for _, e := range rp.early {
		if all || now.Sub(e.at) >= earlyReportGrace {
			old = append(old, e.r)
		} else {
			keep = append(keep, e)
		}
	}
	rp.early = keep
	rp.mu.Unlock()
	for _, r := range old {
		// One last look: the part may have been recorded meanwhile.
		if _, _, err := rp.st.PartByMR(ctx, r.Modem, r.MR, now.Add(-rp.window)); err == nil {
			if err := rp.handle(ctx, r, false); err != nil {
				rp.log.Error("status report", "modem", r.Modem, "err", err)
			}
			continue
		}
		if err := rp.unmatched(ctx, r); err != nil {
			rp.log.Error("save unmatched report", "modem", r.Modem, "err", err)
		}
	}
}

// settleEvery is how often the matcher looks for parts whose report window
// has ended.
const settleEvery = time.Minute

// settle gives the parts whose report never came within the report window
// their final state, unconfirmed, and returns how many messages it changed.
// It reads the sent messages created before the window (the only ones that
// can have such parts) oldest first, a page at a time.
func (rp *reports) settle(ctx context.Context, now time.Time) (int, error) {
	cut := now.Add(-rp.window)
	f := MessageFilter{Direction: Outbound, Status: StatusSent, Until: cut, Ascending: true, Limit: 200}
	changed := 0
	for {
		page, err := rp.st.ListMessages(ctx, f)
		if err != nil {
			return changed, fmt.Errorf("settle reports: %w", err)
		}
		for _, m := range page.Messages {
			if !overdue(m, cut) {
				continue
			}
			msg, err := rp.st.UpdateMessage(ctx, m.ID, func(x *Message) error {
				if !overdue(x, cut) {
					return errGone
				}
				for i := range x.Parts {
					if p := &x.Parts[i]; p.State == PartSubmitted && !p.SubmittedAt.After(cut) {
						p.State, p.UpdatedAt = PartUnconfirmed, now
						p.ErrorClass = "no_report"
						p.Error = fmt.Sprintf("no status report within %s", rp.window)
					}
				}
				x.Status, x.UpdatedAt = RollUp(x.Parts), now
				return nil
			})
			switch {
			case errors.Is(err, errGone) || errors.Is(err, ErrNotFound):
				continue
			case err != nil:
				return changed, fmt.Errorf("settle reports %s: %w", m.ID, err)
			}
			changed++
			rp.met.unconfirmed.WithLabelValues(msg.Modem).Inc()
			if msg.Status == StatusUnconfirmed {
				rp.emit(Event{Type: EventMessageUnconfirmed, MessageID: msg.ID, Modem: msg.Modem})
			}
		}
		if page.Next == "" {
			return changed, nil
		}
		f.Cursor = page.Next
	}
}

// overdue reports whether m asked for reports and has a submitted part
// whose report window ended at cut.
func overdue(m *Message, cut time.Time) bool {
	if !m.StatusReport {
		return false
	}
	for _, p := range m.Parts {
		if p.State == PartSubmitted && !p.SubmittedAt.IsZero() && !p.SubmittedAt.After(cut) {
			return true
		}
	}
	return false
}
