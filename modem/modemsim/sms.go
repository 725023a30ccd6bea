package modemsim

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/gsm7"
	"github.com/warthog618/sms/encoding/pdumode"
	"github.com/warthog618/sms/encoding/tpdu"
	"github.com/warthog618/sms/encoding/ucs2"
)

// errSilent marks a command that must not be answered (a hang).
var errSilent = &atError{kind: -1}

var statNames = []string{"REC UNREAD", "REC READ", "STO UNSENT", "STO SENT", "ALL"}

// inbound is an MT TPDU on its way into a modem.
type inbound struct {
	tpdu     []byte
	report   bool
	onStored func() // called (m.mu held) once the modem took it
}

// view returns the storages behind a memory name ("MT" is SM then ME).
func (m *Modem) view(name string) []*storage {
	switch name {
	case "ME":
		return []*storage{m.mem["ME"]}
	case "SR":
		if sr := m.mem["SR"]; sr != nil {
			return []*storage{sr}
		}
	case "MT":
		return []*storage{m.mem["SM"], m.mem["ME"]}
	}
	return []*storage{m.mem["SM"]}
}

// slot finds AT index idx (1-based) in a storage view.
func slot(v []*storage, idx int) (*storage, int, bool) {
	if idx < 1 {
		return nil, 0, false
	}
	i := idx - 1
	for _, st := range v {
		if i < len(st.slots) {
			return st, i, true
		}
		i -= len(st.slots)
	}
	return nil, 0, false
}

// each calls f for every used slot of a view with its AT index.
func each(v []*storage, f func(idx int, st *storage, i int)) {
	base := 0
	for _, st := range v {
		for i, x := range st.slots {
			if x != nil {
				f(base+i+1, st, i)
			}
		}
		base += len(st.slots)
	}
}

func viewCounts(v []*storage) (used, total int) {
	for _, st := range v {
		used += st.used()
		total += len(st.slots)
	}
	return
}

// store puts a TPDU into the first free slot of a view (m.mu held).
func (m *Modem) store(mem string, t []byte, stat int) (int, bool) {
	if m.faults.StorageFull {
		return 0, false
	}
	base := 0
	for _, st := range m.view(mem) {
		if i := st.free(); i >= 0 {
			st.slots[i] = &StoredSMS{Mem: st.name, Index: i + 1, Stat: stat, TPDU: append([]byte(nil), t...)}
			return base + i + 1, true
		}
		base += len(st.slots)
	}
	return 0, false
}

// smscPrefix is the SMSC address field prepended to stored PDUs.
func (m *Modem) smscPrefix() []byte {
	if m.smsc == "" {
		return []byte{0}
	}
	a := pdumode.SMSCAddress{Address: numberAddress(m.smsc)}
	b, err := a.MarshalBinary()
	if err != nil {
		return []byte{0}
	}
	return b
}

func (m *Modem) pduHex(t []byte) string {
	return strings.ToUpper(hex.EncodeToString(append(m.smscPrefix(), t...)))
}

// memNames are the memories AT+CPMS accepts (m.mu held).
func (m *Modem) memNames() []string {
	if m.mem["SR"] != nil {
		return []string{"SM", "ME", "MT", "SR"}
	}
	return []string{"SM", "ME", "MT"}
}

