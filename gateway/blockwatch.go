package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// BlockWatchConfig tunes the carrier-block detector. A carrier that blocks
// a SIM rarely says so: sends still get +CMGS, but the status reports stop
// coming, or come back as permanent failures. The detector judges each
// SIM's last Window settled parts (parts that asked for a report and whose
// report came, or did not come within ReportWait) against the pool's and
// against the SIM's own history, and pauses a SIM whose numbers fall off a
// cliff. Only parts sent with TP-SRR count.
type BlockWatchConfig struct {
	// Window is how many of a SIM's last settled parts are judged (and how
	// many the pool or the SIM's history must have for a comparison);
	// 0 turns the detector off.
	Window int
	// ReportWait: a part whose status report has not come this long after
	// its +CMGS counts as missing.
	ReportWait time.Duration
	// MinReportRatio: a SIM whose window got fewer reports than this
	// fraction (delivered or not) is suspected of a block, while the
	// baseline (the rest of the pool's windows, or this SIM's own history,
	// whichever is higher) got at least BaselineReportRatio.
	MinReportRatio      float64
	BaselineReportRatio float64
	// MaxFailedRatio: a SIM whose window has at least this fraction of
	// permanent failure reports (TP-ST 0x40-0x7F) is suspected of a block,
	// while the baseline (the pool's windows, or without a pool its own
	// history) has less than half of it.
	MaxFailedRatio float64
	// PauseFor is how long a suspected block pauses the SIM; 0 = until
	// resumed by hand.
	PauseFor time.Duration

	// The reply signal (replywatch.go): a send to a contact settles as
	// answered when that contact's SMS reaches the same SIM within
	// ReplyWait, else as unanswered. A SIM whose last ReplyWindow settled
	// sends were answered at under MinReplyShare of the pool's rate (the
	// other SIMs' windows together, at least ReplyWindow sends), and under
	// MinReplyShare of its own history's once that holds ReplyWindow sends,
	// is suspected — judged only while the pool's rate × ReplyWindow is at
	// least MinExpectedReplies (fewer expected replies cannot tell a
	// silence from chance). ReplyWindow 0 turns the reply signal off.
	ReplyWindow        int
	ReplyWait          time.Duration
	MinReplyShare      float64
	MinExpectedReplies float64
}

// DefaultBlockWatch: judge the last 20 settled parts, a report missing
// after 10 minutes, suspect a block below 25% reports while the pool or
// history gets 60%, or at 50% permanent failures while the baseline has
// under 25%; judge the last 50 sends' replies (30 minutes to answer),
// suspect a block below a fifth of the pool's reply rate once the pool's
// rate promises at least 5 replies in 50 sends; pause until resumed.
func DefaultBlockWatch() BlockWatchConfig {
	return BlockWatchConfig{
		Window:              20,
		ReportWait:          10 * time.Minute,
		MinReportRatio:      0.25,
		BaselineReportRatio: 0.6,
		MaxFailedRatio:      0.5,
		ReplyWindow:         50,
		ReplyWait:           30 * time.Minute,
		MinReplyShare:       0.2,
		MinExpectedReplies:  5,
	}
}

// Validate names the first field that is wrong.
func (c BlockWatchConfig) Validate() error {
	ratio := func(v float64) bool { return v >= 0 && v <= 1 }
	if c.PauseFor < 0 {
		return Invalid("block_watch.pause_for", "must not be negative (0: until resumed)")
	}
	switch {
	case c.ReplyWindow < 0:
		return Invalid("block_watch.reply_window", "must not be negative (0: reply signal off)")
	case c.ReplyWindow == 0:
	case c.ReplyWait <= 0:
		return Invalid("block_watch.reply_wait", "must be positive")
	case !ratio(c.MinReplyShare) || c.MinReplyShare == 0 || c.MinReplyShare == 1:
		return Invalid("block_watch.min_reply_share", "must be between 0 and 1 (exclusive)")
	case c.MinExpectedReplies < 1 || c.MinExpectedReplies > float64(c.ReplyWindow):
		return Invalid("block_watch.min_expected_replies", "must be between 1 and reply_window")
	}
	switch {
	case c.Window < 0:
		return Invalid("block_watch.window", "must not be negative (0: off)")
	case c.Window == 0:
		return nil
	case c.ReportWait <= 0:
		return Invalid("block_watch.report_wait", "must be positive")
	case !ratio(c.MinReportRatio):
		return Invalid("block_watch.min_report_ratio", "must be between 0 and 1")
	case !ratio(c.BaselineReportRatio) || c.BaselineReportRatio <= c.MinReportRatio:
		return Invalid("block_watch.baseline_report_ratio", "must be between min_report_ratio and 1")
	case !ratio(c.MaxFailedRatio) || c.MaxFailedRatio == 0:
		return Invalid("block_watch.max_failed_ratio", "must be above 0 and at most 1")
	}
	return nil
}

