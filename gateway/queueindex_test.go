package gateway

import (
	"math/rand/v2"
	"testing"

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
