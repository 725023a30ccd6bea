package modemsim

import (
	"errors"
	"strings"
	"testing"
)

// TestSIMMovesBetweenModems: a SIM taken out leaves its modem answering
// "SIM not inserted"; put into another, that modem reports the card's
// identity and the network routes the card's number there. A Huawei
// announces both with ^SIMST; another firmware reads the card at its next boot.
func TestSIMMovesBetweenModems(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	a := n.AddModem(ModemConfig{Name: "a"})
	b := n.AddModem(ModemConfig{Name: "b", Manufacturer: "SIMCOM_Ltd"})
	ca, cb := newClient(t, a.Conn()), newClient(t, b.Conn())
	for _, c := range []*client{ca, cb} {
		mustContain(t, c.cmd("AT+CMEE=1;+CREG=1;+CNMI=2,1,0,0,0"), "OK")
	}
	_, _, iccidA := a.Info()
	numberA := a.MSISDN()

	if _, err := n.MoveSIM("a", "b"); !errors.Is(err, ErrSIMPresent) {
		t.Fatalf("move into a modem holding a SIM: %v", err)
	}
	card, err := a.TakeSIM()
	if err != nil {
		t.Fatal(err)
	}
	if card.ICCID != iccidA || card.MSISDN != numberA {
		t.Fatalf("card %+v", card)
	}
	ca.until(regexpMust(`\^SIMST: 255\r\n`))
	ca.until(regexpMust(`\+CREG: 0\r\n`))
	for _, cmd := range []string{"AT+CPIN?", "AT+CIMI", "AT+CCID", "AT+CNUM"} {
		mustContain(t, ca.cmd(cmd), "+CME ERROR: 10")
	}
	mustContain(t, ca.cmd("AT+CMGL=4"), "+CMS ERROR: 310")
	if err := n.InjectSMS(numberA, "+15550009999", "where are you"); !errors.Is(err, ErrUnknownNumber) {
		t.Errorf("a number whose SIM is in no modem: %v", err)
	}
	if _, err := a.TakeSIM(); !errors.Is(err, ErrNoSIM) {
		t.Errorf("second TakeSIM: %v", err)
	}

	// b (no hot swap) gets A's card: it sees it only after a reboot.
	old, err := b.TakeSIM()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cb.pending(), "^SIMST") {
		t.Error("a SIMCom announced the SIM with ^SIMST")
	}
	if err := b.InsertSIM(card); err != nil {
		t.Fatal(err)
	}
	mustContain(t, cb.cmd("AT+CCID"), "+CME ERROR: 10")
	mustContain(t, cb.cmd("AT+CFUN=1,1"), "OK")
	eventually(t, "b rebooted with the card", func() bool { _, _, id := b.Info(); return id == iccidA })
	cb.cmd("AT") // past the reboot
	mustContain(t, cb.cmd("AT+CMEE=1;+CNMI=2,1,0,0,0;+CCID"), "+CCID: "+iccidA)
	if err := n.InjectSMS(numberA, "+15550009999", "found you"); err != nil {
		t.Fatalf("inject to the card's number: %v", err)
	}
	cb.until(regexpMust(`\+CMTI: "SM",\d+`))

	// a (hot swap) gets b's old card at once.
	if err := a.InsertSIM(old); err != nil {
		t.Fatal(err)
	}
	ca.until(regexpMust(`\^SIMST: 1\r\n`))
	mustContain(t, ca.cmd("AT+CCID"), "+CCID: "+old.ICCID)
	mustContain(t, ca.cmd("AT+CPIN?"), "+CPIN: READY")
	if a.MSISDN() != old.MSISDN {
		t.Errorf("a's number %q, want the card's %q", a.MSISDN(), old.MSISDN)
	}
	if err := a.InsertSIM(n.NewSIM()); !errors.Is(err, ErrSIMPresent) {
		t.Errorf("a second card: %v", err)
	}
}
