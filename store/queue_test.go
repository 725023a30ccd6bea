package store

import (
	"slices"
	"testing"

	"github.com/simgate/simgate/gateway"
)

// QueueEntries reads a chunk per read transaction: every entry is seen once,
// in id order, across chunk boundaries, also when fn removes entries.
func TestQueueEntriesChunks(t *testing.T) {
	defer func(n int) { queueChunk = n }(queueChunk)
	queueChunk = 3
	db := openTest(t, "")
	var want []string
	for i := range 10 {
		m := newMsg(i)
		mustCreate(t, db, m)
		want = append(want, m.ID)
	}
	var got []string
	err := db.QueueEntries(ctx, func(e gateway.QueueEntry) error {
		got = append(got, e.ID)
		if len(got)%2 == 0 { // done with it: its entry goes
			_, err := db.UpdateMessage(ctx, e.ID, func(m *gateway.Message) error {
				m.Parts[0].State, m.Status = gateway.PartCancelled, gateway.StatusCancelled
				return nil
			})
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("QueueEntries in chunks of 3:\n got %v\nwant %v", got, want)
	}
	if left := queueIDs(t, db); len(left) != 5 {
		t.Errorf("%d entries left, want 5: %v", len(left), left)
	}
}

// A malformed entry is reported, not skipped.
func TestQueueEntryDecodeErrors(t *testing.T) {
	e, _ := gateway.EntryOf(newMsg(1))
	e.From, e.Modem = "g", "m"
	raw := encodeQueueEntry(e)
	if got, err := decodeQueueEntry([]byte(e.ID), raw); err != nil || !sameEntry(got, e) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for i := range raw {
		if _, err := decodeQueueEntry([]byte(e.ID), raw[:i]); err == nil {
			t.Errorf("truncated to %d bytes: no error", i)
		}
	}
	if _, err := decodeQueueEntry([]byte(e.ID), append(raw, 0)); err == nil {
		t.Error("trailing byte: no error")
	}
}
