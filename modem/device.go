package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/simgate/simgate/gateway"
)

// Config describes one modem. Only Name and Port (or Globs) are required.
type Config struct {
	// Name is the modem's configured name, stable across replugs.
	Name string
	// Port is the tty to open first; it may be a /dev/serial/by-id symlink.
	Port string
	// Globs say where to look for this modem after it vanished, e.g.
	// "/dev/serial/by-id/*", "/dev/ttyUSB*". A port found there is claimed
	// only if its IMEI matches the IMEI this Device had (or ExpectedIMEI).
	Globs []string
	// ExpectedIMEI, when set, refuses any modem with another IMEI.
	ExpectedIMEI string
	// ExpectedICCID, when set, refuses to serve with another SIM inserted.
	ExpectedICCID string
	// PIN unlocks the SIM. A PIN the SIM rejects is never retried.
	PIN string
	// Baud is the serial speed (8N1); default 115200.
	Baud int
	// CommandTimeout bounds one ordinary AT command; default 5s.
	CommandTimeout time.Duration
	// SendTimeout bounds the answer to the PDU of one AT+CMGS, which waits on
	// the network; default 60s (a real network can take 20s+).
	SendTimeout time.Duration
	// PromptTimeout bounds the wait for the "> " prompt after AT+CMGS=<n>,
	// which the modem itself gives within a second; default CommandTimeout.
	PromptTimeout time.Duration
	// ProbeTimeout bounds the plain "AT" sent after any timeout to tell a
	// slow answer from a hung modem; default CommandTimeout.
	ProbeTimeout time.Duration
	// PollInterval is how often AT+CMGL=4 sweeps the storage as a safety net
	// for lost +CMTI indications; default 30s.
	PollInterval time.Duration
	// HealthInterval is how often signal, registration and storage are read;
	// default 30s.
	HealthInterval time.Duration
	// HangAfter is the number of consecutive AT timeouts that count as a
	// hang and start recovery; default 3. A timeout whose "AT" probe is not
	// answered either is a hang at once.
	HangAfter int
	// ResetWait bounds how long the modem may take to answer again after
	// AT+CFUN=1,1; default 30s.
	ResetWait time.Duration
	// USSDTimeout bounds the wait for the network's answer to a USSD code;
	// default 30s.
	USSDTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay between attempts to reopen a
	// vanished port (doubling); defaults 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives the device's logs (raw AT traffic at Debug); nil discards.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Baud <= 0 {
		c.Baud = 115200
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 5 * time.Second
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 60 * time.Second
	}
	if c.PromptTimeout <= 0 {
		c.PromptTimeout = c.CommandTimeout
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = c.CommandTimeout
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 30 * time.Second
	}
	if c.HealthInterval <= 0 {
		c.HealthInterval = 30 * time.Second
	}
	if c.HangAfter <= 0 {
		c.HangAfter = 3
	}
	if c.ResetWait <= 0 {
		c.ResetWait = 30 * time.Second
	}
	if c.USSDTimeout <= 0 {
		c.USSDTimeout = 30 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first missing or invalid field.
func (c Config) Validate() error {
	if c.Name == "" {
		return errors.New("modem: name is required")
	}
	if c.Port == "" && len(c.Globs) == 0 {
		return fmt.Errorf("modem %s: port or globs is required", c.Name)
	}
	for _, g := range c.Globs {
		if _, err := filepath.Match(g, ""); err != nil {
			return fmt.Errorf("modem %s: glob %q: %w", c.Name, g, err)
		}
	}
	return nil
}

// Device is one physical modem. It implements gateway.Device. One goroutine,
// started by Open and stopped by Close, owns the serial port and runs the
// modem's life: open, init, identify, serve (sends, inbound, health), and
// recovery. Every exported method is safe for concurrent use.
type Device struct {
	cfg  Config
	name string
	in   gateway.InboundHandler
	obs  gateway.DeviceObserver
	log  *slog.Logger
	open opener

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	reqs   chan *sendReq
	ussd   chan *ussdReq

	closeOnce sync.Once

	mu      sync.Mutex
	info    gateway.ModemInfo
	st      gateway.ModemStatus
	imei    string   // identity this Device is bound to ("" until first init)
	sess    *session // current session, so Close can unblock it
	closing bool

	// owned by the run goroutine
	pinFailed  bool // the SIM rejected the PIN: never enter it again
	pinUnsure  bool // the last PIN entry got no answer
	ussdPacked bool // the firmware wants USSD codes packed in hex (Huawei)
	lastRSSI   int
}

var _ gateway.Device = (*Device)(nil)

// Open starts a Device and returns at once; the port is opened and the modem
// initialised in the background (watch Status or the observer). in receives
// inbound PDUs and obs hears about status changes; either may be nil (with
// no handler, stored messages are left on the modem untouched). ctx
// bounds nothing but Open itself: the Device lives until Close.
func Open(ctx context.Context, cfg Config, in gateway.InboundHandler, obs gateway.DeviceObserver) (*Device, error) {
	return open(ctx, cfg, in, obs, openSerial)
}

func open(ctx context.Context, cfg Config, in gateway.InboundHandler, obs gateway.DeviceObserver, op opener) (*Device, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	dctx, cancel := context.WithCancel(context.Background())
	now := time.Now()
	d := &Device{
		cfg:    cfg,
		name:   cfg.Name,
		in:     in,
		obs:    obs,
		log:    cfg.Logger.With("modem", cfg.Name),
		open:   op,
		ctx:    dctx,
		cancel: cancel,
		done:   make(chan struct{}),
		reqs:   make(chan *sendReq),
		ussd:   make(chan *ussdReq),
		imei:   cfg.ExpectedIMEI,
		st: gateway.ModemStatus{
			State:        gateway.ModemStarting,
			Registration: gateway.RegUnknown,
			RSSI:         99,
			Since:        now,
			Updated:      now,
		},
		lastRSSI: 99,
	}
	go d.run()
	return d, nil
}

// Name returns the configured name.
func (d *Device) Name() string { return d.name }

// Info returns the identity read at the last successful init.
func (d *Device) Info() gateway.ModemInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.info
}

