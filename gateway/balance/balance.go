package balance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simgate/simgate/gateway"
)

// Check is how one modem's balance is read.
type Check struct {
	// Modem is the modem's configured name.
	Modem string
	// Code is the operator's balance code, e.g. "*100#".
	Code string
	// Every is how often the balance is read (at least a minute).
	Every time.Duration
	// Amount finds the amount in the operator's answer; its first group
	// (or the whole match) is the number, with "." or "," as the decimal
	// separator ("Your balance is 12,34 EUR" with `balance is ([0-9.,]+)`).
	Amount *regexp.Regexp
	// Low pauses the modem when the amount is below it; 0: never.
	Low float64
}

// Validate names the first wrong field.
func (c Check) Validate() error {
	switch {
	case c.Modem == "":
		return errors.New("balance: modem is required")
	case c.Code == "":
		return fmt.Errorf("balance %s: code is required", c.Modem)
	case c.Every < time.Minute:
		return fmt.Errorf("balance %s: every must be at least 1m", c.Modem)
	case c.Amount == nil:
		return fmt.Errorf("balance %s: amount (a regular expression) is required", c.Modem)
	case c.Low < 0:
		return fmt.Errorf("balance %s: low must not be negative", c.Modem)
	}
	return nil
}

// Result is the outcome of a modem's last check.
type Result struct {
	Amount float64   `json:"amount"`
	Known  bool      `json:"known"` // an amount was read
	Low    bool      `json:"low"`   // below the threshold: the modem was paused
	Text   string    `json:"text,omitempty"`
	Err    string    `json:"error,omitempty"`
	At     time.Time `json:"at"`
}

// Fleet is what the Checker steers: the dispatcher's public pause.
// gateway.Dispatcher implements it.
type Fleet interface {
	Modem(name string) (gateway.ModemView, error)
	Pause(name, reason string, until time.Time) error
	Resume(name string) error
}

// reasonPrefix starts the reason of every pause the Checker makes, so
// that it resumes only its own.
const reasonPrefix = "low balance"

// Checker reads balances on a schedule.
type Checker struct {
	ussd  gateway.USSDService
	fleet Fleet
	log   *slog.Logger
	now   func() time.Time

	amount  *prometheus.GaugeVec
	low     *prometheus.GaugeVec
	counted *prometheus.CounterVec
	timeout time.Duration
	history History

	mu     sync.Mutex
	checks map[string]Check
	last   map[string]Result
	due    map[string]time.Time
	kick   chan struct{}
}

// History keeps the balance readings of the SIM in a modem (the SIM
// inventory: they follow the SIM to another modem). gateway.Dispatcher
// implements it.
type History interface {
	RecordBalance(modem string, amount float64, at time.Time)
}

// Options tunes a Checker; the zero value is usable.
type Options struct {
	// History receives every amount read (nil: kept only as Last).
	History    History
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics registered
	Now        func() time.Time
	// Timeout bounds one check; default 45s (the driver's USSD timeout is 30s).
	Timeout time.Duration
}

// New returns a Checker for checks (one per modem).
func New(checks []Check, ussd gateway.USSDService, fleet Fleet, o Options) (*Checker, error) {
	if ussd == nil || fleet == nil {
		return nil, errors.New("balance: nil USSD service or fleet")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = 45 * time.Second
	}
	c := &Checker{
		ussd: ussd, fleet: fleet, log: o.Logger, now: o.Now, timeout: o.Timeout, history: o.History,
		amount: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "simgate_modem_balance",
			Help: "The SIM's balance as the operator's balance code last told it (in the SIM's currency)."}, []string{"modem"}),
		low: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "simgate_modem_balance_low",
			Help: "1 while the SIM's balance is below its threshold (the modem is paused)."}, []string{"modem"}),
		counted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "simgate_balance_checks_total",
			Help: "Balance checks by result (ok, no_amount, error)."}, []string{"modem", "result"}),
		last: map[string]Result{},
		due:  map[string]time.Time{},
		kick: make(chan struct{}, 1),
	}
	if err := c.SetChecks(checks); err != nil {
		return nil, err
	}
	if o.Registerer != nil {
		for _, m := range []prometheus.Collector{c.amount, c.low, c.counted} {
			if err := o.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("balance: register metrics: %w", err)
			}
		}
	}
	return c, nil
}

// SetChecks replaces the checks (a reload). A modem that keeps its check
// keeps its schedule; a new or changed one is checked at once.
func (c *Checker) SetChecks(checks []Check) error {
	m := map[string]Check{}
	for _, ch := range checks {
		if err := ch.Validate(); err != nil {
			return err
		}
		if _, dup := m[ch.Modem]; dup {
			return fmt.Errorf("balance %s: two checks for one modem", ch.Modem)
		}
		m[ch.Modem] = ch
	}
	c.mu.Lock()
	old := c.checks
	c.checks = m
	for name := range c.due {
		if _, ok := m[name]; !ok {
			delete(c.due, name)
		}
	}
	now := c.now()
	for name, ch := range m {
		if _, ok := c.due[name]; !ok || !same(old[name], ch) {
			c.due[name] = now
		}
	}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return nil
}

func same(a, b Check) bool {
	return a.Modem == b.Modem && a.Code == b.Code && a.Every == b.Every && a.Low == b.Low &&
		(a.Amount == nil) == (b.Amount == nil) && (a.Amount == nil || a.Amount.String() == b.Amount.String())
}

