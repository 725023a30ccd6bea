package store

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store/storetest"
)

// v8Messages returns messages in every status, both directions, on two
// modems, with submitted parts and idempotency keys.
func v8Corpus() []*gateway.Message {
	var ms []*gateway.Message
	sts := gateway.Statuses()
	for i := range 40 {
		m := newMsg(i)
		m.Status = sts[i%len(sts)]
		m.RequestHash = fmt.Sprintf("%064x", i)
		if m.Status == gateway.StatusReceived {
			m.Direction, m.Parts, m.Modem = gateway.Inbound, nil, "m2"
		} else if m.Status != gateway.StatusQueued {
			m.Modem = fmt.Sprintf("m%d", 1+i%2)
			m.Parts[0].Modem, m.Parts[0].MR, m.Parts[0].SubmittedAt = m.Modem, i, m.CreatedAt
		}
		if i%5 == 0 {
			m.IdempotencyKey = fmt.Sprintf("agent/k%d", i)
		}
		ms = append(ms, m)
	}
	return ms
}

// writeV8 creates a schema-8 file holding ms; every third record is in
// format 1 (as the binary that introduced it wrote them before schema 9),
// the others JSON.
func writeV8(t *testing.T, path string, ms []*gateway.Message) {
	writeRaw(t, path, func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucket(bMeta)
		if err != nil {
			return err
		}
		for _, mig := range migrations[:8] {
			if err := mig.tx(tx); err != nil {
				return err
			}
		}
		for i, m := range ms {
			if err := putV8(tx, m); err != nil {
				return err
			}
			if i%3 == 0 {
				raw, _ := encodeMessage(m)
				if err := tx.Bucket(v8Messages).Put([]byte(m.ID), raw); err != nil {
					return err
				}
			}
		}
		return meta.Put(keySchema, u64(8))
	})
}

