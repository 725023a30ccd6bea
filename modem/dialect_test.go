package modem

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
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
		{"busy after boot (515, SIM busy)", modemsim.ModemConfig{Manufacturer: "SIMCOM_Ltd", Model: "SIM800"},
			modemsim.Faults{BusyAfterBoot: 1500 * time.Millisecond}, "+CME ERROR: 14"},
		{"charset UCS2 after boot", modemsim.ModemConfig{}, modemsim.Faults{CharsetUCS2: true}, "OK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.mc, tt.faults)
			w := &wire{}
			cfg := fastConfig("m1", r.link)
			cfg.PIN = tt.mc.PIN
			cfg.PollInterval = time.Hour
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
			if r.obs.seen(gateway.ModemDown) {
				t.Error("the first init failed: the port was dropped and reopened")
			}
			_, _, iccid := r.sim.Info()
			if got := d.Info(); got.ICCID != iccid || got.MSISDN != r.sim.MSISDN() {
				t.Errorf("ICCID %q MSISDN %q, want %q %q", got.ICCID, got.MSISDN, iccid, r.sim.MSISDN())
			}
			sendText(t, d, "+15557654321", "dialect")
			// +CMTI works (the poll is an hour away)
			if err := r.net.InjectSMS(r.sim.MSISDN(), "+15550009999", "dialect inbound"); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "received", func() bool { return decodeAll(t, r.in.got()) == "dialect inbound" })
			if reply, err := d.USSD(context.Background(), "*100#"); err != nil || reply.Text != balanceText {
				t.Errorf("ussd: %+v, %v", reply, err)
			}
		})
	}
}
