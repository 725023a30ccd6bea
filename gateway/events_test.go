package gateway

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// evMemStore is an EventStore in memory.
type evMemStore struct {
	mu     sync.Mutex
	events []Event
	err    error
}

func (s *evMemStore) AppendEvent(_ context.Context, e Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.events = append(s.events, e)
	return nil
}

// evRecorder is a Notifier that records events; block, if set, holds every Notify.
type evRecorder struct {
	mu     sync.Mutex
	got    []Event
	block  chan struct{}
	notify chan struct{}
}

func newEvRecorder() *evRecorder { return &evRecorder{notify: make(chan struct{}, 1000)} }

func (r *evRecorder) Notify(e Event) {
	if r.block != nil {
		<-r.block
	}
	r.mu.Lock()
	r.got = append(r.got, e)
	r.mu.Unlock()
	r.notify <- struct{}{}
}

func (r *evRecorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.got...)
}

func (r *evRecorder) wait(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for len(r.events()) < n {
		select {
		case <-r.notify:
		case <-timeout:
			t.Fatalf("got %d events, want %d", len(r.events()), n)
		}
	}
}

func TestEventsEmitStoresAndNotifiesInOrder(t *testing.T) {
	st := &evMemStore{}
	reg := prometheus.NewRegistry()
	ev := NewEvents(st, nil, reg)
	a, b := newEvRecorder(), newEvRecorder()
	ev.Subscribe(a)
	ev.Subscribe(b)

	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev.Emit(context.Background(), Event{Type: EventMessageReceived, MessageID: "m1"})
	ev.Emit(context.Background(), Event{ID: "given", Type: EventOptOut, Time: at})
	for i := 0; i < 50; i++ {
		ev.Emit(context.Background(), Event{Type: EventMessageSent})
	}
	a.wait(t, 52)
	b.wait(t, 52)
	if err := ev.Close(); err != nil {
		t.Fatal(err)
	}

	if len(st.events) != 52 {
		t.Fatalf("stored %d events, want 52", len(st.events))
	}
	first := st.events[0]
	if first.ID == "" || len(first.ID) != 26 || first.Time.IsZero() {
		t.Errorf("first event not given an ID and time: %+v", first)
	}
	if st.events[1].ID != "given" || !st.events[1].Time.Equal(at) {
		t.Errorf("given ID/time overwritten: %+v", st.events[1])
	}
	for _, r := range []*evRecorder{a, b} {
		got := r.events()
		for i := range got {
			if got[i].ID != st.events[i].ID {
				t.Fatalf("notifier saw event %d = %s, store has %s (order lost)", i, got[i].ID, st.events[i].ID)
			}
		}
	}
	if n := testutil.ToFloat64(ev.emitted.WithLabelValues(string(EventMessageSent))); n != 50 {
		t.Errorf("simgate_events_total{type=message.sent} = %v, want 50", n)
	}
}

func TestEventsEmitDoesNotWaitForSlowNotifier(t *testing.T) {
	ev := NewEvents(&evMemStore{}, nil, nil)
	slow := newEvRecorder()
	slow.block = make(chan struct{})
	ev.Subscribe(slow)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			ev.Emit(context.Background(), Event{Type: EventMessageSent})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Emit blocked on a notifier that does not return")
	}
	close(slow.block)
	// Close hands over everything queued.
	if err := ev.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(slow.events()); n != 100 {
		t.Fatalf("slow notifier got %d events after Close, want 100", n)
	}
}

func TestEventsStoreErrorStillNotifies(t *testing.T) {
	st := &evMemStore{err: errors.New("disk full")}
	ev := NewEvents(st, nil, nil)
	r := newEvRecorder()
	ev.Subscribe(r)
	ev.Emit(context.Background(), Event{Type: EventMessageReceived})
	r.wait(t, 1)
	ev.Close()
	if n := testutil.ToFloat64(ev.storeErrors); n != 1 {
		t.Errorf("store errors = %v, want 1", n)
	}
	// After Close: stored, not passed on, no panic.
	st.err = nil
	ev.Emit(context.Background(), Event{Type: EventMessageReceived})
	ev.Subscribe(newEvRecorder())
	if len(st.events) != 1 {
		t.Errorf("event after Close not stored")
	}
}