func cmdCPMS(s *session, c command) ([]string, *atError) {
	m := s.m
	if err := m.simReady(true); err != nil {
		return nil, err
	}
	// Faults.CPMSTwoMemories: <mem1>,<mem2> only (old Wavecom);
	// Faults.CPMSUnquoted: names without quotes.
	mems := 3
	if m.faults.CPMSTwoMemories {
		mems = 2
	}
	name := func(n string) string {
		if m.faults.CPMSUnquoted {
			return n
		}
		return quote(n)
	}
	group := func(names ...string) string {
		q := make([]string, len(names))
		for i, n := range names {
			q[i] = name(n)
		}
		return "(" + strings.Join(q, ",") + ")"
	}
	switch c.op {
	case "?":
		var parts []string
		for _, n := range m.set.mem[:mems] {
			u, t := viewCounts(m.view(n))
			parts = append(parts, fmt.Sprintf("%s,%d,%d", name(n), u, t))
		}
		return []string{"+CPMS: " + strings.Join(parts, ",")}, nil
	case "=?":
		if m.faults.CPMSTwoMemories {
			first := []string{"SM", "BM"}
			if m.mem["SR"] != nil {
				first = append(first, "SR")
			}
			return []string{"+CPMS: (" + group(first...) + "," + group("SM") + ")"}, nil
		}
		l := group("SM", "ME", "MT")
		l1 := l
		if m.mem["SR"] != nil {
			l1 = group("SM", "ME", "MT", "SR")
		}
		line := "+CPMS: " + l1 + "," + l + "," + l
		if m.faults.CPMSUnquoted {
			line += "," + group("SM", "ME") // a trailing group no memory parameter has
		}
		return []string{line}, nil
	case "=":
		args := splitArgs(c.args)
		if len(args) == 0 || len(args) > mems {
			return nil, cms(302)
		}
		mem := m.set.mem
		for i, a := range args {
			name := strings.ToUpper(unquote(a))
			if name == "" {
				continue
			}
			ok := false
			for _, n := range m.memNames() {
				ok = ok || n == name
			}
			if !ok {
				return nil, cms(302)
			}
			mem[i] = name
		}
		m.set.mem = mem
		var parts []string
		for _, name := range mem[:mems] {
			u, t := viewCounts(m.view(name))
			parts = append(parts, fmt.Sprintf("%d,%d", u, t))
		}
		return []string{"+CPMS: " + strings.Join(parts, ",")}, nil
	}
	return nil, errPlain
}

func cmdCMGS(s *session, c command) ([]string, *atError) {
	return s.startPrompt(c, false)
}

func cmdCMGW(s *session, c command) ([]string, *atError) {
	return s.startPrompt(c, true)
}

// startPrompt handles AT+CMGS / AT+CMGW: check the arguments and ask for
// the body with "> ".
func (s *session) startPrompt(c command, write bool) ([]string, *atError) {
	m := s.m
	if c.op == "=?" {
		return nil, nil
	}
	if err := m.simReady(true); err != nil {
		return nil, err
	}
	args := splitArgs(c.args)
	p := &prompt{write: write, pdu: m.set.cmgf == 0, stat: 2}
	if p.pdu {
		if c.op != "=" {
			return nil, errPlain
		}
		n, ok := argInt(args, 0, -1)
		if !ok || n < 1 || n > 176 {
			return nil, cms(304)
		}
		p.length = n
		if write {
			st, ok := argInt(args, 1, 2)
			if !ok || st < 0 || st > 3 {
				return nil, cms(304)
			}
			p.stat = st
		}
	} else {
		if c.op == "=" && len(args) > 0 {
			da, ok := m.decodeStr(unquote(args[0]))
			if !ok || (da == "" && !write) {
				return nil, cms(305)
			}
			p.da = da
			p.toda = 129
			if strings.HasPrefix(da, "+") {
				p.toda = 145
			}
			if v, ok := argInt(args, 1, p.toda); ok {
				p.toda = v
			} else {
				return nil, cms(305)
			}
			if write && len(args) > 2 {
				st := -1
				for i, n := range statNames[:4] {
					if strings.EqualFold(unquote(args[2]), n) {
						st = i
					}
				}
				if st < 0 {
					return nil, cms(305)
				}
				p.stat = st
			}
		} else if !write {
			return nil, errPlain
		}
	}
	s.prompt = p
	return nil, nil
}

