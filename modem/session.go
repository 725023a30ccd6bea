package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/warthog618/modem/at"

	"github.com/simgate/simgate/gateway"
)

// session is one open port and the AT layer on it. Only the Device's run
// goroutine issues commands; the indication handlers (run by the AT layer on
// their own goroutines) only record work and kick the run goroutine.
type session struct {
	d        *Device
	path     string // as opened
	resolved string // as claimed
	tap      *tap
	at       *at.AT

	consec  int           // consecutive AT timeouts
	dirty   bool          // a command timed out: its answer may still arrive
	probe   bool          // a command timed out: probe with "AT" before going on
	why     string        // why the modem is taken for hung (Status().LastError)
	busyFor time.Duration // how much longer the modem may legitimately be busy (a send on the network)
	// finalOwed: the last send's "+CMGS:" came without its final OK,
	// which may still arrive (and end the next AT+CMGS before its prompt).
	finalOwed bool
	full      bool // storage full seen
	srMem     bool // status reports are stored in "SR" (+CDSI)
	srStore   bool // the modem has an "SR" memory that the poll sweeps too
	kick      chan struct{}
	reg       chan gateway.RegStatus // latest +CREG URC, applied by the owner
	routed    chan routedPDU
	cusd      chan cusd    // +CUSD URCs, applied by the owner
	simst     chan int     // ^SIMST URCs (Huawei: the SIM was taken out or put in)
	ussd      *ussdSession // the open USSD session, owned by the run goroutine
	once      sync.Once
	mu        sync.Mutex
	pending   []indexRef // from +CMTI / +CDSI
}

type indexRef struct {
	mem   string
	index int
}

type routedPDU struct {
	tpdu []byte
}

func newSession(d *Device, path, resolved string, rw io.ReadWriteCloser) *session {
	s := &session{
		d:        d,
		path:     path,
		resolved: resolved,
		tap:      newTap(rw, d.log),
		kick:     make(chan struct{}, 1),
		reg:      make(chan gateway.RegStatus, 1),
		routed:   make(chan routedPDU, 32),
		cusd:     make(chan cusd, 4),
		simst:    make(chan int, 1),
	}
	s.at = at.New(s.tap,
		at.WithTimeout(d.cfg.CommandTimeout),
		at.WithIndication("+CMTI:", s.onIndex("+CMTI:")),
		at.WithIndication("+CDSI:", s.onIndex("+CDSI:")),
		at.WithIndication("+CMT:", s.onRouted, at.WithTrailingLine),
		at.WithIndication("+CDS:", s.onRouted, at.WithTrailingLine),
		at.WithIndication("+CREG:", s.onReg),
		at.WithIndication("+CUSD:", s.onCUSD),
		at.WithIndication("^SIMST:", s.onSIMST),
	)
	return s
}

// closeWaitAT bounds how long close waits for the AT goroutines to end.
const closeWaitAT = 2 * time.Second

// close closes the port, which ends the AT layer's goroutines.
func (s *session) close() {
	s.once.Do(func() {
		_ = s.tap.Close()
		t := time.NewTimer(closeWaitAT)
		defer t.Stop()
		select {
		case <-s.at.Closed():
		case <-t.C:
			s.d.log.Warn("port did not close in time", "port", s.path)
		}
	})
}

func (s *session) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (s *session) onIndex(prefix string) at.InfoHandler {
	return func(lines []string) {
		if len(lines) == 0 {
			return
		}
		mem, idx, ok := parseIndex(lines[0], prefix)
		if !ok {
			return
		}
		s.mu.Lock()
		if len(s.pending) < 256 {
			s.pending = append(s.pending, indexRef{mem: mem, index: idx})
		}
		s.mu.Unlock()
		s.signal(s.kick)
	}
}

func (s *session) onRouted(lines []string) {
	pdu, ok := parseRouted(lines)
	if !ok {
		return
	}
	select {
	case s.routed <- routedPDU{tpdu: pdu}:
	default:
		s.d.log.Warn("routed pdu dropped: queue full")
	}
}

