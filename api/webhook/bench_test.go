package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simgate/simgate/api/webhook"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store"
)

// BenchmarkDeliver: events notified (durably enqueued, fsynced bbolt) and
// delivered, signed, to a loopback receiver; one op is one event end to end.
func BenchmarkDeliver(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	if err := db.PutWebhook(context.Background(), gateway.Webhook{ID: "h1", URL: srv.URL, Secret: webhook.GenerateSecret()}); err != nil {
		b.Fatal(err)
	}
	cfg := fastConfig(loopbackOnly)
	cfg.PollInterval = 50 * time.Millisecond
	d, err := webhook.New(cfg, db, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Notify(gateway.Event{ID: fmt.Sprint(i), Type: gateway.EventMessageSent, Time: time.Now(), Data: map[string]any{"i": i}})
	}
	deadline := time.Now().Add(time.Minute)
	for got.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-done
	if got.Load() < int64(b.N) {
		b.Fatalf("delivered %d of %d", got.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