// finishPrompt handles the body after Ctrl-Z (m.mu held).
func (s *session) finishPrompt(p *prompt) {
	m := s.m
	t, raw, err := m.parseBody(p)
	if err != nil {
		s.final(err)
		return
	}
	if p.write {
		idx, ok := m.store(m.set.mem[1], raw, p.stat)
		if !ok {
			s.final(cms(322))
			return
		}
		s.answer([]string{"+CMGW: " + itoa(idx)}, nil)
		return
	}
	mr, err := s.submit(t, raw)
	if err == errSilent {
		return
	}
	if err != nil {
		s.final(err)
		return
	}
	if m.faults.CMGSNoFinal {
		s.cmgsNoFinal(mr)
		return
	}
	s.answer([]string{"+CMGS: " + itoa(mr)}, nil)
}

// cmgsNoFinal answers a send "+CMGS: <mr>" without the final OK, which
// comes before the next answer (Faults.CMGSFinalLater), if at all (m.mu held).
func (s *session) cmgsNoFinal(mr int) {
	s.out.Write(s.infoBytes([]string{"+CMGS: " + itoa(mr)}))
	s.owedFinal = s.m.faults.CMGSFinalLater
}

// parseBody turns a prompt body into a TPDU (m.mu held).
func (m *Modem) parseBody(p *prompt) (*tpdu.TPDU, []byte, *atError) {
	if p.pdu {
		h := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\r' || r == '\n' || r == '\t' {
				return -1
			}
			return r
		}, string(p.body))
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, nil, cms(304)
		}
		pdu, err := pdumode.UnmarshalBinary(b)
		if err != nil || len(pdu.TPDU) != p.length {
			return nil, nil, cms(304)
		}
		t, err := sms.Unmarshal(pdu.TPDU, sms.AsMO)
		if err != nil || t.SmsType() != tpdu.SmsSubmit {
			if !p.write {
				return nil, nil, cms(304)
			}
			t, err = sms.Unmarshal(pdu.TPDU) // CMGW may store an SMS-DELIVER
			if err != nil {
				return nil, nil, cms(304)
			}
		}
		if pdu.SMSC.Addr == "" && m.smsc == "" && !p.write {
			return nil, nil, cms(330)
		}
		return t, pdu.TPDU, nil
	}
	text, ok := m.decodeStr(string(p.body))
	if !ok {
		return nil, nil, cms(305)
	}
	t, raw, err := m.textSubmit(p.da, p.toda, text)
	if err != nil {
		return nil, nil, err
	}
	return t, raw, nil
}

// textSubmit builds an SMS-SUBMIT for text mode from AT+CSMP (m.mu held).
func (m *Modem) textSubmit(da string, toda int, text string) (*tpdu.TPDU, []byte, *atError) {
	p := m.set.csmp
	fo := tpdu.FirstOctet(p[0])&^tpdu.FoMTIMask | 0x01
	t := &tpdu.TPDU{Direction: tpdu.MO, FirstOctet: fo &^ tpdu.FoUDHI}
	if fo.VPF() == tpdu.VpfRelative {
		t.VP.SetRelative(vpDuration(p[1]))
	} else {
		t.FirstOctet &^= tpdu.FoVPFMask
	}
	t.DA = numberAddress(da)
	if toda == 129 {
		t.DA.SetTypeOfNumber(tpdu.TonUnknown)
	}
	t.PID = byte(p[2])
	t.DCS = tpdu.DCS(p[3])
	alpha, err := t.DCS.Alphabet()
	if err != nil {
		return nil, nil, cms(305)
	}
	switch alpha {
	case tpdu.AlphaUCS2:
		t.UD = ucs2.Encode([]rune(text))
		if len(t.UD) > 140 {
			return nil, nil, cms(305)
		}
	case tpdu.Alpha8Bit:
		t.UD = []byte(text)
		if len(t.UD) > 140 {
			return nil, nil, cms(305)
		}
	default:
		ud, err := gsm7.Encode([]byte(text))
		if err != nil {
			ud, _ = gsm7.Encode([]byte(strings.Map(func(r rune) rune {
				if _, err := gsm7.Encode([]byte(string(r))); err != nil {
					return '?'
				}
				return r
			}, text)))
		}
		if len(ud) > 160 {
			return nil, nil, cms(305)
		}
		t.UD = ud
	}
	raw, merr := t.MarshalBinary()
	if merr != nil {
		return nil, nil, cms(305)
	}
	return t, raw, nil
}

