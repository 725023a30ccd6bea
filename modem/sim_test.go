package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/tpdu"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/modem/modemsim"
)

// The tests in this file run the driver against the simulator over real
// pseudo-terminals: Open(path) goes through go.bug.st/serial exactly as it
// would on /dev/ttyUSB2.

// recorder is an InboundHandler that keeps what it was given; fail makes it
// refuse (so the driver must keep the message on the modem).
type recorder struct {
	mu   sync.Mutex
	pdus []gateway.InboundPDU
	fail atomic.Bool
}

func (r *recorder) HandlePDU(ctx context.Context, p gateway.InboundPDU) error {
	if r.fail.Load() {
		return errors.New("store unavailable")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pdus = append(r.pdus, p)
	return nil
}

func (r *recorder) got() []gateway.InboundPDU {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]gateway.InboundPDU(nil), r.pdus...)
}

// observer records the states it was told about.
type observer struct {
	mu     sync.Mutex
	states []gateway.ModemState
}

func (o *observer) DeviceChanged(name string, st gateway.ModemStatus) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := len(o.states); n == 0 || o.states[n-1] != st.State {
		o.states = append(o.states, st.State)
	}
}

func (o *observer) seen(s gateway.ModemState) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, x := range o.states {
		if x == s {
			return true
		}
	}
	return false
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// txCounter is a slog handler counting raw AT writes containing a string.
type txCounter struct {
	needle string
	n      atomic.Int64
}

func (c *txCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *txCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "at tx" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "data" && strings.Contains(a.Value.String(), c.needle) {
			c.n.Add(1)
		}
		return true
	})
	return nil
}
func (c *txCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *txCounter) WithGroup(string) slog.Handler      { return c }

// wire is a slog handler that keeps the raw AT traffic, to prove that a
// quirk was really on the line.
type wire struct {
	mu sync.Mutex
	rx strings.Builder
	tx strings.Builder
}

func (w *wire) Enabled(context.Context, slog.Level) bool { return true }
func (w *wire) Handle(_ context.Context, r slog.Record) error {
	b := &w.rx
	switch r.Message {
	case "at rx":
	case "at tx":
		b = &w.tx
	default:
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "data" {
			w.mu.Lock()
			b.WriteString(a.Value.String())
			w.mu.Unlock()
		}
		return true
	})
	return nil
}
func (w *wire) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *wire) WithGroup(string) slog.Handler      { return w }
func (w *wire) received() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rx.String()
}
func (w *wire) sent() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tx.String()
}

type rig struct {
	t    testing.TB
	net  *modemsim.Network
	sim  *modemsim.Modem
	dir  string
	link string
	in   *recorder
	obs  *observer
	dev  *Device
}

// fastConfig keeps the test quick: short timeouts and intervals.
func fastConfig(name, port string) Config {
	var lg *slog.Logger
	if os.Getenv("MODEM_DEBUG") != "" {
		lg = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return Config{
		Logger:         lg,
		Name:           name,
		Port:           port,
		CommandTimeout: time.Second, // generous: the machine is shared and -race is slow
		SendTimeout:    3 * time.Second,
		PollInterval:   200 * time.Millisecond,
		HealthInterval: 200 * time.Millisecond,
		HangAfter:      2,
		ResetWait:      3 * time.Second,
		MinBackoff:     20 * time.Millisecond,
		MaxBackoff:     200 * time.Millisecond,
	}
}

// newRig serves one simulated modem on a PTY behind dir/<name>.
func newRig(t testing.TB, mc modemsim.ModemConfig, f modemsim.Faults) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), in: &recorder{}, obs: &observer{}}
	r.net = modemsim.NewNetwork(modemsim.NetworkOptions{})
	t.Cleanup(func() { r.net.Close() })
	if mc.Name == "" {
		mc.Name = "sim1"
	}
	r.sim = r.net.AddModem(mc)
	r.sim.SetFaults(f)
	r.link = filepath.Join(r.dir, mc.Name)
	if _, err := r.sim.ServePTY(r.link); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) open(cfg Config) *Device {
	r.t.Helper()
	d, err := Open(context.Background(), cfg, r.in, r.obs)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { d.Close() })
	r.dev = d
	return d
}

func (r *rig) waitUp(within time.Duration) {
	r.t.Helper()
	eventually(r.t, within, "modem up", func() bool { return r.dev.Status().Usable() })
}

