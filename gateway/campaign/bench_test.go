package campaign_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/campaign"
	"github.com/simgate/simgate/store"
)

// The benchmarks of issue 8, on the real bbolt store with fsync. Each
// prints its figures (b.ReportMetric); run them one at a time, e.g.
//
//	go test ./gateway/campaign/ -run '^$' -bench BenchmarkImport500k -benchtime 1x
//	go test ./gateway/campaign/ -run '^$' -bench BenchmarkExport1M -benchtime 1x
//	go test ./gateway/campaign/ -run '^$' -bench BenchmarkNextAndSend200 -benchtime 1x

// resetPeakRSS resets the kernel's peak-RSS mark of this process (Linux:
// clear_refs 5); peakRSS reads it (VmHWM) in MB. Elsewhere both are no-ops
// and peakRSS is 0.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// csvRows streams a contact file of n rows without holding it: a mix of
// names, custom fields and, every 1000th row, a bad number.
func csvRows(n int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 64<<10)
		fmt.Fprintln(w, "external_id,first_name,last_name,cell,zip,precinct,note")
		for i := range n {
			cell := fmt.Sprintf("+1555%07d", i)
			if i%1000 == 999 {
				cell = "12"
			}
			fmt.Fprintf(w, "x%d,Ana%d,\"Li, %d\",%s,%05d,P-%d,\"likes \"\"quotes\"\"\"\n", i, i, i, cell, 10000+i%89999, i%50)
		}
		w.Flush()
		pw.Close()
	}()
	return pr
}

