package modemsim

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/warthog618/sms/encoding/gsm7"
	"github.com/warthog618/sms/encoding/ucs2"
)

type handler func(s *session, c command) ([]string, *atError)

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"E": func(s *session, c command) ([]string, *atError) {
			return flag01(c.args, &s.m.set.echo)
		},
		"V": func(s *session, c command) ([]string, *atError) {
			return flag01(c.args, &s.m.set.verbose)
		},
		"Q": func(s *session, c command) ([]string, *atError) {
			return flag01(c.args, &s.m.set.quiet)
		},
		"Z":  cmdReset,
		"&F": cmdReset,
		"&W": okHandler, "&C": okHandler, "&D": okHandler, "&K": okHandler, "&S": okHandler,
		"X": okHandler, "L": okHandler, "M": okHandler,
		"H": okHandler,
		"A": func(s *session, c command) ([]string, *atError) { return nil, &atError{kind: errKindPlain} },
		"D": func(s *session, c command) ([]string, *atError) { return nil, &atError{kind: errKindPlain} },
		"I": func(s *session, c command) ([]string, *atError) {
			cfg := s.m.cfg
			return []string{"Manufacturer: " + cfg.Manufacturer, "Model: " + cfg.Model,
				"Revision: " + cfg.Firmware, "IMEI: " + cfg.IMEI, "+GCAP: +CGSM,+DS,+ES"}, nil
		},
		"+GCAP": func(s *session, c command) ([]string, *atError) {
			return []string{"+GCAP: +CGSM,+DS,+ES"}, nil
		},
		"+CGMI": identity(func(m *Modem) string { return m.cfg.Manufacturer }),
		"+GMI":  identity(func(m *Modem) string { return m.cfg.Manufacturer }),
		"+CGMM": identity(func(m *Modem) string { return m.cfg.Model }),
		"+GMM":  identity(func(m *Modem) string { return m.cfg.Model }),
		"+CGMR": identity(func(m *Modem) string { return m.cfg.Firmware }),
		"+GMR":  identity(func(m *Modem) string { return m.cfg.Firmware }),
		"+CGSN": identity(func(m *Modem) string { return m.cfg.IMEI }),
		"+GSN":  identity(func(m *Modem) string { return m.cfg.IMEI }),
		"+CIMI": func(s *session, c command) ([]string, *atError) {
			if c.op == "=?" {
				return nil, nil
			}
			if err := s.m.simReady(false); err != nil {
				return nil, err
			}
			return []string{s.m.cfg.IMSI}, nil
		},
		"+CCID": func(s *session, c command) ([]string, *atError) {
			if c.op == "=?" {
				return nil, nil
			}
			if s.m.pinState == pinAbsent {
				return nil, cme(10)
			}
			return []string{"+CCID: " + s.m.cfg.ICCID}, nil
		},
		"+ICCID": func(s *session, c command) ([]string, *atError) {
			if c.op == "=?" {
				return nil, nil
			}
			if s.m.pinState == pinAbsent {
				return nil, cme(10)
			}
			return []string{"+ICCID: " + s.m.cfg.ICCID}, nil
		},
		"^ICCID": func(s *session, c command) ([]string, *atError) {
			if c.op == "=?" {
				return nil, nil
			}
			if s.m.pinState == pinAbsent {
				return nil, cme(10)
			}
			return []string{"^ICCID: " + s.m.cfg.ICCID}, nil
		},
		"+CPIN":    cmdCPIN,
		"+CSQ":     cmdCSQ,
		"+CREG":    func(s *session, c command) ([]string, *atError) { return cmdREG(s, c, "+CREG", &s.m.set.creg) },
		"+CGREG":   func(s *session, c command) ([]string, *atError) { return cmdREG(s, c, "+CGREG", &s.m.set.cgreg) },
		"+COPS":    cmdCOPS,
		"+CMEE":    intSetting("+CMEE", 0, 2, func(s *session) *int { return &s.m.set.cmee }),
		"+CMGF":    intSetting("+CMGF", 0, 1, func(s *session) *int { return &s.m.set.cmgf }),
		"+CSDH":    boolSetting("+CSDH", func(s *session) *bool { return &s.m.set.csdh }),
		"+CMMS":    intSetting("+CMMS", 0, 2, func(s *session) *int { return &s.m.set.cmms }),
		"+CSCS":    cmdCSCS,
		"+CSCA":    cmdCSCA,
		"+CSMS":    cmdCSMS,
		"+CPMS":    cmdCPMS,
		"+CNMI":    cmdCNMI,
		"+CSMP":    cmdCSMP,
		"+CMGS":    cmdCMGS,
		"+CMGW":    cmdCMGW,
		"+CMSS":    cmdCMSS,
		"+CMGL":    cmdCMGL,
		"+CMGR":    cmdCMGR,
		"+CMGD":    cmdCMGD,
		"+CNMA":    func(s *session, c command) ([]string, *atError) { return nil, cms(340) },
		"+CSCB":    okQuery("+CSCB: 0,\"\",\"\""),
		"+CFUN":    cmdCFUN,
		"+CUSD":    cmdCUSD,
		"+CNUM":    cmdCNUM,
		"+CGATT":   okQuery("+CGATT: 1"),
		"+CLIP":    okQuery("+CLIP: 0,1"),
		"+CRC":     okQuery("+CRC: 0"),
		"+CMUX":    func(s *session, c command) ([]string, *atError) { return nil, errPlain },
		"+CBC":     okQuery("+CBC: 0,100"),
		"+CCLK":    cmdCCLK,
		"+CSIM":    func(s *session, c command) ([]string, *atError) { return nil, cme(4) },
		"+CLAC":    cmdCLAC,
		"^CURC":    okQuery("^CURC: 0"),
		"^PORTSEL": okQuery("^PORTSEL: 0"),
		"+CHUP":    okHandler,
		"^SYSINFO": cmdSYSINFO,
		"^HWVER":   okQuery("^HWVER:\"CH2E3531CM\""),
	}
}

