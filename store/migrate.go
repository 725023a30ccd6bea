package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"go.etcd.io/bbolt"
	bbolterrors "go.etcd.io/bbolt/errors"
)

// A migration upgrades a database by one schema version, either in one
// transaction (tx) or in batches (batch), each batch its own transaction,
// run until one reports done.
//
// Each migration commits the new version with its (last) transaction, so a
// crash leaves the file at a version it reached, and the next Open goes on
// from there. A batched migration commits the new version with its first
// batch, together with meta "moving" (the version it is reaching), which
// its last batch removes: a binary that knows only older versions refuses
// the file meanwhile, and Open resumes the batches. A batch must therefore
// work from what the earlier batches left, whenever they stopped.
type migration struct {
	tx    func(tx *bbolt.Tx) error
	batch func(tx *bbolt.Tx) (done bool, err error)
}

// migrations[i] upgrades a database from schema version i to i+1. Append
// only: never change or reorder a migration that has shipped (1 → 2 was
// narrowed when 8 → 9 came to rebuild the message indexes it built).
var migrations = []migration{
	// 0 → 1: the buckets.
	{tx: func(tx *bbolt.Tx) error {
		return createBuckets(tx, append([][]byte{v8Messages, bIxIdem,
			bUnmatched, bFragments, bSticky, bBudgets, bOptOuts, bEvents,
			bKeys, bIxKeyHash, bWebhooks, bDeliveries, bIxPending, bIxHookDel}, v8Indexes...))
	}},
	// 1 → 2: the counts bucket. Its message counters are built by 8 → 9.
	{tx: recount},
	// 2 → 3: the number of stored events, for TrimEvents.
	{tx: func(tx *bbolt.Tx) error {
		n := tx.Bucket(bEvents).Stats().KeyN
		if n == 0 {
			return tx.Bucket(bCounts).Delete(cntEvents)
		}
		return tx.Bucket(bCounts).Put(cntEvents, u64(uint64(n)))
	}},
	// 3 → 4: the web app's users and sessions.
	{tx: func(tx *bbolt.Tx) error { return createBuckets(tx, accountsBuckets) }},
	// 4 → 5: the P2P campaigns.
	{tx: func(tx *bbolt.Tx) error { return createBuckets(tx, campaignBuckets) }},
	// 5 → 6: the event log (commit order) and the webhook outbox's cursor.
	// Events stored before it were handed to webhooks already: they go into
	// the log behind the cursor.
	{tx: migrateEventLog},
	// 6 → 7: the queue entries (queue.go) of the messages waiting to be sent.
	{tx: fillQueue},
	// 7 → 8: the SIM inventory.
	{tx: func(tx *bbolt.Tx) error { return createBuckets(tx, [][]byte{bSIMs}) }},
	// 8 → 9: messages in record format 1 under short binary keys, their
	// indexes rebuilt in the shorter layout (doc.go), in batches.
	{batch: moveMessages},
	// 9 → 10: the queue entries under the message's short key (bQueue), in
	// batches.
	{batch: moveQueue},
}

// createBuckets creates each bucket that does not exist yet.
func createBuckets(tx *bbolt.Tx, names [][]byte) error {
	for _, name := range names {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("bucket %s: %w", name, err)
		}
	}
	return nil
}

// SchemaVersion is the schema version this binary writes.
var SchemaVersion = len(migrations)

// errFutureSchema is wrapped when the file was written by a newer binary.
var errFutureSchema = errors.New("database schema is newer than this binary")

// migrate brings the file to SchemaVersion and reports the versions.
func migrate(db *bbolt.DB, log *slog.Logger) (from, to int, err error) {
	var moving int
	err = db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keySchema); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("schema version: bad encoding (%d bytes)", len(v))
			}
			from = int(binary.BigEndian.Uint64(v))
		}
		if v := meta.Get(keyMoving); len(v) == 8 {
			moving = int(binary.BigEndian.Uint64(v))
		}
		if from > len(migrations) {
			return fmt.Errorf("%w: file has version %d, this binary knows up to %d", errFutureSchema, from, len(migrations))
		}
		return nil
	})
	if err != nil {
		return from, len(migrations), err
	}
	v := from
	if moving > 0 && moving == from {
		v = from - 1 // a batched migration was interrupted: resume it
		log.Info("store: resuming an interrupted migration", "to", moving)
	}
	for ; v < len(migrations); v++ {
		if err := runMigration(db, v, log); err != nil {
			return from, len(migrations), fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
		}
	}
	return from, len(migrations), nil
}

// moveBatchHook, when set (tests), runs after each committed batch of a
// batched migration; an error stops the migration there, as a crash would.
var moveBatchHook func(batch int) error

