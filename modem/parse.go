package modem

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	"github.com/simgate/simgate/gateway"
)

// The parsers in this file read the information lines of an AT answer. The AT
// layer may leave unsolicited result codes (URCs), echoed command lines and
// stray noise among those lines, so every parser looks for the line that
// starts with the prefix it expects and never relies on a line's position.
// None of them panics on any input (see the Fuzz tests).

// field is one comma-separated value of an answer line.
type field struct {
	val    string
	quoted bool
}

// afterPrefix returns what follows prefix (e.g. "+CSQ:") on line, trimmed.
func afterPrefix(line, prefix string) (string, bool) {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, prefix) {
		return "", false
	}
	return strings.TrimSpace(line[len(prefix):]), true
}

// splitFields splits s at commas outside double quotes and unquotes each field.
func splitFields(s string) []field {
	var out []field
	var cur strings.Builder
	quoted, inQuote := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQuote = !inQuote
			quoted = true
		case c == ',' && !inQuote:
			out = append(out, field{val: strings.TrimSpace(cur.String()), quoted: quoted})
			cur.Reset()
			quoted = false
		default:
			cur.WriteByte(c)
		}
	}
	out = append(out, field{val: strings.TrimSpace(cur.String()), quoted: quoted})
	return out
}

// atoi parses a small non-negative decimal AT field.
func atoi(f field) (int, bool) {
	if f.quoted || f.val == "" || len(f.val) > 9 {
		return 0, false
	}
	n, err := strconv.Atoi(f.val)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// parseCMGS finds "+CMGS: <mr>" and returns the TP message reference (0..255).
func parseCMGS(lines []string) (int, bool) {
	for _, l := range lines {
		rest, ok := afterPrefix(l, "+CMGS:")
		if !ok {
			continue
		}
		f := splitFields(rest)
		mr, ok := atoi(f[0])
		if ok && mr <= 255 {
			return mr, true
		}
	}
	return 0, false
}

// parseCSQ finds "+CSQ: <rssi>,<ber>" and returns rssi (0..31, 99 unknown).
func parseCSQ(lines []string) (int, bool) {
	for _, l := range lines {
		rest, ok := afterPrefix(l, "+CSQ:")
		if !ok {
			continue
		}
		f := splitFields(rest)
		rssi, ok := atoi(f[0])
		if !ok {
			continue
		}
		if rssi > 31 {
			rssi = 99
		}
		return rssi, true
	}
	return 0, false
}

// creg is one parsed +CREG line.
type creg struct {
	stat gateway.RegStatus
	urc  bool // the unsolicited form (+CREG: <stat>[,<lac>,<ci>])
}

// parseCREGLine parses one +CREG (or +CGREG) line. The answer to AT+CREG? is
// "+CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>]]"; the URC is "+CREG: <stat>" or
// "+CREG: <stat>,"<lac>","<ci>"". They are told apart by the second field:
// unquoted number = answer, absent or quoted = URC.
func parseCREGLine(line, prefix string) (creg, bool) {
	rest, ok := afterPrefix(line, prefix)
	if !ok {
		return creg{}, false
	}
	f := splitFields(rest)
	first, ok := atoi(f[0])
	if !ok {
		return creg{}, false
	}
	if len(f) >= 2 && !f[1].quoted {
		stat, ok := atoi(f[1])
		if !ok || stat > 5 || first > 3 {
			return creg{}, false
		}
		return creg{stat: gateway.RegStatus(stat)}, true
	}
	if first > 5 {
		return creg{}, false
	}
	return creg{stat: gateway.RegStatus(first), urc: true}, true
}

// parseCREG returns the registration status from an AT+CREG? answer,
// preferring the answer form over any URC that sits among the lines.
func parseCREG(lines []string) (gateway.RegStatus, bool) {
	var urc *creg
	for _, l := range lines {
		c, ok := parseCREGLine(l, "+CREG:")
		if !ok {
			continue
		}
		if !c.urc {
			return c.stat, true
		}
		if urc == nil {
			urc = &c
		}
	}
	if urc != nil {
		return urc.stat, true
	}
	return 0, false
}

// parseCOPS returns the operator name from "+COPS: <mode>[,<format>,<oper>[,<AcT>]]"
// ("" when the modem has none).
func parseCOPS(lines []string) (string, bool) {
	for _, l := range lines {
		rest, ok := afterPrefix(l, "+COPS:")
		if !ok {
			continue
		}
		f := splitFields(rest)
		if _, ok := atoi(f[0]); !ok {
			continue
		}
		if len(f) >= 3 {
			return printable(f[2].val), true
		}
		return "", true
	}
	return "", false
}

// parseCPMS returns the <used>,<total> of the first (read/delete) memory from
// either the query answer (+CPMS: "SM",3,30,..., or SM,3,30,... from
// firmwares that leave the names unquoted) or the set answer
// (+CPMS: 3,30,...). Any number of memories may follow.
func parseCPMS(lines []string) (used, total int, ok bool) {
	for _, l := range lines {
		rest, ok := afterPrefix(l, "+CPMS:")
		if !ok {
			continue
		}
		f := splitFields(rest)
		if _, num := atoi(f[0]); len(f) >= 3 && (f[0].quoted || !num) {
			f = f[1:]
		}
		if len(f) < 2 {
			continue
		}
		u, ok1 := atoi(f[0])
		t, ok2 := atoi(f[1])
		if ok1 && ok2 && u <= t {
			return u, t, true
		}
	}
	return 0, 0, false
}

// parseCPMSList parses the answer to AT+CPMS=?, e.g.
// +CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME"), into the memories each
// of <mem1>, <mem2>, <mem3> may take (upper case). Names may be unquoted,
// the groups may sit in an outer pair of parentheses (old Wavecom:
// (("SM","BM","SR"),("SM"))), and there may be fewer or more than three.
func parseCPMSList(lines []string) [][]string {
	for _, l := range lines {
		rest, ok := afterPrefix(l, "+CPMS:")
		if !ok {
			continue
		}
		var out [][]string
		for {
			open := strings.IndexByte(rest, '(')
			if open < 0 {
				break
			}
			end := strings.IndexByte(rest[open:], ')')
			if end < 0 {
				break
			}
			var group []string
			inner := strings.TrimLeft(rest[open+1:open+end], "( ")
			for _, f := range splitFields(inner) {
				if name := strings.ToUpper(f.val); name != "" && len(name) <= 4 && isAlnum(name) {
					group = append(group, name)
				}
			}
			out = append(out, group)
			rest = rest[open+end+1:]
		}
		return out
	}
	return nil
}

// parseCPIN returns the code of "+CPIN: <code>" (READY, SIM PIN, SIM PUK ...).
func parseCPIN(lines []string) (string, bool) {
	for _, l := range lines {
		rest, ok := afterPrefix(l, "+CPIN:")
		if !ok {
			continue
		}
		rest = strings.Trim(rest, `"`)
		if rest != "" {
			return strings.ToUpper(rest), true
		}
	}
	return "", false
}

// stored is one PDU read from the modem's storage.
type stored struct {
	Index int
	Stat  int    // 0 received unread, 1 received read, 2 stored unsent, 3 stored sent
	PDU   []byte // as the modem gave it: SMSC address, then the TPDU
}

// isHexLine reports whether l is a non-empty, even-length hex string.
func isHexLine(l string) bool {
	if len(l) < 2 || len(l)%2 != 0 {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// nextHex returns the PDU on the first hex line in lines, stopping at the next
// header (a line starting with stop). URCs in between are skipped.
func nextHex(lines []string, stop string) ([]byte, bool) {
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, stop) {
			return nil, false
		}
		if isHexLine(l) {
			b, err := hex.DecodeString(l)
			return b, err == nil
		}
	}
	return nil, false
}

// parseCMGL parses a PDU-mode AT+CMGL answer: for each message a header
// "+CMGL: <index>,<stat>,[<alpha>],<length>" followed by the hex PDU, or
// with the PDU as a field after the length on the header line itself.
// Blank and stray lines may sit anywhere, the alpha and the length may be
// missing. Entries without a PDU are skipped.
func parseCMGL(lines []string) []stored {
	var out []stored
	for i, l := range lines {
		rest, ok := afterPrefix(l, "+CMGL:")
		if !ok {
			continue
		}
		f := splitFields(rest)
		if len(f) < 2 {
			continue
		}
		idx, ok1 := atoi(f[0])
		stat, ok2 := atoi(f[1])
		if !ok1 || !ok2 {
			continue
		}
		pdu, ok := inlinePDU(f, 4)
		if !ok {
			pdu, ok = nextHex(lines[i+1:], "+CMGL:")
		}
		if !ok {
			continue
		}
		out = append(out, stored{Index: idx, Stat: stat, PDU: pdu})
	}
	return out
}

// parseCMGR parses a PDU-mode AT+CMGR answer: "+CMGR: <stat>,[<alpha>],<length>"
// then the hex PDU. ok is false when the slot is empty.
func parseCMGR(lines []string, index int) (stored, bool) {
	for i, l := range lines {
		rest, ok := afterPrefix(l, "+CMGR:")
		if !ok {
			continue
		}
		f := splitFields(rest)
		stat, ok := atoi(f[0])
		if !ok {
			continue
		}
		pdu, ok := inlinePDU(f, 3)
		if !ok {
			pdu, ok = nextHex(lines[i+1:], "+CMGR:")
		}
		if !ok {
			continue
		}
		return stored{Index: index, Stat: stat, PDU: pdu}, true
	}
	return stored{}, false
}

// inlinePDU returns the PDU some firmwares put on the header line, as the
// field after the <length> (field number after, counting from 0).
func inlinePDU(f []field, after int) ([]byte, bool) {
	if len(f) <= after || f[len(f)-1].quoted || !isHexLine(f[len(f)-1].val) {
		return nil, false
	}
	b, err := hex.DecodeString(f[len(f)-1].val)
	return b, err == nil
}

// parseIndex parses a storage indication such as `+CMTI: "SM",3` or
// `+CDSI: "SR",1` and returns the memory and index.
func parseIndex(line, prefix string) (mem string, index int, ok bool) {
	rest, ok := afterPrefix(line, prefix)
	if !ok {
		return "", 0, false
	}
	f := splitFields(rest)
	if len(f) < 2 {
		return "", 0, false
	}
	index, ok = atoi(f[len(f)-1])
	if !ok {
		return "", 0, false
	}
	mem = strings.ToUpper(f[0].val)
	if len(mem) > 4 || !isAlnum(mem) {
		return "", 0, false
	}
	return mem, index, true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// parseRouted decodes a routed indication (+CMT: [<alpha>],<length> or
// +CDS: <length>, then the hex PDU) and returns the TPDU. The <length>
// counts TPDU octets, so whatever precedes them is the SMSC address.
func parseRouted(lines []string) ([]byte, bool) {
	if len(lines) < 2 {
		return nil, false
	}
	head := strings.TrimSpace(lines[0])
	colon := strings.IndexByte(head, ':')
	if colon < 0 {
		return nil, false
	}
	f := splitFields(head[colon+1:])
	n, ok := atoi(f[len(f)-1])
	if !ok {
		return nil, false
	}
	pdu, ok := nextHex(lines[1:], "+")
	if !ok || n == 0 || n > len(pdu) {
		return nil, false
	}
	return pdu[len(pdu)-n:], true
}

// parseCNUM returns the first number of "+CNUM: [<alpha>],<number>,<type>".
func parseCNUM(lines []string) string {
	for _, l := range lines {
		rest, ok := afterPrefix(l, "+CNUM:")
		if !ok {
			continue
		}
		f := splitFields(rest)
		if len(f) >= 2 && isPhone(f[1].val) {
			return f[1].val
		}
	}
	return ""
}

func isPhone(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || c == '+' && i == 0) {
			return false
		}
	}
	return s != "+"
}

