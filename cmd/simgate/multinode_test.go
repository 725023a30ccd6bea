package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store/postgres"
	"github.com/simgate/simgate/store/postgres/pgtest"
)

// The multi-node test (issue 10, "How it is tested"): three real `simgate
// serve` processes are nodes of one PostgreSQL queue, each with four modems
// of one `simgate sim` process. The simulator is the network: it records
// every SMS it accepted, whichever node's modem sent it, so sends are
// counted at the recipient side, each part carrying a unique token, not
// taken from the store's word. 3,000 messages are posted round-robin to the
// three APIs; one node is SIGKILLed mid-run, while a part of its is on the
// wire; it is restarted and must take work again. Then a node is frozen
// (SIGSTOP) past its lease until the others have taken its queued work, and
// resumed (SIGCONT): it must send none of what was taken from it, then take
// later work again. Over all: 0 lost, 0 sent twice, and a part is unknown
// only where it was on the wire on the killed or frozen node.

const (
	mnNodes     = 3
	mnModems    = 4 // per node
	mnLease     = 5 * time.Second
	mnBatch1    = 3000
	mnBatch2    = 150
	mnBatch3    = 600
	mnBatch4    = 150
	mnClients   = 8
	mnContacts  = 500 // batch 1's recipients: each gets several messages (sticky SIMs matter)
	mnContacts3 = 30  // batch 3's: many messages wait for each contact's SIM
)

// mnToken finds (message, part) in a part's text.
var mnToken = regexp.MustCompile(`^mn m(\d{5}) p(\d)`)

// mnSegment is part k of message n of a two-part message: one GSM-7
// concatenated part (153 characters).
func mnSegment(n, k int) string {
	s := fmt.Sprintf("mn m%05d p%d ", n, k)
	return s + strings.Repeat("y", 153-len(s))
}

// mnBody is message n: two parts for every fifth, else one.
func mnBody(n int) (body string, parts int) {
	if n%5 == 4 {
		return mnSegment(n, 1) + mnSegment(n, 2), 2
	}
	return fmt.Sprintf("mn m%05d p1 single", n), 1
}

// mnNode is one `simgate serve` process.
type mnNode struct {
	name    string
	cfgPath string
	base    string
	modems  []string        // this node's modem names
	sims    map[string]bool // its simulator modems' names
	env     []string
	logPath string
	cmd     *exec.Cmd
	stopped bool // SIGSTOPped
}

func (n *mnNode) start(t *testing.T, bin string) {
	t.Helper()
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(bin, "serve", "-config", n.cfgPath)
	cmd.Env = n.env
	cmd.Stderr = logf
	cmd.Stdout = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.cmd = cmd
	deadline := time.Now().Add(60 * time.Second)
	for httpJSON(t, "GET", n.base+"/readyz", "", nil, nil) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("node %s not ready", n.name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *mnNode) kill(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = n.cmd.Wait()
	n.cmd = nil
}

func (n *mnNode) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	n.stopped = sig == syscall.SIGSTOP
}

// stop ends the node in order (SIGINT), or kills it after a while.
func (n *mnNode) stop() {
	if n.cmd == nil {
		return
	}
	if n.stopped {
		_ = n.cmd.Process.Signal(syscall.SIGCONT)
	}
	_ = n.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
	n.cmd = nil
}

// mnPoster posts messages round-robin to nodes; a node that does not
// answer is skipped and the message posted to the next with the same
// Idempotency-Key (as a load balancer in front of the nodes would).
type mnPoster struct {
	nodes  []*mnNode
	key    string
	client *http.Client

	mu       sync.Mutex
	accepted map[int]string // message number -> id
	contact  map[int]string // message number -> recipient
}

