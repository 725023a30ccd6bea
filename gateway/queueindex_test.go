package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/oklog/ulid/v2"
)

// idIndex against a map, through random puts, gets and deletes (the
// backward-shift deletion is where an open-addressing table goes wrong).
func TestIDIndexAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var x idIndex
	want := map[ulid.ULID]*item{}
	var live []*item
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
			it := &item{id: newID()}
			if want[it.id] != nil {
				continue
			}
			x.put(it)
			want[it.id] = it
			live = append(live, it)
		case op < 8:
			i := r.IntN(len(live))
			it := live[i]
			if !x.del(it) {
				t.Fatalf("step %d: del of a held item failed", step)
			}
			if x.del(it) {
				t.Fatalf("step %d: second del succeeded", step)
			}
			delete(want, it.id)
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
		default:
			if it := live[r.IntN(len(live))]; x.get(it.id) != it {
				t.Fatalf("step %d: get of a held item", step)
			}
			if x.get(newID()) != nil {
				t.Fatalf("step %d: get of an unknown id found something", step)
			}
		}
		if x.len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, x.len(), len(want))
		}
	}
	n := 0
	x.each(func(it *item) {
		n++
		if want[it.id] != it {
			t.Fatalf("each: %v not held", it.id)
		}
	})
	if n != len(want) {
		t.Fatalf("each saw %d, want %d", n, len(want))
	}
	for _, it := range live {
		if x.get(it.id) != it {
			t.Fatalf("get %v after the run", it.id)
		}
	}
}

// The queue's per-message item stays in Go's 48-byte size class: a million
// waiting messages are budgeted at about 100 bytes each in all.
func TestItemSize(t *testing.T) {
	if n := unsafe.Sizeof(item{}); n != 48 {
		t.Errorf("item is %d bytes, want 48", n)
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
	it := q.byID.get(q.keyOfLocked(e.ID, false))
	if it == nil || it.window != windowOverflow || q.overflow[it] != windowOverflow {
		t.Fatalf("item %+v, overflow %v", it, q.overflow)
	}
	if w := q.windowLocked(it); w.open(now) || !w.open(now.Add(13*time.Hour+30*time.Minute)) {
		t.Error("the overflowed item lost its window")
	}
	q.forgetLocked(it)
	if len(q.overflow) != 0 {
		t.Errorf("overflow kept after forget: %v", q.overflow)
	}
}