// checkMigrated checks that db holds ms, in format 1, indexed and counted
// as if they had been created by this binary, and nothing of schema 8.
func checkMigrated(t *testing.T, db *DB, ms []*gateway.Message) {
	t.Helper()
	if v := schemaOf(t, db); v != uint64(SchemaVersion) {
		t.Errorf("schema %d, want %d", v, SchemaVersion)
	}
	if err := db.view(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bMeta).Get(keyMoving); v != nil {
			t.Errorf("moving marker left: %x", v)
		}
		for _, name := range append([][]byte{v8Messages}, v8Indexes...) {
			if tx.Bucket(name) != nil {
				t.Errorf("schema-8 bucket %s left", name)
			}
		}
		return tx.Bucket(bMessages).ForEach(func(k, v []byte) error {
			if id, ok := parseIDKey(k); !ok || !bytes.Equal(messageKey(id), k) || v[0] != formatBinary1 {
				t.Errorf("record %x: key of %d bytes, format %#x", k, len(k), v[0])
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	counts := map[gateway.Status]int{}
	var active []string
	for _, m := range ms {
		got, err := db.GetMessage(ctx, m.ID)
		if err != nil {
			t.Fatalf("GetMessage %s: %v", m.ID, err)
		}
		if want := viaJSON(t, m); !reflect.DeepEqual(got, want) {
			t.Errorf("message %s after migration:\n got %+v\nwant %+v", m.ID, got, want)
		}
		counts[m.Status]++
		if m.Direction == gateway.Outbound && !m.Status.Terminal() {
			active = append(active, m.ID)
		}
		if m.IdempotencyKey != "" {
			if got, err := db.MessageByIdempotencyKey(ctx, m.IdempotencyKey); err != nil || got.ID != m.ID {
				t.Errorf("MessageByIdempotencyKey %s: %v, %v", m.IdempotencyKey, got, err)
			}
		}
		if p := m.Parts; len(p) > 0 && p[0].MR >= 0 {
			if id, seq, err := db.PartByMR(ctx, p[0].Modem, p[0].MR, p[0].SubmittedAt); err != nil || id != m.ID || seq != 1 {
				t.Errorf("PartByMR(%s, %d) = %s, %d, %v; want %s", p[0].Modem, p[0].MR, id, seq, err, m.ID)
			}
		}
	}
	if got, err := db.CountByStatus(ctx); err != nil || !reflect.DeepEqual(got, counts) {
		t.Errorf("CountByStatus = %v, %v; want %v", got, err, counts)
	}
	filters := []gateway.MessageFilter{{}, {Ascending: true}, {Direction: gateway.Inbound}, {Direction: gateway.Outbound, Limit: 3},
		{Modem: "m1"}, {Agent: "agent1"}, {Contact: ms[3].Contact}, {Status: gateway.StatusSent, Modem: "m2"}, {Since: ms[10].CreatedAt, Until: ms[30].CreatedAt}}
	for _, s := range gateway.Statuses() {
		filters = append(filters, gateway.MessageFilter{Status: s, Limit: 2})
	}
	for _, f := range filters {
		var want []*gateway.Message
		for _, m := range ms {
			if storetest.Matches(f, m) {
				want = append(want, m)
			}
		}
		sort.Slice(want, func(i, j int) bool { return want[i].CreatedAt.After(want[j].CreatedAt) != f.Ascending })
		if got := listAll(t, db, f); !slices.Equal(got, storetest.IDs(want)) {
			t.Errorf("ListMessages(%+v) after migration = %v, want %v", f, got, storetest.IDs(want))
		}
	}
	var seen []string
	if err := db.ActiveMessages(ctx, func(m *gateway.Message) error { seen = append(seen, m.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(seen)
	slices.Sort(active)
	if !slices.Equal(seen, active) {
		t.Errorf("ActiveMessages after migration = %v, want %v", seen, active)
	}
}

func TestMigrateFromV8(t *testing.T) {
	defer func(n int) { moveBatch = n }(moveBatch)
	moveBatch = 7 // several batches
	path := filepath.Join(t.TempDir(), "v8.db")
	ms := v8Corpus()
	writeV8(t, path, ms)
	db := openTest(t, path)
	checkMigrated(t, db, ms)
	checkQueueMigrated(t, db, ms)
}

// TestMigrateV8Interrupted stops the batched migration twice, as a crash
// between two batches would: meanwhile a binary that knows only schema 8
// refuses the file, and every Open goes on where the last one stopped.
func TestMigrateV8Interrupted(t *testing.T) {
	defer func(n int) { moveBatch = n }(moveBatch)
	defer func() { moveBatchHook = nil }()
	moveBatch = 7
	path := filepath.Join(t.TempDir(), "v8.db")
	ms := v8Corpus()
	writeV8(t, path, ms)
	crash := errors.New("crash")
	left := func() (schema uint64, moving []byte, n int) {
		writeRaw(t, path, func(tx *bbolt.Tx) error {
			schema = bytesU64(tx.Bucket(bMeta).Get(keySchema))
			moving = append(moving, tx.Bucket(bMeta).Get(keyMoving)...)
			if b := tx.Bucket(v8Messages); b != nil {
				n = b.Stats().KeyN
			}
			return nil
		})
		return
	}
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
		schema, moving, n := left()
		if schema != 9 || bytesU64(moving) != 9 {
			t.Fatalf("round %d: schema %d, moving %x; want 9 and 9", round, schema, moving)
		}
		if want := len(ms) - 7*(2+round); n != want {
			t.Errorf("round %d: %d messages left to move, want %d", round, n, want)
		}
	}
	// A binary that knows schema 8 at most refuses the half-moved file.
	func() {
		defer func(m []migration) { migrations = m }(migrations)
		migrations = migrations[:8]
		if _, err := Open(path, Options{}); !errors.Is(err, errFutureSchema) {
			t.Errorf("Open by a schema-8 binary = %v, want errFutureSchema", err)
		}
	}()
	moveBatchHook = nil
	db := openTest(t, path)
	checkMigrated(t, db, ms)
	checkQueueMigrated(t, db, ms)
}

// TestCompactMigratesV8: simgate store compact on a schema-8 file writes a
// file in the current format (every record in format 1, short keys).
func TestCompactMigratesV8(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v8.db")
	ms := v8Corpus()
	writeV8(t, path, ms)
	if _, err := Compact(path, time.Second); err != nil {
		t.Fatal(err)
	}
	var schema uint64
	var v8Left bool
	writeRaw(t, path, func(tx *bbolt.Tx) error {
		schema = bytesU64(tx.Bucket(bMeta).Get(keySchema))
		v8Left = tx.Bucket(v8Messages) != nil
		return nil
	})
	if schema != uint64(SchemaVersion) || v8Left {
		t.Fatalf("compacted file: schema %d, schema-8 messages left %v", schema, v8Left)
	}
	checkMigrated(t, openTest(t, path), ms)
}
