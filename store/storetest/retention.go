package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

var retentionTests = []Test{
	{"PruneEverythingOld", testPruneEverythingOld},
	{"PruneBatches", testPruneBatches},
	{"OutboxCursor", testOutboxCursor},
	{"PruneKeepsEventsNotHandedOn", testPruneKeepsEventsNotHandedOn},
	{"DueDeliveriesSkipsBusyEndpoints", testDueDeliveriesSkip},
}

// RetentionFixture is what SeedRetention stored: the records retention with
// 30 days for messages and 7 days for the rest must delete (Gone*) and keep.
type RetentionFixture struct {
	Now                   time.Time
	GoneMessages, KeptMsg []*gateway.Message
	GoneDeliveries        []string
	KeptDeliveries        []string
	GoneSticky            []string // contacts whose binding goes
}

// RetentionConfig is the retention SeedRetention's fixture is built for.
func RetentionConfig(now time.Time, batch int) gateway.RetentionConfig {
	return gateway.RetentionConfig{
		Messages: 30 * 24 * time.Hour, Events: 7 * 24 * time.Hour, Deliveries: 7 * 24 * time.Hour, UnmatchedReports: 7 * 24 * time.Hour,
		Batch: batch, Now: func() time.Time { return now },
	}
}

// SeedRetention stores old and recent messages of every status, deliveries,
// unmatched reports and events, and says which retention must delete.
func SeedRetention(t testing.TB, db Backend) RetentionFixture {
	t.Helper()
	f := RetentionFixture{Now: T0.Add(100 * 24 * time.Hour)}
	old := f.Now.Add(-60 * 24 * time.Hour)
	recent := f.Now.Add(-time.Hour)
	mk := func(i int, at time.Time, st gateway.Status) *gateway.Message {
		m := NewMessage(i)
		m.CreatedAt, m.UpdatedAt, m.Status = at.Add(time.Duration(i)*time.Second), at, st
		m.Modem = "sim1"
		m.IdempotencyKey = fmt.Sprintf("idem-%02d", i)
		if st == gateway.StatusReceived {
			m.Direction = gateway.Inbound
			m.Parts = nil
		} else if st != gateway.StatusQueued {
			m.Parts[0].Modem, m.Parts[0].MR, m.Parts[0].SubmittedAt, m.Parts[0].State = "sim1", i, at, gateway.PartSubmitted
		}
		MustCreate(t, db, m)
		return m
	}
	for i := range 5 {
		f.GoneMessages = append(f.GoneMessages, mk(i, old, gateway.StatusDelivered))
	}
	f.GoneMessages = append(f.GoneMessages, mk(5, old, gateway.StatusFailed), mk(6, old, gateway.StatusReceived),
		mk(11, old, gateway.StatusCancelled), mk(12, old, gateway.StatusExpired), mk(13, old, gateway.StatusUnknown))
	f.KeptMsg = append(f.KeptMsg, mk(7, old, gateway.StatusQueued), mk(8, old, gateway.StatusSent), mk(9, old, gateway.StatusSending),
		mk(10, recent, gateway.StatusDelivered))

	ds := []gateway.Delivery{
		{ID: "d_old_done", WebhookID: "wh1", Done: true, CreatedAt: old},
		{ID: "d_old_failed", WebhookID: "callback:https://x.example/cb", Failed: true, CreatedAt: old},
		{ID: "d_old_pending", WebhookID: "wh1", CreatedAt: old},
		{ID: "d_new_done", WebhookID: "wh1", Done: true, CreatedAt: recent},
		{ID: "d_old_done2", WebhookID: "wh2", Done: true, CreatedAt: old},
	}
	if err := db.EnqueueDeliveries(ctx, ds); err != nil {
		t.Fatal(err)
	}
	f.GoneDeliveries = []string{"d_old_done", "d_old_failed", "d_old_done2"}
	f.KeptDeliveries = []string{"d_old_pending", "d_new_done"}
	for _, r := range []gateway.StatusReport{{Modem: "sim1", MR: 1, Received: old}, {Modem: "sim1", MR: 2, Received: old}, {Modem: "sim1", MR: 3, Received: recent}} {
		if err := db.SaveUnmatchedReport(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for i, at := range []time.Time{old, old, old, recent} {
		if err := db.AppendEvent(ctx, gateway.Event{Type: gateway.EventModemUp, Time: at.Add(time.Duration(i) * time.Millisecond), Modem: "sim1"}); err != nil {
			t.Fatal(err)
		}
	}
	// Every contact 0..9 has a SIM binding; 1 to 6 have only messages that
	// retention deletes (0 keeps message 10, 7 to 9 their unfinished ones).
	for i := range 10 {
		if err := db.SetSticky(ctx, fmt.Sprintf("+1555000%04d", i), gateway.Sticky{Modem: "sim1", Since: old}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 6; i++ {
		f.GoneSticky = append(f.GoneSticky, fmt.Sprintf("+1555000%04d", i))
	}
	handOn(t, db)
	return f
}

func testPruneEverythingOld(t *testing.T, h Harness) {
	db := h.Open(t)
	f := SeedRetention(t, db)
	r, err := gateway.NewRetention(RetentionConfig(f.Now, 2), db)
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (gateway.Pruned{Messages: len(f.GoneMessages), Events: 3, Deliveries: 3, UnmatchedReports: 2, Sticky: len(f.GoneSticky)}); p != want {
		t.Errorf("Prune = %+v, want %+v", p, want)
	}
	for _, m := range f.GoneMessages {
		if _, err := db.GetMessage(ctx, m.ID); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("pruned message %s (%s): GetMessage err %v", m.ID, m.Status, err)
		}
		if _, err := db.MessageByIdempotencyKey(ctx, m.IdempotencyKey); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("pruned message %s: idempotency key still found (%v)", m.ID, err)
		}
		if len(m.Parts) > 0 && m.Parts[0].MR >= 0 {
			if id, _, err := db.PartByMR(ctx, "sim1", m.Parts[0].MR, time.Time{}); err == nil {
				t.Errorf("pruned message %s: PartByMR still finds %s", m.ID, id)
			}
		}
	}
	for _, m := range f.KeptMsg {
		if _, err := db.GetMessage(ctx, m.ID); err != nil {
			t.Errorf("kept message %s (%s): %v", m.ID, m.Status, err)
		}
	}
	if id, _, err := db.PartByMR(ctx, "sim1", 8, time.Time{}); err != nil || id != f.KeptMsg[1].ID {
		t.Errorf("PartByMR of the kept sent message = %q, %v", id, err)
	}
	counts, _ := db.CountByStatus(ctx)
	want := map[gateway.Status]int{gateway.StatusQueued: 1, gateway.StatusSent: 1, gateway.StatusSending: 1, gateway.StatusDelivered: 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("CountByStatus = %v, want %v", counts, want)
	}
	for _, fl := range []gateway.MessageFilter{{Modem: "sim1"}, {}, {Contact: f.GoneMessages[0].Contact}, {Agent: f.GoneMessages[0].Agent}, {Direction: gateway.Inbound}} {
		fl.Limit = 100
		ids := ListAll(t, db, fl)
		for _, id := range ids {
			for _, m := range f.GoneMessages {
				if id == m.ID {
					t.Errorf("ListMessages(%+v) still lists pruned %s", fl, id)
				}
			}
		}
	}
	if n, _ := db.PendingDeliveries(ctx); n != 1 {
		t.Errorf("PendingDeliveries = %d, want 1 (a pending delivery is never pruned)", n)
	}
	if got, _ := db.ListDeliveries(ctx, "wh1", 0); fmt.Sprint(delivIDs(got)) != "[d_new_done d_old_pending]" {
		t.Errorf("wh1 deliveries left = %v, want the pending and the recent one", delivIDs(got))
	}
	for _, w := range []string{"wh2", "callback:https://x.example/cb"} {
		if got, _ := db.ListDeliveries(ctx, w, 0); len(got) != 0 {
			t.Errorf("%s deliveries left = %v", w, delivIDs(got))
		}
	}
	for i := range 10 {
		contact := fmt.Sprintf("+1555000%04d", i)
		_, err := db.Sticky(ctx, contact)
		gone := slices.Contains(f.GoneSticky, contact)
		if gone && !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("binding of %s, whose messages are all pruned: %v, want ErrNotFound", contact, err)
		}
		if !gone && err != nil {
			t.Errorf("binding of %s, who has messages left: %v", contact, err)
		}
	}
	if _, n, _ := db.UnmatchedReports(ctx, 0); n != 1 {
		t.Errorf("unmatched reports left = %d, want 1", n)
	}
	if n, _ := db.CountEvents(ctx); n != 1 {
		t.Errorf("events left = %d, want 1", n)
	}
	if p, err := r.Prune(ctx); err != nil || p != (gateway.Pruned{}) {
		t.Errorf("second Prune = %+v, %v; want nothing left to do", p, err)
	}
}

// testPruneBatches: each call deletes at most its limit.
func testPruneBatches(t *testing.T, h Harness) {
	db := h.Open(t)
	f := SeedRetention(t, db)
	before := f.Now.Add(-30 * 24 * time.Hour)
	total := 0
	for range 20 {
		n, err := db.PruneMessages(ctx, before, 3)
		if err != nil {
			t.Fatal(err)
		}
		if n > 3 {
			t.Fatalf("PruneMessages(limit 3) deleted %d", n)
		}
		total += n
		if n < 3 {
			break
		}
	}
	if total != len(f.GoneMessages) {
		t.Errorf("batches deleted %d messages, want %d", total, len(f.GoneMessages))
	}
	if n, err := db.PruneDeliveries(ctx, before, 1); n != 1 || err != nil {
		t.Errorf("PruneDeliveries(limit 1) = %d, %v; want 1", n, err)
	}
	if n, err := db.PruneUnmatchedReports(ctx, before, 1); n != 1 || err != nil {
		t.Errorf("PruneUnmatchedReports(limit 1) = %d, %v; want 1", n, err)
	}
	if n, err := db.PruneEvents(ctx, before, 2); n != 2 || err != nil {
		t.Errorf("PruneEvents(limit 2) = %d, %v; want 2", n, err)
	}
}

// handOn moves the outbox past every stored event, making no deliveries.
func handOn(t testing.TB, db Backend) {
	t.Helper()
	for range 1000 {
		evs, pos, err := db.NextEvents(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if pos == "" {
			return
		}
		if err := db.AdvanceEvents(ctx, pos, nil); err != nil {
			t.Fatalf("AdvanceEvents(%q) after %d events: %v", pos, len(evs), err)
		}
	}
	t.Fatal("the outbox does not end")
}

func eventIDs(evs []gateway.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

// testOutboxCursor: NextEvents reads after a durable cursor that
// AdvanceEvents moves together with storing the deliveries.
func testOutboxCursor(t *testing.T, h Harness) {
	db := h.Open(t)
	if evs, pos, err := db.NextEvents(ctx, 10); len(evs) != 0 || pos != "" || err != nil {
		t.Fatalf("empty outbox: %v, %q, %v", evs, pos, err)
	}
	var ids []string
	for i := range 5 {
		e := gateway.Event{ID: fmt.Sprintf("01JDQ3ZK8H00000000000000%02d", i), Type: gateway.EventModemUp, Time: T0.Add(time.Duration(i) * time.Second), Modem: "sim1"}
		if err := db.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	evs, pos, err := db.NextEvents(ctx, 2)
	if err != nil || fmt.Sprint(eventIDs(evs)) != fmt.Sprint(ids[:2]) || pos == "" {
		t.Fatalf("NextEvents(2) = %v, %q, %v; want %v", eventIDs(evs), pos, err, ids[:2])
	}
	if evs[1].Modem != "sim1" || evs[1].Type != gateway.EventModemUp || !evs[1].Time.Equal(T0.Add(time.Second)) {
		t.Errorf("event read back as %+v", evs[1])
	}
	ds := []gateway.Delivery{{ID: "d1", WebhookID: "wh1", Event: evs[0]}, {ID: "d2", WebhookID: "wh1", Event: evs[1]}}
	if err := db.AdvanceEvents(ctx, pos, ds); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.ListDeliveries(ctx, "wh1", 0); len(got) != 2 {
		t.Errorf("deliveries stored with the cursor: %v", delivIDs(got))
	}
	if err := db.AdvanceEvents(ctx, pos, []gateway.Delivery{{ID: "d3", WebhookID: "wh1"}}); !errors.Is(err, gateway.ErrExists) {
		t.Errorf("AdvanceEvents to the same position again: %v, want ErrExists", err)
	}
	if got, _ := db.ListDeliveries(ctx, "wh1", 0); len(got) != 2 {
		t.Errorf("a refused AdvanceEvents stored deliveries: %v", delivIDs(got))
	}
	if err := db.AdvanceEvents(ctx, "not a position", nil); err == nil {
		t.Error("AdvanceEvents accepted a malformed position")
	}

	// The cursor survives a restart: the rest comes next, once.
	db = h.Reopen(t, db)
	evs, pos, err = db.NextEvents(ctx, 10)
	if err != nil || fmt.Sprint(eventIDs(evs)) != fmt.Sprint(ids[2:]) {
		t.Fatalf("after reopen NextEvents = %v, %v; want %v", eventIDs(evs), err, ids[2:])
	}
	if err := db.AdvanceEvents(ctx, pos, nil); err != nil {
		t.Fatal(err)
	}
	if evs, pos, err := db.NextEvents(ctx, 10); len(evs) != 0 || pos != "" || err != nil {
		t.Errorf("drained outbox: %v, %q, %v", eventIDs(evs), pos, err)
	}
	// A new event comes after the cursor.
	if err := db.AppendEvent(ctx, gateway.Event{Type: gateway.EventModemDown}); err != nil {
		t.Fatal(err)
	}
	if evs, _, _ := db.NextEvents(ctx, 10); len(evs) != 1 || evs[0].Type != gateway.EventModemDown {
		t.Errorf("new event after the cursor: %+v", evs)
	}
}

// testPruneKeepsEventsNotHandedOn: retention never deletes an event the
// outbox has not turned into deliveries yet.
func testPruneKeepsEventsNotHandedOn(t *testing.T, h Harness) {
	db := h.Open(t)
	for i := range 4 {
		if err := db.AppendEvent(ctx, gateway.Event{Type: gateway.EventModemUp, Time: T0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	evs, pos, err := db.NextEvents(ctx, 2)
	if err != nil || len(evs) != 2 {
		t.Fatal(evs, err)
	}
	if err := db.AdvanceEvents(ctx, pos, nil); err != nil {
		t.Fatal(err)
	}
	later := T0.Add(24 * time.Hour)
	if n, err := db.PruneEvents(ctx, later, 0); n != 2 || err != nil {
		t.Errorf("PruneEvents = %d, %v; want the 2 handed on", n, err)
	}
	if n, err := db.TrimEvents(ctx, 0); n != 0 || err != nil {
		t.Errorf("TrimEvents(0) = %d, %v; want 0 (the rest is not handed on)", n, err)
	}
	if evs, _, _ := db.NextEvents(ctx, 10); len(evs) != 2 {
		t.Errorf("events not handed on after pruning: %d, want 2", len(evs))
	}
}

// testDueDeliveriesSkip: a busy endpoint's backlog, older than everything
// else, does not hide another endpoint's due deliveries.
func testDueDeliveriesSkip(t *testing.T, h Harness) {
	db := h.Open(t)
	var ds []gateway.Delivery
	for i := range 10 {
		ds = append(ds, gateway.Delivery{ID: fmt.Sprintf("slow%02d", i), WebhookID: "w_slow", NextAttempt: T0.Add(time.Duration(i) * time.Second)})
	}
	ds = append(ds, gateway.Delivery{ID: "ok1", WebhookID: "w_ok", NextAttempt: T0.Add(time.Minute)},
		gateway.Delivery{ID: "ok2", WebhookID: "w_ok", NextAttempt: T0.Add(2 * time.Minute)})
	if err := db.EnqueueDeliveries(ctx, ds); err != nil {
		t.Fatal(err)
	}
	now := T0.Add(time.Hour)
	if due, _ := db.DueDeliveries(ctx, now, 3, nil); fmt.Sprint(delivIDs(due)) != "[slow00 slow01 slow02]" {
		t.Errorf("without skip: %v", delivIDs(due))
	}
	var asked []string
	due, err := db.DueDeliveries(ctx, now, 3, func(id, hook string) bool {
		asked = append(asked, id+"@"+hook)
		return hook == "w_slow" || id == "ok1"
	})
	if err != nil || fmt.Sprint(delivIDs(due)) != "[ok2]" {
		t.Errorf("skipping w_slow and ok1: %v, %v; want [ok2]", delivIDs(due), err)
	}
	if len(asked) != 12 || asked[0] != "slow00@w_slow" || asked[11] != "ok2@w_ok" {
		t.Errorf("skip was asked about %v", asked)
	}
	// Deliveries that are not due are neither returned nor asked about.
	asked = nil
	if due, _ := db.DueDeliveries(ctx, T0.Add(30*time.Second), 10, func(id, hook string) bool { asked = append(asked, id); return false }); len(due) != 10 || len(asked) != 10 {
		t.Errorf("due at T0+30s: %v (asked %v)", delivIDs(due), asked)
	}
}
