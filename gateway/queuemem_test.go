package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// bindTable against a map, through random puts, upserts, gets and deletes,
// on keys that crowd a few shards so that probe runs are long and wrap
// around the end of a shard (where backward-shift deletion goes wrong).
func TestBindTableAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	// Keys of shards 0 and 1 only.
	var pool []uint64
	for k := uint64(1); len(pool) < 3000; k++ {
		if shardOf(bindHash(k)) < 2 {
			pool = append(pool, k)
		}
	}
	pool = append(pool, 1<<63|12345, contactKey("+12025550100"))
	var tb bindTable
	want := map[uint64]binding{}
	for step := range 300000 {
		k := pool[r.IntN(len(pool))]
		switch op := r.IntN(10); {
		case op < 4:
			b := binding{modem: uint16(r.IntN(5)), refs: uint16(r.IntN(100))}
			tb.put(k, b)
			want[k] = b
		case op < 5:
			p := tb.upsert(k)
			p.refs++
			b := want[k]
			b.refs++
			want[k] = b
			if *p != b {
				t.Fatalf("step %d: upsert %d gave %+v, want %+v", step, k, *p, b)
			}
		case op < 8:
			tb.del(k)
			delete(want, k)
		default:
			got, ok := tb.get(k)
			w, wok := want[k]
			if ok != wok || got != w {
				t.Fatalf("step %d: get %d = %+v %v, want %+v %v", step, k, got, ok, w, wok)
			}
		}
		if tb.len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, tb.len(), len(want))
		}
		if step%1000 == 0 {
			checkBindTable(t, &tb, want)
		}
	}
	checkBindTable(t, &tb, want)
	for k := range want {
		tb.del(k)
	}
	for i := range tb.shards {
		if tb.shards[i].keys != nil {
			t.Fatalf("shard %d keeps %d slots when empty", i, len(tb.shards[i].keys))
		}
	}
}

// checkBindTable checks tb holds exactly want, and that every key can be
// reached from its home slot without crossing an empty one.
func checkBindTable(t *testing.T, tb *bindTable, want map[uint64]binding) {
	t.Helper()
	n := 0
	tb.each(func(k uint64, b *binding) {
		n++
		if w, ok := want[k]; !ok || *b != w {
			t.Fatalf("each: %d = %+v, want %+v %v", k, *b, w, ok)
		}
	})
	if n != len(want) {
		t.Fatalf("each saw %d, want %d", n, len(want))
	}
	for i := range tb.shards {
		if s := &tb.shards[i]; s.n*5 > len(s.keys)*4 {
			t.Fatalf("shard %d holds %d in %d slots: more than 4/5", i, s.n, len(s.keys))
		}
	}
	for k, w := range want {
		if got, ok := tb.get(k); !ok || got != w {
			t.Fatalf("get %d = %+v %v, want %+v", k, got, ok, w)
		}
	}
	if _, ok := tb.get(1<<62 + 7); ok {
		t.Fatal("a key never put is found")
	}
}

// FuzzBindTable runs byte-coded operations on a bindTable and a map.
func FuzzBindTable(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 0, 3, 1, 2, 2, 1})
	f.Add([]byte{0, 9, 0, 17, 0, 25, 0, 33, 1, 9, 1, 17, 2, 25, 2, 33})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var tb bindTable
		want := map[uint64]binding{}
		for i := 0; i+1 < len(ops); i += 2 {
			// Few distinct keys, most of them in shard 0.
			k := uint64(ops[i+1]%64) + 1
			if ops[i+1]&64 != 0 {
				k = uint64(ops[i+1]) << 40
			}
			switch ops[i] % 3 {
			case 0:
				b := binding{modem: uint16(i), refs: uint16(ops[i])}
				tb.put(k, b)
				want[k] = b
			case 1:
				tb.del(k)
				delete(want, k)
			case 2:
				tb.upsert(k).refs++
				b := want[k]
				b.refs++
				want[k] = b
			}
		}
		checkBindTable(t, &tb, want)
	})
}

