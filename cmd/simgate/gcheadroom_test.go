package main

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// The limit follows what is live: a heap that holds 64 MB more gets a limit
// at least 64 MB higher, and always the headroom above what is live.
func TestGCHeadroomFollowsLiveHeap(t *testing.T) {
	const headroom = 32 << 20
	g := newGCHeadroom(headroom)
	runtime.GC()
	before := g.limit()
	hold := make([]byte, 64<<20)
	for i := range hold {
		hold[i] = byte(i)
	}
	runtime.GC()
	after := g.limit()
	if after-before < 60<<20 {
		t.Errorf("limit went from %d to %d MB with 64 MB more live", before>>20, after>>20)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if after < int64(ms.HeapAlloc)+headroom-(4<<20) {
		t.Errorf("limit %d MB is not the headroom above the %d MB live", after>>20, ms.HeapAlloc>>20)
	}
	runtime.KeepAlive(hold)
}

// quiet fires once a burst has left garbage and allocation has stopped for
// quietAfter; not while allocation goes on, not without garbage, and not
// again within quietEvery.
func TestGCHeadroomQuietAfterBurst(t *testing.T) {
	g := newGCHeadroom(32 << 20)
	const every = 100 * time.Millisecond
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	// live, total, objects, free, released, allocs
	state := func(live, objects, allocs int64) []int64 { return []int64{live, 0, objects, 0, 0, allocs} }
	var allocs int64
	tick := func(live, objects, alloc int64) bool {
		now = now.Add(every)
		allocs += alloc
		return g.quiet(state(live, objects, allocs), now, every)
	}
	// A burst: 4 MB a tick, garbage growing past the threshold.
	for i := range 30 {
		if tick(100<<20, 100<<20+int64(i)*(4<<20), 4<<20) {
			t.Fatalf("collected during the burst (tick %d)", i)
		}
	}
	// Quiet, with 40 MB of garbage: fires once the last quietAfter allocated
	// less than quietRate, and only once.
	fired := 0
	for range 15 {
		if tick(100<<20, 140<<20, 1<<10) {
			fired++
		}
	}
	if fired != 1 {
		t.Fatalf("quiet with garbage: fired %d times in 1.5 s, want 1", fired)
	}
	// Still quiet and the garbage still there (say the collection found it
	// live after all): not again before quietEvery, then once more.
	for i := range 80 {
		if tick(100<<20, 140<<20, 1<<10) {
			t.Fatalf("collected again %d ticks later, within quietEvery", i+4)
		}
	}
	fired = 0
	for range 20 {
		if tick(100<<20, 140<<20, 1<<10) {
			fired++
		}
	}
	if fired != 1 {
		t.Fatalf("after quietEvery: fired %d times, want 1", fired)
	}
	// Quiet, with less garbage than quietGarbage but as much again in free
	// pages not yet returned: what a collection gives back counts both.
	g = newGCHeadroom(32 << 20)
	fired = 0
	for range 15 {
		now = now.Add(every)
		allocs += 1 << 10
		if g.quiet([]int64{100 << 20, 0, 100<<20 + quietGarbage/2, quietGarbage / 2, 0, allocs}, now, every) {
			fired++
		}
	}
	if fired != 1 {
		t.Fatalf("quiet with garbage and free pages: fired %d times, want 1", fired)
	}
	// Quiet without garbage: never.
	g = newGCHeadroom(32 << 20)
	for i := range 100 {
		if tick(100<<20, 100<<20+quietGarbage-1, 1<<10) {
			t.Fatalf("collected with less than quietGarbage of garbage (tick %d)", i)
		}
	}
}

// garbage keeps the compiler from eliding the test's allocations.
var garbage []byte

// run collects when the process goes quiet after leaving garbage behind.
func TestGCHeadroomRunCollectsWhenQuiet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // only run's limit decides
	g := newGCHeadroom(64 << 20)
	collected := make(chan struct{}, 1)
	g.collect = func() {
		runtime.GC()
		select {
		case collected <- struct{}{}:
		default:
		}
	}
	runtime.GC()
	for range 24 {
		garbage = make([]byte, 1<<20)
	}
	garbage = nil
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := make(chan struct{})
	close(start)
	go g.run(ctx, start, slog.New(slog.DiscardHandler))
	select {
	case <-collected:
	case <-time.After(time.Minute):
		t.Fatal("24 MB of garbage and a quiet process: no collection within a minute")
	}
}
