package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store/storetest"
)

// TestCompactShrinksAndKeepsEverything: after retention deleted most of the
// data the file is as large as before; Compact gives the space back and
// every record, index and sequence survives (the store opens, lists,
// counts, and the event log continues its numbering).
func TestCompactShrinksAndKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simgate.db")
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var kept []*gateway.Message
	for i := range 3000 {
		m := newMsg(i)
		if i%10 == 0 {
			kept = append(kept, m) // queued: retention keeps it
		} else {
			m.Status = gateway.StatusDelivered
		}
		mustCreate(t, db, m)
	}
	if err := db.AppendEvent(ctx, gateway.Event{Type: gateway.EventModemUp}); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := db.PruneMessages(ctx, t0.Add(time.Hour*24), 0)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var res CompactResult
	res, err = Compact(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.After >= res.Before/2 {
		t.Errorf("compacted %d → %d bytes, want less than half", res.Before, res.After)
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left: %v", err)
	}
	db = openTest(t, path)
	if got := storetest.ListAll(t, db, gateway.MessageFilter{Limit: 500}); len(got) != len(kept) {
		t.Errorf("after compaction %d messages, want %d", len(got), len(kept))
	}
	counts, _ := db.CountByStatus(ctx)
	if counts[gateway.StatusQueued] != len(kept) || len(counts) != 1 {
		t.Errorf("counts after compaction: %v", counts)
	}
	// The event log's sequence survived: a new event comes after the old one.
	if err := db.AppendEvent(ctx, gateway.Event{Type: gateway.EventModemDown}); err != nil {
		t.Fatal(err)
	}
	evs, _, err := db.NextEvents(ctx, 10)
	if err != nil || len(evs) != 2 || evs[1].Type != gateway.EventModemDown {
		t.Errorf("event log after compaction: %+v, %v", evs, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("compacted file mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestCompactRefusesWhileOpen: a running daemon holds the lock; Compact
// says so and leaves the file alone.
func TestCompactRefusesWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simgate.db")
	db := openTest(t, path)
	m := newMsg(1)
	mustCreate(t, db, m)
	if _, err := Compact(path, 50*time.Millisecond); !errors.Is(err, gateway.ErrStoreLocked) {
		t.Fatalf("Compact of an open store: %v, want ErrStoreLocked", err)
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file created: %v", err)
	}
	if _, err := db.GetMessage(ctx, m.ID); err != nil {
		t.Errorf("store after the refused compaction: %v", err)
	}
}
