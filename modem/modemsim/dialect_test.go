package modemsim

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestSMSDialects pins the wire form of the +CPMS, +CMGL, +CMGS and prompt
// quirks (Faults), so the driver's tests prove what they claim.
func TestSMSDialects(t *testing.T) {
	t.Run("cpms two memories", func(t *testing.T) {
		m := newNet(t, NetworkOptions{}).AddModem(ModemConfig{SRMemory: true})
		m.SetFaults(Faults{CPMSTwoMemories: true})
		c := newClient(t, m.Conn())
		c.cmd("ATE0")
		mustContain(t, c.cmd("AT+CPMS=?"), `+CPMS: (("SM","BM","SR"),("SM"))`)
		mustContain(t, c.cmd(`AT+CPMS="SM","SM","SM"`), "+CMS ERROR: 302")
		mustContain(t, c.cmd(`AT+CPMS="SM","SM"`), "+CPMS: 0,30,0,30\r\n")
		mustContain(t, c.cmd("AT+CPMS?"), `+CPMS: "SM",0,30,"SM",0,30`+"\r\n")
	})
	t.Run("cpms unquoted", func(t *testing.T) {
		m := newNet(t, NetworkOptions{}).AddModem(ModemConfig{})
		m.SetFaults(Faults{CPMSUnquoted: true})
		c := newClient(t, m.Conn())
		c.cmd("ATE0")
		mustContain(t, c.cmd("AT+CPMS=?"), "+CPMS: (SM,ME,MT),(SM,ME,MT),(SM,ME,MT),(SM,ME)\r\n")
		mustContain(t, c.cmd("AT+CPMS?"), "+CPMS: SM,0,30,SM,0,30,SM,0,30\r\n")
	})
	t.Run("cmgl odd framing", func(t *testing.T) {
		n := newNet(t, NetworkOptions{})
		m := n.AddModem(ModemConfig{})
		m.SetFaults(Faults{CMGLOddFraming: true})
		c := newClient(t, m.Conn())
		c.cmd("ATE0;+CMGF=0")
		for i := range 3 {
			if err := n.InjectSMS(m.MSISDN(), "+15550009999", fmt.Sprint("odd ", i)); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "stored", func() bool { return len(m.Stored()) == 3 })
		got := c.cmd("AT+CMGL=4")
		for _, re := range []string{
			`^\r\n\r\n\^RSSI: \d+\r\n\r\n\+CMGL: 1,0,,\d+,[0-9A-F]+\r\n`,
			`\r\n\r\n\+CMGL: 2, 0, "", \d+\r\n[0-9A-F]+\r\n`,
			`\r\n\r\n\+CMGL: 3,0,,\r\n[0-9A-F]+\r\nOK\r\n$`,
		} {
			if !regexp.MustCompile(re).MatchString(got) {
				t.Errorf("%q does not match %s", got, re)
			}
		}
	})
	t.Run("cmgs without and with a late final", func(t *testing.T) {
		n := newNet(t, NetworkOptions{})
		m := n.AddModem(ModemConfig{})
		m.SetFaults(Faults{CMGSNoFinal: true, CMGSFinalLater: true})
		c := newClient(t, m.Conn())
		c.cmd("ATE0;+CMGF=0")
		b := submitPDUs(t, "+15550001", "no final", false)[0]
		c.send(fmt.Sprintf("AT+CMGS=%d\r", len(b)))
		c.until(regexp.MustCompile(`> $`))
		c.send(fmt.Sprintf("00%X\x1a", b))
		c.until(regexp.MustCompile(`\r\n\+CMGS: 0\r\n`))
		if got := c.cmd("AT"); !regexp.MustCompile(`^\r\n\^RSSI: \d+\r\n\r\nOK\r\n$`).MatchString(got) {
			t.Fatalf("the late OK: %q", got)
		}
		if got := c.until(finalRE); got != "\r\nOK\r\n" {
			t.Fatalf("AT's own answer: %q", got)
		}
		if len(n.Submissions()) != 1 {
			t.Fatalf("%d submissions", len(n.Submissions()))
		}
	})
	for _, tt := range []struct {
		name   string
		faults Faults
		prompt string
	}{
		{"prompt bare", Faults{PromptBare: true}, ">"},
		{"prompt crlf", Faults{PromptCRLF: true}, "\r\n>\r\n"},
		{"prompt split", Faults{PromptSplit: true}, "\r\n> "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newNet(t, NetworkOptions{}).AddModem(ModemConfig{})
			m.SetFaults(tt.faults)
			c := newClient(t, m.Conn())
			c.cmd("ATE0;+CMGF=0")
			b := submitPDUs(t, "+15550001", "prompt", false)[0]
			c.send(fmt.Sprintf("AT+CMGS=%d\r", len(b)))
			eventually(t, "the prompt", func() bool { return strings.HasSuffix(c.pending(), tt.prompt) })
			if got := c.pending(); got != tt.prompt {
				t.Fatalf("prompt %q, want %q", got, tt.prompt)
			}
			c.send("\x1b")
			c.until(finalRE)
		})
	}
}

func TestMergeDialectFaults(t *testing.T) {
	f, err := mergeFaults(Faults{}, []byte(`{"cpms_two_memories":true,"CPMSUnquoted":true,"cmgl_odd_framing":true,
		"cmgs_no_final":true,"cmgs_final_later":true,"prompt_bare":true,"prompt_crlf":true,"prompt_split":true,
		"cpin_no_final":true,"command_not_support":true,"busy_after_boot":"2s","charset_ucs2":true,
		"ussd_packed":true,"ussd_ucs2":true,"ussd_multiline":true,"ussd_delay":"1s","ussd_silent":true}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Faults{CPMSTwoMemories: true, CPMSUnquoted: true, CMGLOddFraming: true, CMGSNoFinal: true,
		CMGSFinalLater: true, PromptBare: true, PromptCRLF: true, PromptSplit: true, CPINNoFinal: true,
		CommandNotSupport: true, BusyAfterBoot: 2e9, CharsetUCS2: true, USSDPacked: true, USSDUCS2: true,
		USSDMultiline: true, USSDDelay: 1e9, USSDSilent: true}
	if f != want {
		t.Fatalf("merged %+v\nwant %+v", f, want)
	}
}
