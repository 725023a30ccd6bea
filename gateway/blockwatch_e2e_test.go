package gateway_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/modem/modemsim"
)

// blockRig: three simulated SIMs, a 10-part window, reports missing after
// 2 s, sends at least 200 ms apart on each SIM. A SIM whose reports stop
// can send at most window + reportWait/minInterval + 2 parts before the
// detector pauses it: its 10th missing report settles 2 s after its 10th
// send, and meanwhile it sends at most 10 more (plus the claim in flight).
const (
	bwWindow      = 10
	bwReportWait  = 2 * time.Second
	bwMinInterval = 200 * time.Millisecond
	bwMaxSends    = bwWindow + int(bwReportWait/bwMinInterval) + 2
)

func blockRig(t *testing.T, fault modemsim.Faults) (*rig, []string, *prometheus.Registry) {
	t.Helper()
	return blockRigNet(t, fault, modemsim.NetworkOptions{})
}

// blockRigNet is blockRig on a network made with opts; the reply signal
// judges bwWindow sends, a send unanswered after bwReportWait.
func blockRigNet(t *testing.T, fault modemsim.Faults, opts modemsim.NetworkOptions) (*rig, []string, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := e2eConfig()
	cfg.Registerer = reg
	cfg.Pacing.MinInterval, cfg.Pacing.Jitter = bwMinInterval, 0
	cfg.MaxAttempts = 10
	cfg.BlockWatch = gateway.DefaultBlockWatch()
	cfg.BlockWatch.Window, cfg.BlockWatch.ReportWait = bwWindow, bwReportWait
	cfg.BlockWatch.ReplyWindow, cfg.BlockWatch.ReplyWait = bwWindow, bwReportWait
	r := newRigNet(t, 3, cfg, nil, nil, opts)
	r.sims["sim1"].SetFaults(fault)
	r.start()
	var ids []string
	for i := range 90 {
		ids = append(ids, r.submit(gateway.SendRequest{To: number(400 + i), Body: fmt.Sprintf("shift %d", i)}).ID)
	}
	return r, ids, reg
}

