package gateway_test

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/gatewaytest"
	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/tpdu"
)

// inbSender is a Sender that records requests and, like Dispatcher.Submit,
// returns the first message again for a reused IdempotencyKey.
type inbSender struct {
	mu     sync.Mutex
	reqs   []gateway.SendRequest
	exempt []bool
	byKey  map[string]*gateway.Message
}

func (s *inbSender) Submit(ctx context.Context, r gateway.SendRequest) (*gateway.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byKey == nil {
		s.byKey = map[string]*gateway.Message{}
	}
	if m, ok := s.byKey[r.IdempotencyKey]; ok && r.IdempotencyKey != "" {
		return m, nil
	}
	s.reqs = append(s.reqs, r)
	s.exempt = append(s.exempt, r.OptOutReply)
	m := &gateway.Message{ID: "reply-" + r.IdempotencyKey, Contact: r.To, Body: r.Body}
	s.byKey[r.IdempotencyKey] = m
	return m, nil
}

func (s *inbSender) sent() []gateway.SendRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gateway.SendRequest(nil), s.reqs...)
}

// inbEmitter records events.
type inbEmitter struct {
	mu sync.Mutex
	ev []gateway.Event
}

func (e *inbEmitter) Emit(_ context.Context, ev gateway.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ev = append(e.ev, ev)
}

func (e *inbEmitter) of(t gateway.EventType) []gateway.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []gateway.Event
	for _, ev := range e.ev {
		if ev.Type == t {
			out = append(out, ev)
		}
	}
	return out
}

// inbReports records status reports.
type inbReports struct {
	mu  sync.Mutex
	got []gateway.StatusReport
}

func (r *inbReports) HandleReport(_ context.Context, sr gateway.StatusReport) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, sr)
	return nil
}

// failingComplete fails the next n CompleteInbound calls: a crash after the
// keyword was handled but before the message was stored.
type failingComplete struct {
	gateway.Store
	mu sync.Mutex
	n  int
}

func (f *failingComplete) CompleteInbound(ctx context.Context, m *gateway.Message, key string) error {
	f.mu.Lock()
	fail := f.n > 0
	if fail {
		f.n--
	}
	f.mu.Unlock()
	if fail {
		return errors.New("injected crash")
	}
	return f.Store.CompleteInbound(ctx, m, key)
}

type inbHarness struct {
	st      gateway.Store
	in      *gateway.Inbox
	sender  *inbSender
	em      *inbEmitter
	reports *inbReports
	reg     *prometheus.Registry
	now     time.Time
}

var inbT0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

func newInbHarness(t *testing.T, st gateway.Store) *inbHarness {
	t.Helper()
	if st == nil {
		st = inbOpenStore(t)
	}
	h := &inbHarness{st: st, sender: &inbSender{}, em: &inbEmitter{}, reports: &inbReports{}, reg: prometheus.NewRegistry(), now: inbT0}
	h.in = gateway.NewInbox(gateway.InboxConfig{
		DefaultRegion: "US",
		Registerer:    h.reg,
		Now:           func() time.Time { return h.now },
	}, st, h.reports, h.sender, h.em)
	return h
}

func (h *inbHarness) handle(t *testing.T, modem string, pdu []byte) {
	t.Helper()
	if err := h.in.HandlePDU(context.Background(), gateway.InboundPDU{Modem: modem, TPDU: pdu, Received: h.now}); err != nil {
		t.Fatalf("HandlePDU: %v", err)
	}
}

