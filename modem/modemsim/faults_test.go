package modemsim

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func (m *Modem) fedBytes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fed
}

func TestHangClearedByCFUN(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	c := newClient(t, servePTY(t, m))
	c.cmd("ATE0")
	m.SetFaults(Faults{Hang: true})
	b := submitPDUs(t, "+15550001", "swallowed", false)[0]
	c.send("AT\r")
	c.send(fmt.Sprintf("AT+CMGS=%d\r", len(b)))
	c.send("00" + fmt.Sprintf("%X", b) + "\x1a")
	c.send("AT+CFUN=1,1\r")
	// nothing before the reboot's OK: the hung modem answered nothing
	if got := c.until(finalRE); got != "\r\nOK\r\n" {
		t.Fatalf("hung modem answered: %q", got)
	}
	if m.Faults().Hang {
		t.Fatal("CFUN=1,1 did not clear the hang")
	}
	if got := c.cmd("ATE0;+CGMI"); got != "\r\nhuawei\r\n\r\nOK\r\n" {
		t.Fatalf("after reset: %q", got)
	}
	if len(n.Submissions()) != 0 {
		t.Fatalf("a hung modem sent: %+v", n.Submissions())
	}
}

func TestHangHardClearedByReopen(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	link := filepath.Join(t.TempDir(), "m")
	if _, err := m.ServePTY(link); err != nil {
		t.Fatal(err)
	}
	p, err := openSerial(t, link)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, p)
	c.cmd("ATE0")
	m.SetFaults(Faults{HangHard: true})
	before := m.fedBytes()
	c.send("AT+CFUN=1,1\r")
	eventually(t, "the modem reads the reset", func() bool { return m.fedBytes() >= before+len("AT+CFUN=1,1\r") })
	if got := c.pending(); got != "" {
		t.Fatalf("hard-hung modem answered %q", got)
	}
	p.Close()
	eventually(t, "the modem sees the close", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.port != nil && !m.port.open.Load()
	})
	p2, err := openSerial(t, link)
	if err != nil {
		t.Fatal(err)
	}
	c2 := newClient(t, p2)
	if got := c2.cmd("AT"); !strings.HasSuffix(got, "\r\nOK\r\n") {
		t.Fatalf("after reopen: %q", got)
	}
	if m.Faults().HangHard {
		t.Fatal("reopen did not clear HangHard")
	}
}

func TestHangAfterPDUIsAmbiguous(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	c := newClient(t, m.Conn())
	m.SetFaults(Faults{HangAfterPDU: true})
	b := submitPDUs(t, "+15550001", "did it go?", false)[0]
	c.cmd(fmt.Sprintf("AT+CMGS=%d", len(b)))
	c.send(fmt.Sprintf("00%X\x1a", b))
	c.send("AT\r")
	c.send("AT+CFUN=1,1\r")
	if got := c.until(finalRE); got != "\r\nOK\r\n" {
		t.Fatalf("answered after the PDU: %q", got)
	}
	subs := n.Outside()
	if len(subs) != 1 || !subs[0].Ambiguous || subs[0].Text != "did it go?" || subs[0].MR != 0 {
		t.Fatalf("ambiguous submission: %+v", subs)
	}
	m.SetFaults(Faults{})
	if got := c.sendPDU(b); got != "\r\n+CMGS: 1\r\n\r\nOK\r\n" {
		t.Fatalf("next send: %q", got)
	}
}

func TestSendErrors(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	c := newClient(t, m.Conn())
	b := submitPDUs(t, "+15550001", "x", false)[0]
	m.SetFaults(Faults{CMSErrorRate: 1, CMSErrorCode: 42})
	if got := c.sendPDU(b); got != "\r\n+CMS ERROR: 42\r\n" {
		t.Fatalf("cms with CMEE=0: %q", got)
	}
	c.cmd("AT+CMEE=1")
	m.SetFaults(Faults{CMSErrorRate: 1, CMSErrorCode: 38})
	if got := c.sendPDU(b); got != "\r\n+CMS ERROR: 38\r\n" {
		t.Fatalf("cms 38: %q", got)
	}
	m.SetFaults(Faults{CMSErrorRate: 1})
	if got := c.sendPDU(b); got != "\r\n+CMS ERROR: 500\r\n" {
		t.Fatalf("default code: %q", got)
	}
	c.cmd("AT+CMEE=2")
	if got := c.sendPDU(b); got != "\r\n+CMS ERROR: unknown error\r\n" {
		t.Fatalf("verbose: %q", got)
	}
	if len(n.Submissions()) != 0 {
		t.Fatal("failed sends reached the network")
	}
}