func TestInitQuirks(t *testing.T) {
	echoed := func(rx string) bool { return strings.Contains(rx, "ATZ\r") || strings.Contains(rx, "AT\r") }
	urcs := func(rx string) bool { return strings.Contains(rx, "^RSSI:") || strings.Contains(rx, "+CREG: ") }
	noisy := func(rx string) bool { return strings.Contains(rx, "^BOOT") || strings.Contains(rx, "SMS Ready") }
	garbled := func(rx string) bool { return strings.IndexFunc(rx, func(r rune) bool { return r >= 0x80 }) >= 0 }
	tests := []struct {
		name   string
		faults modemsim.Faults
		replug bool                 // noise greets the first opener after a replug
		proof  func(rx string) bool // the quirk was really on the wire
	}{
		{"clean", modemsim.Faults{}, false, func(string) bool { return true }},
		{"echo on", modemsim.Faults{Echo: true}, false, echoed},
		{"urcs inside answers", modemsim.Faults{URCInAnswers: true}, false, urcs},
		{"boot noise", modemsim.Faults{BootNoise: true}, true, noisy},
		{"garbage", modemsim.Faults{Garbage: true}, true, garbled},
		{"everything", modemsim.Faults{Echo: true, URCInAnswers: true, BootNoise: true, Garbage: true}, true,
			func(rx string) bool { return echoed(rx) && urcs(rx) && noisy(rx) && garbled(rx) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, modemsim.ModemConfig{Manufacturer: "SIMCOM_Ltd", Model: "SIM800", Firmware: "1418B05"}, tt.faults)
			if tt.replug {
				if _, err := r.sim.Replug(); err != nil {
					t.Fatal(err)
				}
			}
			w := &wire{}
			cfg := fastConfig("m1", r.link)
			cfg.Logger = slog.New(w)
			d := r.open(cfg)
			r.waitUp(15 * time.Second)
			if !tt.proof(w.received()) {
				t.Errorf("the quirk never showed on the wire:\n%q", w.received())
			}
			imei, imsi, iccid := r.sim.Info()
			got := d.Info()
			want := gateway.ModemInfo{Manufacturer: "SIMCOM_Ltd", Model: "SIM800", Firmware: "1418B05",
				IMEI: imei, IMSI: imsi, ICCID: iccid, MSISDN: r.sim.MSISDN()}
			if got != want {
				t.Fatalf("Info() = %+v\nwant     %+v\nstatus %+v", got, want, d.Status())
			}
			st := d.Status()
			if st.Port != r.link || st.Operator == "" || st.RSSI == 99 {
				t.Errorf("Status() = %+v", st)
			}
			if !r.obs.seen(gateway.ModemUp) {
				t.Error("observer never heard up")
			}
			// and it can send right away
			sendText(t, d, "+15557654321", "hello")
		})
	}
}

// encode builds SMS-SUBMIT TPDUs for text to number.
func encode(t testing.TB, to, text string, srr bool) [][]byte {
	t.Helper()
	pdus, err := sms.Encode([]byte(text), sms.To(to))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, p := range pdus {
		if srr {
			p.FirstOctet |= tpdu.FoSRR
		}
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func sendText(t testing.TB, d *Device, to, text string) []int {
	t.Helper()
	var mrs []int
	for i, p := range encode(t, to, text, false) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		mr, err := d.SendPDU(ctx, p)
		cancel()
		if err != nil {
			t.Fatalf("part %d: SendPDU: %v", i+1, err)
		}
		mrs = append(mrs, mr)
	}
	return mrs
}

func TestSend(t *testing.T) {
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 8) // 360 chars: 3 parts
	tests := []struct {
		name  string
		text  string
		parts int
	}{
		{"single gsm7", "Hello from simgate {curly} €5", 1},
		{"multipart gsm7", long, 3},
		{"ucs2", "Привет, как дела? Ответь, пожалуйста.", 1},
		{"emoji", "Thanks 🙏 see you at 8 👍", 1},
		{"multipart ucs2 emoji", strings.Repeat("😀 ünïcødé ", 20), 4},
	}
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	d := r.open(fastConfig("m1", r.link))
	r.waitUp(10 * time.Second)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(r.net.Submissions())
			mrs := sendText(t, d, "+15557654321", tt.text)
			subs := r.net.Submissions()[before:]
			if len(subs) != tt.parts || len(mrs) != tt.parts {
				t.Fatalf("%d submissions, %d mrs; want %d parts", len(subs), len(mrs), tt.parts)
			}
			var text strings.Builder
			for i, s := range subs {
				if s.MR != mrs[i] {
					t.Errorf("part %d: modem mr %d, driver returned %d", i+1, s.MR, mrs[i])
				}
				if s.Parts != tt.parts || s.Part != i+1 {
					t.Errorf("part %d: sim saw part %d/%d", i+1, s.Part, s.Parts)
				}
				if s.To != "+15557654321" {
					t.Errorf("part %d: to %q", i+1, s.To)
				}
				text.WriteString(s.Text)
			}
			if text.String() != tt.text {
				t.Fatalf("sim decoded %q\nwant %q", text.String(), tt.text)
			}
		})
	}
}

