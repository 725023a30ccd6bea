package gateway

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
)

// The queue loads while the API already answers: Run's recover streams
// every queue entry from the store into the LocalQueue (QueueStore.
// QueueEntries), about 2 s for a million messages, and only then starts the
// workers. Meanwhile Submit and Cancel keep working; the loader makes them
// safe and keeps the queue's order:
//
//   - A message submitted while loading is stored as always (durable, 202)
//     but held back from the queue until the walk is over, then enqueued
//     (and the walk, which may meet it too, indexes it at most once:
//     Enqueue ignores a message already there). Enqueued at once it would
//     take its place in the FIFO ahead of every older message the walk had
//     not reached yet.
//   - The walk hands out entries read a chunk at a time, so an entry can be
//     older than the message: a message cancelled after its chunk was read
//     would be indexed again, as a ghost that no worker could send (the
//     store refuses the claim) but that the queue would count. A cancel of
//     a message the walk has not handed out yet (its id is above every id
//     handed out) is made at once, serialised with the walk, and the walk
//     drops its entry when it comes; a held message cancelled meanwhile is
//     dropped too. A message already handed out may still wait, unindexed,
//     in the queue's own batch (Recover indexes in batches), so its cancel
//     waits for the loading to end (at most what is left of it), then
//     cancels as usual.
//   - After the walk the queue applies the crash rules to the few messages
//     it found in flight (a store write, then an enqueue, with no lock in
//     between); a cancel in that phase waits for it to end too.
//
// The loader also counts the entries read so far (Dispatcher.Loading).
// Before Run starts loading and once it is done, it passes everything
// through. Lock order: loader.mu, then LocalQueue.mu (and the store).
type loader struct {
	seen atomic.Int64 // queue entries read so far

	mu        sync.Mutex
	phase     loadPhase
	maxID     string              // the highest id the walk has handed out
	cancelled map[string]struct{} // cancelled while loading
	held      []*Message          // submitted while loading
	done      chan struct{}       // closed when phase becomes loadDone
}

type loadPhase uint8

const (
	loadIdle    loadPhase = iota // Run has not started loading
	loadWalking                  // QueueEntries is streaming
	loadFixing                   // the walk is over; the crash rules run
	loadDone
)

func newLoader() *loader { return &loader{done: make(chan struct{})} }

// begin starts the loading phase (Run, before recover).
func (l *loader) begin() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.phase == loadIdle {
		l.phase = loadWalking
		l.cancelled = map[string]struct{}{}
	}
}

// loading reports whether submits are held (the walk or the crash rules
// are under way).
func (l *loader) loadingLocked() bool { return l.phase == loadWalking || l.phase == loadFixing }

// entry wraps the walk's callback: it counts the entry and hands it to fn
// unless its message was cancelled while loading.
func (l *loader) entry(e QueueEntry, fn func(QueueEntry) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen.Add(1)
	if e.ID > l.maxID {
		l.maxID = e.ID
	}
	if _, gone := l.cancelled[e.ID]; gone {
		return nil
	}
	return fn(e)
}

// walked ends the walk.
func (l *loader) walked() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.phase == loadWalking {
		l.phase = loadFixing
	}
}

// enqueue is intake's Enqueue: held while loading, else q's.
func (l *loader) enqueue(ctx context.Context, q Queue, m *Message) error {
	l.mu.Lock()
	if l.loadingLocked() {
		l.held = append(l.held, m)
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	return q.Enqueue(ctx, m)
}

// cancel is the Dispatcher's Cancel: while the walk goes on, at once and
// serialised with it for a message it has not handed out yet, after the
// loading for the others and during the crash rules; else q's.
func (l *loader) cancel(ctx context.Context, q Queue, id string) (*Message, error) {
	l.mu.Lock()
	switch {
	case l.phase == loadWalking && id > l.maxID:
		defer l.mu.Unlock()
		m, err := q.Cancel(ctx, id)
		if err == nil {
			l.cancelled[id] = struct{}{}
		}
		return m, err
	case l.loadingLocked():
		l.mu.Unlock()
		select {
		case <-l.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	default:
		l.mu.Unlock()
	}
	return q.Cancel(ctx, id)
}

// finish enqueues the held messages that were not cancelled (when ok: the
// queue loaded) and ends the loading phase. After a failed load the held
// messages stay in the store, where the next start finds them.
func (l *loader) finish(ctx context.Context, q Queue, ok bool, logf func(id string, err error)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.phase == loadDone {
		return
	}
	if ok {
		for _, m := range l.held {
			if _, gone := l.cancelled[m.ID]; gone {
				continue
			}
			if err := q.Enqueue(ctx, m); err != nil {
				logf(m.ID, err)
			}
		}
	}
	l.held, l.cancelled = nil, nil
	l.phase = loadDone
	close(l.done)
}

// countingStore is the QueueStore the LocalQueue sees: the store, with the
// walk going through the loader.
type countingStore struct {
	QueueStore
	l *loader
}

func (s countingStore) QueueEntries(ctx context.Context, fn func(QueueEntry) error) error {
	defer s.l.walked()
	return s.QueueStore.QueueEntries(ctx, func(e QueueEntry) error { return s.l.entry(e, fn) })
}

// gatedQueue is the Queue intake sees: Enqueue goes through the loader.
type gatedQueue struct {
	Queue
	l *loader
}

func (g gatedQueue) Enqueue(ctx context.Context, m *Message) error {
	return g.l.enqueue(ctx, g.Queue, m)
}

// Loading reports whether Run is loading the queue (from its start until
// Loaded is closed; not before Run, nor after it failed) and how many queue
// entries it has read from the store so far. Submit and Cancel work
// meanwhile; nothing is sent.
func (d *Dispatcher) Loading() (loading bool, entries int) {
	n := int(d.load.seen.Load())
	select {
	case <-d.loaded:
		return false, n
	default:
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running, n
}

// LoadingStatus says, while Run loads the queue, how far it got ("queue
// loading: 412,000 messages so far"); "" when it is not loading. It is what
// /readyz, systemd's STATUS= and Waiting say.
func (d *Dispatcher) LoadingStatus() string {
	loading, n := d.Loading()
	if !loading {
		return ""
	}
	return "queue loading: " + thousands(n) + " messages so far"
}

// thousands writes n with a comma between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