// noise reports whether an information line is something other than the
// answer to an identity command: echo, URC, vendor boot chatter.
func noise(l string) bool {
	switch {
	case l == "",
		strings.HasPrefix(l, "AT"), strings.HasPrefix(l, "at"),
		strings.HasPrefix(l, "+"), strings.HasPrefix(l, "^"),
		l == "RING", l == "RDY", l == "Call Ready", l == "SMS Ready",
		l == "NO CARRIER", strings.HasPrefix(l, "PB DONE"):
		return true
	}
	return false
}

// parseText returns the answer to a text identity command (AT+CGMI, +CGMM,
// +CGMR): the "<prefix> value" line if the modem uses one, else the first
// line that is not noise.
func parseText(lines []string, prefix string) (string, bool) {
	for _, l := range lines {
		if rest, ok := afterPrefix(l, prefix); ok && rest != "" {
			return printable(strings.Trim(rest, `"`)), true
		}
	}
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if !noise(l) {
			return printable(l), true
		}
	}
	return "", false
}

// parseDigits returns a digit string (IMEI, IMSI, ICCID) of minLen..maxLen
// characters from an identity answer, with or without one of the prefixes.
// ICCIDs may carry a trailing F (padding) or hex letters; allowHex accepts them.
func parseDigits(lines []string, minLen, maxLen int, allowHex bool, prefixes ...string) (string, bool) {
	for _, l := range lines {
		l = strings.TrimSpace(l)
		for _, p := range prefixes {
			if rest, ok := afterPrefix(l, p); ok {
				l = rest
				break
			}
		}
		l = strings.Trim(l, `"`)
		if len(l) < minLen || len(l) > maxLen {
			continue
		}
		good := true
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('0' <= c && c <= '9' || allowHex && ('A' <= c && c <= 'F' || 'a' <= c && c <= 'f')) {
				good = false
				break
			}
		}
		if good {
			return strings.ToUpper(l), true
		}
	}
	return "", false
}

