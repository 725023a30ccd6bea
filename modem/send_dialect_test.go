package modem

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/modem/modemsim"
)

// TestSendDialects sends over modems whose AT+CMGS answers differ from TS
// 27.005's "\r\n> " and "+CMGS: <mr>" then OK: every part must be sent
// once, succeed, and carry the reference the modem gave it.
func TestSendDialects(t *testing.T) {
	tests := []struct {
		name   string
		mc     modemsim.ModemConfig
		faults modemsim.Faults
		proof  string // on the wire, so the quirk really happened
	}{
		{"+CMGS without OK", modemsim.ModemConfig{}, modemsim.Faults{CMGSNoFinal: true}, "+CMGS: 0\r\n"},
		{"+CMGS, its OK late before the next answer", modemsim.ModemConfig{},
			modemsim.Faults{CMGSNoFinal: true, CMGSFinalLater: true}, "\r\n^RSSI: 20\r\n\r\nOK\r\n\r\n> "},
		{"bare > prompt", modemsim.ModemConfig{}, modemsim.Faults{PromptBare: true}, "\r\n>"},
		// echo that ATE0 cannot turn off: the bare ">" follows the echoed
		// "AT+CMGS=<n>\r" on the same line
		{"bare > prompt after the echo", modemsim.ModemConfig{Unsupported: []string{"E"}},
			modemsim.Faults{Echo: true, PromptBare: true}, "\r>"},
		{"> prompt on its own line", modemsim.ModemConfig{}, modemsim.Faults{PromptCRLF: true}, "\r\n>\r\n"},
		{"> prompt split across reads", modemsim.ModemConfig{}, modemsim.Faults{PromptSplit: true}, ">"},
		{"bare > prompt split after the echo", modemsim.ModemConfig{Unsupported: []string{"E"}},
			modemsim.Faults{Echo: true, PromptBare: true, PromptSplit: true, CMGSNoFinal: true}, "\r>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.mc, tt.faults)
			w := &wire{}
			cfg := fastConfig("m1", r.link)
			cfg.HealthInterval = time.Hour // nothing between the sends but the sends
			cfg.PollInterval = time.Hour
			if cfg.Logger == nil {
				cfg.Logger = slog.New(w)
			}
			d := r.open(cfg)
			r.waitUp(15 * time.Second)
			text := strings.Repeat("Parts of a long text, each sent once. ", 8) // 3 parts
			var mrs []int
			for i, p := range encode(t, "+15557654321", text, false) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				mr, err := d.SendPDU(ctx, p)
				cancel()
				if err != nil {
					t.Fatalf("part %d: %v", i+1, err)
				}
				mrs = append(mrs, mr)
			}
			subs := r.net.Submissions()
			if len(subs) != len(mrs) {
				t.Fatalf("the modem took %d submissions for %d parts", len(subs), len(mrs))
			}
			for i, s := range subs {
				if s.MR != mrs[i] {
					t.Errorf("part %d: modem mr %d, driver returned %d", i+1, s.MR, mrs[i])
				}
			}
			if cfg.Logger.Handler() == w && !strings.Contains(w.received(), tt.proof) {
				t.Fatalf("quirk not on the wire:\n%q", w.received())
			}
			if st := d.Status(); st.State != gateway.ModemUp || st.Resets != 0 {
				t.Errorf("after the sends: %s, %d resets", st.State, st.Resets)
			}
		})
	}
}

// TestSendAcceptedWithoutFinalIsNeverAmbiguous: a +CMGS that came is the
// part's success even when no final result follows until the caller's
// deadline, so the gateway never resends it.
func TestSendAcceptedWithoutFinalIsNeverAmbiguous(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{CMGSNoFinal: true})
	cfg := fastConfig("m1", r.link)
	d := r.open(cfg)
	r.waitUp(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond) // shorter than 2 grace periods
	mr, err := d.SendPDU(ctx, encode(t, "+15557654321", "once", false)[0])
	cancel()
	var se *gateway.SendError
	if errors.As(err, &se) {
		t.Fatalf("send: %v (ambiguous %v, temporary %v): the part was accepted", err, se.Ambiguous, se.Temporary)
	}
	if err != nil || len(r.net.Submissions()) != 1 || r.net.Submissions()[0].MR != mr {
		t.Fatalf("mr %d, %v; submissions %+v", mr, err, r.net.Submissions())
	}
}