// The arena's blocks never move as it grows, freed slots are handed out
// again (each time with a new seq from the queue, so get with an old seq
// finds nothing), and an emptied arena gives its blocks back.
func TestItemArena(t *testing.T) {
	var a itemArena
	n := 3*arenaChunk + 5
	refs := make([]itemRef, n)
	first, _ := a.alloc()
	p := a.at(first)
	p.seq = 1
	for i := range refs {
		r, it := a.alloc()
		it.seq = uint32(i + 2)
		binary.BigEndian.PutUint32(it.id[:], uint32(i))
		refs[i] = r
	}
	if len(a.chunks) != 4 || a.n != n+1 {
		t.Fatalf("%d chunks, %d items", len(a.chunks), a.n)
	}
	if a.at(first) != p || a.get(first, 1) != p {
		t.Fatal("the first item moved")
	}
	for i, r := range refs {
		if it := a.get(r, uint32(i+2)); it == nil || binary.BigEndian.Uint32(it.id[:]) != uint32(i) {
			t.Fatalf("item %d lost", i)
		}
	}
	// Free every other one: each sees the rest, and as many allocs reuse
	// exactly the freed slots.
	freed := map[itemRef]bool{}
	for i := 0; i < n; i += 2 {
		a.release(refs[i])
		freed[refs[i]] = true
		if a.get(refs[i], uint32(i+2)) != nil {
			t.Fatalf("a freed slot still answers for item %d", i)
		}
	}
	seen := 0
	a.each(func(r itemRef, it *item) {
		seen++
		if freed[r] {
			t.Fatalf("each visits freed slot %d", r)
		}
	})
	if seen != a.n || a.n != n+1-len(freed) {
		t.Fatalf("each saw %d, n %d", seen, a.n)
	}
	used := a.used
	for range len(freed) {
		r, it := a.alloc()
		if !freed[r] || *it != (item{}) {
			t.Fatalf("alloc gave %d (%+v), not a freed, zeroed slot", r, *it)
		}
		delete(freed, r)
	}
	if a.used != used {
		t.Fatalf("used grew from %d to %d with free slots left", used, a.used)
	}
	var all []itemRef
	a.each(func(r itemRef, _ *item) { all = append(all, r) })
	for _, r := range all {
		a.release(r)
	}
	if a.n != 0 || a.chunks != nil || a.get(first, 1) != nil {
		t.Fatalf("emptied arena keeps %d chunks, n %d", len(a.chunks), a.n)
	}
}

// idStore is a QueueStore that records the ids it is asked to update and
// finds none of them.
type idStore struct{ updated []string }

func (s *idStore) UpdateMessage(_ context.Context, id string, _ func(*Message) error) (*Message, error) {
	s.updated = append(s.updated, id)
	return nil, ErrNotFound
}
func (s *idStore) QueueEntries(context.Context, func(QueueEntry) error) error { return nil }
func (s *idStore) Sticky(context.Context, string) (Sticky, error)             { return Sticky{}, ErrNotFound }
func (s *idStore) SetSticky(context.Context, string, Sticky) error            { return nil }

