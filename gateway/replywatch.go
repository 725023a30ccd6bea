package gateway

import (
	"fmt"
	"time"
)

// The reply signal of the carrier-block detector: "replies stop arriving
// while other SIMs get theirs". A blocked SIM's sends still get +CMGS (and
// sometimes even reports), but its recipients never see them, so nobody
// answers. Each send to a contact waits ReplyWait for that contact's SMS on
// the same SIM; it settles as answered when one comes, as unanswered when
// the wait ends. A contact texted again while a send waits keeps the one
// wait (a two-message exchange expects one answer). Opt-out confirmations
// and START/HELP answers are not counted: nobody answers them.

// replyRecord is one SIM's reply signal. Guarded by blockWatch.mu.
type replyRecord struct {
	awaiting map[string]time.Time // contact -> first unanswered send
	window   []bool               // the last settled sends, oldest first: answered?
	win      replyTally           // counts of window
	hist     replyTally           // sends that left the window (its history)
}

// replyTally counts settled sends.
type replyTally struct{ n, answered int }

func (t *replyTally) add(answered bool, sign int) {
	t.n += sign
	if answered {
		t.answered += sign
	}
}

func (t replyTally) ratio() float64 { return ratioOf(t.answered, t.n) }

// reset empties the window after a verdict; the sends still waiting keep
// waiting (their answers may yet come).
func (r *replyRecord) reset() { r.window, r.win = nil, replyTally{} }

// settleReplyLocked adds a settled send to s's reply window; the oldest
// leaves it for the history.
func (b *blockWatch) settleReplyLocked(s *simWatch, answered bool) {
	r := &s.replies
	slide(&r.window, &r.win, &r.hist, answered, b.cfg.ReplyWindow)
}

// unansweredLocked settles as unanswered every send of s that waited
// ReplyWait.
func (b *blockWatch) unansweredLocked(s *simWatch, now time.Time) {
	if b.cfg.ReplyWindow == 0 {
		return
	}
	for c, at := range s.replies.awaiting {
		if now.Sub(at) >= b.cfg.ReplyWait {
			delete(s.replies.awaiting, c)
			b.settleReplyLocked(s, false)
		}
	}
}

// sentTo records that modem sends a message to contact at at (its first
// part goes out). The worker calls it for every message but opt-out
// answers, before the PDU is written.
func (b *blockWatch) sentTo(modem, contact string, at time.Time) {
	if b == nil || b.cfg.ReplyWindow == 0 || contact == "" {
		return
	}
	key := b.keyOf(modem)
	b.mu.Lock()
	s := b.simLocked(key)
	b.unansweredLocked(s, b.now())
	if _, ok := s.replies.awaiting[contact]; !ok {
		s.replies.awaiting[contact] = at
	}
	v, ok := b.judgeLocked(key, modem, s)
	b.mu.Unlock()
	if ok {
		b.act(modem, v)
	}
}

// notSent takes back sentTo(modem, contact, at) when the send failed
// before it went out.
func (b *blockWatch) notSent(modem, contact string, at time.Time) {
	if b == nil || b.cfg.ReplyWindow == 0 {
		return
	}
	key := b.keyOf(modem)
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.sims[key]; s != nil && s.replies.awaiting[contact].Equal(at) {
		delete(s.replies.awaiting, contact)
	}
}

// replied records an SMS from contact stored from modem.
func (b *blockWatch) replied(modem, contact string) {
	if b == nil || b.cfg.ReplyWindow == 0 {
		return
	}
	key := b.keyOf(modem)
	b.mu.Lock()
	s := b.simLocked(key)
	b.unansweredLocked(s, b.now())
	if _, ok := s.replies.awaiting[contact]; ok {
		delete(s.replies.awaiting, contact)
		b.settleReplyLocked(s, true)
	}
	v, ok := b.judgeLocked(key, modem, s)
	b.mu.Unlock()
	if ok {
		b.act(modem, v)
	}
}

// replyPoolLocked is the reply windows of the SIMs but key's together.
func (b *blockWatch) replyPoolLocked(key string) replyTally {
	var pool replyTally
	for k, o := range b.sims {
		if k != key {
			pool.n += o.replies.win.n
			pool.answered += o.replies.win.answered
		}
	}
	return pool
}

// judgeRepliesLocked applies the reply rule to s (see judgeLocked); on a
// verdict it empties s's reply window.
func (b *blockWatch) judgeRepliesLocked(key, modem string, s *simWatch) (BlockSuspectedData, bool) {
	w := b.cfg.ReplyWindow
	if w == 0 {
		return BlockSuspectedData{}, false
	}
	r := &s.replies
	if b.met != nil && r.win.n > 0 {
		b.met.replyRatio.WithLabelValues(modem).Set(r.win.ratio())
	}
	if len(r.window) < w {
		return BlockSuspectedData{}, false
	}
	pool := b.replyPoolLocked(key)
	if pool.n < w {
		return BlockSuspectedData{}, false
	}
	base, rate := pool.ratio(), r.win.ratio()
	if base*float64(w) < b.cfg.MinExpectedReplies || rate >= b.cfg.MinReplyShare*base {
		return BlockSuspectedData{}, false
	}
	v := BlockSuspectedData{
		Signal: "replies_stopped", Window: w, Replied: r.win.answered, ReplyRatio: rate,
		Baseline: "pool", BaselineRatio: base, HistorySettled: r.hist.n, PoolSettledParts: pool.n,
	}
	if r.hist.n >= w {
		h := r.hist.ratio()
		if rate >= b.cfg.MinReplyShare*h {
			return BlockSuspectedData{}, false // it always got few replies
		}
		v.HistoryReplyRatio = &h
	}
	v.Reason = fmt.Sprintf(RepliesStoppedReason+": %d of last %d sends got a reply while the pool got %.0f%%",
		v.Replied, w, 100*base)
	r.reset()
	return v, true
}

// replyRatio is the reply rate of the SIM in modem relative to the pool's
// (capped at 1), known once its window holds half of ReplyWindow sends and
// the pool's rate promises MinExpectedReplies in a window.
func (b *blockWatch) replyRatio(modem string) (float64, bool) {
	if b == nil || b.cfg.ReplyWindow == 0 {
		return 0, false
	}
	key := b.keyOf(modem)
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sims[key]
	if s == nil || 2*s.replies.win.n < b.cfg.ReplyWindow {
		return 0, false
	}
	pool := b.replyPoolLocked(key)
	base := pool.ratio()
	if pool.n < b.cfg.ReplyWindow || base*float64(b.cfg.ReplyWindow) < b.cfg.MinExpectedReplies {
		return 0, false
	}
	return min(1, s.replies.win.ratio()/base), true
}
