package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/simgate/simgate/api/webhook"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store"
)

var loopbackOnly = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

func openDB(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// receiver is a webhook endpoint written from the Standard Webhooks spec
// (not with this package's signer): it checks every request's signature
// itself and answers with the status fail() chooses.
type receiver struct {
	t      *testing.T
	secret string
	srv    *httptest.Server

	mu   sync.Mutex
	got  []received
	fail func(n int) int // status for the n-th request (1-based); nil = 200
}

type received struct {
	id, ts  string
	sigOK   bool
	status  int
	payload map[string]any
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{t: t, secret: secret}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// specSignatureOK implements the verification the spec describes: the signed
// content is "<webhook-id>.<webhook-timestamp>.<body>", the key is the base64
// decoding of the secret after "whsec_", the MAC is HMAC-SHA256, and the
// header holds space-separated "v1,<base64 mac>" entries.
func specSignatureOK(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "."))
	m.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, s := range strings.Split(h.Get("webhook-signature"), " ") {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var p map[string]any
	_ = json.Unmarshal(body, &p)
	r.mu.Lock()
	n := len(r.got) + 1
	status := 200
	if r.fail != nil {
		status = r.fail(n)
	}
	r.got = append(r.got, received{
		id: req.Header.Get("webhook-id"), ts: req.Header.Get("webhook-timestamp"),
		sigOK: specSignatureOK(r.secret, req.Header, body), status: status, payload: p,
	})
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) setFail(f func(int) int) {
	r.mu.Lock()
	r.fail = f
	r.mu.Unlock()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// fastConfig retries quickly in real time; tests never assert durations.
func fastConfig(allow []netip.Prefix) webhook.Config {
	return webhook.Config{
		Allow:        allow,
		Timeout:      5 * time.Second,
		BackoffBase:  time.Millisecond,
		BackoffMax:   4 * time.Millisecond,
		PollInterval: 2 * time.Millisecond,
		// The breaker has its own tests; here failures only retry.
		BreakerThreshold: 1 << 20,
	}
}

// running starts d.Run and returns a stop function that waits for it.
func running(t *testing.T, d *webhook.Deliverer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func deliveries(t *testing.T, db *store.DB, hook string) []gateway.Delivery {
	t.Helper()
	ds, err := db.ListDeliveries(context.Background(), hook, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func allSettled(t *testing.T, db *store.DB, hook string, n int) func() bool {
	return func() bool {
		ds := deliveries(t, db, hook)
		if len(ds) != n {
			return false
		}
		for _, d := range ds {
			if !d.Done && !d.Failed {
				return false
			}
		}
		return true
	}
}

// emit stores e as gateway.Events does and tells d.
func emit(t testing.TB, db *store.DB, d *webhook.Deliverer, e gateway.Event) {
	t.Helper()
	if err := db.AppendEvent(context.Background(), e); err != nil {
		t.Fatalf("AppendEvent %s: %v", e.ID, err)
	}
	d.Notify(e)
}

func putHook(t *testing.T, db *store.DB, id, url string, events ...gateway.EventType) string {
	t.Helper()
	secret := webhook.GenerateSecret()
	if err := db.PutWebhook(context.Background(), gateway.Webhook{ID: id, URL: url, Events: events, Secret: secret, Source: "api"}); err != nil {
		t.Fatal(err)
	}
	return secret
}

func TestDeliverySignedPerSpec(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "db"))
	rcv := newReceiver(t, "")
	rcv.secret = putHook(t, db, "h1", rcv.srv.URL+"/hook", gateway.EventMessageReceived)
	reg := prometheus.NewRegistry()
	d, err := webhook.New(fastConfig(loopbackOnly), db, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	running(t, d)

	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	emit(t, db, d, gateway.Event{ID: "01EVENT", Type: gateway.EventMessageReceived, Time: at, MessageID: "01MSG", Modem: "m1",
		Data: &gateway.Message{ID: "01MSG", Direction: gateway.Inbound, Body: "hi"}})
	emit(t, db, d, gateway.Event{ID: "01OTHER", Type: gateway.EventModemDown, Time: at}) // not subscribed
	eventually(t, "delivery", allSettled(t, db, "h1", 1))

	got := rcv.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	r := got[0]
	if !r.sigOK {
		t.Fatal("signature does not verify per the Standard Webhooks spec")
	}
	if !strings.HasPrefix(r.id, "msg_") {
		t.Errorf("webhook-id = %q", r.id)
	}
	if ts, err := strconv.ParseInt(r.ts, 10, 64); err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Hour {
		t.Errorf("webhook-timestamp = %q is not the unix time of the attempt", r.ts)
	}
	if r.payload["type"] != "message.received" || r.payload["timestamp"] != "2026-05-06T07:08:09Z" {
		t.Errorf("payload = %v", r.payload)
	}
	data, _ := r.payload["data"].(map[string]any)
	if data["id"] != "01EVENT" || data["message_id"] != "01MSG" || data["modem"] != "m1" {
		t.Errorf("payload data = %v", data)
	}
	if msg, _ := data["data"].(map[string]any); msg["body"] != "hi" || msg["direction"] != "in" {
		t.Errorf("the received message in the payload = %v", data["data"])
	}
	ds := deliveries(t, db, "h1")
	if !ds[0].Done || ds[0].Attempts != 1 || ds[0].LastStatus != 200 || ds[0].ID != r.id {
		t.Errorf("delivery recorded as %+v", ds[0])
	}
	if v := testutil.ToFloat64(mustCounter(t, reg, "simgate_webhook_deliveries_total", "success")); v != 1 {
		t.Errorf("success count = %v", v)
	}
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name, result string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					c.Add(m.GetCounter().GetValue())
				}
			}
		}
	}
	return c
}

