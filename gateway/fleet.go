package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// ModemConfig is how the gateway uses one modem.
type ModemConfig struct {
	Name   string        // must equal Device.Name()
	Groups []string      // groups the modem belongs to (SendRequest.From may name one)
	Pacing *PacingConfig // nil = Config.Pacing
}

// budgetStore is what the fleet keeps durably: each modem's budget usage
// with its pause or drain, and the SIM inventory (sims.go).
type budgetStore interface {
	Budgets(ctx context.Context) (map[string]BudgetUsage, error)
	SaveBudget(ctx context.Context, modem string, u BudgetUsage) error
	SIMStore
}

// fleet is the modems the gateway sends through and each one's state as
// the gateway sees it: usable or not (and since when), paused or draining,
// its pacer and daily budgets, its counters. It is the one owner of that
// state: every pause, resume, drain, automatic pause and pause expiry goes
// through setHoldLocked or unpauseLocked, and the hold is saved with the
// budget usage so that a restart keeps it.
//
// Concurrency: f.mu guards the map and every mutable field of every
// modemEntry. The fleet never calls the queue, the store or the emitter
// while holding f.mu; the LocalQueue calls the fleet (gone, inGroup ...)
// while holding its own lock, so the lock order is queue, then fleet.
type fleet struct {
	log  *slog.Logger
	now  func() time.Time
	st   budgetStore
	emit func(Event)
	wake func(modem string) // wakes the modem's idle worker (set once, before use)

	mu            sync.Mutex
	pacing        PacingConfig // Config.Pacing, for modems without their own
	loc           *time.Location
	stickyTimeout time.Duration
	pauseAfter    int // Config.PauseAfterFailures
	cms500Burst   int
	pauseFor      time.Duration
	modems        map[string]*modemEntry
	order         []string             // modem names in the order they were added
	removed       map[string]time.Time // modems removed, and when
	usage         map[string]BudgetUsage
	sims          map[string]*simEntry // the SIM inventory, by SIM ID (sims.go)
	since         time.Time            // when the fleet was made (a modem never seen is gone StickyTimeout after)
}

// modemEntry is one modem in the fleet. name and dev never change; stop
// and done are channels; every other field is guarded by fleet.mu.
type modemEntry struct {
	name   string
	groups []string
	dev    Device
	pacer  *pacer
	// customPacing: the modem's own pacing, not Config.Pacing.
	customPacing bool

	paused      bool
	pauseReason string
	pausedUntil time.Time
	draining    bool

	usable        bool        // last seen Status().Usable()
	state         ModemState  // last seen state
	status        ModemStatus // last seen status (the health preference reads it, not the device)
	unusableSince time.Time   // when it stopped being usable; zero while usable

	counters Counters
	cms500   int // consecutive +CMS ERROR: 500

	// sim is the ID of the SIM in the modem as the inventory has it ("":
	// none known); simGone: the SIM it had was found in another modem;
	// rebinding: a new SIM's contacts are being moved (no sends meanwhile).
	sim       string
	simGone   bool
	rebinding bool

	stop chan struct{} // closed by remove
	done chan struct{} // closed when the worker returned
	runs bool          // a worker goroutine was started
}

func (m *modemEntry) inGroup(g string) bool { return slices.Contains(m.groups, g) }

func newFleet(cfg Config, st budgetStore, log *slog.Logger, now func() time.Time, emit func(Event)) *fleet {
	return &fleet{
		log: log, now: now, st: st, emit: emit,
		pacing:        cfg.Pacing,
		loc:           cfg.Location,
		stickyTimeout: cfg.StickyTimeout,
		pauseAfter:    cfg.PauseAfterFailures,
		cms500Burst:   cfg.CMS500Burst,
		pauseFor:      cfg.PauseFor,
		modems:        map[string]*modemEntry{},
		removed:       map[string]time.Time{},
		usage:         map[string]BudgetUsage{},
		sims:          map[string]*simEntry{},
		since:         now(),
	}
}