func runMigration(db *bbolt.DB, v int, log *slog.Logger) error {
	m := migrations[v]
	next := u64(uint64(v + 1))
	if m.tx != nil {
		return db.Update(func(tx *bbolt.Tx) error {
			if err := m.tx(tx); err != nil {
				return err
			}
			return tx.Bucket(bMeta).Put(keySchema, next)
		})
	}
	for n := 1; ; n++ {
		var done bool
		err := db.Update(func(tx *bbolt.Tx) error {
			var err error
			if done, err = m.batch(tx); err != nil {
				return err
			}
			meta := tx.Bucket(bMeta)
			if done {
				if err := meta.Delete(keyMoving); err != nil {
					return err
				}
			} else if err := meta.Put(keyMoving, next); err != nil {
				return err
			}
			return meta.Put(keySchema, next)
		})
		if err != nil || done {
			return err
		}
		if n%64 == 0 {
			log.Info("store: migrating", "to", v+1, "batches", n)
		}
		if moveBatchHook != nil {
			if err := moveBatchHook(n); err != nil {
				return err
			}
		}
	}
}

// recount (1 → 2) empties the index buckets and counters of an older file
// and counts the deliveries pending, unmatched reports and events again.
// The message indexes and their counters are built by moveMessages.
func recount(tx *bbolt.Tx) error {
	for _, name := range append([][]byte{bIxIdem, bCounts}, v8Indexes...) {
		if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bbolterrors.ErrBucketNotFound) {
			return fmt.Errorf("drop %s: %w", name, err)
		}
	}
	// Empty: the messages are indexed again by moveMessages.
	if err := createBuckets(tx, append([][]byte{bIxIdem, bCounts}, v8Indexes...)); err != nil {
		return err
	}
	for b, key := range map[string][]byte{string(bIxPending): cntPending, string(bUnmatched): cntUnmatch, string(bEvents): cntEvents} {
		if n := tx.Bucket([]byte(b)).Stats().KeyN; n > 0 {
			if err := tx.Bucket(bCounts).Put(key, u64(uint64(n))); err != nil {
				return err
			}
		}
	}
	return nil
}

// moveBatch is how many messages one batch of moveMessages moves.
var moveBatch = 4096

// moveMessages (8 → 9) moves up to moveBatch messages from the schema-8
// bucket into bMessages, re-encoded in format 1 under their short keys,
// with their index entries and counters; the first batch creates the new
// buckets and drops the old counters, the last one drops the schema-8
// buckets. A message is deleted from the old bucket in the transaction
// that stores it in the new one, so an interrupted migration resumes with
// exactly the messages not moved yet.
func moveMessages(tx *bbolt.Tx) (bool, error) {
	// messageEntries writes each message's queue entry into bQueue, which
	// schema 10 added (9 → 10 then moves what is left in the old one).
	if err := createBuckets(tx, [][]byte{bQueue}); err != nil {
		return false, err
	}
	if tx.Bucket(bMessages) == nil {
		if err := createBuckets(tx, [][]byte{bMessages, bIxTime, bIxStatus, bIxContact, bIxModem, bIxAgent, bIxMR, bIxIdem}); err != nil {
			return false, err
		}
		if err := dropCounters(tx, nsTime, nsStatus, nsDir, nsModem, nsAgent); err != nil {
			return false, err
		}
	}
	if old := tx.Bucket(v8Messages); old != nil {
		// Give back the pages the earlier batches mapped in: a million
		// messages would otherwise leave the whole file resident.
		releaseTxPages(tx)
		type rec struct{ k, v []byte }
		var batch []rec
		c := old.Cursor()
		for k, v := c.First(); k != nil && len(batch) < moveBatch; k, v = c.Next() {
			batch = append(batch, rec{k, v})
		}
		for _, r := range batch {
			m, err := decodeMessage(string(r.k), r.v)
			if err != nil {
				return false, fmt.Errorf("message %s: %w", r.k, err)
			}
			m.ID = string(r.k)
			raw, err := encodeMessage(m)
			if err != nil {
				return false, err
			}
			if tx.Bucket(bMessages).Get(messageKey(m.ID)) != nil {
				return false, fmt.Errorf("message %s: stored twice", m.ID)
			}
			if err := putNew(tx, m.ID, raw, messageEntries(m)); err != nil {
				return false, err
			}
		}
		for _, r := range batch {
			if err := old.Delete(r.k); err != nil {
				return false, err
			}
		}
		if len(batch) == moveBatch {
			return false, nil
		}
	}
	for _, name := range append([][]byte{v8Messages}, v8Indexes...) {
		if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bbolterrors.ErrBucketNotFound) {
			return false, fmt.Errorf("drop %s: %w", name, err)
		}
	}
	return true, nil
}

// dropCounters deletes every counter in the namespaces ns.
func dropCounters(tx *bbolt.Tx, ns ...[]byte) error {
	b := tx.Bucket(bCounts)
	for _, n := range ns {
		p := countKey(n, "")
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}
