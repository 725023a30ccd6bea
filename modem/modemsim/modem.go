package modemsim

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// ModemConfig describes one simulated modem and its SIM. Empty fields get
// defaults from Network.AddModem.
type ModemConfig struct {
	Name         string // modem name, also used in logs
	MSISDN       string // the SIM's own number (AT+CNUM), E.164
	IMEI         string // AT+CGSN
	IMSI         string // AT+CIMI
	ICCID        string // AT+CCID / AT+ICCID
	PIN          string // SIM PIN; empty means the SIM is not locked
	Manufacturer string // AT+CGMI
	Model        string // AT+CGMM
	Firmware     string // AT+CGMR
	Operator     string // AT+COPS? long alphanumeric name
	StorageSlots int    // SIM ("SM") message slots, default 30
	SMSCAddress  string // AT+CSCA? default
	// BalanceCode is the USSD code that answers the balance; default "*100#".
	BalanceCode string
	// Balance is the amount the balance code tells, e.g. "12.34 USD"
	// (default); Modem.SetBalance changes it.
	Balance string
	// SRMemory gives the modem a status report memory "SR" (as Quectel and
	// SIMCom modules have): with AT+CNMI ds=2, or when no port is open to
	// route a report to, reports are stored there and announced with
	// +CDSI: "SR",<index>. Without it they go to the <mem3> storage.
	SRMemory bool
	// Unsupported lists commands (as "+CCID", "^ICCID") this firmware does
	// not have: they are answered as unknown commands.
	Unsupported []string
}

// Faults are the quirks and failures a modem shows; see the package
// documentation for what clears a hang.
type Faults struct {
	Echo          bool          // ATE1 state after boot/reset (real modems default to echo on)
	URCInAnswers  bool          // inject +CMTI/^RSSI:/+CREG: lines in the middle of answers
	BootNoise     bool          // ^BOOT / RDY / Call Ready / SMS Ready after a reboot or replug
	SendLatency   time.Duration // delay before answering AT+CMGS
	SendJitter    time.Duration // random extra delay in [0, SendJitter)
	CMSErrorRate  float64       // fraction of sends answered with +CMS ERROR: CMSErrorCode
	CMSErrorCode  int           // default 500
	StorageFull   bool          // incoming cannot be stored; AT+CMGW answers +CMS ERROR: 322
	NotRegistered bool          // +CREG: n,2; sends answer +CMS ERROR: 331
	Roaming       bool          // registered, roaming: +CREG: n,5 (sends work)
	Hang          bool          // answer nothing until AT+CFUN=1,1, a reopen or a replug
	HangHard      bool          // answer nothing until a reopen or a replug (AT+CFUN=1,1 does not help)
	HangAfterPDU  bool          // accept the next CMGS PDU, then hang without answering
	Garbage       bool          // garbage bytes after a reboot and now and then before answers

	// Dialect quirks of real firmwares (see the package documentation).
	CPINNoFinal       bool // AT+CPIN? answers "+CPIN: <code>" and no final OK (Wavecom)
	CommandNotSupport bool // an unknown command is answered "COMMAND NOT SUPPORT", not ERROR (Huawei)
	USSDPacked        bool // USSD codes must come, and answers come, GSM 7-bit packed in hex (Huawei)
	USSDUCS2          bool // USSD answers come UCS-2 hex with dcs 72
	USSDMultiline     bool // the USSD answer's text spans lines (CR LF inside the quotes)

	// CPMSTwoMemories: AT+CPMS takes and answers two memories, as old
	// Wavecom firmwares do: AT+CPMS=? answers (("SM","BM","SR"),("SM")),
	// AT+CPMS? "SM",u,t,"SM",u,t, and a third memory in AT+CPMS= is
	// refused with +CMS ERROR: 302.
	CPMSTwoMemories bool
	// CPMSUnquoted: memory names in +CPMS answers come without quotes
	// (+CPMS: SM,3,30,... and (SM,ME,MT)), and AT+CPMS=? has a fourth,
	// trailing group (modelled defensively; no public transcript shows it).
	CPMSUnquoted bool
	// CMGLOddFraming: PDU-mode AT+CMGL entries come framed loosely: a blank
	// line and a stray line before the list (D-Link DWM222), blank lines
	// between entries, spaces after the commas (D-Link DWM-156), an empty
	// alpha as "" or missing with the length, the PDU on the header line
	// after the length, and no blank line before the OK.
	CMGLOddFraming bool
	// CMGSNoFinal: a send's "+CMGS: <mr>" comes without the final OK (as
	// SIMCom and Quectel firmwares do under load; a SIM900's OK lags by
	// seconds). With CMGSFinalLater the OK is not lost but late: after a
	// URC, just before the answer to the next command line (where a driver
	// takes it for that command's answer).
	CMGSNoFinal    bool
	CMGSFinalLater bool
	// PromptBare: the AT+CMGS/AT+CMGW prompt is a bare ">" with no line
	// break before it and no space after it (u-blox LARA-L6).
	PromptBare bool
	// PromptCRLF: the prompt is "\r\n>\r\n", a line of its own without
	// the space (SIMCom SIM7670G).
	PromptCRLF bool
	// PromptSplit: the prompt is written a byte at a time with short pauses,
	// so that it arrives over several reads.
	PromptSplit bool

	// BusyAfterBoot: for this long after a boot, SMS commands answer
	// +CMS ERROR: 515 (please wait, init in progress), and for the first
	// third of it SIM commands answer +CME ERROR: 14 (SIM busy), as SIMCom
	// and Qualcomm-based modems do before "SMS Ready".
	BusyAfterBoot time.Duration
	// CharsetUCS2 makes "UCS2" the character set after boot and ATZ, so
	// that strings (+CNUM, USSD) come as UCS-2 hex until AT+CSCS changes it.
	CharsetUCS2 bool

	USSDDelay  time.Duration // how long the network takes to answer a USSD code
	USSDSilent bool          // the network never answers a USSD code

	// A carrier block as the gateway sees it: sends still get +CMGS, but
	// the network sends no status reports (ReportsLost), or sends them
	// with TP-ST ReportStatus (e.g. 0x41, incompatible destination: a
	// permanent error) instead of 0 (delivered). Both are read when the
	// part is submitted.
	ReportsLost  bool
	ReportStatus int
	// RepliesLost: a carrier block that lets the SIM's sends through
	// (+CMGS, and reports unless ReportsLost) but delivers it nothing from
	// numbers outside the network: its recipients' answers
	// (NetworkOptions.Recipients) and InjectSMS from an outside number are
	// dropped. Read when such a message reaches the network.
	RepliesLost bool
}