// add puts a modem in the fleet; false if one of the same name is there
// (remove it first).
func (f *fleet) add(dev Device, mc ModemConfig) (*modemEntry, bool) {
	st := dev.Status()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.modems[mc.Name] != nil {
		return nil, false
	}
	pc := f.pacing
	if mc.Pacing != nil {
		pc = *mc.Pacing
	}
	m := &modemEntry{
		name:         mc.Name,
		groups:       slices.Clone(mc.Groups),
		dev:          dev,
		pacer:        newPacer(pc, f.loc),
		customPacing: mc.Pacing != nil,
		usable:       st.Usable(),
		state:        st.State,
		status:       st,
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	if !m.usable {
		m.unusableSince = f.now()
	}
	if u, ok := f.usage[mc.Name]; ok {
		f.restoreLocked(m, u)
	}
	f.bindStoredSIMLocked(m)
	f.modems[mc.Name] = m
	f.order = append(f.order, mc.Name)
	delete(f.removed, mc.Name)
	return m, true
}

// remove takes modem name out of the fleet and closes its stop channel;
// its budget usage is kept for a later add of the same name.
func (f *fleet) remove(name string) *modemEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.modems[name]
	if m == nil {
		return nil
	}
	delete(f.modems, name)
	f.keepSIMLocked(m)
	u := m.pacer.usage
	u.Hold = m.holdLocked()
	f.usage[name] = u
	f.order = slices.DeleteFunc(f.order, func(s string) bool { return s == name })
	f.removed[name] = f.now()
	close(m.stop)
	return m
}

// restore applies the stored budget usage (and holds) of every modem.
func (f *fleet) restore(usage map[string]BudgetUsage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, u := range usage {
		f.usage[n] = u
		if m := f.modems[n]; m != nil {
			f.restoreLocked(m, u)
		}
	}
}

func (f *fleet) restoreLocked(m *modemEntry, u BudgetUsage) {
	m.pacer.usage = u
	m.pacer.usage.Hold = nil
	if h := u.Hold; h != nil {
		m.paused, m.pauseReason, m.pausedUntil, m.draining = h.Paused, h.Reason, h.Until, h.Draining
	}
}

func (f *fleet) get(name string) *modemEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.modems[name]
}

// list returns the modems in the order they were added.
func (f *fleet) list() []*modemEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := make([]*modemEntry, 0, len(f.order))
	for _, n := range f.order {
		ms = append(ms, f.modems[n])
	}
	return ms
}

// setPacing replaces the default pacing of every modem without its own.
func (f *fleet) setPacing(pc PacingConfig) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pacing = pc
	for _, m := range f.modems {
		if !m.customPacing {
			m.pacer.cfg = pc
		}
	}
}

// reconfigure changes a modem's groups and pacing.
func (f *fleet) reconfigure(mc ModemConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.modems[mc.Name]
	if m == nil {
		return fmt.Errorf("modem %q: %w", mc.Name, ErrNoModem)
	}
	m.groups = slices.Clone(mc.Groups)
	if mc.Pacing != nil {
		m.pacer.cfg, m.customPacing = *mc.Pacing, true
	} else {
		m.pacer.cfg, m.customPacing = f.pacing, false
	}
	return nil
}

// Holds: the one place a modem's pause and drain change.

// setHoldLocked pauses m (until until; zero = until resumed). f.mu held.
func (m *modemEntry) setHoldLocked(reason string, until time.Time) {
	m.paused, m.pauseReason, m.pausedUntil = true, reason, until
	m.pacer.dirty = true
}

// unpauseLocked lifts m's pause (and with drain its drain) and forgets its
// failure streaks, so that one more failure does not pause it again at
// once. It reports whether m was paused. f.mu held.
func (m *modemEntry) unpauseLocked(drain bool) bool {
	was := m.paused
	m.paused, m.pauseReason, m.pausedUntil = false, "", time.Time{}
	if drain {
		m.draining = false
	}
	m.counters.ConsecutiveFails, m.cms500 = 0, 0
	m.pacer.dirty = true
	return was
}

// holdLocked is m's pause or drain as it is stored; nil when neither.
func (m *modemEntry) holdLocked() *ModemHold {
	if !m.paused && !m.draining {
		return nil
	}
	return &ModemHold{Paused: m.paused, Reason: m.pauseReason, Until: m.pausedUntil, Draining: m.draining}
}

