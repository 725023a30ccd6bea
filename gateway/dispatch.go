package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Dispatcher. Start from DefaultConfig.
type Config struct {
	// DefaultRegion normalises numbers given without a country code ("US").
	DefaultRegion string
	// Pacing is every modem's pacing unless its ModemConfig overrides it.
	Pacing PacingConfig
	// StickyTimeout: a contact whose SIM has been unusable (down, gone) for
	// longer than this moves to another SIM, and the move is recorded.
	StickyTimeout time.Duration
	// MaxAttempts is how often a part is tried before it fails.
	MaxAttempts int
	// RetryBase and RetryMax bound the exponential retry backoff.
	RetryBase, RetryMax time.Duration
	// PauseAfterFailures consecutive failed sends pause a modem for PauseFor.
	PauseAfterFailures int
	// CMS500Burst consecutive +CMS ERROR: 500 pause a modem for PauseFor
	// (a likely carrier block).
	CMS500Burst int
	// PauseFor is the cooling period of an automatic pause.
	PauseFor time.Duration
	// BlockWatch tunes the carrier-block detector (blockwatch.go).
	BlockWatch BlockWatchConfig
	// PreferHealthy: a SIM whose health score is below PreferHealthy × the
	// score of another SIM that could take the new contact takes no new
	// contacts while that SIM can (healthpref.go); 0 turns it off.
	PreferHealthy float64
	// ReportWindow: status reports are matched to parts submitted within it.
	ReportWindow time.Duration
	// StatusReports is the default of SendRequest.StatusReport (TP-SRR).
	StatusReports bool
	// Destinations is checked when a message is accepted (nil: every
	// number). DefaultConfig refuses premium-rate and high-cost numbers.
	Destinations *Destinations
	// Location draws the day boundaries of the daily budgets.
	Location *time.Location
	// SendTimeout bounds one AT+CMGS exchange as seen from the dispatcher.
	SendTimeout time.Duration
	// CloseTimeout bounds Close's wait for in-flight sends.
	CloseTimeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer for the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock (tests); nil = time.Now.
	Now func() time.Time
	// Queue, if set, is a queue several nodes share (store/postgres.Queue),
	// used instead of a LocalQueue over the store (sharedqueue.go).
	Queue SharedQueue
}

// DefaultConfig returns the defaults: DefaultPacing, sticky for an hour of
// absence, 5 attempts with backoff from 30 s to 30 min, a 30-minute pause
// after 5 consecutive failures or 3 CMS 500s in a row, reports matched within
// 48 h, status reports requested, budgets by local days.
func DefaultConfig() Config {
	return Config{
		Pacing:             DefaultPacing(),
		StickyTimeout:      time.Hour,
		MaxAttempts:        5,
		RetryBase:          30 * time.Second,
		RetryMax:           30 * time.Minute,
		PauseAfterFailures: 5,
		CMS500Burst:        3,
		PauseFor:           30 * time.Minute,
		ReportWindow:       48 * time.Hour,
		BlockWatch:         DefaultBlockWatch(),
		PreferHealthy:      0.8,
		StatusReports:      true,
		Destinations:       &Destinations{},
		Location:           time.Local,
		SendTimeout:        3 * time.Minute,
		CloseTimeout:       30 * time.Second,
	}
}

// Validate names the first field that is wrong.
func (c Config) Validate() error {
	if c.PreferHealthy < 0 || c.PreferHealthy > 1 {
		return Invalid("prefer_healthy", "must be between 0 (off) and 1")
	}
	switch {
	case c.Pacing.MinInterval < 0 || c.Pacing.Jitter < 0:
		return Invalid("pacing", "intervals must not be negative")
	case c.Pacing.PerMinute < 0 || c.Pacing.PerDay < 0 || c.Pacing.NewContactsPerDay < 0:
		return Invalid("pacing", "caps must not be negative (0 = none)")
	case c.StickyTimeout <= 0:
		return Invalid("sticky_timeout", "must be positive")
	case c.MaxAttempts < 1:
		return Invalid("max_attempts", "must be at least 1")
	case c.RetryBase <= 0 || c.RetryMax < c.RetryBase:
		return Invalid("retry", "need 0 < retry_base <= retry_max")
	case c.PauseAfterFailures < 0 || c.CMS500Burst < 0 || c.PauseFor < 0:
		return Invalid("pause", "must not be negative")
	case c.ReportWindow <= 0:
		return Invalid("report_window", "must be positive")
	}
	if err := c.BlockWatch.Validate(); err != nil {
		return err
	}
	if c.Destinations != nil {
		if err := c.Destinations.Validate(); err != nil {
			return Invalid("destinations", "%v", err)
		}
	}
	return nil
}