func TestSendCMSErrorsClassified(t *testing.T) {
	tests := []struct {
		name      string
		faults    modemsim.Faults
		code      int
		temporary bool
	}{
		{"500 temporary", modemsim.Faults{CMSErrorRate: 1, CMSErrorCode: 500}, 500, true},
		{"304 permanent", modemsim.Faults{CMSErrorRate: 1, CMSErrorCode: 304}, 304, false},
		{"not registered 331", modemsim.Faults{NotRegistered: true}, 331, true},
	}
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	d := r.open(fastConfig("m1", r.link))
	r.waitUp(10 * time.Second)
	pdu := encode(t, "+15557654321", "hi", false)[0]
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.sim.SetFaults(tt.faults)
			defer r.sim.SetFaults(modemsim.Faults{})
			_, err := d.SendPDU(context.Background(), pdu)
			var se *gateway.SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *gateway.SendError", err)
			}
			if se.CMS != tt.code || se.Temporary != tt.temporary || se.Ambiguous {
				t.Fatalf("got %+v (%v), want CMS %d temporary %v", se, err, tt.code, tt.temporary)
			}
			if se.Class() != fmt.Sprintf("cms_%d", tt.code) {
				t.Errorf("class %q", se.Class())
			}
		})
	}
	// and after the faults are gone the modem sends again
	eventually(t, 5*time.Second, "registered again", func() bool { return d.Status().Usable() })
	sendText(t, d, "+15557654321", "ok again")
}