// vpDuration decodes a relative TP-VP (TS 23.040 §9.2.3.12.1).
func vpDuration(vp int) time.Duration {
	switch {
	case vp <= 143:
		return time.Duration(vp+1) * 5 * time.Minute
	case vp <= 167:
		return 12*time.Hour + time.Duration(vp-143)*30*time.Minute
	case vp <= 196:
		return time.Duration(vp-166) * 24 * time.Hour
	}
	return time.Duration(vp-192) * 7 * 24 * time.Hour
}

// numberAddress makes a TP address: international for +digits, unknown
// for digits, alphanumeric otherwise.
func numberAddress(s string) tpdu.Address {
	digits := strings.TrimPrefix(s, "+")
	isNum := digits != ""
	for _, r := range digits {
		if r < '0' || r > '9' {
			isNum = false
		}
	}
	switch {
	case isNum && strings.HasPrefix(s, "+"):
		return tpdu.NewAddress(tpdu.FromNumber(s))
	case isNum:
		a := tpdu.NewAddress()
		a.Addr = digits
		a.SetTypeOfNumber(tpdu.TonUnknown)
		a.SetNumberingPlan(tpdu.NpISDN)
		return a
	}
	a := tpdu.NewAddress()
	a.Addr = s
	a.SetTypeOfNumber(tpdu.TonAlphanumeric)
	a.SetNumberingPlan(tpdu.NpUnknown)
	return a
}

// submit passes an SMS-SUBMIT to the network after the send latency and
// the send faults; it returns the TP-MR (m.mu held, released while waiting).
func (s *session) submit(t *tpdu.TPDU, raw []byte) (int, *atError) {
	m := s.m
	d := m.faults.SendLatency
	if j := m.faults.SendJitter; j > 0 {
		d += rand.N(j)
	}
	if !m.sleepLocked(d) || m.closed || m.isHung() {
		return 0, errSilent
	}
	if !m.registered() {
		return 0, cms(331)
	}
	if m.faults.CMSErrorRate > 0 && rand.Float64() < m.faults.CMSErrorRate {
		code := m.faults.CMSErrorCode
		if code == 0 {
			code = 500
		}
		return 0, cms(code)
	}
	mr := m.mr
	m.mr = (m.mr + 1) % 256
	if m.faults.HangAfterPDU {
		m.net.submit(m, t, raw, mr, true)
		m.hung = true
		return 0, errSilent
	}
	m.net.submit(m, t, raw, mr, false)
	return mr, nil
}

func cmdCMSS(s *session, c command) ([]string, *atError) {
	m := s.m
	if c.op == "=?" {
		return nil, nil
	}
	if c.op != "=" {
		return nil, errPlain
	}
	if err := m.simReady(true); err != nil {
		return nil, err
	}
	args := splitArgs(c.args)
	idx, ok := argInt(args, 0, -1)
	st, i, in := slot(m.view(m.set.mem[1]), idx)
	if !ok || !in || st.slots[i] == nil {
		return nil, cms(321)
	}
	x := st.slots[i]
	t, err := sms.Unmarshal(x.TPDU, sms.AsMO)
	if err != nil || t.SmsType() != tpdu.SmsSubmit {
		return nil, cms(302)
	}
	if len(args) > 1 {
		da, ok := m.decodeStr(unquote(args[1]))
		if !ok || da == "" {
			return nil, cms(304)
		}
		t.DA = numberAddress(da)
	}
	raw, merr := t.MarshalBinary()
	if merr != nil {
		return nil, cms(304)
	}
	mr, aerr := s.submit(t, raw)
	if aerr != nil {
		return nil, aerr
	}
	if st.slots[i] == x {
		x.Stat = 3
	}
	return []string{"+CMSS: " + itoa(mr)}, nil
}

