package store

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

// writeRaw creates a bbolt file by hand, as an older (or newer) binary left it.
func writeRaw(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	b, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func schemaOf(t *testing.T, db *DB) uint64 {
	t.Helper()
	var v uint64
	if err := db.view(func(tx *bbolt.Tx) error {
		v = uint64(len(tx.Bucket(bMeta).Get(keySchema)))
		if v == 8 {
			v = bytesU64(tx.Bucket(bMeta).Get(keySchema))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

func bytesU64(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}

func TestMigrateFromV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	active, delivered := newMsg(1), newMsg(2)
	delivered.Status = gateway.StatusDelivered
	delivered.Modem = "m1"
	delivered.Parts[0].Modem, delivered.Parts[0].MR, delivered.Parts[0].SubmittedAt = "m1", 9, t0
	// Schema 1: the buckets and the records, no counts bucket and (here)
	// no index entries at all.
	writeRaw(t, path, func(tx *bbolt.Tx) error {
		if err := migrations[0].tx(tx); err != nil {
			return err
		}
		meta, err := tx.CreateBucket(bMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keySchema, u64(1)); err != nil {
			return err
		}
		for _, m := range []*gateway.Message{active, delivered} {
			raw, _ := json.Marshal(m)
			if err := tx.Bucket(v8Messages).Put([]byte(m.ID), raw); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bEvents).Put([]byte("01JDQ3ZK8H0000000000000000"), []byte(`{"id":"01JDQ3ZK8H0000000000000000"}`)); err != nil {
			return err
		}
		return tx.Bucket(bIxPending).Put(append(encTime(t0), "d1"...), nil)
	})
	db := openTest(t, path)
	if v := schemaOf(t, db); v != uint64(SchemaVersion) || SchemaVersion != 10 {
		t.Fatalf("schema after open: %d, want %d", v, SchemaVersion)
	}
	var seen []string
	if err := db.ActiveMessages(ctx, func(m *gateway.Message) error { seen = append(seen, m.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []string{active.ID}) {
		t.Errorf("ActiveMessages after migration: %v", seen)
	}
	if got := queueIDs(t, db); !slices.Equal(got, []string{active.ID}) {
		t.Errorf("QueueEntries after migration: %v", got)
	}
	if got := listAll(t, db, gateway.MessageFilter{Modem: "m1"}); !slices.Equal(got, []string{delivered.ID}) {
		t.Errorf("modem index after migration: %v", got)
	}
	if id, _, err := db.PartByMR(ctx, "m1", 9, t0); err != nil || id != delivered.ID {
		t.Errorf("mr index after migration: %q, %v", id, err)
	}
	counts, _ := db.CountByStatus(ctx)
	if counts[gateway.StatusQueued] != 1 || counts[gateway.StatusDelivered] != 1 {
		t.Errorf("counts after migration: %v", counts)
	}
	if n, _ := db.PendingDeliveries(ctx); n != 1 {
		t.Errorf("pending deliveries after migration: %d", n)
	}
	if n, _ := db.CountEvents(ctx); n != 1 {
		t.Errorf("events counted after migration: %d", n)
	}
	// The old event was handed to webhooks when it was emitted: it is in the
	// log behind the outbox cursor (not delivered again, prunable).
	if evs, pos, err := db.NextEvents(ctx, 0); len(evs) != 0 || pos != "" || err != nil {
		t.Errorf("NextEvents after migration = %v, %q, %v; want none", evs, pos, err)
	}
	if n, err := db.PruneEvents(ctx, time.Now(), 0); n != 1 || err != nil {
		t.Errorf("PruneEvents of the migrated event = %d, %v", n, err)
	}
}

// 2 → current: events counted, nothing else touched.
func TestMigrateFromV2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	m := newMsg(1)
	writeRaw(t, path, func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucket(bMeta)
		if err != nil {
			return err
		}
		for _, mig := range migrations[:2] {
			if err := mig.tx(tx); err != nil {
				return err
			}
		}
		if err := putV8(tx, m); err != nil {
			return err
		}
		for _, id := range []string{"01JDQ3ZK8H0000000000000001", "01JDQ3ZK8H0000000000000002"} {
			if err := tx.Bucket(bEvents).Put([]byte(id), []byte(`{}`)); err != nil {
				return err
			}
		}
		return meta.Put(keySchema, u64(2))
	})
	db := openTest(t, path)
	if v := schemaOf(t, db); v != uint64(SchemaVersion) {
		t.Errorf("schema %d", v)
	}
	if n, _ := db.CountEvents(ctx); n != 2 {
		t.Errorf("events counted: %d", n)
	}
	if got := listAll(t, db, gateway.MessageFilter{Status: gateway.StatusQueued}); !slices.Equal(got, []string{m.ID}) {
		t.Errorf("messages after migration: %v", got)
	}
}

// 6 → 7: the queue entries of the waiting messages, from the messages.
func TestMigrateQueueEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v6.db")
	queued, sending, delivered := newMsg(1), newMsg(2), newMsg(3)
	queued.Priority, queued.From = 3, "g1"
	queued.TextingWindow = &gateway.TextingWindow{Start: "09:00", End: "21:00", TimeZone: "America/Chicago"}
	sending.Parts = append(sending.Parts, gateway.Part{Seq: 2, PDU: []byte{2}, State: gateway.PartQueued, MR: -1, ReportStatus: -1})
	sending.Parts[0].State, sending.Parts[0].Modem = gateway.PartSubmitting, "m1"
	sending.Status, sending.Modem = gateway.StatusSending, "m1"
	delivered.Status, delivered.Parts[0].State = gateway.StatusDelivered, gateway.PartDelivered
	writeRaw(t, path, func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucket(bMeta)
		if err != nil {
			return err
		}
		for _, mig := range migrations[:6] {
			if err := mig.tx(tx); err != nil {
				return err
			}
		}
		// Schema 6 had no queue bucket (putV8 writes no queue entry then).
		for _, m := range []*gateway.Message{queued, sending, delivered} {
			if err := putV8(tx, m); err != nil {
				return err
			}
		}
		return meta.Put(keySchema, u64(6))
	})
	db := openTest(t, path)
	var got []gateway.QueueEntry
	if err := db.QueueEntries(ctx, func(e gateway.QueueEntry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []gateway.QueueEntry{}
	for _, m := range []*gateway.Message{queued, sending} {
		e, _ := gateway.EntryOf(m)
		want = append(want, e)
	}
	if len(got) != 2 || !sameEntry(got[0], want[0]) || !sameEntry(got[1], want[1]) {
		t.Errorf("QueueEntries after migration:\n got %+v\nwant %+v", got, want)
	}
	if len(got) == 2 && (!got[1].InFlight || got[1].Pending != 1 || got[1].Submitted) {
		t.Errorf("the submitting message's entry: %+v", got[1])
	}
}

// queueIDs lists the ids QueueEntries gives.
func queueIDs(t *testing.T, db *DB) []string {
	t.Helper()
	var ids []string
	if err := db.QueueEntries(ctx, func(e gateway.QueueEntry) error { ids = append(ids, e.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	return ids
}

// sameEntry compares entries with times by instant.
func sameEntry(a, b gateway.QueueEntry) bool {
	at, bt := []time.Time{a.SendAt, a.NextAttemptAt, a.ExpiresAt}, []time.Time{b.SendAt, b.NextAttemptAt, b.ExpiresAt}
	for i := range at {
		if !at[i].Equal(bt[i]) {
			return false
		}
	}
	a.SendAt, a.NextAttemptAt, a.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	b.SendAt, b.NextAttemptAt, b.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	return a == b
}

func TestMigrateFreshAndFuture(t *testing.T) {
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.db")
	db := openTest(t, fresh)
	if v := schemaOf(t, db); v != uint64(SchemaVersion) {
		t.Errorf("fresh schema %d", v)
	}

	future := filepath.Join(dir, "future.db")
	writeRaw(t, future, func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucket(bMeta)
		if err != nil {
			return err
		}
		return meta.Put(keySchema, u64(uint64(SchemaVersion+1)))
	})
	_, err := Open(future, Options{})
	if !errors.Is(err, errFutureSchema) {
		t.Fatalf("Open of a newer schema: %v", err)
	}
	// and the file is left as it was, and unlocked
	writeRaw(t, future, func(tx *bbolt.Tx) error {
		if v := bytesU64(tx.Bucket(bMeta).Get(keySchema)); v != uint64(SchemaVersion+1) {
			t.Errorf("future schema rewritten to %d", v)
		}
		return nil
	})
}
