package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Events implements Emitter: it stores every event in an EventStore (the
// audit trail) and then hands it to every Notifier registered with Subscribe.
//
// Emit never waits for a notifier: each notifier has its own goroutine and an
// in-memory queue that keeps events in order and never drops one. Notifiers
// are still expected to be fast. What must survive a crash is read from the
// store, not from this queue: the webhook deliverer reads the stored events
// after a durable cursor (EventOutbox), and its Notify only wakes it.
// Events queued for a notifier but not yet handed over are lost if the
// process dies; Close hands over everything queued before it returns.
//
// Events is safe for concurrent use. Subscribe starts a goroutine per
// notifier; Close stops them.
type Events struct {
	st  EventStore
	log *slog.Logger
	now func() time.Time

	mu     sync.Mutex
	subs   []*subscriber
	closed bool
	wg     sync.WaitGroup

	emitted     *prometheus.CounterVec
	storeErrors prometheus.Counter
}

// subscriber is one notifier and the events waiting for it.
type subscriber struct {
	n    Notifier
	mu   sync.Mutex
	q    []Event
	wake chan struct{} // capacity 1
	done chan struct{} // closed by Close
}

// backlogWarn is the queue length at which a slow notifier is logged.
const backlogWarn = 1000

// NewEvents returns an Events storing into st. logger may be nil; reg may be
// nil (no metrics registered). It registers simgate_events_total{type} and
// simgate_event_store_errors_total.
func NewEvents(st EventStore, logger *slog.Logger, reg prometheus.Registerer) *Events {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Events{
		st:  st,
		log: logger,
		now: time.Now,
		emitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simgate_events_total",
			Help: "Events emitted, by type.",
		}, []string{"type"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "simgate_event_store_errors_total",
			Help: "Events that could not be appended to the event store (they were still passed to notifiers).",
		}),
	}
	if reg != nil {
		reg.MustRegister(e.emitted, e.storeErrors)
	}
	return e
}

// Subscribe registers n: it hears every event emitted from now on, in order.
// Subscribing after Close does nothing.
func (e *Events) Subscribe(n Notifier) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	s := &subscriber{n: n, wake: make(chan struct{}, 1), done: make(chan struct{})}
	e.subs = append(e.subs, s)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.deliver(s)
	}()
}

// Emit gives ev an ID (a ULID) and a Time if it has none, appends it to the
// event store and queues it for every notifier. A store error is logged and
// counted; the event still goes to the notifiers, but webhooks, which read
// the stored events, do not see it. Emit never blocks on a notifier.
func (e *Events) Emit(ctx context.Context, ev Event) {
	if ev.Time.IsZero() {
		ev.Time = e.now().UTC()
	}
	if ev.ID == "" {
		ev.ID = NewID(ev.Time)
	}
	if err := e.st.AppendEvent(ctx, ev); err != nil {
		e.storeErrors.Inc()
		e.log.Error("event not stored", "event_id", ev.ID, "type", string(ev.Type), "err", err)
	}
	e.emitted.WithLabelValues(string(ev.Type)).Inc()

	e.mu.Lock()
	closed, subs := e.closed, e.subs
	e.mu.Unlock()
	if closed {
		return
	}
	for _, s := range subs {
		s.mu.Lock()
		s.q = append(s.q, ev)
		n := len(s.q)
		s.mu.Unlock()
		if n == backlogWarn {
			e.log.Warn("notifier is slow", "backlog", n)
		}
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// deliver hands s's queued events to its notifier until Close, then flushes.
func (e *Events) deliver(s *subscriber) {
	for {
		select {
		case <-s.wake:
			e.flush(s)
		case <-s.done:
			e.flush(s)
			return
		}
	}
}

func (e *Events) flush(s *subscriber) {
	for {
		s.mu.Lock()
		q := s.q
		s.q = nil
		s.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, ev := range q {
			s.n.Notify(ev)
		}
	}
}

// Close stops the notifier goroutines after they have handed over every event
// queued so far. Events emitted after Close are stored but not passed on.
// Close is idempotent.
func (e *Events) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	subs := e.subs
	e.mu.Unlock()
	for _, s := range subs {
		close(s.done)
	}
	e.wg.Wait()
	return nil
}

var _ Emitter = (*Events)(nil)
