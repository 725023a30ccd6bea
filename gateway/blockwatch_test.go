package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
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
		if v, ok := b.judgeLocked(modem, modem, s); ok {
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
		if v, ok := b.judgeLocked(modem, modem, s); ok {
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
	if v, ok := b.judgeLocked(modem, modem, s); ok {
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

// listStore serves fixed messages to a rebuild (filtering as the stores do).
type listStore []*Message

func (l listStore) ListMessages(_ context.Context, f MessageFilter) (MessagePage, error) {
	var out []*Message
	for _, m := range l {
		if m.Direction == f.Direction && m.Modem == f.Modem && !m.CreatedAt.Before(f.Since) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(x, y *Message) int { return x.CreatedAt.Compare(y.CreatedAt) })
	if !f.Ascending {
		slices.Reverse(out)
	}
	return MessagePage{Messages: out}, nil
}

// TestBlockWatchRebuild: the record rebuilt from the store counts each
// part's report as it was stored (came, failed, missing once overdue,
// pending otherwise) and each send's reply within ReplyWait; opt-out
// answers and what went out before WatchFrom are left out.
func TestBlockWatchRebuild(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	now := t0.Add(2 * time.Hour)
	cfg := DefaultBlockWatch()
	cfg.Window, cfg.ReplyWindow = 5, 5
	out := func(contact string, at time.Time, mr, st int) *Message {
		return &Message{Direction: Outbound, Modem: "a", Contact: contact, CreatedAt: at, StatusReport: true,
			Parts: []Part{{Seq: 1, Modem: "a", MR: mr, ReportStatus: st, SubmittedAt: at}}}
	}
	in := func(contact string, at time.Time) *Message {
		return &Message{Direction: Inbound, Modem: "a", Contact: contact, CreatedAt: at}
	}
	var msgs listStore
	for i := range 8 { // 4 reported, 2 failed, 2 missing; replies from the first 3
		st := []int{0, 0, 0x20, 0, 0x41, 0x41, -1, -1}[i]
		at := t0.Add(time.Duration(i) * time.Minute)
		c := fmt.Sprintf("+1202555%04d", i)
		msgs = append(msgs, out(c, at, i, st))
		if i < 3 {
			msgs = append(msgs, in(c, at.Add(10*time.Minute)))
		}
	}
	msgs = append(msgs, in("+12025550007", t0.Add(7*time.Minute+31*time.Minute))) // too late
	stop := out("+12025550099", t0.Add(20*time.Minute), 20, 0)
	stop.OptOutReply = true
	msgs = append(msgs, stop)
	msgs = append(msgs, out("+12025550050", now.Add(-time.Minute), 21, -1)) // pending report, awaiting a reply
	old := out("+12025550098", t0.Add(-time.Hour), 22, 0x41)                // before WatchFrom
	old.CreatedAt = t0
	msgs = append(msgs, old)

	b := newBlockWatch(cfg, nil, nil, slog.New(slog.DiscardHandler), func() time.Time { return now }, func(Event) {})
	b.st = msgs
	b.rebuild(context.Background(), "a") // fleet nil: WatchFrom zero, so "old" counts here
	s := b.sims["a"]
	if s.win.n+s.hist.n != 10 || len(s.pending) != 1 {
		t.Fatalf("reports with old part: settled %d pending %d", s.win.n+s.hist.n, len(s.pending))
	}

	b = newBlockWatch(cfg, nil, nil, slog.New(slog.DiscardHandler), func() time.Time { return now }, func(Event) {})
	b.st = msgs[:len(msgs)-1]
	b.rebuild(context.Background(), "a")
	b.rebuild(context.Background(), "a") // once only
	s = b.sims["a"]
	all := s.win
	all.n, all.reported, all.failed = all.n+s.hist.n, all.reported+s.hist.reported, all.failed+s.hist.failed
	if all.n != 9 || all.reported != 7 || all.failed != 2 || len(s.pending) != 1 || len(s.window) != 5 {
		t.Fatalf("reports: %+v pending %d window %d", all, len(s.pending), len(s.window))
	}
	r := s.replies
	if r.win.n+r.hist.n != 8 || r.win.answered+r.hist.answered != 3 || len(r.awaiting) != 1 {
		t.Fatalf("replies: win %+v hist %+v awaiting %v", r.win, r.hist, r.awaiting)
	}
	if _, ok := r.awaiting["+12025550050"]; !ok {
		t.Fatalf("awaiting %v", r.awaiting)
	}
}

// TestOwnersOf: which SIM a modem's messages belong to, from the
// inventory: X adopted a's history, went to b, came back to a after W
// (no move: back into the same modem), and c never reported a SIM.
func TestOwnersOf(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	o := ownersOf([]SIM{
		{ID: "X", FirstSeen: at(1), Modem: "a", LastModem: "a", InsertedAt: at(5),
			Moves: []SIMMove{{From: "a", To: "b", At: at(2)}}},
		{ID: "W", FirstSeen: at(3), LastModem: "a", InsertedAt: at(3)},
		{ID: "Z", FirstSeen: at(0), Modem: "b", LastModem: "b", InsertedAt: at(4)},
	})
	for _, c := range []struct {
		modem string
		hour  int
		want  string
	}{
		{"a", 0, "X"}, {"a", 1, "X"}, {"a", 2, "X"}, {"a", 3, "W"}, {"a", 4, "W"}, {"a", 5, "X"}, {"a", 9, "X"},
		{"b", 1, "Z"}, {"b", 2, "X"}, {"b", 3, "X"}, {"b", 4, "Z"},
		{"c", 1, "c"},
	} {
		if got := o.of(c.modem, at(c.hour)); got != c.want {
			t.Errorf("%s at %d: %s, want %s", c.modem, c.hour, got, c.want)
		}
	}
	if got, want := o.stays("X"), []stay{{"a", time.Time{}}, {"b", at(4)}}; !slices.Equal(got, want) {
		t.Errorf("X's stays %v, want %v", got, want)
	}
	if got, want := o.stays("W"), []stay{{"a", at(5)}}; !slices.Equal(got, want) {
		t.Errorf("W's stays %v, want %v", got, want)
	}
	if got, want := o.stays("c"), []stay{{"c", time.Time{}}}; !slices.Equal(got, want) {
		t.Errorf("c's stays %v, want %v", got, want)
	}
}