// Submit limits.
const (
	MinPriority = -10
	MaxPriority = 10
	// MaxValidity is the longest SendRequest.Validity accepted.
	MaxValidity = 7 * 24 * time.Hour
	// MaxSchedule is how far ahead SendAt may be.
	MaxSchedule = 90 * 24 * time.Hour
)

// OptOutChecker says whether a number is on the suppression list. Store has it.
type OptOutChecker interface {
	OptedOut(ctx context.Context, number string) (bool, error)
}

// DispatcherStore is what the Dispatcher needs of the store: intake's
// (CreateMessage, MessageByIdempotencyKey, OptedOut), the queue's
// (UpdateMessage, QueueEntries, Sticky, SetSticky), the fleet's (Budgets,
// SaveBudget, and the SIM inventory's SIMs, SaveSIM, RebindSIM), the
// report matcher's (PartByMR, SaveUnmatchedReport), and
// ListMessages and CountByStatus for the report window and the metrics.
// store.DB implements it.
type DispatcherStore interface {
	intakeStore
	QueueStore
	budgetStore
	reportStore
	ListMessages(ctx context.Context, f MessageFilter) (MessagePage, error)
	CountByStatus(ctx context.Context) (map[Status]int, error)
}

// Dispatcher is the outbound engine. It is the front of five parts, each
// in its own file and each owning its own state:
//
//   - intake (intake.go): Submit and Cancel — validate, encode, store
//     durably (Submit returns only after Store.CreateMessage), queue.
//   - the queue (queue.go, localqueue.go): who sends what. Free workers
//     pull: a modem's worker asks Queue.Claim for the best message it may
//     send. The LocalQueue keeps in memory only what ordering needs and
//     reads the message from the store when it is claimed.
//   - the fleet (fleet.go): the modems and each one's state — usable,
//     paused, draining, pacing, budgets, counters — owned in one place and
//     kept with the budgets so that a restart keeps pauses and drains.
//   - a worker per modem (worker.go): claim, re-check the opt-out list and
//     the texting window, submitting, AT+CMGS, record the outcome.
//   - the report matcher (reports.go): status reports to parts.
//
// The Dispatcher itself starts and stops them (Run, Close) and runs the
// scheduler (schedule): due messages, expiry, gone SIMs, timed pauses,
// device polling, budget saving, the report window.
//
// Durability: every part transition (assigned, submitting, submitted /
// unknown / queued for retry / failed) is one Store.UpdateMessage committed
// before the next step; the store, not the memory, decides whether a part
// still needs sending, so a stale queue entry can never send twice.
// "submitting" is committed before the PDU is written: a part found in it
// at start-up (or whose answer was lost) is unknown, never resent blindly,
// unless the message asked for at-least-once. Budget usage, pauses and
// drains are saved once a second and at once when a pause or drain changes
// (a crash forgets at most a second of counting).
//
// Concurrency: all methods are safe for concurrent use. Run starts the
// workers and the scheduler and waits for them; Close stops them, letting
// in-flight AT+CMGS exchanges finish and be recorded (bounded by
// Config.CloseTimeout). See doc.go for the locks.
type Dispatcher struct {
	cfg Config
	st  DispatcherStore
	em  Emitter
	log *slog.Logger
	now func() time.Time
	met *metrics

	fleet   *fleet
	q       dispatchQueue
	reports *reports
	intake  *intake
	pref    *healthPref
	load    *loader // Submit and Cancel while Run loads the queue (loading.go)

	mu      sync.Mutex // guards the lifecycle fields below
	running bool
	closed  bool
	runCtx  context.Context
	cancel  context.CancelFunc
	runDone chan struct{}
	loaded  chan struct{}  // closed once Run has recovered the queue
	wg      sync.WaitGroup // workers, their recorders and the scheduler
}

var (
	_ ReportHandler  = (*Dispatcher)(nil)
	_ DeviceObserver = (*Dispatcher)(nil)
)

