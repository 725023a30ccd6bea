package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// SharedQueue is a Queue several nodes share (store/postgres.Queue). Set as
// Config.Queue, the Dispatcher uses it instead of a LocalQueue: claims,
// leases, wake-ups across nodes and the reaping of dead nodes are the
// queue's; the Dispatcher keeps its workers, pacing and budgets.
type SharedQueue interface {
	Queue
	// Poke wakes modem's worker on this node (its modem became usable).
	Poke(modem string)
}

// dispatchQueue is what the Dispatcher needs of its queue: a Queue and the
// scheduling hooks a LocalQueue has.
type dispatchQueue interface {
	Queue
	poke(modem string)
	// PartsFor counts the waiting parts bound to modem; Len the waiting messages.
	PartsFor(modem string) int
	Len() int
	// Promote and NextDue move delayed messages to the ready ones.
	Promote(now time.Time)
	NextDue() time.Time
	// RebindGone calls Rebind for the gone modems.
	RebindGone(ctx context.Context, now time.Time)
	// moveBindings binds the contacts bound to modem from (a modem or a
	// parked SIM's stand-in) to modem to, with their waiting messages:
	// their SIM moved. It returns how many messages moved.
	moveBindings(from, to string, now time.Time) int
}

var (
	_ dispatchQueue = (*LocalQueue)(nil)
	_ dispatchQueue = (*sharedQueue)(nil)
)

// statsEvery bounds how often a sharedQueue asks its queue for Stats
// (PartsFor and Len are read by every modem listing).
const statsEvery = 2 * time.Second

// sharedQueue adapts a SharedQueue to the Dispatcher. Readiness is judged
// by the queue at claim time, so Promote has nothing to do; workers also
// wake on their own poll timer.
type sharedQueue struct {
	SharedQueue
	fleet *fleet
	log   *slog.Logger

	mu      sync.Mutex
	stats   QueueStats
	statsAt time.Time
	rebound map[string]bool // local modems Rebind was called for while gone
}

func newSharedQueue(q SharedQueue, f *fleet, log *slog.Logger) *sharedQueue {
	return &sharedQueue{SharedQueue: q, fleet: f, log: log, rebound: map[string]bool{}}
}

func (s *sharedQueue) poke(modem string) { s.Poke(modem) }

func (s *sharedQueue) stat() QueueStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.statsAt) >= statsEvery {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := s.Stats(ctx)
		cancel()
		if err != nil {
			s.log.Warn("queue stats", "err", err)
		} else {
			s.stats = st
		}
		s.statsAt = time.Now()
	}
	return s.stats
}

func (s *sharedQueue) PartsFor(modem string) int { return s.stat().PartsFor[modem] }
func (s *sharedQueue) Len() int                  { return s.stat().Messages }
func (s *sharedQueue) Promote(time.Time)         {}
func (s *sharedQueue) NextDue() time.Time        { return time.Time{} }

// moveBindings has nothing to do: the shared queue judges a contact's SIM
// from the sticky table at claim time, which Store.RebindSIM has updated.
func (s *sharedQueue) moveBindings(string, string, time.Time) int { return 0 }

// RebindGone calls Rebind once for each modem of this node that has become
// gone (and again only after it has come back and gone again), and for the
// stand-ins of the SIMs taken out of them (parkedName) whose wait is over.
func (s *sharedQueue) RebindGone(ctx context.Context, now time.Time) {
	for _, n := range append(s.fleet.Modems(), s.fleet.parked()...) {
		gone := s.fleet.Gone(n, now)
		s.mu.Lock()
		done := s.rebound[n]
		if !gone {
			delete(s.rebound, n)
		}
		s.mu.Unlock()
		if !gone || done {
			continue
		}
		if _, err := s.Rebind(ctx, n, "modem gone"); err != nil {
			s.log.Warn("rebind", "modem", n, "err", err)
			continue
		}
		s.mu.Lock()
		s.rebound[n] = true
		s.mu.Unlock()
	}
}
