package gateway_test

// End-to-end tests: the Dispatcher over the real bbolt store, the real modem
// driver (modem.Device) and simulated modems served over real PTYs by
// modemsim. Status reports come back through the real Inbox.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/tpdu"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/modem"
	"github.com/simgate/simgate/modem/modemsim"
	"github.com/simgate/simgate/store"
)

// recorder is an Emitter that keeps events.
type recorder struct {
	mu     sync.Mutex
	events []gateway.Event
}

func (r *recorder) Emit(_ context.Context, e gateway.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) count(t gateway.EventType, modem string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Type == t && (modem == "" || e.Modem == modem) {
			n++
		}
	}
	return n
}

type rig struct {
	t     *testing.T
	dir   string
	net   *modemsim.Network
	db    *store.DB
	d     *gateway.Dispatcher
	em    *recorder
	inbox *gateway.Inbox
	sims  map[string]*modemsim.Modem
	devs  map[string]*modem.Device
	links map[string]string
	order []string
	cfg   gateway.Config
	stop  func()
}

// rigSendTimeout is the driver's AT+CMGS timeout in the rigs.
var rigSendTimeout = 5 * time.Second

func e2eConfig() gateway.Config {
	cfg := gateway.DefaultConfig()
	cfg.DefaultRegion = "US"
	cfg.Location = time.UTC
	cfg.Pacing = gateway.PacingConfig{MinInterval: 5 * time.Millisecond, Jitter: 2 * time.Millisecond, PerMinute: 0, PerDay: 0, NewContactsPerDay: 10000}
	cfg.RetryBase, cfg.RetryMax = 10*time.Millisecond, 50*time.Millisecond
	cfg.PauseFor = time.Hour
	cfg.CloseTimeout = 10 * time.Second
	return cfg
}

// newRig builds n simulated modems on PTYs, the store, the dispatcher and
// the inbox; modems get the configs from mc (nil: defaults).
func newRig(t *testing.T, n int, cfg gateway.Config, db *store.DB, mc func(name string) gateway.ModemConfig) *rig {
	t.Helper()
	return newRigNet(t, n, cfg, db, mc, modemsim.NetworkOptions{})
}

// newRigNet is newRig on a network made with opts.
func newRigNet(t *testing.T, n int, cfg gateway.Config, db *store.DB, mc func(name string) gateway.ModemConfig, opts modemsim.NetworkOptions) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), em: &recorder{}, sims: map[string]*modemsim.Modem{},
		devs: map[string]*modem.Device{}, links: map[string]string{}, cfg: cfg}
	r.net = modemsim.NewNetwork(opts)
	t.Cleanup(func() { r.net.Close() })
	if db == nil {
		var err error
		db, err = store.Open(filepath.Join(r.dir, "simgate.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
	}
	r.db = db
	d, err := gateway.NewDispatcher(cfg, db, r.em)
	if err != nil {
		t.Fatal(err)
	}
	r.d = d
	r.inbox = gateway.NewInbox(gateway.InboxConfig{DefaultRegion: "US", Counter: d}, db, d, d, r.em)
	for i := range n {
		name := fmt.Sprintf("sim%d", i+1)
		sim := r.net.AddModem(modemsim.ModemConfig{Name: name})
		link := filepath.Join(r.dir, "tty-"+name)
		if _, err := sim.ServePTY(link); err != nil {
			t.Fatal(err)
		}
		dev, err := modem.Open(context.Background(), modem.Config{
			Name: name, Port: link, Globs: []string{link},
			CommandTimeout: 2 * time.Second, SendTimeout: rigSendTimeout,
			PollInterval: 300 * time.Millisecond, HealthInterval: 200 * time.Millisecond,
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		}, r.inbox, d)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dev.Close() })
		c := gateway.ModemConfig{Name: name}
		if mc != nil {
			c = mc(name)
		}
		d.AddDevice(dev, c)
		r.sims[name], r.devs[name], r.links[name] = sim, dev, link
		r.order = append(r.order, name)
	}
	for _, name := range r.order {
		dev := r.devs[name]
		waitFor(t, name+" up", 20*time.Second, func() bool { return dev.Status().Usable() })
	}
	return r
}

func (r *rig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- r.d.Run(ctx) }()
	go func() { done <- r.inbox.Run(ctx) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			if err := r.d.Close(); err != nil {
				r.t.Errorf("close: %v", err)
			}
			cancel()
			for range 2 {
				if err := <-done; err != nil && !errors.Is(err, gateway.ErrClosed) && !errors.Is(err, context.Canceled) {
					r.t.Errorf("run: %v", err)
				}
			}
		})
	}
	r.t.Cleanup(r.stop)
}

