package store

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

// v9Corpus is the schema-8 corpus, 30 more queued messages (several
// batches of queue entries) and two with ids that are not ULIDs.
func v9Corpus() []*gateway.Message {
	ms := v8Corpus()
	for i := 100; i < 130; i++ {
		m := newMsg(i)
		m.From, m.Priority = fmt.Sprintf("g%d", i%2), i%3
		ms = append(ms, m)
	}
	for i, id := range []string{"odd-1", "0123456789abcde"} {
		m := newMsg(200 + i)
		m.ID = id
		ms = append(ms, m)
	}
	return ms
}

// writeV9 creates a schema-9 file holding ms: this binary's layout but for
// the queue entries, which schema 9 kept in "queue" under the id string.
func writeV9(t *testing.T, path string, ms []*gateway.Message) {
	t.Helper()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		mustCreate(t, db, m)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	writeRaw(t, path, func(tx *bbolt.Tx) error {
		old, err := tx.CreateBucket(v9Queue)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bQueue).ForEach(func(k, v []byte) error {
			id, ok := parseIDKey(k)
			if !ok {
				return fmt.Errorf("key %x", k)
			}
			return old.Put([]byte(id), bytes.Clone(v))
		}); err != nil {
			return err
		}
		if err := tx.DeleteBucket(bQueue); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put(keySchema, u64(9))
	})
}

// checkQueueMigrated checks that QueueEntries gives the entry of every
// message of ms that needs one, from bQueue under short keys, and that
// nothing is left of the schema-9 queue bucket.
func checkQueueMigrated(t *testing.T, db *DB, ms []*gateway.Message) {
	t.Helper()
	type kv struct {
		k []byte
		e gateway.QueueEntry
	}
	var want []kv
	for _, m := range ms {
		if e, ok := gateway.EntryOf(m); ok {
			want = append(want, kv{messageKey(m.ID), e})
		}
	}
	slices.SortFunc(want, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	var got []gateway.QueueEntry
	if err := db.QueueEntries(ctx, func(e gateway.QueueEntry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d queue entries after migration, want %d", len(got), len(want))
	}
	for i := range got {
		if !sameEntry(got[i], want[i].e) {
			t.Errorf("queue entry %d after migration:\n got %+v\nwant %+v", i, got[i], want[i].e)
		}
	}
	if err := db.view(func(tx *bbolt.Tx) error {
		if tx.Bucket(v9Queue) != nil {
			t.Errorf("schema-9 bucket %s left", v9Queue)
		}
		if v := tx.Bucket(bMeta).Get(keyMoving); v != nil {
			t.Errorf("moving marker left: %x", v)
		}
		return tx.Bucket(bQueue).ForEach(func(k, _ []byte) error {
			if id, ok := parseIDKey(k); !ok || !bytes.Equal(messageKey(id), k) {
				t.Errorf("queue key %x is not a message key", k)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateFromV9(t *testing.T) {
	defer func(n int) { moveBatch = n }(moveBatch)
	moveBatch = 7 // several batches
	path := filepath.Join(t.TempDir(), "v9.db")
	ms := v9Corpus()
	writeV9(t, path, ms)
	db := openTest(t, path)
	checkQueueMigrated(t, db, ms)
	checkMigrated(t, db, ms)
}

// TestMigrateV9Interrupted stops the move of the queue entries twice, as
// a crash between two batches would: meanwhile a binary that knows only
// schema 9 refuses the file, and every Open goes on where the last one
// stopped.
func TestMigrateV9Interrupted(t *testing.T) {
	defer func(n int) { moveBatch = n }(moveBatch)
	defer func() { moveBatchHook = nil }()
	moveBatch = 7
	path := filepath.Join(t.TempDir(), "v9.db")
	ms := v9Corpus()
	writeV9(t, path, ms)
	var queued int
	writeRaw(t, path, func(tx *bbolt.Tx) error { queued = tx.Bucket(v9Queue).Stats().KeyN; return nil })
	if queued < 4*7 {
		t.Fatalf("%d queue entries: too few for the batches below", queued)
	}
	crash := errors.New("crash")
	for round, stopAt := range []int{2, 1} {
		moveBatchHook = func(batch int) error {
			if batch == stopAt {
				return crash
			}
			return nil
		}
		if _, err := Open(path, Options{}); !errors.Is(err, crash) {
			t.Fatalf("round %d: Open = %v, want the crash", round, err)
		}
		var schema, n, moved int
		var moving []byte
		writeRaw(t, path, func(tx *bbolt.Tx) error {
			schema = int(bytesU64(tx.Bucket(bMeta).Get(keySchema)))
			moving = append(moving, tx.Bucket(bMeta).Get(keyMoving)...)
			n = tx.Bucket(v9Queue).Stats().KeyN
			moved = tx.Bucket(bQueue).Stats().KeyN
			return nil
		})
		if schema != 10 || bytesU64(moving) != 10 {
			t.Fatalf("round %d: schema %d, moving %x; want 10 and 10", round, schema, moving)
		}
		if want := queued - 7*(2+round); n != want || moved != queued-n {
			t.Errorf("round %d: %d entries left to move, %d moved; want %d, %d", round, n, moved, want, queued-want)
		}
	}
	func() {
		defer func(m []migration) { migrations = m }(migrations)
		migrations = migrations[:9]
		if _, err := Open(path, Options{}); !errors.Is(err, errFutureSchema) {
			t.Errorf("Open by a schema-9 binary = %v, want errFutureSchema", err)
		}
	}()
	moveBatchHook = nil
	db := openTest(t, path)
	checkQueueMigrated(t, db, ms)
	checkMigrated(t, db, ms)
}

// TestCompactMigratesV9: simgate store compact on a schema-9 file writes
// the queue entries under short keys, and the file is smaller.
func TestCompactMigratesV9(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v9.db")
	ms := v9Corpus()
	writeV9(t, path, ms)
	if _, err := Compact(path, time.Second); err != nil {
		t.Fatal(err)
	}
	db := openTest(t, path)
	if v := schemaOf(t, db); v != uint64(SchemaVersion) {
		t.Errorf("compacted file: schema %d", v)
	}
	checkQueueMigrated(t, db, ms)
}
