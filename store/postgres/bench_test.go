package postgres

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simgate/simgate/store/postgres/pgtest"
	"github.com/simgate/simgate/store/storetest"
)

// BenchmarkIngestThreeNodes measures aggregate durable ingest: three nodes
// (separate pools, as three processes would have) each with 32 concurrent
// callers of CreateMessage, every call committed before it returns.
//
//	go test ./store/postgres -run '^$' -bench IngestThreeNodes -benchtime 20000x
func BenchmarkIngestThreeNodes(b *testing.B) {
	dsn, schema := pgtest.Schema(b)
	const nodes, callers = 3, 32
	var dbs []*DB
	for range nodes {
		dbs = append(dbs, openSchema(b, dsn, schema))
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for n := range nodes {
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= int64(b.N) {
						return
					}
					m := storetest.NewMessage(int(i))
					m.ID = ""
					m.IdempotencyKey = fmt.Sprintf("k%d", i)
					if err := dbs[n].CreateMessage(ctx, m); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