// A claim whose item was forgotten must never act on the message that
// took over the item's slot: not held, not ended, not requeued, not
// unbound, and its store calls name its own message.
func TestClaimAfterSlotReuse(t *testing.T) {
	st := &idStore{}
	q := NewLocalQueue(st, noModems{}, LocalQueueConfig{})
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	req := ClaimRequest{Modem: "m1", PartsLeft: 10, NewContacts: true, Now: now}
	ctx := context.Background()
	a := QueueEntry{ID: NewID(now), Contact: "+12025550100", Pending: 1}
	b := QueueEntry{ID: NewID(now.Add(time.Millisecond)), Contact: "+12025550101", Pending: 1}
	// keep stays queued (claimed last) so that the arena never empties.
	keep := QueueEntry{ID: NewID(now), Contact: "+12025550102", Pending: 1, Priority: -1}
	for _, e := range []QueueEntry{keep, a} {
		if err := q.enqueue(ctx, e, now, true); err != nil {
			t.Fatal(err)
		}
	}
	take := func() *Claim {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.takeLocked(req)
	}
	ca := take()
	if ca == nil || ca.state.id != a.ID {
		t.Fatalf("claimed %+v, want %s", ca, a.ID)
	}
	q.end(ca) // a is done; its slot is free
	if err := q.enqueue(ctx, b, now, true); err != nil {
		t.Fatal(err)
	}
	cb := take()
	if cb == nil || cb.state.id != b.ID {
		t.Fatalf("claimed %+v, want %s", cb, b.ID)
	}
	if cb.state.it != ca.state.it {
		t.Fatalf("b took slot %d, not a's %d: the test needs the reuse", cb.state.it, ca.state.it)
	}
	if q.held(ca) {
		t.Error("the ended claim holds b")
	}
	if !q.held(cb) {
		t.Error("b's claim lost it")
	}
	q.requeue(ca, now, now)
	q.undo(&Claim{Modem: "m1", state: claimState{it: ca.state.it, seq: ca.state.seq, bound: true}})
	q.end(ca)
	if !q.held(cb) {
		t.Fatal("a's stale claim took b away")
	}
	q.mu.Lock()
	if it := q.claimedLocked(cb); it.pinned != q.names.id("m1") {
		t.Errorf("a's stale undo unpinned b: %+v", *it)
	}
	if bb, _ := q.bound.get(contactKey(b.Contact)); bb.modem != q.names.id("m1") {
		t.Errorf("b's contact lost its binding: %+v", bb)
	}
	q.mu.Unlock()
	if err := q.Submitting(ctx, ca, 1); !errors.Is(err, ErrClaimLost) {
		t.Errorf("Submitting on the stale claim: %v", err)
	}
	st.updated = nil
	q.Fail(ctx, ca, 1, Failure{Error: "x"})
	if len(st.updated) != 1 || st.updated[0] != a.ID {
		t.Errorf("the stale claim's Fail updated %v, want only %s", st.updated, a.ID)
	}
	if !q.held(cb) || q.Len() != 1 {
		t.Errorf("b held %v, %d waiting", q.held(cb), q.Len())
	}
	checkQueue(t, q)
}

// checkQueue checks the queue's bookkeeping: every live item is where its
// where field says, at its idx, the heaps are in order, the index holds
// every item, and each contact's refs count its items.
func checkQueue(t *testing.T, q *LocalQueue) {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	a := &q.items
	inHeap := map[itemRef]bool{}
	for k, rq := range q.ready {
		for i, r := range *rq {
			it := a.at(r)
			if it.where != inReady || int(it.idx) != i || q.keyLocked(it) != k || inHeap[r] {
				t.Fatalf("ready %v[%d] = %d: %+v", k, i, r, *it)
			}
			inHeap[r] = true
			if i > 0 && readyLess(it, a.at((*rq)[(i-1)/2])) {
				t.Fatalf("ready %v out of order at %d", k, i)
			}
		}
	}
	for i, d := range q.delayed {
		it := a.at(d.it)
		if it.where != inDelayed || int(it.idx) != i || inHeap[d.it] {
			t.Fatalf("delayed[%d] = %d: %+v", i, d.it, *it)
		}
		inHeap[d.it] = true
		if i > 0 && d.at() < q.delayed[(i-1)/2].at() {
			t.Fatalf("delayed out of order at %d", i)
		}
	}
	refs := map[uint64]int{}
	n := 0
	a.each(func(r itemRef, it *item) {
		n++
		refs[it.contact]++
		if q.byID.get(a, it.id) != r {
			t.Fatalf("item %d not indexed", r)
		}
		if (it.where == inReady || it.where == inDelayed) != inHeap[r] {
			t.Fatalf("item %d: where %d, in a heap %v", r, it.where, inHeap[r])
		}
	})
	if n != a.n || q.byID.len() != n || q.bound.len() != len(refs) {
		t.Fatalf("%d items, arena %d, index %d, %d contacts bound for %d", n, a.n, q.byID.len(), q.bound.len(), len(refs))
	}
	for k, c := range refs {
		if b, ok := q.bound.get(k); !ok || int(b.refs) != c {
			t.Fatalf("contact %x: binding %+v, %d items", k, b, c)
		}
	}
}

