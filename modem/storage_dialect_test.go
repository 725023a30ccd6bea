package modem

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/modem/modemsim"
)

// TestStorageDialects: firmwares that name their memories otherwise
// (+CPMS with two memories and nested lists, names without quotes and an
// extra group) still show a full storage and have it read out, and have
// their "SR" memory swept.
func TestStorageDialects(t *testing.T) {
	tests := []struct {
		name   string
		faults modemsim.Faults
		proof  string
	}{
		{"wavecom two memories", modemsim.Faults{CPMSTwoMemories: true}, `+CPMS: (("SM","BM","SR"),("SM"))`},
		{"unquoted names, extra group", modemsim.Faults{CPMSUnquoted: true}, "+CPMS: (SM,ME,MT,SR)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, modemsim.ModemConfig{StorageSlots: 3, SRMemory: true}, tt.faults)
			r.in.fail.Store(true) // the store is down: messages pile up on the SIM
			w := &wire{}
			cfg := fastConfig("m1", r.link)
			if cfg.Logger == nil {
				cfg.Logger = slog.New(w)
			}
			d := r.open(cfg)
			r.waitUp(10 * time.Second)
			for i := range 4 {
				if err := r.net.InjectSMS(r.sim.MSISDN(), "+15550009999", fmt.Sprintf("msg %d", i)); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, 10*time.Second, "storage full in status", func() bool {
				return strings.Contains(d.Status().LastError, "storage full")
			})
			r.in.fail.Store(false)
			eventually(t, 10*time.Second, "all four read", func() bool { return len(r.in.got()) == 4 })
			eventually(t, 10*time.Second, "storage ok", func() bool {
				return d.Status().LastError == "" && len(r.sim.Stored()) == 0
			})
			if cfg.Logger.Handler() == w {
				got := w.received()
				if !strings.Contains(got, tt.proof) {
					t.Fatalf("quirk not on the wire:\n%q", got)
				}
				if strings.Contains(got, "+CMS ERROR: 302") {
					t.Errorf("the driver asked for a memory setting the modem refused:\n%q", got)
				}
				if !strings.Contains(w.sent(), `AT+CPMS="SR"`) {
					t.Errorf("the SR memory was never swept")
				}
			}
		})
	}
}

// TestListDialects: AT+CMGL answers framed loosely (blank and stray lines,
// spaces, no alpha or length, the PDU on the header line, OK without the
// blank line) are read whole; the poll is the only path (no indications).
func TestListDialects(t *testing.T) {
	withCNMI(t, "+CNMI=0,0,0,0,0")
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{CMGLOddFraming: true})
	w := &wire{}
	cfg := fastConfig("m1", r.link)
	cfg.PollInterval = 100 * time.Millisecond
	if cfg.Logger == nil {
		cfg.Logger = slog.New(w)
	}
	r.open(cfg)
	r.waitUp(10 * time.Second)
	r.in.fail.Store(true) // let them pile up, so one listing holds every framing
	for i := range 4 {
		if err := r.net.InjectSMS(r.sim.MSISDN(), "+15550009999", fmt.Sprintf("listed %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "stored", func() bool { return len(r.sim.Stored()) == 4 })
	r.in.fail.Store(false)
	eventually(t, 5*time.Second, "all four read", func() bool { return len(r.in.got()) == 4 })
	eventually(t, 5*time.Second, "deleted", func() bool { return len(r.sim.Stored()) == 0 })
	if got := decodeAll(t, r.in.got()); !strings.Contains(got, "listed 0") || !strings.Contains(got, "listed 3") {
		t.Errorf("read %q", got)
	}
	if cfg.Logger.Handler() == w && !regexp.MustCompile(`\+CMGL: \d+,\d,,\d+,[0-9A-F]{20}`).MatchString(w.received()) {
		t.Fatalf("quirk not on the wire:\n%q", w.received())
	}
}