func (r *rig) submit(req gateway.SendRequest) *gateway.Message {
	r.t.Helper()
	m, err := r.d.Submit(context.Background(), req)
	if err != nil {
		r.t.Fatalf("submit: %v", err)
	}
	return m
}

func (r *rig) get(id string) *gateway.Message {
	r.t.Helper()
	m, err := r.db.GetMessage(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return m
}

func (r *rig) waitStatus(id string, want ...gateway.Status) *gateway.Message {
	r.t.Helper()
	var m *gateway.Message
	waitFor(r.t, fmt.Sprintf("%s to be %v", id, want), 60*time.Second, func() bool {
		m = r.get(id)
		for _, w := range want {
			if m.Status == w {
				return true
			}
		}
		return false
	})
	return m
}

// bySim groups the network's accepted submissions by sending modem.
func (r *rig) bySim() map[string][]modemsim.Submission {
	out := map[string][]modemsim.Submission{}
	for _, s := range r.net.Submissions() {
		out[s.Modem] = append(out[s.Modem], s)
	}
	return out
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func number(i int) string { return fmt.Sprintf("+1202555%04d", 1000+i) }

// TestE2EThousandOverEight sends 1,000 messages over 8 simulated modems and
// checks from the network's record that every message left exactly once and
// each SIM kept its pace.
func TestE2EThousandOverEight(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	cfg := e2eConfig()
	pace := map[string]gateway.PacingConfig{}
	r := newRig(t, 8, cfg, nil, func(name string) gateway.ModemConfig {
		// Half the modems get their own, slower pace with a per-minute cap
		// they cannot hit within the test; MinInterval is what binds.
		p := cfg.Pacing
		if name == "sim2" || name == "sim5" {
			p.MinInterval = 15 * time.Millisecond
			p.PerMinute = 1000
		}
		pace[name] = p
		return gateway.ModemConfig{Name: name, Pacing: &p}
	})
	r.start()
	const total = 1000
	ids := make([]string, total)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += 8 {
				m, err := r.d.Submit(context.Background(), gateway.SendRequest{To: number(i), Body: fmt.Sprintf("Hi %d, polls open 7am-8pm.", i)})
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = m.ID
			}
		}()
	}
	wg.Wait()
	waitFor(t, "1000 submissions", 120*time.Second, func() bool { return len(r.net.Submissions()) >= total })
	// Every status report comes back and is matched.
	for _, id := range ids {
		r.waitStatus(id, gateway.StatusDelivered)
	}
	subs := r.net.Submissions()
	if len(subs) != total {
		t.Fatalf("network accepted %d submissions, want %d", len(subs), total)
	}
	seen := map[string]bool{}
	for _, s := range subs {
		if seen[s.To] {
			t.Fatalf("%s texted twice", s.To)
		}
		seen[s.To] = true
	}
	for name, ss := range r.bySim() {
		p := pace[name]
		if len(ss) < total/8/3 {
			t.Errorf("%s sent only %d: load not spread", name, len(ss))
		}
		sort.Slice(ss, func(i, j int) bool { return ss[i].At.Before(ss[j].At) })
		for i := 1; i < len(ss); i++ {
			if gap := ss[i].At.Sub(ss[i-1].At); gap < p.MinInterval {
				t.Fatalf("%s: sends %d and %d %s apart, MinInterval %s", name, i, i+1, gap, p.MinInterval)
			}
		}
		if p.PerMinute > 0 {
			for i := p.PerMinute; i < len(ss); i++ {
				if ss[i].At.Sub(ss[i-p.PerMinute].At) < time.Minute {
					t.Fatalf("%s: more than %d sends within a minute", name, p.PerMinute)
				}
			}
		}
		t.Logf("%s sent %d", name, len(ss))
	}
}