func cmdCMGL(s *session, c command) ([]string, *atError) {
	m := s.m
	if err := m.simReady(true); err != nil {
		return nil, err
	}
	args := splitArgs(c.args)
	want := 0
	if m.set.cmgf == 0 {
		if c.op == "=?" {
			return []string{"+CMGL: (0-4)"}, nil
		}
		v, ok := argInt(args, 0, 0)
		if !ok || v < 0 || v > 4 {
			return nil, cms(304)
		}
		want = v
	} else {
		if c.op == "=?" {
			q := make([]string, len(statNames))
			for i, n := range statNames {
				q[i] = quote(n)
			}
			return []string{"+CMGL: (" + strings.Join(q, ",") + ")"}, nil
		}
		if len(args) > 0 {
			want = -1
			for i, n := range statNames {
				if strings.EqualFold(unquote(args[0]), n) {
					want = i
				}
			}
			if want < 0 {
				return nil, cms(305)
			}
		}
	}
	var lines []string
	var read []*StoredSMS
	odd := m.faults.CMGLOddFraming && m.set.cmgf == 0 && m.set.verbose
	turn := 0
	if odd {
		// a blank line and a stray line before the first entry
		lines = append(lines, "", "^RSSI: "+itoa(m.rssi))
	}
	each(m.view(m.set.mem[0]), func(idx int, st *storage, i int) {
		x := st.slots[i]
		if want != 4 && x.Stat != want {
			return
		}
		switch {
		case odd:
			lines = append(lines, m.oddCMGLEntry(turn, idx, x)...)
			turn++
		case m.set.cmgf == 0:
			lines = append(lines, fmt.Sprintf("+CMGL: %d,%d,,%d", idx, x.Stat, len(x.TPDU)), m.pduHex(x.TPDU))
		default:
			lines = append(lines, m.textEntry("+CMGL: "+itoa(idx)+",", x)...)
		}
		if x.Stat == 0 {
			read = append(read, x)
		}
	})
	for _, x := range read {
		x.Stat = 1
	}
	if odd {
		// the OK right after the last line, without the blank line
		s.noFinal = true
		lines = append(lines, "OK")
	}
	return lines, nil
}

// oddCMGLEntry frames one PDU-mode +CMGL entry the loose ways firmwares do
// (Faults.CMGLOddFraming), turn by turn: the PDU on the header line after
// the length; spaces after the commas with an empty alpha as ""; the length
// missing; each after a blank line (m.mu held).
func (m *Modem) oddCMGLEntry(turn, idx int, x *StoredSMS) []string {
	pdu := m.pduHex(x.TPDU)
	switch turn % 3 {
	case 0:
		return []string{"", fmt.Sprintf("+CMGL: %d,%d,,%d,%s", idx, x.Stat, len(x.TPDU), pdu)}
	case 1:
		return []string{"", fmt.Sprintf(`+CMGL: %d, %d, "", %d`, idx, x.Stat, len(x.TPDU)), pdu}
	}
	return []string{"", fmt.Sprintf("+CMGL: %d,%d,,", idx, x.Stat), pdu}
}

func cmdCMGR(s *session, c command) ([]string, *atError) {
	m := s.m
	if c.op == "=?" {
		return nil, nil
	}
	if c.op != "=" {
		return nil, errPlain
	}
	if err := m.simReady(true); err != nil {
		return nil, err
	}
	idx, ok := argInt(splitArgs(c.args), 0, -1)
	st, i, in := slot(m.view(m.set.mem[0]), idx)
	if !ok || !in {
		return nil, cms(321)
	}
	x := st.slots[i]
	if x == nil {
		return nil, nil // empty slot: OK without information (SIMCom, Huawei)
	}
	var lines []string
	if m.set.cmgf == 0 {
		lines = []string{fmt.Sprintf("+CMGR: %d,,%d", x.Stat, len(x.TPDU)), m.pduHex(x.TPDU)}
	} else {
		lines = m.textEntry("+CMGR: ", x)
	}
	if x.Stat == 0 {
		x.Stat = 1
	}
	return lines, nil
}

