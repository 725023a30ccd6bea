package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/gatewaytest"
)

// testConfig paces fast so tests finish quickly.
func testConfig() gateway.Config {
	c := gateway.DefaultConfig()
	c.DefaultRegion = "US"
	c.Pacing = gateway.PacingConfig{MinInterval: time.Millisecond, NewContactsPerDay: 1000}
	c.RetryBase, c.RetryMax = 5*time.Millisecond, 20*time.Millisecond
	c.StickyTimeout = time.Hour
	c.PauseFor = time.Hour
	c.Location = time.UTC
	return c
}

type harness struct {
	t    *testing.T
	st   *gatewaytest.MemStore
	em   *gatewaytest.Recorder
	d    *gateway.Dispatcher
	devs map[string]*gatewaytest.Device
	reg  *prometheus.Registry
	stop func()
}

func newHarness(t *testing.T, cfg gateway.Config, st *gatewaytest.MemStore, names ...string) *harness {
	t.Helper()
	if st == nil {
		st = gatewaytest.NewMemStore()
	}
	h := &harness{t: t, st: st, em: &gatewaytest.Recorder{}, devs: map[string]*gatewaytest.Device{}, reg: prometheus.NewRegistry()}
	cfg.Registerer = h.reg
	d, err := gateway.NewDispatcher(cfg, st, h.em)
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	for _, n := range names {
		h.add(n, nil)
	}
	return h
}

func (h *harness) add(name string, groups []string) *gatewaytest.Device {
	f := gatewaytest.NewDevice(name)
	h.devs[name] = f
	h.d.AddDevice(f, gateway.ModemConfig{Name: name, Groups: groups})
	return f
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			if err := h.d.Close(); err != nil {
				h.t.Errorf("close: %v", err)
			}
			cancel()
			if err := <-done; err != nil && !errors.Is(err, gateway.ErrClosed) {
				h.t.Errorf("run: %v", err)
			}
		})
	}
	h.t.Cleanup(h.stop)
}