// execLine runs one command line (m.mu held).
func (s *session) execLine(line string) {
	m := s.m
	s.noFinal = false
	idx := strings.Index(asciiUpper(line), "AT")
	if idx < 0 {
		return // no AT prefix: modems ignore the line
	}
	line = strings.TrimRight(line[idx:], " ")
	if s.owedFinal {
		s.owedFinal = false
		s.out.Write([]byte("\r\n^RSSI: " + itoa(m.rssi) + "\r\n"))
		s.final(nil)
	}
	m.set.lastCmd = line
	m.log.Debug("at command", "line", line)
	cmds, ok := parseLine(line[2:])
	if !ok {
		s.final(errPlain)
		return
	}
	var info []string
	var after []func()
	for _, c := range cmds {
		h := handlers[c.name]
		if h == nil && len(c.name) > 1 && c.name[0] == 'S' {
			h = cmdSReg
		}
		if h == nil || m.unsupported(c.name) {
			if m.faults.CommandNotSupport {
				info = append(info, "COMMAND NOT SUPPORT")
				s.out.Write(s.infoBytes(info))
				return
			}
			s.answer(info, errPlain)
			return
		}
		if err := m.busyAnswer(c.name); err != nil {
			s.answer(info, err)
			return
		}
		lines, err := h(s, c)
		info = append(info, lines...)
		if err != nil {
			s.answer(info, err)
			return
		}
		if s.prompt != nil {
			s.out.Write(s.infoBytes(info))
			s.writePrompt()
			return
		}
		if s.after != nil {
			after = append(after, s.after)
			s.after = nil
		}
	}
	if s.noFinal {
		s.noFinal = false
		s.out.Write(s.infoBytes(info))
	} else {
		s.answer(info, nil)
	}
	for _, f := range after {
		f()
	}
}

// promptPause is the pause between the bytes of a split prompt
// (Faults.PromptSplit).
const promptPause = 30 * time.Millisecond

// writePrompt asks for the body of AT+CMGS / AT+CMGW in the dialect the
// faults say: "\r\n> " (TS 27.005 §3.5.1), a bare ">", or ">" on a line
// of its own, whole or a byte at a time (m.mu held, released while pausing).
func (s *session) writePrompt() {
	m := s.m
	p := "\r\n> "
	switch {
	case m.faults.PromptBare:
		p = ">"
	case m.faults.PromptCRLF:
		p = "\r\n>\r\n"
	}
	if !m.faults.PromptSplit {
		s.out.Write([]byte(p))
		return
	}
	for i := 0; i < len(p); i++ {
		if i > 0 && (!m.sleepLocked(promptPause) || m.closed) {
			return
		}
		s.out.Write([]byte{p[i]})
	}
}

// unsupported reports whether the firmware lacks command name (m.mu held).
func (m *Modem) unsupported(name string) bool {
	for _, u := range m.cfg.Unsupported {
		if strings.EqualFold(u, name) {
			return true
		}
	}
	return false
}