// pause pauses modem name and saves the hold.
func (f *fleet) pause(name, reason string, until time.Time) error {
	f.mu.Lock()
	m := f.modems[name]
	if m == nil {
		f.mu.Unlock()
		return fmt.Errorf("modem %q: %w", name, ErrNoModem)
	}
	m.setHoldLocked(reason, until)
	f.mu.Unlock()
	f.save(m)
	f.log.Info("modem paused", "modem", name, "reason", reason, "until", until)
	f.emit(Event{Type: EventModemPaused, Modem: name, Data: ModemPausedData{Reason: reason, Until: until}})
	return nil
}

// resume lifts modem name's pause and drain and saves that.
func (f *fleet) resume(name string) error {
	f.mu.Lock()
	m := f.modems[name]
	if m == nil {
		f.mu.Unlock()
		return fmt.Errorf("modem %q: %w", name, ErrNoModem)
	}
	was := m.unpauseLocked(true)
	f.mu.Unlock()
	f.save(m)
	f.wake(name)
	if was {
		f.log.Info("modem resumed", "modem", name)
		f.emit(Event{Type: EventModemResumed, Modem: name})
	}
	return nil
}

// drain makes modem name take no new contacts and saves that.
func (f *fleet) drain(name string) error {
	f.mu.Lock()
	m := f.modems[name]
	if m == nil {
		f.mu.Unlock()
		return fmt.Errorf("modem %q: %w", name, ErrNoModem)
	}
	m.draining = true
	m.pacer.dirty = true
	f.mu.Unlock()
	f.save(m)
	return nil
}

// liftExpiredPauses ends the pauses whose time is up and names the modems.
func (f *fleet) liftExpiredPauses(now time.Time) []string {
	f.mu.Lock()
	var names []string
	for _, n := range f.order {
		m := f.modems[n]
		if m.paused && !m.pausedUntil.IsZero() && !now.Before(m.pausedUntil) {
			m.unpauseLocked(false)
			names = append(names, n)
		}
	}
	f.mu.Unlock()
	for _, n := range names {
		f.wake(n)
		f.emit(Event{Type: EventModemResumed, Modem: n, Data: ModemResumedData{Reason: "pause expired"}})
	}
	return names
}

// noteFailure counts a failed send against m and pauses it after
// PauseAfterFailures in a row or a CMS500Burst of +CMS ERROR: 500.
func (f *fleet) noteFailure(m *modemEntry, se *SendError, now time.Time) {
	f.mu.Lock()
	m.counters.Failed++
	m.counters.ConsecutiveFails++
	f.countSIMLocked(m, func(c *SIMCounters) { c.Failed++ })
	if se.CMS == 500 {
		m.cms500++
	} else {
		m.cms500 = 0
	}
	var reason string
	switch {
	case m.paused:
	case f.cms500Burst > 0 && m.cms500 >= f.cms500Burst:
		reason = fmt.Sprintf("%d consecutive +CMS ERROR: 500: possible carrier block", m.cms500)
	case f.pauseAfter > 0 && m.counters.ConsecutiveFails >= f.pauseAfter:
		reason = fmt.Sprintf("%d consecutive send failures (last %s): possible carrier block", m.counters.ConsecutiveFails, se.Class())
	}
	until := now.Add(f.pauseFor)
	if reason != "" {
		m.setHoldLocked(reason, until)
	}
	f.mu.Unlock()
	if reason != "" {
		f.save(m)
		f.log.Warn("modem paused", "modem", m.name, "reason", reason, "until", until)
		f.emit(Event{Type: EventModemPaused, Modem: m.name, Data: ModemPausedData{Reason: reason, Until: until}})
	}
}

// noteSent counts a submitted part and ends m's failure streaks.
func (f *fleet) noteSent(m *modemEntry) {
	month := f.now().In(f.location()).Format("2006-01")
	f.mu.Lock()
	m.counters.Sent++
	m.counters.ConsecutiveFails, m.cms500 = 0, 0
	f.countSIMLocked(m, func(c *SIMCounters) {
		if c.Month != month {
			c.Month, c.MonthParts = month, 0
		}
		c.Sent++
		c.MonthParts++
	})
	f.mu.Unlock()
}