// onReg passes the stat of a +CREG URC to the owner, newest wins. (The
// AT layer also hands this handler the +CREG? answer lines; those are not
// URCs and are skipped.)
func (s *session) onReg(lines []string) {
	if len(lines) == 0 {
		return
	}
	c, ok := parseCREGLine(lines[0], "+CREG:")
	if !ok || !c.urc {
		return
	}
	for {
		select {
		case s.reg <- c.stat:
			return
		default:
		}
		select {
		case <-s.reg: // drop the older one
		default:
		}
	}
}

func (s *session) takePending() []indexRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = nil
	return p
}

// cmd runs one AT command (without the "AT") and keeps the timeout
// counters. After a timeout it probes the modem with a plain "AT".
func (s *session) cmd(c string, timeout time.Duration) ([]string, error) {
	return s.cmdWatch(c, "", timeout)
}

// noFinalGrace is how long a final result may lag behind the answer line of
// a command known to come without one on some firmwares.
const noFinalGrace = 300 * time.Millisecond

// cmdNoFinal runs a command that some firmwares answer without a final
// result (Wavecom: "+CPIN: READY" and no OK): once a line starting with
// prefix came, a final result missing after noFinalGrace is taken as OK.
func (s *session) cmdNoFinal(c, prefix string, timeout time.Duration) ([]string, error) {
	return s.cmdWatch(c, prefix, timeout)
}

// How long and how often a command answered "busy" is asked again.
const (
	busyRetryFor  = 20 * time.Second
	busyRetryStep = 250 * time.Millisecond
)

// busy reports whether err is a modem's "not yet": +CMS ERROR: 515 (please
// wait, init or command processing in progress) or +CME ERROR: 14 (SIM busy).
func busy(err error) bool {
	var cms at.CMSError
	var cme at.CMEError
	return errors.As(err, &cms) && errCode(string(cms)) == 515 || errors.As(err, &cme) && errCode(string(cme)) == 14
}

func (s *session) cmdWatch(c, prefix string, timeout time.Duration) ([]string, error) {
	if err := s.d.ctx.Err(); err != nil {
		return nil, err
	}
	if s.hung() {
		return nil, errHung // nothing more goes to a hung modem before recovery
	}
	s.quiesce()
	var disarm func()
	if prefix != "" {
		disarm = s.tap.expect(0, prefix, min(noFinalGrace, timeout/2))
	}
	lines, err := s.at.Command(c, at.WithTimeout(timeout))
	// Right after a boot many modems answer "please wait" (+CMS ERROR: 515)
	// or "SIM busy" (+CME ERROR: 14) for a few seconds: wait and ask again
	// (never for a PIN entry, which must go out once).
	for wait := time.Duration(0); busy(err) && wait < busyRetryFor && !strings.HasPrefix(c, "+CPIN="); wait += busyRetryStep {
		if !s.d.sleep(busyRetryStep) {
			break
		}
		lines, err = s.at.Command(c, at.WithTimeout(timeout))
	}
	if disarm != nil {
		disarm()
	}
	if isMark(err, markNoFinal) {
		s.d.log.Debug("answer without a final result taken as OK", "command", c)
		s.dirty = true // the final result may still come
		err = nil
	}
	s.account(err)
	s.probeIfNeeded()
	return lines, err
}

// quietGap is how long the line must be silent after a timeout before the
// next command goes out.
const quietGap = 150 * time.Millisecond

// quiesce runs after a command timed out: the late answer of that command
// would otherwise be taken for the answer of the next one (and every answer
// after it would be off by one). While no command is pending the AT layer
// drops what arrives, so waiting for a moment of silence realigns.
func (s *session) quiesce() {
	if !s.dirty {
		return
	}
	s.dirty = false
	gap := min(quietGap, s.d.cfg.CommandTimeout/2)
	deadline := time.Now().Add(s.d.cfg.CommandTimeout)
	for {
		idle := time.Since(time.Unix(0, s.tap.lastRx.Load()))
		if idle >= gap || !time.Now().Before(deadline) {
			return
		}
		if !s.d.sleep(gap - idle) {
			return
		}
	}
}

