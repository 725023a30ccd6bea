package store

import (
	"context"
	"encoding/json"
	"errors"
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
	if got, err := decodeQueueEntry(messageKey(e.ID), raw); err != nil || !sameEntry(got, e) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for i := range raw {
		if _, err := decodeQueueEntry(messageKey(e.ID), raw[:i]); err == nil {
			t.Errorf("truncated to %d bytes: no error", i)
		}
	}
	if _, err := decodeQueueEntry(messageKey(e.ID), append(raw, 0)); err == nil {
		t.Error("trailing byte: no error")
	}
}

// The walk reads a sticky binding's modem without encoding/json when the
// record is as SetSticky writes it, and falls back to it otherwise.
func TestStickyModem(t *testing.T) {
	for _, s := range []gateway.Sticky{
		{Modem: "m1", Since: t0},
		{Modem: "modem-ä", SIM: "8901", Since: t0, Moves: []gateway.StickyMove{{From: "a", To: "modem-ä", At: t0, Reason: "rebound"}}},
	} {
		raw, _ := json.Marshal(s)
		if m, ok := stickyModemFast(raw); !ok || string(m) != s.Modem {
			t.Errorf("fast path of %s: %q, %v", raw, m, ok)
		}
	}
	d := &entryDecoder{names: map[string]string{}}
	for _, c := range []struct {
		raw, want string
		fast      bool
	}{
		{`{"modem":"a\"b","since":"2026-01-01T00:00:00Z"}`, `a"b`, false}, // escaped
		{`{"modem":"\u003cx\u003e"}`, "<x>", false},
		{`{"sim":"1","modem":"m2"}`, "m2", false},
		{` {"modem":"m3"}`, "m3", false},
		{`{"modem":"m4" ,"sim":""}`, "m4", false},
		{`{"modem":"m5","sim":""}`, "m5", true},
		{`{"modem":""}`, "", true},
		{`{"since":"2026-01-01T00:00:00Z"}`, "", false},
	} {
		if _, ok := stickyModemFast([]byte(c.raw)); ok != c.fast {
			t.Errorf("fast path for %s: %v, want %v", c.raw, ok, c.fast)
		}
		if got, err := d.stickyModem([]byte(c.raw)); err != nil || got != c.want {
			t.Errorf("stickyModem(%s) = %q, %v; want %q", c.raw, got, err, c.want)
		}
	}
	for _, raw := range []string{`{"modem":`, `{"modem":"x`, `{"modem":1}`, ``, `[]`} {
		if got, err := d.stickyModem([]byte(raw)); err == nil {
			t.Errorf("stickyModem(%s) = %q, no error", raw, got)
		}
	}
}

// QueueEntries stops at fn's error and at a cancelled context, with its
// reader goroutine gone (Close does not wait for a transaction).
func TestQueueEntriesStops(t *testing.T) {
	defer func(n int) { queueChunk = n }(queueChunk)
	queueChunk = 2
	db := openTest(t, "")
	for i := range 9 {
		mustCreate(t, db, newMsg(i))
	}
	if err := db.SetSticky(ctx, newMsg(1).Contact, gateway.Sticky{Modem: "m7"}); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	n := 0
	err := db.QueueEntries(ctx, func(e gateway.QueueEntry) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("QueueEntries = %v after %d entries, want stop after 3", err, n)
	}
	cctx, cancel := context.WithCancel(ctx)
	n = 0
	err = db.QueueEntries(cctx, func(e gateway.QueueEntry) error {
		if n++; n == 1 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n > 4 {
		t.Errorf("QueueEntries = %v after %d entries, want context.Canceled within 2 chunks", err, n)
	}
	var sticky []string
	if err := db.QueueEntries(ctx, func(e gateway.QueueEntry) error {
		if e.Sticky != "" {
			sticky = append(sticky, e.Contact+"="+e.Sticky)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := newMsg(1).Contact + "=m7"; !slices.Equal(sticky, []string{want}) {
		t.Errorf("sticky entries %v, want [%s]", sticky, want)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