func (p *mnPoster) post(n int, to string) error {
	body, _ := mnBody(n)
	// No status reports: the test is about sends (and halves the writes).
	b, _ := json.Marshal(map[string]any{"to": to, "body": body, "status_report": false})
	var last error
	for try := 0; try < 60; try++ {
		node := p.nodes[(n+try)%len(p.nodes)]
		req, _ := http.NewRequest("POST", node.base+"/v1/messages", strings.NewReader(string(b)))
		req.Header.Set("Authorization", "Bearer "+p.key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("mn-%d", n))
		resp, err := p.client.Do(req)
		if err != nil {
			last = err
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var m struct{ ID string }
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || err != nil || m.ID == "" {
			last = fmt.Errorf("node %s: %d", node.name, resp.StatusCode)
			time.Sleep(20 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if old, ok := p.accepted[n]; ok && old != m.ID {
			return fmt.Errorf("message %d accepted twice under one Idempotency-Key: %s and %s", n, old, m.ID)
		}
		p.accepted[n], p.contact[n] = m.ID, to
		return nil
	}
	return fmt.Errorf("message %d never accepted: %v", n, last)
}

// batch posts messages from..to-1 (recipient of n: to(n)) with mnClients
// clients at once.
func (p *mnPoster) batch(from, to int, recipient func(int) string) error {
	var (
		mu   sync.Mutex
		next = from
		errs []error
		wg   sync.WaitGroup
	)
	for range mnClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				n := next
				next++
				mu.Unlock()
				if n >= to {
					return
				}
				if err := p.post(n, recipient(n)); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (p *mnPoster) ids(from, to int) map[int]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[int]string{}
	for n := from; n < to; n++ {
		if id, ok := p.accepted[n]; ok {
			out[n] = id
		}
	}
	return out
}

// mnNetwork reads the simulator's record.
type mnNetwork struct {
	t       *testing.T
	control string
}

// sends counts, per (message, part), the submissions per simulator modem.
func (w mnNetwork) sends() (subs []simSubmission, by map[[2]int][]string) {
	subs = submissions(w.t, w.control)
	by = map[[2]int][]string{}
	for _, s := range subs {
		m := mnToken.FindStringSubmatch(s.Text)
		if m == nil {
			w.t.Errorf("the network saw a part no test message has: %.30q", s.Text)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		k, _ := strconv.Atoi(m[2])
		by[[2]int{n, k}] = append(by[[2]int{n, k}], s.Modem)
	}
	return subs, by
}

func (w mnNetwork) faults(modem, faults string) {
	w.t.Helper()
	resp, err := testHTTP.Post(w.control+"/modems/"+modem+"/faults", "application/json", strings.NewReader(faults))
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("faults %s on %s: %d", faults, modem, resp.StatusCode)
	}
}

// mnMessages reads the messages of ids (number -> id) from the database.
func mnMessages(t *testing.T, db *postgres.DB, ids map[int]string) map[int]*gateway.Message {
	t.Helper()
	byID := map[string]*gateway.Message{}
	f := gateway.MessageFilter{Direction: gateway.Outbound, Limit: gateway.MaxPageLimit}
	for {
		page, err := db.ListMessages(context.Background(), f)
		if err != nil {
			t.Fatalf("list messages: %v", err)
		}
		for _, m := range page.Messages {
			byID[m.ID] = m
		}
		if page.Next == "" {
			break
		}
		f.Cursor = page.Next
	}
	out := map[int]*gateway.Message{}
	for n, id := range ids {
		m, ok := byID[id]
		if !ok {
			t.Fatalf("message %d (%s) accepted but not in the database", n, id)
		}
		out[n] = m
	}
	return out
}

// mnDone: the message's fate is settled (sent, or known not to be).
func mnDone(m *gateway.Message) bool {
	switch m.Status {
	case gateway.StatusSent, gateway.StatusDelivered, gateway.StatusUnconfirmed, gateway.StatusUnknown,
		gateway.StatusFailed, gateway.StatusCancelled, gateway.StatusExpired:
		return true
	}
	return false
}

// mnPinnedTo: part of m went out through one of modems and the rest must
// follow through the same SIM (a concatenated message keeps its sender).
func mnPinnedTo(m *gateway.Message, modems []string) bool {
	for _, p := range m.Parts {
		if (p.State == gateway.PartSubmitted || p.State == gateway.PartDelivered) && slices.Contains(modems, p.Modem) {
			return true
		}
	}
	return false
}

// mnWait waits until every message of ids is done, except those pinned to
// a modem of except (whose node is down).
func mnWait(t *testing.T, db *postgres.DB, what string, ids map[int]string, except []string) map[int]*gateway.Message {
	t.Helper()
	var ms map[int]*gateway.Message
	pending := 0
	deadline := time.Now().Add(120 * time.Second)
	for i := 0; ; i++ {
		if i > 0 {
			time.Sleep(250 * time.Millisecond)
		}
		// Reading every message is slow: first the cheap count, and the
		// whole list when it says done or every few rounds.
		if c, err := db.CountByStatus(context.Background()); err == nil && c[gateway.StatusQueued]+c[gateway.StatusSending] > 0 && i%5 != 4 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d messages still queued or sending", what, c[gateway.StatusQueued]+c[gateway.StatusSending])
			}
			continue
		}
		ms = mnMessages(t, db, ids)
		pending = 0
		for _, m := range ms {
			if !mnDone(m) && !mnPinnedTo(m, except) {
				pending++
			}
		}
		if pending == 0 {
			return ms
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d messages still not sent", what, pending, len(ids))
		}
	}
}

func TestMultiNodeKillAndFreeze(t *testing.T) {
	dsn, schema := pgtest.Schema(t) // skips without PostgreSQL (fails under CI=true)
	start := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), what) }
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	links, control := startSim(t, bin, dir, mnNodes*mnModems, "-latency", "10ms", "-jitter", "10ms")
	net := mnNetwork{t: t, control: control}

	env := append(os.Environ(), "SIMGATE_MN_DSN="+dsn)
	nodes := make([]*mnNode, mnNodes)
	bySim := map[string]*mnNode{} // simulator modem -> node
	for i := range nodes {
		n := &mnNode{name: fmt.Sprintf("n%d", i+1), env: env, sims: map[string]bool{},
			logPath: filepath.Join(dir, fmt.Sprintf("n%d.log", i+1))}
		addr := freeAddr(t)
		n.base = "http://" + addr
		var modems strings.Builder
		for j := range mnModems {
			link := links[i*mnModems+j]
			name := fmt.Sprintf("%s-m%d", n.name, j+1)
			n.modems = append(n.modems, name)
			n.sims[filepath.Base(link)] = true
			bySim[filepath.Base(link)] = n
			fmt.Fprintf(&modems, "  - {name: %s, port: %s}\n", name, link)
		}
		cfg := fmt.Sprintf(`listen: %s
store:
  driver: postgres
  open_timeout: 60s
  postgres: {dsn_env: SIMGATE_MN_DSN, schema: %s, node: %s, lease: %s, max_conns: 8}
log: {level: warn, format: text}
modems:
%spacing: {min_interval: 0s, jitter: 0s, per_minute: 0, per_day: 0, new_contacts_per_day: 0}
retries: {max_attempts: 5, base: 100ms, max: 1s}
pause: {after_failures: 0, cms500_burst: 0, for: 1m}
api: {rate_limit: 0, daily_quota: 0}
shutdown_timeout: 5s
`, addr, schema, n.name, mnLease, modems.String())
		n.cfgPath = filepath.Join(dir, n.name+".yaml")
		if err := os.WriteFile(n.cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		nodes[i] = n
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
		if t.Failed() {
			for _, n := range nodes {
				b, _ := os.ReadFile(n.logPath)
				lines := strings.Split(string(b), "\n")
				t.Logf("node %s, last log lines:\n%s", n.name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
	})
	keyCmd := exec.Command(bin, "keys", "create", "-config", nodes[0].cfgPath, "-owner", "mn", "-scopes", "send,read", "-q")
	keyCmd.Env = env
	out, err := keyCmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keys create: %v: %s", err, out)
	}
	for _, n := range nodes {
		n.start(t, bin)
	}
	db, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	poster := &mnPoster{nodes: nodes, key: strings.TrimSpace(string(out)), client: &http.Client{Timeout: 15 * time.Second},
		accepted: map[int]string{}, contact: map[int]string{}}
	contacts := func(base, count int) func(int) string {
		return func(n int) string { return fmt.Sprintf("+1555%07d", base+n%count) }
	}
	contact := func(base int) func(int) string { return contacts(base, mnContacts) }
	phase("nodes ready")

	// 1. 3,000 messages; node 2 is SIGKILLed while one of its parts is on
	// the wire and much of the batch still waits.
	victim, frozen := nodes[1], nodes[2]
	posted := make(chan error, 1)
	go func() { posted <- poster.batch(0, mnBatch1, contact(0)) }()
	waitFor(t, "the network to see the first sends", 120*time.Second, func() bool {
		time.Sleep(100 * time.Millisecond) // the record is long: read it less often
		return len(submissions(t, control)) >= mnBatch1/6
	})
	// The modem takes the next PDU and never answers: its part is
	// submitting on the node when the node dies.
	hung := filepath.Base(links[1*mnModems])
	net.faults(hung, `{"HangAfterPDU": true}`)
	waitFor(t, "a part in flight on the victim", 60*time.Second, func() bool {
		for _, s := range submissions(t, control) {
			if s.Modem == hung && s.Ambiguous {
				return true
			}
		}
		return false
	})
	phase("killed")
	victim.kill(t)
	net.faults(hung, `{"HangAfterPDU": false}`)
	if err := <-posted; err != nil {
		t.Fatalf("batch 1: %v", err)
	}
	// The others reap the victim and send its queued work; what waits for
	// its SIMs (the rest of a message half sent by one) waits for it.
	phase("batch 1 posted")
	b1 := mnWait(t, db, "batch 1 without the killed node", poster.ids(0, mnBatch1), victim.modems)
	moved := 0
	for c := range mnContacts {
		s, err := db.Sticky(context.Background(), contact(0)(c))
		if err != nil {
			continue
		}
		for _, mv := range s.Moves {
			if slices.Contains(victim.modems, mv.From) && strings.Contains(mv.Reason, "unavailable") {
				moved++
				break
			}
		}
	}
	if moved == 0 {
		t.Errorf("no contact of the killed node's SIMs moved to a live SIM")
	}
	unknownOnVictim := 0
	for _, m := range b1 {
		for _, p := range m.Parts {
			if p.State == gateway.PartUnknown && slices.Contains(victim.modems, p.Modem) {
				unknownOnVictim++
			}
		}
	}
	if unknownOnVictim == 0 {
		t.Errorf("no part of the killed node is unknown: its part on the wire was not reaped as unknown")
	}

	phase("batch 1 done")
	// 2. The victim restarts and takes work again.
	victim.start(t, bin)
	if err := poster.batch(mnBatch1, mnBatch1+mnBatch2, contact(100000)); err != nil {
		t.Fatalf("batch 2: %v", err)
	}
	mnWait(t, db, "batch 1 and 2", poster.ids(0, mnBatch1+mnBatch2), nil)
	_, by := net.sends()
	if n := sentBy(by, mnBatch1, mnBatch1+mnBatch2, victim); n == 0 {
		t.Errorf("the restarted node sent none of the %d later messages", mnBatch2)
	}

	phase("batch 2 done")
	// 3. Node 3 is frozen past its lease while it holds work. Its SIMs are
	// slow to answer (300 ms a send) during batch 3, so that the messages of
	// the contacts they have texted pile up behind them; it is frozen once
	// the batch is posted.
	for sim := range frozen.sims {
		net.faults(sim, `{"SendLatency": "300ms", "SendJitter": "0s"}`)
	}
	from3 := mnBatch1 + mnBatch2
	if err := poster.batch(from3, from3+mnBatch3, contacts(200000, mnContacts3)); err != nil {
		t.Fatalf("batch 3: %v", err)
	}
	waitFor(t, "the node to be frozen to send batch 3", 120*time.Second, func() bool {
		time.Sleep(100 * time.Millisecond)
		_, by := net.sends()
		return sentBy(by, from3, from3+mnBatch3, frozen) >= 4
	})
	phase("frozen")
	frozen.signal(t, syscall.SIGSTOP)
	// What it held: claims of its modems, and the queued messages of the
	// contacts bound to its SIMs (not the rest of a message it half sent).
	taken := map[int]bool{}
	for n, m := range mnMessages(t, db, poster.ids(from3, from3+mnBatch3)) {
		if mnDone(m) || submittedAny(m) {
			continue
		}
		held := false
		for _, p := range m.Parts {
			held = held || (p.State == gateway.PartAssigned && slices.Contains(frozen.modems, p.Modem))
		}
		if s, err := db.Sticky(context.Background(), m.Contact); err == nil && slices.Contains(frozen.modems, s.Modem) {
			held = true
		}
		if held {
			taken[n] = true
		}
	}
	if len(taken) == 0 {
		t.Fatal("the frozen node held no queued work")
	}
	takenIDs := map[int]string{}
	for n := range taken {
		takenIDs[n] = poster.accepted[n]
	}
	mnWait(t, db, "the frozen node's work to be taken by the others", takenIDs, nil)
	phase("taken over")
	for sim := range frozen.sims {
		net.faults(sim, `{"SendLatency": "10ms", "SendJitter": "10ms"}`)
	}
	frozen.signal(t, syscall.SIGCONT)
	mnWait(t, db, "batch 3", poster.ids(from3, from3+mnBatch3), nil)

	phase("batch 3 done")
	// 4. The resumed node rejoins.
	from4 := from3 + mnBatch3
	if err := poster.batch(from4, from4+mnBatch4, contact(300000)); err != nil {
		t.Fatalf("batch 4: %v", err)
	}
	final := mnWait(t, db, "every message", poster.ids(0, from4+mnBatch4), nil)
	phase("batch 4 done")
	subs, by := net.sends()
	if n := sentBy(by, from4, from4+mnBatch4, frozen); n == 0 {
		t.Errorf("the resumed node sent none of the %d later messages", mnBatch4)
	}

	// Fencing: of what it held, the frozen node sent only parts it had
	// marked submitting before it froze (unknown since); what the others
	// took, it never sent.
	tookOver := 0
	for n := range taken {
		m := final[n]
		others := false
		for _, p := range m.Parts {
			for _, sim := range by[[2]int{n, p.Seq}] {
				switch {
				case !frozen.sims[sim]:
					others = true
				case p.State != gateway.PartUnknown:
					t.Errorf("message %d part %d (%s), held by the frozen node, was sent by it (%s) and is %s: its claim outlived its lease", n, p.Seq, m.ID, sim, p.State)
				}
			}
		}
		if others {
			tookOver++
		}
	}
	if tookOver == 0 {
		t.Errorf("the others sent none of the %d messages the frozen node held", len(taken))
	}

	// Over everything: 0 lost, 0 sent twice; unknown only on the wire of
	// the killed or frozen node, and told as message.unknown.
	stopped := append(slices.Clone(victim.modems), frozen.modems...)
	var sentParts, unknownParts int
	unknownMsgs := map[string]bool{}
	for n, m := range final {
		_, parts := mnBody(n)
		if len(m.Parts) != parts {
			t.Errorf("message %d (%s): %d parts, want %d", n, m.ID, len(m.Parts), parts)
			continue
		}
		if m.Contact != poster.contact[n] {
			t.Errorf("message %d went to %s, posted to %s", n, m.Contact, poster.contact[n])
		}
		hasUnknown := false
		for _, p := range m.Parts {
			sims := by[[2]int{n, p.Seq}]
			switch {
			case len(sims) > 1:
				t.Errorf("message %d part %d (%s) was sent %d times, by %v", n, p.Seq, m.ID, len(sims), sims)
			case p.State == gateway.PartUnknown:
				hasUnknown = true
				unknownParts++
				if !slices.Contains(stopped, p.Modem) {
					t.Errorf("message %d part %d (%s) is unknown on %s, which was neither killed nor frozen", n, p.Seq, m.ID, p.Modem)
				}
			case p.State == gateway.PartSubmitted || p.State == gateway.PartDelivered:
				if len(sims) == 0 {
					t.Errorf("message %d part %d (%s) is %s but the network never saw it", n, p.Seq, m.ID, p.State)
				} else if bySim[sims[0]] == nil || !slices.Contains(bySim[sims[0]].modems, p.Modem) {
					t.Errorf("message %d part %d (%s): recorded sent by %s, the network saw it from %s", n, p.Seq, m.ID, p.Modem, sims[0])
				}
				sentParts++
			case p.State == gateway.PartCancelled && m.Status == gateway.StatusUnknown:
				// not sent: an earlier part's fate is unknown
				if len(sims) != 0 {
					t.Errorf("message %d part %d (%s) went out but is recorded cancelled", n, p.Seq, m.ID)
				}
			default:
				t.Errorf("message %d part %d (%s) is %s (message %s): lost", n, p.Seq, m.ID, p.State, m.Status)
			}
		}
		switch {
		case hasUnknown && m.Status == gateway.StatusUnknown:
			unknownMsgs[m.ID] = true
		case hasUnknown:
			t.Errorf("message %d (%s) has an unknown part but is %s", n, m.ID, m.Status)
		case m.Status != gateway.StatusSent && m.Status != gateway.StatusDelivered && m.Status != gateway.StatusUnconfirmed:
			t.Errorf("message %d (%s) is %s: lost", n, m.ID, m.Status)
		}
	}
	told := map[string]bool{}
	for after := ""; ; {
		evs, err := db.Events(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.Type == gateway.EventMessageUnknown {
				told[e.MessageID] = true
			}
		}
		after = evs[len(evs)-1].ID
	}
	for id := range unknownMsgs {
		if !told[id] {
			t.Errorf("message %s became unknown without a message.unknown event", id)
		}
	}
	perNode := map[string]int{}
	for _, s := range subs {
		if n := bySim[s.Modem]; n != nil {
			perNode[n.name]++
		}
	}
	t.Logf("%d messages, %d parts sent once, %d unknown (%d messages), none twice, none lost; %d contacts moved off the killed node; %d messages held by the frozen node, %d of them sent by the others; sends per node %v",
		len(final), sentParts, unknownParts, len(unknownMsgs), moved, len(taken), tookOver, perNode)
}

// sentBy counts the messages from..to-1 of which the network saw a part
// from node's modems (nil: from any).
func sentBy(by map[[2]int][]string, from, to int, node *mnNode) int {
	c := 0
	for n := from; n < to; n++ {
		for _, sim := range by[[2]int{n, 1}] {
			if node == nil || node.sims[sim] {
				c++
				break
			}
		}
	}
	return c
}

// submittedAny: a part of m is on the wire or beyond.
func submittedAny(m *gateway.Message) bool {
	for _, p := range m.Parts {
		switch p.State {
		case gateway.PartQueued, gateway.PartAssigned:
		default:
			return true
		}
	}
	return false
}
