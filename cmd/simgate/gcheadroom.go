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
// is live. A gateway's live heap is mostly its queue (about 100 bytes a
// waiting message, see gateway.LocalQueue), which is neither garbage nor
// growing fast, so with a million messages queued Go would let ~120 MB of
// garbage pile up between collections and the process would sit at twice
// the memory it needs. A soft limit that follows the live heap at a fixed
// distance makes the garbage, not the queue, decide when to collect. It
// can never pin the collector below what is live (the limit is recomputed
// from live ten times a second), so it cannot send the collector into a spin;
// while the heap is small GOGC triggers first and nothing changes.
type gcHeadroom struct {
	headroom int64
	samples  []metrics.Sample
}

func newGCHeadroom(headroom int64) *gcHeadroom {
	names := []string{
		"/gc/heap/live:bytes",
		"/memory/classes/total:bytes",
		"/memory/classes/heap/objects:bytes",
		"/memory/classes/heap/free:bytes",
		"/memory/classes/heap/released:bytes",
	}
	g := &gcHeadroom{headroom: headroom}
	for _, n := range names {
		g.samples = append(g.samples, metrics.Sample{Name: n})
	}
	return g
}

// limit is the soft memory limit for the runtime's state now.
func (g *gcHeadroom) limit() int64 {
	metrics.Read(g.samples)
	v := make([]int64, len(g.samples))
	for i, s := range g.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = int64(min(s.Value.Uint64(), math.MaxInt64))
		}
	}
	live, total, objects, free, released := v[0], v[1], v[2], v[3], v[4]
	other := max(total-objects-free-released, 0)
	return live + other + g.headroom
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
		debug.SetMemoryLimit(g.limit())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
