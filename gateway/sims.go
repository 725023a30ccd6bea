package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The SIM inventory: which SIM is in which modem, and what belongs to the
// SIM rather than to the modem it happens to be in.
//
// A SIM is carrier state: its number, its daily budgets (parts and new
// contacts), its pause or drain (every automatic pause — failure streaks,
// +CMS ERROR: 500 bursts, a suspected carrier block, a low balance — is
// about the number, and an operator's drain retires a number), its sticky
// contacts, its counters, its balance readings and the carrier-block
// watch's record of it (blockwatch.go, keyed by watchKey). All of that
// follows the SIM when it is moved to another modem. A modem is hardware: its port,
// state, signal, registration, resets, AT timeouts, its configured groups
// and pacing, and its counters since the gateway started (ModemView).
//
// A SIM is known by its ICCID, or by "imsi:<IMSI>" when the modem reports
// no ICCID; a modem that reports neither keeps everything by its name, as
// before the inventory. A modem configured with an expected ICCID
// (modem.Config.ExpectedICCID) refuses to serve another SIM, so the
// inventory never sees a foreign SIM in it: the modem is down, and its
// SIM's contacts wait for it (StickyTimeout) as for any modem that is down.

// SIM is one SIM card as the gateway has seen it, across modems.
type SIM struct {
	// ID is the SIM's identity: its ICCID, or "imsi:" and its IMSI.
	ID     string `json:"id"`
	ICCID  string `json:"iccid,omitempty"`
	IMSI   string `json:"imsi,omitempty"`
	MSISDN string `json:"msisdn,omitempty"` // own number where the SIM knows it: a phone number, never logged
	// FirstSeen and LastSeen: when a modem first and last reported it.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Modem is the modem the SIM is in now ("" when it is in none: taken
	// out, or its modem holds another SIM); LastModem the last one it was in.
	Modem     string `json:"modem,omitempty"`
	LastModem string `json:"last_modem,omitempty"`
	// InsertedAt is when the SIM was last put into LastModem (seen there
	// after another SIM, or after none); with FirstSeen and Moves it says
	// which SIM sent what a modem sent, for the block watch's rebuild.
	InsertedAt time.Time `json:"inserted_at,omitzero"`
	// Counters are the SIM's totals over its life.
	Counters SIMCounters `json:"counters"`
	// Budget is the SIM's budget usage today, with its pause or drain.
	Budget BudgetUsage `json:"budget"`
	// Balance is the SIM's balance readings, oldest first, at most
	// MaxBalanceReadings.
	Balance []BalanceReading `json:"balance,omitempty"`
	// Moves records the modems the SIM was moved between, oldest first
	// (at most MaxSIMMoves).
	Moves []SIMMove `json:"moves,omitempty"`
}

// SIMCounters are a SIM's totals since the gateway first saw it.
type SIMCounters struct {
	Sent      int `json:"sent"` // parts submitted
	Failed    int `json:"failed"`
	Delivered int `json:"delivered"`
	Received  int `json:"received"`
	// Month is the calendar month (YYYY-MM, gateway time zone) of MonthParts:
	// the parts submitted in it.
	Month      string `json:"month,omitempty"`
	MonthParts int    `json:"month_parts"`
}

// BalanceReading is one balance the operator's balance code told.
type BalanceReading struct {
	Amount float64   `json:"amount"`
	At     time.Time `json:"at"`
	Modem  string    `json:"modem"` // the modem it was read through
}

// SIMMove is a SIM taken from one modem and found in another.
type SIMMove struct {
	From string    `json:"from"`
	To   string    `json:"to"`
	At   time.Time `json:"at"`
}

// History bounds of a SIM record.
const (
	MaxBalanceReadings = 50
	MaxSIMMoves        = 20
)

// SIMStore keeps the SIM inventory.
type SIMStore interface {
	// SIMs returns every stored SIM, by ID.
	SIMs(ctx context.Context) ([]SIM, error)
	// SaveSIM stores s (replacing the record of s.ID).
	SaveSIM(ctx context.Context, s SIM) error
	// RebindSIM moves the sticky contacts of SIM sim to modem to: every
	// binding whose SIM is sim, and every binding of modem from that has no
	// SIM yet (one made before the inventory; from "" = none), is set to
	// Modem to, SIM sim, in one transaction. It returns how many changed.
	RebindSIM(ctx context.Context, sim, from, to string) (int, error)
}

// SIMID is the inventory identity of the SIM a modem reports: its ICCID,
// else "imsi:" and its IMSI, else "" (unknown).
func SIMID(info ModemInfo) string {
	switch {
	case info.ICCID != "":
		return strings.ToUpper(info.ICCID)
	case info.IMSI != "":
		return "imsi:" + info.IMSI
	}
	return ""
}

