package modemsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/warthog618/sms"
)

// ErrUnknownNumber is returned by InjectSMS and InjectPDU when no simulated
// modem has the destination MSISDN.
var ErrUnknownNumber = errors.New("modemsim: no simulated modem has that number")

// ErrClosed is returned when the Network (or a modem's port) has been closed.
var ErrClosed = errors.New("modemsim: closed")

// NetworkOptions configures a Network. The zero value is usable: delivery and
// reports are immediate (but asynchronous) and nothing is logged.
type NetworkOptions struct {
	// DeliveryDelay is how long a submitted message takes to reach a
	// simulated recipient (or to count as delivered to the outside world).
	DeliveryDelay time.Duration
	// ReportDelay is how long after delivery a requested status report
	// reaches the sender.
	ReportDelay time.Duration
	// Logger receives raw AT traffic at Debug. nil discards.
	Logger *slog.Logger
	// Recipients plays the people outside the network: once the last part
	// of a message reaches a number that is not a simulated modem,
	// Recipients(s) (s is that last part) says what the recipient answers
	// (ok false: nothing), and the answer reaches the sending SIM
	// ReplyDelay later as an SMS from that number, as InjectSMS would send
	// it. nil: nobody answers. It is called on a network goroutine.
	Recipients func(s Submission) (reply string, ok bool)
	ReplyDelay time.Duration
}

// Submission is one SMS-SUBMIT the network accepted from a simulated modem.
type Submission struct {
	Seq        int       `json:"seq"`        // 1-based order of acceptance
	Modem      string    `json:"modem"`      // name of the sending modem
	FromMSISDN string    `json:"from"`       // sending modem's number
	To         string    `json:"to"`         // TP-DA as a number (leading + when international)
	MR         int       `json:"mr"`         // TP-MR assigned by the modem (the +CMGS answer)
	TPDU       []byte    `json:"tpdu"`       // the SMS-SUBMIT TPDU with the assigned TP-MR (no SMSC address); base64 in JSON
	Text       string    `json:"text"`       // decoded text of this part
	ConcatRef  int       `json:"concat_ref"` // concatenation reference, 0 when single part
	Part       int       `json:"part"`       // 1-based part number, 1 when single part
	Parts      int       `json:"parts"`      // number of parts, 1 when single part
	SRR        bool      `json:"srr"`        // TP-SRR: a status report was requested
	At         time.Time `json:"at"`         // when the network accepted it
	Ambiguous  bool      `json:"ambiguous"`  // the PDU was accepted but +CMGS was never answered (HangAfterPDU)
}

// Network is a small GSM network of simulated modems.
type Network struct {
	opts NetworkOptions
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	modems   []*Modem
	byName   map[string]*Modem
	byNumber map[string]*Modem
	subs     []Submission
	serial   int
	tray     map[string]SIMCard // cards taken out through the control endpoint, by ICCID

	concatRef sms.Counter
}

// NewNetwork returns an empty network.
func NewNetwork(opts NetworkOptions) *Network {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Network{
		opts:     opts,
		log:      log,
		ctx:      ctx,
		cancel:   cancel,
		byName:   map[string]*Modem{},
		byNumber: map[string]*Modem{},
	}
}

// Close closes every modem, its connections and PTYs, stops pending
// deliveries and waits for all goroutines of the network to end.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	modems := append([]*Modem(nil), n.modems...)
	n.mu.Unlock()
	n.cancel()
	for _, m := range modems {
		m.shutdown()
	}
	n.wg.Wait()
	return nil
}

// numberKey normalises a phone number for routing: digits only.
func numberKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// AddModem adds a modem to the network. Empty fields get sensible, unique
// defaults (name modemN, a +1555 number, an IMEI with a valid Luhn digit ...).
// A name or number already in use is made unique by the defaults only when
// empty; reusing one replaces the routing entry.
func (n *Network) AddModem(cfg ModemConfig) *Modem {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.serial++
	k := n.serial
	if cfg.Name == "" {
		cfg.Name = fmt.Sprintf("modem%d", k)
	}
	if cfg.MSISDN == "" {
		cfg.MSISDN = fmt.Sprintf("+1555%07d", 1000+k)
	}
	if cfg.IMEI == "" {
		cfg.IMEI = withLuhn(fmt.Sprintf("35693803%06d", k))
	}
	if cfg.IMSI == "" {
		cfg.IMSI = fmt.Sprintf("310260%09d", k)
	}
	if cfg.ICCID == "" {
		cfg.ICCID = withLuhn(fmt.Sprintf("890126%012d", k))
	}
	if cfg.Manufacturer == "" {
		cfg.Manufacturer = "huawei"
	}
	if cfg.Model == "" {
		cfg.Model = "E3531"
	}
	if cfg.Firmware == "" {
		cfg.Firmware = "22.521.23.00.00"
	}
	if cfg.Operator == "" {
		cfg.Operator = "SimNet"
	}
	if cfg.StorageSlots <= 0 {
		cfg.StorageSlots = 30
	}
	if cfg.BalanceCode == "" {
		cfg.BalanceCode = "*100#"
	}
	if cfg.Balance == "" {
		cfg.Balance = "12.34 USD"
	}
	if cfg.SMSCAddress == "" {
		cfg.SMSCAddress = "+15550000000"
	}
	m := newModem(n, cfg)
	n.modems = append(n.modems, m)
	n.byName[cfg.Name] = m
	n.byNumber[numberKey(cfg.MSISDN)] = m
	return m
}

// Modem returns the modem with that name, or nil.
func (n *Network) Modem(name string) *Modem {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.byName[name]
}

// Modems returns all modems in the order they were added.
func (n *Network) Modems() []*Modem {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*Modem(nil), n.modems...)
}

func (n *Network) lookup(number string) *Modem {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.byNumber[numberKey(number)]
}

// Submissions returns every SMS-SUBMIT the network accepted, in order.
func (n *Network) Submissions() []Submission {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Submission, len(n.subs))
	for i, s := range n.subs {
		s.TPDU = append([]byte(nil), s.TPDU...)
		out[i] = s
	}
	return out
}

// Outside returns the submissions addressed to numbers that are not
// simulated modems ("delivered to the outside world").
func (n *Network) Outside() []Submission {
	var out []Submission
	for _, s := range n.Submissions() {
		if n.lookup(s.To) == nil {
			out = append(out, s)
		}
	}
	return out
}

// after runs fn after d on a goroutine the network owns; it is dropped when
// the network closes first.
func (n *Network) after(d time.Duration, fn func()) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			fn()
		case <-n.ctx.Done():
		}
	}()
}

// withLuhn appends the Luhn check digit to a string of digits.
func withLuhn(digits string) string {
	sum := 0
	double := true
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return digits + string(rune('0'+(10-sum%10)%10))
}

// luhnValid reports whether s (digits) ends with a valid Luhn check digit.
func luhnValid(s string) bool {
	if len(s) < 2 {
		return false
	}
	return withLuhn(s[:len(s)-1]) == s
}