func TestRetriesAfterOutageLoseNothing(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "db"))
	rcv := newReceiver(t, "")
	rcv.secret = putHook(t, db, "h1", rcv.srv.URL) // all events
	rcv.setFail(func(n int) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	reg := prometheus.NewRegistry()
	d, err := webhook.New(fastConfig(loopbackOnly), db, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	running(t, d)
	emit(t, db, d, gateway.Event{ID: "e1", Type: gateway.EventMessageDelivered, Time: time.Now()})
	eventually(t, "delivery after the outage", allSettled(t, db, "h1", 1))

	got := rcv.requests()
	if len(got) != 4 {
		t.Fatalf("receiver saw %d attempts, want 4", len(got))
	}
	for i, r := range got {
		if r.id != got[0].id {
			t.Errorf("attempt %d has webhook-id %s, first had %s (must be stable)", i+1, r.id, got[0].id)
		}
		if !r.sigOK {
			t.Errorf("attempt %d: bad signature", i+1)
		}
	}
	del := deliveries(t, db, "h1")[0]
	if !del.Done || del.Failed || del.Attempts != 4 || del.LastStatus != 200 || del.LastError != "" {
		t.Fatalf("delivery = %+v", del)
	}
	for result, want := range map[string]float64{"retry": 3, "success": 1, "failed": 0} {
		if v := testutil.ToFloat64(mustCounter(t, reg, "simgate_webhook_deliveries_total", result)); v != want {
			t.Errorf("%s = %v, want %v", result, v, want)
		}
	}
}

func TestPendingDeliveriesSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db := openDB(t, path)
	rcv := newReceiver(t, "")
	rcv.secret = putHook(t, db, "h1", rcv.srv.URL)
	rcv.setFail(func(int) int { return http.StatusBadGateway }) // receiver down

	d1, err := webhook.New(fastConfig(loopbackOnly), db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := running(t, d1)
	const n = 5
	for i := 0; i < n; i++ {
		emit(t, db, d1, gateway.Event{ID: fmt.Sprintf("e%d", i), Type: gateway.EventMessageSent, Time: time.Now()})
	}
	eventually(t, "failed attempts on every delivery", func() bool {
		ds := deliveries(t, db, "h1")
		if len(ds) != n {
			return false
		}
		for _, d := range ds {
			if d.Attempts < 2 {
				return false
			}
		}
		return true
	})
	stop()
	d1.Close()
	for _, d := range deliveries(t, db, "h1") {
		if d.Done || d.Failed || d.LastStatus != http.StatusBadGateway || d.LastError != "HTTP 502" || d.NextAttempt.IsZero() {
			t.Fatalf("during the outage: %+v", d)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: reopen the store, a new Deliverer; the receiver is back.
	db = openDB(t, path)
	rcv.setFail(nil)
	d2, err := webhook.New(fastConfig(loopbackOnly), db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	running(t, d2)
	eventually(t, "every delivery after the restart", allSettled(t, db, "h1", n))
	okIDs := map[string]bool{}
	for _, r := range rcv.requests() {
		if r.status == 200 {
			if !r.sigOK {
				t.Error("bad signature after restart")
			}
			data, _ := r.payload["data"].(map[string]any)
			okIDs[fmt.Sprint(data["id"])] = true
		}
	}
	for i := 0; i < n; i++ {
		if !okIDs[fmt.Sprintf("e%d", i)] {
			t.Errorf("event e%d never delivered", i)
		}
	}
	if p, _ := db.PendingDeliveries(context.Background()); p != 0 {
		t.Errorf("%d deliveries still pending", p)
	}
}

func TestGivesUpAfterMaxAge(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "db"))
	rcv := newReceiver(t, "")
	rcv.secret = putHook(t, db, "h1", rcv.srv.URL)
	rcv.setFail(func(int) int { return http.StatusInternalServerError })
	var mu sync.Mutex
	now := time.Now()
	cfg := fastConfig(loopbackOnly)
	cfg.MaxAge = time.Hour
	cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	reg := prometheus.NewRegistry()
	d, err := webhook.New(cfg, db, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	running(t, d)
	emit(t, db, d, gateway.Event{ID: "e1", Type: gateway.EventMessageFailed, Time: now})
	eventually(t, "a first failed attempt", func() bool {
		ds := deliveries(t, db, "h1")
		return len(ds) == 1 && ds[0].Attempts >= 1
	})
	mu.Lock()
	now = now.Add(2 * time.Hour) // the receiver has been failing for two hours
	mu.Unlock()
	eventually(t, "giving up", allSettled(t, db, "h1", 1))
	del := deliveries(t, db, "h1")[0]
	if !del.Failed || del.Done || del.LastStatus != 500 {
		t.Fatalf("delivery = %+v", del)
	}
	if v := testutil.ToFloat64(mustCounter(t, reg, "simgate_webhook_deliveries_total", "failed")); v != 1 {
		t.Errorf("failed = %v", v)
	}
}

// fakeResolver answers every name with fixed addresses, without DNS.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestSSRFRefusals(t *testing.T) {
	// A listener on a second loopback address: it must never see a connection.
	trap, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	defer trap.Close()
	var trapped sync.WaitGroup
	var trapHits int
	var trapMu sync.Mutex
	trapped.Add(1)
	go func() {
		defer trapped.Done()
		for {
			c, err := trap.Accept()
			if err != nil {
				return
			}
			trapMu.Lock()
			trapHits++
			trapMu.Unlock()
			c.Close()
		}
	}()
	trapPort := trap.Addr().(*net.TCPAddr).Port

	// The allow-listed receiver on 127.0.0.1 redirects to the trap.
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fmt.Sprintf("http://127.0.0.2:%d/x", trapPort), http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	// An unlisted receiver on loopback.
	direct := newReceiver(t, "")

	resolver := fakeResolver{
		"internal.example": {netip.MustParseAddr("10.0.0.1")},
		"trap.example":     {netip.MustParseAddr("127.0.0.2")},
	}
	tests := []struct {
		name, url, reason string
		allow             []netip.Prefix
	}{
		{"loopback", direct.srv.URL + "/hook", "loopback", nil},
		{"cloud metadata", "http://169.254.169.254/latest/meta-data/", "link-local", nil},
		{"name resolving to a private address", "http://internal.example:8080/hook", "private", nil},
		{"redirect to loopback", redirector.URL + "/hook", "loopback", loopbackOnly},
		{"name resolving to loopback outside the allow-list", fmt.Sprintf("http://trap.example:%d/", trapPort), "loopback", loopbackOnly},
		{"ipv6 loopback", "http://[::1]:9/hook", "loopback", loopbackOnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t, filepath.Join(t.TempDir(), "db"))
			putHook(t, db, "h1", tt.url)
			cfg := fastConfig(tt.allow)
			cfg.Resolver = resolver
			reg := prometheus.NewRegistry()
			d, err := webhook.New(cfg, db, nil, reg)
			if err != nil {
				t.Fatal(err)
			}
			running(t, d)
			emit(t, db, d, gateway.Event{ID: "e1", Type: gateway.EventMessageReceived, Time: time.Now()})
			eventually(t, "refusal", allSettled(t, db, "h1", 1))
			del := deliveries(t, db, "h1")[0]
			if !del.Failed || del.Done || del.Attempts != 1 || !strings.Contains(del.LastError, "not allowed") || !strings.Contains(del.LastError, tt.reason) {
				t.Fatalf("delivery = %+v, want refused as %s", del, tt.reason)
			}
			if v := testutil.ToFloat64(mustCounter(t, reg, "simgate_webhook_deliveries_total", "refused")); v != 1 {
				t.Errorf("refused = %v", v)
			}
		})
	}
	if n := len(direct.requests()); n != 0 {
		t.Errorf("unlisted loopback receiver got %d requests", n)
	}
	trap.Close()
	trapped.Wait()
	if trapHits != 0 {
		t.Errorf("the refused address received %d connections", trapHits)
	}
}

