package gateway_test

import (
	"strings"
	"testing"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/gatewaytest"
)

// The SIMs of TestBlockWatchFollowsTheSIM: X slides toward a block in a,
// b's SIM is the healthy pool, Q is taken out of c for X, and W is a new
// card put into a.
const (
	iccidX = "8901000000000000011"
	iccidB = "8901000000000000012"
	iccidQ = "8901000000000000013"
	iccidW = "8901000000000000014"
)

// TestBlockWatchFollowsTheSIM: the block watch's record is the SIM's. X,
// with 3 of a 5-part window failed in modem a, is moved into c: the 2
// failures it gets there fill its window and pause it (in c), while the new
// SIM W in a, with 2 parts reported fine, is judged on its own parts — it
// would be paused if it inherited X's failures from the modem. With
// restart, the SIMs are moved while the gateway is stopped, so the record
// rebuilt from the store has to find X's history in a's messages and W's
// not.
func TestBlockWatchFollowsTheSIM(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "live"
		if restart {
			name = "restart"
		}
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.BlockWatch = gateway.DefaultBlockWatch()
			cfg.BlockWatch.Window, cfg.BlockWatch.ReplyWindow = 5, 0
			st := gatewaytest.NewMemStore()

			h := newHarness(t, cfg, st)
			h.add("a", nil).SetSIM(iccidX)
			h.add("b", nil).SetSIM(iccidB)
			h.add("c", nil).SetSIM(iccidQ)
			h.start()
			simIn(t, h.d, iccidX, "a")
			simIn(t, h.d, iccidQ, "c")
			h.sendReported("b", 0, 5, 0)
			h.sendReported("a", 100, 3, 0x41)
			if v, _ := h.d.Modem("a"); v.Paused {
				t.Fatalf("a paused before X's window filled: %q", v.PauseReason)
			}
			if restart {
				h.stop()
				h = newHarness(t, cfg, st)
				h.add("a", nil).SetSIM(iccidW)
				h.add("b", nil).SetSIM(iccidB)
				h.add("c", nil).SetSIM(iccidX)
				h.start()
			} else {
				h.devs["c"].SetSIM(iccidX)
				h.devs["a"].SetSIM(iccidW)
			}
			simIn(t, h.d, iccidX, "c")
			simIn(t, h.d, iccidW, "a")

			h.sendReported("a", 200, 2, 0) // each report judges W's record at once
			if w, _ := h.d.Modem("a"); w.Paused {
				t.Errorf("the new SIM W in a inherited X's history: paused for %q", w.PauseReason)
			}
			h.sendReported("c", 300, 2, 0x41)
			var v gateway.ModemView
			gatewaytest.Eventually(t, "c (X) paused", func() bool {
				v, _ = h.d.Modem("c")
				return v.Paused
			})
			if !strings.Contains(v.PauseReason, "5 of last 5 reports were permanent failures") {
				t.Errorf("X paused in c for %q, want its whole window (3 failures in a, 2 in c)", v.PauseReason)
			}
			if x, _ := h.d.SIM(iccidX); !x.Paused || x.Modem != "c" {
				t.Errorf("X: in %q, paused %v", x.Modem, x.Paused)
			}
		})
	}
}
