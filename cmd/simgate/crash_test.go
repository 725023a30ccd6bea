package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simgate/simgate/api/webhook"
	"github.com/simgate/simgate/store"
)

// The crash test (issue 3, "Done means"): the real daemon, as a subprocess,
// is SIGKILLed at random moments while it sends, at least 20 times, and
// restarted each time; the simulator, a separate long-lived process, keeps
// the record of every SMS the network accepted. At the end the record must
// show 0 lost messages, 0 parts sent twice, and every part whose fate the
// daemon could not know marked unknown; the database must open cleanly
// after every kill.

const (
	crashCycles = 24
	crashSeed   = 20261126
	// crashPerCycle bounds the messages submitted per daemon life, so the
	// queue stays short and kills land while sending.
	crashPerCycle = 30
)

// crashSegment is part k of message n: exactly one GSM-7 part of a
// concatenated message (153 characters), so the simulator's decoded part
// text identifies (message, part).
func crashSegment(n, k int) string {
	s := fmt.Sprintf("crash m%04d p%d ", n, k)
	return s + strings.Repeat("x", 153-len(s))
}

// crashBody is message n: one part for even n, two for odd n.
func crashBody(n int) (string, int) {
	if n%2 == 0 {
		return fmt.Sprintf("crash m%04d p1 single", n), 1
	}
	return crashSegment(n, 1) + crashSegment(n, 2), 2
}

func crashPartText(n, k, parts int) string {
	if parts == 1 {
		b, _ := crashBody(n)
		return b
	}
	return crashSegment(n, k)
}

// buildBinary builds cmd/simgate into dir.
func buildBinary(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "simgate")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startSim starts `simgate sim` and returns the modems' links and the
// control URL. Sends take 40-80 ms unless args set -latency and -jitter.
func startSim(t *testing.T, bin, dir string, modems int, args ...string) (links []string, control string) {
	t.Helper()
	if len(args) == 0 {
		args = []string{"-latency", "40ms", "-jitter", "40ms"}
	}
	cmd := exec.Command(bin, append([]string{"sim", "-modems", fmt.Sprint(modems), "-link-dir", filepath.Join(dir, "ports")}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	linkRE := regexp.MustCompile(`link=(\S+)`)
	ctlRE := regexp.MustCompile(`control (http://\S+)`)
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if m := linkRE.FindStringSubmatch(line); m != nil {
				links = append(links, m[1])
			}
			if m := ctlRE.FindStringSubmatch(line); m != nil {
				control = m[1]
				close(found)
			}
		}
	}()
	select {
	case <-found:
	case <-time.After(30 * time.Second):
		t.Fatal("simgate sim printed no control URL")
	}
	if len(links) != modems {
		t.Fatalf("simgate sim printed %d links, want %d", len(links), modems)
	}
	return links, control
}

type simSubmission struct {
	Modem     string
	To        string
	Text      string
	Part      int
	Parts     int
	Ambiguous bool // accepted, +CMGS never answered (HangAfterPDU)
}