// account updates the timeout counters after a command.
func (s *session) account(err error) {
	switch {
	case errors.Is(err, at.ErrDeadlineExceeded):
		s.consec++
		s.dirty = true
		s.probe = true
		s.d.countTimeout()
	case errors.Is(err, at.ErrClosed), errors.Is(err, errHung):
	default:
		s.consec = 0 // the modem answered something
		var cms at.CMSError
		if errors.As(err, &cms) && errCode(string(cms)) == 322 {
			s.full = true
		}
	}
}

// probeIfNeeded sends a plain "AT" after a timeout. A modem that answers it
// is alive (the command was slow, unknown or its answer got lost); one that
// does not answer within ProbeTimeout (plus the time a send may still keep
// it busy on the network) is hung, and recovery starts at once instead of
// after HangAfter more timeouts.
func (s *session) probeIfNeeded() {
	if !s.probe || s.lost() || s.d.ctx.Err() != nil {
		s.probe = false
		return
	}
	s.probe = false
	busy := s.busyFor
	s.busyFor = 0
	s.quiesce()
	start := time.Now()
	_, err := s.at.Command("", at.WithTimeout(s.d.cfg.ProbeTimeout+busy))
	s.dirty = true // the late answer of the timed-out command may follow the probe's
	switch {
	case errors.Is(err, at.ErrDeadlineExceeded):
		s.d.countTimeout()
		s.consec = max(s.consec+1, s.d.cfg.HangAfter)
		s.why = "no answer to AT after a timeout"
		s.d.log.Warn("modem does not answer AT after a timeout: hung", "waited", time.Since(start).String())
	case errors.Is(err, at.ErrClosed):
	default:
		s.consec = 0
	}
}

func (s *session) hung() bool { return s.consec >= s.d.cfg.HangAfter }

func (s *session) lost() bool {
	select {
	case <-s.at.Closed():
		return true
	default:
		return false
	}
}

// resync gets the modem into a state where "AT" answers a clean OK: it
// cancels a pending SMS prompt and retries until deadline. Boot noise and
// garbage are dropped on the way (they are not OK).
func (s *session) resync(deadline time.Time) error {
	s.at.Escape([]byte("\r\n")...)
	step := min(s.d.cfg.CommandTimeout, time.Second)
	for tries := 0; ; tries++ {
		if s.lost() {
			return errPortLost
		}
		if err := s.d.ctx.Err(); err != nil {
			return err
		}
		s.quiesce()
		_, err := s.at.Command("", at.WithTimeout(step))
		if errors.Is(err, at.ErrDeadlineExceeded) {
			s.dirty = true
		}
		if err == nil {
			s.consec = 0
			return nil
		}
		if errors.Is(err, at.ErrClosed) {
			return errPortLost
		}
		if tries >= 2 && !time.Now().Before(deadline) {
			if errors.Is(err, at.ErrDeadlineExceeded) {
				s.consec++
				s.d.countTimeout()
			}
			return fmt.Errorf("modem does not answer AT: %w", err)
		}
		if !errors.Is(err, at.ErrDeadlineExceeded) && !s.d.sleep(50*time.Millisecond) {
			return s.d.ctx.Err()
		}
	}
}