// printable drops control and non-ASCII bytes and caps the length, so a
// string from the modem is safe to show and to use as a metric label.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 64; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}

// errCode parses the numeric code of a +CMS/+CME ERROR text ("500"); 0 if it
// is not numeric (CMEE=2 words).
func errCode(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 65535 {
		return 0
	}
	return n
}

// errShortPDU: a stored PDU shorter than its own SMSC header.
var errShortPDU = errors.New("pdu shorter than its smsc address")

// splitSMSC strips the SMSC address from a PDU as the modem stores it: the
// first octet is the length in octets of the address that follows.
func splitSMSC(pdu []byte) ([]byte, error) {
	if len(pdu) < 1 {
		return nil, errShortPDU
	}
	n := 1 + int(pdu[0])
	if n >= len(pdu) {
		return nil, errShortPDU
	}
	return pdu[n:], nil
}

// pduKind classifies a TPDU received by a modem by its TP-MTI (the low two
// bits of the first octet): 0 SMS-DELIVER, 2 SMS-STATUS-REPORT. ok is false
// for anything else (e.g. a stored SMS-SUBMIT), which is not inbound.
func pduKind(tpdu []byte) (gateway.PDUKind, bool) {
	if len(tpdu) == 0 {
		return 0, false
	}
	switch tpdu[0] & 0x03 {
	case 0:
		return gateway.KindDeliver, true
	case 2:
		return gateway.KindStatusReport, true
	}
	return 0, false
}
