package modemsim

import (
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"AT", "ATE1", "ATE0V1Q0", "AT+CGMI;+CGSN", "AT+CMGF=1", `AT+CMGS="+15551234567"`, "AT+CMGS=17",
	"07915155000000F011000891515500100000FF05E8329BFD06\x1a", "\x1b", "A/", "AT+CPMS=\"SM\",\"ME\",\"MT\"",
	"AT+CNMI=2,1,0,2,0", "AT+CMGL=4", `AT+CMGL="ALL"`, "AT+CMGR=1", "AT+CMGD=1,4", "AT+CFUN=1,1",
	`AT+CPIN="1234"`, `AT+CUSD=1,"*100#",15`, "AT+CSCS=\"UCS2\"", "AT+CMGW=\"+1\",129,\"STO SENT\"", "ATS0=3;S0?",
	"AT+CMSS=1,\"+15550001\"", "AT+CSMP=49,167,0,8", "ATQ1", "ATV0", "ATD*99#", "AT+CSCA=\"\"", "AT^CURC=0",
	"at+cmgs=\"0031\"\rtext\r\x1a", "AT+CMGS=200", "AT+CMGW=5,9", "AT\"", "AT+\"=;", "AT&F&W", strings.Repeat("A", 3000),
}

// FuzzCommand feeds arbitrary input to a modem: it must never panic, and
// afterwards CR, ESC, CR and ATZ must bring it back to answering OK.
func FuzzCommand(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s + "\r"))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		n := NewNetwork(NetworkOptions{})
		defer n.Close()
		m := n.AddModem(ModemConfig{})
		peer := n.AddModem(ModemConfig{})
		n.InjectSMS(m.MSISDN(), peer.MSISDN(), "seed message")
		out := newPipeBuf()
		s := m.attach(out)
		s.feed(in)
		s.feed([]byte("\r\x1b\r"))
		out.discard()
		s.feed([]byte("ATZ\r"))
		out.Close()
		b := make([]byte, 1<<16)
		var got []byte
		for {
			k, err := out.Read(b)
			got = append(got, b[:k]...)
			if err != nil {
				break
			}
		}
		if !strings.HasSuffix(string(got), "\r\nOK\r\n") {
			t.Fatalf("after %q: ATZ answered %q", in, got)
		}
	})
}

// FuzzParseLine checks the command line splitter on arbitrary input.
func FuzzParseLine(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(strings.TrimPrefix(strings.ToUpper(s), "AT"))
	}
	f.Fuzz(func(t *testing.T, body string) {
		cmds, ok := parseLine(body)
		if !ok {
			return
		}
		for _, c := range cmds {
			if c.name == "" {
				t.Fatalf("%q: empty command name in %+v", body, cmds)
			}
			splitArgs(c.args)
		}
	})
}

// FuzzMergeFaults checks the control endpoint's partial fault decoder.
func FuzzMergeFaults(f *testing.F) {
	f.Add([]byte(`{"Echo":true,"SendLatency":"2s","cms_error_rate":0.5}`))
	f.Add([]byte(`{"hang":1}`))
	f.Add([]byte(`{"SendJitter":1000}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		mergeFaults(Faults{}, body)
	})
}