// Random enqueues, claims, ends, requeues, cancels and promotions keep the
// queue's bookkeeping right (heap positions through slot reuse above all).
func TestLocalQueueBookkeeping(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	q := NewLocalQueue(&idStore{}, noModems{}, LocalQueueConfig{})
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	var claims []*Claim
	var ids []string
	for step := range 20000 {
		now = now.Add(time.Millisecond)
		switch op := r.IntN(10); {
		case op < 4:
			e := QueueEntry{
				ID:       NewID(now),
				Contact:  fmt.Sprintf("+1202555%04d", r.IntN(300)),
				Pending:  1 + r.IntN(3),
				Priority: r.IntN(3),
			}
			if r.IntN(3) == 0 {
				e.SendAt = now.Add(time.Duration(r.IntN(50)) * time.Millisecond)
			}
			if err := q.enqueue(ctx, e, now, true); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, e.ID)
		case op < 6:
			q.mu.Lock()
			q.promoteLocked(now)
			c := q.takeLocked(ClaimRequest{Modem: fmt.Sprint("m", r.IntN(3)), PartsLeft: 10, NewContacts: true, Now: now})
			q.mu.Unlock()
			if c != nil {
				claims = append(claims, c)
			}
		case op < 8 && len(claims) > 0:
			i := r.IntN(len(claims))
			c := claims[i]
			if r.IntN(2) == 0 {
				q.undo(c)
				q.end(c)
			} else {
				q.undo(c)
				q.requeue(c, now, now.Add(time.Duration(r.IntN(20))*time.Millisecond))
			}
			claims[i] = claims[len(claims)-1]
			claims = claims[:len(claims)-1]
		case op < 9 && len(ids) > 0:
			q.Cancel(ctx, ids[r.IntN(len(ids))]) // the store finds none: nothing changes
		default:
			q.mu.Lock()
			var gone []itemRef
			q.items.each(func(ref itemRef, it *item) {
				if it.where != inFlight && r.IntN(20) == 0 {
					gone = append(gone, ref)
				}
			})
			for _, ref := range gone {
				q.forgetLocked(ref)
			}
			q.mu.Unlock()
		}
		if step%100 == 0 {
			checkQueue(t, q)
		}
	}
	checkQueue(t, q)
}

// entryStore streams prepared queue entries, as a store's QueueEntries
// would.
type entryStore struct {
	idStore
	entries []QueueEntry
}

func (s *entryStore) QueueEntries(_ context.Context, fn func(QueueEntry) error) error {
	for _, e := range s.entries {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkRecoverIndex measures the queue's side of loading at start-up:
// indexing 200,000 queue entries (distinct contacts, a tenth bound to a
// SIM) that a store hands over, the store's own reading left out.
func BenchmarkRecoverIndex(b *testing.B) {
	const n = 200_000
	st := &entryStore{}
	t0 := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		e := QueueEntry{ID: NewID(t0.Add(time.Duration(i) * time.Microsecond)), Contact: fmt.Sprintf("+1202%07d", i), Pending: 1}
		if i%10 == 0 {
			e.Sticky = "m1"
		}
		st.entries = append(st.entries, e)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		q := NewLocalQueue(st, noModems{}, LocalQueueConfig{Now: func() time.Time { return t0 }})
		if _, err := q.Recover(context.Background()); err != nil {
			b.Fatal(err)
		}
		if q.Len() != n {
			b.Fatalf("%d queued", q.Len())
		}
	}
	// CPU time (user and system, all threads) is less at the mercy of a
	// busy machine than the wall clock.
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/entry")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/n, "cpu-ns/entry")
}
