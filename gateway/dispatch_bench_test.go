package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkDispatchEfficiencyMemStore is BenchmarkDispatchEfficiency (see
// bench_test.go) over the in-memory test store: the dispatcher's own
// overhead, without bbolt. fakeDevice modems answer after 200 ms.
func BenchmarkDispatchEfficiencyMemStore(b *testing.B) {
	const latency = 200 * time.Millisecond
	const perModem = 40
	for _, n := range []int{4, 16, 64} {
		b.Run(fmt.Sprintf("modems=%d", n), func(b *testing.B) {
			var eff float64
			for range b.N {
				st := newMemStore()
				cfg := DefaultConfig()
				cfg.DefaultRegion = "US"
				cfg.Pacing = PacingConfig{}
				d, err := NewDispatcher(cfg, st, nil)
				if err != nil {
					b.Fatal(err)
				}
				devs := make([]*fakeDevice, n)
				for i := range devs {
					devs[i] = newFakeDevice(fmt.Sprintf("m%d", i))
					devs[i].latency = latency
					d.AddDevice(devs[i], ModemConfig{Name: devs[i].name})
				}
				total := n * perModem
				for i := range total {
					if _, err := d.Submit(context.Background(), SendRequest{To: fmt.Sprintf("+1202555%04d", i), Body: "benchmark"}); err != nil {
						b.Fatal(err)
					}
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- d.Run(ctx) }()
				target := total * 8 / 10
				var first time.Time
				for {
					sent := 0
					for _, dv := range devs {
						dv.mu.Lock()
						sent += len(dv.sends)
						if len(dv.sends) > 0 && (first.IsZero() || dv.sends[0].At.Before(first)) {
							first = dv.sends[0].At
						}
						dv.mu.Unlock()
					}
					if sent >= target {
						break
					}
					time.Sleep(time.Millisecond)
				}
				el := time.Since(first)
				cancel()
				d.Close()
				<-done
				eff = float64(target) / el.Seconds() / (float64(n) / latency.Seconds())
			}
			b.ReportMetric(eff, "efficiency")
			b.Logf("memstore modems=%d latency=%s efficiency=%.3f", n, latency, eff)
		})
	}
}