func TestNotRegistered(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	c := newClient(t, m.Conn())
	c.cmd("AT+CMEE=1;+CREG=1;+CNMI=2,1,0,0,0")
	m.SetFaults(Faults{NotRegistered: true})
	c.matches(regexp.MustCompile(`\r\n\+CREG: 2\r\n`), 1)
	for line, want := range map[string]string{
		"AT+CREG?": "\r\n+CREG: 1,2\r\n\r\nOK\r\n",
		"AT+COPS?": "\r\n+COPS: 0\r\n\r\nOK\r\n",
	} {
		if got := c.cmd(line); !strings.HasSuffix(got, want) {
			t.Fatalf("%s: %q", line, got)
		}
	}
	if got := c.sendPDU(submitPDUs(t, "+15550001", "x", false)[0]); !strings.HasSuffix(got, "\r\n+CMS ERROR: 331\r\n") {
		t.Fatalf("send: %q", got)
	}
	if err := n.InjectSMS(m.MSISDN(), "+15557777", "held"); err != nil {
		t.Fatal(err)
	}
	if len(m.Stored()) != 0 {
		t.Fatal("unregistered modem received")
	}
	m.SetFaults(Faults{})
	c.matches(regexp.MustCompile(`\r\n\+CREG: 1\r\n`), 1)
	c.matches(regexp.MustCompile(`\r\n\+CMTI: "SM",1\r\n`), 1)
}

func TestStorageFull(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{StorageSlots: 2})
	c := newClient(t, m.Conn())
	c.cmd("AT+CMEE=1;+CNMI=2,1,0,0,0")
	m.SetFaults(Faults{StorageFull: true})
	n.InjectSMS(m.MSISDN(), "+15557777", "first")
	b := submitPDUs(t, "+15550001", "draft", false)[0]
	c.cmd(fmt.Sprintf("AT+CMGW=%d", len(b)))
	c.send(fmt.Sprintf("00%X\x1a", b))
	if got := c.until(finalRE); got != "\r\n+CMS ERROR: 322\r\n" {
		t.Fatalf("cmgw on full storage: %q", got)
	}
	if len(m.Stored()) != 0 {
		t.Fatal("stored while full")
	}
	m.SetFaults(Faults{})
	c.matches(regexp.MustCompile(`\+CMTI: "SM",1\r\n`), 1)
	// real exhaustion: two slots
	n.InjectSMS(m.MSISDN(), "+15557777", "second")
	n.InjectSMS(m.MSISDN(), "+15557777", "third")
	if got := c.cmd("AT+CPMS?"); !strings.Contains(got, `+CPMS: "SM",2,2,`) {
		t.Fatalf("cpms: %q", got)
	}
	if len(m.Stored()) != 2 {
		t.Fatalf("stored: %+v", m.Stored())
	}
	c.cmd("AT+CMGD=1")
	c.matches(regexp.MustCompile(`\+CMTI: "SM",1\r\n`), 2) // "third" takes the freed slot
	got := c.cmd("AT+CMGF=1;+CMGL=\"ALL\"")
	mustContain(t, got, "second", "third")
}

func TestURCInAnswers(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	c := newClient(t, m.Conn())
	c.cmd("AT+CNMI=2,1,0,0,0")
	n.InjectSMS(m.MSISDN(), "+15557777", "hi")
	c.until(regexp.MustCompile(`\+CMTI: "SM",1\r\n`))
	m.SetFaults(Faults{URCInAnswers: true})
	seen := map[string]bool{}
	for range 3 {
		got := c.cmd("AT+CSQ")
		re := regexp.MustCompile(`^\r\n\+CSQ: 20,99\r\n(\^RSSI: 20|\+CREG: 1|\+CMTI: "SM",1)\r\n\r\nOK\r\n$`)
		sub := re.FindStringSubmatch(got)
		if sub == nil {
			t.Fatalf("no URC inside the answer: %q", got)
		}
		seen[sub[1][:3]] = true
	}
	if len(seen) != 3 {
		t.Fatalf("URC kinds: %v", seen)
	}
	got := c.cmd("AT+CMGL=4")
	lines := strings.Split(got, "\r\n")
	if !strings.HasPrefix(lines[1], "+CMGL: 1,") || !regexp.MustCompile(`^[0-9A-F]+$`).MatchString(lines[2]) {
		t.Fatalf("URC split a +CMGL entry: %q", got)
	}
}

func TestBootNoiseAndGarbage(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	c := newClient(t, m.Conn())
	m.SetFaults(Faults{BootNoise: true, Garbage: true})
	c.cmd("AT+CFUN=1,1")
	c.matches(regexp.MustCompile(`\r\nSMS Ready\r\n`), 1)
	all := c.matches(regexp.MustCompile(`(?s).*`), 1)[0]
	mustContain(t, all, "\r\nRDY\r\n", "\r\n^BOOT:", "\r\n+CPIN: READY\r\n", "\r\nCall Ready\r\n")
	if !strings.ContainsFunc(all, func(r rune) bool { return r >= 0x80 }) {
		t.Fatalf("no garbage after reset: %q", all)
	}
}