func (h *inbHarness) inbound(t *testing.T) []*gateway.Message {
	t.Helper()
	page, err := h.st.ListMessages(context.Background(), gateway.MessageFilter{Direction: gateway.Inbound, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return page.Messages
}

func (h *inbHarness) pendingSets(t *testing.T) int {
	t.Helper()
	sets, err := h.st.StaleFragments(context.Background(), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return len(sets)
}

// inbDeliver encodes body from sender as SMS-DELIVER TPDUs with the library's
// encoder (concatenated with an 8-bit reference when long).
func inbDeliver(t testing.TB, from, body string, scts time.Time, opts ...sms.EncoderOption) [][]byte {
	t.Helper()
	opts = append([]sms.EncoderOption{sms.AsDeliver, sms.From(from)}, opts...)
	tps, err := sms.Encode([]byte(body), opts...)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := range tps {
		if !strings.HasPrefix(from, "+") {
			tps[i].OA = tpdu.Address{TOA: 0x81, Addr: from} // TON unknown, ISDN plan
		}
		tps[i].SCTS = tpdu.Timestamp{Time: scts}
		b, err := tps[i].MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// inbConcat builds concatenated SMS-DELIVERs by hand: 7-bit text split into
// chunks, each with a concatenation IE (IEI 0x00 8-bit or 0x08 16-bit ref).
func inbConcat(t testing.TB, from string, chunks []string, ref int, ref16 bool, scts time.Time) [][]byte {
	t.Helper()
	var out [][]byte
	for i, c := range chunks {
		ie := tpdu.InformationElement{ID: 0x00, Data: []byte{byte(ref), byte(len(chunks)), byte(i + 1)}}
		if ref16 {
			d := make([]byte, 4)
			binary.BigEndian.PutUint16(d, uint16(ref))
			d[2], d[3] = byte(len(chunks)), byte(i+1)
			ie = tpdu.InformationElement{ID: 0x08, Data: d}
		}
		ud, _, alpha := tpdu.EncodeUserData([]byte(c))
		if alpha != tpdu.Alpha7Bit {
			t.Fatalf("chunk %q not GSM-7", c)
		}
		tp, err := tpdu.NewDeliver(tpdu.WithOA(tpdu.NewAddress(tpdu.FromNumber(from))))
		if err != nil {
			t.Fatal(err)
		}
		tp.SCTS = tpdu.Timestamp{Time: scts}
		tp.SetUDH(tpdu.UserDataHeader{ie})
		tp.SetUD(ud)
		b, err := tp.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestInboxSingleKnownPDU(t *testing.T) {
	// An SMS-DELIVER from the GSM 03.40 literature (SMSC address stripped):
	// from +31641600986, GSM-7 "How are you?", SCTS 2002-08-26 19:37:41 with
	// time zone octet 0x08 (sign bit set, zero quarters: UTC).
	pdu, _ := hex.DecodeString("040B911346610089F60000208062917314080CC8F71D14969741F977FD07")
	h := newInbHarness(t, nil)
	h.handle(t, "m1", pdu)

	msgs := h.inbound(t)
	if len(msgs) != 1 {
		t.Fatalf("stored %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Body != "How are you?" || m.Contact != "+31641600986" || m.ContactRaw != "+31641600986" ||
		m.Modem != "m1" || m.Direction != gateway.Inbound || m.Status != gateway.StatusReceived || m.Encoding != "gsm7" || m.Segments != 1 {
		t.Fatalf("stored %+v", m)
	}
	wantSCTS := time.Date(2002, 8, 26, 19, 37, 41, 0, time.UTC)
	if !m.SentAt.Equal(wantSCTS) {
		t.Errorf("SentAt = %v, want %v", m.SentAt, wantSCTS)
	}
	if !m.CreatedAt.Equal(inbT0) {
		t.Errorf("CreatedAt = %v, want %v", m.CreatedAt, inbT0)
	}
	if ev := h.em.of(gateway.EventMessageReceived); len(ev) != 1 || ev[0].MessageID != m.ID || ev[0].Modem != "m1" {
		t.Errorf("message.received events = %+v", ev)
	}
	if n := testutil.ToFloat64(inbCounter(t, h.reg, "simgate_messages_received_total", "modem", "m1")); n != 1 {
		t.Errorf("simgate_messages_received_total{modem=m1} = %v, want 1", n)
	}
}

// inbCounter reads one labelled counter from reg.
func inbCounter(t *testing.T, reg *prometheus.Registry, name, label, value string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					c := prometheus.NewCounter(prometheus.CounterOpts{Name: name})
					c.Add(m.GetCounter().GetValue())
					return c
				}
			}
		}
	}
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name})
}

func TestInboxDuplicateReadIsNoOp(t *testing.T) {
	h := newInbHarness(t, nil)
	pdu := inbDeliver(t, "+12025550123", "hello there", inbT0)[0]
	h.handle(t, "m1", pdu)
	h.now = h.now.Add(time.Minute) // re-read after a crash, a minute later
	h.handle(t, "m1", pdu)
	if n := len(h.inbound(t)); n != 1 {
		t.Fatalf("stored %d messages after a re-read, want 1", n)
	}
	if n := len(h.em.of(gateway.EventMessageReceived)); n != 1 {
		t.Fatalf("%d message.received events, want 1", n)
	}
	// The same PDU on another modem is another message.
	h.handle(t, "m2", pdu)
	if n := len(h.inbound(t)); n != 2 {
		t.Fatalf("stored %d messages, want 2", n)
	}
}

func TestInboxBodies(t *testing.T) {
	long := strings.Repeat("0123456789", 20) + " end"
	tests := []struct {
		name, from, body  string
		contact, encoding string
		opts              []sms.EncoderOption
	}{
		{name: "gsm7 extension table", from: "+12025550123", body: "Price 5€ [x] {y} ~ | \\ ^", contact: "+12025550123", encoding: "gsm7"},
		{name: "ucs2 emoji", from: "+12025550123", body: "Hi 👋🏽 there 🎉", contact: "+12025550123", encoding: "ucs2"},
		{name: "ucs2 long emoji", from: "+12025550123", body: strings.Repeat("😀 ünïcödé ", 20), contact: "+12025550123", encoding: "ucs2"},
		{name: "gsm7 long", from: "+12025550123", body: long, contact: "+12025550123", encoding: "gsm7"},
		{name: "national sender normalised", from: "2025550123", body: "hi", contact: "+12025550123", encoding: "gsm7"},
		{name: "short code kept", from: "72345", body: "code 1234", contact: "72345", encoding: "gsm7"},
		{name: "international digits with TON unknown", from: "4915112345678", body: "hallo", contact: "+4915112345678", encoding: "gsm7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newInbHarness(t, nil)
			pdus := inbDeliver(t, tt.from, tt.body, inbT0, tt.opts...)
			for _, p := range pdus {
				h.handle(t, "m1", p)
			}
			msgs := h.inbound(t)
			if len(msgs) != 1 {
				t.Fatalf("stored %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if m.Body != tt.body {
				t.Errorf("body = %q, want %q", m.Body, tt.body)
			}
			if m.Contact != tt.contact || m.Encoding != tt.encoding || m.Segments != len(pdus) {
				t.Errorf("contact %q encoding %q segments %d; want %q %q %d", m.Contact, m.Encoding, m.Segments, tt.contact, tt.encoding, len(pdus))
			}
			if h.pendingSets(t) != 0 {
				t.Errorf("fragments left behind")
			}
		})
	}
}

func TestInboxAlphanumericSender(t *testing.T) {
	h := newInbHarness(t, nil)
	tp, err := tpdu.NewDeliver()
	if err != nil {
		t.Fatal(err)
	}
	tp.OA = tpdu.Address{TOA: 0xD0, Addr: "MyBank"} // TON alphanumeric
	tp.SCTS = tpdu.Timestamp{Time: inbT0}
	ud, _, _ := tpdu.EncodeUserData([]byte("STOP"))
	tp.SetUD(ud)
	pdu, err := tp.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	h.handle(t, "m1", pdu)
	msgs := h.inbound(t)
	if len(msgs) != 1 || msgs[0].Contact != "MyBank" || msgs[0].Body != "STOP" {
		t.Fatalf("stored %+v", msgs)
	}
	// A STOP from a name is no opt-out and gets no reply.
	if len(h.sender.sent()) != 0 || len(h.em.of(gateway.EventOptOut)) != 0 {
		t.Fatalf("alphanumeric STOP treated as opt-out")
	}
}

func TestInbox8BitData(t *testing.T) {
	h := newInbHarness(t, nil)
	data := []byte{0x00, 0xff, 0x10, 'h', 'i'}
	pdu := inbDeliver(t, "+12025550123", string(data), inbT0, sms.As8Bit)[0]
	h.handle(t, "m1", pdu)
	m := h.inbound(t)[0]
	if m.Encoding != "8bit" || m.Metadata["data_hex"] != hex.EncodeToString(data) {
		t.Fatalf("8-bit message stored as %+v", m)
	}
}

func TestInboxMultipartOutOfOrder(t *testing.T) {
	for _, ref16 := range []bool{false, true} {
		name := "8-bit ref"
		if ref16 {
			name = "16-bit ref"
		}
		t.Run(name, func(t *testing.T) {
			h := newInbHarness(t, nil)
			chunks := []string{"The first part, ", "the second part, ", "and the end."}
			pdus := inbConcat(t, "+12025550123", chunks, 0x1234&0xff+boolInt(ref16)*0x1200, ref16, inbT0)
			h.handle(t, "m1", pdus[2])
			h.handle(t, "m1", pdus[0])
			if n := len(h.inbound(t)); n != 0 {
				t.Fatalf("message delivered with a part missing")
			}
			if h.pendingSets(t) != 1 {
				t.Fatalf("want 1 pending fragment set")
			}
			h.handle(t, "m1", pdus[0]) // a duplicate part changes nothing
			h.handle(t, "m1", pdus[1])
			msgs := h.inbound(t)
			if len(msgs) != 1 {
				t.Fatalf("stored %d messages, want 1", len(msgs))
			}
			if want := strings.Join(chunks, ""); msgs[0].Body != want || msgs[0].Segments != 3 {
				t.Fatalf("body %q segments %d, want %q 3", msgs[0].Body, msgs[0].Segments, want)
			}
			if msgs[0].Metadata["incomplete"] != "" {
				t.Fatalf("complete message marked incomplete")
			}
			if h.pendingSets(t) != 0 {
				t.Fatalf("fragments not deleted with the message")
			}
			if n := len(h.em.of(gateway.EventMessageReceived)); n != 1 {
				t.Fatalf("%d events, want 1", n)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestInboxMultipartSameRefOtherSender(t *testing.T) {
	h := newInbHarness(t, nil)
	a := inbConcat(t, "+12025550123", []string{"a1 ", "a2"}, 7, false, inbT0)
	b := inbConcat(t, "+12025550124", []string{"b1 ", "b2"}, 7, false, inbT0)
	for _, p := range [][]byte{a[0], b[1], b[0], a[1]} {
		h.handle(t, "m1", p)
	}
	bodies := map[string]string{}
	for _, m := range h.inbound(t) {
		bodies[m.Contact] = m.Body
	}
	if bodies["+12025550123"] != "a1 a2" || bodies["+12025550124"] != "b1 b2" {
		t.Fatalf("bodies = %v", bodies)
	}
}

func TestInboxMultipartAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simgate.db")
	pdus := inbConcat(t, "+12025550123", []string{"before the restart, ", "after it."}, 42, false, inbT0)
	db := inbOpenStoreAt(t, path)
	h1 := newInbHarness(t, db)
	h1.handle(t, "m1", pdus[1])
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// The process restarts: the store is reopened, a new Inbox runs on it.
	h2 := newInbHarness(t, inbOpenStoreAt(t, path))
	h2.handle(t, "m1", pdus[0])
	msgs := h2.inbound(t)
	if len(msgs) != 1 || msgs[0].Body != "before the restart, after it." {
		t.Fatalf("after restart: %+v", msgs)
	}
	if h2.pendingSets(t) != 0 {
		t.Fatalf("fragments left after completion")
	}
}

func TestInboxPartReReadAfterCompletion(t *testing.T) {
	h := newInbHarness(t, nil)
	pdus := inbConcat(t, "+12025550123", []string{"one ", "two"}, 9, false, inbT0)
	h.handle(t, "m1", pdus[0])
	h.handle(t, "m1", pdus[1])
	// Crash before AT+CMGD of the last part: it is read again later.
	h.now = h.now.Add(time.Hour)
	h.handle(t, "m1", pdus[1])
	if h.pendingSets(t) != 0 {
		t.Fatalf("a re-read part of a delivered message started a new set")
	}
	h.now = h.now.Add(48 * time.Hour)
	if err := h.in.FlushStale(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.inbound(t)); n != 1 {
		t.Fatalf("stored %d messages, want 1", n)
	}
}

func TestInboxStaleFlushDeliversWhatCame(t *testing.T) {
	h := newInbHarness(t, nil)
	pdus := inbConcat(t, "+12025550123", []string{"first ", "lost ", "third"}, 5, false, inbT0)
	h.handle(t, "m1", pdus[0])
	h.handle(t, "m1", pdus[2])

	h.now = h.now.Add(23 * time.Hour) // not yet
	if err := h.in.FlushStale(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.inbound(t)); n != 0 {
		t.Fatalf("flushed before the timeout")
	}
	h.now = h.now.Add(2 * time.Hour)
	// Run flushes once at start.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.in.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(h.inbound(t)) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	msgs := h.inbound(t)
	if len(msgs) != 1 {
		t.Fatalf("stored %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Body != "first …third" || m.Metadata["incomplete"] != "true" || m.Metadata["parts_total"] != "3" || m.Metadata["parts_received"] != "1,3" || m.Segments != 2 {
		t.Fatalf("flushed message %+v", m)
	}
	if h.pendingSets(t) != 0 {
		t.Fatalf("flushed fragments left behind")
	}
	if n := len(h.em.of(gateway.EventMessageReceived)); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
	// A second flush finds nothing.
	if err := h.in.FlushStale(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.inbound(t)); n != 1 {
		t.Fatalf("second flush stored again")
	}
}

func TestInboxStopStartHelp(t *testing.T) {
	const num = "+12025550123"
	h := newInbHarness(t, nil)
	ctx := context.Background()

	stop := inbDeliver(t, num, " Stop ", inbT0)[0]
	h.handle(t, "sim7", stop)
	out, err := h.st.OptedOut(ctx, num)
	if err != nil || !out {
		t.Fatalf("after STOP: opted out = %v, %v", out, err)
	}
	sent := h.sender.sent()
	if len(sent) != 1 {
		t.Fatalf("%d replies after STOP, want 1", len(sent))
	}
	r := sent[0]
	if r.To != num || r.From != "sim7" || r.Body != gateway.DefaultStopReply || r.Agent != gateway.OptOutAgent || r.IdempotencyKey == "" {
		t.Fatalf("confirmation = %+v", r)
	}
	if !h.sender.exempt[0] {
		t.Fatalf("confirmation not sent under WithOptOutExempt")
	}
	if ev := h.em.of(gateway.EventOptOut); len(ev) != 1 {
		t.Fatalf("optout.added events = %d", len(ev))
	}
	if n := testutil.ToFloat64(inbCounter(t, h.reg, "simgate_optouts_total", "action", "added")); n != 1 {
		t.Errorf("simgate_optouts_total{action=added} = %v", n)
	}

	// Re-reading the same PDU: nothing more.
	h.handle(t, "sim7", stop)
	// Another STOP while opted out: stored, but no second confirmation.
	h.now = h.now.Add(time.Minute)
	h.handle(t, "sim7", inbDeliver(t, num, "QUIT", inbT0.Add(time.Minute))[0])
	if n := len(h.sender.sent()); n != 1 {
		t.Fatalf("%d replies after repeated STOPs, want exactly 1", n)
	}
	if n := len(h.em.of(gateway.EventOptOut)); n != 1 {
		t.Fatalf("%d optout.added events, want 1", n)
	}

	// HELP while opted out is answered.
	h.now = h.now.Add(time.Minute)
	h.handle(t, "sim7", inbDeliver(t, num, "help", inbT0.Add(2*time.Minute))[0])
	sent = h.sender.sent()
	if len(sent) != 2 || sent[1].Body != gateway.DefaultHelpReply || !h.sender.exempt[1] {
		t.Fatalf("HELP reply: %+v", sent)
	}
	if out, _ := h.st.OptedOut(ctx, num); !out {
		t.Fatalf("HELP changed the opt-out")
	}

	// START re-subscribes.
	h.now = h.now.Add(time.Minute)
	h.handle(t, "sim7", inbDeliver(t, num, "Unstop", inbT0.Add(3*time.Minute))[0])
	if out, _ := h.st.OptedOut(ctx, num); out {
		t.Fatalf("still opted out after UNSTOP")
	}
	sent = h.sender.sent()
	if len(sent) != 3 || sent[2].Body != gateway.DefaultStartReply {
		t.Fatalf("START reply: %+v", sent)
	}
	if n := len(h.em.of(gateway.EventOptIn)); n != 1 {
		t.Fatalf("%d optout.removed events, want 1", n)
	}
	// Every keyword message is itself stored.
	if n := len(h.inbound(t)); n != 4 {
		t.Fatalf("stored %d inbound messages, want 4", n)
	}
}

func TestInboxStopSurvivesCrashBeforeStore(t *testing.T) {
	const num = "+12025550123"
	st := &failingComplete{Store: inbOpenStore(t), n: 1}
	h := newInbHarness(t, st)
	stop := inbDeliver(t, num, "STOP", inbT0)[0]
	err := h.in.HandlePDU(context.Background(), gateway.InboundPDU{Modem: "m1", TPDU: stop, Received: h.now})
	if err == nil {
		t.Fatal("HandlePDU returned nil although the message was not stored")
	}
	// The driver keeps the PDU on the SIM and reads it again (after a restart).
	h2 := newInbHarness(t, st)
	h2.sender = h.sender
	h2.in = gateway.NewInbox(gateway.InboxConfig{DefaultRegion: "US"}, st, h2.reports, h.sender, h2.em)
	h2.handle(t, "m1", stop)
	if out, _ := st.OptedOut(context.Background(), num); !out {
		t.Fatal("not opted out")
	}
	if n := len(h.sender.sent()); n != 1 {
		t.Fatalf("%d confirmations, want exactly 1", n)
	}
	if n := len(h2.inbound(t)); n != 1 {
		t.Fatalf("stored %d messages, want 1", n)
	}
	// The repaired read finishes the job: the event is not lost.
	if n := len(h2.em.of(gateway.EventOptOut)); n != 1 {
		t.Fatalf("%d optout.added events after recovery, want 1", n)
	}
	list, err := st.ListOptOuts(context.Background(), "", 10)
	if err != nil || len(list) != 1 || list[0].Keyword != "STOP" || list[0].Source != "sms" || list[0].Modem != "m1" || !list[0].At.Equal(inbT0) {
		t.Fatalf("opt-out entries %+v, %v", list, err)
	}
}

func TestInboxConfiguredKeywords(t *testing.T) {
	h := newInbHarness(t, nil)
	h.in = gateway.NewInbox(gateway.InboxConfig{DefaultRegion: "US", StopWords: []string{"ALTO"}, StopReply: "Baja confirmada."}, h.st, nil, h.sender, h.em)
	h.handle(t, "m1", inbDeliver(t, "+12025550123", "stop", inbT0)[0])
	h.handle(t, "m1", inbDeliver(t, "+12025550124", "alto", inbT0)[0])
	if out, _ := h.st.OptedOut(context.Background(), "+12025550123"); out {
		t.Fatal("unconfigured STOP opted out")
	}
	if out, _ := h.st.OptedOut(context.Background(), "+12025550124"); !out {
		t.Fatal("configured ALTO did not opt out")
	}
	if s := h.sender.sent(); len(s) != 1 || s[0].Body != "Baja confirmada." {
		t.Fatalf("replies %+v", s)
	}
}

func TestInboxStatusReport(t *testing.T) {
	h := newInbHarness(t, nil)
	tp, err := tpdu.New(tpdu.SmsStatusReport)
	if err != nil {
		t.Fatal(err)
	}
	tp.MR = 0x2a
	tp.RA = tpdu.NewAddress(tpdu.FromNumber("+12025550123"))
	tp.SCTS = tpdu.Timestamp{Time: inbT0}
	tp.DT = tpdu.Timestamp{Time: inbT0.Add(time.Second)}
	tp.ST = 0x00
	pdu, err := tp.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.in.HandlePDU(context.Background(), gateway.InboundPDU{Modem: "m3", Kind: gateway.KindStatusReport, TPDU: pdu, Received: inbT0}); err != nil {
		t.Fatal(err)
	}
	want := gateway.StatusReport{Modem: "m3", MR: 42, Status: 0, Recipient: "+12025550123", Received: inbT0}
	if len(h.reports.got) != 1 || h.reports.got[0] != want {
		t.Fatalf("reports = %+v, want %+v", h.reports.got, want)
	}
	if n := len(h.inbound(t)); n != 0 {
		t.Fatalf("a status report was stored as a message")
	}
}

func TestInboxUndecodableKept(t *testing.T) {
	h := newInbHarness(t, nil)
	garbage := []byte{0x04, 0x0b, 0x91} // truncated address
	h.handle(t, "m1", garbage)
	h.handle(t, "m1", garbage) // re-read: still one record
	msgs := h.inbound(t)
	if len(msgs) != 1 || msgs[0].Metadata["undecodable"] == "" || msgs[0].Metadata["tpdu_hex"] != hex.EncodeToString(garbage) {
		t.Fatalf("undecodable PDU stored as %+v", msgs)
	}
	if n := len(h.em.of(gateway.EventMessageReceived)); n != 0 {
		t.Fatalf("undecodable PDU emitted message.received")
	}
}

func FuzzHandlePDU(f *testing.F) {
	seed, _ := hex.DecodeString("040B911346610089F60000208062917314080CC8F71D14969741F977FD07")
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{0x00})
	f.Add([]byte{0x06, 0x2a, 0x0b, 0x91})
	f.Add([]byte{0x44, 0x0b, 0x91, 0x21, 0x43, 0x65, 0x87, 0x09, 0xf1, 0x00, 0x08, 0x62, 0x30, 0x40, 0x01, 0x00, 0x00, 0x00, 0x0a, 0x05, 0x00, 0x03, 0x07, 0x02, 0x01, 0xd8, 0x3d, 0xde, 0x00})
	st := gatewaytest.NewMemStore()
	in := gateway.NewInbox(gateway.InboxConfig{DefaultRegion: "US"}, st, &inbReports{}, &inbSender{}, &inbEmitter{})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Every input is either handled or kept as undecodable: the SIM slot
		// must always be freed.
		if err := in.HandlePDU(context.Background(), gateway.InboundPDU{Modem: "fz", TPDU: b, Received: inbT0}); err != nil {
			t.Fatalf("HandlePDU(%x) = %v", b, err)
		}
		_ = in.FlushStale(context.Background())
	})
}

// TestInboxUCS2SurrogateSplitAcrossParts: a phone may cut a UTF-16
// surrogate pair between two parts; the emoji must survive reassembly.
func TestInboxUCS2SurrogateSplitAcrossParts(t *testing.T) {
	h := newInbHarness(t, nil)
	// "A" + U+1F600 (D83D DE00) + "B", cut between D83D and DE00.
	uds := [][]byte{{0x00, 0x41, 0xD8, 0x3D}, {0xDE, 0x00, 0x00, 0x42}}
	var pdus [][]byte
	for i, ud := range uds {
		tp, err := tpdu.NewDeliver(tpdu.WithOA(tpdu.NewAddress(tpdu.FromNumber("+12025550123"))))
		if err != nil {
			t.Fatal(err)
		}
		tp.SCTS = tpdu.Timestamp{Time: inbT0}
		tp.DCS = tpdu.DcsUCS2Data
		tp.SetUDH(tpdu.UserDataHeader{{ID: 0x00, Data: []byte{77, 2, byte(i + 1)}}})
		tp.SetUD(ud)
		b, err := tp.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		pdus = append(pdus, b)
	}
	h.handle(t, "m1", pdus[1])
	h.handle(t, "m1", pdus[0])
	msgs := h.inbound(t)
	if len(msgs) != 1 || msgs[0].Body != "A😀B" || msgs[0].Encoding != "ucs2" {
		t.Fatalf("stored %+v", msgs)
	}
}
