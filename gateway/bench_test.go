package gateway_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/gatewaytest"
	"github.com/simgate/simgate/store"
)

func openBenchStore(tb testing.TB, noSync bool) *store.DB {
	tb.Helper()
	db, err := store.Open(filepath.Join(tb.TempDir(), "simgate.db"), store.Options{NoSync: noSync})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkDispatchEfficiency measures delivered (submitted) parts per second
// ÷ (modems ÷ send latency) with latencyDevice modems (200 ms per part, no
// pacing) over the real bbolt store, with fsync (durable, as deployed) and
// without (to separate the dispatcher's own overhead from the disk's). 1.0 means every modem is busy
// sending all the time. Run with -benchtime=1x.
func BenchmarkDispatchEfficiency(b *testing.B) {
	const latency = 200 * time.Millisecond
	const perModem = 40
	for _, fsync := range []bool{true, false} {
		for _, n := range []int{4, 16, 64} {
			b.Run(fmt.Sprintf("fsync=%v/modems=%d", fsync, n), func(b *testing.B) {
				var eff float64
				for range b.N {
					eff = runEfficiency(b, n, perModem, latency, !fsync)
				}
				b.ReportMetric(eff, "efficiency")
				b.Logf("fsync=%v modems=%d latency=%s queued=%d efficiency=%.3f", fsync, n, latency, n*perModem, eff)
			})
		}
	}
}

func runEfficiency(b *testing.B, n, perModem int, latency time.Duration, noSync bool) float64 {
	b.StopTimer()
	db := openBenchStore(b, noSync)
	cfg := gateway.DefaultConfig()
	cfg.DefaultRegion = "US"
	cfg.Pacing = gateway.PacingConfig{}
	cfg.Location = time.UTC
	d, err := gateway.NewDispatcher(cfg, db, nil)
	if err != nil {
		b.Fatal(err)
	}
	devs := make([]*gatewaytest.Device, n)
	for i := range devs {
		devs[i] = gatewaytest.NewDevice("m" + strconv.Itoa(i))
		devs[i].Latency = latency
		d.AddDevice(devs[i], gateway.ModemConfig{Name: devs[i].Name()})
	}
	total := n * perModem
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range total {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := d.Submit(context.Background(), gateway.SendRequest{To: fmt.Sprintf("+1202555%04d", i), Body: "benchmark message"}); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.StartTimer()
	start := time.Now()
	go func() { done <- d.Run(ctx) }()
	// Measure while every modem still has work: from the first send to the
	// moment 80% of the parts are done (parts still on the wire then are
	// not counted, which makes the figure slightly conservative).
	target := int64(total) * 8 / 10
	for {
		var sent int64
		for _, dv := range devs {
			sent += int64(len(dv.Sent()))
		}
		if sent >= target {
			break
		}
		time.Sleep(time.Millisecond)
	}
	end := time.Now()
	elapsed := end.Sub(start)
	b.StopTimer()
	first := int64(0)
	for _, dv := range devs {
		if s := dv.Sends(); len(s) > 0 && (first == 0 || s[0].At.UnixNano() < first) {
			first = s[0].At.UnixNano()
		}
	}
	steady := end.Sub(time.Unix(0, first))
	cancel()
	d.Close()
	<-done
	total = int(target)
	ideal := float64(n) / latency.Seconds()
	b.Logf("modems=%d: %d parts: from Run (incl. loading the queue) %.3f; from the first send %.3f",
		n, total, float64(total)/elapsed.Seconds()/ideal, float64(total)/steady.Seconds()/ideal)
	return float64(total) / steady.Seconds() / ideal
}

// BenchmarkQueueMemory measures the heap (and RSS) held with 100,000 messages
// queued in the Dispatcher (no modem can send). The store runs with NoSync to
// load quickly; its mmap is not heap but does count in RSS.
func BenchmarkQueueMemory(b *testing.B) {
	const queued = 100_000
	for range b.N {
		db := openBenchStore(b, true)
		cfg := gateway.DefaultConfig()
		cfg.DefaultRegion = "US"
		cfg.Location = time.UTC
		d, err := gateway.NewDispatcher(cfg, db, nil)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		var wg sync.WaitGroup
		per := queued / 16
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					k := w*per + i
					_, err := d.Submit(context.Background(), gateway.SendRequest{
						To:   benchNumber(k),
						Body: "Hi there, this is a reminder about Saturday's volunteer shift. Reply STOP to opt out.",
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		report := func(what string, d *gateway.Dispatcher) {
			debug.FreeOSMemory()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			heap := float64(after.HeapInuse-before.HeapInuse) / (1 << 20)
			rss, anon, file := readRSSMB()
			b.ReportMetric(heap, what+"-heapMB")
			b.ReportMetric(rss, what+"-rssMB")
			b.Logf("%s: queued=%d heap_in_use_delta=%.1f MB total_heap_in_use=%.1f MB rss=%.1f MB (anon %.1f MB, file-backed incl. bbolt mmap %.1f MB)",
				what, queued, heap, float64(after.HeapInuse)/(1<<20), rss, anon, file)
			runtime.KeepAlive(d)
		}
		report("after-submit", d)
		// A restart: a fresh Dispatcher loads the same 100,000 from the store.
		d = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		d2, err := gateway.NewDispatcher(cfg, db, nil)
		if err != nil {
			b.Fatal(err)
		}
		idle := gatewaytest.NewDevice("idle")
		idle.Latency = time.Hour
		d2.AddDevice(idle, gateway.ModemConfig{Name: "idle"})
		d2.Pause("idle", "benchmark", time.Time{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		t0 := time.Now()
		go func() { done <- d2.Run(ctx) }()
		waitLoaded(b, d2, queued)
		b.Logf("restart: %d queued messages loaded in %s", queued, time.Since(t0).Round(time.Millisecond))
		report("after-restart", d2)
		cancel()
		d2.Close()
		<-done
	}
}

// readRSSMB returns VmRSS, RssAnon and RssFile in MB.
func readRSSMB() (rss, anon, file float64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1, -1, -1
	}
	get := func(key string) float64 {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, key) {
				f := strings.Fields(l)
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
		return -1
	}
	return get("VmRSS:"), get("RssAnon:"), get("RssFile:")
}

// waitLoaded waits until d's idle modem sees n parts queued for any SIM.
func waitLoaded(tb testing.TB, d *gateway.Dispatcher, n int) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if d.QueueLen() >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatalf("queue never reached %d", n)
}

// benchNumber returns the k-th of 100,000 distinct valid US numbers.
func benchNumber(k int) string {
	areas := []int{201, 202, 203, 205, 206, 207, 208, 209, 210, 212}
	return fmt.Sprintf("+1%d555%04d", areas[(k/10000)%len(areas)], k%10000)
}