// gaugeOf reads metric name{modem} from reg (-1: no such series).
func gaugeOf(t *testing.T, reg *prometheus.Registry, name, modem string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "modem" && l.GetValue() == modem {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// checkBlockPaused: sim1 is paused by the detector within bwMaxSends sends,
// the others carry on, and every message leaves (sim1's queue moves).
func checkBlockPaused(t *testing.T, r *rig, ids []string, reg *prometheus.Registry, signal string) {
	t.Helper()
	var v gateway.ModemView
	waitFor(t, "sim1 paused", 60*time.Second, func() bool {
		v, _ = r.d.Modem("sim1")
		return v.Paused
	})
	if !strings.Contains(v.PauseReason, "suspected carrier block") {
		t.Fatalf("sim1 pause reason %q", v.PauseReason)
	}
	for _, id := range ids {
		m := r.waitStatus(id, gateway.StatusSent, gateway.StatusDelivered, gateway.StatusFailed)
		if m.Modem != "sim1" && m.Status != gateway.StatusDelivered {
			r.waitStatus(id, gateway.StatusDelivered)
		}
	}
	subs := r.bySim()
	n := len(subs["sim1"])
	t.Logf("sim1 paused after %d sends (bound %d); reason %q; sim2 %d, sim3 %d", n, bwMaxSends, v.PauseReason, len(subs["sim2"]), len(subs["sim3"]))
	if n < bwWindow || n > bwMaxSends {
		t.Fatalf("sim1 sent %d parts, want %d..%d", n, bwWindow, bwMaxSends)
	}
	if len(subs["sim2"])+len(subs["sim3"]) != len(ids)-n {
		t.Fatalf("others sent %d+%d, want %d", len(subs["sim2"]), len(subs["sim3"]), len(ids)-n)
	}
	for _, o := range []string{"sim2", "sim3"} {
		if ov, _ := r.d.Modem(o); ov.Paused {
			t.Fatalf("%s paused too: %q", o, ov.PauseReason)
		}
	}
	if got := gaugeOf(t, reg, "simgate_modem_block_suspected", "sim1"); got != 1 {
		t.Fatalf("simgate_modem_block_suspected{sim1} = %v", got)
	}
	if got := gaugeOf(t, reg, "simgate_modem_block_suspected", "sim2"); got != 0 {
		t.Fatalf("simgate_modem_block_suspected{sim2} = %v", got)
	}
	if v.Health.Score != 0 {
		t.Fatalf("paused sim1 health %+v", v.Health)
	}
	if v2, _ := r.d.Modem("sim2"); v2.Health.Reports == nil || v2.Health.Score < 60 {
		t.Fatalf("sim2 health %+v", v2.Health)
	}
	if got := gaugeOf(t, reg, "simgate_modem_health_score", "sim2"); got < 60 {
		t.Fatalf("simgate_modem_health_score{sim2} = %v", got)
	}
	if got := gaugeOf(t, reg, "simgate_modem_report_ratio", "sim2"); got < 0.6 {
		t.Fatalf("simgate_modem_report_ratio{sim2} = %v", got)
	}
	if r.em.count(gateway.EventModemBlockSuspected, "sim1") != 1 || r.em.count(gateway.EventModemPaused, "sim1") != 1 {
		t.Fatal("want one modem.block_suspected and one modem.paused for sim1")
	}
	r.em.mu.Lock()
	defer r.em.mu.Unlock()
	for _, e := range r.em.events {
		if e.Type != gateway.EventModemBlockSuspected {
			continue
		}
		d, ok := e.Data.(gateway.BlockSuspectedData)
		if !ok || d.Signal != signal || d.Window != bwWindow || d.Reason != v.PauseReason {
			t.Fatalf("event data %#v", e.Data)
		}
	}
}

// TestE2EBlockReportsStopPausesSIM: sim1's status reports stop coming.
func TestE2EBlockReportsStopPausesSIM(t *testing.T) {
	r, ids, reg := blockRig(t, modemsim.Faults{ReportsLost: true})
	checkBlockPaused(t, r, ids, reg, "reports_missing")
}

// TestE2EBlockReportsFailPausesSIM: sim1's status reports come back with a
// permanent error (TP-ST 0x41).
func TestE2EBlockReportsFailPausesSIM(t *testing.T) {
	r, ids, reg := blockRig(t, modemsim.Faults{ReportStatus: 0x41})
	checkBlockPaused(t, r, ids, reg, "reports_failed")
}

// TestE2EBlockRepliesStopPausesSIM: every recipient answers each message,
// but sim1's answers never arrive (modemsim.Faults.RepliesLost) while its
// sends still get +CMGS and status reports. The reply signal pauses it
// within bwMaxSends sends (its 10th unanswered send settles 2 s after it
// left, as a missing report would), the others carry every other message,
// and the reply gauges say so.
func TestE2EBlockRepliesStopPausesSIM(t *testing.T) {
	r, ids, reg := blockRigNet(t, modemsim.Faults{RepliesLost: true}, modemsim.NetworkOptions{
		Recipients: func(s modemsim.Submission) (string, bool) { return "yes, count me in", true },
	})
	checkBlockPaused(t, r, ids, reg, "replies_stopped")
	if got := gaugeOf(t, reg, "simgate_modem_replies_stopped", "sim1"); got != 1 {
		t.Fatalf("simgate_modem_replies_stopped{sim1} = %v", got)
	}
	if got := gaugeOf(t, reg, "simgate_modem_replies_stopped", "sim2"); got != 0 {
		t.Fatalf("simgate_modem_replies_stopped{sim2} = %v", got)
	}
	if got := gaugeOf(t, reg, "simgate_modem_reply_ratio", "sim2"); got < 0.6 {
		t.Fatalf("simgate_modem_reply_ratio{sim2} = %v", got)
	}
	v, _ := r.d.Modem("sim1")
	if !strings.HasPrefix(v.PauseReason, gateway.RepliesStoppedReason) {
		t.Fatalf("sim1 pause reason %q", v.PauseReason)
	}
	r.em.mu.Lock()
	defer r.em.mu.Unlock()
	for _, e := range r.em.events {
		if d, ok := e.Data.(gateway.BlockSuspectedData); ok && (d.Replied != 0 || d.Baseline != "pool" || d.BaselineRatio < 0.6) {
			t.Fatalf("event data %#v", d)
		}
	}
}