// final writes a final result without information text (m.mu held).
func (s *session) final(err *atError) { s.answer(nil, err) }

// answer writes information lines and the final result per ATV/ATQ and
// the modem's faults (m.mu held).
func (s *session) answer(info []string, err *atError) {
	m := s.m
	m.answers++
	var b []byte
	if m.faults.Garbage && m.answers%5 == 0 {
		b = append(b, garbage()...)
	}
	if m.faults.URCInAnswers && len(info) > 0 {
		at := 1
		if strings.HasPrefix(info[0], "+CMGL:") || strings.HasPrefix(info[0], "+CMGR:") {
			at = 2
		}
		if at > len(info) {
			at = len(info)
		}
		u := m.fakeURC()
		info = append(info[:at:at], append([]string{u}, info[at:]...)...)
	}
	b = append(b, s.infoBytes(info)...)
	if !m.set.quiet {
		res := "OK"
		num := "0"
		if err != nil {
			res = err.text(m.set.cmee)
			num = "4"
			if res != "ERROR" {
				num = res
			}
		}
		if m.set.verbose {
			b = append(b, "\r\n"+res+"\r\n"...)
		} else {
			b = append(b, num+"\r"...)
		}
	}
	m.log.Debug("at answer", "text", string(b))
	s.out.Write(b)
}

func (s *session) infoBytes(info []string) []byte {
	if len(info) == 0 {
		return nil
	}
	if s.m.set.verbose {
		return []byte("\r\n" + strings.Join(info, "\r\n") + "\r\n")
	}
	return []byte(strings.Join(info, "\r\n") + "\r\n")
}

// fakeURC picks the URC injected into an answer (m.mu held).
func (m *Modem) fakeURC() string {
	m.urcTurn++
	switch m.urcTurn % 3 {
	case 1:
		return "+CREG: " + itoa(m.regStat())
	case 2:
		for _, name := range []string{"SM", "ME"} {
			for i, x := range m.mem[name].slots {
				if x != nil && x.Stat == 0 {
					return fmt.Sprintf("+CMTI: %q,%d", name, i+1)
				}
			}
		}
	}
	return "^RSSI: " + itoa(m.rssi)
}

func garbage() []byte {
	n := 3 + rand.IntN(6)
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(0x80 + rand.IntN(0x7f))
	}
	return b
}

func okHandler(s *session, c command) ([]string, *atError) { return nil, nil }

func okQuery(answer string) handler {
	return func(s *session, c command) ([]string, *atError) {
		if c.op == "?" {
			return []string{answer}, nil
		}
		return nil, nil
	}
}

func flag01(arg string, p *bool) ([]string, *atError) {
	switch arg {
	case "", "0":
		*p = false
	case "1":
		*p = true
	default:
		return nil, errPlain
	}
	return nil, nil
}

func identity(get func(*Modem) string) handler {
	return func(s *session, c command) ([]string, *atError) {
		if c.op == "=?" {
			return nil, nil
		}
		if c.op != "" {
			return nil, errPlain
		}
		return []string{get(s.m)}, nil
	}
}

func intSetting(name string, lo, hi int, field func(*session) *int) handler {
	return func(s *session, c command) ([]string, *atError) {
		p := field(s)
		switch c.op {
		case "?":
			return []string{fmt.Sprintf("%s: %d", name, *p)}, nil
		case "=?":
			return []string{fmt.Sprintf("%s: (%d-%d)", name, lo, hi)}, nil
		case "=":
			v, ok := argInt(splitArgs(c.args), 0, lo)
			if !ok || v < lo || v > hi {
				return nil, cme(50)
			}
			*p = v
			return nil, nil
		}
		return nil, nil
	}
}

func boolSetting(name string, field func(*session) *bool) handler {
	return func(s *session, c command) ([]string, *atError) {
		p := field(s)
		switch c.op {
		case "?":
			v := 0
			if *p {
				v = 1
			}
			return []string{fmt.Sprintf("%s: %d", name, v)}, nil
		case "=?":
			return []string{name + ": (0,1)"}, nil
		case "=", "":
			v, ok := argInt(splitArgs(c.args), 0, 0)
			if !ok || v < 0 || v > 1 {
				return nil, cme(50)
			}
			*p = v == 1
		}
		return nil, nil
	}
}

// cmdReset is ATZ / AT&F: settings back to defaults (echo per Faults.Echo).
func cmdReset(s *session, c command) ([]string, *atError) {
	s.m.defaults()
	return nil, nil
}

