package modemsim

import (
	"strings"
	"testing"
)

// TestCommands checks exact answers for a table of command lines on a
// fresh modem (echo off, CMEE 0, PDU mode).
func TestCommands(t *testing.T) {
	cfg := ModemConfig{Name: "m", MSISDN: "+15551230001", IMEI: "356938035643809", IMSI: "310260123456789",
		ICCID: "8901260123456789012", Manufacturer: "SIMCOM_Ltd", Model: "SIMCOM_SIM7600G", Firmware: "LE20B04SIM7600G22", Operator: "T-Mobile"}
	ok := "\r\nOK\r\n"
	tests := []struct {
		name  string
		lines []string // all but the last set up state
		want  string   // exact answer to the last line
	}{
		{"at", []string{"AT"}, ok},
		{"lowercase", []string{"at+cgmi"}, "\r\nSIMCOM_Ltd\r\n" + ok},
		{"cgmm", []string{"AT+CGMM"}, "\r\nSIMCOM_SIM7600G\r\n" + ok},
		{"cgmr", []string{"AT+CGMR"}, "\r\nLE20B04SIM7600G22\r\n" + ok},
		{"cgsn", []string{"AT+CGSN"}, "\r\n356938035643809\r\n" + ok},
		{"gsn", []string{"AT+GSN"}, "\r\n356938035643809\r\n" + ok},
		{"cimi", []string{"AT+CIMI"}, "\r\n310260123456789\r\n" + ok},
		{"ccid", []string{"AT+CCID"}, "\r\n+CCID: 8901260123456789012\r\n" + ok},
		{"iccid", []string{"AT+ICCID"}, "\r\n+ICCID: 8901260123456789012\r\n" + ok},
		{"ati", []string{"ATI"}, "\r\nManufacturer: SIMCOM_Ltd\r\nModel: SIMCOM_SIM7600G\r\nRevision: LE20B04SIM7600G22\r\nIMEI: 356938035643809\r\n+GCAP: +CGSM,+DS,+ES\r\n" + ok},
		{"chained", []string{"AT+CGMI;+CGSN"}, "\r\nSIMCOM_Ltd\r\n356938035643809\r\n" + ok},
		{"chained basic", []string{"ATE0V1Q0"}, ok},
		{"chain stops at error", []string{"AT+CGMI;+NOPE;+CGSN"}, "\r\nSIMCOM_Ltd\r\n\r\nERROR\r\n"},
		{"unknown", []string{"AT+FOO"}, "\r\nERROR\r\n"},
		{"unknown with cmee", []string{"AT+CMEE=1", "AT+FOO?"}, "\r\nERROR\r\n"},
		{"syntax", []string{"AT+CMGF=\"1"}, "\r\nERROR\r\n"},
		{"cpin ready", []string{"AT+CPIN?"}, "\r\n+CPIN: READY\r\n" + ok},
		{"csq", []string{"AT+CSQ"}, "\r\n+CSQ: 20,99\r\n" + ok},
		{"creg", []string{"AT+CREG?"}, "\r\n+CREG: 0,1\r\n" + ok},
		{"creg 2", []string{"AT+CREG=2", "AT+CREG?"}, "\r\n+CREG: 2,1,\"1A2B\",\"00C3F1\"\r\n" + ok},
		{"cgreg", []string{"AT+CGREG?"}, "\r\n+CGREG: 0,1\r\n" + ok},
		{"creg bad", []string{"AT+CMEE=1", "AT+CREG=7"}, "\r\n+CME ERROR: 50\r\n"},
		{"cops", []string{"AT+COPS?"}, "\r\n+COPS: 0,0,\"T-Mobile\",2\r\n" + ok},
		{"cmee read", []string{"AT+CMEE=2", "AT+CMEE?"}, "\r\n+CMEE: 2\r\n" + ok},
		{"cmgf", []string{"AT+CMGF=1", "AT+CMGF?"}, "\r\n+CMGF: 1\r\n" + ok},
		{"cmgf test", []string{"AT+CMGF=?"}, "\r\n+CMGF: (0-1)\r\n" + ok},
		{"cscs", []string{"AT+CSCS=\"UCS2\"", "AT+CSCS?"}, "\r\n+CSCS: \"UCS2\"\r\n" + ok},
		{"csca", []string{"AT+CSCA?"}, "\r\n+CSCA: \"+15550000000\",145\r\n" + ok},
		{"csca set", []string{"AT+CSCA=\"+4477001\",145", "AT+CSCA?"}, "\r\n+CSCA: \"+4477001\",145\r\n" + ok},
		{"csca ucs2", []string{"AT+CSCS=\"UCS2\"", "AT+CSCA?"}, "\r\n+CSCA: \"002B00310035003500350030003000300030003000300030\",145\r\n" + ok},
		{"cpms read", []string{"AT+CPMS?"}, "\r\n+CPMS: \"SM\",0,30,\"SM\",0,30,\"SM\",0,30\r\n" + ok},
		{"cpms set", []string{"AT+CPMS=\"ME\",\"MT\""}, "\r\n+CPMS: 0,100,0,130,0,30\r\n" + ok},
		{"cpms bad", []string{"AT+CMEE=1", "AT+CPMS=\"XX\""}, "\r\n+CMS ERROR: 302\r\n"},
		{"cpms test", []string{"AT+CPMS=?"}, "\r\n+CPMS: (\"SM\",\"ME\",\"MT\"),(\"SM\",\"ME\",\"MT\"),(\"SM\",\"ME\",\"MT\")\r\n" + ok},
		{"cnum", []string{"AT+CNUM"}, "\r\n+CNUM: \"\",\"+15551230001\",145\r\n" + ok},
		{"csmp", []string{"AT+CSMP=49,167,0,8", "AT+CSMP?"}, "\r\n+CSMP: 49,167,0,8\r\n" + ok},
		{"cnmi", []string{"AT+CNMI=2,1,0,2,0", "AT+CNMI?"}, "\r\n+CNMI: 2,1,0,2,0\r\n" + ok},
		{"cnmi bad", []string{"AT+CMEE=1", "AT+CNMI=2,9"}, "\r\n+CMS ERROR: 303\r\n"},
		{"csms", []string{"AT+CSMS=0"}, "\r\n+CSMS: 1,1,1\r\n" + ok},
		{"cfun", []string{"AT+CFUN?"}, "\r\n+CFUN: 1\r\n" + ok},
		{"cfun 4 deregisters", []string{"AT+CFUN=4", "AT+CREG?"}, "\r\n+CREG: 0,0\r\n" + ok},
		{"cmgr empty slot", []string{"AT+CMGR=3"}, ok},
		{"cmgr bad index", []string{"AT+CMEE=1", "AT+CMGR=31"}, "\r\n+CMS ERROR: 321\r\n"},
		{"cmgl empty", []string{"AT+CMGL=4"}, ok},
		{"cmgl text in pdu mode", []string{"AT+CMEE=1", "AT+CMGL=\"ALL\""}, "\r\n+CMS ERROR: 304\r\n"},
		{"cmgd test", []string{"AT+CMGD=?"}, "\r\n+CMGD: (),(0-4)\r\n" + ok},
		{"cmgd bad flag", []string{"AT+CMEE=1", "AT+CMGD=1,7"}, "\r\n+CMS ERROR: 302\r\n"},
		{"cmgs length", []string{"AT+CMEE=1", "AT+CMGS=0"}, "\r\n+CMS ERROR: 304\r\n"},
		{"cmgs no args", []string{"AT+CMGS"}, "\r\nERROR\r\n"},
		{"cusd cancel", []string{"AT+CUSD=2"}, ok},
		{"atz restores", []string{"AT+CMGF=1", "ATZ", "AT+CMGF?"}, "\r\n+CMGF: 0\r\n" + ok},
		{"quiet", []string{"ATQ1", "AT"}, ""},
		{"numeric", []string{"ATV0", "AT+CGMI"}, "SIMCOM_Ltd\r\n0\r"},
		{"numeric error", []string{"ATV0", "AT+FOO"}, "4\r"},
		{"lf terminated", []string{"AT+CSQ\n"}, "\r\n+CSQ: 20,99\r\n" + ok},
		{"garbage before AT", []string{"\xff\x00zzAT+CGMI"}, "\r\nSIMCOM_Ltd\r\n" + ok},
		{"repeat A/", []string{"AT+CGMI", "A/"}, "\r\nSIMCOM_Ltd\r\n" + ok},
		{"ats", []string{"ATS0=0", "ATS0?"}, "\r\n000\r\n" + ok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNet(t, NetworkOptions{})
			m := n.AddModem(cfg)
			c := newClient(t, m.Conn())
			for i, l := range tt.lines {
				if i < len(tt.lines)-1 {
					switch l {
					case "ATQ1":
						c.send(l + "\r")
						continue
					case "ATV0":
						c.send(l + "\r")
						c.until(reNumeric)
						continue
					}
					if got := c.cmd(l); strings.Contains(got, "ERROR") {
						t.Fatalf("setup %q: %q", l, got)
					}
					continue
				}
				if tt.want == "" {
					c.send(l + "\r")
					c.send("ATQ0\r") // the next answer proves the quiet one was empty
					if got := c.until(finalRE); got != ok {
						t.Fatalf("quiet: got %q", got)
					}
					return
				}
				if strings.HasSuffix(tt.want, "\r") && !strings.HasSuffix(tt.want, "\n") {
					c.send(l + "\r")
					got := c.until(reNumeric)
					if got != tt.want {
						t.Fatalf("%q: got %q, want %q", l, got, tt.want)
					}
					return
				}
				got := ""
				if strings.HasSuffix(l, "\n") {
					c.send(l)
					got = c.until(finalRE)
				} else {
					got = c.cmd(l)
				}
				if got != tt.want {
					t.Fatalf("%q: got %q, want %q", l, got, tt.want)
				}
			}
		})
	}
}