// Status returns a snapshot of the modem's health; it never touches the port.
func (d *Device) Status() gateway.ModemStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.st
	st.Updated = time.Now()
	return st
}

// closeWait bounds how long Close waits for the owner goroutine.
const closeWait = 5 * time.Second

// Close stops the Device: it cancels the owner goroutine, closes the port
// (which aborts any command in flight; a send whose PDU was already written
// reports Ambiguous) and waits at most a few seconds.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closing = true
		s := d.sess
		d.mu.Unlock()
		d.cancel()
		if s != nil {
			s.close()
		}
	})
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-d.done:
		return nil
	case <-t.C:
		return fmt.Errorf("modem %s: close timed out after %s", d.name, closeWait)
	}
}

// setSession records the current session; false if Close has begun.
func (d *Device) setSession(s *session) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return false
	}
	d.sess = s
	if s != nil {
		d.st.Port = s.path
	}
	return true
}

// update changes the status under the lock and tells the observer when
// notify is true or the state changed.
func (d *Device) update(notify bool, f func(st *gateway.ModemStatus)) {
	d.mu.Lock()
	before := d.st.State
	f(&d.st)
	now := time.Now()
	changed := d.st.State != before
	if changed {
		d.st.Since = now
		notify = true
	}
	d.st.Updated = now
	st := d.st
	d.mu.Unlock()
	if changed {
		d.log.Info("modem state", "state", string(st.State), "was", string(before), "error", st.LastError)
	}
	if notify && d.obs != nil {
		d.obs.DeviceChanged(d.name, st)
	}
}

func (d *Device) setState(state gateway.ModemState, lastErr string) {
	d.update(false, func(st *gateway.ModemStatus) {
		st.State = state
		st.LastError = lastErr
		if state == gateway.ModemDown || state == gateway.ModemClosed {
			st.Port = ""
		}
	})
}

// setRegistration applies a +CREG URC; the observer hears of a change.
func (d *Device) setRegistration(r gateway.RegStatus) {
	d.mu.Lock()
	changed := d.st.Registration != r
	d.mu.Unlock()
	d.update(changed, func(st *gateway.ModemStatus) { st.Registration = r })
}

func (d *Device) countTimeout() {
	d.update(false, func(st *gateway.ModemStatus) { st.ATTimeouts++ })
}

func (d *Device) countReset(what string) {
	d.log.Info("modem recovery", "action", what)
	d.update(false, func(st *gateway.ModemStatus) { st.Resets++ })
}

// Sentinel causes the lifecycle reacts to.
var (
	errSIMLocked  = errors.New("sim locked")
	errSIMChanged = errors.New("SIM changed")
	errWrongModem = errors.New("wrong modem")
	errPortLost   = errors.New("port lost")
	errHung       = errors.New("modem hung")
	errNoPort     = errors.New("no port available")
)