// simReady checks the SIM is unlocked; sms selects +CMS over +CME codes.
func (m *Modem) simReady(sms bool) *atError {
	switch m.pinState {
	case pinAbsent:
		if sms {
			return cms(310)
		}
		return cme(10)
	case pinSIM:
		if sms {
			return cms(311)
		}
		return cme(11)
	case pinPUK:
		if sms {
			return cms(316)
		}
		return cme(12)
	}
	return nil
}

func cmdCPIN(s *session, c command) ([]string, *atError) {
	m := s.m
	switch c.op {
	case "?":
		if m.pinState == pinAbsent {
			return nil, cme(10)
		}
		s.noFinal = m.faults.CPINNoFinal
		switch m.pinState {
		case pinSIM:
			return []string{"+CPIN: SIM PIN"}, nil
		case pinPUK:
			return []string{"+CPIN: SIM PUK"}, nil
		}
		return []string{"+CPIN: READY"}, nil
	case "=?":
		return nil, nil
	case "=":
	default:
		return nil, errPlain
	}
	args := splitArgs(c.args)
	if len(args) == 0 {
		return nil, cme(50)
	}
	switch m.pinState {
	case pinAbsent:
		return nil, cme(10)
	case pinReady:
		return nil, cme(3)
	case pinSIM:
		if unquote(args[0]) != m.cfg.PIN {
			m.pinTries++
			if m.pinTries >= 3 {
				m.pinState = pinPUK
			}
			return nil, cme(16)
		}
	case pinPUK:
		if len(args) < 2 || unquote(args[0]) != "12345678" {
			return nil, cme(16)
		}
		m.cfg.PIN = unquote(args[1])
	}
	m.pinState = pinReady
	m.pinTries = 0
	s.after = func() {
		m.regChanged()
		m.flushLocked()
	}
	return nil, nil
}

func cmdCSQ(s *session, c command) ([]string, *atError) {
	if c.op == "=?" {
		return []string{"+CSQ: (0-31,99),(0-7,99)"}, nil
	}
	rssi := s.m.rssi
	if s.m.cfun != 1 {
		rssi = 99
	}
	return []string{fmt.Sprintf("+CSQ: %d,99", rssi)}, nil
}

func cmdREG(s *session, c command, name string, mode *int) ([]string, *atError) {
	switch c.op {
	case "?":
		st := s.m.regStat()
		if *mode == 2 && (st == 1 || st == 5) {
			return []string{fmt.Sprintf(`%s: %d,%d,"1A2B","00C3F1"`, name, *mode, st)}, nil
		}
		return []string{fmt.Sprintf("%s: %d,%d", name, *mode, st)}, nil
	case "=?":
		return []string{name + ": (0-2)"}, nil
	case "=":
		v, ok := argInt(splitArgs(c.args), 0, 0)
		if !ok || v < 0 || v > 2 {
			return nil, cme(50)
		}
		*mode = v
	}
	return nil, nil
}

func cmdCOPS(s *session, c command) ([]string, *atError) {
	m := s.m
	switch c.op {
	case "?":
		if !m.registered() {
			return []string{"+COPS: 0"}, nil
		}
		return []string{fmt.Sprintf(`+COPS: 0,0,"%s",2`, m.cfg.Operator)}, nil
	case "=?":
		return []string{fmt.Sprintf(`+COPS: (2,"%s","%s","310260",2),,(0-4),(0-2)`, m.cfg.Operator, m.cfg.Operator)}, nil
	case "=":
		args := splitArgs(c.args)
		v, ok := argInt(args, 0, 0)
		if !ok || v < 0 || v > 4 {
			return nil, cme(50)
		}
	}
	return nil, nil
}

var charsets = []string{"IRA", "GSM", "UCS2", "8859-1", "PCCP437"}

func cmdCSCS(s *session, c command) ([]string, *atError) {
	switch c.op {
	case "?":
		return []string{"+CSCS: " + quote(s.m.set.cscs)}, nil
	case "=?":
		q := make([]string, len(charsets))
		for i, cs := range charsets {
			q[i] = quote(cs)
		}
		return []string{"+CSCS: (" + strings.Join(q, ",") + ")"}, nil
	case "=":
		v := strings.ToUpper(unquote(c.args))
		for _, cs := range charsets {
			if v == cs {
				s.m.set.cscs = cs
				return nil, nil
			}
		}
		return nil, cme(50)
	}
	return nil, nil
}

