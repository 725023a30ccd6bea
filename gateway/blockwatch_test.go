package gateway

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// bwClock is a settable clock for the detector's rules.
type bwClock struct{ t time.Time }

func (c *bwClock) now() time.Time { return c.t }

func newTestWatch(c *bwClock) *blockWatch {
	cfg := DefaultBlockWatch()
	cfg.Window = 5
	return newBlockWatch(cfg, nil, nil, slog.New(slog.DiscardHandler), c.now, func(Event) {})
}

// feed sends n parts on modem; report says whether (and with which TP-ST)
// each comes back; -1 = never. It returns the verdicts seen.
func feed(b *blockWatch, c *bwClock, modem string, n, st int) []BlockSuspectedData {
	var out []BlockSuspectedData
	for i := range n {
		mr := i % 256
		b.mu.Lock()
		s := b.simLocked(modem)
		b.overdueLocked(s, c.t)
		s.pending[mr] = c.t
		if st >= 0 {
			delete(s.pending, mr)
			o := outReported
			if st >= 0x40 && st <= 0x7F {
				o = outFailed
			}
			b.settleLocked(s, o)
		}
		if v, ok := b.judgeLocked(modem, s); ok {
			out = append(out, v)
		}
		b.mu.Unlock()
		c.t = c.t.Add(b.cfg.ReportWait / 4)
	}
	return out
}

// TestBlockWatchRules: the baselines decide. A SIM alone with good history
// is caught when its reports stop; a pool where no SIM gets reports (a
// carrier without reports, TP-SRR ignored) pauses nobody; a temporary
// TP-ST is a report; the window is judged afresh after a verdict.
func TestBlockWatchRules(t *testing.T) {
	c := &bwClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}

	b := newTestWatch(c)
	if v := feed(b, c, "sim1", 10, 0); len(v) != 0 {
		t.Fatalf("healthy SIM suspected: %+v", v)
	}
	v := feed(b, c, "sim1", 20, -1)
	if len(v) == 0 || v[0].Baseline != "history" || v[0].Signal != "reports_missing" {
		t.Fatalf("history baseline: %+v", v)
	}

	b = newTestWatch(c)
	for _, m := range []string{"sim1", "sim2", "sim3"} {
		if v := feed(b, c, m, 30, -1); len(v) != 0 {
			t.Fatalf("%s suspected in a pool without reports: %+v", m, v)
		}
	}

	b = newTestWatch(c)
	feed(b, c, "sim2", 10, 0)
	if v := feed(b, c, "sim1", 10, 0x21); len(v) != 0 {
		t.Fatalf("temporary TP-ST counted against the SIM: %+v", v)
	}
	v = feed(b, c, "sim1", 3, 0x41) // 3 of the last 5 failed: 60% >= 50%
	if len(v) != 1 || v[0].Signal != "reports_failed" || v[0].Baseline != "pool" || v[0].Failed != 3 {
		t.Fatalf("failed reports: %+v", v)
	}
	if v := feed(b, c, "sim1", 4, 0x41); len(v) != 0 {
		t.Fatalf("judged before a fresh window filled: %+v", v)
	}
	if v := feed(b, c, "sim1", 1, 0x41); len(v) != 1 {
		t.Fatalf("fresh window not judged: %+v", v)
	}
	// The pool failing as much (a bad list, not a block) pauses nobody.
	b = newTestWatch(c)
	feed(b, c, "sim2", 10, 0x41)
	if v := feed(b, c, "sim1", 10, 0x41); len(v) != 0 {
		t.Fatalf("suspected while the pool fails alike: %+v", v)
	}
}

// TestBlockWatchConfigValidate names the wrong field.
func TestBlockWatchConfigValidate(t *testing.T) {
	if err := DefaultBlockWatch().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (BlockWatchConfig{}).Validate(); err != nil {
		t.Fatalf("off: %v", err)
	}
	c := DefaultBlockWatch()
	c.BaselineReportRatio = 0.1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "baseline_report_ratio") {
		t.Fatalf("err %v", err)
	}
}