func cmdCMGD(s *session, c command) ([]string, *atError) {
	m := s.m
	if err := m.simReady(true); err != nil {
		return nil, err
	}
	v := m.view(m.set.mem[0])
	if c.op == "=?" {
		var idx []string
		each(v, func(i int, _ *storage, _ int) { idx = append(idx, itoa(i)) })
		return []string{"+CMGD: (" + strings.Join(idx, ",") + "),(0-4)"}, nil
	}
	if c.op != "=" {
		return nil, errPlain
	}
	args := splitArgs(c.args)
	idx, ok1 := argInt(args, 0, 0)
	flag, ok2 := argInt(args, 1, 0)
	if !ok1 || !ok2 || flag < 0 || flag > 4 {
		return nil, cms(302)
	}
	if flag == 0 {
		st, i, in := slot(v, idx)
		if !in {
			return nil, cms(321)
		}
		st.slots[i] = nil
	} else {
		each(v, func(_ int, st *storage, i int) {
			x := st.slots[i]
			del := x.Stat == 1 ||
				flag >= 2 && x.Stat == 3 ||
				flag >= 3 && x.Stat == 2 ||
				flag == 4
			if del {
				st.slots[i] = nil
			}
		})
	}
	s.after = m.flushLocked
	return nil, nil
}

// textEntry renders a stored message for text mode CMGL/CMGR/+CMT/+CDS
// (m.mu held); the <stat> field is left out for the URCs.
func (m *Modem) textEntry(prefix string, x *StoredSMS) []string {
	stat := quote(statNames[x.Stat])
	if prefix == "+CMT: " || prefix == "+CDS: " {
		stat = ""
	}
	t, err := sms.Unmarshal(x.TPDU, sms.AsMO)
	if x.Stat < 2 || err != nil {
		t, err = sms.Unmarshal(x.TPDU)
	}
	if err != nil {
		return []string{prefix + stat + `,"",,`, ""}
	}
	text := ""
	if b, err := sms.Decode([]*tpdu.TPDU{t}); err == nil {
		text = m.encodeStr(string(b))
	}
	switch t.SmsType() {
	case tpdu.SmsStatusReport:
		if stat != "" {
			stat += ","
		}
		return []string{fmt.Sprintf("%s%s%d,%d,%s,%d,%q,%q,%d", prefix, stat, t.FirstOctet, t.MR,
			quote(m.encodeStr(t.RA.Number())), t.RA.TOA, sctsString(t.SCTS.Time), sctsString(t.DT.Time), t.ST)}
	case tpdu.SmsSubmit:
		h := fmt.Sprintf("%s%s,%s,", prefix, stat, quote(m.encodeStr(t.DA.Number())))
		if m.set.csdh {
			h += fmt.Sprintf(",%d,%d", t.DA.TOA, len(t.UD))
		}
		return []string{h, text}
	}
	if stat != "" {
		stat += ","
	}
	h := fmt.Sprintf("%s%s%s,,%q", prefix, stat, quote(m.encodeStr(t.OA.Number())), sctsString(t.SCTS.Time))
	if m.set.csdh {
		h += fmt.Sprintf(",%d,%d", t.OA.TOA, len(t.UD))
	}
	return []string{h, text}
}

// sctsString formats a time as "yy/MM/dd,hh:mm:ss±zz" (zz in quarter hours).
func sctsString(t time.Time) string {
	_, off := t.Zone()
	sign := "+"
	if off < 0 {
		sign = "-"
		off = -off
	}
	return fmt.Sprintf("%s%s%02d", t.Format("06/01/02,15:04:05"), sign, off/900)
}

