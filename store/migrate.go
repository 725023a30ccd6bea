package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// migrations[i] upgrades a database from schema version i to i+1. Open runs
// every pending one and records the new version in one transaction, so a
// crash mid-migration leaves the old version intact. Append only: never
// change or reorder a migration that has shipped.
var migrations = []func(tx *bbolt.Tx) error{
	// 0 → 1: the buckets.
	func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{
			bMessages, bIxTime, bIxStatus, bIxContact, bIxModem, bIxAgent, bIxDir, bIxMR, bIxIdem,
			bUnmatched, bFragments, bSticky, bBudgets, bOptOuts, bEvents,
			bKeys, bIxKeyHash, bWebhooks, bDeliveries, bIxPending, bIxHookDel,
		} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		return nil
	},
	// 1 → 2: the counts bucket (per index value, for CountByStatus and for
	// picking the most selective index), and every message index rebuilt
	// from the messages so that both agree.
	reindex,
	// 2 → 3: the number of stored events, for TrimEvents.
	func(tx *bbolt.Tx) error {
		n := tx.Bucket(bEvents).Stats().KeyN
		if n == 0 {
			return tx.Bucket(bCounts).Delete(cntEvents)
		}
		return tx.Bucket(bCounts).Put(cntEvents, u64(uint64(n)))
	},
	// 3 → 4: the web app's users and sessions.
	func(tx *bbolt.Tx) error { return createBuckets(tx, accountsBuckets) },
	// 4 → 5: the P2P campaigns.
	func(tx *bbolt.Tx) error { return createBuckets(tx, campaignBuckets) },
	// 5 → 6: the event log (commit order) and the webhook outbox's cursor.
	// Events stored before it were handed to webhooks already: they go into
	// the log behind the cursor.
	migrateEventLog,
	// 6 → 7: the queue entries (queue.go) of the messages waiting to be sent.
	fillQueue,
	// 7 → 8: the SIM inventory.
	func(tx *bbolt.Tx) error { return createBuckets(tx, [][]byte{bSIMs}) },
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
func migrate(db *bbolt.DB) (from, to int, err error) {
	err = db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bMeta)
		if err != nil {
			return err
		}
		from = 0
		if v := meta.Get(keySchema); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("schema version: bad encoding (%d bytes)", len(v))
			}
			from = int(binary.BigEndian.Uint64(v))
		}
		if from > len(migrations) {
			return fmt.Errorf("%w: file has version %d, this binary knows up to %d", errFutureSchema, from, len(migrations))
		}
		for v := from; v < len(migrations); v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
			}
		}
		return meta.Put(keySchema, u64(uint64(len(migrations))))
	})
	return from, len(migrations), err
}
