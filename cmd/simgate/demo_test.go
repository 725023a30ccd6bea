package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
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

// testHTTP bounds every request a test makes: a hung daemon fails the test
// instead of hanging it.
var testHTTP = &http.Client{Timeout: 15 * time.Second}

// waitFor polls cond until it is true or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpJSON(t *testing.T, method, url, key string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := testHTTP.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(data, out)
	}
	return resp.StatusCode
}

// TestDemoSmoke runs `simgate demo` in process: it becomes ready, the
// printed key sends a message, the message is sent by a simulated modem,
// a reply injected through the printed control URL arrives as inbound, and
// Ctrl-C (context cancel) stops it cleanly.
func TestDemoSmoke(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "-modems", "2", "-listen", "127.0.0.1:0", "-latency", "20ms"}, &stdout, &stderr)
	}()
	keyRE := regexp.MustCompile(`export SIMGATE_KEY=(\S+)`)
	addrRE := regexp.MustCompile(`export SIMGATE_ADDR=(\S+)`)
	ctlRE := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/sms`)
	waitFor(t, "the demo banner", 30*time.Second, func() bool {
		select {
		case code := <-done:
			t.Fatalf("demo exited with %d: %s", code, stderr.String())
		default:
		}
		return ctlRE.MatchString(stdout.String())
	})
	out := stdout.String()
	key := keyRE.FindStringSubmatch(out)[1]
	addr := addrRE.FindStringSubmatch(out)[1]
	ctl := ctlRE.FindStringSubmatch(out)[1]
	for _, role := range []string{"organiser", "texter"} {
		if !regexp.MustCompile(`(?m)^  ` + role + `\s+login ` + role + `\s+password \S{20,}$`).MatchString(out) {
			t.Errorf("the banner has no %s login:\n%s", role, out)
		}
	}
	if code := httpJSON(t, "GET", addr+"/app/login", "", nil, nil); code != http.StatusOK {
		t.Errorf("GET /app/login: %d", code)
	}

	waitFor(t, "/readyz 200", 30*time.Second, func() bool {
		return httpJSON(t, "GET", addr+"/readyz", "", nil, nil) == http.StatusOK
	})
	var msg struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Modem  string `json:"modem"`
	}
	if code := httpJSON(t, "POST", addr+"/v1/messages", key, map[string]string{"to": demoContact, "body": "smoke test"}, &msg); code != http.StatusAccepted {
		t.Fatalf("POST /v1/messages: %d", code)
	}
	waitFor(t, "the message to be sent", 30*time.Second, func() bool {
		httpJSON(t, "GET", addr+"/v1/messages/"+msg.ID, key, nil, &msg)
		return msg.Status == "sent" || msg.Status == "delivered"
	})

	// Each simulated SIM's balance is read with *100# and shown on the modem.
	waitFor(t, "sim1's balance", 30*time.Second, func() bool {
		var m struct {
			Balance struct {
				Amount float64 `json:"amount"`
				Known  bool    `json:"known"`
			} `json:"balance"`
		}
		httpJSON(t, "GET", addr+"/v1/modems/sim1", key, nil, &m)
		return m.Balance.Known && m.Balance.Amount == 12.34
	})

	// The contact replies through the simulator; the reply reaches the
	// modem that texted them and is listed as inbound.
	if code := httpJSON(t, "POST", ctl+"/sms", "", map[string]string{"from": demoContact, "text": "smoke reply"}, nil); code != http.StatusOK {
		t.Fatalf("POST %s/sms: %d", ctl, code)
	}
	waitFor(t, "the reply to arrive", 30*time.Second, func() bool {
		var page map[string]json.RawMessage
		httpJSON(t, "GET", addr+"/v1/messages?direction=in", key, nil, &page)
		for _, v := range page {
			if strings.Contains(string(v), "smoke reply") && strings.Contains(string(v), fmt.Sprintf("%q", msg.Modem)) {
				return true
			}
		}
		return false
	})

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("demo exited with %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop after cancel")
	}
	dir := regexp.MustCompile(`Temporary store: (\S+)`).FindStringSubmatch(out)[1]
	if !strings.Contains(stdout.String(), "every message had been sent. Deleted "+dir) {
		t.Errorf("the stop does not say what became of the store:\n%s", stdout.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", dir, err)
	}
}

// TestDemoFirstRun: the rough edges a first run hit. With 127.0.0.1:8080
// taken, the demo says it listens elsewhere (banner and log); a webhook to
// a receiver on this machine is accepted and delivered; and Ctrl-C says how
// many messages were not sent yet, and with -keep where they are kept.
func TestDemoFirstRun(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.1:8080"); err == nil {
		defer ln.Close() // taken for the test (or already taken by something else)
	}
	hooks := make(chan string, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case hooks <- string(b):
		default:
		}
	}))
	defer recv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "-modems", "1", "-latency", "20ms", "-keep"}, &stdout, &stderr)
	}()
	addrRE := regexp.MustCompile(`export SIMGATE_ADDR=(\S+)`)
	waitFor(t, "the demo banner", 30*time.Second, func() bool {
		select {
		case code := <-done:
			t.Fatalf("demo exited with %d: %s", code, stderr.String())
		default:
		}
		return addrRE.MatchString(stdout.String())
	})
	out := stdout.String()
	key := regexp.MustCompile(`export SIMGATE_KEY=(\S+)`).FindStringSubmatch(out)[1]
	addr := addrRE.FindStringSubmatch(out)[1]
	dir := regexp.MustCompile(`Temporary store: (\S+)`).FindStringSubmatch(out)[1]
	t.Cleanup(func() { os.RemoveAll(dir) })
	if !strings.Contains(out, "127.0.0.1:8080 is in use by another program, so the demo listens on "+strings.TrimPrefix(addr, "http://")) {
		t.Errorf("the banner does not say the demo moved off 8080:\n%s", out)
	}
	if !strings.Contains(stderr.String(), "8080 is in use") {
		t.Errorf("the log does not say the demo moved off 8080:\n%s", stderr.String())
	}

	waitFor(t, "/readyz 200", 30*time.Second, func() bool {
		return httpJSON(t, "GET", addr+"/readyz", "", nil, nil) == http.StatusOK
	})
	if code := httpJSON(t, "POST", addr+"/v1/webhooks", key, map[string]any{"url": recv.URL + "/hook", "events": []string{"message.sent"}}, nil); code != http.StatusCreated {
		t.Fatalf("POST /v1/webhooks to a loopback receiver: %d", code)
	}
	if code := httpJSON(t, "POST", addr+"/v1/messages", key, map[string]string{"to": demoContact, "body": "hook me"}, nil); code != http.StatusAccepted {
		t.Fatalf("POST /v1/messages: %d", code)
	}
	select {
	case b := <-hooks:
		if !strings.Contains(b, "message.sent") {
			t.Errorf("delivery: %s", b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook delivery to the loopback receiver")
	}

	// A message that cannot leave (its only modem paused) is still queued at Ctrl-C.
	if code := httpJSON(t, "POST", addr+"/v1/modems/sim1/pause", key, map[string]string{"reason": "test"}, nil); code != http.StatusOK && code != http.StatusNoContent {
		t.Fatalf("pause: %d", code)
	}
	if code := httpJSON(t, "POST", addr+"/v1/messages", key, map[string]string{"to": "+15551230000", "body": "left behind"}, nil); code != http.StatusAccepted {
		t.Fatalf("POST /v1/messages: %d", code)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("demo exited with %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop after cancel")
	}
	if want := "Kept (-keep): " + filepath.Join(dir, "simgate.db") + ", with 1 message not sent yet"; !strings.Contains(stdout.String(), want) {
		t.Errorf("the stop does not say what was kept (want %q):\n%s", want, stdout.String())
	}
	if n, err := countUnsent(filepath.Join(dir, "simgate.db")); err != nil || n != 1 {
		t.Errorf("kept store: %d unsent, %v", n, err)
	}
}