// StoredSMS is one message in a modem's message storage.
type StoredSMS struct {
	Mem   string `json:"mem"`   // "SM", "ME" or "SR"
	Index int    `json:"index"` // index as used by AT+CMGR/AT+CMGD for that storage
	Stat  int    `json:"stat"`  // 0 REC UNREAD, 1 REC READ, 2 STO UNSENT, 3 STO SENT
	TPDU  []byte `json:"tpdu"`  // the TPDU without SMSC address
}

// Modem is one simulated modem with its SIM.
type Modem struct {
	net *Network
	cfg ModemConfig
	log *slog.Logger

	mu          sync.Mutex
	faults      Faults
	set         settings
	pinState    int // pinReady, pinSIM, pinPUK
	pinTries    int
	cfun        int
	hung        bool // entered by HangAfterPDU
	mr          int
	rssi        int
	smsc        string
	mem         map[string]*storage
	sessions    map[*session]struct{}
	pending     []inbound // MT messages the network holds until the modem can take them
	lastReg     int       // last +CREG stat announced
	answers     int       // answers written, for occasional garbage
	urcTurn     int
	ussdSeq     int
	ussdOpen    bool   // a USSD session waits for the network's answer
	ussdCancels int    // AT+CUSD=2 that closed an open session
	balance     string // what the balance code answers
	bootAt      time.Time
	port        *ptyPort
	lastLink    string
	sregs       map[string]int
	fed         int // bytes fed by clients (tests await it)
	closed      bool
	unplugged   bool
	noSIM       bool     // the SIM was taken out (simcard.go)
	waitingCard *SIMCard // put in, read at the next boot (no hot swap)
}

const (
	pinReady = iota
	pinSIM
	pinPUK
	pinAbsent // no SIM inserted
)

// settings are the AT parameters that ATZ / AT&F / reboot restore.
type settings struct {
	echo    bool
	verbose bool // ATV1
	quiet   bool // ATQ1
	cmee    int
	cmgf    int
	cscs    string
	cnmi    [5]int
	creg    int
	cgreg   int
	csmp    [4]int
	mem     [3]string
	csdh    bool
	cmms    int
	lastCmd string
}

type storage struct {
	name  string
	slots []*StoredSMS // nil when free; index i is AT index i+1
}

func (s *storage) used() int {
	n := 0
	for _, x := range s.slots {
		if x != nil {
			n++
		}
	}
	return n
}

func (s *storage) free() int {
	for i, x := range s.slots {
		if x == nil {
			return i
		}
	}
	return -1
}