func openBench(b *testing.B, noSync bool) *store.DB {
	b.Helper()
	db, err := store.Open(filepath.Join(b.TempDir(), "simgate.db"), store.Options{NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func benchService(b *testing.B, db *store.DB) (*campaign.Service, *gateway.Dispatcher) {
	b.Helper()
	cfg := gateway.DefaultConfig()
	cfg.DefaultRegion = "US"
	disp, err := gateway.NewDispatcher(cfg, db, nil)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := campaign.New(campaign.Config{DefaultRegion: "US", Hours: campaign.Hours{Start: "00:00", End: "24:00", TimeZone: "UTC"}},
		campaign.Deps{Store: db, Sender: disp, Messages: db, OptOuts: db})
	if err != nil {
		b.Fatal(err)
	}
	return svc, disp
}

var org = campaign.Actor{ID: "org", Organiser: true}

// BenchmarkImport500k imports a streamed 500,000-row CSV (fsync on) and
// reports rows/s, seconds per import and the process's peak RSS.
func BenchmarkImport500k(b *testing.B) {
	n := benchRows(500_000)
	for range b.N {
		b.StopTimer()
		db := openBench(b, false)
		svc, _ := benchService(b, db)
		c, err := svc.Create(ctx, org, campaign.Spec{Title: "bench", OrgName: "Org", Script: "Hi {firstName}, Org here at {precinct}. Reply STOP to opt out", Fields: []string{"precinct"}})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		resetPeakRSS()
		b.StartTimer()
		start := time.Now()
		rep, err := svc.Import(ctx, org, c.ID, csvRows(n), campaign.ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		b.StopTimer()
		if rep.Rows != n || rep.Imported != n-n/1000 {
			b.Fatalf("report %+v", rep)
		}
		b.ReportMetric(d.Seconds(), "s/import")
		b.ReportMetric(float64(n)/d.Seconds(), "rows/s")
		b.ReportMetric(peakRSS(), "peak-RSS-MB")
		db.Close()
		b.StartTimer()
	}
}

// BenchmarkExport1M streams the CSV export of a campaign's 1,000,000
// messages to io.Discard and reports seconds, rows/s, and the heap and peak
// RSS growth during the export (flat memory: neither grows with the rows).
func BenchmarkExport1M(b *testing.B) {
	n := benchRows(1_000_000)
	db := openBench(b, true)
	svc, _ := benchService(b, db)
	c, err := svc.Create(ctx, org, campaign.Spec{Title: "bench", OrgName: "Org"})
	if err != nil {
		b.Fatal(err)
	}
	// 1,000 contacts with 1,000 messages each, written by 32 writers
	// through RecordSend (the store's one write path).
	var contacts []*campaign.Contact
	for i := range 1000 {
		contacts = append(contacts, &campaign.Contact{Cell: fmt.Sprintf("+1555%07d", i), FirstName: "A", Status: campaign.StatusMessaged})
	}
	if _, err := db.AddContacts(ctx, c.ID, 1, contacts); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 32 {
				at := base.Add(time.Duration(i) * time.Millisecond)
				m := &campaign.Message{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), CampaignID: c.ID,
					ContactID: int64(i%1000 + 1), Direction: "out", Step: "reply", Texter: "t" + strconv.Itoa(i%200), Contact: contacts[i%1000].Cell,
					Modem: "sim" + strconv.Itoa(i%4), Status: "delivered", Body: "Hi A, this is the campaign. Polls are open until 8pm. Reply STOP to opt out",
					Parts: 1, Encoding: "gsm7", CreatedAt: at, UpdatedAt: at}
				if _, err := db.RecordSend(ctx, m, nil, nil); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.Logf("setup: %d messages stored in %s", n, time.Since(start).Round(time.Second))
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		resetPeakRSS()
		rssBefore := peakRSS()
		cw := &countWriter{}
		t0 := time.Now()
		rows, err := svc.ExportMessages(ctx, org, c.ID, cw, nil)
		d := time.Since(t0)
		if err != nil || rows != n {
			b.Fatalf("export: %d rows, %v", rows, err)
		}
		runtime.ReadMemStats(&after)
		b.ReportMetric(d.Seconds(), "s/export")
		b.ReportMetric(float64(n)/d.Seconds(), "rows/s")
		b.ReportMetric(float64(cw.n)/(1<<20), "MB-written")
		b.ReportMetric(float64(after.HeapInuse)/(1<<20)-float64(before.HeapInuse)/(1<<20), "heap-growth-MB")
		b.ReportMetric(peakRSS()-rssBefore, "peak-RSS-growth-MB")
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkNextAndSend200 runs 200 texters at once, each looping "take the
// next contact of my queue, send its first message" over its 20 contacts
// (fsync on, the real Dispatcher accepting), and reports the p50, p99 and
// max of one iteration. "paced" has each texter send every 250 ms (four
// times the peak rate of a person, P2P.md), i.e. 800 sends/s offered;
// "saturated" has every texter send back to back, which measures the
// throughput (sends/s) and the queueing that 200 closed loops make.
func BenchmarkNextAndSend200(b *testing.B) {
	b.Run("paced", func(b *testing.B) { benchNextAndSend(b, 250*time.Millisecond) })
	b.Run("saturated", func(b *testing.B) { benchNextAndSend(b, 0) })
}

func benchNextAndSend(b *testing.B, every time.Duration) {
	const texters, per = 200, 20
	for range b.N {
		b.StopTimer()
		db := openBench(b, false)
		svc, _ := benchService(b, db)
		c, err := svc.Create(ctx, org, campaign.Spec{Title: "bench", OrgName: "Org", Script: "Hi {firstName|there}, {texterFirstName} with Org. Reply STOP to opt out"})
		if err != nil {
			b.Fatal(err)
		}
		var sb strings.Builder
		sb.WriteString("firstName,cell\n")
		for i := range texters * per {
			fmt.Fprintf(&sb, "A%d,+1555%07d\n", i, i)
		}
		if _, err := svc.Import(ctx, org, c.ID, strings.NewReader(sb.String()), campaign.ImportOptions{}); err != nil {
			b.Fatal(err)
		}
		if _, err := svc.SetState(ctx, org, c.ID, campaign.StateActive); err != nil {
			b.Fatal(err)
		}
		for t := range texters {
			if _, err := svc.Assign(ctx, org, c.ID, "t"+strconv.Itoa(t), per); err != nil {
				b.Fatal(err)
			}
		}
		lat := make([][]time.Duration, texters)
		var wg sync.WaitGroup
		b.StartTimer()
		start := time.Now()
		for t := range texters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := campaign.Actor{ID: "t" + strconv.Itoa(t), Name: "Sam"}
				// Texters start spread over one interval, as people do.
				next := start.Add(every * time.Duration(t) / texters)
				for range per {
					if every > 0 {
						time.Sleep(time.Until(next))
						next = next.Add(every)
					}
					t0 := time.Now()
					q, err := svc.Queue(ctx, a, c.ID, 1)
					if err != nil || len(q.Items) != 1 {
						b.Errorf("queue: %v %+v", err, q)
						return
					}
					if _, err := svc.SendFirst(ctx, a, c.ID, q.Items[0].Contact.ID); err != nil {
						b.Error(err)
						return
					}
					lat[t] = append(lat[t], time.Since(t0))
				}
			}()
		}
		wg.Wait()
		total := time.Since(start)
		b.StopTimer()
		var all []time.Duration
		for _, l := range lat {
			all = append(all, l...)
		}
		if len(all) != texters*per {
			b.Fatalf("%d sends", len(all))
		}
		slow := map[int]int{}
		for _, l := range lat {
			for i, d := range l {
				if d > 100*time.Millisecond {
					slow[i]++
				}
			}
		}
		b.Logf("iterations over 100 ms, by round: %v", slow)
		slices.Sort(all)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(ms(all[len(all)/2]), "p50-ms")
		b.ReportMetric(ms(all[len(all)*99/100]), "p99-ms")
		b.ReportMetric(ms(all[len(all)-1]), "max-ms")
		b.ReportMetric(float64(len(all))/total.Seconds(), "sends/s")
		db.Close()
		b.StartTimer()
	}
}

// benchRows is def, or BENCH_ROWS from the environment (for profiling runs).
func benchRows(def int) int {
	if v, err := strconv.Atoi(os.Getenv("BENCH_ROWS")); err == nil && v > 0 {
		return v
	}
	return def
}
