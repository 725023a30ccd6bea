package main

import (
	"runtime"
	"testing"
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