// BlockPauseReason starts the pause reason of a SIM the block detector
// paused (ModemView.PauseReason); the metric simgate_modem_block_suspected
// is 1 while a SIM is paused with it.
const BlockPauseReason = "suspected carrier block"

// RepliesStoppedReason starts the pause reason of a SIM the reply signal
// paused (simgate_modem_replies_stopped is 1 while it stays paused so).
const RepliesStoppedReason = BlockPauseReason + ": replies stopped"

// BlockSuspectedData: the block detector paused the SIM. The ratios are of
// the SIM's last Window settled parts (ReplyWindow sends for the reply
// signal) and of its baseline (Baseline "pool" or "history").
type BlockSuspectedData struct {
	Reason        string  `json:"reason"`
	Signal        string  `json:"signal"` // "reports_missing", "reports_failed" or "replies_stopped"
	Window        int     `json:"window"`
	Reported      int     `json:"reported"`
	Failed        int     `json:"failed"`
	Replied       int     `json:"replied"`
	Baseline      string  `json:"baseline"`
	BaselineRatio float64 `json:"baseline_ratio"`
	ReportRatio   float64 `json:"report_ratio"`
	FailedRatio   float64 `json:"failed_ratio"`
	ReplyRatio    float64 `json:"reply_ratio"`
	// HistoryReplyRatio: the SIM's own earlier reply rate (absent while
	// its history holds fewer than ReplyWindow sends).
	HistoryReplyRatio *float64  `json:"history_reply_ratio,omitempty"`
	Until             time.Time `json:"until,omitzero"` // zero: until resumed
	PendingReports    int       `json:"pending_reports"`
	HistorySettled    int       `json:"history_settled"`
	PoolSettledParts  int       `json:"pool_settled_parts"`
}

func (BlockSuspectedData) eventData() {}

// outcome is how a part that asked for a report settled.
type outcome uint8

const (
	outMissing  outcome = iota // no report within ReportWait
	outReported                // a report came (delivered or temporary)
	outFailed                  // a report came with a permanent error
)

// tally counts settled parts.
type tally struct{ n, reported, failed int }

func (t *tally) add(o outcome, sign int) {
	t.n += sign
	switch o {
	case outReported:
		t.reported += sign
	case outFailed:
		t.reported += sign
		t.failed += sign
	}
}

func (t tally) reportRatio() float64 { return ratioOf(t.reported, t.n) }
func (t tally) failedRatio() float64 { return ratioOf(t.failed, t.n) }