// parkedName is the stand-in modem a SIM's contacts are bound to while the
// SIM is in no modem (taken out and its modem given another SIM). It is
// never a modem name (those cannot hold a space), and it names the SIM by
// a hash, not its ICCID, since it shows in logs.
func parkedName(sim string) string {
	h := sha256.Sum256([]byte(sim))
	return parkedPrefix + hex.EncodeToString(h[:6])
}

const parkedPrefix = "sim out "

// simEntry is one SIM in the fleet's inventory (guarded by fleet.mu).
type simEntry struct {
	rec   SIM
	dirty bool
	saved time.Time // when rec was last saved
}

// SIMView is a SIM as operators see it: its record, and while it is in a
// modem that modem's live state.
type SIMView struct {
	SIM
	// InModem: the SIM is in Modem now.
	InModem bool `json:"in_modem"`
	// Usable, Paused, PauseReason, PausedUntil, Draining, Health and
	// BudgetView are those of its modem while InModem.
	Usable      bool       `json:"usable"`
	Paused      bool       `json:"paused"`
	PauseReason string     `json:"pause_reason,omitempty"`
	PausedUntil time.Time  `json:"paused_until,omitzero"`
	Draining    bool       `json:"draining"`
	BudgetView  BudgetView `json:"budget_view"`
	Health      SIMHealth  `json:"health"`
}

// simChange is what identify found: a SIM that appeared in a modem. The
// Dispatcher applies it to the store and the queue (applySIMChange).
type simChange struct {
	modem string // the modem the SIM appeared in
	sim   string // its ID
	// holder is the stand-in or modem the SIM's contacts were bound to
	// ("" when the SIM is new, or adopted: already bound to modem).
	holder string
	adopt  bool // first SIM seen in the modem: its earlier bindings are the SIM's
	// left is the SIM that was in modem before, when it went nowhere
	// else: its contacts park (parkedName) until it shows up again.
	left string
}

// restoreSIMs loads the stored inventory: each SIM back in the modem it
// was last in (until that modem reports another).
func (f *fleet) restoreSIMs(recs []SIM) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range recs {
		f.sims[r.ID] = &simEntry{rec: r, saved: f.now()}
	}
	for _, m := range f.modems {
		f.bindStoredSIMLocked(m)
	}
}

// bindStoredSIMLocked gives m the SIM the inventory says is in it, with
// that SIM's budget and hold (which are the truth over m's own). f.mu held.
func (f *fleet) bindStoredSIMLocked(m *modemEntry) {
	if m.sim != "" {
		return
	}
	for id, e := range f.sims {
		if e.rec.Modem == m.name {
			m.sim = id
			f.loadSIMLocked(m, e)
			return
		}
	}
}

// loadSIMLocked makes e's budget and hold m's. f.mu held.
func (f *fleet) loadSIMLocked(m *modemEntry, e *simEntry) {
	u := e.rec.Budget
	m.pacer.usage = u
	m.pacer.usage.Hold = nil
	m.paused, m.pauseReason, m.pausedUntil, m.draining = false, "", time.Time{}, false
	if h := u.Hold; h != nil {
		m.paused, m.pauseReason, m.pausedUntil, m.draining = h.Paused, h.Reason, h.Until, h.Draining
	}
	m.counters.ConsecutiveFails, m.cms500 = 0, 0
	m.pacer.dirty = true
}

// keepSIMLocked copies m's budget and hold into the record of m's SIM. f.mu held.
func (f *fleet) keepSIMLocked(m *modemEntry) {
	e := f.sims[m.sim]
	if e == nil {
		return
	}
	u := m.pacer.usage
	u.Hold = m.holdLocked()
	e.rec.Budget, e.dirty = u, true
}