func newModem(n *Network, cfg ModemConfig) *Modem {
	m := &Modem{
		net:      n,
		cfg:      cfg,
		log:      n.log.With("modem", cfg.Name),
		rssi:     20,
		smsc:     cfg.SMSCAddress,
		sessions: map[*session]struct{}{},
		mem: map[string]*storage{
			"SM": {name: "SM", slots: make([]*StoredSMS, cfg.StorageSlots)},
			"ME": {name: "ME", slots: make([]*StoredSMS, 100)},
		},
	}
	m.balance = cfg.Balance
	if cfg.SRMemory {
		m.mem["SR"] = &storage{name: "SR", slots: make([]*StoredSMS, 20)}
	}
	m.mu.Lock()
	m.boot()
	m.mu.Unlock()
	return m
}

// boot puts the modem in its power-on state. m.mu must be held.
func (m *Modem) boot() {
	m.bootAt = time.Now()
	m.defaults()
	m.cfun = 1
	m.hung = false
	m.pinTries = 0
	if c := m.waitingCard; c != nil {
		m.readCardLocked(*c)
	}
	switch {
	case m.noSIM:
		m.pinState = pinAbsent
	case m.cfg.PIN != "":
		m.pinState = pinSIM
	default:
		m.pinState = pinReady
	}
	m.lastReg = m.regStat()
}

// defaults restores the AT settings (ATZ, AT&F). m.mu must be held.
func (m *Modem) defaults() {
	m.set = settings{
		echo:    m.faults.Echo,
		verbose: true,
		cscs:    m.defaultCharset(),
		cnmi:    [5]int{1, 0, 0, 0, 0},
		csmp:    [4]int{17, 167, 0, 0},
		mem:     [3]string{"SM", "SM", "SM"},
		lastCmd: m.set.lastCmd,
	}
}

// defaultCharset is the AT+CSCS after boot and ATZ (m.mu held).
func (m *Modem) defaultCharset() string {
	if m.faults.CharsetUCS2 {
		return "UCS2"
	}
	return "IRA"
}

// busyAnswer is the error a command gets while the modem is still
// initialising after a boot (Faults.BusyAfterBoot), or nil (m.mu held).
func (m *Modem) busyAnswer(name string) *atError {
	since, busy := time.Since(m.bootAt), m.faults.BusyAfterBoot
	if busy <= 0 || since >= busy {
		return nil
	}
	switch name {
	case "+CMGF", "+CNMI", "+CPMS", "+CMGL", "+CMGR", "+CMGD", "+CMGS", "+CMGW", "+CSCA", "+CSMS":
		return cms(515)
	case "+CPIN", "+CIMI", "+CCID", "+ICCID", "^ICCID", "+CNUM":
		if since < busy/3 {
			return cme(14)
		}
	}
	return nil
}

// Name returns the modem's name.
func (m *Modem) Name() string { return m.cfg.Name }

// Config returns the modem's configuration with defaults filled in.
func (m *Modem) Config() ModemConfig {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg
}

// MSISDN returns the SIM's own number ("" while it holds no SIM).
func (m *Modem) MSISDN() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg.MSISDN
}

// Info returns the modem's identity (imsi and iccid "" while it holds no SIM).
func (m *Modem) Info() (imei, imsi, iccid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg.IMEI, m.cfg.IMSI, m.cfg.ICCID
}

// SetFaults replaces the modem's faults. Changing Echo also sets the
// current echo state (as if the modem had booted that way). A change of
// registration is
// announced with +CREG/+CGREG per the URC modes; messages held by the
// network are delivered once the modem can take them.
func (m *Modem) SetFaults(f Faults) {
	if f.CMSErrorCode == 0 {
		f.CMSErrorCode = 500
	}
	m.mu.Lock()
	if f.Echo != m.faults.Echo {
		m.set.echo = f.Echo // as if the modem had booted with it
	}
	if f.CharsetUCS2 != m.faults.CharsetUCS2 {
		m.set.cscs = "IRA" // as if the modem had booted with it
		if f.CharsetUCS2 {
			m.set.cscs = "UCS2"
		}
	}
	m.faults = f
	if !f.Hang && !f.HangHard && !f.HangAfterPDU {
		m.hung = false
	}
	m.regChanged()
	m.mu.Unlock()
	m.flushPending()
}

// Faults returns the modem's current faults.
func (m *Modem) Faults() Faults {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.faults
}

// SetBalance sets what the balance code answers ("3.10 USD").
func (m *Modem) SetBalance(b string) {
	m.mu.Lock()
	m.balance = b
	m.mu.Unlock()
}

// USSDCancels returns how many open USSD sessions AT+CUSD=2 has closed.
func (m *Modem) USSDCancels() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ussdCancels
}

