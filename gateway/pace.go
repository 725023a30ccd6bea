package gateway

import (
	"math/rand/v2"
	"time"
)

// PacingConfig paces one SIM like a person: a real send takes 2-6 s a part,
// and carriers watch each number (P2P platforms keep to about 200 new
// recipients a day per number; consumer plans hide lower caps). Budgets
// count parts, not messages. Zero caps mean "no cap".
type PacingConfig struct {
	// MinInterval is the least time between the end of one send and the
	// start of the next on the same SIM; a random 0..Jitter is added.
	MinInterval time.Duration `yaml:"min_interval" json:"min_interval"`
	Jitter      time.Duration `yaml:"jitter" json:"jitter"`
	// PerMinute caps parts sent in any 60 s window.
	PerMinute int `yaml:"per_minute" json:"per_minute"`
	// PerDay caps parts sent per calendar day (Config.Location).
	PerDay int `yaml:"per_day" json:"per_day"`
	// NewContactsPerDay caps recipients first texted from this SIM per day.
	NewContactsPerDay int `yaml:"new_contacts_per_day" json:"new_contacts_per_day"`
}

// DefaultPacing is a cautious person's pace: one part every 5-8 s (plus the
// 2-6 s the network takes) is 6-10 a minute, inside the 6-20 a modem manages;
// at most 10 a minute, 1,000 parts and 200 new recipients (the P2P
// platforms' guidance) a day.
func DefaultPacing() PacingConfig {
	return PacingConfig{
		MinInterval:       5 * time.Second,
		Jitter:            3 * time.Second,
		PerMinute:         10,
		PerDay:            1000,
		NewContactsPerDay: 200,
	}
}

// pacer tracks one modem's pace and budgets. It is not safe for concurrent
// use: the Dispatcher guards it with its mutex. Times are passed in so the
// rules can be tested without a clock.
type pacer struct {
	cfg   PacingConfig
	loc   *time.Location
	next  time.Time   // earliest start of the next send
	ends  []time.Time // end times of the last PerMinute sends, oldest first
	usage BudgetUsage
	dirty bool // usage changed since last saved
}

func newPacer(cfg PacingConfig, loc *time.Location) *pacer {
	if loc == nil {
		loc = time.Local
	}
	return &pacer{cfg: cfg, loc: loc}
}

func (p *pacer) day(now time.Time) string { return now.In(p.loc).Format(time.DateOnly) }

// rollover resets the daily budgets when the day changed.
func (p *pacer) rollover(now time.Time) {
	if d := p.day(now); p.usage.Day != d {
		p.usage = BudgetUsage{Day: d, LastSend: p.usage.LastSend, WatchFrom: p.usage.WatchFrom}
		p.dirty = true
	}
}

// nextDay is the start of the day after now in the pacer's location.
func (p *pacer) nextDay(now time.Time) time.Time {
	t := now.In(p.loc)
	return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, p.loc)
}

// readyAt returns when the next part may start (<= now means now).
func (p *pacer) readyAt(now time.Time) time.Time {
	p.rollover(now)
	at := p.next
	if p.cfg.PerDay > 0 && p.usage.Parts >= p.cfg.PerDay {
		if d := p.nextDay(now); d.After(at) {
			at = d
		}
	}
	if p.cfg.PerMinute > 0 && len(p.ends) >= p.cfg.PerMinute {
		if t := p.ends[len(p.ends)-p.cfg.PerMinute].Add(time.Minute); t.After(at) {
			at = t
		}
	}
	return at
}

// partsLeft is what is left of today's part budget (a large number if uncapped).
func (p *pacer) partsLeft(now time.Time) int {
	p.rollover(now)
	if p.cfg.PerDay <= 0 {
		return 1 << 30
	}
	return max(0, p.cfg.PerDay-p.usage.Parts)
}

// newContactsLeft is what is left of today's new-recipient budget.
func (p *pacer) newContactsLeft(now time.Time) int {
	p.rollover(now)
	if p.cfg.NewContactsPerDay <= 0 {
		return 1 << 30
	}
	return max(0, p.cfg.NewContactsPerDay-p.usage.NewContacts)
}

// addNewContact counts a recipient first texted from this SIM.
func (p *pacer) addNewContact(now time.Time) {
	p.rollover(now)
	p.usage.NewContacts++
	p.dirty = true
}

// started counts one part against the budgets when its send starts. Until
// done is called no other send may start.
func (p *pacer) started(now time.Time) {
	p.rollover(now)
	p.usage.Parts++
	p.usage.LastSend = now
	p.dirty = true
	p.next = now.Add(24 * time.Hour) // blocked until done
}

// done records the end of a send and sets when the next may start.
func (p *pacer) done(now time.Time) {
	j := time.Duration(0)
	if p.cfg.Jitter > 0 {
		j = rand.N(p.cfg.Jitter)
	}
	p.next = now.Add(p.cfg.MinInterval + j)
	if p.cfg.PerMinute > 0 {
		p.ends = append(p.ends, now)
		if n := len(p.ends) - p.cfg.PerMinute; n > 0 {
			p.ends = append(p.ends[:0], p.ends[n:]...)
		}
	}
}

// view fills the budget part of a ModemView.
func (p *pacer) view(now time.Time) BudgetView {
	p.rollover(now)
	v := BudgetView{
		PerMinute:         p.cfg.PerMinute,
		PerDay:            p.cfg.PerDay,
		NewContactsPerDay: p.cfg.NewContactsPerDay,
		UsedToday:         p.usage.Parts,
		NewContactsToday:  p.usage.NewContacts,
		LeftToday:         p.partsLeft(now),
		NewContactsLeft:   p.newContactsLeft(now),
		MinInterval:       p.cfg.MinInterval.String(),
	}
	if p.cfg.PerDay <= 0 {
		v.LeftToday = -1
	}
	if p.cfg.NewContactsPerDay <= 0 {
		v.NewContactsLeft = -1
	}
	if at := p.readyAt(now); at.After(now) {
		v.NextSendNotBefore = at
	}
	return v
}
