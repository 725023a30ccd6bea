package balance

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/simgate/simgate/gateway"
)

// operator answers balance codes like a network would, per modem.
type operator struct {
	mu      sync.Mutex
	balance map[string]string // modem → answer text; "" = no answer
}

func (o *operator) RunUSSD(ctx context.Context, modem, code string) (gateway.USSDReply, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.balance[modem]
	if !ok {
		return gateway.USSDReply{}, gateway.ErrNoModem
	}
	if t == "" {
		return gateway.USSDReply{}, gateway.ErrUSSDTimeout
	}
	return gateway.USSDReply{Text: t, DCS: 15}, nil
}

func (o *operator) set(modem, text string) {
	o.mu.Lock()
	o.balance[modem] = text
	o.mu.Unlock()
}

// pauses is a Fleet that keeps pauses as the dispatcher does.
type pauses struct {
	mu     sync.Mutex
	reason map[string]string // paused modems
}

func (p *pauses) Modem(name string) (gateway.ModemView, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.reason[name]
	return gateway.ModemView{Name: name, Paused: ok, PauseReason: r,
		Status: gateway.ModemStatus{State: gateway.ModemUp, Registration: gateway.RegHome}}, nil
}

func (p *pauses) Pause(name, reason string, until time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reason[name] = reason
	return nil
}

func (p *pauses) Resume(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.reason, name)
	return nil
}

func (p *pauses) get(name string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.reason[name]
	return r, ok
}

var amountRe = regexp.MustCompile(`balance is (-?[0-9][0-9.,]*)`)

func TestCheckerPausesOnLowBalanceAndResumes(t *testing.T) {
	op := &operator{balance: map[string]string{"sim1": "Your balance is 12.34 USD.", "sim2": "Your balance is 7,50 EUR."}}
	fl := &pauses{reason: map[string]string{}}
	reg := prometheus.NewRegistry()
	c, err := New([]Check{
		{Modem: "sim1", Code: "*100#", Every: time.Hour, Amount: amountRe, Low: 1},
		{Modem: "sim2", Code: "*101#", Every: time.Hour, Amount: amountRe, Low: 5},
	}, op, fl, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, m := range []string{"sim1", "sim2"} {
		if _, err := c.CheckNow(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := c.Last("sim2"); r.Amount != 7.5 || r.Low {
		t.Fatalf("sim2 %+v", r)
	}
	if _, paused := fl.get("sim1"); paused {
		t.Fatal("sim1 paused with money on it")
	}
	if got := testutil.ToFloat64(c.amount.WithLabelValues("sim1")); got != 12.34 {
		t.Fatalf("metric %v", got)
	}

	op.set("sim1", "Your balance is 0.50 USD.")
	if r, _ := c.CheckNow(ctx, "sim1"); !r.Low || r.Amount != 0.5 {
		t.Fatalf("low result %+v", r)
	}
	reason, paused := fl.get("sim1")
	if !paused || !strings.Contains(reason, "low balance: 0.5 below 1") {
		t.Fatalf("sim1 pause %q %v", reason, paused)
	}
	if got := testutil.ToFloat64(c.low.WithLabelValues("sim1")); got != 1 {
		t.Fatalf("low metric %v", got)
	}
	if _, paused := fl.get("sim2"); paused {
		t.Fatal("sim2 paused with it")
	}

	// A failed check keeps the last amount and changes no pause.
	op.set("sim1", "")
	if _, err := c.CheckNow(ctx, "sim1"); !errors.Is(err, gateway.ErrUSSDTimeout) {
		t.Fatalf("err %v", err)
	}
	if r, _ := c.Last("sim1"); r.Amount != 0.5 || r.Err == "" {
		t.Fatalf("after a failed check %+v", r)
	}
	if _, paused := fl.get("sim1"); !paused {
		t.Fatal("a failed check lifted the pause")
	}

	// Topped up: resumed, since the pause was ours.
	op.set("sim1", "Your balance is 20.00 USD.")
	c.CheckNow(ctx, "sim1")
	if _, paused := fl.get("sim1"); paused {
		t.Fatal("not resumed after top-up")
	}

	// The operator's own pause is never lifted.
	fl.Pause("sim1", "SIM swap", time.Time{})
	c.CheckNow(ctx, "sim1")
	if reason, _ := fl.get("sim1"); reason != "SIM swap" {
		t.Fatalf("operator's pause became %q", reason)
	}
	if n := testutil.ToFloat64(c.counted.WithLabelValues("sim1", "error")); n != 1 {
		t.Fatalf("errors counted %v", n)
	}
}

func TestCheckerRunsOnSchedule(t *testing.T) {
	op := &operator{balance: map[string]string{"sim1": "Your balance is 3.00 USD."}}
	c, err := New([]Check{{Modem: "sim1", Code: "*100#", Every: time.Minute, Amount: amountRe}}, op, &pauses{reason: map[string]string{}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if r, ok := c.Last("sim1"); ok && r.Amount == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no check at start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
}

func TestParseAmount(t *testing.T) {
	tests := []struct {
		text string
		want float64
		ok   bool
	}{
		{"Your balance is 12.34 USD.", 12.34, true},
		{"Your balance is 12,34 EUR.", 12.34, true},
		{"Your balance is 1,234.50 KES.", 1234.5, true},
		{"Your balance is -1.50 USD.", -1.5, true},
		{"Your balance is 5.", 5, true},
		{"Dear customer, try later", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseAmount(amountRe, tt.text)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseAmount(%q) = %v %v, want %v %v", tt.text, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCheckValidate(t *testing.T) {
	good := Check{Modem: "sim1", Code: "*100#", Every: time.Hour, Amount: amountRe}
	bad := []Check{{}, {Modem: "sim1"}, {Modem: "sim1", Code: "*100#", Every: time.Second, Amount: amountRe},
		{Modem: "sim1", Code: "*100#", Every: time.Hour}, {Modem: "sim1", Code: "*100#", Every: time.Hour, Amount: amountRe, Low: -1}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for i, b := range bad {
		if b.Validate() == nil {
			t.Errorf("bad[%d] passed", i)
		}
	}
}

// readings is a History that keeps what it is told.
type readings struct {
	mu  sync.Mutex
	got []string
}

func (r *readings) RecordBalance(modem string, amount float64, _ time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, modem+"="+fmtAmount(amount))
}

// TestCheckerRecordsHistory: every amount read goes to the History (the
// SIM inventory); a check without an amount records nothing.
func TestCheckerRecordsHistory(t *testing.T) {
	op := &operator{balance: map[string]string{"sim1": "Your balance is 3.25 USD."}}
	h := &readings{}
	c, err := New([]Check{{Modem: "sim1", Code: "*100#", Every: time.Hour, Amount: amountRe}}, op,
		&pauses{reason: map[string]string{}}, Options{History: h})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c.CheckNow(ctx, "sim1")
	op.set("sim1", "Sorry, try later.")
	c.CheckNow(ctx, "sim1")
	op.set("sim1", "Your balance is 1,5 USD.")
	c.CheckNow(ctx, "sim1")
	if want := []string{"sim1=3.25", "sim1=1.5"}; !slices.Equal(h.got, want) {
		t.Errorf("history %v, want %v", h.got, want)
	}
}
