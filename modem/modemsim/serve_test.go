package modemsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServe(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ServeOptions{Modems: 2, LinkDir: dir, Echo: true}, &out) }()
	reURL := regexp.MustCompile(`control (http://127\.0\.0\.1:\d+)\n`)
	eventually(t, "serve prints the control URL", func() bool { return reURL.MatchString(out.String()) })
	base := reURL.FindStringSubmatch(out.String())[1]
	printed := out.String()
	mustContain(t, printed, "modem1 link="+filepath.Join(dir, "modem1")+" tty=/dev/pts/", "modem2 link=", "msisdn=+1555")

	call := func(method, path, body string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return b
	}
	call("POST", "/inject", `{"to":"modem1","from":"+15557777","text":"via control"}`, 200)
	call("POST", "/inject", `{"to":"+19999","text":"x"}`, 404)
	call("POST", "/inject", `{"to":`, 400)
	var modems []ModemInfo
	json.Unmarshal(call("GET", "/modems", "", 200), &modems)
	if len(modems) != 2 || len(modems[0].Stored) != 1 || !modems[0].Plugged || !modems[0].Faults.Echo {
		t.Fatalf("modems: %+v", modems)
	}
	var f Faults
	json.Unmarshal(call("POST", "/modems/modem2/faults", `{"cms_error_rate":1,"CMSErrorCode":38,"SendLatency":"1ms"}`, 200), &f)
	if f.CMSErrorRate != 1 || f.CMSErrorCode != 38 || !f.Echo || f.SendLatency != 1e6 {
		t.Fatalf("faults: %+v", f)
	}
	json.Unmarshal(call("POST", "/modems/modem2/faults", `{"replies_lost":true,"ReportStatus":65}`, 200), &f)
	if !f.RepliesLost || f.ReportStatus != 0x41 || f.CMSErrorCode != 38 {
		t.Fatalf("block faults: %+v", f)
	}
	call("POST", "/modems/modem2/faults", `{"bogus":true}`, 400)
	call("POST", "/modems/nope/faults", `{}`, 404)

	// send through the first modem's port, read it back from /outside
	p, err := openSerial(t, filepath.Join(dir, "modem1"))
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, p)
	c.cmd("ATE0")
	if got := c.sendPDU(submitPDUs(t, "+15550001", "from serve", false)[0]); !strings.Contains(got, "+CMGS: 0") {
		t.Fatalf("send: %q", got)
	}
	var subs []Submission
	json.Unmarshal(call("GET", "/outside", "", 200), &subs)
	if len(subs) != 1 || subs[0].Text != "from serve" || subs[0].Modem != "modem1" {
		t.Fatalf("outside: %+v", subs)
	}
	json.Unmarshal(call("GET", "/submissions", "", 200), &subs)
	if len(subs) != 1 {
		t.Fatalf("submissions: %+v", subs)
	}

	// SIM cards: out of modem2, modem1's into modem2, a new one into modem1.
	var card SIMCard
	json.Unmarshal(call("POST", "/modems/modem2/sim/remove", "", 200), &card)
	call("POST", "/modems/modem2/sim/remove", "", 409)
	call("POST", "/sims/move", `{"from":"modem1","to":"modem1"}`, 409)
	var moved SIMCard
	json.Unmarshal(call("POST", "/sims/move", `{"from":"modem1","to":"modem2"}`, 200), &moved)
	json.Unmarshal(call("GET", "/modems", "", 200), &modems)
	if modems[1].ICCID != moved.ICCID || modems[0].ICCID != "" || moved.ICCID == card.ICCID {
		t.Fatalf("after the move of %+v: %+v", moved, modems)
	}
	call("POST", "/modems/modem1/sim/insert", `{"iccid":"nope"}`, 404)
	var fresh SIMCard
	json.Unmarshal(call("POST", "/modems/modem1/sim/insert", `{}`, 200), &fresh)
	if fresh.ICCID == "" || fresh.ICCID == card.ICCID || fresh.ICCID == moved.ICCID {
		t.Fatalf("new card %+v", fresh)
	}
	call("POST", "/modems/modem1/sim/insert", `{"iccid":"`+card.ICCID+`"}`, 409)

	call("POST", "/modems/modem2/unplug", "", 200)
	call("POST", "/modems/modem2/unplug", "", 409)
	var rep map[string]string
	json.Unmarshal(call("POST", "/modems/modem2/replug", "", 200), &rep)
	if !strings.HasPrefix(rep["tty"], "/dev/pts/") {
		t.Fatalf("replug: %v", rep)
	}
	p.Close()
	<-c.done
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "modem1")); !os.IsNotExist(err) {
		t.Fatal("link left after Serve returned")
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestServeCommands(t *testing.T) {
	noLeaks(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, w := io.Pipe()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ServeOptions{LinkDir: t.TempDir(), Commands: in}, &out) }()
	io.WriteString(w, "inject modem1 +15557777 hello from stdin\n")
	io.WriteString(w, `faults modem1 {"NotRegistered":true}`+"\n")
	io.WriteString(w, "list\nbogus\n")
	eventually(t, "command answers", func() bool { return strings.Contains(out.String(), "commands:") })
	mustContain(t, out.String(), "injected\n", "NotRegistered:true", "modem1 msisdn=+1555", "stored=1")
	w.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestServeWithoutControl(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ServeOptions{LinkDir: t.TempDir(), Control: "none"}, &out) }()
	eventually(t, "modem listed", func() bool { return strings.Contains(out.String(), "modem1 link=") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "control http") {
		t.Fatalf("control endpoint served: %q", out.String())
	}
}

func TestServeRefusesNonLoopback(t *testing.T) {
	err := Serve(context.Background(), ServeOptions{Control: "0.0.0.0:0", LinkDir: t.TempDir()}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not loopback") {
		t.Fatalf("err = %v", err)
	}
}
