package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

// benchMsg is a realistic outbound message: 1-3 parts of ~160-byte PDUs.
func benchMsg(r *rand.Rand, at time.Time) *gateway.Message {
	n := 1 + r.IntN(3)
	m := &gateway.Message{
		ID:        ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(),
		Direction: gateway.Outbound,
		Contact:   fmt.Sprintf("+1555%07d", r.IntN(100_000)),
		Body:      "Hi Sam, this is Alex from the campaign. Polls are open 7am to 8pm tomorrow; reply with your ZIP and I'll send your polling place.",
		Agent:     fmt.Sprintf("agent%02d", r.IntN(40)),
		Encoding:  "gsm7",
		Segments:  n,
		Status:    gateway.StatusQueued,
		Metadata:  map[string]string{"campaign": "gotv-2026"},
		APIKeyID:  "key_abc123",
		CreatedAt: at,
		UpdatedAt: at,
	}
	for i := range n {
		pdu := make([]byte, 150+r.IntN(20))
		for j := range pdu {
			pdu[j] = byte(r.Uint32())
		}
		m.Parts = append(m.Parts, gateway.Part{Seq: i + 1, PDU: pdu, State: gateway.PartQueued, MR: -1, ReportStatus: -1, UpdatedAt: at})
	}
	return m
}

// BenchmarkCreateMessage measures durable (fsynced, group-committed)
// CreateMessage with 1, 16 and 64 concurrent producers: accepts/s and the
// p50/p99 latency of one call.
func BenchmarkCreateMessage(b *testing.B) {
	for _, producers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			// messages prepared up front, so that only the store is measured
			msgs := make([]*gateway.Message, b.N)
			r := rand.New(rand.NewPCG(1, 2))
			now := time.Now()
			for i := range msgs {
				msgs[i] = benchMsg(r, now.Add(time.Duration(i)))
			}
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1) - 1)
						if i >= b.N {
							return
						}
						t := time.Now()
						if err := db.CreateMessage(ctx, msgs[i]); err != nil {
							b.Error(err)
							return
						}
						lat[i] = time.Since(t)
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "accepts/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
			if nb := db.batches.Load(); nb > 0 {
				b.ReportMetric(float64(db.batchedOps.Load())/float64(nb), "ops/commit")
				b.ReportMetric(float64(db.commitNanos.Load())/float64(nb)/1e6, "ms/commit")
				st := db.bolt.Stats()
				b.ReportMetric(float64(st.TxStats.GetWrite())/float64(nb), "pages/commit")
			}
		})
	}
}