// SetSignal sets the RSSI reported by AT+CSQ (0..31, 99 unknown).
func (m *Modem) SetSignal(rssi int) {
	m.mu.Lock()
	m.rssi = rssi
	m.mu.Unlock()
}

// Stored returns the messages in the modem's storage now, SM first.
func (m *Modem) Stored() []StoredSMS {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []StoredSMS
	for _, name := range []string{"SM", "ME", "SR"} {
		if m.mem[name] == nil {
			continue
		}
		for _, s := range m.mem[name].slots {
			if s != nil {
				c := *s
				c.TPDU = append([]byte(nil), s.TPDU...)
				out = append(out, c)
			}
		}
	}
	return out
}

// Conn opens the modem's port in process. Each call is a fresh open: the
// connection sees URCs from now on and has its own input state. Closing it
// is closing the port (which clears a hang, like a reopen of a tty).
func (m *Modem) Conn() io.ReadWriteCloser {
	c := newPipeConn()
	s := m.attach(c.out)
	s.stop = func() { c.Close() }
	m.onReopen()
	m.net.mu.Lock()
	closed := m.net.closed
	if !closed {
		m.net.wg.Add(1)
	}
	m.net.mu.Unlock()
	if closed {
		c.Close()
		m.detach(s)
		return c
	}
	go func() {
		defer m.net.wg.Done()
		defer m.detach(s)
		buf := make([]byte, 512)
		for {
			k, err := c.in.Read(buf)
			if k > 0 {
				s.feed(buf[:k])
			}
			if err != nil {
				return
			}
		}
	}()
	return c
}

// attach registers a new session writing to out.
func (m *Modem) attach(out *pipeBuf) *session {
	s := &session{m: m, out: out}
	m.mu.Lock()
	m.sessions[s] = struct{}{}
	m.mu.Unlock()
	return s
}

func (m *Modem) detach(s *session) {
	m.mu.Lock()
	delete(m.sessions, s)
	m.mu.Unlock()
	s.out.Close()
}

// onReopen is a fresh open of the port: it clears hangs.
func (m *Modem) onReopen() {
	m.mu.Lock()
	m.hung = false
	m.faults.Hang = false
	m.faults.HangHard = false
	m.mu.Unlock()
}

// shutdown closes every session and the PTY (Network.Close).
func (m *Modem) shutdown() {
	m.mu.Lock()
	m.closed = true
	p := m.port
	m.port = nil
	var ss []*session
	for s := range m.sessions {
		ss = append(ss, s)
	}
	m.mu.Unlock()
	if p != nil {
		p.close()
	}
	for _, s := range ss {
		if s.stop != nil {
			s.stop()
		}
		m.detach(s)
	}
}

// regStat is the +CREG <stat>. m.mu must be held.
func (m *Modem) regStat() int {
	switch {
	case m.unplugged || m.cfun != 1 || m.pinState != pinReady:
		return 0
	case m.faults.NotRegistered:
		return 2
	case m.faults.Roaming:
		return 5
	}
	return 1
}

// registered reports home or roaming registration (m.mu held).
func (m *Modem) registered() bool {
	st := m.regStat()
	return st == 1 || st == 5
}

// regChanged emits +CREG/+CGREG when the registration changed. m.mu held.
func (m *Modem) regChanged() {
	st := m.regStat()
	if st == m.lastReg {
		return
	}
	m.lastReg = st
	if l := m.cregLine("+CREG", m.set.creg, st); l != "" {
		m.urc(l)
	}
	if l := m.cregLine("+CGREG", m.set.cgreg, st); l != "" {
		m.urc(l)
	}
}

func (m *Modem) cregLine(name string, mode, st int) string {
	switch mode {
	case 1:
		return name + ": " + itoa(st)
	case 2:
		if st == 1 || st == 5 {
			return name + ": " + itoa(st) + `,"1A2B","00C3F1"`
		}
		return name + ": " + itoa(st)
	}
	return ""
}

// urc writes an unsolicited result code to every open session. m.mu held.
func (m *Modem) urc(lines ...string) {
	if m.closed || m.isHung() || m.set.cnmi[0] == 0 && isSMSURC(lines[0]) {
		return
	}
	// a two-line URC such as +CMT is one unit: CRLF header CRLF pdu CRLF
	b := []byte("\r\n" + strings.Join(lines, "\r\n") + "\r\n")
	m.log.Debug("at urc", "text", string(b))
	for s := range m.sessions {
		s.out.Write(b)
	}
}

func isSMSURC(l string) bool {
	for _, p := range []string{"+CMTI:", "+CMT:", "+CDS:", "+CDSI:"} {
		if len(l) >= len(p) && l[:len(p)] == p {
			return true
		}
	}
	return false
}
