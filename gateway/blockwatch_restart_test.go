package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/gatewaytest"
)

// sendReported sends n messages from modem and answers each part's status
// report with TP-ST st.
func (h *harness) sendReported(modem string, first, n, st int) {
	h.t.Helper()
	for i := range n {
		m := h.submit(gateway.SendRequest{To: fmt.Sprintf("+1202555%04d", first+i), Body: "x", From: modem})
		m = h.waitStatus(m.ID, gateway.StatusSent)
		if m.Modem != modem {
			h.t.Fatalf("sent by %s, want %s", m.Modem, modem)
		}
		if err := h.d.HandleReport(context.Background(), gateway.StatusReport{Modem: modem, MR: m.Parts[0].MR, Status: st}); err != nil {
			h.t.Fatal(err)
		}
		want := gateway.StatusDelivered
		if st >= 0x40 {
			want = gateway.StatusFailed
		}
		h.waitStatus(m.ID, want)
	}
}

// TestBlockWatchSurvivesRestart: a SIM sliding toward a block (3 of a
// 5-part window failed) is paused by the 2 failures it gets after a
// restart, against the pool's window rebuilt from the store too; once
// resumed, another restart does not judge the window that paused it again.
func TestBlockWatchSurvivesRestart(t *testing.T) {
	cfg := testConfig()
	cfg.BlockWatch = gateway.DefaultBlockWatch()
	cfg.BlockWatch.Window, cfg.BlockWatch.ReplyWindow = 5, 0
	st := gatewaytest.NewMemStore()

	h := newHarness(t, cfg, st, "a", "b")
	h.start()
	h.sendReported("b", 0, 5, 0)
	h.sendReported("a", 100, 3, 0x41)
	if v, _ := h.d.Modem("a"); v.Paused {
		t.Fatalf("a paused before its window filled: %q", v.PauseReason)
	}
	h.stop()

	h2 := newHarness(t, cfg, st, "a", "b")
	h2.start()
	h2.sendReported("a", 200, 2, 0x41)
	var v gateway.ModemView
	gatewaytest.Eventually(t, "a paused", func() bool {
		v, _ = h2.d.Modem("a")
		return v.Paused
	})
	if !strings.Contains(v.PauseReason, "5 of last 5 reports were permanent failures") {
		t.Fatalf("reason %q", v.PauseReason)
	}
	if err := h2.d.Resume("a"); err != nil {
		t.Fatal(err)
	}
	h2.stop()

	h3 := newHarness(t, cfg, st, "a", "b")
	h3.start()
	h3.sendReported("a", 300, 1, 0) // judged on a record of 1, not on the old window
	h3.sendReported("b", 400, 1, 0)
	if v, _ := h3.d.Modem("a"); v.Paused {
		t.Fatalf("resumed SIM paused again after a restart: %q", v.PauseReason)
	}
}