func ratioOf(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// simWatch is one SIM's record, kept by the SIM's watch key (watchKey):
// the SIM's inventory ID, so that it follows the SIM into another modem,
// or the modem's name for a modem that reports no SIM identity. Guarded
// by blockWatch.mu.
type simWatch struct {
	pending map[int]time.Time // MR -> when submitted, awaiting a report
	window  []outcome         // the last settled parts, oldest first
	win     tally             // counts of window
	hist    tally             // parts that left the window (its history)

	replies replyRecord // the reply signal (replywatch.go)
}

// blockWatch is the carrier-block detector (see BlockWatchConfig). It is
// fed by the worker (sent) and the report matcher (reported), and it
// pauses a SIM through the fleet's one pause path (fleet.pause), then
// emits modem.block_suspected. Its records are in memory, one per SIM
// (simWatch); after a restart each is rebuilt from the store
// (blockwatch_restore.go).
//
// Concurrency: safe for concurrent use; mu guards sims. It calls the fleet
// and the emitter only after releasing mu.
type blockWatch struct {
	cfg   BlockWatchConfig
	fleet *fleet // nil: verdicts are only logged (tests of the rules)
	met   *metrics
	log   *slog.Logger
	now   func() time.Time
	emit  func(Event)

	st watchStore // nil: no rebuild after a restart (blockwatch_restore.go)

	mu      sync.Mutex
	sims    map[string]*simWatch // by watch key
	rebuilt map[string]bool      // watch keys whose record was rebuilt (or tried)
}

func newBlockWatch(cfg BlockWatchConfig, f *fleet, met *metrics, log *slog.Logger, now func() time.Time, emit func(Event)) *blockWatch {
	return &blockWatch{cfg: cfg, fleet: f, met: met, log: log, now: now, emit: emit, sims: map[string]*simWatch{}, rebuilt: map[string]bool{}}
}

func newSIMWatch() *simWatch {
	return &simWatch{pending: map[int]time.Time{}, replies: replyRecord{awaiting: map[string]time.Time{}}}
}

func (b *blockWatch) simLocked(key string) *simWatch {
	s := b.sims[key]
	if s == nil {
		s = newSIMWatch()
		b.sims[key] = s
	}
	return s
}

// keyOf is the watch key of the SIM in modem now (the modem's name without
// a fleet: tests of the rules). Called without b.mu.
func (b *blockWatch) keyOf(modem string) string {
	if b.fleet == nil {
		return modem
	}
	return b.fleet.watchKey(modem)
}

// arrived tells the watch that SIM sim appeared in modem (applySIMChange).
// Adopted (the first SIM the modem reports), the modem's own record becomes
// the SIM's. A SIM known from elsewhere keeps its record, rebuilt from the
// store if it was not yet since the start, less the reports it still
// awaits: they reach the SIM through its new modem and cannot be matched
// to the parts sent through the old one. A new SIM starts empty.
func (b *blockWatch) arrived(ctx context.Context, modem, sim string, adopt, known bool) {
	if b == nil {
		return
	}
	switch {
	case adopt:
		b.mu.Lock()
		if s := b.sims[modem]; s != nil && b.sims[sim] == nil {
			b.sims[sim] = s
			delete(b.sims, modem)
		}
		b.rebuilt[sim] = b.rebuilt[sim] || b.rebuilt[modem]
		b.mu.Unlock()
	case known:
		b.rebuild(ctx, modem)
		b.mu.Lock()
		if s := b.sims[sim]; s != nil {
			clear(s.pending)
		}
		b.mu.Unlock()
	default:
		b.mu.Lock()
		b.rebuilt[sim] = true // nothing to read: the store has nothing of it
		b.mu.Unlock()
	}
}

// settleLocked adds o to s's window; the oldest leaves it for the history.
func (b *blockWatch) settleLocked(s *simWatch, o outcome) {
	slide(&s.window, &s.win, &s.hist, o, b.cfg.Window)
}

// slide appends o to a window of at most size settled outcomes counted in
// win; the oldest leaves it and is counted in hist instead. The report and
// the reply windows both slide this way.
func slide[T any](window *[]T, win, hist interface{ add(T, int) }, o T, size int) {
	*window = append(*window, o)
	win.add(o, 1)
	if len(*window) > size {
		old := (*window)[0]
		*window = (*window)[1:]
		win.add(old, -1)
		hist.add(old, 1)
	}
}

// overdueLocked settles as missing every pending part of s older than
// ReportWait.
func (b *blockWatch) overdueLocked(s *simWatch, now time.Time) {
	for mr, at := range s.pending {
		if now.Sub(at) >= b.cfg.ReportWait {
			delete(s.pending, mr)
			b.settleLocked(s, outMissing)
		}
	}
}

// sent records that modem submitted a part with message reference mr at
// at; srr says whether it asked for a status report (only those count).
func (b *blockWatch) sent(modem string, mr int, at time.Time, srr bool) {
	if b == nil || b.cfg.Window == 0 || !srr {
		return
	}
	key := b.keyOf(modem)
	b.mu.Lock()
	s := b.simLocked(key)
	if _, ok := s.pending[mr]; ok { // the MR wrapped: the older part's report never came
		delete(s.pending, mr)
		b.settleLocked(s, outMissing)
	}
	b.overdueLocked(s, b.now())
	s.pending[mr] = at
	v, ok := b.judgeLocked(key, modem, s)
	b.mu.Unlock()
	if ok {
		b.act(modem, v)
	}
}

// reported records a status report with TP-ST st that matched modem's part
// with message reference mr.
func (b *blockWatch) reported(modem string, mr, st int) {
	if b == nil || b.cfg.Window == 0 {
		return
	}
	key := b.keyOf(modem)
	b.mu.Lock()
	s := b.simLocked(key)
	if _, ok := s.pending[mr]; ok {
		delete(s.pending, mr)
		o := outReported
		if st >= 0x40 && st <= 0x7F {
			o = outFailed
		}
		b.settleLocked(s, o)
	}
	b.overdueLocked(s, b.now())
	v, ok := b.judgeLocked(key, modem, s)
	b.mu.Unlock()
	if ok {
		b.act(modem, v)
	}
}

// sweep settles every SIM's overdue parts and judges those of the SIMs in
// a modem (once a second from the dispatcher's housekeeping), so that a
// SIM that stopped sending is judged too. A SIM in no modem is judged when
// it is back in one.
func (b *blockWatch) sweep(now time.Time) {
	if b == nil || (b.cfg.Window == 0 && b.cfg.ReplyWindow == 0) {
		return
	}
	type verdict struct {
		modem string
		v     BlockSuspectedData
	}
	var vs []verdict
	var holders map[string]string // watch key -> modem
	if b.fleet != nil {
		holders = b.fleet.watchHolders()
	}
	b.mu.Lock()
	for key, s := range b.sims {
		b.overdueLocked(s, now)
		b.unansweredLocked(s, now)
		modem, in := key, true
		if holders != nil {
			modem, in = holders[key]
		}
		if !in {
			continue
		}
		if v, ok := b.judgeLocked(key, modem, s); ok {
			vs = append(vs, verdict{modem, v})
		}
	}
	b.mu.Unlock()
	for _, v := range vs {
		b.act(v.modem, v.v)
	}
}

// judgeLocked applies the rules to s, the record of watch key key, whose
// SIM is in modem; on a verdict it empties s's window (the window that
// caused it is not history), so that a resumed SIM is judged on fresh parts.
func (b *blockWatch) judgeLocked(key, modem string, s *simWatch) (BlockSuspectedData, bool) {
	if v, ok := b.judgeRepliesLocked(key, modem, s); ok {
		s.window, s.win = nil, tally{}
		return v, true
	}
	if b.cfg.Window == 0 {
		return BlockSuspectedData{}, false
	}
	if b.met != nil && s.win.n > 0 {
		b.met.reportRatio.WithLabelValues(modem).Set(s.win.reportRatio())
	}
	if len(s.window) < b.cfg.Window {
		return BlockSuspectedData{}, false
	}
	var pool tally
	for k, o := range b.sims {
		if k != key {
			pool.n, pool.reported, pool.failed = pool.n+o.win.n, pool.reported+o.win.reported, pool.failed+o.win.failed
		}
	}
	w := b.cfg.Window
	poolOK, histOK := pool.n >= w, s.hist.n >= w
	v := BlockSuspectedData{
		Window: w, Reported: s.win.reported, Failed: s.win.failed,
		ReportRatio: s.win.reportRatio(), FailedRatio: s.win.failedRatio(),
		PendingReports: len(s.pending), HistorySettled: s.hist.n, PoolSettledParts: pool.n,
	}
	hit := false
	// Reports stop: compare with the better of pool and history.
	base, baseName := -1.0, ""
	if poolOK {
		base, baseName = pool.reportRatio(), "pool"
	}
	if histOK && s.hist.reportRatio() > base {
		base, baseName = s.hist.reportRatio(), "history"
	}
	if base >= 0 && v.ReportRatio < b.cfg.MinReportRatio && base >= b.cfg.BaselineReportRatio {
		hit = true
		v.Signal, v.Baseline, v.BaselineRatio = "reports_missing", baseName, base
		v.Reason = fmt.Sprintf(BlockPauseReason+": %d of last %d reports came back while the %s got %.0f%%",
			v.Reported, w, baselineWords(baseName), 100*base)
	}
	// Reports come back failed: compare with the pool, else history.
	if !hit {
		fb, fbName := -1.0, ""
		switch {
		case poolOK:
			fb, fbName = pool.failedRatio(), "pool"
		case histOK:
			fb, fbName = s.hist.failedRatio(), "history"
		}
		if fb >= 0 && v.FailedRatio >= b.cfg.MaxFailedRatio && fb < b.cfg.MaxFailedRatio/2 {
			hit = true
			v.Signal, v.Baseline, v.BaselineRatio = "reports_failed", fbName, fb
			v.Reason = fmt.Sprintf(BlockPauseReason+": %d of last %d reports were permanent failures (TP-ST 0x40-0x7F) while the %s had %.0f%%",
				v.Failed, w, baselineWords(fbName), 100*fb)
		}
	}
	if !hit {
		return BlockSuspectedData{}, false
	}
	s.window, s.win = nil, tally{}
	s.replies.reset()
	return v, true
}

func baselineWords(name string) string {
	if name == "history" {
		return "SIM's own history"
	}
	return "pool"
}

// act pauses modem for the verdict v (unless it is paused already) and
// emits modem.block_suspected.
func (b *blockWatch) act(modem string, v BlockSuspectedData) {
	b.log.Warn("suspected carrier block", "modem", modem, "signal", v.Signal, "reason", v.Reason)
	if b.fleet == nil {
		return
	}
	// The verdict's window is not history, after a restart either.
	b.fleet.setWatchFrom(modem, b.now())
	if b.fleet.isPaused(modem) {
		return
	}
	if b.cfg.PauseFor > 0 {
		v.Until = b.now().Add(b.cfg.PauseFor)
	}
	if err := b.fleet.pause(modem, v.Reason, v.Until); err != nil {
		b.log.Warn("pause suspected block", "modem", modem, "err", err)
		return
	}
	b.emit(Event{Type: EventModemBlockSuspected, Modem: modem, Data: v})
}

// setWatchFrom records (and saves with the budget usage) the time from
// which the block watch judges modem name after a restart.
func (f *fleet) setWatchFrom(name string, at time.Time) {
	f.mu.Lock()
	m := f.modems[name]
	if m != nil {
		m.pacer.usage.WatchFrom = at
		m.pacer.dirty = true
	}
	f.mu.Unlock()
	if m != nil {
		f.save(m)
	}
}

// watchFrom is what setWatchFrom last recorded for modem name (kept across
// restarts), zero if never.
func (f *fleet) watchFrom(name string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.modems[name]; m != nil {
		return m.pacer.usage.WatchFrom
	}
	return f.usage[name].WatchFrom
}

// isPaused reports whether modem name is paused (false if unknown).
func (f *fleet) isPaused(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.modems[name]
	return m != nil && m.paused
}

// watchKey is the block watch's key for what modem name sends and receives
// now: the ID of the SIM in it, or the modem's name while it reports none.
func (f *fleet) watchKey(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.modems[name]; m != nil && m.sim != "" {
		return m.sim
	}
	return name
}

// watchHolders maps the watch key of every modem to the modem.
func (f *fleet) watchHolders() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.modems))
	for name, m := range f.modems {
		if m.sim != "" {
			out[m.sim] = name
		} else {
			out[name] = name
		}
	}
	return out
}
