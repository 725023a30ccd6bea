package gateway

import (
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
