package gateway

import "math"

// SIMHealth grades a SIM for carrying new contacts: Score 0 (cannot send:
// down, unregistered or paused, which includes a low balance and a
// suspected carrier block) to 100, the weighted mean of the parts known,
// each 0..1 (absent when unknown):
//
//	signal        weight 1  -110 dBm or worse 0, -70 dBm or better 1, linear between
//	registration  weight 1  home 1, roaming 0.7, otherwise 0
//	failures      weight 2  1 - failed / (sent + failed) since start
//	reports       weight 2  share of the last settled parts whose status report came (block watch)
//	replies       weight 2  the SIM's reply rate over its last sends relative to the pool's, at most 1 (block watch)
//	budget        weight 1  what is left of the daily part budget
type SIMHealth struct {
	Score        int      `json:"score"`
	Signal       *float64 `json:"signal,omitempty"`
	Registration *float64 `json:"registration,omitempty"`
	Failures     *float64 `json:"failures,omitempty"`
	Reports      *float64 `json:"reports,omitempty"`
	Replies      *float64 `json:"replies,omitempty"`
	Budget       *float64 `json:"budget,omitempty"`
}

// watchSignals is what the block watch knows of a SIM for its health.
type watchSignals struct {
	reports, replies     float64
	reportsOK, repliesOK bool
}

// healthOf grades v with the block watch's signals w.
func healthOf(v ModemView, w watchSignals) SIMHealth {
	var h SIMHealth
	var sum, weights float64
	part := func(dst **float64, c, w float64) {
		c = math.Max(0, math.Min(1, c))
		*dst = &c
		sum += c * w
		weights += w
	}
	if dbm, known := v.Status.SignalDBm(); known {
		part(&h.Signal, (float64(dbm)+110)/40, 1)
	}
	switch v.Status.Registration {
	case RegHome:
		part(&h.Registration, 1, 1)
	case RegRoaming:
		part(&h.Registration, 0.7, 1)
	default:
		part(&h.Registration, 0, 1)
	}
	if n := v.Counters.Sent + v.Counters.Failed; n > 0 {
		part(&h.Failures, 1-float64(v.Counters.Failed)/float64(n), 2)
	}
	if w.reportsOK {
		part(&h.Reports, w.reports, 2)
	}
	if w.repliesOK {
		part(&h.Replies, w.replies, 2)
	}
	if v.Budget.PerDay > 0 {
		part(&h.Budget, float64(v.Budget.LeftToday)/float64(v.Budget.PerDay), 1)
	}
	if v.Usable && weights > 0 {
		h.Score = int(math.Round(100 * sum / weights))
	}
	return h
}

// ratio is the report ratio over the window of the SIM in modem, known
// once the window holds at least half of Window settled parts.
func (b *blockWatch) ratio(modem string) (float64, bool) {
	if b == nil || b.cfg.Window == 0 {
		return 0, false
	}
	key := b.keyOf(modem)
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sims[key]
	if s == nil || 2*s.win.n < b.cfg.Window {
		return 0, false
	}
	return s.win.reportRatio(), true
}

// withHealth sets v.Health.
func (d *Dispatcher) withHealth(v ModemView) ModemView {
	var w watchSignals
	w.reports, w.reportsOK = d.reports.blocks.ratio(v.Name)
	w.replies, w.repliesOK = d.reports.blocks.replyRatio(v.Name)
	v.Health = healthOf(v, w)
	return v
}