// NewDispatcher returns a Dispatcher over st; events go to em (nil = none).
// It registers its metrics on cfg.Registerer. Call Run to start sending.
func NewDispatcher(cfg Config, st DispatcherStore, em Emitter) (*Dispatcher, error) {
	if st == nil {
		return nil, errors.New("dispatcher: nil store")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dispatcher config: %w", err)
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 3 * time.Minute
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 30 * time.Second
	}
	d := &Dispatcher{cfg: cfg, st: st, em: em, log: cfg.Logger, now: cfg.Now, loaded: make(chan struct{}), load: newLoader()}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	m, err := newMetrics(d, cfg.Registerer)
	if err != nil {
		return nil, err
	}
	d.met = m
	d.fleet = newFleet(cfg, st, d.log, d.now, d.emit)
	if cfg.Queue != nil {
		d.q = newSharedQueue(cfg.Queue, d.fleet, d.log)
	} else {
		d.q = NewLocalQueue(countingStore{st, d.load}, d.fleet, LocalQueueConfig{
			StickyTimeout: cfg.StickyTimeout, StoreRetry: cfg.RetryBase, Logger: d.log, Now: d.now,
		})
	}
	d.fleet.wake = d.q.poke
	d.reports = &reports{st: st, fleet: d.fleet, met: m, log: d.log, now: d.now, emit: d.emit, window: cfg.ReportWindow,
		blocks: newBlockWatch(cfg.BlockWatch, d.fleet, m, d.log, d.now, d.emit)}
	d.reports.blocks.st = st
	d.pref = &healthPref{share: cfg.PreferHealthy, fleet: d.fleet, blocks: d.reports.blocks}
	d.intake = &intake{st: st, q: gatedQueue{d.q, d.load}, fleet: d.fleet, met: m, log: d.log, now: d.now,
		defaultRegion: cfg.DefaultRegion, statusReports: cfg.StatusReports, destinations: cfg.Destinations}
	return d, nil
}

