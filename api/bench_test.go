package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store"
)

// BenchmarkPostMessages measures durable accepts: 64 concurrent clients
// POST /v1/messages over loopback HTTP to a server whose Sender is a running
// gateway.Dispatcher (no devices) over a real, fsyncing store.DB. Every 202
// means the message was committed. It reports accepts/s and the p50/p99
// latency of one accept.
//
//	go test -run '^$' -bench BenchmarkPostMessages -benchtime 20000x ./api
func BenchmarkPostMessages(b *testing.B) {
	const clients = 64
	db, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	gc := gateway.DefaultConfig()
	gc.DefaultRegion = "US"
	disp, err := gateway.NewDispatcher(gc, db, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); _ = disp.Run(ctx) }()
	defer func() { cancel(); <-runDone; disp.Close() }()

	srv, err := api.New(api.Config{DefaultRegion: "US"}, api.Deps{Messages: db, OptOuts: db, Keys: db, Webhooks: db, Sender: disp, Fleet: disp})
	if err != nil {
		b.Fatal(err)
	}
	secret, k, err := api.GenerateKey("bench", []string{"send"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := db.CreateKey(ctx, k); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	defer func() { stop(); <-served }()
	url := "http://" + ln.Addr().String() + "/v1/messages"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}

	var (
		next   atomic.Int64
		mu     sync.Mutex
		lat    = make([]time.Duration, 0, b.N)
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				body := fmt.Sprintf(`{"to":"+1555%07d","body":"Hello from the benchmark, message %d"}`, i%10000000, i)
				req, _ := http.NewRequest("POST", url, bytes.NewReader([]byte(body)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+secret)
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusAccepted {
					failed.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "accepts/s")
	b.ReportMetric(float64(lat[len(lat)*50/100].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}