// run is the owner goroutine: it connects, serves and recovers until Close.
func (d *Device) run() {
	defer close(d.done)
	backoff := d.cfg.MinBackoff
	lost := false  // a session was lost; the next successful connect is a reopen
	lastWarn := "" // the last failure logged at Warn (repeats go to Debug)
	for d.ctx.Err() == nil {
		s, err := d.connect()
		if err != nil {
			if d.ctx.Err() != nil {
				break
			}
			state := gateway.ModemDown
			if errors.Is(err, errSIMLocked) {
				state = gateway.ModemSIMLocked
			}
			d.setState(state, err.Error())
			if msg := err.Error(); msg != lastWarn {
				lastWarn = msg
				d.log.Warn("modem unavailable", "error", err, "retry_in", backoff.String())
			} else {
				d.log.Debug("modem unavailable", "error", err, "retry_in", backoff.String())
			}
			if !d.sleep(backoff) {
				break
			}
			backoff = min(2*backoff, d.cfg.MaxBackoff)
			continue
		}
		if lost {
			d.countReset("reopen")
		}
		backoff = d.cfg.MinBackoff
		lastWarn = ""
		err = d.serve(s)
		d.drop(s)
		if d.ctx.Err() != nil {
			break
		}
		lost = true
		switch {
		case errors.Is(err, errHung):
			d.setState(gateway.ModemHung, "modem hung; reopening the port")
		case errors.Is(err, errSIMLocked):
			d.setState(gateway.ModemSIMLocked, err.Error())
		default:
			d.setState(gateway.ModemDown, err.Error())
		}
	}
	d.setState(gateway.ModemClosed, "")
}

// sleep waits for dur or Close; false on Close.
func (d *Device) sleep(dur time.Duration) bool {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-d.ctx.Done():
		return false
	}
}

// drop closes a session and releases its port.
func (d *Device) drop(s *session) {
	d.mu.Lock()
	if d.sess == s {
		d.sess = nil
	}
	d.mu.Unlock()
	s.close()
	release(s.resolved, d.name)
}

// candidates lists the ports to try: the configured Port, then what the
// Globs match (only when this Device knows the IMEI it must find, or has no
// Port at all), deduplicated by resolved path.
func (d *Device) candidates() []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		r := resolve(p)
		if seen[r] {
			return
		}
		seen[r] = true
		out = append(out, p)
	}
	if d.cfg.Port != "" {
		if _, err := os.Stat(d.cfg.Port); err == nil {
			add(d.cfg.Port)
		}
	}
	d.mu.Lock()
	want := d.imei
	d.mu.Unlock()
	if want == "" && d.cfg.Port != "" {
		return out
	}
	var globbed []string
	for _, g := range d.cfg.Globs {
		m, _ := filepath.Glob(g)
		globbed = append(globbed, m...)
	}
	sort.Strings(globbed)
	for _, p := range globbed {
		add(p)
	}
	return out
}

// connect opens the first candidate port that holds this Device's modem and
// initialises it.
func (d *Device) connect() (*session, error) {
	paths := d.candidates()
	if len(paths) == 0 {
		return nil, d.noPortError()
	}
	var firstErr error
	for _, p := range paths {
		if d.ctx.Err() != nil {
			return nil, d.ctx.Err()
		}
		s, err := d.connectPath(p)
		if err == nil {
			return s, nil
		}
		d.log.Debug("port rejected", "port", p, "error", err)
		if errors.Is(err, errSIMLocked) {
			return nil, err // the right modem, but its SIM will not unlock
		}
		if firstErr == nil || errors.Is(firstErr, errWrongModem) {
			firstErr = err
		}
	}
	return nil, firstErr
}

// noPortError is errNoPort saying where the port was looked for.
func (d *Device) noPortError() error {
	var where []string
	if d.cfg.Port != "" {
		where = append(where, d.cfg.Port+" does not exist")
	}
	if len(d.cfg.Globs) > 0 {
		where = append(where, strings.Join(d.cfg.Globs, ", ")+" match no free port")
	}
	if len(where) == 0 {
		return errNoPort
	}
	return fmt.Errorf("%w: %s", errNoPort, strings.Join(where, "; "))
}

func (d *Device) connectPath(path string) (*session, error) {
	resolved, ok := claim(path, d.name)
	if !ok {
		return nil, fmt.Errorf("%s is held by another modem", path)
	}
	rw, err := d.open(path, d.cfg.Baud)
	if err != nil {
		release(resolved, d.name)
		return nil, err
	}
	s := newSession(d, path, resolved, rw)
	if !d.setSession(s) {
		s.close()
		release(resolved, d.name)
		return nil, gateway.ErrClosed
	}
	d.setState(gateway.ModemStarting, "")
	if err := s.init(); err != nil {
		d.drop(s)
		return nil, err
	}
	return s, nil
}