// metric is the value of the counter name with the given label values
// (in label-name order), as h's registry gathers it; 0 when absent.
func (h *harness) metric(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			lp := m.GetLabel()
			if len(lp) != len(labels) {
				continue
			}
			for i, l := range lp {
				if l.GetValue() != labels[i] {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func (h *harness) submit(req gateway.SendRequest) *gateway.Message {
	h.t.Helper()
	m, err := h.d.Submit(context.Background(), req)
	if err != nil {
		h.t.Fatalf("submit: %v", err)
	}
	return m
}

func (h *harness) waitStatus(id string, want gateway.Status) *gateway.Message {
	h.t.Helper()
	var m *gateway.Message
	gatewaytest.Eventually(h.t, fmt.Sprintf("%s to be %s", id, want), func() bool {
		m = h.st.Message(h.t, id)
		return m.Status == want
	})
	return m
}

func TestSubmitValidation(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a")
	h.add("b", []string{"team"})
	h.st.AddOptOut(context.Background(), gateway.OptOut{Number: "+12025550142", Source: "api"})
	no := false
	tests := []struct {
		name  string
		req   gateway.SendRequest
		field string
		err   error
	}{
		{"empty to", gateway.SendRequest{Body: "hi"}, "to", nil},
		{"bad number", gateway.SendRequest{To: "hello", Body: "hi"}, "to", nil},
		{"empty body", gateway.SendRequest{To: "+12025550143"}, "body", nil},
		{"too long", gateway.SendRequest{To: "+12025550143", Body: strings.Repeat("x", 1531)}, "body", nil},
		{"priority", gateway.SendRequest{To: "+12025550143", Body: "hi", Priority: 11}, "priority", nil},
		{"validity", gateway.SendRequest{To: "+12025550143", Body: "hi", Validity: -time.Second}, "validity", nil},
		{"unknown from", gateway.SendRequest{To: "+12025550143", Body: "hi", From: "zzz"}, "from", nil},
		{"opted out", gateway.SendRequest{To: "(202) 555-0142", Body: "hi"}, "", gateway.ErrOptedOut},
		{"ok modem", gateway.SendRequest{To: "(202) 555-0143", Body: "hi", From: "a", StatusReport: &no}, "", nil},
		{"ok group", gateway.SendRequest{To: "+12025550143", Body: "hi", From: "team"}, "", nil},
		{"window start", gateway.SendRequest{To: "+12025550143", Body: "hi", TextingWindow: &gateway.TextingWindow{Start: "9:00", End: "21:00", TimeZone: "UTC"}}, "texting_window.start", nil},
		{"window end", gateway.SendRequest{To: "+12025550143", Body: "hi", TextingWindow: &gateway.TextingWindow{Start: "09:00", End: "25:00", TimeZone: "UTC"}}, "texting_window.end", nil},
		{"window empty", gateway.SendRequest{To: "+12025550143", Body: "hi", TextingWindow: &gateway.TextingWindow{Start: "09:00", End: "09:00", TimeZone: "UTC"}}, "texting_window.end", nil},
		{"window zone", gateway.SendRequest{To: "+12025550143", Body: "hi", TextingWindow: &gateway.TextingWindow{Start: "09:00", End: "21:00", TimeZone: "Mars/Olympus"}}, "texting_window.time_zone", nil},
		{"window no zone", gateway.SendRequest{To: "+12025550143", Body: "hi", TextingWindow: &gateway.TextingWindow{Start: "09:00", End: "21:00"}}, "texting_window.time_zone", nil},
		{"ok window", gateway.SendRequest{To: "+12025550143", Body: "hi", TextingWindow: &gateway.TextingWindow{Start: "09:00", End: "21:00", TimeZone: "America/Chicago"}}, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := h.d.Submit(context.Background(), tc.req)
			var ve *gateway.ValidationError
			switch {
			case tc.field != "":
				if !errors.As(err, &ve) || ve.Field != tc.field {
					t.Fatalf("err = %v, want validation error on %s", err, tc.field)
				}
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				stored := h.st.Message(t, m.ID)
				if stored.Contact != "+12025550143" || stored.Status != gateway.StatusQueued || stored.Segments != 1 || len(stored.Parts[0].PDU) == 0 {
					t.Fatalf("stored %+v", stored)
				}
				if w := tc.req.TextingWindow; w != nil && (stored.TextingWindow == nil || *stored.TextingWindow != *w) {
					t.Fatalf("stored window %v, want %v", stored.TextingWindow, w)
				}
			}
		})
	}
}

func TestSubmitIdempotent(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a")
	req := gateway.SendRequest{To: "+12025550143", Body: "hi", IdempotencyKey: "k1", RequestHash: "h1"}
	m1 := h.submit(req)
	m2 := h.submit(req)
	if m1.ID != m2.ID {
		t.Fatalf("replay created a new message %s != %s", m2.ID, m1.ID)
	}
	req.RequestHash = "h2"
	if _, err := h.d.Submit(context.Background(), req); !errors.Is(err, gateway.ErrIdempotencyMismatch) {
		t.Fatalf("err = %v", err)
	}
}

func TestDispatchSpreadsAndSendsAll(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a", "b", "c")
	h.start()
	var ids []string
	for i := range 60 {
		ids = append(ids, h.submit(gateway.SendRequest{To: fmt.Sprintf("+1202555%04d", 1000+i), Body: "hello " + fmt.Sprint(i)}).ID)
	}
	for _, id := range ids {
		h.waitStatus(id, gateway.StatusSent)
	}
	total := 0
	for n, f := range h.devs {
		s := len(f.Sent())
		total += s
		if s < 5 {
			t.Errorf("modem %s sent only %d of 60", n, s)
		}
	}
	if total != 60 {
		t.Fatalf("sent %d parts, want 60 (no duplicates)", total)
	}
	gatewaytest.Eventually(t, "60 sent events", func() bool { return h.em.Count(gateway.EventMessageSent) == 60 })
	if got := h.metric("simgate_messages_accepted_total"); got != 60 {
		t.Errorf("accepted = %v", got)
	}
}

func TestMultipartSameModemByteIdentical(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a", "b")
	h.start()
	body := strings.Repeat("Grüße 🙂 ", 30)
	m := h.submit(gateway.SendRequest{To: "+12025550143", Body: body})
	if m.Encoding != gateway.EncodingUCS2 || m.Segments < 3 {
		t.Fatalf("encoding %s segments %d", m.Encoding, m.Segments)
	}
	got := h.waitStatus(m.ID, gateway.StatusSent)
	var sends []gatewaytest.Send
	for _, f := range h.devs {
		if s := f.Sent(); len(s) > 0 {
			if sends != nil {
				t.Fatal("parts went out through two modems")
			}
			sends = s
		}
	}
	if len(sends) != m.Segments {
		t.Fatalf("%d sends, want %d", len(sends), m.Segments)
	}
	var pdus [][]byte
	for i, s := range sends {
		if string(s.PDU) != string(m.Parts[i].PDU) {
			t.Fatalf("part %d not byte-identical to the stored PDU", i+1)
		}
		pdus = append(pdus, s.PDU)
		if got.Parts[i].MR != s.MR || got.Parts[i].State != gateway.PartSubmitted {
			t.Errorf("part %d: %+v", i+1, got.Parts[i])
		}
	}
	if dec, _ := gateway.DecodeParts(t, pdus); dec != body {
		t.Fatalf("decoded %q", dec)
	}
}

func TestStickySender(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a", "b", "c")
	h.start()
	first := h.submit(gateway.SendRequest{To: "+12025550143", Body: "one"})
	h.waitStatus(first.ID, gateway.StatusSent)
	owner := h.st.Message(t, first.ID).Modem
	// Other contacts in between, then more to the same contact.
	var ids []string
	for i := range 20 {
		h.submit(gateway.SendRequest{To: fmt.Sprintf("+1202555%04d", 2000+i), Body: "x"})
		ids = append(ids, h.submit(gateway.SendRequest{To: "+12025550143", Body: fmt.Sprint("again ", i)}).ID)
	}
	for _, id := range ids {
		if m := h.waitStatus(id, gateway.StatusSent); m.Modem != owner {
			t.Fatalf("message to the same contact went through %s, bound to %s", m.Modem, owner)
		}
	}
	s, err := h.st.Sticky(context.Background(), "+12025550143")
	if err != nil || s.Modem != owner || len(s.Moves) != 0 {
		t.Fatalf("sticky = %+v, %v", s, err)
	}
}

func TestStickyRaceTwoQueuedToNewContact(t *testing.T) {
	// Both messages are queued before either is sent: they must still leave
	// through one SIM.
	h := newHarness(t, testConfig(), nil, "a", "b", "c", "d")
	var ids []string
	for i := range 10 {
		ids = append(ids, h.submit(gateway.SendRequest{To: "+12025550199", Body: fmt.Sprint(i)}).ID)
	}
	h.start()
	owner := ""
	for _, id := range ids {
		m := h.waitStatus(id, gateway.StatusSent)
		if owner == "" {
			owner = m.Modem
		}
		if m.Modem != owner {
			t.Fatalf("contact texted from %s and %s", owner, m.Modem)
		}
	}
}

func TestStickyMovesWhenSIMGone(t *testing.T) {
	cfg := testConfig()
	cfg.StickyTimeout = 50 * time.Millisecond
	st := gatewaytest.NewMemStore()
	st.SetSticky(context.Background(), "+12025550143", gateway.Sticky{Modem: "a", Since: time.Now().Add(-time.Hour)})
	h := newHarness(t, cfg, st, "a", "b")
	h.devs["a"].SetUsable(false)
	h.start()
	m := h.submit(gateway.SendRequest{To: "+12025550143", Body: "still there?"})
	got := h.waitStatus(m.ID, gateway.StatusSent)
	if got.Modem != "b" {
		t.Fatalf("sent through %s, want b", got.Modem)
	}
	s, _ := st.Sticky(context.Background(), "+12025550143")
	if s.Modem != "b" || len(s.Moves) != 1 || s.Moves[0].From != "a" || s.Moves[0].To != "b" || !strings.Contains(s.Moves[0].Reason, "unavailable") {
		t.Fatalf("sticky = %+v", s)
	}
}

func TestStickyWaitsForBusySIM(t *testing.T) {
	// A SIM that is merely paced keeps its contacts.
	cfg := testConfig()
	cfg.Pacing.MinInterval = 30 * time.Millisecond
	h := newHarness(t, cfg, nil, "a", "b")
	h.st.SetSticky(context.Background(), "+12025550143", gateway.Sticky{Modem: "a"})
	h.start()
	var ids []string
	for i := range 5 {
		ids = append(ids, h.submit(gateway.SendRequest{To: "+12025550143", Body: fmt.Sprint(i)}).ID)
	}
	for _, id := range ids {
		if m := h.waitStatus(id, gateway.StatusSent); m.Modem != "a" {
			t.Fatalf("went through %s", m.Modem)
		}
	}
	if n := len(h.devs["b"].Sent()); n != 0 {
		t.Fatalf("b sent %d", n)
	}
}

func TestExplicitFromAndGroup(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.add("a", []string{"east"})
	h.add("b", []string{"east"})
	h.add("c", []string{"west"})
	h.start()
	var east []string
	for i := range 12 {
		east = append(east, h.submit(gateway.SendRequest{To: fmt.Sprintf("+1202555%04d", 3000+i), Body: "e", From: "east"}).ID)
	}
	pinned := h.submit(gateway.SendRequest{To: "+12025553999", Body: "c only", From: "c"})
	for _, id := range east {
		if m := h.waitStatus(id, gateway.StatusSent); m.Modem == "c" {
			t.Fatalf("group east message sent by c")
		}
	}
	if m := h.waitStatus(pinned.ID, gateway.StatusSent); m.Modem != "c" {
		t.Fatalf("From c sent by %s", m.Modem)
	}
}

func TestPausedModemTakesNothing(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a", "b")
	if err := h.d.Pause("a", "maintenance", time.Time{}); err != nil {
		t.Fatal(err)
	}
	h.start()
	var ids []string
	for i := range 20 {
		ids = append(ids, h.submit(gateway.SendRequest{To: fmt.Sprintf("+1202555%04d", 4000+i), Body: "x"}).ID)
	}
	for _, id := range ids {
		h.waitStatus(id, gateway.StatusSent)
	}
	if n := h.devs["a"].Attempts(); n != 0 {
		t.Fatalf("paused modem sent %d", n)
	}
	v, _ := h.d.Modem("a")
	if !v.Paused || v.PauseReason != "maintenance" {
		t.Fatalf("view %+v", v)
	}
	if err := h.d.Pause("zz", "", time.Time{}); !errors.Is(err, gateway.ErrNoModem) {
		t.Fatalf("err = %v", err)
	}
}

func TestPriorityAndSendAt(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a")
	h.d.Pause("a", "hold", time.Time{})
	h.start()
	low := h.submit(gateway.SendRequest{To: "+12025550101", Body: "low"})
	later := h.submit(gateway.SendRequest{To: "+12025550102", Body: "later", Priority: 10, SendAt: time.Now().Add(150 * time.Millisecond)})
	high := h.submit(gateway.SendRequest{To: "+12025550103", Body: "high", Priority: 5})
	h.d.Resume("a")
	h.waitStatus(low.ID, gateway.StatusSent)
	h.waitStatus(later.ID, gateway.StatusSent)
	order := map[string]time.Time{}
	for _, id := range []string{low.ID, later.ID, high.ID} {
		order[id] = h.st.Message(t, id).Parts[0].SubmittedAt
	}
	if !order[high.ID].Before(order[low.ID]) {
		t.Errorf("high priority not sent before low")
	}
	if order[later.ID].Before(h.st.Message(t, later.ID).SendAt) {
		t.Errorf("sent before send_at")
	}
}

func TestCancel(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a")
	h.start()
	m := h.submit(gateway.SendRequest{To: "+12025550101", Body: "later", SendAt: time.Now().Add(time.Hour)})
	c, err := h.d.Cancel(context.Background(), m.ID)
	if err != nil || c.Status != gateway.StatusCancelled {
		t.Fatalf("cancel: %v %v", c, err)
	}
	s := h.submit(gateway.SendRequest{To: "+12025550102", Body: "now"})
	h.waitStatus(s.ID, gateway.StatusSent)
	if _, err := h.d.Cancel(context.Background(), s.ID); !errors.Is(err, gateway.ErrNotCancellable) {
		t.Fatalf("cancel sent: %v", err)
	}
	if _, err := h.d.Cancel(context.Background(), "nope"); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("cancel unknown: %v", err)
	}
}

func TestExpiry(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a")
	h.d.Pause("a", "hold", time.Time{})
	h.start()
	m := h.submit(gateway.SendRequest{To: "+12025550101", Body: "soon stale", Validity: 30 * time.Millisecond})
	h.waitStatus(m.ID, gateway.StatusExpired)
	gatewaytest.Eventually(t, "expired event", func() bool { return h.em.Count(gateway.EventMessageExpired) == 1 })
}

func TestTemporaryFailureRetriesOnAnotherModem(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a", "b")
	h.devs["a"].SetAnswer(func(int, []byte) error { return gateway.CMSError(42) })
	h.devs["b"].SetAnswer(func(int, []byte) error { return gateway.CMSError(42) })
	h.start()
	m := h.submit(gateway.SendRequest{To: "+12025550101", Body: "x"})
	// First try fails on one modem; the other must get the retry.
	gatewaytest.Eventually(t, "two attempts", func() bool { return h.devs["a"].Attempts()+h.devs["b"].Attempts() >= 2 })
	if h.devs["a"].Attempts() == 0 || h.devs["b"].Attempts() == 0 {
		t.Fatalf("retry stayed on one modem: a=%d b=%d", h.devs["a"].Attempts(), h.devs["b"].Attempts())
	}
	got := h.waitStatus(m.ID, gateway.StatusFailed) // MaxAttempts (5) exhausted
	if got.Parts[0].Attempts != 5 || got.Parts[0].ErrorCode != 42 || got.Parts[0].ErrorClass != "cms_42" {
		t.Fatalf("part %+v", got.Parts[0])
	}
}

func TestPermanentFailureKeepsCode(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a")
	h.devs["a"].SetAnswer(func(int, []byte) error { return gateway.CMSError(304) })
	h.start()
	m := h.submit(gateway.SendRequest{To: "+12025550101", Body: strings.Repeat("z", 200)})
	got := h.waitStatus(m.ID, gateway.StatusFailed)
	if got.ErrorCode != 304 || got.Parts[0].State != gateway.PartFailed || got.Parts[1].State != gateway.PartCancelled {
		t.Fatalf("got %+v", got)
	}
	if h.devs["a"].Attempts() != 1 {
		t.Fatalf("permanent error retried: %d", h.devs["a"].Attempts())
	}
	gatewaytest.Eventually(t, "failed event", func() bool { return h.em.Count(gateway.EventMessageFailed) == 1 })
	if v := h.metric("simgate_parts_failed_total", "a", "cms_304"); v != 1 {
		t.Fatalf("failed metric %v", v)
	}
}

func TestCMS500BurstPausesModem(t *testing.T) {
	cfg := testConfig()
	cfg.MaxAttempts = 10
	h := newHarness(t, cfg, nil, "a", "b")
	h.devs["a"].SetAnswer(func(int, []byte) error { return gateway.CMSError(500) })
	// b is down until a has had its burst: a failed part goes straight to
	// another usable SIM, so with b up from the start a fast b could empty
	// the queue before a met three 500s in a row.
	h.devs["b"].SetUsable(false)
	h.start()
	var ids []string
	for i := range 20 {
		ids = append(ids, h.submit(gateway.SendRequest{To: fmt.Sprintf("+1202555%04d", 5000+i), Body: "x"}).ID)
	}
	gatewaytest.Eventually(t, "a paused", func() bool { v, _ := h.d.Modem("a"); return v.Paused })
	h.devs["b"].SetUsable(true)
	h.d.DeviceChanged("b", gateway.ModemStatus{State: gateway.ModemUp, Registration: gateway.RegHome})
	for _, id := range ids {
		if m := h.waitStatus(id, gateway.StatusSent); m.Modem != "b" {
			t.Fatalf("sent by %s", m.Modem)
		}
	}
	v, _ := h.d.Modem("a")
	if !v.Paused || !strings.Contains(v.PauseReason, "500") || v.PausedUntil.IsZero() {
		t.Fatalf("a not paused: %+v", v)
	}
	if n := h.devs["a"].Attempts(); n != cfg.CMS500Burst {
		t.Fatalf("a tried %d times, want exactly %d before the pause", n, cfg.CMS500Burst)
	}
	if _, ok := h.em.Find(gateway.EventModemPaused, "a"); !ok {
		t.Fatal("no modem.paused event")
	}
}

func TestAmbiguousSendIsUnknownNotResent(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a")
	h.devs["a"].SetAnswer(func(n int, _ []byte) error {
		if n == 0 {
			return &gateway.SendError{Ambiguous: true, Err: errors.New("port closed")}
		}
		return nil
	})
	h.start()
	m := h.submit(gateway.SendRequest{To: "+12025550101", Body: "maybe"})
	got := h.waitStatus(m.ID, gateway.StatusUnknown)
	if got.Parts[0].State != gateway.PartUnknown {
		t.Fatalf("%+v", got.Parts[0])
	}
	alo := h.submit(gateway.SendRequest{To: "+12025550102", Body: "at least once", AtLeastOnce: true})
	h.waitStatus(alo.ID, gateway.StatusSent)
	if n := h.devs["a"].Attempts(); n != 2 {
		t.Fatalf("attempts %d, want 2 (unknown not resent)", n)
	}
	if v := h.metric("simgate_parts_unknown_total", "a"); v != 1 {
		t.Fatalf("unknown metric %v", v)
	}
	if h.em.Count(gateway.EventMessageUnknown) != 1 {
		t.Fatal("no unknown event")
	}
}

func TestCrashRecovery(t *testing.T) {
	st := gatewaytest.NewMemStore()
	now := time.Now()
	mk := func(id string, alo bool, states ...gateway.PartState) {
		m := &gateway.Message{ID: id, Direction: gateway.Outbound, Contact: "+12025550101", Status: gateway.StatusSending, AtLeastOnce: alo, CreatedAt: now, Modem: "a"}
		for i, s := range states {
			enc, _ := gateway.EncodeSubmit("+12025550101", "p"+id, false, 1)
			m.Parts = append(m.Parts, gateway.Part{Seq: i + 1, PDU: enc.PDUs[0], State: s, MR: -1, ReportStatus: -1, Modem: "a"})
		}
		m.Status = gateway.RollUp(m.Parts)
		if err := st.CreateMessage(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	mk("01SUBMITTING", false, gateway.PartSubmitting)
	mk("02ALO", true, gateway.PartSubmitting)
	mk("03ASSIGNED", false, gateway.PartAssigned)
	mk("04QUEUED", false, gateway.PartQueued)
	mk("05HALF", false, gateway.PartSubmitted, gateway.PartSubmitting, gateway.PartQueued)
	h := newHarness(t, testConfig(), st, "a")
	h.start()
	h.waitStatus("02ALO", gateway.StatusSent)
	h.waitStatus("03ASSIGNED", gateway.StatusSent)
	h.waitStatus("04QUEUED", gateway.StatusSent)
	if m := st.Message(t, "01SUBMITTING"); m.Status != gateway.StatusUnknown || m.Parts[0].State != gateway.PartUnknown {
		t.Fatalf("submitting part: %+v", m)
	}
	if m := st.Message(t, "05HALF"); m.Status != gateway.StatusUnknown || m.Parts[2].State != gateway.PartCancelled {
		t.Fatalf("half sent: %+v", m)
	}
	if n := len(h.devs["a"].Sent()); n != 3 {
		t.Fatalf("sent %d parts, want 3 (unknown ones not resent)", n)
	}
	if v := h.metric("simgate_parts_unknown_total", "a"); v != 2 {
		t.Fatalf("unknown metric %v", v)
	}
	if h.em.Count(gateway.EventMessageUnknown) != 2 {
		t.Fatalf("unknown events %d", h.em.Count(gateway.EventMessageUnknown))
	}
}

func TestStatusReportsRollUp(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a")
	h.start()
	ctx := context.Background()
	two := h.submit(gateway.SendRequest{To: "+12025550101", Body: strings.Repeat("d", 200)})
	one := h.submit(gateway.SendRequest{To: "+12025550102", Body: "bad"})
	m2 := h.waitStatus(two.ID, gateway.StatusSent)
	m1 := h.waitStatus(one.ID, gateway.StatusSent)
	rep := func(mr, st int) {
		if err := h.d.HandleReport(ctx, gateway.StatusReport{Modem: "a", MR: mr, Status: st, Received: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	rep(m2.Parts[0].MR, 0x00)
	if got := h.st.Message(t, two.ID); got.Status != gateway.StatusSent || got.Parts[0].State != gateway.PartDelivered {
		t.Fatalf("after 1/2: %+v", got.Status)
	}
	rep(m2.Parts[1].MR, 0x30) // temporary: keep waiting
	if got := h.st.Message(t, two.ID); got.Parts[1].State != gateway.PartSubmitted || got.Parts[1].ReportStatus != 0x30 {
		t.Fatalf("temporary: %+v", got.Parts[1])
	}
	rep(m2.Parts[1].MR, 0x00)
	h.waitStatus(two.ID, gateway.StatusDelivered)
	rep(m1.Parts[0].MR, 0x41)
	got := h.waitStatus(one.ID, gateway.StatusFailed)
	if got.Parts[0].ErrorClass != "report" || got.Parts[0].ErrorCode != 0x41 {
		t.Fatalf("%+v", got.Parts[0])
	}
	rep(200, 0) // nothing sent with MR 200: kept for a grace period, then unmatched
	if h.em.Count(gateway.EventMessageDelivered) != 1 || h.em.Count(gateway.EventMessageFailed) != 1 {
		t.Fatal("events")
	}
	if v, _ := h.d.Modem("a"); v.Counters.Delivered != 2 || v.Counters.Sent != 3 {
		t.Fatalf("counters %+v", v.Counters)
	}
	h.stop() // flushes reports still waiting for their part
	if len(h.st.Unmatched()) != 1 || h.metric("simgate_status_reports_unmatched_total") != 1 {
		t.Fatal("unmatched report not kept")
	}
}

func TestNewContactBudgetAndDrain(t *testing.T) {
	cfg := testConfig()
	cfg.Pacing.NewContactsPerDay = 2
	h := newHarness(t, cfg, nil, "a", "b")
	h.d.Drain("b")
	h.start()
	var ids []string
	for i := range 3 {
		ids = append(ids, h.submit(gateway.SendRequest{To: fmt.Sprintf("+1202555%04d", 6000+i), Body: "x"}).ID)
	}
	h.waitStatus(ids[0], gateway.StatusSent)
	h.waitStatus(ids[1], gateway.StatusSent)
	v, _ := h.d.Modem("a")
	if v.Budget.NewContactsToday != 2 || v.Budget.NewContactsLeft != 0 {
		t.Fatalf("budget %+v", v.Budget)
	}
	// a is out of new contacts and b is draining: the third waits.
	if m := h.st.Message(t, ids[2]); m.Status != gateway.StatusQueued {
		t.Fatalf("third %s", m.Status)
	}
	h.d.Resume("b")
	if m := h.waitStatus(ids[2], gateway.StatusSent); m.Modem != "b" {
		t.Fatalf("sent by %s", m.Modem)
	}
	gatewaytest.Eventually(t, "budget saved", func() bool {
		u, _ := h.st.Budgets(context.Background())
		return u["a"].NewContacts == 2 && u["a"].Parts == 2
	})
}

func TestModemDownUpEvents(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a")
	h.start()
	h.devs["a"].SetUsable(false)
	h.d.DeviceChanged("a", gateway.ModemStatus{State: gateway.ModemDown})
	h.devs["a"].SetUsable(true)
	h.d.DeviceChanged("a", gateway.ModemStatus{State: gateway.ModemUp, Registration: gateway.RegHome})
	if h.em.Count(gateway.EventModemDown) != 1 || h.em.Count(gateway.EventModemUp) != 1 {
		t.Fatalf("events %+v", h.em.Events())
	}
}

func TestMetricsCollect(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a")
	h.start()
	m := h.submit(gateway.SendRequest{To: "+12025550101", Body: "x"})
	h.waitStatus(m.ID, gateway.StatusSent)
	n, err := testutil.GatherAndCount(h.reg, "simgate_modem_up", "simgate_modem_info", "simgate_modem_signal_dbm",
		"simgate_modem_budget_remaining", "simgate_queue_depth", "simgate_parts_sent_total", "simgate_send_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Fatalf("only %d series", n)
	}
	if probs, err := testutil.GatherAndLint(h.reg); err != nil || len(probs) > 0 {
		t.Errorf("lint: %v %+v", err, probs)
	}
}

func TestRemoveDeviceMovesContactsAfterTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.StickyTimeout = 50 * time.Millisecond
	h := newHarness(t, cfg, nil, "a", "b")
	h.start()
	first := h.submit(gateway.SendRequest{To: "+12025550143", Body: "one", From: "a"})
	h.waitStatus(first.ID, gateway.StatusSent)
	h.d.RemoveDevice("a")
	if _, err := h.d.Modem("a"); !errors.Is(err, gateway.ErrNoModem) {
		t.Fatalf("removed modem still listed: %v", err)
	}
	m := h.submit(gateway.SendRequest{To: "+12025550143", Body: "two"})
	if got := h.waitStatus(m.ID, gateway.StatusSent); got.Modem != "b" {
		t.Fatalf("sent by %s", got.Modem)
	}
	// Re-adding a device under the same name keeps its budget.
	h.add("a", nil)
	v, err := h.d.Modem("a")
	if err != nil || v.Budget.UsedToday != 1 {
		t.Fatalf("re-added a: %+v %v", v.Budget, err)
	}
}

func TestGroupFromOverridesStickyWithoutRebinding(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.add("a", []string{"east"})
	h.add("c", []string{"west"})
	h.st.SetSticky(context.Background(), "+12025550143", gateway.Sticky{Modem: "c"})
	h.start()
	m := h.submit(gateway.SendRequest{To: "+12025550143", Body: "from east", From: "east"})
	if got := h.waitStatus(m.ID, gateway.StatusSent); got.Modem != "a" {
		t.Fatalf("sent by %s, want a (group east)", got.Modem)
	}
	if s, _ := h.st.Sticky(context.Background(), "+12025550143"); s.Modem != "c" {
		t.Fatalf("binding moved to %s", s.Modem)
	}
	m2 := h.submit(gateway.SendRequest{To: "+12025550143", Body: "any"})
	if got := h.waitStatus(m2.ID, gateway.StatusSent); got.Modem != "c" {
		t.Fatalf("sticky lost: sent by %s", got.Modem)
	}
}

func TestBudgetsSurviveRestart(t *testing.T) {
	cfg := testConfig()
	cfg.Pacing.PerDay = 10
	st := gatewaytest.NewMemStore()
	today := time.Now().UTC().Format(time.DateOnly)
	st.SaveBudget(context.Background(), "a", gateway.BudgetUsage{Day: today, Parts: 9, NewContacts: 3})
	st.SaveBudget(context.Background(), "b", gateway.BudgetUsage{Day: "2000-01-01", Parts: 10}) // another day: reset
	h := newHarness(t, cfg, st, "a", "b")
	h.start()
	gatewaytest.Eventually(t, "budgets loaded", func() bool {
		v, _ := h.d.Modem("a")
		return v.Budget.UsedToday == 9
	})
	va, _ := h.d.Modem("a")
	vb, _ := h.d.Modem("b")
	if va.Budget.LeftToday != 1 || va.Budget.NewContactsToday != 3 || vb.Budget.UsedToday != 0 {
		t.Fatalf("a %+v b %+v", va.Budget, vb.Budget)
	}
	// a has room for one part: a two-part message goes through b.
	m := h.submit(gateway.SendRequest{To: "+12025550101", Body: strings.Repeat("x", 200)})
	if got := h.waitStatus(m.ID, gateway.StatusSent); got.Modem != "b" {
		t.Fatalf("sent by %s", got.Modem)
	}
}

func TestRunCloseLifecycle(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.d.Run(ctx) }()
	m := h.submit(gateway.SendRequest{To: "+12025550101", Body: "x"})
	h.waitStatus(m.ID, gateway.StatusSent)
	if err := h.d.Run(ctx); err == nil {
		t.Fatal("second Run while running succeeded")
	}
	if err := h.d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if err := h.d.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := h.d.Run(ctx); !errors.Is(err, gateway.ErrClosed) {
		t.Fatalf("run after close: %v", err)
	}
}

// Loaded is closed once Run has indexed what the store holds, not before.
func TestLoadedAfterRecovery(t *testing.T) {
	st := gatewaytest.NewMemStore()
	m := storetestMessage(t, st)
	h := newHarness(t, testConfig(), st, "a")
	h.d.Pause("a", "hold", time.Time{})
	select {
	case <-h.d.Loaded():
		t.Fatal("Loaded before Run")
	default:
	}
	h.start()
	select {
	case <-h.d.Loaded():
	case <-time.After(30 * time.Second):
		t.Fatal("not Loaded 30 s after Run")
	}
	if n := h.d.QueueLen(); n != 1 {
		t.Errorf("queue holds %d once loaded, want 1 (%s)", n, m.ID)
	}
}

// storetestMessage stores one queued outbound message in st.
func storetestMessage(t *testing.T, st *gatewaytest.MemStore) *gateway.Message {
	t.Helper()
	now := time.Now()
	m := &gateway.Message{ID: gateway.NewID(now), Direction: gateway.Outbound, Contact: "+12025550101", Body: "hi",
		Status: gateway.StatusQueued, CreatedAt: now, UpdatedAt: now,
		Parts: []gateway.Part{{Seq: 1, PDU: []byte{1}, State: gateway.PartQueued, MR: -1, ReportStatus: -1}}}
	if err := st.CreateMessage(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return m
}
