package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/gatewaytest"
	"github.com/simgate/simgate/store/postgres/pgtest"
	"github.com/simgate/simgate/store/storetest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// node opens a store and a queue as node name on schema (a node of its own:
// its own pool, as another process would have).
func node(t *testing.T, dsn, schema, name string, now func() time.Time) (*DB, *Queue) {
	t.Helper()
	db := openSchema(t, dsn, schema)
	q, err := db.NewQueue(ctx, QueueConfig{Node: name, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return db, q
}

func queued(i int, contact string) *gateway.Message {
	m := storetest.NewMessage(i)
	m.Contact = contact
	return m
}

func req(modem string, now time.Time) gateway.ClaimRequest {
	return gateway.ClaimRequest{Modem: modem, PartsLeft: 100, NewContacts: true, Now: now}
}

// Three nodes with four modems each claim from one queue at once: every
// message is submitted exactly once, by one modem, and every contact ends
// bound to the SIM that texted it.
func TestQueueEachMessageOnceAcrossNodes(t *testing.T) {
	dsn, schema := pgtest.Schema(t)
	const nodes, modems, msgs = 3, 4, 240
	var dbs []*DB
	var qs []*Queue
	for n := range nodes {
		db, q := node(t, dsn, schema, fmt.Sprintf("n%d", n), time.Now)
		dbs, qs = append(dbs, db), append(qs, q)
	}
	for i := range msgs {
		m := queued(i, fmt.Sprintf("+1555%07d", i))
		storetest.MustCreate(t, dbs[i%nodes], m)
		if err := qs[i%nodes].Enqueue(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	var (
		sent  sync.Map // id → *atomic.Int32
		total atomic.Int32
		wg    sync.WaitGroup
	)
	deadline := time.Now().Add(60 * time.Second)
	for n := range nodes {
		for k := range modems {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q, modem := qs[n], fmt.Sprintf("n%d-sim%d", n, k)
				for total.Load() < msgs && time.Now().Before(deadline) {
					c, err := q.Claim(ctx, req(modem, time.Now()))
					if err != nil {
						t.Error(err)
						return
					}
					if c == nil {
						select {
						case <-q.Wake(modem):
						case <-time.After(20 * time.Millisecond):
						}
						continue
					}
					if c.Lease.Node != q.cfg.Node || c.Message.Modem != modem || !c.NewContact {
						t.Errorf("claim %+v", c)
					}
					if err := q.Submitting(ctx, c, 1); err != nil {
						t.Error(err)
						return
					}
					if _, err := q.Submitted(ctx, c, 1, int(total.Load())%256, time.Now()); err != nil {
						t.Error(err)
						return
					}
					v, _ := sent.LoadOrStore(c.Message.ID, new(atomic.Int32))
					v.(*atomic.Int32).Add(1)
					total.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	if n := total.Load(); n != msgs {
		t.Fatalf("%d submitted, want %d", n, msgs)
	}
	twice := 0
	sent.Range(func(_, v any) bool {
		if v.(*atomic.Int32).Load() != 1 {
			twice++
		}
		return true
	})
	if twice > 0 {
		t.Errorf("%d messages submitted more than once", twice)
	}
	counts, _ := dbs[0].CountByStatus(ctx)
	if counts[gateway.StatusSent] != msgs {
		t.Errorf("statuses %v", counts)
	}
	m, err := dbs[1].MessageByIdempotencyKey(ctx, "none")
	_ = m
	if !errors.Is(err, gateway.ErrNotFound) {
		t.Fatal(err)
	}
	p, _ := dbs[2].ListMessages(ctx, gateway.MessageFilter{Limit: 20})
	for _, m := range p.Messages {
		s, err := dbs[2].Sticky(ctx, m.Contact)
		if err != nil || s.Modem != m.Modem || m.Parts[0].Modem != m.Modem {
			t.Errorf("contact of %s bound to %+v (%v), sent by %s", m.ID, s, err, m.Modem)
		}
	}
	if st, err := qs[0].Stats(ctx); err != nil || st.Messages != 0 {
		t.Errorf("Stats = %+v, %v", st, err)
	}
}

// A contact bound to a SIM is texted by that SIM only; among what a modem
// may claim, priority then age decides.
func TestQueueStickyAndOrder(t *testing.T) {
	dsn, schema := pgtest.Schema(t)
	clk := &clock{t: storetest.T0.Add(time.Hour)}
	db, q := node(t, dsn, schema, "n1", clk.Now)
	if err := db.SetSticky(ctx, "+1000", gateway.Sticky{Modem: "a", Since: storetest.T0}); err != nil {
		t.Fatal(err)
	}
	bound := queued(1, "+1000")
	old := queued(2, "+2000")
	urgent := queued(3, "+3000")
	urgent.Priority = 5
	for _, m := range []*gateway.Message{bound, old, urgent} {
		storetest.MustCreate(t, db, m)
	}
	now := clk.Now()
	// b may not take a's contact, and takes the urgent one first.
	c, err := q.Claim(ctx, req("b", now))
	if err != nil || c == nil || c.Message.ID != urgent.ID {
		t.Fatalf("b's first claim: %+v, %v; want the urgent one", c, err)
	}
	c2, err := q.Claim(ctx, req("b", now))
	if err != nil || c2 == nil || c2.Message.ID != old.ID {
		t.Fatalf("b's second claim: %+v, %v; want the old one", c2, err)
	}
	if c3, err := q.Claim(ctx, req("b", now)); err != nil || c3 != nil {
		t.Fatalf("b claimed a's contact: %+v, %v", c3, err)
	}
	// a without new-contact budget still takes its own contact.
	r := req("a", now)
	r.NewContacts = false
	ca, err := q.Claim(ctx, r)
	if err != nil || ca == nil || ca.Message.ID != bound.ID || ca.NewContact {
		t.Fatalf("a's claim: %+v, %v", ca, err)
	}
	// Released, the message is claimable again (by its SIM).
	if err := q.Release(ctx, ca, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := q.Submitting(ctx, ca, 1); !errors.Is(err, gateway.ErrClaimLost) {
		t.Errorf("Submitting after Release: %v, want ErrClaimLost", err)
	}
	if again, err := q.Claim(ctx, r); err != nil || again == nil || again.Message.ID != bound.ID || again.Lease.Epoch <= ca.Lease.Epoch {
		t.Errorf("claim after release: %+v, %v", again, err)
	}
	// A second message to b's provisional new contact waits for b.
	storetest.MustCreate(t, db, queued(4, "+2000"))
	if cx, err := q.Claim(ctx, req("c", now)); err != nil || cx != nil {
		t.Errorf("c took a contact b is texting: %+v, %v", cx, err)
	}
	if cb, err := q.Claim(ctx, req("b", now)); err != nil || cb == nil || cb.NewContact {
		t.Errorf("b's second message to its new contact: %+v, %v", cb, err)
	}
}

// A claim whose lease lapsed is taken by another node, and the first
// node's later transitions fail with ErrClaimLost (fencing by epoch).
func TestQueueFencing(t *testing.T) {
	dsn, schema := pgtest.Schema(t)
	ca, cb := &clock{t: storetest.T0}, &clock{t: storetest.T0}
	dbA, qa := node(t, dsn, schema, "a", ca.Now)
	_, qb := node(t, dsn, schema, "b", cb.Now)
	m := queued(1, "+1000")
	storetest.MustCreate(t, dbA, m)
	c1, err := qa.Claim(ctx, req("a1", ca.Now()))
	if err != nil || c1 == nil {
		t.Fatal(c1, err)
	}
	if c, err := qb.Claim(ctx, req("b1", cb.Now())); err != nil || c != nil {
		t.Fatalf("b took a held claim: %+v, %v", c, err)
	}
	// a is frozen past its claim's lease.
	later := storetest.T0.Add(31 * time.Second)
	cb.Set(later)
	c2, err := qb.Claim(ctx, req("b1", later))
	if err != nil || c2 == nil || c2.Lease.Epoch <= c1.Lease.Epoch {
		t.Fatalf("b's claim after the lease: %+v, %v", c2, err)
	}
	if err := qa.Submitting(ctx, c1, 1); !errors.Is(err, gateway.ErrClaimLost) {
		t.Errorf("a's Submitting after losing the claim: %v, want ErrClaimLost", err)
	}
	if _, err := qa.Submitted(ctx, c1, 1, 3, later); !errors.Is(err, gateway.ErrClaimLost) {
		t.Errorf("a's Submitted after losing the claim: %v, want ErrClaimLost", err)
	}
	if err := qb.Submitting(ctx, c2, 1); err != nil {
		t.Fatal(err)
	}
	got, err := qb.Submitted(ctx, c2, 1, 4, later)
	if err != nil || got.Parts[0].Modem != "b1" || got.Parts[0].Attempts != 1 || got.Status != gateway.StatusSent {
		t.Errorf("b's send: %+v, %v", got, err)
	}
}

// Submitting takes one statement only while the row is as the claim last
// wrote it: a write by another (a status report, an operator's change)
// between the claim and Submitting is kept, and Submitting still succeeds;
// a frozen node whose lease lapsed, unclaimed by anyone, still loses it.
func TestQueueSubmittingAfterAnotherWrite(t *testing.T) {
	dsn, schema := pgtest.Schema(t)
	clk := &clock{t: storetest.T0}
	db, q := node(t, dsn, schema, "a", clk.Now)
	m1, m2 := queued(1, "+1001"), queued(2, "+1002")
	storetest.MustCreate(t, db, m1)
	storetest.MustCreate(t, db, m2)
	c1, err := q.Claim(ctx, req("a1", clk.Now()))
	if err != nil || c1 == nil || c1.Message.ID != m1.ID {
		t.Fatal(c1, err)
	}
	if _, err := db.UpdateMessage(ctx, m1.ID, func(m *gateway.Message) error {
		m.Metadata = map[string]string{"note": "kept"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := q.Submitting(ctx, c1, 1); err != nil {
		t.Fatalf("Submitting after another write: %v", err)
	}
	got, err := db.GetMessage(ctx, m1.ID)
	if err != nil || got.Metadata["note"] != "kept" || got.Parts[0].State != gateway.PartSubmitting || got.Parts[0].Attempts != 1 {
		t.Fatalf("after Submitting: %+v, %v", got, err)
	}
	if _, err := q.Submitted(ctx, c1, 1, 1, clk.Now()); err != nil {
		t.Fatal(err)
	}

	c2, err := q.Claim(ctx, req("a1", clk.Now()))
	if err != nil || c2 == nil || c2.Message.ID != m2.ID {
		t.Fatal(c2, err)
	}
	clk.Set(storetest.T0.Add(31 * time.Second)) // frozen past the lease
	if err := q.Submitting(ctx, c2, 1); !errors.Is(err, gateway.ErrClaimLost) {
		t.Errorf("Submitting after the lease lapsed: %v, want ErrClaimLost", err)
	}
	if got, _ := db.GetMessage(ctx, m2.ID); got.Parts[0].State != gateway.PartAssigned {
		t.Errorf("lapsed claim's part is %s", got.Parts[0].State)
	}
}

// A node that stops renewing its lease is reaped by the others: its
// submitting part becomes unknown (never resent), the queued messages of
// contacts bound to its SIMs move to a live SIM (the move recorded), and
// when it comes back it sends none of what was taken and rejoins.
func TestQueueDeadNodeReaped(t *testing.T) {
	dsn, schema := pgtest.Schema(t)
	ca, cb := &clock{t: storetest.T0}, &clock{t: storetest.T0}
	dbA, qa := node(t, dsn, schema, "a", ca.Now)
	dbB, qb := node(t, dsn, schema, "b", cb.Now)
	inFlight := queued(1, "+1000")
	storetest.MustCreate(t, dbA, inFlight)
	c1, err := qa.Claim(ctx, req("a1", ca.Now()))
	if err != nil || c1 == nil {
		t.Fatal(c1, err)
	}
	if err := qa.Submitting(ctx, c1, 1); err != nil {
		t.Fatal(err)
	}
	// a1 texted +2000 before; a message to it waits for a1.
	if err := dbA.SetSticky(ctx, "+2000", gateway.Sticky{Modem: "a1", Since: storetest.T0}); err != nil {
		t.Fatal(err)
	}
	waiting := queued(2, "+2000")
	storetest.MustCreate(t, dbA, waiting)
	if c, _ := qb.Claim(ctx, req("b1", cb.Now())); c != nil {
		t.Fatalf("b took a1's contact while a lives: %+v", c)
	}
	// a dies (no more renewals); b's clock passes a's lease.
	if err := qa.Close(); err != nil {
		t.Fatal(err)
	}
	if ms, err := qb.Reap(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("reap before the lease lapsed: %v, %v", ms, err)
	}
	later := storetest.T0.Add(31 * time.Second)
	cb.Set(later)
	unknown, err := qb.Reap(ctx)
	if err != nil || len(unknown) != 1 || unknown[0].ID != inFlight.ID || unknown[0].Status != gateway.StatusUnknown {
		t.Fatalf("Reap = %+v, %v; want the in-flight message unknown", unknown, err)
	}
	c2, err := qb.Claim(ctx, req("b1", later))
	if err != nil || c2 == nil || c2.Message.ID != waiting.ID || c2.MovedFrom != "a1" || !c2.NewContact {
		t.Fatalf("b's claim of a1's contact: %+v, %v", c2, err)
	}
	if c, _ := qb.Claim(ctx, req("b1", later)); c != nil {
		t.Errorf("the unknown message was claimed again: %+v", c)
	}
	if err := qb.Submitting(ctx, c2, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := qb.Submitted(ctx, c2, 1, 9, later); err != nil {
		t.Fatal(err)
	}
	s, err := dbB.Sticky(ctx, "+2000")
	if err != nil || s.Modem != "b1" || len(s.Moves) != 1 || s.Moves[0].From != "a1" || s.Moves[0].To != "b1" {
		t.Errorf("sticky after the move: %+v, %v", s, err)
	}
	// a comes back: its stale claim sends nothing; it rejoins and sends again.
	qa2, err := dbA.NewQueue(ctx, QueueConfig{Node: "a", Now: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	defer qa2.Close()
	if _, err := qa2.Submitted(ctx, c1, 1, 5, later); !errors.Is(err, gateway.ErrClaimLost) {
		t.Errorf("a's Submitted of the reaped claim: %v, want ErrClaimLost", err)
	}
	got, _ := dbA.GetMessage(ctx, inFlight.ID)
	if got.Status != gateway.StatusUnknown || got.Parts[0].State != gateway.PartUnknown {
		t.Errorf("the reaped message after a's return: %s/%s", got.Status, got.Parts[0].State)
	}
	fresh := queued(3, "+3000")
	storetest.MustCreate(t, dbA, fresh)
	if c, err := qa2.Claim(ctx, req("a1", later)); err != nil || c == nil || c.Message.ID != fresh.ID {
		t.Errorf("a1 after rejoining: %+v, %v", c, err)
	}
}

// An Enqueue on one node wakes the idle workers of another (LISTEN/NOTIFY).
func TestQueueWakeAcrossNodes(t *testing.T) {
	dsn, schema := pgtest.Schema(t)
	dbA, qa := node(t, dsn, schema, "a", time.Now)
	_, qb := node(t, dsn, schema, "b", time.Now)
	wake := qb.Wake("b1")
	m := queued(1, "+1000")
	storetest.MustCreate(t, dbA, m)
	// The first wake-up may be the listener's own when it starts listening
	// (it wakes everyone once, for what it may have missed); the second
	// can only come from a NOTIFY.
	deadline := time.After(20 * time.Second)
	for woken := 0; woken < 2; {
		if err := qa.Enqueue(ctx, m); err != nil {
			t.Fatal(err)
		}
		select {
		case <-wake:
			woken++
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("b1 woken %d times by a's Enqueues, want 2", woken)
		}
	}
}

// BenchmarkQueueClaim measures a claim-submit-submitted cycle with three
// nodes of four modems each claiming from one queue at once, and reports
// the claim latency (p50, p99) and the cycles per second.
//
//	go test ./store/postgres -run '^$' -bench QueueClaim -benchtime 2000x
func BenchmarkQueueClaim(b *testing.B) {
	dsn, schema := pgtest.Schema(b)
	const nodes, modems = 3, 4
	var dbs []*DB
	var qs []*Queue
	for n := range nodes {
		db := openSchema(b, dsn, schema)
		q, err := db.NewQueue(ctx, QueueConfig{Node: fmt.Sprintf("n%d", n)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = q.Close() })
		dbs, qs = append(dbs, db), append(qs, q)
	}
	for i := range b.N {
		storetest.MustCreate(b, dbs[i%nodes], queued(i, fmt.Sprintf("+1555%07d", i)))
	}
	var (
		mu    sync.Mutex
		lats  []time.Duration
		total atomic.Int64
		wg    sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for n := range nodes {
		for k := range modems {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q, modem := qs[n], fmt.Sprintf("n%d-sim%d", n, k)
				var mine []time.Duration
				defer func() { mu.Lock(); lats = append(lats, mine...); mu.Unlock() }()
				for total.Load() < int64(b.N) {
					t0 := time.Now()
					c, err := q.Claim(ctx, req(modem, time.Now()))
					if err != nil {
						b.Error(err)
						return
					}
					if c == nil {
						if total.Load() >= int64(b.N) {
							return
						}
						time.Sleep(time.Millisecond) // the others hold the rest: a benchmark backoff, not a wait for a result
						continue
					}
					mine = append(mine, time.Since(t0))
					if err := q.Submitting(ctx, c, 1); err != nil {
						b.Error(err)
						return
					}
					if _, err := q.Submitted(ctx, c, 1, 1, time.Now()); err != nil {
						b.Error(err)
						return
					}
					total.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slicesSortDurations(lats)
	if len(lats) > 0 {
		b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "claim-p50-ms")
		b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "claim-p99-ms")
	}
	b.ReportMetric(float64(total.Load())/elapsed.Seconds(), "sends/s")
}

func slicesSortDurations(d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
}

// BenchmarkQueueDispatchEfficiency: three nodes, each a real
// gateway.Dispatcher of four modems (gatewaytest.Device, each send taking
// a fixed time, no pacing) over one PostgreSQL queue, messages submitted
// round-robin to the three. Measured over the span the single-host
// BenchmarkDispatchEfficiency (gateway/bench_test.go) uses, from the first
// send until 80% of the messages are sent (every modem still has work):
// sends achieved against the modems' limit (12 / send time), the send on
// the wire at the end counted for its part done. 1.0 means every modem is
// on the wire all the time.
//
//	go test ./store/postgres -run '^$' -bench QueueDispatchEfficiency -benchtime 1x
func BenchmarkQueueDispatchEfficiency(b *testing.B) {
	for _, send := range []time.Duration{time.Second, 200 * time.Millisecond} {
		b.Run("send="+send.String(), func(b *testing.B) {
			var eff float64
			for range b.N {
				eff = runQueueEfficiency(b, send, int(8*time.Second/send))
			}
			b.ReportMetric(eff, "efficiency")
		})
	}
}

func runQueueEfficiency(b *testing.B, send time.Duration, perModem int) float64 {
	b.StopTimer()
	const nodes, modems = 3, 4
	dsn, schema := pgtest.Schema(b)
	lat := &latencies{}
	var (
		disps []*gateway.Dispatcher
		devs  []*gatewaytest.Device
	)
	for n := range nodes {
		db := openSchema(b, dsn, schema)
		q, err := db.NewQueue(ctx, QueueConfig{Node: fmt.Sprintf("n%d", n)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = q.Close() })
		cfg := gateway.DefaultConfig()
		cfg.DefaultRegion = "US"
		cfg.Pacing = gateway.PacingConfig{}
		cfg.Location = time.UTC
		cfg.Queue = &timedQueue{Queue: q, lat: lat}
		d, err := gateway.NewDispatcher(cfg, db, nil)
		if err != nil {
			b.Fatal(err)
		}
		for k := range modems {
			dv := gatewaytest.NewDevice(fmt.Sprintf("n%d-sim%d", n, k))
			dv.Latency = send
			d.AddDevice(dv, gateway.ModemConfig{Name: dv.Name()})
			devs = append(devs, dv)
		}
		disps = append(disps, d)
	}
	total := nodes * modems * perModem
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range total {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := disps[i%nodes].Submit(ctx, gateway.SendRequest{To: fmt.Sprintf("+1202555%04d", i), Body: "benchmark message"}); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, nodes)
	b.StartTimer()
	for _, d := range disps {
		go func() { done <- d.Run(runCtx) }()
	}
	target := total * 8 / 10
	deadline := time.Now().Add(time.Duration(perModem)*send*3 + 30*time.Second)
	for {
		sent := 0
		for _, dv := range devs {
			sent += len(dv.Sent())
		}
		if sent >= target {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("sent %d of %d by the deadline", sent, total)
		}
		time.Sleep(time.Millisecond)
	}
	end := time.Now()
	b.StopTimer()
	var first time.Time
	for _, dv := range devs {
		if s := dv.Sends(); len(s) > 0 && (first.IsZero() || s[0].At.Before(first)) {
			first = s[0].At
		}
	}
	cancel()
	for _, d := range disps {
		d.Close()
		<-done
	}
	// Sends achieved over the span, the send on the wire at its end
	// counted for the part done (a whole count would drop up to a send per
	// modem: 7% with 1 s sends over 8 s), against what the modems' limit
	// allows over it; that is, the share of the span the modems spent on
	// the wire. Where the rest went: each modem's late start (its first
	// send after the first of all) and its gaps between one send's end and
	// the next one's start.
	span := end.Sub(first)
	var wire, lag, gap time.Duration
	gaps := 0
	for _, dv := range devs {
		s := dv.Sends()
		if len(s) == 0 {
			continue
		}
		lag += s[0].At.Sub(first)
		for i, x := range s {
			if !x.At.Before(end) {
				break
			}
			stop := x.End
			if stop.IsZero() || stop.After(end) {
				stop = end
			}
			wire += stop.Sub(x.At)
			if i > 0 {
				gap += x.At.Sub(s[i-1].End)
				gaps++
			}
		}
	}
	eff := wire.Seconds() / (float64(len(devs)) * span.Seconds())
	b.ReportMetric(float64(target)/span.Seconds(), "sends/s")
	lat.report(b)
	b.ReportMetric(float64(lag.Milliseconds())/float64(len(devs)), "start-lag-ms")
	if gaps > 0 {
		b.ReportMetric(float64(gap.Microseconds())/float64(gaps)/1000, "gap-ms")
	}
	b.Logf("nodes=%d modems=%d send=%s queued=%d efficiency=%.3f", nodes, nodes*modems, send, total, eff)
	return eff
}

// timedQueue times the dispatcher's claims and submitting marks.
type timedQueue struct {
	*Queue
	lat *latencies
}

func (t *timedQueue) Claim(ctx context.Context, r gateway.ClaimRequest) (*gateway.Claim, error) {
	t0 := time.Now()
	c, err := t.Queue.Claim(ctx, r)
	if c != nil {
		t.lat.add(&t.lat.claim, time.Since(t0))
	}
	return c, err
}

func (t *timedQueue) Submitting(ctx context.Context, c *gateway.Claim, seq int) error {
	t0 := time.Now()
	err := t.Queue.Submitting(ctx, c, seq)
	t.lat.add(&t.lat.submitting, time.Since(t0))
	return err
}

type latencies struct {
	mu                sync.Mutex
	claim, submitting []time.Duration
}

func (l *latencies) add(to *[]time.Duration, d time.Duration) {
	l.mu.Lock()
	*to = append(*to, d)
	l.mu.Unlock()
}

// report prints p50 and p99 of each.
func (l *latencies) report(b *testing.B) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range []struct {
		name string
		d    []time.Duration
	}{{"claim", l.claim}, {"submitting", l.submitting}} {
		if len(x.d) == 0 {
			continue
		}
		slicesSortDurations(x.d)
		b.ReportMetric(float64(x.d[len(x.d)/2].Microseconds())/1000, x.name+"-p50-ms")
		b.ReportMetric(float64(x.d[len(x.d)*99/100].Microseconds())/1000, x.name+"-p99-ms")
	}
}
