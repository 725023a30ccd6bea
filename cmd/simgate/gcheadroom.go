package main

import (
	"context"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcHeadroom is the soft memory limit the daemon keeps (gc_headroom): what
// the last garbage collection found live, plus what the runtime holds
// besides heap objects (stacks, metadata, fragmentation), plus headroom.
//
// Why: Go collects when the heap has grown by GOGC percent (100) of what
// is live. A gateway's live heap is mostly its queue (about 80 bytes a
// waiting message, see gateway.LocalQueue), which is neither garbage nor
// growing fast, so with a million messages queued Go would let ~100 MB of
// garbage pile up between collections and the process would sit at twice
// the memory it needs. A soft limit that follows the live heap at a fixed
// distance makes the garbage, not the queue, decide when to collect. It
// can never pin the collector below what is live (the limit is recomputed
// from live ten times a second), so it cannot send the collector into a spin;
// while the heap is small GOGC triggers first and nothing changes.
//
// When the daemon goes quiet after a burst (an ingest of a campaign's
// messages, a long export), the garbage of the burst — up to the headroom —
// would stay resident until something allocates again. So once a burst has
// left at least quietGarbage of garbage and free pages not yet returned, and
// the last quietAfter allocated less than quietRate, run collects and gives the free pages back to the
// system (debug.FreeOSMemory), at most once per quietEvery.
type gcHeadroom struct {
	headroom int64
	samples  []metrics.Sample
	// collect is debug.FreeOSMemory (tests replace it).
	collect func()
	// quiet's state: allocation totals over the last quietAfter, and when
	// it last collected.
	allocs    []int64
	collected time.Time
}

// The quiet-time collection's thresholds (see gcHeadroom).
const (
	quietGarbage = 8 << 20
	quietRate    = 512 << 10 // bytes allocated per quietAfter (1 MB/s)
	quietAfter   = 500 * time.Millisecond
	quietEvery   = 10 * time.Second
)

func newGCHeadroom(headroom int64) *gcHeadroom {
	names := []string{
		"/gc/heap/live:bytes",
		"/memory/classes/total:bytes",
		"/memory/classes/heap/objects:bytes",
		"/memory/classes/heap/free:bytes",
		"/memory/classes/heap/released:bytes",
		"/gc/heap/allocs:bytes",
	}
	g := &gcHeadroom{headroom: headroom, collect: debug.FreeOSMemory}
	for _, n := range names {
		g.samples = append(g.samples, metrics.Sample{Name: n})
	}
	return g
}

// read returns the samples' values now.
func (g *gcHeadroom) read() []int64 {
	metrics.Read(g.samples)
	v := make([]int64, len(g.samples))
	for i, s := range g.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = int64(min(s.Value.Uint64(), math.MaxInt64))
		}
	}
	return v
}

// limit is the soft memory limit for the runtime's state now.
func (g *gcHeadroom) limit() int64 {
	return g.limitOf(g.read())
}

func (g *gcHeadroom) limitOf(v []int64) int64 {
	live, total, objects, free, released := v[0], v[1], v[2], v[3], v[4]
	other := max(total-objects-free-released, 0)
	return live + other + g.headroom
}

// quiet notes the runtime's state v at now, one call per tick, and reports
// whether the daemon has gone quiet with a burst's garbage still held: at
// least quietGarbage more in heap objects than the last collection found
// live, together with the free heap pages not yet returned to the system;
// less than quietRate allocated over the last quietAfter; and no
// quiet-time collection within quietEvery.
func (g *gcHeadroom) quiet(v []int64, now time.Time, every time.Duration) bool {
	live, objects, free, allocs := v[0], v[2], v[3], v[5]
	keep := max(int(quietAfter/every), 1) + 1
	g.allocs = append(g.allocs, allocs)
	if len(g.allocs) > keep {
		g.allocs = g.allocs[len(g.allocs)-keep:]
	}
	if len(g.allocs) < keep || allocs-g.allocs[0] >= quietRate {
		return false
	}
	// What a collection would give back: the garbage, and the free pages
	// the runtime has not returned yet.
	if objects-live+free < quietGarbage || now.Sub(g.collected) < quietEvery {
		return false
	}
	g.collected = now
	return true
}

// gcHeadroomEvery is how often run recomputes the limit: often enough
// that a queue loading at start-up (tens of MB a second) never meets a
// limit computed for a heap it has outgrown.
const gcHeadroomEvery = 100 * time.Millisecond

// run keeps the limit in step with the live heap from when start is
// closed until ctx ends, then lifts it. It does nothing when headroom is 0
// or GOMEMLIMIT is set (the operator's limit wins).
//
// start is the dispatcher's Loaded: while the queue loads at start-up the
// live heap grows by tens of MB a second, every collection then marks a
// larger queue, and a limit just above the last one's live heap made the
// collector run back to back (a million messages took 29 s to load instead
// of 4). Go's own pacing suits a heap that is growing.
func (g *gcHeadroom) run(ctx context.Context, start <-chan struct{}, log *slog.Logger) {
	if g.headroom <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	select {
	case <-start:
	case <-ctx.Done():
		return
	}
	log.Debug("gc headroom", "bytes", g.headroom)
	defer debug.SetMemoryLimit(math.MaxInt64)
	t := time.NewTicker(gcHeadroomEvery)
	defer t.Stop()
	for {
		v := g.read()
		debug.SetMemoryLimit(g.limitOf(v))
		if g.quiet(v, time.Now(), gcHeadroomEvery) {
			g.collect()
			log.Debug("quiet: garbage collected and returned", "garbage_bytes", v[2]-v[0], "free_bytes", v[3])
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