// init runs the init sequence and reads the identity. It fails with
// errWrongModem before touching the SIM if the IMEI is not the one wanted.
func (s *session) init() error {
	d := s.d
	ct := d.cfg.CommandTimeout
	if err := s.resync(time.Now().Add(3 * ct)); err != nil {
		return err
	}
	s.cmd("Z", ct) // reset to the stored profile; some firmwares refuse, fine
	if _, err := s.cmd("E0", ct); err != nil {
		// echo may be on; the AT layer ignores echoed command lines
		d.log.Debug("ATE0 failed", "error", err)
	}
	s.cmd("+CMEE=1", ct)
	// Strings (+CNUM, USSD) in plain text: the character set after a reset
	// is the maker's choice (TS 27.007 §5.5), and some choose UCS2.
	s.cmd(`+CSCS="IRA"`, ct)

	var info gateway.ModemInfo
	lines, err := s.cmd("+CGSN", ct)
	if err != nil {
		return s.fail("read IMEI", err)
	}
	imei, ok := parseDigits(lines, 14, 17, false, "+CGSN:")
	if !ok {
		return errors.New("read IMEI: no IMEI in answer")
	}
	info.IMEI = imei
	d.mu.Lock()
	want := d.imei
	d.mu.Unlock()
	if want != "" && want != imei {
		return fmt.Errorf("%w: IMEI %s, want %s", errWrongModem, imei, want)
	}
	if lines, err := s.cmd("+CGMI", ct); err == nil {
		info.Manufacturer, _ = parseText(lines, "+CGMI:")
	}
	if lines, err := s.cmd("+CGMM", ct); err == nil {
		info.Model, _ = parseText(lines, "+CGMM:")
	}
	if lines, err := s.cmd("+CGMR", ct); err == nil {
		info.Firmware, _ = parseText(lines, "+CGMR:")
	}
	if s.hung() {
		return errHung
	}
	d.mu.Lock()
	if d.imei == "" {
		d.imei = info.IMEI // bind this Device to this modem from now on
	}
	if d.info.IMEI != info.IMEI {
		d.info = info // so a locked SIM still shows which modem it is in
	}
	d.mu.Unlock()

	if err := s.unlock(); err != nil {
		return err
	}

	if lines, err := s.cmd("+CIMI", ct); err == nil {
		info.IMSI, _ = parseDigits(lines, 6, 15, false, "+CIMI:")
	}
	info.ICCID = s.iccid()
	if want := d.cfg.ExpectedICCID; want != "" && !strings.EqualFold(want, info.ICCID) {
		return fmt.Errorf("SIM ICCID %q is not the expected %q", info.ICCID, want)
	}
	if _, err := s.cmd("+CMGF=0", ct); err != nil {
		return s.fail("set PDU mode", err)
	}
	s.setCNMI()
	s.selectStorage()
	s.cmd("+CREG=1", ct)
	if lines, err := s.cmd("+CNUM", ct); err == nil {
		info.MSISDN = parseCNUM(lines)
	}
	if s.hung() {
		return errHung
	}
	if s.lost() {
		return errPortLost
	}

	d.mu.Lock()
	d.info = info
	d.mu.Unlock()
	d.log.Info("modem identified", "manufacturer", info.Manufacturer, "model", info.Model, "firmware", info.Firmware, "port", s.path)
	d.log.Debug("modem identity", "imei", info.IMEI, "imsi", info.IMSI, "iccid", info.ICCID)
	s.checkHealth(true)
	if s.hung() {
		return errHung
	}
	return nil
}

// selectStorage makes "SM" the memory of every <mem> the modem has, as
// many as its AT+CPMS=? lists (old Wavecom firmwares take two and refuse a
// third; a trailing extra group is not a memory), with fewer if it
// refuses, and notes whether it has an "SR" memory to sweep.
func (s *session) selectStorage() {
	ct := s.d.cfg.CommandTimeout
	s.srStore = false
	n := 3
	if lines, err := s.cmd("+CPMS=?", ct); err == nil {
		if mems := parseCPMSList(lines); len(mems) > 0 {
			s.srStore = slices.Contains(mems[0], "SR")
			n = min(len(mems), 3)
		}
	}
	for ; n > 0; n-- {
		lines, err := s.cmd("+CPMS="+strings.TrimSuffix(strings.Repeat(`"SM",`, n), ","), ct)
		if err == nil {
			if used, total, ok := parseCPMS(lines); ok && total > 0 && used >= total {
				s.full = true
			}
			return
		}
		if s.hung() || s.lost() || errors.Is(err, at.ErrDeadlineExceeded) {
			return
		}
	}
}

