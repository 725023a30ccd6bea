package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

var queueTests = []Test{
	{"EntriesFollowMessages", testQueueEntriesFollowMessages},
	{"FnMayWriteAndStop", testQueueEntriesFnMayWriteAndStop},
}

// sameEntries compares queue entries, times by instant.
func sameEntries(t *testing.T, what string, got, want []gateway.QueueEntry) {
	t.Helper()
	norm := func(es []gateway.QueueEntry) string {
		s := ""
		for _, e := range es {
			ts := fmt.Sprint(e.SendAt.UnixNano(), e.NextAttemptAt.UnixNano(), e.ExpiresAt.UnixNano())
			e.SendAt, e.NextAttemptAt, e.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
			s += fmt.Sprintf("%+v %s\n", e, ts)
		}
		return s
	}
	if g, w := norm(got), norm(want); g != w {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func queueEntries(t *testing.T, db Backend) []gateway.QueueEntry {
	t.Helper()
	var es []gateway.QueueEntry
	if err := db.QueueEntries(ctx, func(e gateway.QueueEntry) error { es = append(es, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return es
}

// Every outbound message with a part to send or in flight has an entry
// (gateway.EntryOf), in id order, with its contact's sticky SIM; an update
// changes it, and a message with nothing left for a queue has none.
func testQueueEntriesFollowMessages(t *testing.T, h Harness) {
	db := h.Open(t)
	if err := db.SetSticky(ctx, "+15550000001", gateway.Sticky{Modem: "m2", Since: T0}); err != nil {
		t.Fatal(err)
	}
	part := func(seq int, st gateway.PartState) gateway.Part {
		return gateway.Part{Seq: seq, PDU: []byte{byte(seq)}, State: st, MR: -1, ReportStatus: -1}
	}
	var ms []*gateway.Message
	add := func(m *gateway.Message) *gateway.Message { ms = append(ms, m); return m }

	full := add(NewMessage(1)) // contact +15550000001: sticky m2
	full.Priority, full.From = 5, "g1"
	full.SendAt, full.ExpiresAt, full.NextAttemptAt = T0.Add(time.Hour), T0.Add(48*time.Hour), T0.Add(2*time.Hour)
	full.TextingWindow = &gateway.TextingWindow{Start: "09:00", End: "21:00", TimeZone: "America/Chicago"}
	half := add(NewMessage(2)) // one part out on m1, one to go
	half.Status, half.Modem = gateway.StatusSending, "m1"
	half.Parts = []gateway.Part{part(1, gateway.PartSubmitted), part(2, gateway.PartQueued)}
	assigned := add(NewMessage(3))
	assigned.Status, assigned.Modem = gateway.StatusSending, "m1"
	assigned.Parts = []gateway.Part{part(1, gateway.PartAssigned)}
	submitting := add(NewMessage(4))
	submitting.Status = gateway.StatusSending
	submitting.Parts = []gateway.Part{part(1, gateway.PartSubmitting)}
	negative := add(NewMessage(5))
	negative.Priority = -3
	sent := add(NewMessage(6)) // waits for its report: nothing for a queue
	sent.Status, sent.Parts = gateway.StatusSent, []gateway.Part{part(1, gateway.PartSubmitted)}
	delivered := add(NewMessage(7))
	delivered.Status, delivered.Parts = gateway.StatusDelivered, []gateway.Part{part(1, gateway.PartDelivered)}
	cancelled := add(NewMessage(8))
	cancelled.Status, cancelled.Parts = gateway.StatusCancelled, []gateway.Part{part(1, gateway.PartCancelled)}
	in := add(NewMessage(9))
	in.Direction, in.Status, in.Parts = gateway.Inbound, gateway.StatusReceived, nil
	for _, m := range ms {
		MustCreate(t, db, m)
	}
	var want []gateway.QueueEntry
	for _, m := range []*gateway.Message{full, half, assigned, submitting, negative} {
		e, ok := gateway.EntryOf(m)
		if !ok {
			t.Fatalf("no entry for %s", m.ID)
		}
		if m == full {
			e.Sticky = "m2"
		}
		want = append(want, e)
	}
	sameEntries(t, "after create", queueEntries(t, db), want)

	// Assign the full one (in flight now), deliver the half-sent one
	// (nothing left), send the negative one's part (nothing left).
	if _, err := db.UpdateMessage(ctx, full.ID, func(m *gateway.Message) error {
		m.Parts[0].State, m.Modem, m.Status = gateway.PartAssigned, "m2", gateway.StatusSending
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateMessage(ctx, half.ID, func(m *gateway.Message) error {
		m.Parts[1].State, m.Status = gateway.PartSubmitted, gateway.StatusSent
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateMessage(ctx, negative.ID, func(m *gateway.Message) error {
		m.Parts[0].State, m.Status = gateway.PartCancelled, gateway.StatusCancelled
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want[0].InFlight, want[0].Modem = true, "m2"
	want = append(want[:1], want[2:4]...)
	sameEntries(t, "after updates", queueEntries(t, db), want)

	db = h.Reopen(t, db)
	sameEntries(t, "after reopening", queueEntries(t, db), want)
}

// fn may write to the store (start-up recovery does), and its error stops
// the walk.
func testQueueEntriesFnMayWriteAndStop(t *testing.T, h Harness) {
	db := h.Open(t)
	n := 0
	for i := range 20 {
		MustCreate(t, db, NewMessage(i))
		n++
	}
	seen := 0
	err := db.QueueEntries(ctx, func(e gateway.QueueEntry) error {
		seen++
		_, err := db.UpdateMessage(ctx, e.ID, func(m *gateway.Message) error {
			m.Parts[0].State, m.Status = gateway.PartCancelled, gateway.StatusCancelled
			return nil
		})
		return err
	})
	if err != nil || seen != n {
		t.Fatalf("QueueEntries with writes: %v after %d of %d", err, seen, n)
	}
	if es := queueEntries(t, db); len(es) != 0 {
		t.Errorf("entries left after every message was cancelled: %d", len(es))
	}
	for i := range 3 {
		MustCreate(t, db, NewMessage(100+i))
	}
	boom := errors.New("stop")
	calls := 0
	err = db.QueueEntries(ctx, func(gateway.QueueEntry) error { calls++; return boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Errorf("fn error: %v after %d calls", err, calls)
	}
}