// AddDevice adds a modem to the pool (or replaces the device of one of the
// same name). Its worker starts now if Run is running, else when Run starts.
func (d *Dispatcher) AddDevice(dev Device, mc ModemConfig) {
	if mc.Name == "" {
		mc.Name = dev.Name()
	}
	if d.fleet.get(mc.Name) != nil {
		// A new device for the same name: retire the old worker first
		// (the budget carries over).
		d.RemoveDevice(mc.Name)
	}
	m, ok := d.fleet.add(dev, mc)
	if !ok {
		return // a concurrent AddDevice won
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running && d.runCtx != nil {
		d.startWorkerLocked(m)
	}
}

// RemoveDevice takes a modem out of the pool; its queued messages wait for
// it (sticky) until StickyTimeout, then move. An in-flight send finishes.
func (d *Dispatcher) RemoveDevice(name string) {
	m := d.fleet.remove(name)
	if m == nil {
		return
	}
	d.mu.Lock()
	runs := m.runs
	d.mu.Unlock()
	if runs {
		<-m.done
	}
	d.fleet.save(m)
}

// SetPacing replaces the default pacing for every modem without its own.
func (d *Dispatcher) SetPacing(pc PacingConfig) {
	d.fleet.setPacing(pc)
	for _, n := range d.fleet.Modems() {
		d.q.poke(n)
	}
}

// UpdateModemConfig changes a modem's groups and pacing (SIGHUP reload).
func (d *Dispatcher) UpdateModemConfig(mc ModemConfig) error {
	if err := d.fleet.reconfigure(mc); err != nil {
		return err
	}
	d.q.poke(mc.Name)
	return nil
}

// startWorkerLocked starts m's worker. d.mu held.
func (d *Dispatcher) startWorkerLocked(m *modemEntry) {
	if m.runs {
		return
	}
	m.runs = true
	w := &worker{m: m, q: d.q, fleet: d.fleet, pref: d.pref, optouts: d.st, reports: d.reports, met: d.met,
		log: d.log, now: d.now, emit: d.emit, cfg: d.cfg, wg: &d.wg}
	d.wg.Add(1)
	go w.run(d.runCtx)
}

// Submit validates req, stores the message durably and queues it. The
// returned message is as stored. A reused IdempotencyKey with the same
// RequestHash returns the message first stored (no new one); with another
// hash it fails with ErrIdempotencyMismatch.
func (d *Dispatcher) Submit(ctx context.Context, req SendRequest) (*Message, error) {
	return d.intake.submit(ctx, req)
}

// Cancel cancels a message whose parts have not started to go out. Once a
// part is submitting or further it fails with ErrNotCancellable. While the
// queue loads it works too, on a message loaded or not yet (loading.go).
func (d *Dispatcher) Cancel(ctx context.Context, id string) (*Message, error) {
	return d.load.cancel(ctx, d.q, id)
}

// Pause stops modem name from taking messages, until until (zero: until
// Resume). Its queued messages wait for it. The pause is saved: it
// survives a restart.
func (d *Dispatcher) Pause(name, reason string, until time.Time) error {
	return d.fleet.pause(name, reason, until)
}

// Resume lifts a pause and a drain.
func (d *Dispatcher) Resume(name string) error { return d.fleet.resume(name) }

// Drain makes modem name take no new contacts; it finishes its own queue
// (contacts already bound to it). Resume ends the drain. The drain is saved.
func (d *Dispatcher) Drain(name string) error { return d.fleet.drain(name) }

// Modems returns every modem's view, in the order they were added.
func (d *Dispatcher) Modems() []ModemView {
	ms := d.fleet.list()
	out := make([]ModemView, 0, len(ms))
	for _, m := range ms {
		out = append(out, d.withHealth(d.fleet.view(m, d.q.PartsFor(m.name))))
	}
	return out
}

// Modem returns one modem's view, or ErrNoModem.
func (d *Dispatcher) Modem(name string) (ModemView, error) {
	m := d.fleet.get(name)
	if m == nil {
		return ModemView{}, fmt.Errorf("modem %q: %w", name, ErrNoModem)
	}
	return d.withHealth(d.fleet.view(m, d.q.PartsFor(name))), nil
}

// DeviceChanged records a modem's new status (DeviceObserver) and emits
// modem.up / modem.down when it starts or stops being usable.
func (d *Dispatcher) DeviceChanged(name string, st ModemStatus) { d.fleet.changed(name, st) }

// CountReceived counts an inbound message from contact stored from modem
// (for ModemView.Counters.Received and the block detector's reply signal).
// The Inbox calls it (InboxConfig.Counter).
func (d *Dispatcher) CountReceived(modem, contact string) {
	d.fleet.countReceived(modem)
	d.reports.blocks.replied(modem, contact)
}

// HandleReport matches a status report to the part it reports on by
// (modem, message reference) within Config.ReportWindow and rolls the
// message up. Unmatched reports are stored and counted.
func (d *Dispatcher) HandleReport(ctx context.Context, r StatusReport) error {
	return d.reports.handle(ctx, r, true)
}

// QueueLen is the number of messages waiting in the queue (not counting
// those being sent).
func (d *Dispatcher) QueueLen() int { return d.q.Len() }

func (d *Dispatcher) emit(e Event) {
	if d.em == nil {
		return
	}
	if e.ID == "" {
		e.ID = NewID(d.now())
	}
	if e.Time.IsZero() {
		e.Time = d.now()
	}
	d.em.Emit(context.Background(), e)
}

// Run loads the budgets and the active messages (applying the crash rules:
// a part left submitting is unknown unless the message asked for
// at-least-once; an assigned one is queued again), then runs one worker per
// modem and the scheduler until ctx is done or Close is called. It waits
// for in-flight sends before returning.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	if d.running {
		d.mu.Unlock()
		return errors.New("dispatcher: already running")
	}
	d.running = true
	ctx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	runDone := make(chan struct{})
	d.runDone = runDone
	d.mu.Unlock()
	defer close(runDone)
	defer cancel()

	d.load.begin()
	if err := d.recover(ctx); err != nil {
		d.load.finish(ctx, d.q, false, nil) // if recover failed before the queue's
		d.mu.Lock()
		d.running = false
		d.mu.Unlock()
		return err
	}
	d.identifySIMs(ctx) // before the workers: a modem up now sends at once
	close(d.loaded)
	ms := d.fleet.list()
	d.mu.Lock()
	d.runCtx = ctx
	for _, m := range ms {
		d.startWorkerLocked(m)
	}
	d.wg.Add(1)
	go d.schedule(ctx)
	d.mu.Unlock()
	d.log.Info("dispatcher running", "modems", len(ms))

	<-ctx.Done()
	d.wg.Wait()
	d.fleet.saveAll()
	d.reports.flushEarly(context.Background(), d.now(), true)
	return nil
}

// Loaded is closed once Run has loaded the queue (budgets restored, crash
// rules applied, every waiting message indexed), just before its workers
// start. It stays open if Run fails before.
func (d *Dispatcher) Loaded() <-chan struct{} { return d.loaded }

