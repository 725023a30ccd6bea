package modem

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/modem/modemsim"
)

const balanceText = "Your balance is 12.34 USD. Valid until 31/01."

func TestUSSD(t *testing.T) {
	tests := []struct {
		name   string
		faults modemsim.Faults
	}{
		{"text", modemsim.Faults{}},
		{"ucs2", modemsim.Faults{USSDUCS2: true}},
		{"huawei packed hex", modemsim.Faults{USSDPacked: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, modemsim.ModemConfig{}, tt.faults)
			d := r.open(fastConfig("m1", r.link))
			r.waitUp(10 * time.Second)
			for range 2 { // the second one goes out in the dialect learnt
				reply, err := d.USSD(context.Background(), "*100#")
				if err != nil {
					t.Fatal(err)
				}
				if reply.Text != balanceText || reply.Status != 0 {
					t.Fatalf("reply %+v", reply)
				}
			}
			r.sim.SetBalance("0.50 USD")
			reply, err := d.USSD(context.Background(), "*100#")
			if err != nil || reply.Text != "Your balance is 0.50 USD. Valid until 31/01." {
				t.Fatalf("after SetBalance: %+v, %v", reply, err)
			}
			if st := d.Status(); st.ATTimeouts != 0 {
				t.Errorf("%d AT timeouts", st.ATTimeouts)
			}
		})
	}
}

// TestUSSDMultiline: an answer whose quoted text spans lines arrives whole
// (the AT layer alone would keep its first line; python-gsmmodem parses
// +CUSD with re.DOTALL for the same reason).
func TestUSSDMultiline(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{USSDMultiline: true})
	d := r.open(fastConfig("m1", r.link))
	r.waitUp(10 * time.Second)
	reply, err := d.USSD(context.Background(), "*100#")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Dear customer,\nyour balance is 12.34 USD.\nValid until 31/01."; reply.Text != want {
		t.Fatalf("reply %q, want %q", reply.Text, want)
	}
	// the lines after the answer are the modem's again
	sendText(t, d, "+15557654321", "after a multi-line answer")
	if st := d.Status(); st.ATTimeouts != 0 {
		t.Errorf("%d AT timeouts", st.ATTimeouts)
	}
}

func TestUSSDTimeoutCancelsTheSession(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{USSDSilent: true})
	cfg := fastConfig("m1", r.link)
	cfg.USSDTimeout = 300 * time.Millisecond
	d := r.open(cfg)
	r.waitUp(10 * time.Second)
	_, err := d.USSD(context.Background(), "*100#")
	if !errors.Is(err, gateway.ErrUSSDTimeout) {
		t.Fatalf("err = %v, want ErrUSSDTimeout", err)
	}
	eventually(t, 5*time.Second, "session cancelled", func() bool { return r.sim.USSDCancels() == 1 })
	// the modem is still fine, and the next code gets its answer
	r.sim.SetFaults(modemsim.Faults{})
	if reply, err := d.USSD(context.Background(), "*100#"); err != nil || reply.Text != balanceText {
		t.Fatalf("after the timeout: %+v, %v", reply, err)
	}
	sendText(t, d, "+15557654321", "still sending")
	if st := d.Status(); st.ATTimeouts != 0 || st.Resets != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestUSSDRefused(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	d := r.open(fastConfig("m1", r.link))
	r.waitUp(10 * time.Second)
	if _, err := d.USSD(context.Background(), "*999#"); !errors.Is(err, gateway.ErrUSSDRejected) {
		t.Fatalf("unknown code: %v", err)
	}
	if _, err := d.USSD(context.Background(), `*1"#`); !errors.Is(err, gateway.ErrUSSDRejected) {
		t.Fatalf("bad code: %v", err)
	}
}

// TestUSSDDuringSends: while the network takes its time to answer a code,
// the modem's goroutine goes on sending (no second owner of the port, no
// send waits for the answer).
func TestUSSDDuringSends(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{USSDDelay: 2 * time.Second})
	cfg := fastConfig("m1", r.link)
	tx := &txCounter{needle: "+CUSD=1"}
	cfg.Logger = slog.New(tx)
	d := r.open(cfg)
	r.waitUp(10 * time.Second)
	res := make(chan error, 1)
	go func() {
		reply, err := d.USSD(context.Background(), "*100#")
		if err == nil && reply.Text != balanceText {
			err = errors.New("wrong text " + reply.Text)
		}
		res <- err
	}()
	// once the code is out, send parts while the answer is on its way
	eventually(t, 5*time.Second, "code sent", func() bool { return tx.n.Load() == 1 })
	for i := range 5 {
		sendText(t, d, "+15557654321", "during ussd")
		select {
		case err := <-res:
			t.Fatalf("the USSD answer (%v) came before send %d: sends waited for it", err, i+1)
		default:
		}
	}
	if err := <-res; err != nil {
		t.Fatal(err)
	}
}

func TestDecodeUSSD(t *testing.T) {
	tests := []struct {
		name   string
		str    string
		dcs    int
		packed bool
		want   string
	}{
		{"gsm7 text", "Balance 5.00", 15, false, "Balance 5.00"},
		{"ucs2 dcs 72", "00420061006C0061006E00630065", 72, false, "Balance"},
		{"ucs2 cyrillic", "04110430043B0430043D0441", 72, false, "Баланс"},
		{"ucs2 with dcs 15 (E1550)", "0042006100670020", 15, false, "Bag"},
		{"huawei packed", "C8329BFD065DDF72363904", 15, true, "Hello World!"},
		{"huawei packed, not told", "C8329BFD065DDF72363904", 15, false, "Hello World!"},
		{"digits stay digits", "1234", 15, false, "1234"},
		{"8 bit", "48656C6C6F", 0x44, false, "Hello"},
		{"not hex under ucs2", "hello", 72, false, "hello"},
		{"controls dropped", "a\x00b\x1bc", 15, false, "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decodeUSSD(tt.str, tt.dcs, tt.packed); got != tt.want {
				t.Fatalf("decodeUSSD(%q, %d) = %q, want %q", tt.str, tt.dcs, got, tt.want)
			}
		})
	}
	if got := packUSSD("*100#"); got != "AA180C3602" {
		t.Fatalf("packUSSD = %q", got)
	}
}

func FuzzParseCUSD(f *testing.F) {
	fuzzLines(f, `+CUSD: 0,"Your balance is 1.00",15`, `+CUSD: 4`, `+CUSD: 1,"004100",72`, `+CUSD: 0,"C8329BFD06",15`, `+CUSD:`)
	f.Fuzz(func(t *testing.T, line string) {
		if c, ok := parseCUSD(line); ok {
			_ = decodeUSSD(c.str, c.dcs, false)
			_ = decodeUSSD(c.str, c.dcs, true)
		}
	})
}
