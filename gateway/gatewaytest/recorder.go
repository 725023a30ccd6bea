package gatewaytest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

// Recorder is a gateway.Emitter that keeps every event it hears.
type Recorder struct {
	mu     sync.Mutex
	events []gateway.Event
}

var _ gateway.Emitter = (*Recorder)(nil)

// Emit records e.
func (r *Recorder) Emit(_ context.Context, e gateway.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// Events returns the events heard so far, in order.
func (r *Recorder) Events() []gateway.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// Count is the number of events of type t heard.
func (r *Recorder) Count(t gateway.EventType) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Type == t {
			n++
		}
	}
	return n
}

// Find returns the first event of type t (from modem, unless modem is "").
func (r *Recorder) Find(t gateway.EventType, modem string) (gateway.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Type == t && (modem == "" || e.Modem == modem) {
			return e, true
		}
	}
	return gateway.Event{}, false
}

// Eventually polls cond until it holds, failing the test after 10 s.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