func cmdCSCA(s *session, c command) ([]string, *atError) {
	m := s.m
	if err := m.simReady(true); err != nil && c.op != "=?" {
		return nil, err
	}
	switch c.op {
	case "?":
		toa := 129
		if strings.HasPrefix(m.smsc, "+") {
			toa = 145
		}
		return []string{fmt.Sprintf("+CSCA: %s,%d", quote(m.encodeStr(m.smsc)), toa)}, nil
	case "=":
		args := splitArgs(c.args)
		if len(args) == 0 {
			return nil, cms(304)
		}
		num, ok := m.decodeStr(unquote(args[0]))
		if !ok || num == "" {
			return nil, cms(304)
		}
		m.smsc = num
	}
	return nil, nil
}

func cmdCSMS(s *session, c command) ([]string, *atError) {
	switch c.op {
	case "?":
		return []string{"+CSMS: 0,1,1,1"}, nil
	case "=?":
		return []string{"+CSMS: (0,1)"}, nil
	case "=":
		v, ok := argInt(splitArgs(c.args), 0, 0)
		if !ok || v < 0 || v > 1 {
			return nil, cms(302)
		}
		return []string{"+CSMS: 1,1,1"}, nil
	}
	return nil, nil
}

func cmdCNMI(s *session, c command) ([]string, *atError) {
	m := s.m
	switch c.op {
	case "?":
		n := m.set.cnmi
		return []string{fmt.Sprintf("+CNMI: %d,%d,%d,%d,%d", n[0], n[1], n[2], n[3], n[4])}, nil
	case "=?":
		return []string{"+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"}, nil
	case "=":
		args := splitArgs(c.args)
		if len(args) > 5 {
			return nil, cms(303)
		}
		max := [5]int{3, 3, 3, 2, 1}
		n := m.set.cnmi
		for i := range args {
			v, ok := argInt(args, i, n[i])
			if !ok || v < 0 || v > max[i] {
				return nil, cms(303)
			}
			n[i] = v
		}
		m.set.cnmi = n
	}
	return nil, nil
}

func cmdCSMP(s *session, c command) ([]string, *atError) {
	m := s.m
	switch c.op {
	case "?":
		p := m.set.csmp
		return []string{fmt.Sprintf("+CSMP: %d,%d,%d,%d", p[0], p[1], p[2], p[3])}, nil
	case "=?":
		return nil, nil
	case "=":
		args := splitArgs(c.args)
		p := m.set.csmp
		for i := 0; i < len(args) && i < 4; i++ {
			v, ok := argInt(args, i, p[i])
			if !ok || v < 0 || v > 255 {
				return nil, cms(305)
			}
			p[i] = v
		}
		m.set.csmp = p
	}
	return nil, nil
}

func cmdCFUN(s *session, c command) ([]string, *atError) {
	m := s.m
	switch c.op {
	case "?":
		return []string{"+CFUN: " + itoa(m.cfun)}, nil
	case "=?":
		return []string{"+CFUN: (0,1,4),(0-1)"}, nil
	case "=":
		args := splitArgs(c.args)
		fun, ok1 := argInt(args, 0, 1)
		rst, ok2 := argInt(args, 1, 0)
		if !ok1 || !ok2 || (fun != 0 && fun != 1 && fun != 4) || rst < 0 || rst > 1 {
			return nil, cme(50)
		}
		if rst == 1 {
			s.after = func() { m.reboot() }
			return nil, nil
		}
		m.cfun = fun
		s.after = func() {
			m.regChanged()
			m.flushLocked()
		}
	}
	return nil, nil
}

func cmdCUSD(s *session, c command) ([]string, *atError) {
	m := s.m
	switch c.op {
	case "?":
		return []string{"+CUSD: 1"}, nil
	case "=?":
		return []string{"+CUSD: (0-2)"}, nil
	case "=":
		args := splitArgs(c.args)
		n, ok := argInt(args, 0, 0)
		if !ok || n < 0 || n > 2 {
			return nil, cme(50)
		}
		if n == 2 {
			if m.ussdOpen {
				m.ussdOpen = false
				m.ussdCancels++
			}
			return nil, nil
		}
		if len(args) < 2 {
			return nil, nil
		}
		if !m.registered() {
			return nil, cme(30)
		}
		code, ok := m.ussdCode(unquote(args[1]))
		if !ok {
			return nil, errPlain // a Huawei firmware refuses a code that is not packed
		}
		m.ussdOpen = true
		m.ussdSeq++
		seq := m.ussdSeq
		line := m.ussdAnswer(code)
		if m.faults.USSDSilent {
			return nil, nil // the network never answers
		}
		s.after = func() {
			m.net.after(m.faults.USSDDelay, func() {
				m.mu.Lock()
				defer m.mu.Unlock()
				if m.ussdOpen && m.ussdSeq == seq {
					m.ussdOpen = false
					m.urc(line)
				}
			})
		}
	}
	return nil, nil
}

