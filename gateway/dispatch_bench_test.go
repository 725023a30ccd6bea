package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/gatewaytest"
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
				st := gatewaytest.NewMemStore()
				cfg := gateway.DefaultConfig()
				cfg.DefaultRegion = "US"
				cfg.Pacing = gateway.PacingConfig{}
				d, err := gateway.NewDispatcher(cfg, st, nil)
				if err != nil {
					b.Fatal(err)
				}
				devs := make([]*gatewaytest.Device, n)
				for i := range devs {
					devs[i] = gatewaytest.NewDevice(fmt.Sprintf("m%d", i))
					devs[i].Latency = latency
					d.AddDevice(devs[i], gateway.ModemConfig{Name: devs[i].Name()})
				}
				total := n * perModem
				for i := range total {
					if _, err := d.Submit(context.Background(), gateway.SendRequest{To: fmt.Sprintf("+1202555%04d", i), Body: "benchmark"}); err != nil {
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
						sends := dv.Sends()
						sent += len(sends)
						if len(sends) > 0 && (first.IsZero() || sends[0].At.Before(first)) {
							first = sends[0].At
						}
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
