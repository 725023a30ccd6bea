package webhook_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simgate/simgate/api/webhook"
	"github.com/simgate/simgate/gateway"
)

// hangingEndpoint accepts requests and never answers until the test ends.
type hangingEndpoint struct {
	srv     *httptest.Server
	arrived atomic.Int64
	release chan struct{}
}

func newHanging(t *testing.T) *hangingEndpoint {
	h := &hangingEndpoint{release: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.arrived.Add(1)
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(h.release); h.srv.Close() })
	return h
}

// TestHangingEndpointDoesNotDelayOthers: with one endpoint that never
// answers (attempts there wait for a one-minute timeout) and one healthy,
// every delivery to the healthy endpoint is made while the hanging one's
// first attempts are still waiting, and the hanging endpoint never has more
// than Concurrency attempts in flight.
func TestHangingEndpointDoesNotDelayOthers(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "db"))
	hang := newHanging(t)
	ok := newReceiver(t, "")
	putHook(t, db, "a_hang", hang.srv.URL) // sorts first: its deliveries are due first
	ok.secret = putHook(t, db, "b_ok", ok.srv.URL)
	cfg := fastConfig(loopbackOnly)
	cfg.Timeout = time.Minute
	cfg.Concurrency = 2
	d, err := webhook.New(cfg, db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		emit(t, db, d, gateway.Event{ID: fmt.Sprintf("01JDQ3ZK8H00000000000000%02d", i), Type: gateway.EventMessageSent, Time: time.Now()})
	}
	running(t, d)
	eventually(t, "every delivery to the healthy endpoint", allSettled(t, db, "b_ok", n))
	if got := len(ok.requests()); got != n {
		t.Errorf("healthy endpoint got %d requests, want %d", got, n)
	}
	// The hanging endpoint's attempts have not ended: none was recorded.
	for _, del := range deliveries(t, db, "a_hang") {
		if del.Attempts != 0 || del.Done || del.Failed {
			t.Fatalf("a hanging attempt ended: %+v", del)
		}
	}
	if a := hang.arrived.Load(); a > int64(cfg.Concurrency) {
		t.Errorf("hanging endpoint has %d attempts in flight, more than Concurrency %d", a, cfg.Concurrency)
	}
}

// clock is a settable clock for the breaker test.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// TestCircuitBreaker: after BreakerThreshold failed attempts an endpoint's
// circuit opens and its other deliveries are held back without a request;
// after the cooldown one probe goes out, and its success closes the circuit
// and lets everything through.
func TestCircuitBreaker(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "db"))
	rcv := newReceiver(t, "")
	rcv.secret = putHook(t, db, "h1", rcv.srv.URL)
	rcv.setFail(func(int) int { return http.StatusInternalServerError })
	clk := &clock{}
	cfg := fastConfig(loopbackOnly)
	cfg.Now = clk.now
	cfg.Concurrency = 1 // attempts one at a time: the threshold is exact
	cfg.BreakerThreshold = 3
	cfg.BreakerBase, cfg.BreakerMax = time.Hour, time.Hour
	cfg.BackoffBase, cfg.BackoffMax = time.Minute, time.Minute // retries wait for the clock
	d, err := webhook.New(cfg, db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	for i := range n {
		emit(t, db, d, gateway.Event{ID: fmt.Sprintf("01JDQ3ZK8H00000000000000%02d", i), Type: gateway.EventMessageSent, Time: time.Now()})
	}
	running(t, d)
	eventually(t, "every delivery tried or held back once", func() bool {
		ds := deliveries(t, db, "h1")
		if len(ds) != n {
			return false
		}
		for _, del := range ds {
			if del.Attempts == 0 {
				return false
			}
		}
		return true
	})
	if got := len(rcv.requests()); got != 3 {
		t.Errorf("the failing endpoint got %d requests, want 3 (the threshold)", got)
	}
	held := 0
	for _, del := range deliveries(t, db, "h1") {
		if strings.HasPrefix(del.LastError, "circuit open") {
			held++
			if !del.NextAttempt.After(clk.now().Add(50 * time.Minute)) {
				t.Errorf("held-back delivery due again at %s, before the circuit half-opens", del.NextAttempt)
			}
		}
	}
	if held != n-3 {
		t.Errorf("%d deliveries held back, want %d", held, n-3)
	}

	// The endpoint recovers; after the cooldown one probe closes the circuit.
	rcv.setFail(nil)
	clk.advance(2 * time.Hour)
	d.Wake()
	eventually(t, "every delivery after the circuit closed", allSettled(t, db, "h1", n))
	for _, del := range deliveries(t, db, "h1") {
		if !del.Done {
			t.Errorf("delivery not done: %+v", del)
		}
	}
	if got := len(rcv.requests()); got != 3+n {
		t.Errorf("requests = %d, want %d (3 failed, then one each)", got, 3+n)
	}
}

// TestStoredEventDeliveredAfterCrash: an event is stored (gateway.Events
// appended it) but the process dies before any delivery is made; after the
// restart the deliverer reads it from the outbox and delivers it, once.
func TestStoredEventDeliveredAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db := openDB(t, path)
	rcv := newReceiver(t, "")
	rcv.secret = putHook(t, db, "h1", rcv.srv.URL)
	ev := gateway.NewEvents(db, nil, nil) // no notifier: it dies before one runs
	ev.Emit(t.Context(), gateway.Event{Type: gateway.EventMessageFailed, MessageID: "01MSG"})
	if err := ev.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil { // the crash: only what was committed is left
		t.Fatal(err)
	}

	db = openDB(t, path)
	d, err := webhook.New(fastConfig(loopbackOnly), db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := running(t, d)
	eventually(t, "the stored event delivered after the restart", allSettled(t, db, "h1", 1))
	got := rcv.requests()
	if len(got) != 1 || got[0].payload["type"] != "message.failed" || !got[0].sigOK {
		t.Fatalf("receiver got %+v", got)
	}
	stop()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Another restart delivers nothing again: the cursor moved with the delivery.
	db = openDB(t, path)
	d, err = webhook.New(fastConfig(loopbackOnly), db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	running(t, d)
	if err := db.AppendEvent(t.Context(), gateway.Event{Type: gateway.EventModemUp}); err != nil {
		t.Fatal(err)
	}
	d.Notify(gateway.Event{})
	eventually(t, "the next event", allSettled(t, db, "h1", 2))
	if n := len(rcv.requests()); n != 2 {
		t.Errorf("receiver got %d requests, want 2 (the old event once, the new one)", n)
	}
}
