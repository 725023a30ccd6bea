package gateway

import (
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

// TestNewID: IDs are valid ULIDs of their time, unique under concurrent
// use, and in the order made within one millisecond (the outbox cursor
// relies on that).
func TestNewID(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	prev := ""
	for range 1000 {
		id := NewID(at)
		u, err := ulid.ParseStrict(id)
		if err != nil || !ulid.Time(u.Time()).Equal(at) {
			t.Fatalf("NewID = %q (%v), time %v", id, err, ulid.Time(u.Time()))
		}
		if id <= prev {
			t.Fatalf("%q after %q: not increasing within a millisecond", id, prev)
		}
		prev = id
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				id := NewID(at)
				mu.Lock()
				if seen[id] {
					t.Errorf("duplicate %s", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