// ussdCode reads the code of AT+CUSD=1,<str> (m.mu held): packed hex when
// the modem speaks that dialect (Faults.USSDPacked), else per AT+CSCS.
func (m *Modem) ussdCode(str string) (string, bool) {
	if m.faults.USSDPacked {
		b, err := hex.DecodeString(str)
		if err != nil {
			return "", false
		}
		t, err := gsm7.Decode(gsm7.Unpack7BitUSSD(b, 0))
		if err != nil {
			return "", false
		}
		return string(t), true
	}
	return m.decodeStr(str)
}

// ussdAnswer is the +CUSD URC answering code (m.mu held): the balance for
// the balance code, "+CUSD: 4" (not supported) for anything else. It is
// encoded as the modem's dialect says: text per AT+CSCS with dcs 15,
// UCS-2 hex with dcs 72 (Faults.USSDUCS2) or GSM 7-bit packed hex with
// dcs 15 (Faults.USSDPacked, Huawei).
func (m *Modem) ussdAnswer(code string) string {
	if code != m.cfg.BalanceCode {
		return "+CUSD: 4"
	}
	text := fmt.Sprintf("Your balance is %s. Valid until 31/01.", m.balance)
	if m.faults.USSDMultiline {
		text = fmt.Sprintf("Dear customer,\r\nyour balance is %s.\r\nValid until 31/01.", m.balance)
	}
	switch {
	case m.faults.USSDUCS2:
		return fmt.Sprintf("+CUSD: 0,%q,72", strings.ToUpper(hex.EncodeToString(ucs2.Encode([]rune(text)))))
	case m.faults.USSDPacked:
		sept, _ := gsm7.Encode([]byte(text))
		return fmt.Sprintf("+CUSD: 0,%q,15", strings.ToUpper(hex.EncodeToString(gsm7.Pack7BitUSSD(sept, 0))))
	}
	return fmt.Sprintf("+CUSD: 0,%s,15", quote(m.encodeStr(text)))
}

func cmdCNUM(s *session, c command) ([]string, *atError) {
	m := s.m
	if c.op == "=?" {
		return nil, nil
	}
	if err := m.simReady(false); err != nil {
		return nil, err
	}
	toa := 129
	if strings.HasPrefix(m.cfg.MSISDN, "+") {
		toa = 145
	}
	return []string{fmt.Sprintf(`+CNUM: "",%s,%d`, quote(m.encodeStr(m.cfg.MSISDN)), toa)}, nil
}

func cmdCCLK(s *session, c command) ([]string, *atError) {
	if c.op == "?" {
		return []string{`+CCLK: "` + nowSCTS() + `"`}, nil
	}
	return nil, nil
}

func cmdSYSINFO(s *session, c command) ([]string, *atError) {
	st := 2
	if !s.m.registered() {
		st = 0
	}
	return []string{fmt.Sprintf("^SYSINFO:%d,3,0,5,1,,4", st)}, nil
}

func cmdCLAC(s *session, c command) ([]string, *atError) {
	var names []string
	for n := range handlers {
		if strings.HasPrefix(n, "+") || strings.HasPrefix(n, "^") {
			names = append(names, "AT"+n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// asciiUpper upper-cases ASCII letters only, keeping byte offsets.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 0x20
		}
	}
	return string(b)
}

// cmdSReg is ATSn=v / ATSn? (S registers are kept but have no effect).
func cmdSReg(s *session, c command) ([]string, *atError) {
	m := s.m
	if m.sregs == nil {
		m.sregs = map[string]int{"S0": 0, "S3": 13, "S4": 10, "S5": 8, "S7": 60}
	}
	switch c.op {
	case "?":
		return []string{fmt.Sprintf("%03d", m.sregs[c.name])}, nil
	case "=":
		v, ok := argInt([]string{c.args}, 0, 0)
		if !ok || v < 0 || v > 255 {
			return nil, errPlain
		}
		m.sregs[c.name] = v
	}
	return nil, nil
}
