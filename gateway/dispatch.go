package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
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
	// ReportWindow: status reports are matched to parts submitted within it.
	ReportWindow time.Duration
	// StatusReports is the default of SendRequest.StatusReport (TP-SRR).
	StatusReports bool
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
		StatusReports:      true,
		Location:           time.Local,
		SendTimeout:        3 * time.Minute,
		CloseTimeout:       30 * time.Second,
	}
}

// Validate names the first field that is wrong.
func (c Config) Validate() error {
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

// Dispatcher is the outbound engine: it accepts messages (Submit), keeps a
// lean in-memory queue over the durable store, and runs one worker per modem
// that sends the next message that modem may send when its pacer allows.
//
// Durability: Submit returns only after Store.CreateMessage. Every part
// transition (assigned, submitting, submitted / unknown / queued for retry /
// failed) is one Store.UpdateMessage committed before the next step; the
// store, not the memory, decides whether a part still needs sending, so a
// stale queue entry can never send twice. "submitting" is committed before
// the PDU is written: a part found in it at start-up (or whose answer was
// lost) is unknown, never resent blindly, unless the message asked for
// at-least-once. Budgets are saved once a second (a crash forgets at most a
// second of counting); pauses and drains are saved with them and survive
// a restart.
//
// Scheduling: the queue holds ids and scheduling fields only (about 300
// bytes a message). A modem's own queue holds messages pinned to it (its
// contacts, From naming it, later parts of a message it started); shared
// queues per group and for "any" hold the rest, highest priority first, then
// oldest. A worker takes the best head it may send: within its daily part
// budget, a new contact only within NewContactsPerDay and not while draining.
// A shared message whose contact got bound meanwhile moves to that SIM.
// Idle workers are woken in round-robin order when work arrives. All parts
// of a message leave through one SIM.
//
// Concurrency: all methods are safe for concurrent use. Run starts the
// workers and the scheduler and waits for them; Close stops them, letting
// in-flight AT+CMGS exchanges finish and be recorded (bounded by
// Config.CloseTimeout).
type Dispatcher struct {
	cfg Config
	st  Store
	em  Emitter
	log *slog.Logger
	now func() time.Time
	met *metrics

	mu      sync.Mutex
	modems  map[string]*modemEntry
	order   []string // modem names in the order they were added
	rr      int
	queues  map[string]*readyQueue
	delayed delayQueue
	byID    map[string]*item
	bound   map[string]string    // contact → SIM, as known to this process
	removed map[string]time.Time // modems removed, and when
	budgets map[string]BudgetUsage
	early   []earlyReport // status reports that overtook their part's record
	seq     uint64
	started time.Time
	running bool
	closed  bool
	runCtx  context.Context
	cancel  context.CancelFunc
	runDone chan struct{}

	schedWake chan struct{}
	wg        sync.WaitGroup // workers and the scheduler
}

var (
	_ ReportHandler  = (*Dispatcher)(nil)
	_ DeviceObserver = (*Dispatcher)(nil)
)

// NewDispatcher returns a Dispatcher over st; events go to em (nil = none).
// It registers its metrics on cfg.Registerer. Call Run to start sending.
func NewDispatcher(cfg Config, st Store, em Emitter) (*Dispatcher, error) {
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
	d := &Dispatcher{
		cfg:       cfg,
		st:        st,
		em:        em,
		log:       cfg.Logger,
		now:       cfg.Now,
		modems:    map[string]*modemEntry{},
		queues:    map[string]*readyQueue{},
		byID:      map[string]*item{},
		bound:     map[string]string{},
		removed:   map[string]time.Time{},
		budgets:   map[string]BudgetUsage{},
		schedWake: make(chan struct{}, 1),
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	d.started = d.now()
	m, err := newMetrics(d, cfg.Registerer)
	if err != nil {
		return nil, err
	}
	d.met = m
	return d, nil
}

// AddDevice adds a modem to the pool (or replaces the device of one of the
// same name). Its worker starts now if Run is running, else when Run starts.
func (d *Dispatcher) AddDevice(dev Device, mc ModemConfig) {
	if mc.Name == "" {
		mc.Name = dev.Name()
	}
	pc := d.cfg.Pacing
	if mc.Pacing != nil {
		pc = *mc.Pacing
	}
	d.mu.Lock()
	_, exists := d.modems[mc.Name]
	d.mu.Unlock()
	if exists {
		// A new device for the same name: retire the old worker first
		// (the budget carries over through d.budgets).
		d.RemoveDevice(mc.Name)
	}
	st := dev.Status()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.modems[mc.Name] != nil {
		return // a concurrent AddDevice won
	}
	m := &modemEntry{
		name:         mc.Name,
		groups:       slices.Clone(mc.Groups),
		dev:          dev,
		pacer:        newPacer(pc, d.cfg.Location),
		customPacing: mc.Pacing != nil,
		usable:       st.Usable(),
		state:        st.State,
		wake:         make(chan struct{}, 1),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	if !m.usable {
		m.unusableSince = d.now()
	}
	if u, ok := d.budgets[mc.Name]; ok {
		m.pacer.usage = u
		m.restoreHoldLocked(u.Hold)
	}
	d.modems[mc.Name] = m
	d.order = append(d.order, mc.Name)
	delete(d.removed, mc.Name)
	if d.running && d.runCtx != nil {
		d.startWorkerLocked(m)
	}
}

// RemoveDevice takes a modem out of the pool; its queued messages wait for
// it (sticky) until StickyTimeout, then move. An in-flight send finishes.
func (d *Dispatcher) RemoveDevice(name string) {
	d.mu.Lock()
	m := d.modems[name]
	if m == nil {
		d.mu.Unlock()
		return
	}
	delete(d.modems, name)
	d.budgets[name] = m.pacer.usage
	d.order = slices.DeleteFunc(d.order, func(s string) bool { return s == name })
	d.removed[name] = d.now()
	close(m.stop)
	runs := m.runs
	d.mu.Unlock()
	if runs {
		<-m.done
	}
	d.saveBudget(m)
}

// SetPacing replaces the default pacing for every modem without its own.
func (d *Dispatcher) SetPacing(pc PacingConfig) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cfg.Pacing = pc
	for _, m := range d.modems {
		if !m.customPacing {
			m.pacer.cfg = pc
		}
		m.poke()
	}
}

// UpdateModemConfig changes a modem's groups and pacing (SIGHUP reload).
func (d *Dispatcher) UpdateModemConfig(mc ModemConfig) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.modems[mc.Name]
	if m == nil {
		return fmt.Errorf("modem %q: %w", mc.Name, ErrNoModem)
	}
	m.groups = slices.Clone(mc.Groups)
	if mc.Pacing != nil {
		m.pacer.cfg = *mc.Pacing
		m.customPacing = true
	} else {
		m.pacer.cfg = d.cfg.Pacing
		m.customPacing = false
	}
	m.poke()
	return nil
}

func (d *Dispatcher) startWorkerLocked(m *modemEntry) {
	if m.runs {
		return
	}
	m.runs = true
	d.wg.Add(1)
	go d.work(d.runCtx, m)
}

// Submit validates req, stores the message durably and queues it. The
// returned message is as stored. A reused IdempotencyKey with the same
// RequestHash returns the message first stored (no new one); with another
// hash it fails with ErrIdempotencyMismatch.
func (d *Dispatcher) Submit(ctx context.Context, req SendRequest) (*Message, error) {
	msg, err := d.build(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := d.st.CreateMessage(ctx, msg); err != nil {
		if errors.Is(err, ErrExists) && msg.IdempotencyKey != "" {
			old, gerr := d.st.MessageByIdempotencyKey(ctx, msg.IdempotencyKey)
			if gerr != nil {
				return nil, fmt.Errorf("submit: %w", gerr)
			}
			if old.RequestHash != msg.RequestHash {
				return nil, ErrIdempotencyMismatch
			}
			return old, nil
		}
		return nil, fmt.Errorf("submit: store: %w", err)
	}
	d.met.accepted.Inc()
	if err := d.enqueue(ctx, msg); err != nil {
		// Stored; Run will pick it up at the next start.
		d.log.Warn("queue after store", "id", msg.ID, "err", err)
	}
	return msg, nil
}

// build validates and encodes req into a new queued message.
func (d *Dispatcher) build(ctx context.Context, req SendRequest) (*Message, error) {
	if req.To == "" {
		return nil, Invalid("to", "must not be empty")
	}
	if req.Body == "" {
		return nil, Invalid("body", "must not be empty")
	}
	if req.Priority < MinPriority || req.Priority > MaxPriority {
		return nil, Invalid("priority", "must be between %d and %d", MinPriority, MaxPriority)
	}
	if req.Validity < 0 || req.Validity > MaxValidity {
		return nil, Invalid("validity", "must be between 0 and %s", MaxValidity)
	}
	now := d.now()
	if !req.SendAt.IsZero() && req.SendAt.After(now.Add(MaxSchedule)) {
		return nil, Invalid("send_at", "must be within %d days", int(MaxSchedule/(24*time.Hour)))
	}
	var window *TextingWindow
	if req.TextingWindow != nil && !req.TextingWindow.IsZero() {
		if err := req.TextingWindow.Validate(); err != nil {
			return nil, err
		}
		w := *req.TextingWindow
		window = &w
	}
	to, err := NormalizeNumber(req.To, d.cfg.DefaultRegion)
	if err != nil {
		return nil, err
	}
	if req.From != "" && !d.knownFrom(req.From) {
		return nil, Invalid("from", "no modem or group named %q", req.From)
	}
	exempt := OptOutExempt(ctx)
	if !exempt {
		out, err := d.st.OptedOut(ctx, to)
		if err != nil {
			return nil, fmt.Errorf("submit: opt-out check: %w", err)
		}
		if out {
			return nil, ErrOptedOut
		}
	}
	req.Metadata = exemptMetadata(req.Metadata, exempt)
	srr := d.cfg.StatusReports
	if req.StatusReport != nil {
		srr = *req.StatusReport
	}
	enc, err := EncodeSubmit(to, req.Body, srr, rand.IntN(255)+1)
	if err != nil {
		return nil, err
	}
	msg := &Message{
		ID:             ulid.Make().String(),
		Direction:      Outbound,
		Contact:        to,
		ContactRaw:     req.To,
		From:           req.From,
		Body:           req.Body,
		Agent:          req.Agent,
		Encoding:       enc.Encoding,
		Segments:       len(enc.PDUs),
		Priority:       req.Priority,
		SendAt:         req.SendAt,
		TextingWindow:  window,
		Metadata:       req.Metadata,
		CallbackURL:    req.CallbackURL,
		AtLeastOnce:    req.AtLeastOnce,
		StatusReport:   srr,
		Status:         StatusQueued,
		IdempotencyKey: req.IdempotencyKey,
		RequestHash:    req.RequestHash,
		APIKeyID:       req.APIKeyID,
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	if req.Validity > 0 {
		msg.ExpiresAt = now.Add(req.Validity)
		if !req.SendAt.IsZero() && !req.SendAt.Before(msg.ExpiresAt) {
			return nil, Invalid("send_at", "is after the message expires")
		}
	}
	for i, p := range enc.PDUs {
		msg.Parts = append(msg.Parts, Part{Seq: i + 1, PDU: p, State: PartQueued, MR: -1, ReportStatus: -1, UpdatedAt: now})
	}
	return msg, nil
}

// knownFrom reports whether s names a modem or a group.
func (d *Dispatcher) knownFrom(s string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.modems[s]; ok {
		return true
	}
	for _, m := range d.modems {
		if m.inGroup(s) {
			return true
		}
	}
	return false
}

// enqueue puts a stored message's pending parts into the in-memory queue,
// pinning it to its contact's SIM, the modem it names or the modem that sent
// its first parts.
func (d *Dispatcher) enqueue(ctx context.Context, msg *Message) error {
	pending := 0
	submitted := false
	for _, p := range msg.Parts {
		switch p.State {
		case PartQueued, PartAssigned:
			pending++
		case PartSubmitted, PartDelivered:
			submitted = true
		}
	}
	if pending == 0 || msg.Status.Terminal() {
		return nil
	}
	d.mu.Lock()
	_, known := d.bound[msg.Contact]
	d.mu.Unlock()
	var sticky string
	if !known {
		s, err := d.st.Sticky(ctx, msg.Contact)
		switch {
		case err == nil:
			sticky = s.Modem
		case errors.Is(err, ErrNotFound):
		default:
			// Queue it anyway (never strand an accepted message); the
			// binding is read again when it is sent.
			d.log.Error("read sticky binding", "id", msg.ID, "err", err)
		}
	}
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, dup := d.byID[msg.ID]; dup {
		return nil
	}
	if sticky != "" {
		if _, ok := d.bound[msg.Contact]; !ok {
			d.bound[msg.Contact] = sticky
		}
	}
	it := &item{
		id:      msg.ID,
		contact: msg.Contact,
		from:    msg.From,
		prio:    int32(msg.Priority),
		parts:   int16(pending),
		created: msg.CreatedAt.UnixNano(),
	}
	d.seq++
	it.seq = d.seq
	ready := msg.SendAt
	if msg.NextAttemptAt.After(ready) {
		ready = msg.NextAttemptAt
	}
	if !ready.IsZero() {
		it.readyAt = ready.UnixNano()
	}
	if !msg.ExpiresAt.IsZero() {
		it.expires = msg.ExpiresAt.UnixNano()
	}
	_, fromModem := d.modems[msg.From]
	switch {
	case msg.From != "" && fromModem:
		it.pinned, it.explicit = msg.From, true
	case submitted && msg.Modem != "":
		it.pinned = msg.Modem // later parts go out through the same SIM
	default:
		if b := d.bound[msg.Contact]; b != "" && !d.goneLocked(b, now) {
			if msg.From == "" || d.inGroupLocked(b, msg.From) {
				it.pinned = b
			}
		}
	}
	d.byID[msg.ID] = it
	d.pushLocked(it, now)
	return nil
}

func (d *Dispatcher) inGroupLocked(modem, group string) bool {
	m := d.modems[modem]
	return m != nil && m.inGroup(group)
}

// Cancel cancels a message whose parts have not started to go out. Once a
// part is submitting or further it fails with ErrNotCancellable.
func (d *Dispatcher) Cancel(ctx context.Context, id string) (*Message, error) {
	d.mu.Lock()
	it := d.byID[id]
	queued := it != nil && (it.where == inReady || it.where == inDelayed)
	if queued {
		d.removeLocked(it)
	}
	d.mu.Unlock()
	now := d.now()
	msg, err := d.st.UpdateMessage(ctx, id, func(m *Message) error {
		if m.Direction != Outbound || m.Status.Terminal() {
			return ErrNotCancellable
		}
		for _, p := range m.Parts {
			switch p.State {
			case PartQueued, PartAssigned:
			default:
				return ErrNotCancellable
			}
		}
		for i := range m.Parts {
			m.Parts[i].State = PartCancelled
			m.Parts[i].UpdatedAt = now
		}
		m.Status = RollUp(m.Parts)
		m.UpdatedAt = now
		return nil
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		if queued && d.byID[id] == it {
			d.pushLocked(it, now) // still ours to send
		}
		if errors.Is(err, ErrNotCancellable) || errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("cancel: %w", err)
	}
	if queued && d.byID[id] == it {
		delete(d.byID, id)
	}
	return msg, nil
}

// Pause stops modem name from taking messages, until until (zero: until
// Resume). Its queued messages wait for it.
func (d *Dispatcher) Pause(name, reason string, until time.Time) error {
	d.mu.Lock()
	m := d.modems[name]
	if m == nil {
		d.mu.Unlock()
		return fmt.Errorf("modem %q: %w", name, ErrNoModem)
	}
	m.paused, m.pauseReason, m.pausedUntil = true, reason, until
	m.pacer.dirty = true
	d.mu.Unlock()
	d.saveBudget(m)
	d.log.Info("modem paused", "modem", name, "reason", reason, "until", until)
	d.emit(Event{Type: EventModemPaused, Modem: name, Data: map[string]any{"reason": reason, "until": until}})
	return nil
}

// Resume lifts a pause and a drain.
func (d *Dispatcher) Resume(name string) error {
	d.mu.Lock()
	m := d.modems[name]
	if m == nil {
		d.mu.Unlock()
		return fmt.Errorf("modem %q: %w", name, ErrNoModem)
	}
	was := m.paused
	m.paused, m.pauseReason, m.pausedUntil, m.draining = false, "", time.Time{}, false
	m.pacer.dirty = true
	m.counters.ConsecutiveFails, m.cms500 = 0, 0
	m.poke()
	d.mu.Unlock()
	d.saveBudget(m)
	if was {
		d.log.Info("modem resumed", "modem", name)
		d.emit(Event{Type: EventModemResumed, Modem: name})
	}
	return nil
}

// Drain makes modem name take no new contacts; it finishes its own queue
// (contacts already bound to it). Resume ends the drain.
func (d *Dispatcher) Drain(name string) error {
	d.mu.Lock()
	m := d.modems[name]
	if m == nil {
		d.mu.Unlock()
		return fmt.Errorf("modem %q: %w", name, ErrNoModem)
	}
	m.draining = true
	m.pacer.dirty = true
	d.mu.Unlock()
	d.saveBudget(m)
	return nil
}

// Modems returns every modem's view, in the order they were added.
func (d *Dispatcher) Modems() []ModemView {
	d.mu.Lock()
	ms := make([]*modemEntry, 0, len(d.order))
	for _, n := range d.order {
		ms = append(ms, d.modems[n])
	}
	d.mu.Unlock()
	out := make([]ModemView, 0, len(ms))
	for _, m := range ms {
		out = append(out, d.view(m))
	}
	return out
}

// Modem returns one modem's view, or ErrNoModem.
func (d *Dispatcher) Modem(name string) (ModemView, error) {
	d.mu.Lock()
	m := d.modems[name]
	d.mu.Unlock()
	if m == nil {
		return ModemView{}, fmt.Errorf("modem %q: %w", name, ErrNoModem)
	}
	return d.view(m), nil
}

func (d *Dispatcher) view(m *modemEntry) ModemView {
	info, st := m.dev.Info(), m.dev.Status() // outside d.mu: devices lock themselves
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	return ModemView{
		Name:        m.name,
		Groups:      slices.Clone(m.groups),
		Info:        info,
		Status:      st,
		Paused:      m.paused,
		PauseReason: m.pauseReason,
		PausedUntil: m.pausedUntil,
		Draining:    m.draining,
		Budget:      m.pacer.view(now),
		Counters:    m.counters,
		Queued:      d.queuedForLocked(m.name),
	}
}

// DeviceChanged records a modem's new status (DeviceObserver) and emits
// modem.up / modem.down when it starts or stops being usable.
func (d *Dispatcher) DeviceChanged(name string, st ModemStatus) {
	if ev, ok := d.observe(name, st); ok {
		d.emit(ev)
	}
}

// observe updates m's usability; it returns an event on a transition.
func (d *Dispatcher) observe(name string, st ModemStatus) (Event, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.modems[name]
	if m == nil {
		return Event{}, false
	}
	u := st.Usable()
	m.state = st.State
	if u == m.usable {
		return Event{}, false
	}
	m.usable = u
	if u {
		m.unusableSince = time.Time{}
		m.poke()
		return Event{Type: EventModemUp, Modem: name, Data: map[string]any{"state": st.State}}, true
	}
	m.unusableSince = d.now()
	return Event{Type: EventModemDown, Modem: name, Data: map[string]any{"state": st.State, "error": st.LastError}}, true
}

func (d *Dispatcher) emit(e Event) {
	if d.em == nil {
		return
	}
	if e.ID == "" {
		e.ID = ulid.Make().String()
	}
	if e.Time.IsZero() {
		e.Time = d.now()
	}
	d.em.Emit(context.Background(), e)
}

// CountReceived counts an inbound message stored from modem (for
// ModemView.Counters.Received). The Inbox calls it.
func (d *Dispatcher) CountReceived(modem string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if m := d.modems[modem]; m != nil {
		m.counters.Received++
	}
}
