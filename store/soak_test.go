package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

// BenchmarkSoakRetention runs two weeks of steady traffic on a simulated
// clock — every hour 60 outbound messages delivered (realistic records: a
// 70-character body, a 160-byte PDU, contact, modem, agent, idempotency
// key, message reference), one event each handed to one webhook and
// delivered, and a few unmatched status reports — with retention off and
// on (messages 3 days, events, deliveries and reports 1 day, a pass every
// 2 hours), and prints the store file's size at the end of each day. With
// retention on the file stops growing once the retention window is full;
// MiB-used-growth-last-week is what the second week added to the
// pages in use. Bounded: about
// 20,000 messages per run. Run it with
// go test ./store -run '^$' -bench SoakRetention -benchtime 1x
func BenchmarkSoakRetention(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "retention=off"
		if on {
			name = "retention=on"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				soak(b, on)
			}
		})
	}
}

func soak(b *testing.B, retention bool) {
	const (
		days        = 14
		perHour     = 60
		reportsHour = 2
	)
	path := filepath.Join(b.TempDir(), "soak.db")
	db, err := Open(path, Options{NoSync: true}) // sizes as with fsync, minutes faster
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ret *gateway.Retention
	if retention {
		ret, err = gateway.NewRetention(gateway.RetentionConfig{
			Messages: 3 * 24 * time.Hour, Events: 24 * time.Hour, Deliveries: 24 * time.Hour, UnmatchedReports: 24 * time.Hour,
			Batch: 500, Now: func() time.Time { return now },
		}, db)
		if err != nil {
			b.Fatal(err)
		}
	}
	body := strings.Repeat("Hi, this is Sam from the food bank: pantry opens at 9 tomorrow. ", 2)[:70]
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		return fi.Size()
	}
	var sizes []int64
	seq := 0
	for day := range days {
		for hour := range 24 {
			for i := range perHour {
				at := now.Add(time.Duration(i) * time.Minute)
				seq++
				pdu := make([]byte, 160)
				for j := range pdu {
					pdu[j] = byte(seq + j)
				}
				m := &gateway.Message{
					ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), Direction: gateway.Outbound,
					Contact: fmt.Sprintf("+1202555%04d", seq%10000), Body: body, Agent: fmt.Sprintf("agent%d", seq%7),
					Modem: fmt.Sprintf("sim%d", seq%4), Status: gateway.StatusDelivered, Segments: 1,
					IdempotencyKey: fmt.Sprintf("k-%d", seq),
					Parts: []gateway.Part{{Seq: 1, PDU: pdu, State: gateway.PartDelivered, Modem: fmt.Sprintf("sim%d", seq%4),
						MR: seq % 256, ReportStatus: 0, SubmittedAt: at, DeliveredAt: at}},
					CreatedAt: at, UpdatedAt: at,
				}
				if err := db.CreateMessage(ctx, m); err != nil {
					b.Fatal(err)
				}
				if err := db.AppendEvent(ctx, gateway.Event{Type: gateway.EventMessageDelivered, Time: at, MessageID: m.ID, Modem: m.Modem}); err != nil {
					b.Fatal(err)
				}
			}
			// The webhook outbox hands the hour's events on; each is delivered.
			for {
				evs, pos, err := db.NextEvents(ctx, 1000)
				if err != nil {
					b.Fatal(err)
				}
				if pos == "" {
					break
				}
				ds := make([]gateway.Delivery, len(evs))
				for i, e := range evs {
					ds[i] = gateway.Delivery{ID: "msg_" + e.ID, WebhookID: "wh_crm", Event: e, CreatedAt: e.Time, NextAttempt: e.Time}
				}
				if err := db.AdvanceEvents(ctx, pos, ds); err != nil {
					b.Fatal(err)
				}
				for _, d := range ds {
					d.Done, d.Attempts, d.LastAttempt, d.LastStatus = true, 1, d.CreatedAt, 200
					if err := db.UpdateDelivery(ctx, d); err != nil {
						b.Fatal(err)
					}
				}
			}
			for i := range reportsHour {
				if err := db.SaveUnmatchedReport(ctx, gateway.StatusReport{Modem: "sim1", MR: i, Status: 0, Recipient: "+12025550100", Received: now}); err != nil {
					b.Fatal(err)
				}
			}
			now = now.Add(time.Hour)
			if ret != nil && hour%2 == 1 {
				if _, err := ret.Prune(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		// The file grows in steps (bbolt extends it ahead of use); the
		// high-water mark is the end of the last page ever used, and free
		// pages are inside it, waiting for reuse.
		var hwm int64
		if err := db.bolt.View(func(tx *bbolt.Tx) error { hwm = tx.Size(); return nil }); err != nil {
			b.Fatal(err)
		}
		free := int64(db.bolt.Stats().FreePageN+db.bolt.Stats().PendingPageN) * int64(db.bolt.Info().PageSize)
		sizes = append(sizes, hwm)
		b.Logf("day %2d: file %6.2f MiB, pages used up to %6.2f MiB, of which free %6.2f MiB", day+1, mib(size()), mib(hwm), mib(free))
	}
	n, _ := db.CountEvents(ctx)
	counts, _ := db.CountByStatus(ctx)
	b.Logf("stored at the end: %d messages, %d events", counts[gateway.StatusDelivered], n)
	b.ReportMetric(mib(size()), "MiB-file-final")
	b.ReportMetric(mib(sizes[days-1]), "MiB-used-final")
	b.ReportMetric(mib(sizes[days-1]-sizes[days/2-1]), "MiB-used-growth-last-week")
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
