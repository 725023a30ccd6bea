package modem

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/modem/modemsim"
)

// hangDetection brings a modem up, sends a few parts, gives it fault f and
// sends once more (as the dispatcher would, with its 3-minute deadline); it
// returns how long the driver took from the fault to calling the modem
// hung, the modem's status then, and what that send returned.
func hangDetection(t testing.TB, cfg Config, f modemsim.Faults) (time.Duration, gateway.ModemStatus, error) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	cfg.Port = r.link
	d := r.open(cfg)
	r.waitUp(30 * time.Second)
	for range 3 {
		sendText(t, d, "+15557654321", "before the hang")
	}
	r.sim.SetFaults(f)
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		_, err := d.SendPDU(ctx, encode(t, "+15557654321", "meets the hang", false)[0])
		errc <- err
	}()
	eventually(t, 4*time.Minute, "hang noticed", func() bool { return d.Status().State == gateway.ModemHung })
	took := time.Since(start)
	st := d.Status()
	d.Close()
	return took, st, <-errc
}

// TestHangNoticedBySendAtOnce: the send that meets a hung modem gets no
// prompt within PromptTimeout, the "AT" probe gets no answer either, and
// the modem is hung after exactly those two timeouts, whatever SendTimeout
// says; the send fails Temporary (its PDU never left), so it may go
// elsewhere at once.
func TestHangNoticedBySendAtOnce(t *testing.T) {
	cfg := fastConfig("m1", "")
	cfg.SendTimeout = time.Hour // only the prompt deadline can catch it
	cfg.HangAfter = 3
	cfg.HealthInterval = time.Hour
	cfg.PollInterval = time.Hour
	took, st, err := hangDetection(t, cfg, modemsim.Faults{HangHard: true})
	t.Logf("hang noticed after %s (prompt timeout %s + probe %s)", took, cfg.CommandTimeout, cfg.CommandTimeout)
	if st.ATTimeouts != 2 {
		t.Errorf("hung after %d AT timeouts, want 2 (no prompt, no answer to AT)", st.ATTimeouts)
	}
	var se *gateway.SendError
	if !errors.As(err, &se) || !se.Temporary || se.Ambiguous {
		t.Fatalf("send: %v, want temporary", err)
	}
}

// TestSlowNetworkIsNotAHang: an answer that takes longer than the prompt
// and probe deadlines, but within SendTimeout, is a slow network, never a
// hang, also when the caller's deadline ends first.
func TestSlowNetworkIsNotAHang(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	cfg := fastConfig("m1", r.link)
	cfg.CommandTimeout = 300 * time.Millisecond // prompt and probe deadlines
	cfg.SendTimeout = 5 * time.Second
	cfg.HangAfter = 1
	d := r.open(cfg)
	r.waitUp(10 * time.Second)
	r.sim.SetFaults(modemsim.Faults{SendLatency: 1200 * time.Millisecond})
	sendText(t, d, "+15557654321", "slow but fine")
	// a caller that gives up before the network answered
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	_, err := d.SendPDU(ctx, encode(t, "+15557654321", "impatient", false)[0])
	cancel()
	var se *gateway.SendError
	if !errors.As(err, &se) || !se.Ambiguous {
		t.Fatalf("impatient send: %v, want ambiguous", err)
	}
	sendText(t, d, "+15557654321", "still fine")
	if st := d.Status(); st.Resets != 0 || r.obs.seen(gateway.ModemHung) {
		t.Fatalf("a slow network was taken for a hang: %+v", st)
	}
}

// BenchmarkHangDetection measures, with the default timeouts, how long the
// driver takes to call a modem hung (from the hang to Status().State ==
// hung) when the next send meets it, and when it hangs after taking a
// send's PDU (then only SendTimeout can tell it from a slow network). It
// takes that long per iteration:
//
//	go test ./modem -run '^$' -bench HangDetection -benchtime 1x
func BenchmarkHangDetection(b *testing.B) {
	for _, bc := range []struct {
		name string
		f    modemsim.Faults
	}{
		{"next_send", modemsim.Faults{HangHard: true}},
		{"after_pdu", modemsim.Faults{HangAfterPDU: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				took, st, _ := hangDetection(b, Config{Name: "m1", Port: "-"}, bc.f)
				total += took
				b.Logf("hang noticed after %s (%d AT timeouts)", took.Round(10*time.Millisecond), st.ATTimeouts)
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/detection")
		})
	}
}