func TestCUSD(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	c := newClient(t, m.Conn())
	if got := c.cmd(`AT+CUSD=1,"*100#",15`); got != "\r\nOK\r\n" {
		t.Fatalf("cusd: %q", got)
	}
	c.matches(regexp.MustCompile(`\r\n\+CUSD: 0,"Your balance is [0-9.]+ USD[^"]*",15\r\n`), 1)
}

func TestUnplugReplug(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	link := filepath.Join(t.TempDir(), "ttyUSB-sim")
	tty1, err := m.ServePTY(link)
	if err != nil {
		t.Fatal(err)
	}
	p, err := openSerial(t, link)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, p)
	c.cmd("ATE0;+CMGF=0")
	n.InjectSMS(m.MSISDN(), "+15557777", "kept across replug")
	m.SetFaults(Faults{Echo: true, BootNoise: true})

	if err := m.Unplug(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatalf("link still there: %v", err)
	}
	<-c.done // the client's reads fail: the port is gone
	n.InjectSMS(m.MSISDN(), "+15557777", "sent while unplugged")
	if got := len(m.Stored()); got != 1 {
		t.Fatalf("an unplugged modem received: %d stored", got)
	}

	tty2, err := m.Replug()
	if err != nil {
		t.Fatal(err)
	}
	if tty2 == tty1 {
		t.Fatalf("replug reused %s", tty1)
	}
	if got, err := os.Readlink(link); err != nil || got != tty2 {
		t.Fatalf("link -> %q, %v; want %s", got, err, tty2)
	}
	p2, err := openSerial(t, link)
	if err != nil {
		t.Fatal(err)
	}
	c2 := newClient(t, p2)
	c2.matches(regexp.MustCompile(`\r\nSMS Ready\r\n`), 1)
	if got := c2.cmd("AT"); !strings.HasSuffix(got, "AT\r\r\nOK\r\n") {
		t.Fatalf("echo after replug: %q", got)
	}
	got := decodeListed(t, c2.cmd("AT+CMGL=4"))
	if len(got) != 2 { // the kept one and the one the network held
		t.Fatalf("storage lost: %d", len(got))
	}
	imei, _, _ := m.Info()
	if got := c2.cmd("AT+CGSN"); !strings.Contains(got, imei) {
		t.Fatalf("identity: %q", got)
	}
}

func TestNoGoroutineLeaks(t *testing.T) {
	noLeaks(t)
	n := NewNetwork(NetworkOptions{})
	dir := t.TempDir()
	var ms []*Modem
	for i := range 3 {
		m := n.AddModem(ModemConfig{})
		if _, err := m.ServePTY(filepath.Join(dir, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	for range 5 {
		p, err := openSerial(t, filepath.Join(dir, "0"))
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, p)
		c.cmd("AT")
		p.Close()
		<-c.done
	}
	conn := ms[1].Conn()
	conn.Write([]byte("AT\r"))
	ms[2].Unplug()
	ms[2].Replug()
	ms[0].SetFaults(Faults{SendLatency: 1e9})
	n.InjectSMS(ms[0].MSISDN(), "+1", "x")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := os.Lstat(filepath.Join(dir, fmt.Sprint(i))); !os.IsNotExist(err) {
			t.Errorf("link %d left after Close", i)
		}
	}
}

func TestRoamingAndTextModeReports(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	c := newClient(t, m.Conn())
	m.SetFaults(Faults{Roaming: true})
	if got := c.cmd("AT+CREG?"); got != "\r\n+CREG: 0,5\r\n\r\nOK\r\n" {
		t.Fatalf("roaming creg: %q", got)
	}
	c.cmd("AT+CMGF=1;+CSMP=49,167,0,0;+CNMI=2,1,0,1,0")
	c.cmd(`AT+CMGS="+15550001"`)
	c.send("report me\x1a")
	if got := c.until(finalRE); got != "\r\n+CMGS: 0\r\n\r\nOK\r\n" {
		t.Fatalf("roaming send: %q", got)
	}
	got := c.matches(regexp.MustCompile(`\r\n\+CDS: [^\r]*\r\n`), 1)[0]
	if !regexp.MustCompile(`^\r\n\+CDS: 6,0,"\+15550001",145,"[^"]+","[^"]+",0\r\n$`).MatchString(got) {
		t.Fatalf("text +CDS: %q", got)
	}
}
