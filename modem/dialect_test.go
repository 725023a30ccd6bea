package modem

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/modem/modemsim"
)

// TestDialects brings modems with the quirks of real firmwares up over a
// PTY: each must come up without a single AT timeout (a timeout costs
// seconds and, repeated, is taken for a hang) and send at once.
func TestDialects(t *testing.T) {
	tests := []struct {
		name   string
		mc     modemsim.ModemConfig
		faults modemsim.Faults
		proof  string // on the wire, so the quirk really happened
	}{
		{"wavecom +CPIN? without OK", modemsim.ModemConfig{Manufacturer: "WAVECOM MODEM", Model: "MULTIBAND  900E  1800"},
			modemsim.Faults{CPINNoFinal: true}, "+CPIN: READY\r\n"},
		{"wavecom +CPIN? without OK, PIN locked", modemsim.ModemConfig{Manufacturer: "WAVECOM MODEM", PIN: "1234"},
			modemsim.Faults{CPINNoFinal: true}, "+CPIN: SIM PIN\r\n"},
		{"huawei COMMAND NOT SUPPORT", modemsim.ModemConfig{Unsupported: []string{"+CCID", "+ICCID"}},
			modemsim.Faults{CommandNotSupport: true}, "COMMAND NOT SUPPORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.mc, tt.faults)
			w := &wire{}
			cfg := fastConfig("m1", r.link)
			cfg.PIN = tt.mc.PIN
			if cfg.Logger == nil {
				cfg.Logger = slog.New(w)
			}
			d := r.open(cfg)
			r.waitUp(15 * time.Second)
			if cfg.Logger.Handler() == w && !strings.Contains(w.received(), tt.proof) {
				t.Fatalf("quirk not on the wire:\n%q", w.received())
			}
			if st := d.Status(); st.ATTimeouts != 0 || st.Resets != 0 {
				t.Errorf("came up with %d AT timeouts and %d resets", st.ATTimeouts, st.Resets)
			}
			_, _, iccid := r.sim.Info()
			if d.Info().ICCID != iccid {
				t.Errorf("ICCID %q, want %q", d.Info().ICCID, iccid)
			}
			sendText(t, d, "+15557654321", "dialect")
		})
	}
}