func submissions(t *testing.T, control string) []simSubmission {
	t.Helper()
	var subs []simSubmission
	resp, err := testHTTP.Get(control + "/submissions")
	if err != nil {
		t.Fatalf("simulator record: %v", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&subs); err != nil {
		t.Fatalf("simulator record: %v", err)
	}
	return subs
}

func TestCrashSIGKILL(t *testing.T) {
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	links, control := startSim(t, bin, dir, 2)

	addr := freeAddr(t)
	base := "http://" + addr
	// A webhook receiver (subscribed to everything) records the events it
	// got: every event the daemon stored must reach it, kills or not.
	hook := newEventRecorder(t)
	secretPath := filepath.Join(dir, "hook.secret")
	if err := os.WriteFile(secretPath, []byte(webhook.GenerateSecret()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "simgate.yaml")
	cfg := fmt.Sprintf(`listen: %s
store:
  path: %s
log: {level: warn, format: text}
modems:
  - {name: a, port: %s}
  - {name: b, port: %s}
pacing: {min_interval: 0s, jitter: 0s, per_minute: 0, per_day: 0, new_contacts_per_day: 0}
retries: {max_attempts: 5, base: 100ms, max: 1s}
pause: {after_failures: 0, cms500_burst: 0, for: 1m}
shutdown_timeout: 5s
webhooks:
  - {url: %s, secret_file: %s}
webhook_allow: [127.0.0.0/8]
`, addr, filepath.Join(dir, "simgate.db"), links[0], links[1], hook.srv.URL+"/hook", secretPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "keys", "create", "-config", cfgPath, "-owner", "crash", "-scopes", "send,read", "-q").CombinedOutput()
	if err != nil {
		t.Fatalf("keys create: %v: %s", err, out)
	}
	key := strings.TrimSpace(string(out))

	rng := rand.New(rand.NewPCG(crashSeed, 1))
	accepted := map[int]string{} // message number -> id
	var mu sync.Mutex
	next := 0         // next message number to submit
	var pending []int // submitted without an answer: re-POSTed (same Idempotency-Key) after restart
	post := func(n int) bool {
		body, _ := crashBody(n)
		b, _ := json.Marshal(map[string]string{"to": fmt.Sprintf("+1555123%04d", n%40), "body": body})
		req, _ := http.NewRequest("POST", base+"/v1/messages", strings.NewReader(string(b)))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("crash-%d", n))
		resp, err := testHTTP.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var m struct{ ID string }
		if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&m) != nil || m.ID == "" {
			return false
		}
		mu.Lock()
		if old, ok := accepted[n]; ok && old != m.ID {
			t.Errorf("message %d accepted twice under one Idempotency-Key: %s and %s", n, old, m.ID)
		}
		accepted[n] = m.ID
		mu.Unlock()
		return true
	}

	// The daemons' logs go to a file, shown if the test fails.
	logPath := filepath.Join(dir, "daemon.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(string(b), "\n")
			t.Logf("last daemon log lines:\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "-config", cfgPath)
		cmd.Stderr = logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for httpJSON(t, "GET", base+"/readyz", "", nil, nil) != http.StatusOK {
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatal("daemon not ready after restart: did the database open?")
			}
			time.Sleep(10 * time.Millisecond)
		}
		return cmd
	}

	var midSend int
	for cycle := 0; cycle < crashCycles; cycle++ {
		cmd := start()
		// Messages whose POST died with the last daemon: same key again.
		retry := pending
		pending = nil
		for _, n := range retry {
			if !post(n) {
				t.Fatalf("re-POST of message %d after restart failed", n)
			}
		}
		before := len(submissions(t, control))
		var stop atomic.Bool
		var wg sync.WaitGroup
		var inflight []int
		var imu sync.Mutex
		limit := next + crashPerCycle
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					mu.Lock()
					n := next
					if n >= limit {
						mu.Unlock()
						return
					}
					next++
					mu.Unlock()
					if !post(n) {
						imu.Lock()
						inflight = append(inflight, n)
						imu.Unlock()
						return
					}
				}
			}()
		}
		if rng.IntN(3) > 0 {
			// Kill right after the network accepted a new PDU: the modem has
			// not answered +CMGS yet (40-80 ms), so the part is in flight.
			target := before + rng.IntN(4)
			deadline := time.Now().Add(10 * time.Second)
			for len(submissions(t, control)) <= target && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
			midSend++
		} else {
			time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		stop.Store(true)
		wg.Wait()
		pending = inflight

		// The database opens cleanly after the kill (and is not left locked).
		if out, err := exec.Command(bin, "keys", "list", "-config", cfgPath).CombinedOutput(); err != nil {
			t.Fatalf("cycle %d: store does not open after SIGKILL: %v: %s", cycle, err, out)
		}
	}

	// Last start: everything accepted gets sent (or marked unknown).
	cmd := start()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	for _, n := range pending {
		if !post(n) {
			t.Fatalf("re-POST of message %d failed", n)
		}
	}
	type partView struct {
		Seq   int    `json:"seq"`
		State string `json:"state"`
	}
	type msgView struct {
		ID     string     `json:"id"`
		Status string     `json:"status"`
		Parts  []partView `json:"parts"`
	}
	views := map[int]msgView{}
	for n, id := range accepted {
		var m msgView
		waitFor(t, "message "+id+" to leave the queue", 60*time.Second, func() bool {
			httpJSON(t, "GET", base+"/v1/messages/"+id, key, nil, &m)
			switch m.Status {
			case "sent", "delivered", "unknown", "failed":
				return true
			}
			return false
		})
		views[n] = m
	}

	count := map[string]int{}
	for _, s := range submissions(t, control) {
		count[s.Text]++
	}
	var parts, unknown, sentParts, unknownMsgs int
	for n, m := range views {
		_, nparts := crashBody(n)
		if len(m.Parts) != nparts {
			t.Errorf("message %d (%s): %d parts, want %d", n, m.ID, len(m.Parts), nparts)
			continue
		}
		msgUnknown := false
		for _, p := range m.Parts {
			parts++
			c := count[crashPartText(n, p.Seq, nparts)]
			switch {
			case c > 1:
				t.Errorf("message %d part %d (%s) was sent %d times", n, p.Seq, m.ID, c)
			case p.State == "unknown":
				unknown++
				msgUnknown = true
			case p.State == "submitted" || p.State == "delivered":
				if c == 0 {
					t.Errorf("message %d part %d (%s) is %s but the network never saw it", n, p.Seq, m.ID, p.State)
				}
				sentParts++
			case c == 1:
				t.Errorf("message %d part %d (%s) went out but is recorded %s", n, p.Seq, m.ID, p.State)
			}
		}
		// Not lost: every part went out once, or the message says its fate is unknown.
		switch {
		case msgUnknown && m.Status == "unknown":
			unknownMsgs++
		case msgUnknown:
			t.Errorf("message %d (%s) has an unknown part but is %s", n, m.ID, m.Status)
		case m.Status != "sent" && m.Status != "delivered":
			t.Errorf("message %d (%s) is %s: lost", n, m.ID, m.Status)
		}
	}
	// Every submission belongs to an accepted message.
	known := map[string]bool{}
	for n := range views {
		_, nparts := crashBody(n)
		for k := 1; k <= nparts; k++ {
			known[crashPartText(n, k, nparts)] = true
		}
	}
	for text, c := range count {
		if !known[text] {
			t.Errorf("the network saw %d submission(s) of a part no accepted message has: %.30q", c, text)
		}
	}
	if unknown == 0 {
		t.Errorf("no part ended unknown after %d kills aimed mid-send: the crash path was not exercised", midSend)
	}

	// The outbox: every event stored across the kills reaches the webhook.
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
	stored := storedEventIDs(t, filepath.Join(dir, "simgate.db"))
	cmd = start()
	for deadline := time.Now().Add(60 * time.Second); hook.missing(stored) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d stored events never reached the webhook", hook.missing(stored), len(stored))
		}
	}
	t.Logf("%d events stored, every one delivered to the webhook (%d requests)", len(stored), hook.requests())
	t.Logf("%d kills (%d aimed mid-send), %d messages accepted, %d parts: %d sent exactly once, %d unknown (%d messages unknown), none sent twice, none lost",
		crashCycles, midSend, len(views), parts, sentParts, unknown, unknownMsgs)
}

// eventRecorder is a webhook endpoint that records the event IDs it got.
type eventRecorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	ids  map[string]bool
	reqs int
}

func newEventRecorder(t *testing.T) *eventRecorder {
	r := &eventRecorder{ids: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var p struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		_ = json.NewDecoder(req.Body).Decode(&p)
		r.mu.Lock()
		r.ids[p.Data.ID] = true
		r.reqs++
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// missing counts the ids not received yet.
func (r *eventRecorder) missing(ids []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, id := range ids {
		if !r.ids[id] {
			n++
		}
	}
	return n
}

func (r *eventRecorder) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs
}

// storedEventIDs lists every event in the store at path (daemon stopped).
func storedEventIDs(t *testing.T, path string) []string {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ids []string
	after := ""
	for {
		evs, err := db.Events(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return ids
		}
		for _, e := range evs {
			ids = append(ids, e.ID)
		}
		after = evs[len(evs)-1].ID
	}
}
