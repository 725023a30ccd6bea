package gateway_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store"
)

// BenchmarkInboxHandlePDU measures durable inbound handling (fsynced bbolt):
// a single SMS-DELIVER per op, and a 3-part message per 3 ops.
func BenchmarkInboxHandlePDU(b *testing.B) {
	for _, parts := range []int{1, 3} {
		b.Run(fmt.Sprintf("parts=%d", parts), func(b *testing.B) {
			db, err := store.Open(filepath.Join(b.TempDir(), "db"), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			in := gateway.NewInbox(gateway.InboxConfig{DefaultRegion: "US"}, db, nil, nil, nil)
			var pdus [][]byte
			for i := 0; len(pdus) < b.N; i++ {
				chunks := []string{fmt.Sprintf("message %d ", i), "second part ", "third part"}[:parts]
				scts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
				if parts == 1 {
					pdus = append(pdus, inbDeliver(b, "+12025550123", chunks[0], scts)...)
				} else {
					pdus = append(pdus, inbConcat(b, "+12025550123", chunks, i%256, false, scts)...)
				}
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := in.HandlePDU(ctx, gateway.InboundPDU{Modem: "m1", TPDU: pdus[i], Received: time.Now()}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pdus/s")
		})
	}
}