// sendReplies sends n messages from modem to fresh contacts; every k-th
// is answered (k 0: none), the others wait out ReplyWait. It returns the
// verdicts seen.
func sendReplies(b *blockWatch, c *bwClock, modem string, n, k int) []BlockSuspectedData {
	var out []BlockSuspectedData
	for i := range n {
		contact := fmt.Sprintf("+1202555%04d", i)
		b.mu.Lock()
		s := b.simLocked(modem)
		b.unansweredLocked(s, c.t)
		s.replies.awaiting[modem+contact] = c.t
		if k > 0 && i%k == 0 {
			delete(s.replies.awaiting, modem+contact)
			b.settleReplyLocked(s, true)
		}
		if v, ok := b.judgeLocked(modem, s); ok {
			out = append(out, v)
		}
		b.mu.Unlock()
		c.t = c.t.Add(b.cfg.ReplyWait / 4)
	}
	// The waits end (as the housekeeping sweep would settle them, but for
	// this SIM only: a sweep judges every SIM and the verdict would be lost).
	c.t = c.t.Add(b.cfg.ReplyWait)
	b.mu.Lock()
	s := b.simLocked(modem)
	b.unansweredLocked(s, c.t)
	if v, ok := b.judgeLocked(modem, s); ok {
		out = append(out, v)
	}
	b.mu.Unlock()
	return out
}

// TestBlockWatchReplyRules: a SIM whose replies stop while the pool's
// hold is caught, naming the pool's rate; a pool that gets too few
// replies to tell (a campaign nobody answers) pauses nobody; nor does a
// SIM whose own history always had few replies; a lone SIM is never
// judged on replies.
func TestBlockWatchReplyRules(t *testing.T) {
	c := &bwClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	watch := func() *blockWatch {
		cfg := DefaultBlockWatch()
		cfg.Window = 0
		cfg.ReplyWindow, cfg.MinExpectedReplies = 10, 3
		return newBlockWatch(cfg, nil, nil, slog.New(slog.DiscardHandler), c.now, func(Event) {})
	}

	b := watch()
	if v := sendReplies(b, c, "sim1", 20, 2); len(v) != 0 { // its history: 50%
		t.Fatalf("lone SIM judged on replies: %+v", v)
	}
	if v := sendReplies(b, c, "sim1", 10, 0); len(v) != 0 {
		t.Fatalf("lone SIM judged on replies: %+v", v)
	}
	sendReplies(b, c, "sim2", 10, 2)      // the pool: 50%
	v := sendReplies(b, c, "sim1", 10, 0) // its window was silent already: judged at once, then again
	if len(v) == 0 || v[0].Signal != "replies_stopped" || v[0].Baseline != "pool" || v[0].BaselineRatio != 0.5 ||
		v[0].Replied != 0 || v[0].HistoryReplyRatio == nil || !strings.HasPrefix(v[0].Reason, RepliesStoppedReason) {
		t.Fatalf("replies stopped: %+v", v)
	}
	if v := sendReplies(b, c, "sim1", 9, 0); len(v) != 0 {
		t.Fatalf("judged before a fresh window filled: %+v", v)
	}

	b = watch()
	sendReplies(b, c, "sim2", 10, 5) // 20%: 2 replies expected in 10 < 3
	if v := sendReplies(b, c, "sim1", 20, 0); len(v) != 0 {
		t.Fatalf("suspected on too few expected replies: %+v", v)
	}

	b = watch()
	sendReplies(b, c, "sim1", 20, 0) // its history: no replies either
	sendReplies(b, c, "sim2", 10, 2)
	if v := sendReplies(b, c, "sim1", 10, 0); len(v) != 0 {
		t.Fatalf("suspected though its history was as quiet: %+v", v)
	}
	if v := sendReplies(b, c, "sim3", 10, 3); len(v) != 0 { // 40% of a 50% pool: fine
		t.Fatalf("a SIM answered at 4/5 of the pool suspected: %+v", v)
	}
}