// Last returns the result of modem's last check.
func (c *Checker) Last(modem string) (Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.last[modem]
	return r, ok
}

// Run checks each modem when it is due until ctx ends.
func (c *Checker) Run(ctx context.Context) error {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		name, wait := c.next()
		if name != "" && wait <= 0 {
			if !c.ready(name) {
				// not up yet (starting, reopening): try again soon, no failure
				c.postpone(name, notReadyRetry)
				continue
			}
			_, _ = c.CheckNow(ctx, name)
			continue
		}
		if name == "" {
			wait = time.Hour
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.kick:
		case <-t.C:
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
	}
}

// notReadyRetry is how soon a check due on a modem that is not up is tried again.
const notReadyRetry = 2 * time.Second

// ready reports whether modem's device is up and registered (a paused
// modem is checked too: that is how it gets resumed).
func (c *Checker) ready(modem string) bool {
	v, err := c.fleet.Modem(modem)
	return err == nil && v.Status.Usable()
}

func (c *Checker) postpone(modem string, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.due[modem]; ok {
		c.due[modem] = c.now().Add(d)
	}
}

// next is the modem due first and how long until it is due.
func (c *Checker) next() (string, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var name string
	var at time.Time
	for n, d := range c.due {
		if name == "" || d.Before(at) || d.Equal(at) && n < name {
			name, at = n, d
		}
	}
	if name == "" {
		return "", 0
	}
	return name, at.Sub(c.now())
}

// CheckNow reads modem's balance now, pauses or resumes it as the amount
// says, and schedules the next check.
func (c *Checker) CheckNow(ctx context.Context, modem string) (Result, error) {
	c.mu.Lock()
	ch, ok := c.checks[modem]
	c.mu.Unlock()
	if !ok {
		return Result{}, fmt.Errorf("balance %s: no check configured: %w", modem, gateway.ErrNoModem)
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	reply, err := c.ussd.RunUSSD(cctx, modem, ch.Code)
	cancel()
	res := Result{At: c.now()}
	switch {
	case err != nil:
		res.Err = err.Error()
		c.counted.WithLabelValues(modem, "error").Inc()
		c.log.Warn("balance check failed", "modem", modem, "error", err)
	default:
		res.Text = reply.Text
		amount, ok := parseAmount(ch.Amount, reply.Text)
		if !ok {
			res.Err = "no amount in the answer"
			c.counted.WithLabelValues(modem, "no_amount").Inc()
			c.log.Warn("balance answer has no amount", "modem", modem)
			break
		}
		c.counted.WithLabelValues(modem, "ok").Inc()
		res.Amount, res.Known = amount, true
		res.Low = ch.Low > 0 && amount < ch.Low
		c.amount.WithLabelValues(modem).Set(amount)
		if c.history != nil {
			c.history.RecordBalance(modem, amount, res.At)
		}
		c.apply(modem, ch, res)
	}
	c.mu.Lock()
	if prev, ok := c.last[modem]; ok && !res.Known && prev.Known {
		// keep the last amount known; say the latest check failed
		prev.Err, prev.At = res.Err, res.At
		res = prev
	}
	c.last[modem] = res
	if _, still := c.checks[modem]; still {
		c.due[modem] = c.now().Add(ch.Every)
	}
	c.mu.Unlock()
	if err != nil {
		return res, err
	}
	return res, nil
}

// apply pauses a modem whose balance is low and resumes one it paused
// whose balance is no longer low.
func (c *Checker) apply(modem string, ch Check, res Result) {
	v, err := c.fleet.Modem(modem)
	if err != nil {
		return
	}
	ours := v.Paused && strings.HasPrefix(v.PauseReason, reasonPrefix)
	switch {
	case res.Low:
		c.low.WithLabelValues(modem).Set(1)
		if v.Paused {
			return // already paused (by us, or by the operator for another reason)
		}
		reason := fmt.Sprintf("%s: %s below %s (%s)", reasonPrefix, fmtAmount(res.Amount), fmtAmount(ch.Low), ch.Code)
		if err := c.fleet.Pause(modem, reason, time.Time{}); err != nil {
			c.log.Warn("cannot pause a modem with low balance", "modem", modem, "error", err)
			return
		}
		c.log.Warn("modem paused: low balance", "modem", modem, "balance", res.Amount, "low", ch.Low)
	default:
		c.low.WithLabelValues(modem).Set(0)
		if ours {
			if err := c.fleet.Resume(modem); err != nil {
				c.log.Warn("cannot resume a modem after its balance came back", "modem", modem, "error", err)
				return
			}
			c.log.Info("modem resumed: balance above its threshold", "modem", modem, "balance", res.Amount)
		}
	}
}

func fmtAmount(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// parseAmount pulls the amount out of text: the first group of re (or its
// whole match), "," taken as the decimal separator when there is no ".".
func parseAmount(re *regexp.Regexp, text string) (float64, bool) {
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0, false
	}
	s := m[0]
	if len(m) > 1 {
		s = m[1]
	}
	s = strings.TrimSpace(s)
	switch {
	case strings.Contains(s, ".") && strings.Contains(s, ","):
		s = strings.ReplaceAll(s, ",", "") // 1,234.56
	case strings.Contains(s, ","):
		s = strings.ReplaceAll(s, ",", ".") // 12,34
	}
	s = strings.TrimRight(s, ".")
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return f, true
}