// readyDB builds (once, cached under $TMPDIR/simgate-queued-<n>-s<schema>)
// a database of n queued messages as the daemon's intake writes them (69
// characters, one part, each to its own contact), every 8th contact with a
// sticky binding that records one move. NoSync, in transactions of 10,000.
func readyDB(b *testing.B, n int) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("simgate-queued-%d-s%d", n, SchemaVersion))
	path := filepath.Join(dir, "ready.db")
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		return path
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	_ = os.Remove(path)
	start := time.Now()
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	body := "Hi Sam, can you make it to the food bank on Saturday at 10? Reply YES"[:69]
	base := time.Now().Add(-time.Hour).UTC()
	const chunk = 10_000
	for i := 0; i < n; i += chunk {
		type rec struct {
			m   *gateway.Message
			raw []byte
			es  []entry
		}
		var recs []rec
		for j := i; j < min(i+chunk, n); j++ {
			to := fmt.Sprintf("+1202%07d", 2_000_000+j)
			enc, err := gateway.EncodeSubmit(to, body, true, 1+j%255)
			if err != nil {
				b.Fatal(err)
			}
			at := base.Add(time.Duration(j) * time.Microsecond)
			m := &gateway.Message{ID: gateway.NewID(at), Direction: gateway.Outbound, Contact: to, ContactRaw: to,
				Body: body, Agent: fmt.Sprintf("agent%02d", j%40), Encoding: enc.Encoding, Segments: 1, StatusReport: true,
				Status: gateway.StatusQueued, APIKeyID: "key_0123456789ab", CreatedAt: at, UpdatedAt: at,
				Parts: []gateway.Part{{Seq: 1, PDU: enc.PDUs[0], State: gateway.PartQueued, MR: -1, ReportStatus: -1, UpdatedAt: at}}}
			raw, es, err := prepare(m)
			if err != nil {
				b.Fatal(err)
			}
			recs = append(recs, rec{m, raw, es})
		}
		err := db.bolt.Update(func(tx *bbolt.Tx) error {
			for j, r := range recs {
				if err := putNew(tx, r.m.ID, r.raw, r.es); err != nil {
					return err
				}
				if (i+j)%8 == 0 {
					s := gateway.Sticky{Modem: fmt.Sprintf("modem%d", (i+j)%16), SIM: fmt.Sprintf("8901%015d", (i+j)%16), Since: base,
						Moves: []gateway.StickyMove{{From: "modem0", To: fmt.Sprintf("modem%d", (i+j)%16), At: base, Reason: "rebound"}}}
					if err := putSticky(tx, r.m.Contact, s); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := db.bolt.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(path)
	b.Logf("built %d queued messages in %s, file %d MB", n, time.Since(start).Round(time.Second), fi.Size()>>20)
	if err := os.WriteFile(filepath.Join(dir, "complete"), nil, 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkReadyAfterRestart times what the store does for a restart with
// a backlog: Open, then QueueEntries over 1,000,000 queued messages (what
// LocalQueue.Recover reads; fn only counts), every 8th contact sticky.
// SIMGATE_READY_N overrides the size. The database is built once and cached
// in the temp dir. With SIMGATE_READY_COLD=1 the file's pages are dropped
// from the page cache before each Open (a cold start after a reboot).
// Reported: ready_ms (Open + the walk), walk_ms, and the heap allocated
// per entry.
func BenchmarkReadyAfterRestart(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("SIMGATE_READY_N"); s != "" {
		fmt.Sscan(s, &n)
	}
	path := readyDB(b, n)
	cold := os.Getenv("SIMGATE_READY_COLD") != ""
	b.ResetTimer()
	var entries, sticky int
	for range b.N {
		if cold {
			b.StopTimer()
			dropCache(b, path)
			b.StartTimer()
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		db, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		walk := time.Now()
		entries, sticky = 0, 0
		if err := db.QueueEntries(ctx, func(e gateway.QueueEntry) error {
			entries++
			if e.Sticky != "" {
				sticky++
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		end := time.Now()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(end.Sub(start).Microseconds())/1000, "ready_ms")
		b.ReportMetric(float64(end.Sub(walk).Microseconds())/1000, "walk_ms")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(max(entries, 1)), "heap_B/entry")
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(max(entries, 1)), "allocs/entry")
		b.StopTimer()
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	if entries != n || sticky != (n+7)/8 {
		b.Fatalf("%d entries (%d sticky), want %d (%d)", entries, sticky, n, (n+7)/8)
	}
}

// BenchmarkEncodeMessage measures the record encoding (format 1) of a realistic
// message: size and encode+decode time.
func BenchmarkEncodeMessage(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	msgs := make([]*gateway.Message, 64)
	total := 0
	for i := range msgs {
		msgs[i] = benchMsg(r, time.Now())
		raw, _ := encodeMessage(msgs[i])
		total += len(raw)
	}
	b.ResetTimer()
	for i := range b.N {
		raw, err := encodeMessage(msgs[i%len(msgs)])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodeMessage(msgs[i%len(msgs)].ID, raw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total)/float64(len(msgs)), "bytes/msg")
}

// BenchmarkStoreBytes measures the disk a campaign backlog takes: 100,000
// queued messages of 69 characters (one GSM-7 part, status report asked
// for, their PDUs made by gateway.EncodeSubmit as intake makes them) to as
// many contacts in random order, created by 64 producers (NoSync: the layout is the same),
// reported as file bytes per message, the bytes up to the file's high
// water mark (used: free pages included) and those of the buckets holding
// an entry per message.
// SIMGATE_BENCH_MESSAGES sets another number of messages.
func BenchmarkStoreBytes(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("SIMGATE_BENCH_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	body := "Hi Sam, can you make it to the food bank on Saturday at 10? Reply YES"[:69]
	contacts := rand.New(rand.NewPCG(7, 8)).Perm(n)
	for range b.N {
		path := filepath.Join(b.TempDir(), "size.db")
		db, err := Open(path, Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= n {
						return
					}
					to := fmt.Sprintf("+1202%07d", 2_000_000+contacts[i])
					enc, err := gateway.EncodeSubmit(to, body, true, 1+i%255)
					if err != nil {
						b.Error(err)
						return
					}
					now := time.Now().UTC()
					m := &gateway.Message{ID: gateway.NewID(now), Direction: gateway.Outbound, Contact: to, ContactRaw: to,
						Body: body, Agent: fmt.Sprintf("agent%02d", i%40), Encoding: enc.Encoding, Segments: 1, StatusReport: true,
						Status: gateway.StatusQueued, RequestHash: fmt.Sprintf("%064x", i*7919), APIKeyID: "key_0123456789ab",
						CreatedAt: now, UpdatedAt: now,
						Parts: []gateway.Part{{Seq: 1, PDU: enc.PDUs[0], State: gateway.PartQueued, MR: -1, ReportStatus: -1, UpdatedAt: now}}}
					if err := db.CreateMessage(ctx, m); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		var buckets int
		var used int64
		if err := db.view(func(tx *bbolt.Tx) error {
			used = tx.Size()
			return tx.ForEach(func(name []byte, bk *bbolt.Bucket) error {
				if st := bk.Stats(); st.KeyN >= n/2 {
					buckets += st.LeafAlloc + st.BranchAlloc
					b.Logf("%-14s %6.1f bytes/msg", name, float64(st.LeafAlloc+st.BranchAlloc)/float64(n))
				}
				return nil
			})
		}); err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fi.Size())/float64(n), "file_bytes/msg")
		b.ReportMetric(float64(used)/float64(n), "used_bytes/msg")
		b.ReportMetric(float64(buckets)/float64(n), "msg_buckets_bytes/msg")
	}
}