// TestE2EMultipartUCS2Emoji checks a long emoji message arrives as
// concatenated UCS-2 parts from one SIM that decode back to the body.
func TestE2EMultipartUCS2Emoji(t *testing.T) {
	r := newRig(t, 2, e2eConfig(), nil, nil)
	r.start()
	body := strings.Repeat("Vote early 🗳️ bring ID 🪪 ", 8)
	m := r.submit(gateway.SendRequest{To: number(1), Body: body})
	if m.Encoding != gateway.EncodingUCS2 || m.Segments < 2 {
		t.Fatalf("encoding %s segments %d", m.Encoding, m.Segments)
	}
	r.waitStatus(m.ID, gateway.StatusSent, gateway.StatusDelivered)
	subs := r.net.Submissions()
	if len(subs) != m.Segments {
		t.Fatalf("%d submissions, want %d", len(subs), m.Segments)
	}
	var segs []*tpdu.TPDU
	for i, s := range subs {
		if s.Modem != subs[0].Modem {
			t.Fatal("parts left through different SIMs")
		}
		if s.Parts != m.Segments || s.Part != i+1 {
			t.Fatalf("part %d: %d/%d", i+1, s.Part, s.Parts)
		}
		// The modem writes its TP-MR into byte 1; everything else must be
		// byte-identical to what was encoded once at accept.
		wire, stored := append([]byte(nil), s.TPDU...), append([]byte(nil), m.Parts[i].PDU...)
		wire[1], stored[1] = 0, 0
		if string(wire) != string(stored) {
			t.Fatalf("part %d on the wire differs from the stored PDU", i+1)
		}
		p, err := sms.Unmarshal(s.TPDU, sms.AsMO)
		if err != nil {
			t.Fatal(err)
		}
		segs = append(segs, p)
	}
	got, err := sms.Decode(segs)
	if err != nil || string(got) != body {
		t.Fatalf("decoded %q (%v)", got, err)
	}
}

// TestE2EStickySender: every message to a contact leaves through the SIM
// that first texted it, across several contacts and interleavings.
func TestE2EStickySender(t *testing.T) {
	r := newRig(t, 4, e2eConfig(), nil, nil)
	r.start()
	var ids []string
	for round := range 5 {
		for c := range 6 {
			ids = append(ids, r.submit(gateway.SendRequest{To: number(c), Body: fmt.Sprintf("round %d", round)}).ID)
		}
	}
	for _, id := range ids {
		r.waitStatus(id, gateway.StatusSent, gateway.StatusDelivered)
	}
	owner := map[string]string{}
	for _, s := range r.net.Submissions() {
		if o, ok := owner[s.To]; ok && o != s.Modem {
			t.Fatalf("%s texted from %s and %s", s.To, o, s.Modem)
		}
		owner[s.To] = s.Modem
	}
	for c := range 6 {
		st, err := r.db.Sticky(context.Background(), number(c))
		if err != nil || st.Modem != owner[number(c)] {
			t.Fatalf("sticky %s = %+v %v, sent by %s", number(c), st, err, owner[number(c)])
		}
	}
}

// TestE2EUnpluggedModemQueueMoves: a SIM unplugged for longer than
// StickyTimeout loses its contacts (and queue) to the others, recorded.
func TestE2EUnpluggedModemQueueMoves(t *testing.T) {
	cfg := e2eConfig()
	cfg.StickyTimeout = 300 * time.Millisecond
	r := newRig(t, 3, cfg, nil, nil)
	r.start()
	first := r.submit(gateway.SendRequest{To: number(7), Body: "hello"})
	m := r.waitStatus(first.ID, gateway.StatusSent, gateway.StatusDelivered)
	gone := m.Modem
	if err := r.sims[gone].Unplug(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, gone+" down", 20*time.Second, func() bool { return !r.devs[gone].Status().Usable() })
	var ids []string
	for i := range 5 {
		ids = append(ids, r.submit(gateway.SendRequest{To: number(7), Body: fmt.Sprint("follow-up ", i)}).ID)
	}
	mover := ""
	for _, id := range ids {
		m := r.waitStatus(id, gateway.StatusSent, gateway.StatusDelivered)
		if m.Modem == gone {
			t.Fatalf("sent through the unplugged %s", gone)
		}
		if mover == "" {
			mover = m.Modem
		}
		if m.Modem != mover {
			t.Fatalf("moved contact texted from %s and %s", mover, m.Modem)
		}
	}
	st, err := r.db.Sticky(context.Background(), number(7))
	if err != nil || st.Modem != mover || len(st.Moves) != 1 || st.Moves[0].From != gone {
		t.Fatalf("sticky %+v %v", st, err)
	}
	if r.em.count(gateway.EventModemDown, gone) == 0 {
		t.Error("no modem.down event")
	}
}