func TestCallbackURLAndSubscriptions(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "db"))
	hookRcv := newReceiver(t, "")
	hookRcv.secret = putHook(t, db, "h1", hookRcv.srv.URL, gateway.EventMessageDelivered)
	cbSecret := webhook.GenerateSecret()
	cbRcv := newReceiver(t, cbSecret)
	cfg := fastConfig(loopbackOnly)
	cfg.CallbackSecret = cbSecret
	d, err := webhook.New(cfg, db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	running(t, d)
	msg := &gateway.Message{ID: "01MSG", Direction: gateway.Outbound, CallbackURL: cbRcv.srv.URL + "/cb?token=abc"}
	if err := db.CreateMessage(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	emit(t, db, d, gateway.Event{ID: "e1", Type: gateway.EventMessageSent, MessageID: msg.ID, Data: msg, Time: time.Now()})
	emit(t, db, d, gateway.Event{ID: "e2", Type: gateway.EventMessageDelivered, MessageID: msg.ID, Data: msg, Time: time.Now()})
	cbID := webhook.CallbackPrefix + msg.CallbackURL
	eventually(t, "callbacks", allSettled(t, db, cbID, 2))
	eventually(t, "webhook", allSettled(t, db, "h1", 1))

	if got := cbRcv.requests(); len(got) != 2 || !got[0].sigOK || !got[1].sigOK {
		t.Fatalf("callback receiver got %+v", got)
	}
	got := hookRcv.requests()
	if len(got) != 1 || got[0].payload["type"] != "message.delivered" || !got[0].sigOK {
		t.Fatalf("webhook receiver got %+v", got)
	}
}

func TestBadURLAndDeletedWebhookFail(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "db"))
	putHook(t, db, "bad", "ftp://example.com/x")
	putHook(t, db, "gone", "http://127.0.0.1:9/never")
	reg := prometheus.NewRegistry()
	d, err := webhook.New(fastConfig(loopbackOnly), db, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	emit(t, db, d, gateway.Event{ID: "e1", Type: gateway.EventModemUp, Time: time.Now()})
	stop := running(t, d)
	eventually(t, "bad URL given up", allSettled(t, db, "bad", 1))
	if del := deliveries(t, db, "bad")[0]; !del.Failed || !strings.Contains(del.LastError, "http or https") {
		t.Fatalf("bad URL delivery = %+v", del)
	}
	eventually(t, "a failed attempt on the webhook about to go", func() bool {
		ds := deliveries(t, db, "gone")
		return len(ds) == 1 && ds[0].Attempts > 0
	})
	stop()
	if err := db.DeleteWebhook(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	if del := deliveries(t, db, "gone")[0]; !del.Failed || del.Done || del.LastError != "webhook deleted" {
		t.Fatalf("deleted webhook's delivery = %+v", del)
	}
	// An event stored after the webhook is gone makes no delivery for it.
	emit(t, db, d, gateway.Event{ID: "e2", Type: gateway.EventModemUp, Time: time.Now()})
	running(t, d)
	eventually(t, "e2 to the bad URL", allSettled(t, db, "bad", 2))
	if ds := deliveries(t, db, "gone"); len(ds) != 1 {
		t.Errorf("deleted webhook got %d deliveries", len(ds))
	}
}

// TestEventsToWebhook wires gateway.Events to the Deliverer as cmd does: an
// emitted event is stored in the event log and reaches the endpoint.
func TestEventsToWebhook(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "db"))
	rcv := newReceiver(t, "")
	rcv.secret = putHook(t, db, "h1", rcv.srv.URL, gateway.EventMessageReceived, gateway.EventOptOut)
	d, err := webhook.New(fastConfig(loopbackOnly), db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	running(t, d)
	ev := gateway.NewEvents(db, nil, nil)
	ev.Subscribe(d)
	defer ev.Close()
	msg := &gateway.Message{ID: "01IN", Direction: gateway.Inbound, Contact: "+12025550123", Body: "STOP", Modem: "m1"}
	ev.Emit(context.Background(), gateway.Event{Type: gateway.EventMessageReceived, MessageID: msg.ID, Modem: "m1", Data: msg})
	ev.Emit(context.Background(), gateway.Event{Type: gateway.EventOptOut, MessageID: msg.ID, Modem: "m1", Data: gateway.OptOut{Number: msg.Contact, Source: "sms"}})
	ev.Emit(context.Background(), gateway.Event{Type: gateway.EventModemUp, Modem: "m1"}) // not subscribed
	eventually(t, "two deliveries", allSettled(t, db, "h1", 2))
	got := rcv.requests()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests", len(got))
	}
	types := map[any]bool{}
	for _, r := range got {
		if !r.sigOK {
			t.Error("bad signature")
		}
		types[r.payload["type"]] = true
		data, _ := r.payload["data"].(map[string]any)
		if id, _ := data["id"].(string); len(id) != 26 {
			t.Errorf("event id %q is not a ULID", id)
		}
	}
	if !types["message.received"] || !types["optout.added"] {
		t.Fatalf("types %v", types)
	}
}
