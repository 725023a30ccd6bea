package gateway

import (
	"context"
	"slices"
	"time"
)

// After a restart the carrier-block detector would forget a SIM that was
// sliding toward a block. Rather than write its record on every send, it
// rebuilds each SIM's record from the store when the SIM's worker first
// starts: the SIM's last messages (at most rebuildMessages(), newest
// first) and the replies it received since the oldest of them, replayed
// through the same rules. Only what went out after the SIM's last verdict
// counts (BudgetUsage.WatchFrom, saved with the budget at each verdict): a
// window that already paused the SIM is not judged again after it was
// resumed. No verdict is given while rebuilding; the next send, report or
// housekeeping sweep judges the rebuilt record.

// watchStore is what the block watch reads to rebuild its record.
type watchStore interface {
	ListMessages(ctx context.Context, f MessageFilter) (MessagePage, error)
}

// rebuildMessages is how many of a SIM's latest outbound messages a
// rebuild reads: its windows and as much history again, four times over.
func (b *blockWatch) rebuildMessages() int {
	return 4 * (b.cfg.Window + b.cfg.ReplyWindow)
}

// rebuild restores modem's record from the store, once per modem (a
// replaced device keeps the record in memory). Errors are logged: the
// detector then starts afresh for that SIM, as it did before.
func (b *blockWatch) rebuild(ctx context.Context, modem string) {
	if b == nil || b.st == nil || (b.cfg.Window == 0 && b.cfg.ReplyWindow == 0) {
		return
	}
	b.mu.Lock()
	done := b.rebuilt[modem]
	b.rebuilt[modem] = true
	b.mu.Unlock()
	if done {
		return
	}
	var from time.Time
	if b.fleet != nil {
		from = b.fleet.watchFrom(modem)
	}
	out, err := b.list(ctx, MessageFilter{Direction: Outbound, Modem: modem}, b.rebuildMessages())
	if err != nil {
		b.log.Warn("block watch: rebuild from the store", "modem", modem, "err", err)
		return
	}
	slices.Reverse(out) // oldest first
	var in []*Message
	if b.cfg.ReplyWindow > 0 && len(out) > 0 {
		since := out[0].CreatedAt
		if since.Before(from) {
			since = from
		}
		in, err = b.list(ctx, MessageFilter{Direction: Inbound, Modem: modem, Since: since, Ascending: true}, 4*b.rebuildMessages())
		if err != nil {
			b.log.Warn("block watch: rebuild replies from the store", "modem", modem, "err", err)
			return
		}
	}
	now := b.now()
	s := &simWatch{pending: map[int]time.Time{}, replies: replyRecord{awaiting: map[string]time.Time{}}}
	b.replay(s, modem, out, in, from, now)

	b.mu.Lock()
	if cur := b.sims[modem]; cur != nil { // fed while we read: keep that too
		for _, o := range cur.window {
			b.settleLocked(s, o)
		}
		for mr, at := range cur.pending {
			s.pending[mr] = at
		}
		for _, a := range cur.replies.window {
			b.settleReplyLocked(s, a)
		}
		for c, at := range cur.replies.awaiting {
			s.replies.awaiting[c] = at
		}
	}
	b.sims[modem] = s
	b.mu.Unlock()
	b.log.Info("block watch: record rebuilt", "modem", modem, "settled_parts", s.win.n+s.hist.n,
		"pending_reports", len(s.pending), "settled_sends", s.replies.win.n+s.replies.hist.n, "awaiting_replies", len(s.replies.awaiting))
}

// list reads up to limit messages of f, a page at a time.
func (b *blockWatch) list(ctx context.Context, f MessageFilter, limit int) ([]*Message, error) {
	var all []*Message
	for len(all) < limit {
		f.Limit = min(MaxPageLimit, limit-len(all))
		page, err := b.st.ListMessages(ctx, f)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Messages...)
		if page.Next == "" {
			break
		}
		f.Cursor = page.Next
	}
	return all, nil
}

// replay feeds s (not yet shared: no lock needed, but the helpers are the
// locked ones) with modem's outbound messages out (oldest first) and the
// inbound ones in (oldest first), counting only what went out at or after
// from, as the live detector would have seen it by now.
func (b *blockWatch) replay(s *simWatch, modem string, out, in []*Message, from, now time.Time) {
	type send struct {
		contact string
		at      time.Time
	}
	var sends []send
	for _, m := range out {
		for _, p := range m.Parts {
			if p.Modem != modem || p.SubmittedAt.IsZero() || p.SubmittedAt.Before(from) {
				continue
			}
			if p.Seq == 1 && !IsOptOutExempt(m) {
				sends = append(sends, send{m.Contact, p.SubmittedAt})
			}
			if b.cfg.Window == 0 || !m.StatusReport || p.MR < 0 {
				continue
			}
			switch {
			case p.ReportStatus >= 0x40 && p.ReportStatus <= 0x7F:
				b.settleLocked(s, outFailed)
			case p.ReportStatus >= 0:
				b.settleLocked(s, outReported)
			case now.Sub(p.SubmittedAt) >= b.cfg.ReportWait:
				b.settleLocked(s, outMissing)
			default:
				s.pending[p.MR] = p.SubmittedAt
			}
		}
	}
	if b.cfg.ReplyWindow == 0 {
		return
	}
	slices.SortStableFunc(sends, func(x, y send) int { return x.at.Compare(y.at) })
	i := 0
	for _, r := range in {
		for ; i < len(sends) && !sends[i].at.After(r.CreatedAt); i++ {
			b.unansweredLocked(s, sends[i].at)
			if _, ok := s.replies.awaiting[sends[i].contact]; !ok {
				s.replies.awaiting[sends[i].contact] = sends[i].at
			}
		}
		b.unansweredLocked(s, r.CreatedAt)
		if _, ok := s.replies.awaiting[r.Contact]; ok {
			delete(s.replies.awaiting, r.Contact)
			b.settleReplyLocked(s, true)
		}
	}
	for ; i < len(sends); i++ {
		b.unansweredLocked(s, sends[i].at)
		if _, ok := s.replies.awaiting[sends[i].contact]; !ok {
			s.replies.awaiting[sends[i].contact] = sends[i].at
		}
	}
	b.unansweredLocked(s, now)
}