// identify compares the SIM m's device reports with the one the fleet
// has for m. When another SIM appeared it moves the budgets, hold and
// counters over (the SIM's own if the inventory knows it, fresh if not)
// and returns the change for the store and the queue; m sends nothing
// until applySIMChange has run (m.rebinding).
func (f *fleet) identify(m *modemEntry) (simChange, bool) {
	info := m.dev.Info() // outside f.mu: devices lock themselves
	id := SIMID(info)
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == "" || f.modems[m.name] != m {
		return simChange{}, false
	}
	if id == m.sim {
		if e := f.sims[id]; e != nil {
			e.rec.LastSeen = now
			if info.MSISDN != "" && info.MSISDN != e.rec.MSISDN {
				e.rec.MSISDN, e.dirty = info.MSISDN, true
			}
		}
		return simChange{}, false
	}
	ch := simChange{modem: m.name, sim: id}
	// The SIM that was in m leaves it.
	if old := m.sim; old != "" {
		f.keepSIMLocked(m)
		if e := f.sims[old]; e != nil && e.rec.Modem == m.name {
			e.rec.Modem, e.dirty = "", true
			ch.left = old
		}
	}
	e := f.sims[id]
	switch {
	case e == nil:
		e = &simEntry{rec: SIM{ID: id, FirstSeen: now}}
		f.sims[id] = e
		if m.sim == "" && !m.simGone {
			// The first SIM this modem reports, unknown to the inventory:
			// the one it has had all along (its name-keyed budget, hold
			// and bindings become the SIM's).
			ch.adopt = true
			u := m.pacer.usage
			u.Hold = m.holdLocked()
			e.rec.Budget = u
		}
	case e.rec.Modem != "" && e.rec.Modem != m.name:
		// Straight from another modem, which has not noticed yet.
		if o := f.modems[e.rec.Modem]; o != nil && o.sim == id {
			f.keepSIMLocked(o)
			o.sim, o.simGone = "", true
			f.loadSIMLocked(o, &simEntry{})
		}
		ch.holder = e.rec.Modem
	case e.rec.Modem == "" && e.rec.LastModem != "":
		ch.holder = parkedName(id)
	}
	if from := e.rec.LastModem; from != "" && from != m.name {
		e.rec.Moves = append(e.rec.Moves, SIMMove{From: from, To: m.name, At: now})
		if len(e.rec.Moves) > MaxSIMMoves {
			e.rec.Moves = slices.Delete(e.rec.Moves, 0, len(e.rec.Moves)-MaxSIMMoves)
		}
	}
	e.rec.ICCID, e.rec.IMSI = strings.ToUpper(info.ICCID), info.IMSI
	if info.MSISDN != "" {
		e.rec.MSISDN = info.MSISDN
	}
	e.rec.Modem, e.rec.LastModem, e.rec.LastSeen, e.rec.InsertedAt, e.dirty = m.name, m.name, now, now, true
	m.sim, m.simGone = id, false
	f.loadSIMLocked(m, e)
	if ch.left != "" && ch.left != id {
		f.removed[parkedName(ch.left)] = now // its contacts wait StickyTimeout for it
	}
	m.rebinding = true
	return ch, true
}

// rebound ends m's wait for applySIMChange.
func (f *fleet) rebound(name string) {
	f.mu.Lock()
	if m := f.modems[name]; m != nil {
		m.rebinding = false
	}
	f.mu.Unlock()
	f.wake(name)
}

// simOf is the ID of the SIM in modem name ("" unknown).
func (f *fleet) simOf(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.modems[name]; m != nil {
		return m.sim
	}
	return ""
}

// countSIMLocked applies fn to the counters of m's SIM. f.mu held.
func (f *fleet) countSIMLocked(m *modemEntry, fn func(c *SIMCounters)) {
	if e := f.sims[m.sim]; e != nil && m.sim != "" {
		fn(&e.rec.Counters)
		e.dirty = true
	}
}

// noteBalance records a balance read through modem name on its SIM.
func (f *fleet) noteBalance(name string, amount float64, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.modems[name]
	if m == nil {
		return
	}
	e := f.sims[m.sim]
	if e == nil || m.sim == "" {
		return
	}
	e.rec.Balance = append(e.rec.Balance, BalanceReading{Amount: amount, At: at, Modem: name})
	if len(e.rec.Balance) > MaxBalanceReadings {
		e.rec.Balance = slices.Delete(e.rec.Balance, 0, len(e.rec.Balance)-MaxBalanceReadings)
	}
	e.dirty = true
}

// simsToSave returns the changed SIM records (marking them saved) with
// the budget of the modem each is in; records unchanged for a minute but
// seen since are saved for their LastSeen.
func (f *fleet) simsToSave(now time.Time) []SIM {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.modems {
		if m.sim != "" && m.pacer.dirty {
			f.keepSIMLocked(m)
		}
	}
	var out []SIM
	for _, e := range f.sims {
		if e.dirty || (e.rec.LastSeen.After(e.saved) && now.Sub(e.saved) >= time.Minute) {
			e.dirty, e.saved = false, now
			out = append(out, cloneSIM(e.rec))
		}
	}
	return out
}

// saveSIMs stores the changed SIM records.
func (f *fleet) saveSIMs() {
	for _, s := range f.simsToSave(f.now()) {
		if err := f.st.SaveSIM(context.Background(), s); err != nil {
			f.log.Error("save sim", "modem", s.Modem, "err", err)
			f.mu.Lock()
			if e := f.sims[s.ID]; e != nil {
				e.dirty = true
			}
			f.mu.Unlock()
		}
	}
}