func nowSCTS() string { return sctsString(time.Now()) }

// encodeStr renders a string for the TE per AT+CSCS (m.mu held).
func (m *Modem) encodeStr(s string) string {
	switch m.set.cscs {
	case "UCS2":
		return strings.ToUpper(hex.EncodeToString(ucs2.Encode([]rune(s))))
	case "GSM":
		if b, err := gsm7.Encode([]byte(s)); err == nil {
			return string(b)
		}
	}
	return strings.Map(func(r rune) rune {
		if r > 0xff || (m.set.cscs == "IRA" && r > 0x7f) {
			return '?'
		}
		return r
	}, s)
}

// decodeStr reads a string from the TE per AT+CSCS (m.mu held).
func (m *Modem) decodeStr(s string) (string, bool) {
	switch m.set.cscs {
	case "UCS2":
		b, err := hex.DecodeString(s)
		if err != nil || len(b)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		return string(utf16.Decode(u)), true
	case "GSM":
		if b, err := gsm7.Decode([]byte(s)); err == nil {
			return string(b), true
		}
	case "8859-1":
		r := make([]rune, len(s))
		for i := 0; i < len(s); i++ {
			r[i] = rune(s[i])
		}
		return string(r), true
	}
	return s, true
}

// flushLocked moves held MT messages into the modem, in order, as far as
// it can take them (m.mu held).
func (m *Modem) flushLocked() {
	for len(m.pending) > 0 {
		if !m.accept(m.pending[0]) {
			return
		}
		m.pending = m.pending[1:]
	}
	m.pending = nil
}

func (m *Modem) flushPending() {
	m.mu.Lock()
	m.flushLocked()
	m.mu.Unlock()
}

// enqueue hands an MT message to the modem; it is held by the network
// while the modem is unregistered or its storage is full.
func (m *Modem) enqueue(in inbound) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending = append(m.pending, in)
	m.flushLocked()
}

// accept routes or stores one MT message per AT+CNMI (m.mu held).
func (m *Modem) accept(in inbound) bool {
	if m.closed {
		return true
	}
	if !m.registered() {
		return false
	}
	listening := len(m.sessions) > 0 && m.set.cnmi[0] != 0 && !m.isHung()
	if in.report {
		switch m.set.cnmi[3] {
		case 0:
			// not routed to the TE: the report is dropped
		case 1:
			if listening {
				if m.set.cmgf == 0 {
					m.urc("+CDS: "+itoa(len(in.tpdu)), m.pduHex(in.tpdu))
				} else {
					x := &StoredSMS{Stat: 0, TPDU: in.tpdu}
					m.urc(m.textEntry("+CDS: ", x)[0])
				}
				break
			}
			fallthrough
		default:
			mem := m.set.mem[2]
			if m.mem["SR"] != nil {
				mem = "SR"
			}
			idx, ok := m.store(mem, in.tpdu, 0)
			if !ok {
				return false
			}
			m.urc(fmt.Sprintf("+CDSI: %q,%d", mem, idx))
		}
	} else {
		mt := m.set.cnmi[1]
		if mt == 2 && listening {
			if m.set.cmgf == 0 {
				m.urc("+CMT: ,"+itoa(len(in.tpdu)), m.pduHex(in.tpdu))
			} else {
				m.urc(m.textEntry("+CMT: ", &StoredSMS{Stat: 1, TPDU: in.tpdu})...)
			}
		} else {
			idx, ok := m.store(m.set.mem[2], in.tpdu, 0)
			if !ok {
				return false
			}
			if mt != 0 {
				m.urc(fmt.Sprintf("+CMTI: %q,%d", m.set.mem[2], idx))
			}
		}
	}
	if in.onStored != nil {
		in.onStored()
	}
	return true
}
