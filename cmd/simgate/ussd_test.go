package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestUSSDDuringSends runs a balance check (CLI → API → the modem's own
// goroutine → the simulator) while a stream of messages goes out of the
// same modem: every message is sent, and parts keep going out while the
// network takes its time to answer the code.
func TestUSSDDuringSends(t *testing.T) {
	g := startGateway(t, 1, 1, nil)
	t.Setenv("SIMGATE_ADDR", g.base)
	t.Setenv("SIMGATE_KEY", g.key)
	sim := g.sim.net.Modem("sim1")
	f := sim.Faults()
	f.USSDDelay = 1500 * time.Millisecond
	sim.SetFaults(f)
	sim.SetBalance("4.20 USD")
	waitFor(t, "sim1 up", 30*time.Second, func() bool {
		_, out, _ := runCLI("modems", "sim1")
		return strings.Contains(out, "up")
	})

	type result struct {
		code     int
		out, err string
		during   int // parts the network took while the code ran
	}
	res := make(chan result, 1)
	before := len(g.sim.net.Submissions())
	go func() {
		code, out, stderr := runCLI("modems", "-ussd", "sim1", "-code", "*100#")
		res <- result{code, out, stderr, len(g.sim.net.Submissions()) - before}
	}()
	const n = 20
	var ids []string
	for i := range n {
		b, _ := json.Marshal(map[string]string{"to": fmt.Sprintf("+1555123%04d", i), "body": fmt.Sprintf("during the balance check %d", i)})
		req, _ := http.NewRequest("POST", g.base+"/v1/messages", strings.NewReader(string(b)))
		req.Header.Set("Authorization", "Bearer "+g.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := testHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ ID string }
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || err != nil {
			t.Fatalf("POST /v1/messages: %d %v", resp.StatusCode, err)
		}
		ids = append(ids, m.ID)
	}
	r := <-res
	if r.code != 0 || strings.TrimSpace(r.out) != "Your balance is 4.20 USD. Valid until 31/01." {
		t.Fatalf("ussd: %d %q %s", r.code, r.out, r.err)
	}
	if r.during == 0 {
		t.Fatal("no part went out while the USSD code ran: sends waited for it")
	}
	t.Logf("%d parts went out while the network answered the code", r.during)
	for _, id := range ids {
		waitFor(t, "message "+id+" sent", 30*time.Second, func() bool {
			_, out, _ := runCLI("messages", id)
			return regexp.MustCompile(`status:\s+(sent|delivered)`).MatchString(out)
		})
	}
	// a code the network does not know is a clear error
	if code, _, stderr := runCLI("modems", "-ussd", "sim1", "-code", "*999#"); code != 1 || !strings.Contains(stderr, "422") {
		t.Errorf("unknown code: %d %s", code, stderr)
	}
}

// TestLowBalancePausesTheSIM: a modem's balance check runs on its
// schedule (at start, and at once when a reload changes it); a balance
// below the threshold pauses the SIM with the reason shown, the metric says
// so, new messages go out of the other SIM, and a top-up resumes it.
func TestLowBalancePausesTheSIM(t *testing.T) {
	check := func(low float64) *BalanceConfig {
		return &BalanceConfig{Code: "*100#", Every: Duration(time.Hour), Amount: `balance is ([0-9.]+)`, Low: low}
	}
	g := startGateway(t, 2, 2, func(c *Config) { c.Modems[0].Balance = check(1) })
	t.Setenv("SIMGATE_ADDR", g.base)
	t.Setenv("SIMGATE_KEY", g.key)
	sim := g.sim.net.Modem("sim1")
	waitFor(t, "the first balance check", 30*time.Second, func() bool {
		_, out, _ := runCLI("modems", "sim1")
		return regexp.MustCompile(`(?m)^sim1\s.*\s12\.34\s+\d+\s+no\s*$`).MatchString(out)
	})

	sim.SetBalance("0.50 USD")
	next := g.cfg
	next.Modems = append([]ModemConfig(nil), g.cfg.Modems...)
	next.Modems[0].Balance = check(1.5) // a changed check runs at once
	if applied, _ := g.sighup(t, next); !strings.Contains(strings.Join(applied, ";"), "balance checks") {
		t.Fatalf("reload applied %v", applied)
	}
	waitFor(t, "sim1 paused for its balance", 30*time.Second, func() bool {
		_, out, _ := runCLI("modems", "sim1")
		return strings.Contains(out, "0.5 low") && strings.Contains(out, "yes: low balance: 0.5 below 1.5")
	})
	metrics := string(getRaw(t, g.base+"/metrics", ""))
	for _, want := range []string{`simgate_modem_balance{modem="sim1"} 0.5`, `simgate_modem_balance_low{modem="sim1"} 1`,
		`simgate_balance_checks_total{modem="sim1",result="ok"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// New messages go out of sim2 meanwhile.
	before := len(g.sim.net.Submissions())
	if code, _, stderr := runCLI("send", "-to", demoContact, "-body", "while sim1 has no credit"); code != 0 {
		t.Fatalf("send: %s", stderr)
	}
	waitFor(t, "the message sent", 30*time.Second, func() bool { return len(g.sim.net.Submissions()) > before })
	if s := g.sim.net.Submissions()[before]; s.Modem != "sim2" {
		t.Fatalf("sent from %s while sim1 is paused", s.Modem)
	}

	sim.SetBalance("20.00 USD")
	next.Modems = append([]ModemConfig(nil), next.Modems...)
	next.Modems[0].Balance = check(1.4)
	g.sighup(t, next)
	waitFor(t, "sim1 resumed after the top-up", 30*time.Second, func() bool {
		_, out, _ := runCLI("modems", "sim1")
		return regexp.MustCompile(`(?m)^sim1\s.*\s20\s+\d+\s+no\s*$`).MatchString(out)
	})
}

// TestHungModemQueueMoves: a modem that hangs under a stream of messages
// (default driver timeouts) is noticed by the first send that meets it
// (no prompt, no answer to AT); that send and every later one go out of
// the other SIM, and none is lost.
func TestHungModemQueueMoves(t *testing.T) {
	g := startGateway(t, 2, 2, nil)
	t.Setenv("SIMGATE_ADDR", g.base)
	t.Setenv("SIMGATE_KEY", g.key)
	waitFor(t, "both modems up", 30*time.Second, func() bool {
		_, out, _ := runCLI("modems")
		return regexp.MustCompile(`(?m)^sim1\s+\S+\s+up`).MatchString(out) && regexp.MustCompile(`(?m)^sim2\s+\S+\s+up`).MatchString(out)
	})
	sim1 := g.sim.net.Modem("sim1")
	f := sim1.Faults()
	f.HangHard = true
	sim1.SetFaults(f)
	start := time.Now()
	before := len(g.sim.net.Submissions())
	const n = 6
	var ids []string
	for i := range n {
		code, out, stderr := runCLI("send", "-to", fmt.Sprintf("+1555123%04d", 100+i), "-body", fmt.Sprintf("while sim1 hangs %d", i), "-json")
		if code != 0 {
			t.Fatalf("send: %s", stderr)
		}
		var m struct{ ID string }
		if err := json.Unmarshal([]byte(out), &m); err != nil || m.ID == "" {
			t.Fatalf("send printed %q", out)
		}
		ids = append(ids, m.ID)
	}
	waitFor(t, "sim1 called hung", 60*time.Second, func() bool {
		_, out, _ := runCLI("modems", "sim1")
		return regexp.MustCompile(`(?m)^sim1\s+\S+\s+(hung|down|starting)`).MatchString(out)
	})
	t.Logf("sim1 called hung %s after the hang", time.Since(start).Round(100*time.Millisecond))
	waitFor(t, "every message sent", 60*time.Second, func() bool { return len(g.sim.net.Submissions()) >= before+n })
	var last time.Time
	for _, s := range g.sim.net.Submissions()[before:] {
		if s.At.After(last) {
			last = s.At
		}
		if s.Modem != "sim2" {
			t.Errorf("part %d went out of %s after it hung", s.Seq, s.Modem)
		}
	}
	t.Logf("the last of the %d messages went out %s after the hang", n, last.Sub(start).Round(100*time.Millisecond))
	for _, id := range ids {
		waitFor(t, "message "+id+" sent", 30*time.Second, func() bool {
			_, out, _ := runCLI("messages", id)
			return regexp.MustCompile(`status:\s+(sent|delivered)`).MatchString(out)
		})
	}
}