func cloneSIM(s SIM) SIM {
	s.Balance, s.Moves = slices.Clone(s.Balance), slices.Clone(s.Moves)
	if s.Budget.Hold != nil {
		h := *s.Budget.Hold
		s.Budget.Hold = &h
	}
	return s
}

// simList returns every SIM record, by ID, with the budget of the modem
// each is in.
func (f *fleet) simList() []SIM {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.modems {
		if m.sim != "" {
			f.keepSIMLocked(m)
		}
	}
	out := make([]SIM, 0, len(f.sims))
	for _, e := range f.sims {
		out = append(out, cloneSIM(e.rec))
	}
	slices.SortFunc(out, func(a, b SIM) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// SIMs returns every SIM the gateway has seen, by ID, each with the live
// state of the modem it is in.
func (d *Dispatcher) SIMs() []SIMView {
	recs := d.fleet.simList()
	out := make([]SIMView, 0, len(recs))
	for _, r := range recs {
		out = append(out, d.simView(r))
	}
	return out
}

// SIM returns one SIM's view by its ID (ICCID, or "imsi:" and IMSI), or
// an error wrapping ErrNotFound.
func (d *Dispatcher) SIM(id string) (SIMView, error) {
	for _, r := range d.fleet.simList() {
		if strings.EqualFold(r.ID, id) {
			return d.simView(r), nil
		}
	}
	return SIMView{}, fmt.Errorf("sim %q: %w", id, ErrNotFound)
}

func (d *Dispatcher) simView(r SIM) SIMView {
	v := SIMView{SIM: r}
	if r.Modem == "" {
		return v
	}
	mv, err := d.Modem(r.Modem)
	if err != nil || d.fleet.simOf(r.Modem) != r.ID {
		return v
	}
	v.InModem = true
	v.Usable, v.Paused, v.PauseReason, v.PausedUntil, v.Draining = mv.Usable, mv.Paused, mv.PauseReason, mv.PausedUntil, mv.Draining
	v.BudgetView, v.Health = mv.Budget, mv.Health
	return v
}

// RecordBalance keeps a balance read through modem in the history of the
// SIM in it (saved with the next budget save).
func (d *Dispatcher) RecordBalance(modem string, amount float64, at time.Time) {
	d.fleet.noteBalance(modem, amount, at)
}

// identifySIMs takes in the SIMs the modems report and applies every change.
func (d *Dispatcher) identifySIMs(ctx context.Context) {
	for _, m := range d.fleet.list() {
		if ch, ok := d.fleet.identify(m); ok {
			d.applySIMChange(ctx, ch)
		}
	}
}

// applySIMChange moves the sticky contacts of the SIMs that changed
// modems, in the store and in the queue, then lets the modem send again.
// A store failure is logged: the change is not retried, and the contacts
// concerned stay where they were (they move after StickyTimeout as those
// of a gone modem).
func (d *Dispatcher) applySIMChange(ctx context.Context, ch simChange) {
	ctx = context.WithoutCancel(ctx)
	now := d.now()
	if ch.left != "" && ch.left != ch.sim {
		park := parkedName(ch.left)
		if _, err := d.st.RebindSIM(ctx, ch.left, ch.modem, park); err != nil {
			d.log.Error("park contacts of a SIM taken out", "modem", ch.modem, "err", err)
		}
		d.q.moveBindings(ch.modem, park, now)
	}
	d.reports.blocks.arrived(ctx, ch.modem, ch.sim, ch.adopt, ch.holder != "")
	switch {
	case ch.adopt:
		if _, err := d.st.RebindSIM(ctx, ch.sim, ch.modem, ch.modem); err != nil {
			d.log.Error("bind contacts to the modem's SIM", "modem", ch.modem, "err", err)
		}
	case ch.holder != "":
		n, err := d.st.RebindSIM(ctx, ch.sim, "", ch.modem)
		if err != nil {
			d.log.Error("move contacts with their SIM", "modem", ch.modem, "err", err)
		}
		moved := d.q.moveBindings(ch.holder, ch.modem, now)
		d.log.Info("SIM moved to another modem", "modem", ch.modem, "from", ch.holder, "contacts", n, "queued", moved)
	default:
		d.log.Info("new SIM in modem", "modem", ch.modem)
	}
	d.fleet.saveSIMs()
	d.fleet.rebound(ch.modem)
}

// location is the gateway's time zone (set once, at construction).
func (f *fleet) location() *time.Location {
	if f.loc == nil {
		return time.Local
	}
	return f.loc
}

// parked names the stand-ins of the SIMs taken out of this node's modems
// whose contacts have not moved yet.
func (f *fleet) parked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, e := range f.sims {
		if e.rec.Modem != "" {
			continue
		}
		if n := parkedName(id); !f.removed[n].IsZero() {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
