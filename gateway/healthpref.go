package gateway

import (
	"slices"
	"time"
)

// healthPref prefers healthy SIMs for new contacts (Config.PreferHealthy):
// a SIM whose health score is below PreferHealthy × the score of another
// SIM that can take a new contact now — usable, not draining, new-contact
// budget left, and in every group this SIM is in, so that any message this
// SIM could take as a new contact that SIM could take too — takes no new
// contact; its sticky contacts still go to it, a message whose From names
// it still may bind a new one, and once no healthier SIM can take new
// contacts (paused, down, budget spent) it takes them again. The decision
// is made per claim and reaches both queues (the LocalQueue and a shared
// one) through the claim request: the SIM claims as a draining one does
// (ClaimRequest.Draining), so neither queue needs to know about health.
//
// Scores are computed at the claim from the fleet's and the block watch's
// state (no cache: a SIM whose own score cannot be beaten returns at once,
// so only weak SIMs look at the others).
type healthPref struct {
	share  float64
	fleet  *fleet
	blocks *blockWatch
}

// scoreOf is m's health score from the status the fleet last saw: a claim
// (which may run while a send is on the wire) never calls a device.
func (h *healthPref) scoreOf(m *modemEntry) (ModemView, int) {
	v := h.fleet.lastView(m)
	var w watchSignals
	w.reports, w.reportsOK = h.blocks.ratio(v.Name)
	w.replies, w.repliesOK = h.blocks.replyRatio(v.Name)
	return v, healthOf(v, w).Score
}

// lastView is m as view shows it, from the last status seen (no device
// call, no identity).
func (f *fleet) lastView(m *modemEntry) ModemView {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	_, present := f.modems[m.name]
	return ModemView{
		Name: m.name, Groups: slices.Clone(m.groups), Status: m.status,
		Usable: present && m.status.Usable() && !m.paused, Paused: m.paused, Draining: m.draining,
		Budget: m.pacer.view(now), Counters: m.counters,
	}
}

// holdBack reports whether m should leave new contacts to a healthier SIM.
func (h *healthPref) holdBack(m *modemEntry) bool {
	if h == nil || h.share <= 0 {
		return false
	}
	me, score := h.scoreOf(m)
	if float64(score) >= h.share*100 {
		return false // nobody scores above 100
	}
	for _, o := range h.fleet.list() {
		if o == m {
			continue
		}
		v, s := h.scoreOf(o)
		if !v.Usable || v.Draining || v.Budget.NewContactsLeft == 0 || float64(score) >= h.share*float64(s) {
			continue
		}
		if !slices.ContainsFunc(me.Groups, func(g string) bool { return !slices.Contains(v.Groups, g) }) {
			return true
		}
	}
	return false
}

// claimRequest is what m may claim now, with the health preference applied.
func (h *healthPref) claimRequest(m *modemEntry, now time.Time) ClaimRequest {
	r := h.fleet.claimRequest(m, now)
	if r.NewContacts && !r.Draining && h.holdBack(m) {
		r.Draining = true
	}
	return r
}