func TestSendBeforeUpIsTemporary(t *testing.T) {
	d, err := Open(context.Background(), Config{Name: "nowhere", Port: filepath.Join(t.TempDir(), "missing")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.SendPDU(context.Background(), []byte{0x01, 0x00})
	var se *gateway.SendError
	if !errors.As(err, &se) || !se.Temporary || se.Ambiguous {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.SendPDU(ctx, []byte{0x01, 0x00}); !errors.As(err, &se) || !se.Temporary {
		t.Fatalf("cancelled ctx: %v", err)
	}
}

func TestHangAfterPDUIsAmbiguousThenRecovered(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	d := r.open(fastConfig("m1", r.link))
	r.waitUp(10 * time.Second)
	r.sim.SetFaults(modemsim.Faults{HangAfterPDU: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := d.SendPDU(ctx, encode(t, "+15557654321", "maybe", false)[0])
	var se *gateway.SendError
	if !errors.As(err, &se) || !se.Ambiguous || se.Temporary {
		t.Fatalf("err = %v (%+v), want ambiguous", err, se)
	}
	subs := r.net.Submissions()
	if len(subs) != 1 || !subs[0].Ambiguous {
		t.Fatalf("sim submissions %+v", subs)
	}
	// The modem stays hung until the driver resets it (AT+CFUN=1,1).
	eventually(t, 20*time.Second, "recovered", func() bool {
		st := d.Status()
		return st.Usable() && st.Resets > 0 && st.ATTimeouts > 0
	})
	r.sim.SetFaults(modemsim.Faults{}) // disarm, or the next send hangs it again
	sendText(t, d, "+15557654321", "after recovery")
}

func TestHangRecovered(t *testing.T) {
	tests := []struct {
		name   string
		faults modemsim.Faults
	}{
		{"hang cleared by CFUN reset", modemsim.Faults{Hang: true}},
		{"hard hang cleared by reopen", modemsim.Faults{HangHard: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
			cfg := fastConfig("m1", r.link)
			cfg.ResetWait = 1500 * time.Millisecond
			d := r.open(cfg)
			r.waitUp(10 * time.Second)
			r.sim.SetFaults(tt.faults)
			eventually(t, 10*time.Second, "hang noticed", func() bool { return d.Status().State == gateway.ModemHung })
			eventually(t, 30*time.Second, "recovered", func() bool { return d.Status().Usable() })
			st := d.Status()
			if st.Resets == 0 || st.ATTimeouts < 2 {
				t.Errorf("status after recovery: %+v", st)
			}
			sendText(t, d, "+15557654321", "after hang")
		})
	}
}

func TestUnplugReplugNewName(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	cfg := fastConfig("m1", r.link)
	cfg.Globs = []string{filepath.Join(r.dir, "*")}
	d := r.open(cfg)
	r.waitUp(10 * time.Second)
	info := d.Info()
	if err := r.sim.Unplug(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "down", func() bool { return d.Status().State == gateway.ModemDown })
	// The modem comes back, and udev gives it another name.
	if _, err := r.sim.Replug(); err != nil {
		t.Fatal(err)
	}
	newLink := filepath.Join(r.dir, "ttyUSB7")
	if err := os.Rename(r.link, newLink); err != nil {
		t.Fatal(err)
	}
	r.waitUp(15 * time.Second)
	st := d.Status()
	if st.Port != newLink || d.Name() != "m1" || d.Info().IMEI != info.IMEI {
		t.Fatalf("after replug: name %q port %q info %+v (was %+v)", d.Name(), st.Port, d.Info(), info)
	}
	if st.Resets == 0 {
		t.Errorf("reopen not counted: %+v", st)
	}
	sendText(t, d, "+15557654321", "back")
}

func TestReplugOtherModemNotClaimed(t *testing.T) {
	// Two modems in one directory: each Device finds its own by IMEI.
	dir := t.TempDir()
	net := modemsim.NewNetwork(modemsim.NetworkOptions{})
	defer net.Close()
	a, b := net.AddModem(modemsim.ModemConfig{Name: "a"}), net.AddModem(modemsim.ModemConfig{Name: "b"})
	if _, err := a.ServePTY(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ServePTY(filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	imeiB, _, _ := b.Info()
	cfg := fastConfig("mb", "")
	cfg.Globs = []string{filepath.Join(dir, "*")}
	cfg.ExpectedIMEI = imeiB
	d, err := Open(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	eventually(t, 15*time.Second, "up", func() bool { return d.Status().Usable() })
	if d.Info().IMEI != imeiB || d.Status().Port != filepath.Join(dir, "b") {
		t.Fatalf("claimed %q at %q", d.Info().IMEI, d.Status().Port)
	}
	// Discover skips the port the Device holds and finds the other.
	found, err := Discover(context.Background(), cfg.Globs, nil)
	if err != nil {
		t.Fatal(err)
	}
	imeiA, _, _ := a.Info()
	if len(found) != 1 || found[0].Info.IMEI != imeiA || found[0].Path != filepath.Join(dir, "a") {
		t.Fatalf("Discover = %+v", found)
	}
	if _, err := Probe(context.Background(), filepath.Join(dir, "b"), time.Second); !errors.Is(err, ErrPortBusy) {
		t.Fatalf("Probe of a held port: %v", err)
	}
}

func TestPIN(t *testing.T) {
	t.Run("unlock", func(t *testing.T) {
		r := newRig(t, modemsim.ModemConfig{PIN: "1234"}, modemsim.Faults{})
		cfg := fastConfig("m1", r.link)
		cfg.PIN = "1234"
		d := r.open(cfg)
		r.waitUp(10 * time.Second)
		if d.Info().IMSI == "" {
			t.Fatal("no IMSI after unlock")
		}
	})
	t.Run("unlocked again after a replug", func(t *testing.T) {
		r := newRig(t, modemsim.ModemConfig{PIN: "1234"}, modemsim.Faults{})
		cfg := fastConfig("m1", r.link)
		cfg.PIN = "1234"
		tx := &txCounter{needle: `+CPIN="`}
		cfg.Logger = slog.New(tx)
		d := r.open(cfg)
		r.waitUp(10 * time.Second)
		r.sim.Unplug()
		eventually(t, 10*time.Second, "down", func() bool { return d.Status().State == gateway.ModemDown })
		if _, err := r.sim.Replug(); err != nil { // reboots: SIM PIN required again
			t.Fatal(err)
		}
		r.waitUp(15 * time.Second)
		if n := tx.n.Load(); n != 2 {
			t.Fatalf("PIN entered %d times, want 2 (once per boot)", n)
		}
	})
	t.Run("wrong pin entered once", func(t *testing.T) {
		r := newRig(t, modemsim.ModemConfig{PIN: "1234"}, modemsim.Faults{})
		cfg := fastConfig("m1", r.link)
		cfg.PIN = "0000"
		tx := &txCounter{needle: `+CPIN="`}
		cfg.Logger = slog.New(tx)
		d := r.open(cfg)
		eventually(t, 10*time.Second, "sim_locked", func() bool { return d.Status().State == gateway.ModemSIMLocked })
		// let it retry a few times (backoff 20..200ms): the PIN is never sent again
		// the next attempts find the SIM still locked and say so without entering the PIN
		eventually(t, 10*time.Second, "a retry", func() bool {
			return strings.Contains(d.Status().LastError, "fix the PIN")
		})
		st := d.Status()
		if st.State != gateway.ModemSIMLocked || !strings.Contains(st.LastError, "PIN") {
			t.Fatalf("status %+v", st)
		}
		if n := tx.n.Load(); n != 1 {
			t.Fatalf("PIN sent %d times, want 1", n)
		}
	})
	t.Run("no pin configured", func(t *testing.T) {
		r := newRig(t, modemsim.ModemConfig{PIN: "1234"}, modemsim.Faults{})
		d := r.open(fastConfig("m1", r.link))
		eventually(t, 10*time.Second, "sim_locked", func() bool { return d.Status().State == gateway.ModemSIMLocked })
		if !strings.Contains(d.Status().LastError, "no PIN") {
			t.Fatalf("LastError %q", d.Status().LastError)
		}
	})
}

// deliverPDUs builds SMS-DELIVER TPDUs of text from a sender.
func deliverPDUs(t testing.TB, from, text string) [][]byte {
	t.Helper()
	pdus, err := sms.Encode([]byte(text), sms.AsDeliver, sms.From(from))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, p := range pdus {
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// decodeAll reassembles the deliver PDUs a recorder got ("" if they do not
// decode to one complete message).
func decodeAll(t testing.TB, got []gateway.InboundPDU) string {
	t.Helper()
	var segs []*tpdu.TPDU
	for _, p := range got {
		if p.Kind != gateway.KindDeliver {
			continue
		}
		s, err := sms.Unmarshal(p.TPDU, sms.AsMT)
		if err != nil {
			t.Errorf("unmarshal %x: %v", p.TPDU, err)
			return ""
		}
		segs = append(segs, s)
	}
	if len(segs) == 0 {
		return ""
	}
	sort.Slice(segs, func(i, j int) bool {
		_, si, _, _ := segs[i].ConcatInfo()
		_, sj, _, _ := segs[j].ConcatInfo()
		return si < sj
	})
	b, err := sms.Decode(segs)
	if err != nil {
		return ""
	}
	return string(b)
}

func TestReceive(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{URCInAnswers: true})
	d := r.open(fastConfig("m1", r.link))
	r.waitUp(10 * time.Second)

	t.Run("single", func(t *testing.T) {
		if err := r.net.InjectSMS(r.sim.MSISDN(), "+15550009999", "hello inbound"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "received", func() bool { return len(r.in.got()) == 1 })
		eventually(t, 5*time.Second, "deleted", func() bool { return len(r.sim.Stored()) == 0 })
		p := r.in.got()[0]
		if p.Modem != "m1" || p.Kind != gateway.KindDeliver || decodeAll(t, r.in.got()) != "hello inbound" {
			t.Fatalf("got %+v", p)
		}
	})
	t.Run("multipart out of order", func(t *testing.T) {
		before := len(r.in.got())
		text := strings.Repeat("Part of a long reply, ", 12)
		parts := deliverPDUs(t, "+15550009999", text)
		if len(parts) < 2 {
			t.Fatalf("%d parts", len(parts))
		}
		for i := len(parts) - 1; i >= 0; i-- {
			if err := r.net.InjectPDU(r.sim.MSISDN(), parts[i]); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 5*time.Second, "all parts", func() bool { return len(r.in.got()) == before+len(parts) })
		if got := decodeAll(t, r.in.got()[before:]); got != text {
			t.Fatalf("reassembled %q", got)
		}
		eventually(t, 5*time.Second, "deleted", func() bool { return len(r.sim.Stored()) == 0 })
	})
	t.Run("kept on the modem while the handler fails", func(t *testing.T) {
		before := len(r.in.got())
		r.in.fail.Store(true)
		if err := r.net.InjectSMS(r.sim.MSISDN(), "+15550009999", "keep me"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "stored", func() bool { return len(r.sim.Stored()) == 1 })
		// several polls (200ms) go by; the message must stay
		pollsBefore := d.Status().Updated
		eventually(t, 5*time.Second, "a few polls", func() bool { return time.Since(pollsBefore) > time.Second })
		if len(r.sim.Stored()) != 1 || len(r.in.got()) != before {
			t.Fatalf("message handled or deleted while the handler failed")
		}
		r.in.fail.Store(false)
		eventually(t, 5*time.Second, "taken by the poll", func() bool { return len(r.in.got()) == before+1 })
		eventually(t, 5*time.Second, "deleted", func() bool { return len(r.sim.Stored()) == 0 })
	})
}

func TestStatusReports(t *testing.T) {
	net := modemsim.NewNetwork(modemsim.NetworkOptions{})
	defer net.Close()
	dir := t.TempDir()
	a := net.AddModem(modemsim.ModemConfig{Name: "a"})
	b := net.AddModem(modemsim.ModemConfig{Name: "b"})
	if _, err := a.ServePTY(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	in := &recorder{}
	inB := &recorder{}
	da, err := Open(context.Background(), fastConfig("a", filepath.Join(dir, "a")), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	if _, err := b.ServePTY(filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), fastConfig("b", filepath.Join(dir, "b")), inB, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eventually(t, 10*time.Second, "both up", func() bool { return da.Status().Usable() && db.Status().Usable() })

	mr, err := da.SendPDU(context.Background(), encode(t, b.MSISDN(), "report me", true)[0])
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "status report", func() bool {
		for _, p := range in.got() {
			if p.Kind == gateway.KindStatusReport {
				return true
			}
		}
		return false
	})
	for _, p := range in.got() {
		if p.Kind != gateway.KindStatusReport {
			continue
		}
		s, err := sms.Unmarshal(p.TPDU, sms.AsMT)
		if err != nil {
			t.Fatal(err)
		}
		if int(s.MR) != mr || s.ST != 0 {
			t.Fatalf("report mr %d st %d; sent mr %d", s.MR, s.ST, mr)
		}
	}
	eventually(t, 10*time.Second, "b received", func() bool { return decodeAll(t, inB.got()) == "report me" })
}

func TestStorageFull(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{StorageSlots: 3}, modemsim.Faults{})
	r.in.fail.Store(true) // the store is down: messages pile up on the SIM
	d := r.open(fastConfig("m1", r.link))
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
}

func TestCloseDuringSendIsQuickAndAmbiguous(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	d := r.open(fastConfig("m1", r.link))
	r.waitUp(10 * time.Second)
	r.sim.SetFaults(modemsim.Faults{SendLatency: time.Minute})
	res := make(chan error, 1)
	go func() {
		_, err := d.SendPDU(context.Background(), encode(t, "+15557654321", "slow", false)[0])
		res <- err
	}()
	eventually(t, 5*time.Second, "pdu on the wire", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.sess != nil && d.sess.tap.pduSent.Load()
	})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	var se *gateway.SendError
	if err := <-res; !errors.As(err, &se) || !se.Ambiguous {
		t.Fatalf("send interrupted by Close: %v", err)
	}
	if st := d.Status(); st.State != gateway.ModemClosed {
		t.Fatalf("state %s", st.State)
	}
}

// settle waits for the goroutine count to come back to base.
func settle(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, baseline %d\n%s", n, base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNoLeakOpenClose(t *testing.T) {
	n := 100
	if testing.Short() {
		n = 20
	}
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	cfg := fastConfig("m1", r.link)
	base := runtime.NumGoroutine()
	for i := range n {
		d, err := Open(context.Background(), cfg, r.in, nil)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, fmt.Sprintf("cycle %d up", i), func() bool { return d.Status().Usable() })
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, base)
}

func TestNoLeakHangRecover(t *testing.T) {
	n := 20 // each cycle waits out real timeouts: ~2s
	if testing.Short() {
		n = 5
	}
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	cfg := fastConfig("m1", r.link)
	cfg.CommandTimeout = 200 * time.Millisecond
	cfg.HealthInterval = 50 * time.Millisecond
	cfg.ResetWait = 600 * time.Millisecond
	base := runtime.NumGoroutine()
	d, err := Open(context.Background(), cfg, r.in, nil)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "up", func() bool { return d.Status().Usable() })
	for i := range n {
		resets := d.Status().Resets
		faults := modemsim.Faults{Hang: true}
		if i%2 == 1 {
			faults = modemsim.Faults{HangHard: true} // needs a reopen
		}
		r.sim.SetFaults(faults)
		eventually(t, 20*time.Second, fmt.Sprintf("cycle %d recovered", i), func() bool {
			st := d.Status()
			return st.Resets > resets && st.Usable()
		})
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	settle(t, base)
}

func TestTwoDevicesNeverShareAPort(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	d1 := r.open(fastConfig("m1", r.link))
	r.waitUp(10 * time.Second)
	d2, err := Open(context.Background(), fastConfig("m2", r.link), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	eventually(t, 10*time.Second, "second device refused", func() bool {
		st := d2.Status()
		return st.State == gateway.ModemDown && strings.Contains(st.LastError, "held by another modem")
	})
	if !d1.Status().Usable() {
		t.Fatalf("first device disturbed: %+v", d1.Status())
	}
	// once the first lets go, the second may have it
	d1.Close()
	eventually(t, 10*time.Second, "second device up", func() bool { return d2.Status().Usable() })
}

func TestExpectedICCIDMismatch(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	cfg := fastConfig("m1", r.link)
	cfg.ExpectedICCID = "89012600000000000000"
	d := r.open(cfg)
	eventually(t, 10*time.Second, "refused", func() bool {
		st := d.Status()
		return st.State == gateway.ModemDown && strings.Contains(st.LastError, "ICCID")
	})
}

func TestHealthFollowsModem(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	d := r.open(fastConfig("m1", r.link))
	r.waitUp(10 * time.Second)
	r.sim.SetSignal(5)
	eventually(t, 5*time.Second, "rssi 5", func() bool { return d.Status().RSSI == 5 })
	if dbm, ok := d.Status().SignalDBm(); !ok || dbm != -103 {
		t.Fatalf("dbm %d %v", dbm, ok)
	}
	r.sim.SetFaults(modemsim.Faults{NotRegistered: true})
	eventually(t, 5*time.Second, "not registered", func() bool {
		st := d.Status()
		return !st.Registration.Registered() && !st.Usable() && st.State == gateway.ModemUp
	})
	r.sim.SetFaults(modemsim.Faults{})
	eventually(t, 5*time.Second, "registered", func() bool { return d.Status().Usable() })
}

func TestSendWhileHungFailsFast(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	cfg := fastConfig("m1", r.link)
	cfg.ResetWait = 10 * time.Second
	d := r.open(cfg)
	r.waitUp(10 * time.Second)
	r.sim.SetFaults(modemsim.Faults{HangHard: true})
	eventually(t, 10*time.Second, "hung", func() bool { return d.Status().State == gateway.ModemHung })
	// no deadline: must not wait for the whole recovery
	_, err := d.SendPDU(context.Background(), encode(t, "+15557654321", "x", false)[0])
	var se *gateway.SendError
	if !errors.As(err, &se) || !se.Temporary || se.Ambiguous {
		t.Fatalf("err = %v", err)
	}
}

// withCNMI makes the driver ask for these +CNMI settings only.
func withCNMI(t *testing.T, modes ...string) {
	old := cnmiModes
	cnmiModes = modes
	t.Cleanup(func() { cnmiModes = old })
}

func TestReceivePaths(t *testing.T) {
	tests := []struct {
		name string
		cnmi []string
		poll time.Duration
	}{
		// +CMTI alone must do it: the safety-net poll is an hour away
		{"indication", []string{"+CNMI=2,1,0,1,0"}, time.Hour},
		// no indications at all: the poll must find it
		{"poll only", []string{"+CNMI=0,0,0,0,0"}, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withCNMI(t, tt.cnmi...)
			r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
			cfg := fastConfig("m1", r.link)
			cfg.PollInterval = tt.poll
			r.open(cfg)
			r.waitUp(10 * time.Second)
			if err := r.net.InjectSMS(r.sim.MSISDN(), "+15550009999", "which path"); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "received", func() bool { return decodeAll(t, r.in.got()) == "which path" })
			eventually(t, 5*time.Second, "deleted", func() bool { return len(r.sim.Stored()) == 0 })
		})
	}
}

func TestStatusReportStored(t *testing.T) {
	// ds=2: the report is stored and announced with +CDSI; the driver reads
	// it by index and deletes it after the handler took it.
	withCNMI(t, "+CNMI=2,1,0,2,0")
	net := modemsim.NewNetwork(modemsim.NetworkOptions{})
	defer net.Close()
	a := net.AddModem(modemsim.ModemConfig{Name: "a"})
	link := filepath.Join(t.TempDir(), "a")
	if _, err := a.ServePTY(link); err != nil {
		t.Fatal(err)
	}
	in := &recorder{}
	cfg := fastConfig("a", link)
	cfg.PollInterval = time.Hour
	d, err := Open(context.Background(), cfg, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	eventually(t, 10*time.Second, "up", func() bool { return d.Status().Usable() })
	mr, err := d.SendPDU(context.Background(), encode(t, "+15557654321", "report me", true)[0])
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "status report", func() bool {
		got := in.got()
		return len(got) == 1 && got[0].Kind == gateway.KindStatusReport
	})
	s, err := sms.Unmarshal(in.got()[0].TPDU, sms.AsMT)
	if err != nil {
		t.Fatal(err)
	}
	if int(s.MR) != mr {
		t.Fatalf("report mr %d, sent %d", s.MR, mr)
	}
	eventually(t, 5*time.Second, "deleted", func() bool { return len(a.Stored()) == 0 })
}

// BenchmarkSendPDU measures AT+CMGS round trips through a real PTY against
// the simulator with no network latency: the driver's own overhead.
func BenchmarkSendPDU(b *testing.B) {
	r := newRig(b, modemsim.ModemConfig{}, modemsim.Faults{})
	cfg := fastConfig("m1", r.link)
	cfg.PollInterval = time.Hour
	cfg.HealthInterval = time.Hour
	d := r.open(cfg)
	r.waitUp(10 * time.Second)
	pdu := encode(b, "+15557654321", "benchmark", false)[0]
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := d.SendPDU(context.Background(), pdu); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "parts/s")
}

func TestLateAnswerNotTakenForNextSend(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	cfg := fastConfig("m1", r.link)
	cfg.HangAfter = 10 // a slow network is not a hang
	// nothing else between the sends: the next command after the timeout is the next AT+CMGS
	cfg.HealthInterval = time.Hour
	cfg.PollInterval = time.Hour
	d := r.open(cfg)
	r.waitUp(10 * time.Second)
	r.sim.SetFaults(modemsim.Faults{SendLatency: 1500 * time.Millisecond})

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := d.SendPDU(ctx, encode(t, "+15557654321", "first", false)[0])
	cancel()
	var se *gateway.SendError
	if !errors.As(err, &se) || !se.Ambiguous {
		t.Fatalf("first: %v, want ambiguous", err)
	}
	// The first part's "+CMGS: <mr>" is still on its way: the next send
	// must not take it for its own answer.
	mrs := map[string]int{}
	for _, text := range []string{"second", "third", "fourth"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		mr, err := d.SendPDU(ctx, encode(t, "+15557654321", text, false)[0])
		cancel()
		if err == nil {
			mrs[text] = mr
		} else if !errors.As(err, &se) || se.Ambiguous {
			t.Fatalf("%s: %v", text, err)
		}
	}
	if len(mrs) == 0 {
		t.Fatal("no send succeeded after the late answer")
	}
	for text, mr := range mrs {
		found := false
		for _, s := range r.net.Submissions() {
			if s.Text == text {
				found = true
				if mr != s.MR {
					t.Errorf("%q: driver returned mr %d, the modem gave it %d", text, mr, s.MR)
				}
			}
		}
		if !found {
			t.Errorf("%q: driver reported it sent (mr %d) but the modem never got it", text, mr)
		}
	}
}

func TestProbeSilentPort(t *testing.T) {
	// A tty where nothing answers (a GPS, a modem's diagnostics port ...).
	master, slave, err := pty.Open()
	if err != nil {
		t.Skip("no pty:", err)
	}
	defer master.Close()
	defer slave.Close()
	go io.Copy(io.Discard, master)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := Probe(ctx, slave.Name(), 100*time.Millisecond); err == nil {
		t.Fatal("probe of a silent port succeeded")
	}
	t.Logf("probe took %s", time.Since(start))
	if claimed(slave.Name()) {
		t.Fatal("probe left the port claimed")
	}
	found, err := Discover(ctx, []string{slave.Name()}, nil)
	if err != nil || len(found) != 0 {
		t.Fatalf("Discover = %+v, %v", found, err)
	}
}

func TestRegistrationURC(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	cfg := fastConfig("m1", r.link)
	cfg.HealthInterval = time.Hour // only the +CREG URC can tell
	d := r.open(cfg)
	r.waitUp(10 * time.Second)
	r.sim.SetFaults(modemsim.Faults{NotRegistered: true})
	eventually(t, 5*time.Second, "registration lost", func() bool { return !d.Status().Registration.Registered() })
	r.sim.SetFaults(modemsim.Faults{})
	eventually(t, 5*time.Second, "registered", func() bool { return d.Status().Usable() })
}

// TestSIMSwapReadsTheNewSIM: a Huawei announces a SIM taken out and a SIM
// put in (^SIMST); the driver goes down while there is none ("SIM not
// inserted") and comes back with the new card's identity.
func TestSIMSwapReadsTheNewSIM(t *testing.T) {
	r := newRig(t, modemsim.ModemConfig{}, modemsim.Faults{})
	d := r.open(fastConfig("m1", r.link))
	r.waitUp(10 * time.Second)
	old := d.Info()
	if old.ICCID == "" {
		t.Fatal("no ICCID read")
	}
	if _, err := r.sim.TakeSIM(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "down without a SIM", func() bool {
		st := d.Status()
		return st.State == gateway.ModemDown && strings.Contains(st.LastError, "SIM not inserted")
	})
	card := r.net.NewSIM()
	if err := r.sim.InsertSIM(card); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "up with the new SIM", func() bool {
		return d.Status().Usable() && d.Info().ICCID == card.ICCID
	})
	if got := d.Info(); got.IMSI != card.IMSI || got.MSISDN != card.MSISDN || got.IMEI != old.IMEI {
		t.Errorf("identity after the swap %+v, want the card's %+v in the same modem", got, card)
	}
}