// Close stops taking work and waits (at most Config.CloseTimeout) for
// in-flight sends to be recorded.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	running, cancel, runDone := d.running, d.cancel, d.runDone
	d.mu.Unlock()
	if !running {
		return nil
	}
	cancel()
	select {
	case <-runDone:
		return nil
	case <-time.After(d.cfg.CloseTimeout):
		return errors.New("dispatcher: close timed out waiting for in-flight sends")
	}
}

// recover loads budgets and active messages at start-up.
func (d *Dispatcher) recover(ctx context.Context) error {
	budgets, err := d.st.Budgets(ctx)
	if err != nil {
		return fmt.Errorf("load budgets: %w", err)
	}
	d.fleet.restore(budgets)
	sims, err := d.st.SIMs(ctx)
	if err != nil {
		return fmt.Errorf("load sims: %w", err)
	}
	d.fleet.restoreSIMs(sims)
	unknown, err := d.q.Recover(ctx)
	// Then the messages submitted meanwhile, after every older one.
	d.load.finish(ctx, d.q, err == nil, func(id string, err error) {
		d.log.Warn("queue after store", "id", id, "err", err)
	})
	if err != nil {
		return err
	}
	parts := 0
	for _, m := range unknown {
		for _, p := range m.Parts {
			if p.State == PartUnknown && p.UpdatedAt.Equal(m.UpdatedAt) {
				parts++
				d.met.unknown.WithLabelValues(p.Modem).Inc()
			}
		}
	}
	for _, e := range UnknownEvents(unknown, "restart while a part was being submitted") {
		d.emit(e)
	}
	d.log.Info("recovered queue", "active", d.q.Len(), "unknown_parts", parts)
	return nil
}

// UnknownEvents returns the message.unknown events of the messages among
// ms that a crash rule made unknown (a part was submitting when its node
// stopped), reason saying which: this node's restart (Dispatcher.Run), or
// another node reaping one whose lease lapsed (store/postgres.Queue's
// OnUnknown).
func UnknownEvents(ms []*Message, reason string) []Event {
	var out []Event
	for _, m := range ms {
		if m.Status == StatusUnknown {
			out = append(out, Event{Type: EventMessageUnknown, MessageID: m.ID, Modem: m.Modem,
				Data: MessageUnknownData{Reason: reason}})
		}
	}
	return out
}

// schedule moves due messages to the ready queues, and once a second
// expires messages, moves the contacts of gone SIMs, lifts timed pauses,
// polls device status, saves budgets and settles early reports; once a
// minute it gives parts whose report window ended their final state.
func (d *Dispatcher) schedule(ctx context.Context) {
	defer d.wg.Done()
	tick := min(250*time.Millisecond, d.cfg.StickyTimeout/4)
	tick = max(tick, time.Millisecond)
	t := time.NewTimer(tick)
	defer t.Stop()
	lastSecond := d.now()
	lastSettle := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := d.now()
		d.q.Promote(now)
		d.housekeep(ctx, now, now.Sub(lastSecond) >= time.Second)
		if now.Sub(lastSecond) >= time.Second {
			lastSecond = now
		}
		if now.Sub(lastSettle) >= settleEvery {
			lastSettle = now
			if n, err := d.reports.settle(ctx, now); err != nil {
				d.log.Error("report window", "err", err)
			} else if n > 0 {
				d.log.Info("parts without a status report within the report window", "messages", n)
			}
		}
		wait := tick
		if due := d.q.NextDue(); !due.IsZero() {
			wait = min(wait, due.Sub(now))
		}
		t.Reset(max(wait, time.Millisecond))
	}
}

func (d *Dispatcher) housekeep(ctx context.Context, now time.Time, second bool) {
	for _, m := range d.fleet.list() {
		d.fleet.poll(m) // observers may miss a change
	}
	d.identifySIMs(ctx)
	d.fleet.liftExpiredPauses(now)
	d.q.RebindGone(ctx, now)
	if !second {
		return
	}
	expired, err := d.q.Expire(ctx, now)
	if err != nil {
		d.log.Error("expire", "err", err)
	}
	for _, m := range expired {
		d.emit(Event{Type: EventMessageExpired, MessageID: m.ID, Data: MessageExpiredData{Status: m.Status}})
	}
	d.fleet.saveAll()
	d.reports.flushEarly(context.WithoutCancel(ctx), now, false)
	d.reports.blocks.sweep(now)
}
