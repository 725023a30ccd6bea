package gateway

import (
	"context"
	"slices"
	"strings"
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

// rebuild restores the record of the SIM in modem from the store, once per
// watch key (a replaced device keeps the record in memory). The SIM's
// messages are those its modems sent and received while it was in them
// (owners), so a SIM moved to another modem finds its history there and a
// new SIM in its old modem none of it. Errors are logged: the detector
// then starts afresh for that SIM, as it did before.
func (b *blockWatch) rebuild(ctx context.Context, modem string) {
	if b == nil || b.st == nil || (b.cfg.Window == 0 && b.cfg.ReplyWindow == 0) {
		return
	}
	key := b.keyOf(modem)
	b.mu.Lock()
	done := b.rebuilt[key]
	b.rebuilt[key] = true
	b.mu.Unlock()
	if done {
		return
	}
	var from time.Time
	var own owners
	if b.fleet != nil {
		from = b.fleet.watchFrom(modem)
		own = ownersOf(b.fleet.simList())
	}
	stays := own.stays(key)
	limit := b.rebuildMessages()
	var out []*Message
	for _, st := range stays {
		ms, err := b.list(ctx, MessageFilter{Direction: Outbound, Modem: st.modem, Until: st.until}, limit)
		if err != nil {
			b.log.Warn("block watch: rebuild from the store", "modem", modem, "err", err)
			return
		}
		out = append(out, ms...)
	}
	if len(stays) > 1 { // the newest limit of them all
		slices.SortStableFunc(out, func(x, y *Message) int { return y.CreatedAt.Compare(x.CreatedAt) })
		out = out[:min(len(out), limit)]
	}
	slices.Reverse(out) // oldest first
	var in []*Message
	if b.cfg.ReplyWindow > 0 && len(out) > 0 {
		since := out[0].CreatedAt
		if since.Before(from) {
			since = from
		}
		for _, st := range stays {
			ms, err := b.list(ctx, MessageFilter{Direction: Inbound, Modem: st.modem, Since: since, Until: st.until, Ascending: true}, 4*limit)
			if err != nil {
				b.log.Warn("block watch: rebuild replies from the store", "modem", modem, "err", err)
				return
			}
			in = append(in, ms...)
		}
		slices.SortStableFunc(in, func(x, y *Message) int { return x.CreatedAt.Compare(y.CreatedAt) })
	}
	now := b.now()
	s := newSIMWatch()
	b.replay(s, modem, func(m string, at time.Time) bool { return own.of(m, at) == key }, out, in, from, now)

	b.mu.Lock()
	if cur := b.sims[key]; cur != nil { // fed while we read: keep that too
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
	b.sims[key] = s
	b.mu.Unlock()
	b.log.Info("block watch: record rebuilt", "modem", modem, "modems_read", len(stays), "settled_parts", s.win.n+s.hist.n,
		"pending_reports", len(s.pending), "settled_sends", s.replies.win.n+s.replies.hist.n, "awaiting_replies", len(s.replies.awaiting))
}

// owners is which SIM was in each modem when, from the SIM inventory:
// modem -> the SIMs put into it, oldest first. A SIM is put into a modem
// when first seen (in its first modem), at each of its moves, and when last
// put into its last modem (SIM.InsertedAt: back into the same modem is no
// move). A nil owners (no fleet) knows no SIM.
type owners map[string][]arrival

type arrival struct {
	at  time.Time
	sim string
}

func ownersOf(sims []SIM) owners {
	o := owners{}
	add := func(modem, sim string, at time.Time) {
		if modem != "" && !at.IsZero() {
			o[modem] = append(o[modem], arrival{at, sim})
		}
	}
	for _, s := range sims {
		first := s.LastModem
		if len(s.Moves) > 0 {
			first = s.Moves[0].From
		}
		add(first, s.ID, s.FirstSeen)
		for _, mv := range s.Moves {
			add(mv.To, s.ID, mv.At)
		}
		add(s.LastModem, s.ID, s.InsertedAt)
	}
	for _, as := range o {
		slices.SortStableFunc(as, func(x, y arrival) int { return x.at.Compare(y.at) })
	}
	return o
}

// of is the watch key of what modem sent or received at at: the SIM last
// put into it by then (before the first one, that one: it took over the
// modem's history, as its budget), or the modem itself when no SIM was
// ever seen in it.
func (o owners) of(modem string, at time.Time) string {
	as := o[modem]
	if len(as) == 0 {
		return modem
	}
	i, _ := slices.BinarySearchFunc(as, at, func(a arrival, t time.Time) int {
		if a.at.After(t) {
			return 1
		}
		return -1
	})
	if i == 0 {
		return as[0].sim
	}
	return as[i-1].sim
}

// stay is a modem whose messages may be a watch key's: those created
// before until (zero: all), filtered by of.
type stay struct {
	modem string
	until time.Time
}

// stays lists the modems key's messages are in, by name: every modem key
// was put into, up to the next SIM put into it after key's last stay; a
// modem no SIM was seen in is its own.
func (o owners) stays(key string) []stay {
	var out []stay
	for modem, as := range o {
		j := -1
		for i, a := range as {
			if a.sim == key {
				j = i
			}
		}
		if j < 0 {
			continue
		}
		st := stay{modem: modem}
		if j+1 < len(as) {
			st.until = as[j+1].at
		}
		out = append(out, st)
	}
	if len(out) == 0 && len(o[key]) == 0 {
		out = append(out, stay{modem: key})
	}
	slices.SortFunc(out, func(x, y stay) int { return strings.Compare(x.modem, y.modem) })
	return out
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
// locked ones) with the outbound messages out (oldest first) and the
// inbound ones in (oldest first), counting only the parts sent and the
// messages received through a modem while owns says the SIM was in it,
// and only what went out at or after from, as the live detector would
// have seen it by now. A part still awaiting its report waits only if it
// went out through modem, where the SIM is now (as arrived drops them).
func (b *blockWatch) replay(s *simWatch, modem string, owns func(modem string, at time.Time) bool, out, in []*Message, from, now time.Time) {
	type send struct {
		contact string
		at      time.Time
	}
	var sends []send
	for _, m := range out {
		for _, p := range m.Parts {
			if p.SubmittedAt.IsZero() || p.SubmittedAt.Before(from) || !owns(p.Modem, p.SubmittedAt) {
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
			case p.Modem == modem:
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
		if !owns(r.Modem, r.CreatedAt) {
			continue
		}
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