// TestE2EPausedModemTakesNothing.
func TestE2EPausedModemTakesNothing(t *testing.T) {
	r := newRig(t, 3, e2eConfig(), nil, nil)
	if err := r.d.Pause("sim2", "operator", time.Time{}); err != nil {
		t.Fatal(err)
	}
	r.start()
	var ids []string
	for i := range 30 {
		ids = append(ids, r.submit(gateway.SendRequest{To: number(100 + i), Body: "x"}).ID)
	}
	for _, id := range ids {
		r.waitStatus(id, gateway.StatusSent, gateway.StatusDelivered)
	}
	if n := len(r.bySim()["sim2"]); n != 0 {
		t.Fatalf("paused sim2 sent %d", n)
	}
	v, err := r.d.Modem("sim2")
	if err != nil || !v.Paused || v.PauseReason != "operator" {
		t.Fatalf("view %+v %v", v, err)
	}
}

// TestE2ECMS500BurstPausesSIM: a SIM answering +CMS ERROR: 500 to every
// send is paused after the burst; its messages leave through the others.
func TestE2ECMS500BurstPausesSIM(t *testing.T) {
	cfg := e2eConfig()
	cfg.CMS500Burst = 3
	cfg.MaxAttempts = 10
	// Off here: with it, sim1's failures lower its health score so that
	// it stops taking new contacts (healthpref.go) before the third 500.
	cfg.PreferHealthy = 0
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	r := newRig(t, 3, cfg, nil, nil)
	r.sims["sim1"].SetFaults(modemsim.Faults{CMSErrorRate: 1, CMSErrorCode: 500})
	r.start()
	var ids []string
	for i := range 30 {
		ids = append(ids, r.submit(gateway.SendRequest{To: number(200 + i), Body: "x"}).ID)
	}
	for _, id := range ids {
		m := r.waitStatus(id, gateway.StatusSent, gateway.StatusDelivered)
		if m.Modem == "sim1" {
			t.Fatalf("%s sent through the blocked sim1", id)
		}
	}
	v, _ := r.d.Modem("sim1")
	if !v.Paused || !strings.Contains(v.PauseReason, "500") {
		t.Fatalf("sim1 not paused: %+v", v)
	}
	if n := len(r.bySim()["sim1"]); n != 0 {
		t.Fatalf("network accepted %d from sim1", n)
	}
	if r.em.count(gateway.EventModemPaused, "sim1") != 1 {
		t.Fatal("no modem.paused event")
	}
}

// TestE2EDeliveryReportsRollUp: status reports from the network come back
// through the driver and the Inbox; a multipart message is delivered only
// when every part is.
func TestE2EDeliveryReportsRollUp(t *testing.T) {
	r := newRig(t, 2, e2eConfig(), nil, nil)
	r.start()
	long := r.submit(gateway.SendRequest{To: number(300), Body: strings.Repeat("Reminder: volunteer shift at 9. ", 8)})
	short := r.submit(gateway.SendRequest{To: number(301), Body: "see you"})
	if long.Segments < 2 {
		t.Fatalf("segments %d", long.Segments)
	}
	lm := r.waitStatus(long.ID, gateway.StatusDelivered)
	r.waitStatus(short.ID, gateway.StatusDelivered)
	for _, p := range lm.Parts {
		if p.State != gateway.PartDelivered || p.ReportStatus != 0 {
			t.Fatalf("part %+v", p)
		}
	}
	waitFor(t, "delivered events", 10*time.Second, func() bool { return r.em.count(gateway.EventMessageDelivered, "") == 2 })
}

