package modemsim

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/pdumode"
	"github.com/warthog618/sms/encoding/tpdu"
)

// submitPDUs encodes text to number as SMS-SUBMIT TPDUs (binary).
func submitPDUs(t testing.TB, to, text string, srr bool) [][]byte {
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

// sendPDU runs AT+CMGS in PDU mode and returns the whole answer after the prompt.
func (c *client) sendPDU(b []byte) string {
	c.t.Helper()
	if got := c.cmd(fmt.Sprintf("AT+CMGS=%d", len(b))); !strings.HasSuffix(got, "\r\n> ") {
		c.t.Fatalf("no prompt: %q", got)
	}
	c.send("00" + strings.ToUpper(hex.EncodeToString(b)) + "\x1a")
	return c.until(finalRE)
}

// decodeListed parses "+CMGL/+CMGR/+CMT/+CDS header \r\n PDU" answers.
func decodeListed(t testing.TB, answer string) []*tpdu.TPDU {
	t.Helper()
	var out []*tpdu.TPDU
	lines := strings.Split(answer, "\r\n")
	for i, l := range lines {
		if !(strings.HasPrefix(l, "+CMGL:") || strings.HasPrefix(l, "+CMGR:") || strings.HasPrefix(l, "+CMT:") || strings.HasPrefix(l, "+CDS:")) {
			continue
		}
		p, err := pdumode.UnmarshalHexString(lines[i+1])
		if err != nil {
			t.Fatalf("pdu %q: %v", lines[i+1], err)
		}
		tp, err := sms.Unmarshal(p.TPDU)
		if err != nil {
			t.Fatalf("tpdu %q: %v", lines[i+1], err)
		}
		out = append(out, tp)
	}
	return out
}

func TestSendPDUOverPTY(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	c := newClient(t, servePTY(t, m))
	if got := c.cmd("ATE0;+CMGF=0;+CMEE=1"); got != "\r\nOK\r\n" {
		t.Fatalf("init: %q", got)
	}
	for i, text := range []string{"hello world", "ünïcödé ✓ 😀"} {
		b := submitPDUs(t, "+15550001", text, false)[0]
		got := c.sendPDU(b)
		if want := fmt.Sprintf("\r\n+CMGS: %d\r\n\r\nOK\r\n", i); got != want {
			t.Fatalf("send %d: %q, want %q", i, got, want)
		}
	}
	out := n.Outside()
	if len(out) != 2 || out[0].Text != "hello world" || out[1].Text != "ünïcödé ✓ 😀" || out[1].MR != 1 || out[1].TPDU[1] != 1 {
		t.Fatalf("outside: %+v", out)
	}

	t.Run("length mismatch", func(t *testing.T) {
		b := submitPDUs(t, "+15550001", "x", false)[0]
		c.cmd(fmt.Sprintf("AT+CMGS=%d", len(b)+1))
		c.send("00" + hex.EncodeToString(b) + "\x1a")
		if got := c.until(finalRE); got != "\r\n+CMS ERROR: 304\r\n" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("bad hex", func(t *testing.T) {
		c.cmd("AT+CMGS=10")
		c.send("00ZZ11\x1a")
		if got := c.until(finalRE); got != "\r\n+CMS ERROR: 304\r\n" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("not a submit", func(t *testing.T) {
		d, _ := deliverFor(mustSubmit(t, "+1555", "x"), "+1666")
		c.cmd(fmt.Sprintf("AT+CMGS=%d", len(d)))
		c.send("00" + hex.EncodeToString(d) + "\x1a")
		if got := c.until(finalRE); got != "\r\n+CMS ERROR: 304\r\n" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("escape cancels", func(t *testing.T) {
		b := submitPDUs(t, "+15550001", "never", false)[0]
		c.cmd(fmt.Sprintf("AT+CMGS=%d", len(b)))
		c.send("00" + hex.EncodeToString(b) + "\x1b")
		if got := c.until(finalRE); got != "\r\nOK\r\n" {
			t.Fatalf("got %q", got)
		}
		if got := c.cmd("AT"); got != "\r\nOK\r\n" {
			t.Fatalf("after ESC: %q", got)
		}
	})
	if got := len(n.Submissions()); got != 2 {
		t.Fatalf("submissions after failed sends: %d", got)
	}
}

func mustSubmit(t testing.TB, to, text string) *tpdu.TPDU {
	t.Helper()
	p, err := sms.Unmarshal(submitPDUs(t, to, text, false)[0], sms.AsMO)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSendEchoPrompt(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	m.SetFaults(Faults{Echo: true})
	c := newClient(t, m.Conn())
	if got := c.cmd("AT"); got != "AT\r\r\nOK\r\n" {
		t.Fatalf("echo: %q", got)
	}
	b := submitPDUs(t, "+15550001", "echo", false)[0]
	got := c.cmd(fmt.Sprintf("AT+CMGS=%d", len(b)))
	if want := fmt.Sprintf("AT+CMGS=%d\r\r\n> ", len(b)); got != want {
		t.Fatalf("prompt: %q, want %q", got, want)
	}
	h := "00" + strings.ToUpper(hex.EncodeToString(b))
	c.send(h + "\x1a")
	if got, want := c.until(finalRE), h+"\r\n+CMGS: 0\r\n\r\nOK\r\n"; got != want {
		t.Fatalf("echoed pdu: %q, want %q", got, want)
	}
	if got := c.cmd("ATE0"); got != "ATE0\r\r\nOK\r\n" {
		t.Fatalf("ATE0: %q", got)
	}
	if got := c.cmd("AT"); got != "\r\nOK\r\n" {
		t.Fatalf("echo off: %q", got)
	}
	if got := c.cmd("ATZ"); got != "\r\nOK\r\n" {
		t.Fatalf("ATZ: %q", got)
	}
	if got := c.cmd("AT"); got != "AT\r\r\nOK\r\n" {
		t.Fatalf("echo back on after ATZ: %q", got)
	}
}

func TestCMEE(t *testing.T) {
	for _, tt := range []struct {
		cmee string
		want string
	}{
		{"0", "\r\nERROR\r\n"},
		{"1", "\r\n+CME ERROR: 16\r\n"},
		{"2", "\r\n+CME ERROR: incorrect password\r\n"},
	} {
		t.Run(tt.cmee, func(t *testing.T) {
			n := newNet(t, NetworkOptions{})
			m := n.AddModem(ModemConfig{PIN: "1234"})
			c := newClient(t, m.Conn())
			c.cmd("AT+CMEE=" + tt.cmee)
			if got := c.cmd(`AT+CPIN="0000"`); got != tt.want {
				t.Fatalf("wrong pin: %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPIN(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{PIN: "1234"})
	c := newClient(t, m.Conn())
	c.cmd("AT+CMEE=1;+CREG=1")
	for _, step := range []struct{ line, want string }{
		{"AT+CPIN?", "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"},
		{"AT+CIMI", "\r\n+CME ERROR: 11\r\n"},
		{"AT+CMGL=4", "\r\n+CMS ERROR: 311\r\n"},
		{"AT+CREG?", "\r\n+CREG: 1,0\r\n\r\nOK\r\n"},
		{"AT+CPIN=0000", "\r\n+CME ERROR: 16\r\n"},
		{`AT+CPIN="1234"`, "\r\nOK\r\n"},
		{"", "\r\n+CREG: 1\r\n"},
		{"AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n"},
		{"AT+CMGS=5", "\r\n> "},
	} {
		var got string
		if step.line == "" {
			got = c.until(regexp.MustCompile(`\r\n\+CREG: \d\r\n`))
		} else {
			got = c.cmd(step.line)
		}
		if got != step.want {
			t.Fatalf("%q: %q, want %q", step.line, got, step.want)
		}
	}
	c.send("\x1b")
	c.until(finalRE)
	// the SIM locks again when the modem reboots
	c.cmd("AT+CFUN=1,1")
	if got := c.cmd("AT+CPIN?"); got != "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n" {
		t.Fatalf("after reboot: %q", got)
	}
	// three wrong PINs block the SIM
	for range 3 {
		c.cmd("AT+CPIN=9999")
	}
	if got := c.cmd("AT+CPIN?"); got != "\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n" {
		t.Fatalf("after 3 wrong: %q", got)
	}
	if got := c.cmd(`AT+CPIN="12345678","4321"`); got != "\r\nOK\r\n" {
		t.Fatalf("puk: %q", got)
	}
}

func TestSendTextMode(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	c := newClient(t, m.Conn())
	c.cmd("AT+CMGF=1;+CSMP=49,167,0,0")
	if got := c.cmd(`AT+CMGS="+15550002"`); got != "\r\n> " {
		t.Fatalf("prompt: %q", got)
	}
	c.send("line one\rline two\x1a")
	if got := c.until(finalRE) + c.until(finalRE); got != "\r\n> \r\n+CMGS: 0\r\n\r\nOK\r\n" {
		t.Fatalf("answer: %q", got)
	}
	c.cmd(`AT+CSCS="UCS2";+CSMP=17,167,0,8`)
	c.cmd(`AT+CMGS="002B00310035003500350030003000300033"`)
	c.send("006800690020D83DDE00\x1a") // "hi 😀" in UTF-16
	c.until(finalRE)
	out := n.Outside()
	if len(out) != 2 {
		t.Fatalf("outside: %+v", out)
	}
	if out[0].To != "+15550002" || out[0].Text != "line one\nline two" || !out[0].SRR {
		t.Errorf("text mode gsm: %+v", out[0])
	}
	if out[1].To != "+15550003" || out[1].MR != 1 || out[1].Text != "hi 😀" {
		t.Errorf("text mode ucs2: %+v", out[1])
	}
}

func TestMultipartBetweenModemsWithReports(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	a := n.AddModem(ModemConfig{Name: "a"})
	b := n.AddModem(ModemConfig{Name: "b"})
	ca := newClient(t, servePTY(t, a))
	cb := newClient(t, servePTY(t, b))
	ca.cmd("ATE0;+CMGF=0;+CNMI=2,1,0,1,0")
	cb.cmd("ATE0;+CMGF=0;+CNMI=2,1,0,2,0")

	text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 5) // 225 chars: 2 parts
	parts := submitPDUs(t, b.MSISDN(), text, true)
	if len(parts) != 2 {
		t.Fatalf("parts: %d", len(parts))
	}
	for i, p := range parts {
		if got, want := ca.sendPDU(p), fmt.Sprintf("\r\n+CMGS: %d\r\n\r\nOK\r\n", i); got != want {
			t.Fatalf("part %d: %q", i, got)
		}
	}
	reCMTI := regexp.MustCompile(`\r\n\+CMTI: "SM",(\d)\r\n`)
	cb.matches(reCMTI, 2)
	got := decodeListed(t, cb.cmd("AT+CMGL=4"))
	if len(got) != 2 {
		t.Fatalf("listed %d", len(got))
	}
	for _, p := range got {
		if p.SmsType() != tpdu.SmsDeliver || p.OA.Number() != a.MSISDN() {
			t.Fatalf("delivered: %+v", p)
		}
	}
	msg, err := sms.Decode(got)
	if err != nil || string(msg) != text {
		t.Fatalf("reassembled %q, %v", msg, err)
	}

	// ds=1: reports come to A as +CDS with the +CMGS references
	reCDS := regexp.MustCompile(`\r\n\+CDS: \d+\r\n[0-9A-F]+\r\n`)
	var mrs []int
	for _, cds := range ca.matches(reCDS, 2) {
		r := decodeListed(t, cds)
		if len(r) != 1 || r[0].SmsType() != tpdu.SmsStatusReport || r[0].ST != 0 || r[0].RA.Number() != b.MSISDN() {
			t.Fatalf("report: %+v", r)
		}
		mrs = append(mrs, int(r[0].MR))
	}
	if !(mrs[0] == 0 && mrs[1] == 1 || mrs[0] == 1 && mrs[1] == 0) {
		t.Fatalf("report mrs %v", mrs)
	}

	// ds=2: a report is stored and announced with +CDSI
	ca.cmd("AT+CNMI=2,1,0,2,0")
	ca.sendPDU(submitPDUs(t, "+15550001", "to the outside", true)[0])
	ca.matches(regexp.MustCompile(`\r\n\+CDSI: "SM",1\r\n`), 1)
	r := decodeListed(t, ca.cmd("AT+CMGR=1"))
	if len(r) != 1 || r[0].SmsType() != tpdu.SmsStatusReport || r[0].MR != 2 || r[0].RA.Number() != "+15550001" {
		t.Fatalf("stored report: %+v", r)
	}
	subs := n.Submissions()
	if len(subs) != 3 || subs[0].Parts != 2 || subs[1].Part != 2 || subs[0].ConcatRef != subs[1].ConcatRef || subs[0].To != b.MSISDN() {
		t.Fatalf("submissions: %+v", subs)
	}
	if len(n.Outside()) != 1 {
		t.Fatalf("outside: %+v", n.Outside())
	}
}

func TestCMTRouted(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	c := newClient(t, m.Conn())
	c.cmd("AT+CNMI=2,2,0,0,0")
	if err := n.InjectSMS(m.MSISDN(), "ALERTS", "your code is 1234"); err != nil {
		t.Fatal(err)
	}
	got := decodeListed(t, c.until(regexp.MustCompile(`\r\n\+CMT: ,\d+\r\n[0-9A-F]+\r\n`)))
	if len(got) != 1 || got[0].OA.Number() != "ALERTS" {
		t.Fatalf("cmt: %+v", got)
	}
	if st := m.Stored(); len(st) != 0 {
		t.Fatalf("routed message was stored: %+v", st)
	}
	// text mode +CMT
	c.cmd("AT+CMGF=1")
	n.InjectSMS(m.MSISDN(), "+15557777", "plain")
	if got := c.until(regexp.MustCompile(`\r\n\+CMT: [^\r]*\r\n[^\r]*\r\n`)); !strings.Contains(got, `+CMT: "+15557777",,"`) || !strings.Contains(got, "\r\nplain\r\n") {
		t.Fatalf("text cmt: %q", got)
	}
}

func TestListReadDelete(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	c := newClient(t, m.Conn())
	for i := range 4 {
		if err := n.InjectSMS(m.MSISDN(), "+15557777", fmt.Sprintf("msg %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.cmd("AT+CMGR=2"); !strings.HasPrefix(got, "\r\n+CMGR: 0,,") {
		t.Fatalf("cmgr unread: %q", got)
	}
	if got := c.cmd("AT+CMGL=0"); strings.Count(got, "+CMGL:") != 3 || strings.Contains(got, "+CMGL: 2,") {
		t.Fatalf("cmgl unread: %q", got)
	}
	if got := c.cmd("AT+CMGL=0"); got != "\r\nOK\r\n" {
		t.Fatalf("cmgl unread after read: %q", got)
	}
	c.cmd("AT+CMGF=1")
	got := c.cmd(`AT+CMGL="ALL"`)
	mustContain(t, got, `+CMGL: 1,"REC READ","+15557777",,"`, "\r\nmsg 0\r\n", "\r\nmsg 3\r\n")
	c.cmd("AT+CMGF=0")
	c.cmd("AT+CMGD=1")
	if got := len(m.Stored()); got != 3 {
		t.Fatalf("after CMGD=1: %d stored", got)
	}
	c.cmd(`AT+CMGW=` + fmt.Sprint(len(submitPDUs(t, "+1555", "draft", false)[0])))
	c.send("00" + hex.EncodeToString(submitPDUs(t, "+1555", "draft", false)[0]) + "\x1a")
	if got := c.until(finalRE); got != "\r\n+CMGW: 1\r\n\r\nOK\r\n" {
		t.Fatalf("cmgw: %q", got)
	}
	if got := c.cmd("AT+CMGD=?"); got != "\r\n+CMGD: (1,2,3,4),(0-4)\r\n\r\nOK\r\n" {
		t.Fatalf("cmgd=?: %q", got)
	}
	c.cmd("AT+CMGD=1,1") // all read: leaves the draft
	if st := m.Stored(); len(st) != 1 || st[0].Stat != 2 {
		t.Fatalf("after delflag 1: %+v", st)
	}
	c.cmd("AT+CMGD=0,4")
	if st := m.Stored(); len(st) != 0 {
		t.Fatalf("after delflag 4: %+v", st)
	}
}

func TestMessageReferenceWraps(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	c := newClient(t, m.Conn())
	b := submitPDUs(t, "+15550001", "x", false)[0]
	var last string
	for range 257 {
		last = c.sendPDU(b)
	}
	if last != "\r\n+CMGS: 0\r\n\r\nOK\r\n" {
		t.Fatalf("257th send: %q", last)
	}
}

func TestInjectLongAndOutOfOrder(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	c := newClient(t, m.Conn())
	c.cmd("AT+CNMI=2,1,0,0,0")
	long := strings.Repeat("Grüße aus dem Simulator 😀 ", 8) // UCS-2, 3+ parts
	if err := n.InjectSMS(m.MSISDN(), "+15557777", long); err != nil {
		t.Fatal(err)
	}
	got := decodeListed(t, c.cmd("AT+CMGL=4"))
	if len(got) < 3 {
		t.Fatalf("parts: %d", len(got))
	}
	if msg, err := sms.Decode(got); err != nil || string(msg) != long {
		t.Fatalf("reassembled %q, %v", msg, err)
	}
	c.cmd("AT+CMGD=0,4")

	// parts injected in reverse order arrive in that order
	pdus, err := sms.Encode([]byte(strings.Repeat("x", 200)), sms.AsDeliver, sms.From("+15557777"))
	if err != nil {
		t.Fatal(err)
	}
	for i := len(pdus) - 1; i >= 0; i-- {
		b, _ := pdus[i].MarshalBinary()
		if err := n.InjectPDU(m.MSISDN(), b); err != nil {
			t.Fatal(err)
		}
	}
	got = decodeListed(t, c.cmd("AT+CMGL=4"))
	if len(got) != 2 {
		t.Fatalf("parts: %d", len(got))
	}
	if _, seq, _, _ := got[0].ConcatInfo(); seq != 2 {
		t.Fatalf("first stored part is %d, want 2", seq)
	}
	if err := n.InjectPDU("+19999", nil); err != ErrUnknownNumber {
		t.Fatalf("unknown number: %v", err)
	}
	if err := n.InjectPDU(m.MSISDN(), []byte{0x01, 0x02}); err == nil {
		t.Fatal("garbage PDU accepted")
	}
}

func TestLuhnDefaults(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	seen := map[string]bool{}
	for range 20 {
		m := n.AddModem(ModemConfig{})
		imei, imsi, iccid := m.Info()
		if len(imei) != 15 || !luhnValid(imei) || len(imsi) != 15 || !luhnValid(iccid) || seen[imei] || seen[m.MSISDN()] {
			t.Fatalf("bad defaults: %s %s %s %s", imei, imsi, iccid, m.MSISDN())
		}
		seen[imei], seen[m.MSISDN()] = true, true
	}
	if !luhnValid("490154203237518") || luhnValid("490154203237519") {
		t.Fatal("luhn check is wrong")
	}
}

// TestRecipientsAnswerAndRepliesLost: NetworkOptions.Recipients answers
// the last part of a message sent outside the network, to the sending SIM;
// a SIM with Faults.RepliesLost still gets +CMGS and its status report,
// but neither the answer nor an InjectSMS from outside reaches it (an SMS
// from another simulated modem still does).
func TestRecipientsAnswerAndRepliesLost(t *testing.T) {
	n := newNet(t, NetworkOptions{Recipients: func(s Submission) (string, bool) {
		return "re: " + s.Text, s.To != "+15550009"
	}})
	a, b := n.AddModem(ModemConfig{}), n.AddModem(ModemConfig{})
	ca, cb := newClient(t, a.Conn()), newClient(t, b.Conn())
	for _, c := range []*client{ca, cb} {
		c.cmd("AT+CMGF=0;+CNMI=2,2,0,1,0")
	}
	reCMT := regexp.MustCompile(`\r\n\+CMT: ,\d+\r\n[0-9A-F]+\r\n`)
	reCDS := regexp.MustCompile(`\r\n\+CDS: \d+\r\n[0-9A-F]+\r\n`)

	ca.sendPDU(submitPDUs(t, "+15550002", "hello", true)[0])
	ca.sendPDU(submitPDUs(t, "+15550009", "quiet one", false)[0])
	got := decodeListed(t, strings.Join(ca.matches(reCMT, 1), ""))
	if len(got) != 1 || got[0].OA.Number() != "+15550002" || string(got[0].UD) != "re: hello" {
		t.Fatalf("answer: %+v", got)
	}
	ca.matches(reCDS, 1)

	b.SetFaults(Faults{RepliesLost: true})
	cb.sendPDU(submitPDUs(t, "+15550003", "anyone?", true)[0])
	cb.matches(reCDS, 1) // the report still comes
	if err := n.InjectSMS(b.MSISDN(), "+15557777", "from outside"); err != nil {
		t.Fatal(err)
	}
	if err := n.InjectSMS(b.MSISDN(), a.MSISDN(), "from a modem"); err != nil {
		t.Fatal(err)
	}
	got = decodeListed(t, strings.Join(cb.matches(reCMT, 1), ""))
	if len(got) != 1 || got[0].OA.Number() != a.MSISDN() {
		t.Fatalf("b got %+v", got)
	}
	// Nothing else is on its way: a's answer to the quiet number never
	// came, and b's stayed lost.
	b.SetFaults(Faults{})
	if err := n.InjectSMS(b.MSISDN(), "+15557777", "after the block"); err != nil {
		t.Fatal(err)
	}
	all := decodeListed(t, strings.Join(cb.matches(reCMT, 2), ""))
	if len(all) != 2 || string(all[1].UD) != "after the block" {
		t.Fatalf("b got %+v", all)
	}
	if n := len(ca.matches(reCMT, 1)); n != 1 {
		t.Fatalf("a got %d answers", n)
	}
}
