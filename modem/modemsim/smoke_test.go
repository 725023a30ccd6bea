package modemsim

import "testing"

func TestSmoke(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	c := newClient(t, m.Conn())
	for _, l := range []string{"AT", "ATE0", "AT+CGMI", "ATI", "AT+CPMS?", "AT+CMGF=0;+CNMI=2,1,0,2,0", "AT+CMGS=?", "AT+FOO", "AT+CREG?;+CSQ", "AT+CSCA?", "AT+CNUM", "AT+CLAC"} {
		t.Logf("%s -> %q", l, c.cmd(l))
	}
	if err := n.InjectSMS(m.MSISDN(), "+15559999", "hello there"); err != nil {
		t.Fatal(err)
	}
	t.Logf("%q", c.cmd("AT+CMGL=4"))
	t.Logf("%q", c.cmd("AT+CMGF=1;+CMGL=\"ALL\""))
}