// TestE2ECrashLeavesSubmittingUnknown: a message left "submitting" by a
// crash is marked unknown at start-up and never resent; an assigned one
// goes out.
func TestE2ECrashLeavesSubmittingUnknown(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "simgate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	now := time.Now()
	mk := func(to string, alo bool, state gateway.PartState) string {
		enc, err := gateway.EncodeSubmit(to, "before the crash", true, 9)
		if err != nil {
			t.Fatal(err)
		}
		m := &gateway.Message{ID: fmt.Sprintf("01CRASH%019d", len(to)+int(now.UnixNano()%1e9)), Direction: gateway.Outbound,
			Contact: to, Body: "before the crash", Encoding: enc.Encoding, Segments: 1, AtLeastOnce: alo,
			CreatedAt: now, UpdatedAt: now, Modem: "sim1",
			Parts: []gateway.Part{{Seq: 1, PDU: enc.PDUs[0], State: state, Modem: "sim1", MR: -1, ReportStatus: -1, Attempts: 1}}}
		m.Status = gateway.RollUp(m.Parts)
		if err := db.CreateMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	unknownID := mk(number(400), false, gateway.PartSubmitting)
	now = now.Add(time.Millisecond)
	aloID := mk(number(401), true, gateway.PartSubmitting)
	now = now.Add(time.Millisecond)
	assignedID := mk(number(402), false, gateway.PartAssigned)

	r := newRig(t, 1, e2eConfig(), db, nil)
	r.start()
	r.waitStatus(aloID, gateway.StatusSent, gateway.StatusDelivered)
	r.waitStatus(assignedID, gateway.StatusSent, gateway.StatusDelivered)
	if m := r.get(unknownID); m.Status != gateway.StatusUnknown || m.Parts[0].State != gateway.PartUnknown {
		t.Fatalf("submitting part after restart: %s / %s", m.Status, m.Parts[0].State)
	}
	for _, s := range r.net.Submissions() {
		if s.To == number(400) {
			t.Fatal("a part whose fate was unknown was resent")
		}
	}
	if n := len(r.net.Submissions()); n != 2 {
		t.Fatalf("%d submissions, want 2", n)
	}
	if r.em.count(gateway.EventMessageUnknown, "") != 1 {
		t.Fatal("no message.unknown event")
	}
}

// TestE2EAmbiguousSendIsUnknown: the modem takes the PDU and never answers
// +CMGS (the network did get it). The part is unknown and not resent; the
// SIM recovers and sends the next message.
func TestE2EAmbiguousSendIsUnknown(t *testing.T) {
	old := rigSendTimeout
	rigSendTimeout = time.Second
	t.Cleanup(func() { rigSendTimeout = old })
	r := newRig(t, 1, e2eConfig(), nil, nil)
	r.sims["sim1"].SetFaults(modemsim.Faults{HangAfterPDU: true})
	r.start()
	a := r.submit(gateway.SendRequest{To: number(500), Body: "did it go?"})
	m := r.waitStatus(a.ID, gateway.StatusUnknown)
	if m.Parts[0].State != gateway.PartUnknown || m.Parts[0].ErrorClass != "ambiguous" {
		t.Fatalf("part %+v", m.Parts[0])
	}
	r.sims["sim1"].SetFaults(modemsim.Faults{})
	b := r.submit(gateway.SendRequest{To: number(501), Body: "next one"})
	r.waitStatus(b.ID, gateway.StatusSent, gateway.StatusDelivered)
	count := map[string]int{}
	for _, s := range r.net.Submissions() {
		count[s.To]++
		if s.To == number(500) && !s.Ambiguous {
			t.Error("the network saw the hung send as answered")
		}
	}
	if count[number(500)] != 1 || count[number(501)] != 1 {
		t.Fatalf("submissions per number: %v", count)
	}
	if r.em.count(gateway.EventMessageUnknown, "sim1") != 1 {
		t.Fatal("no message.unknown event")
	}
}

// TestE2EQueuedForUnpluggedSIMMoves: messages already waiting for a SIM
// (its contacts, held while it was paused) move to the others once it has
// been unplugged for longer than StickyTimeout.
func TestE2EQueuedForUnpluggedSIMMoves(t *testing.T) {
	cfg := e2eConfig()
	cfg.StickyTimeout = 300 * time.Millisecond
	r := newRig(t, 3, cfg, nil, nil)
	r.start()
	var firsts []string
	for c := range 3 {
		firsts = append(firsts, r.submit(gateway.SendRequest{To: number(600 + c), Body: "hi", From: "sim1"}).ID)
	}
	for _, id := range firsts {
		r.waitStatus(id, gateway.StatusSent, gateway.StatusDelivered)
	}
	if err := r.d.Pause("sim1", "hold", time.Time{}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for c := range 3 {
		for i := range 2 {
			ids = append(ids, r.submit(gateway.SendRequest{To: number(600 + c), Body: fmt.Sprint("again ", i)}).ID)
		}
	}
	v, _ := r.d.Modem("sim1")
	if v.Queued != 6 {
		t.Fatalf("sim1 holds %d parts, want its contacts' 6", v.Queued)
	}
	if err := r.sims["sim1"].Unplug(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if m := r.waitStatus(id, gateway.StatusSent, gateway.StatusDelivered); m.Modem == "sim1" {
			t.Fatal("sent through the unplugged SIM")
		}
	}
	for c := range 3 {
		st, err := r.db.Sticky(context.Background(), number(600+c))
		if err != nil || st.Modem == "sim1" || len(st.Moves) != 1 || st.Moves[0].From != "sim1" {
			t.Fatalf("contact %d: %+v %v", c, st, err)
		}
	}
}
