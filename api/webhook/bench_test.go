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
		emit(b, db, d, gateway.Event{Type: gateway.EventMessageSent, Time: time.Now(), Data: gateway.MessageSentData{Segments: i}})
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

// BenchmarkHealthyBehindHanging measures how long a healthy endpoint waits
// for its deliveries while another endpoint accepts connections and never
// answers (each attempt there runs into Config.Timeout, the default 10s).
// 20 events, both endpoints subscribed to all; healthy-s is the time from the
// first event to the healthy endpoint's 20th delivery. Run it once:
// go test ./api/webhook -run '^$' -bench HealthyBehindHanging -benchtime 1x
func BenchmarkHealthyBehindHanging(b *testing.B) {
	for i := 0; i < b.N; i++ {
		db, err := store.Open(filepath.Join(b.TempDir(), fmt.Sprint("db", i)), store.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		var got atomic.Int64
		ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}))
		for _, h := range []gateway.Webhook{{ID: "a_hang", URL: hang.URL, Secret: webhook.GenerateSecret()}, {ID: "b_ok", URL: ok.URL, Secret: webhook.GenerateSecret()}} {
			if err := db.PutWebhook(context.Background(), h); err != nil {
				b.Fatal(err)
			}
		}
		d, err := webhook.New(webhook.Config{Allow: loopbackOnly, PollInterval: 50 * time.Millisecond}, db, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = d.Run(ctx) }()
		const n = 20
		start := time.Now()
		for j := range n {
			e := gateway.Event{ID: fmt.Sprintf("01JDQ3ZK8H00000000000000%02d", j), Type: gateway.EventMessageSent, Time: time.Now()}
			if err := db.AppendEvent(context.Background(), e); err != nil {
				b.Fatal(err)
			}
			d.Notify(e)
		}
		deadline := time.Now().Add(3 * time.Minute)
		for got.Load() < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		took := time.Since(start)
		close(release)
		cancel()
		<-done
		hang.Close()
		ok.Close()
		db.Close()
		if got.Load() < n {
			b.Fatalf("healthy endpoint got %d of %d in %s", got.Load(), n, took)
		}
		b.ReportMetric(took.Seconds(), "healthy-s")
	}
}