// noteDelivered counts a delivered part of modem name.
func (f *fleet) noteDelivered(name string) {
	f.mu.Lock()
	if m := f.modems[name]; m != nil {
		m.counters.Delivered++
		f.countSIMLocked(m, func(c *SIMCounters) { c.Delivered++ })
	}
	f.mu.Unlock()
}

// countReceived counts an inbound message stored from modem name.
func (f *fleet) countReceived(name string) {
	f.mu.Lock()
	if m := f.modems[name]; m != nil {
		m.counters.Received++
		f.countSIMLocked(m, func(c *SIMCounters) { c.Received++ })
	}
	f.mu.Unlock()
}

// observe records modem name's status; it returns modem.up or modem.down
// when the modem starts or stops being usable.
func (f *fleet) observe(name string, st ModemStatus) (Event, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.modems[name]
	if m == nil {
		return Event{}, false
	}
	u := st.Usable()
	m.state = st.State
	m.status = st
	if u == m.usable {
		return Event{}, false
	}
	m.usable = u
	if u {
		m.unusableSince = time.Time{}
		return Event{Type: EventModemUp, Modem: name, Data: ModemUpData{State: st.State}}, true
	}
	m.unusableSince = f.now()
	return Event{Type: EventModemDown, Modem: name, Data: ModemDownData{State: st.State, Error: st.LastError}}, true
}

// poll reads m's device status and records it (see changed).
func (f *fleet) poll(m *modemEntry) { f.changed(m.name, m.dev.Status()) }

// changed records modem name's status, emits modem.up or modem.down on a
// transition, and wakes the modem's worker when it came up.
func (f *fleet) changed(name string, st ModemStatus) {
	ev, ok := f.observe(name, st)
	if !ok {
		return
	}
	if ev.Type == EventModemUp {
		f.wake(name)
	}
	f.emit(ev)
}

// sendable reports whether m is usable and not paused (its pacer aside).
func (f *fleet) sendable(m *modemEntry) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return m.usable && !m.paused
}

// Pacing and budgets of one modem.

// ready reports whether m may start a send at now; if not because of its
// pacer, wait is how long until it may (0 when it cannot send at all:
// paused or not usable).
func (f *fleet) ready(m *modemEntry, now time.Time) (ok bool, wait time.Duration) {
	id := SIMID(m.dev.Info()) // outside f.mu: devices lock themselves
	f.mu.Lock()
	defer f.mu.Unlock()
	if m.paused || !m.usable || m.rebinding || (id != "" && id != m.sim) {
		return false, 0 // a new SIM waits for identify
	}
	if at := m.pacer.readyAt(now); at.After(now) {
		return false, at.Sub(now)
	}
	return true, 0
}

// claimRequest is what m may claim now.
func (f *fleet) claimRequest(m *modemEntry, now time.Time) ClaimRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return ClaimRequest{
		Modem:       m.name,
		SIM:         m.sim,
		Groups:      m.groups,
		PartsLeft:   m.pacer.partsLeft(now),
		NewContacts: m.pacer.newContactsLeft(now) > 0,
		Draining:    m.draining,
		Now:         now,
	}
}

// addNewContact counts a contact first texted from m.
func (f *fleet) addNewContact(m *modemEntry, now time.Time) {
	f.mu.Lock()
	m.pacer.addNewContact(now)
	f.mu.Unlock()
}

// started counts a part whose send starts on m; no other may start on m
// until done.
func (f *fleet) started(m *modemEntry, now time.Time) {
	f.mu.Lock()
	m.pacer.started(now)
	f.mu.Unlock()
}

// done records the end of m's send and when the next may start.
func (f *fleet) done(m *modemEntry, now time.Time) {
	f.mu.Lock()
	m.pacer.done(now)
	f.mu.Unlock()
}

// eager reports whether m is paced fast enough (at most prefetchBelow
// between sends) for its worker to claim the next message while a send is
// on the wire. With a person's pace, claiming early would only keep the
// message from a SIM that is free sooner.
func (f *fleet) eager(m *modemEntry) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return m.pacer.cfg.MinInterval+m.pacer.cfg.Jitter <= prefetchBelow
}

// prefetchBelow: modems paced at most this much between sends claim their
// next message while a send is on the wire.
const prefetchBelow = 50 * time.Millisecond

