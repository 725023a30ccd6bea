package gateway

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/oklog/ulid/v2"
)

// idIndex against a map, through random puts, gets and deletes (the
// backward-shift deletion is where an open-addressing table goes wrong),
// with the items in an itemArena whose freed slots are reused.
func TestIDIndexAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var a itemArena
	var x idIndex
	want := map[ulid.ULID]itemRef{}
	var live []itemRef
	newID := func() ulid.ULID {
		var u ulid.ULID
		for i := range u {
			u[i] = byte(r.IntN(256))
		}
		if r.IntN(4) == 0 { // same time part, as within a millisecond
			copy(u[:6], []byte{1, 2, 3, 4, 5, 6})
		}
		return u
	}
	for step := range 200000 {
		switch op := r.IntN(10); {
		case op < 5 || len(live) == 0:
			ref, it := a.alloc()
			it.id = newID()
			if want[it.id] != 0 {
				if x.add(&a, ref) != want[it.id] {
					t.Fatalf("step %d: add of a held id did not find it", step)
				}
				a.release(ref)
				continue
			}
			if x.add(&a, ref) != 0 {
				t.Fatalf("step %d: add of a new id found something", step)
			}
			want[it.id] = ref
			live = append(live, ref)
		case op < 8:
			i := r.IntN(len(live))
			ref := live[i]
			if !x.del(&a, ref) {
				t.Fatalf("step %d: del of a held item failed", step)
			}
			if x.del(&a, ref) {
				t.Fatalf("step %d: second del succeeded", step)
			}
			delete(want, a.at(ref).id)
			a.release(ref)
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
		default:
			if ref := live[r.IntN(len(live))]; x.get(&a, a.at(ref).id) != ref {
				t.Fatalf("step %d: get of a held item", step)
			}
			if x.get(&a, newID()) != 0 {
				t.Fatalf("step %d: get of an unknown id found something", step)
			}
		}
		if x.len() != len(want) || a.n != len(want) {
			t.Fatalf("step %d: len %d, arena %d, want %d", step, x.len(), a.n, len(want))
		}
	}
	n := 0
	a.each(func(ref itemRef, it *item) {
		n++
		if want[it.id] != ref {
			t.Fatalf("each: %v not held", it.id)
		}
	})
	if n != len(want) {
		t.Fatalf("each saw %d, want %d", n, len(want))
	}
	for _, ref := range live {
		if x.get(&a, a.at(ref).id) != ref {
			t.Fatalf("get %v after the run", a.at(ref).id)
		}
	}
}

// The queue's per-message item stays at 48 bytes (an itemArena block holds
// 4096 of them).
func TestItemSize(t *testing.T) {
	if n := unsafe.Sizeof(item{}); n != 48 {
		t.Errorf("item is %d bytes, want 48", n)
	}
	if n := unsafe.Sizeof(delayed{}); n != 12 {
		t.Errorf("a delay queue entry is %d bytes, want 12", n)
	}
	for _, at := range []int64{0, 1, -1, 1 << 32, 1<<32 - 1, time.Date(2027, 3, 1, 12, 0, 0, 1, time.UTC).UnixNano(), math.MaxInt64, math.MinInt64} {
		if got := newDelayed(at, 7).at(); got != at {
			t.Errorf("delayed time %d comes back as %d", at, got)
		}
	}
}

// Expiry times are kept in whole seconds, rounded down: never late.
func TestExpirySecs(t *testing.T) {
	at := time.Date(2027, 3, 1, 12, 0, 0, 999_000_000, time.UTC)
	it := item{expires: expirySecs(at)}
	if got := time.Unix(0, it.expiresAt()).UTC(); got != at.Truncate(time.Second) {
		t.Errorf("expires at %s, want %s", got, at.Truncate(time.Second))
	}
	if expirySecs(time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)) != 1 {
		t.Error("a time before the epoch must be already expired (1), never 0 (never)")
	}
}

type noModems struct{}

func (noModems) Gone(string, time.Time) bool { return false }
func (noModems) InGroup(string, string) bool { return false }
func (noModems) IsModem(string) bool         { return false }
func (noModems) OtherUsable(string) bool     { return false }

// Past 65,534 distinct texting windows an item's window id no longer fits
// its field: it is kept beside it, and forgotten with it.
func TestWindowOverflow(t *testing.T) {
	q := NewLocalQueue(nil, noModems{}, LocalQueueConfig{})
	for len(q.windows.list) < windowOverflow { // stand-ins for 65,534 windows seen before
		q.windows.id(&TextingWindow{Start: "09:00", End: "21:00", TimeZone: "UTC"})
		w := TextingWindow{Start: "09:00", End: "21:00", TimeZone: fmt.Sprint(len(q.windows.list))}
		q.windows.ids[w] = uint32(len(q.windows.list))
		q.windows.list = append(q.windows.list, window{})
	}
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	closed := TextingWindow{Start: "01:00", End: "02:00", TimeZone: "UTC"} // closed at noon
	e := QueueEntry{ID: NewID(now), Contact: "+12025550100", Pending: 1, TextingWindow: closed}
	if err := q.enqueue(context.Background(), e, now, true); err != nil {
		t.Fatal(err)
	}
	r := q.byID.get(&q.items, q.keyOfLocked(e.ID, false))
	if r == 0 {
		t.Fatal("not queued")
	}
	it := q.items.at(r)
	if it.window != windowOverflow || q.overflow[r] != windowOverflow {
		t.Fatalf("item %+v, overflow %v", it, q.overflow)
	}
	if w := q.windowLocked(r, it); w.open(now) || !w.open(now.Add(13*time.Hour+30*time.Minute)) {
		t.Error("the overflowed item lost its window")
	}
	q.forgetLocked(r)
	if len(q.overflow) != 0 {
		t.Errorf("overflow kept after forget: %v", q.overflow)
	}
}