// fail turns a command error during init into an init error.
func (s *session) fail(what string, err error) error {
	if errors.Is(err, at.ErrClosed) {
		return errPortLost
	}
	if s.hung() {
		return fmt.Errorf("%s: %w", what, errHung)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// unlock makes sure the SIM is ready, entering the configured PIN at most
// once per Device if the SIM rejects it.
func (s *session) unlock() error {
	d := s.d
	ct := d.cfg.CommandTimeout
	var code string
	for tries := 0; ; tries++ {
		lines, err := s.cmdNoFinal("+CPIN?", "+CPIN:", ct)
		if err == nil {
			c, ok := parseCPIN(lines)
			if ok {
				code = c
				break
			}
			err = errors.New("no +CPIN in answer")
		}
		var cme at.CMEError
		if errors.As(err, &cme) && errCode(string(cme)) == 10 {
			return errors.New("SIM not inserted")
		}
		if tries >= 4 || errors.Is(err, at.ErrClosed) || s.hung() {
			return s.fail("read SIM state", err)
		}
		if !d.sleep(500 * time.Millisecond) { // SIM busy after boot
			return d.ctx.Err()
		}
	}
	switch code {
	case "READY":
		return nil
	case "SIM PIN":
	default:
		return fmt.Errorf("%w: SIM asks for %s", errSIMLocked, code)
	}
	if d.cfg.PIN == "" {
		return fmt.Errorf("%w: SIM PIN required and no PIN is configured", errSIMLocked)
	}
	if d.pinFailed {
		return fmt.Errorf("%w: the configured SIM PIN was rejected; not retried (fix the PIN and restart)", errSIMLocked)
	}
	if _, err := s.cmd(`+CPIN="`+d.cfg.PIN+`"`, ct); err != nil {
		if errors.Is(err, at.ErrClosed) || errors.Is(err, at.ErrDeadlineExceeded) {
			// Unknown outcome: the next init reads +CPIN? again and may
			// enter the PIN once more, but never a third time.
			if d.pinUnsure {
				d.pinFailed = true
			}
			d.pinUnsure = true
			return s.fail("enter SIM PIN", err)
		}
		d.pinFailed = true
		return fmt.Errorf("%w: the SIM rejected the configured PIN (%v); not retried", errSIMLocked, err)
	}
	d.pinUnsure = false
	d.log.Info("SIM unlocked")
	for tries := 0; tries < 20; tries++ {
		lines, err := s.cmdNoFinal("+CPIN?", "+CPIN:", ct)
		if c, ok := parseCPIN(lines); err == nil && ok && c == "READY" {
			return nil
		}
		if s.lost() || s.hung() {
			return s.fail("read SIM state", err)
		}
		if !d.sleep(250 * time.Millisecond) {
			return d.ctx.Err()
		}
	}
	return fmt.Errorf("%w: SIM not ready after PIN", errSIMLocked)
}

// onSIMST passes the state of a ^SIMST URC to the owner (newest wins).
func (s *session) onSIMST(lines []string) {
	if len(lines) == 0 {
		return
	}
	rest, ok := afterPrefix(lines[0], "^SIMST:")
	if !ok {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(rest, ",", 2)[0]))
	if err != nil {
		return
	}
	for {
		select {
		case s.simst <- n:
			return
		default:
		}
		select {
		case <-s.simst:
		default:
		}
	}
}

// simChanged says why the SIM is not the one init read ("" when it is):
// taken out (+CPIN? answers +CME ERROR: 10), or another ICCID. A ^SIMST
// the modem sends for the SIM it booted with changes nothing.
func (s *session) simChanged() string {
	lines, err := s.cmdNoFinal("+CPIN?", "+CPIN:", s.d.cfg.CommandTimeout)
	var cme at.CMEError
	switch {
	case errors.As(err, &cme) && errCode(string(cme)) == 10:
		return "SIM taken out"
	case err != nil:
		return ""
	}
	if c, ok := parseCPIN(lines); ok && c != "READY" {
		return "SIM asks for " + c
	}
	if id := s.iccid(); id != "" && !strings.EqualFold(id, s.d.Info().ICCID) {
		return "another SIM inserted"
	}
	return ""
}

func (s *session) iccid() string {
	ct := s.d.cfg.CommandTimeout
	for _, c := range []string{"+CCID", "+ICCID", "^ICCID?", "+QCCID"} {
		lines, err := s.cmd(c, ct)
		if err != nil {
			if s.hung() || s.lost() {
				return ""
			}
			continue
		}
		if v, ok := parseDigits(lines, 18, 22, true, "+CCID:", "+ICCID:", "^ICCID:", "+QCCID:"); ok {
			return v
		}
	}
	return ""
}

// cnmiModes are tried in order: store new messages and announce them with
// +CMTI, route status reports (+CDS) or store them (+CDSI), and so on down
// to what old firmwares accept.
var cnmiModes = []string{"+CNMI=2,1,0,1,0", "+CNMI=2,1,0,2,0", "+CNMI=1,1,0,1,0", "+CNMI=2,1,0,0,0", "+CNMI=2,1"}

// setCNMI asks for stored-message indications, falling back to what older
// firmwares accept; with none the CMGL poll still finds every message.
func (s *session) setCNMI() {
	for _, c := range cnmiModes {
		if _, err := s.cmd(c, s.d.cfg.CommandTimeout); err == nil {
			s.srMem = strings.HasPrefix(c, "+CNMI=2,1,0,2")
			return
		}
		if s.hung() || s.lost() {
			return
		}
	}
	s.d.log.Warn("modem refuses every +CNMI setting; relying on polling")
}

// checkHealth reads signal, registration, operator and storage and updates
// the status; the observer hears about significant changes (or always when
// force is set).
func (s *session) checkHealth(force bool) {
	d := s.d
	ct := d.cfg.CommandTimeout
	stop := func() bool { return s.hung() || s.lost() }
	rssi, rssiOK := -1, false
	if lines, err := s.cmd("+CSQ", ct); err == nil {
		rssi, rssiOK = parseCSQ(lines)
	}
	if stop() {
		return
	}
	reg, regOK := gateway.RegStatus(0), false
	if lines, err := s.cmd("+CREG?", ct); err == nil {
		reg, regOK = parseCREG(lines)
	}
	if stop() {
		return
	}
	op, opOK := "", false
	if lines, err := s.cmd("+COPS?", ct); err == nil {
		op, opOK = parseCOPS(lines)
	}
	if stop() {
		return
	}
	storage := ""
	if lines, err := s.cmd("+CPMS?", ct); err == nil {
		if used, total, ok := parseCPMS(lines); ok && total > 0 {
			s.full = used >= total
			if s.full {
				storage = fmt.Sprintf("SIM storage full (%d/%d)", used, total)
			}
		}
	} else if s.full {
		storage = "SIM storage full"
	}
	d.mu.Lock()
	prev := d.st
	d.mu.Unlock()
	notify := force
	d.update(false, func(st *gateway.ModemStatus) {
		if rssiOK {
			st.RSSI = rssi
			if (prev.RSSI == 99) != (rssi == 99) || abs(prev.RSSI-rssi) >= 4 {
				notify = true
			}
		}
		if regOK {
			if st.Registration != reg {
				notify = true
			}
			st.Registration = reg
		}
		if opOK && st.Operator != op {
			st.Operator = op
			notify = true
		}
		switch {
		case storage != "" && st.LastError != storage:
			st.LastError = storage
			notify = true
		case storage == "" && strings.HasPrefix(st.LastError, "SIM storage full"):
			st.LastError = ""
			notify = true
		}
	})
	if notify && d.obs != nil {
		d.obs.DeviceChanged(d.name, d.Status())
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// recover escalates after a hang: re-init, then AT+CFUN=1,1 and re-init.
// It returns errHung when both failed (the caller reopens the port) or
// errPortLost when the port vanished meanwhile.
func (s *session) recover() error {
	d := s.d
	why := s.why
	if why == "" {
		why = fmt.Sprintf("%d consecutive AT timeouts", s.consec)
	}
	s.why = ""
	d.setState(gateway.ModemHung, why)

	d.countReset("re-init")
	s.consec = 0
	err := s.init()
	if err == nil {
		return nil
	}
	if s.lost() || errors.Is(err, errPortLost) {
		return errPortLost
	}
	if d.ctx.Err() != nil {
		return d.ctx.Err()
	}
	if errors.Is(err, errSIMLocked) || errors.Is(err, errWrongModem) {
		return err // the modem answers; a reset will not help
	}
	d.log.Warn("re-init failed", "error", err)

	d.countReset("cfun-reset")
	s.at.Escape([]byte("\r\n")...)
	s.at.Command("+CFUN=1,1", at.WithTimeout(d.cfg.CommandTimeout))
	s.consec = 0
	if err := s.resync(time.Now().Add(d.cfg.ResetWait)); err != nil {
		if s.lost() {
			return errPortLost
		}
		if d.ctx.Err() != nil {
			return d.ctx.Err()
		}
		return errHung
	}
	s.consec = 0
	if err := s.init(); err != nil {
		if s.lost() {
			return errPortLost
		}
		return errHung
	}
	return nil
}

// serve runs the session until the port is lost, a hang cannot be
// recovered in place, or Close.
func (d *Device) serve(s *session) error {
	d.setState(gateway.ModemUp, "")
	if s.full {
		s.checkHealth(true)
	}
	defer s.abortUSSD()
	poll := time.NewTicker(d.cfg.PollInterval)
	defer poll.Stop()
	health := time.NewTicker(d.cfg.HealthInterval)
	defer health.Stop()
	s.poll()
	for {
		if s.lost() {
			return errPortLost
		}
		s.probeIfNeeded() // after a send that timed out (its caller has its answer)
		if s.hung() {
			if err := s.recover(); err != nil {
				return err
			}
			d.setState(gateway.ModemUp, "")
			continue
		}
		if s.full {
			s.full = false
			s.poll()
			s.checkHealth(false)
		}
		select {
		case <-d.ctx.Done():
			return d.ctx.Err()
		case <-s.at.Closed():
			return errPortLost
		case r := <-d.reqs:
			r.finish(s.send(r))
		case r := <-d.ussd:
			s.startUSSD(r)
		case c := <-s.cusd:
			s.onUSSD(c)
		case <-s.ussdTimer():
			s.endUSSD(ussdResult{err: gateway.ErrUSSDTimeout}, true)
		case <-s.kick:
			s.readIndicated()
		case p := <-s.routed:
			s.handleRouted(p)
		case <-poll.C:
			s.poll()
		case st := <-s.reg:
			d.setRegistration(st)
		case n := <-s.simst:
			if why := s.simChanged(); why != "" {
				return fmt.Errorf("%w: %s (^SIMST: %d)", errSIMChanged, why, n)
			}
		case <-health.C:
			s.checkHealth(false)
		}
	}
}

// handlerTimeout bounds one call of the InboundHandler.
const handlerTimeout = 30 * time.Second

func (d *Device) handle(kind gateway.PDUKind, tpdu []byte) error {
	if d.in == nil {
		return errors.New("no inbound handler")
	}
	ctx, cancel := context.WithTimeout(d.ctx, handlerTimeout)
	defer cancel()
	return d.in.HandlePDU(ctx, gateway.InboundPDU{Modem: d.name, Kind: kind, TPDU: tpdu, Received: time.Now()})
}