// save stores m's budget usage and hold if they changed.
func (f *fleet) save(m *modemEntry) {
	f.mu.Lock()
	if !m.pacer.dirty {
		f.mu.Unlock()
		return
	}
	u := m.pacer.usage
	u.Hold = m.holdLocked()
	m.pacer.dirty = false
	f.mu.Unlock()
	if err := f.st.SaveBudget(context.Background(), m.name, u); err != nil {
		f.log.Error("save budget", "modem", m.name, "err", err)
		f.mu.Lock()
		m.pacer.dirty = true
		f.mu.Unlock()
		return
	}
	f.mu.Lock()
	sim := m.sim != ""
	if sim {
		e := f.sims[m.sim]
		if e != nil {
			e.rec.Budget, e.dirty = u, true
		}
	}
	f.mu.Unlock()
	if sim {
		f.saveSIMs()
	}
}

// saveAll saves every modem's changed budget usage.
func (f *fleet) saveAll() {
	for _, m := range f.list() {
		f.save(m)
	}
	f.saveSIMs()
}

// What the queue asks of the fleet (ModemDirectory).

// Gone reports whether modem name has been unusable (or absent) for longer
// than StickyTimeout, so that its contacts may move.
func (f *fleet) Gone(name string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.goneLocked(name, now)
}

func (f *fleet) goneLocked(name string, now time.Time) bool {
	m := f.modems[name]
	if m == nil {
		since, ok := f.removed[name]
		if !ok {
			since = f.since
		}
		return now.Sub(since) > f.stickyTimeout
	}
	return !m.usable && !m.unusableSince.IsZero() && now.Sub(m.unusableSince) > f.stickyTimeout
}

// InGroup reports whether modem name is in group.
func (f *fleet) InGroup(name, group string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.modems[name]
	return m != nil && m.inGroup(group)
}

// IsModem reports whether name is a modem of the fleet.
func (f *fleet) IsModem(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.modems[name] != nil
}

// OtherUsable reports whether a modem other than name could send now.
func (f *fleet) OtherUsable(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, o := range f.modems {
		if n != name && o.usable && !o.paused {
			return true
		}
	}
	return false
}

// Modems names the modems of the fleet, in the order they were added.
func (f *fleet) Modems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.order)
}

// knownFrom reports whether s names a modem or a group.
func (f *fleet) knownFrom(s string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.modems[s]; ok {
		return true
	}
	for _, m := range f.modems {
		if m.inGroup(s) {
			return true
		}
	}
	return false
}

// view is m as operators see it; queued is the parts waiting for it.
func (f *fleet) view(m *modemEntry, queued int) ModemView {
	info, st := m.dev.Info(), m.dev.Status() // outside f.mu: devices lock themselves
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	_, present := f.modems[m.name]
	return ModemView{
		Name:        m.name,
		SIM:         m.sim,
		Groups:      slices.Clone(m.groups),
		Info:        info,
		Status:      st,
		Usable:      present && st.Usable() && !m.paused,
		Paused:      m.paused,
		PauseReason: m.pauseReason,
		PausedUntil: m.pausedUntil,
		Draining:    m.draining,
		Budget:      m.pacer.view(now),
		Counters:    m.counters,
		Queued:      queued,
	}
}

// blocked says why modem name cannot send a message of parts parts now
// ("" when it can, pacing aside).
func (f *fleet) blocked(name string, parts int, now time.Time) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.modems[name]
	switch {
	case m == nil:
		return "not in the pool (removed or unplugged)"
	case m.paused && !m.pausedUntil.IsZero():
		return fmt.Sprintf("paused until %s: %s", m.pausedUntil.UTC().Format(time.RFC3339), m.pauseReason)
	case m.paused:
		return "paused: " + m.pauseReason
	case !m.usable:
		return "not usable (" + string(m.state) + ")"
	case m.pacer.partsLeft(now) < parts:
		return "daily part budget used up"
	}
	return ""
}

// mayTakeNew reports whether m may take a contact it is not bound to.
func (f *fleet) mayTakeNew(m *modemEntry, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !m.draining && m.pacer.newContactsLeft(now) > 0
}

// count is the number of modems in group ("" = all).
func (f *fleet) count(group string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range f.modems {
		if group == "" || m.inGroup(group) {
			n++
		}
	}
	return n
}
