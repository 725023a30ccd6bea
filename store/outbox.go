package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

// The event outbox.
//
// AppendEvent writes each event twice in one transaction: under its ID in
// events, and under the event log's next sequence number in event_log
// (sequence → ID). The committer is serial, so sequence order is commit
// order: an event can never become visible behind one already read, which
// ULID (emission time) order could not promise with concurrent emitters.
// meta "outbox" holds the sequence of the last event turned into webhook
// deliveries; AdvanceEvents stores those deliveries and moves it in one
// transaction, so an event is fanned out exactly once even across a crash.
// Pruning deletes only events at or behind the cursor.

var _ gateway.EventOutbox = (*DB)(nil)

// outboxCursor is the sequence of the last event handed on (0: none).
func outboxCursor(tx *bbolt.Tx) uint64 {
	if v := tx.Bucket(bMeta).Get(keyOutbox); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// logEvent appends id to the event log.
func logEvent(tx *bbolt.Tx, id string) error {
	b := tx.Bucket(bEventLog)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	return b.Put(u64(seq), []byte(id))
}

// migrateEventLog puts the stored events into the log (ID order) behind the
// cursor: they were handed to the webhook deliverer when they were emitted.
func migrateEventLog(tx *bbolt.Tx) error {
	if err := createBuckets(tx, [][]byte{bEventLog}); err != nil {
		return err
	}
	c := tx.Bucket(bEvents).Cursor()
	var last uint64
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if err := logEvent(tx, string(k)); err != nil {
			return err
		}
		last = tx.Bucket(bEventLog).Sequence()
	}
	return tx.Bucket(bMeta).Put(keyOutbox, u64(last))
}

// NextEvents returns up to limit (default 100, max 1000) events committed
// after the outbox cursor, in commit order, and the position of the last
// one (pass it to AdvanceEvents); pos is "" when there are none.
func (db *DB) NextEvents(ctx context.Context, limit int) ([]gateway.Event, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var (
		out  []gateway.Event
		last uint64
	)
	err := db.view(func(tx *bbolt.Tx) error {
		evs := tx.Bucket(bEvents)
		c := tx.Bucket(bEventLog).Cursor()
		for k, id := c.Seek(u64(outboxCursor(tx) + 1)); k != nil && len(out) < limit; k, id = c.Next() {
			if len(k) != 8 {
				continue
			}
			last = binary.BigEndian.Uint64(k)
			raw := evs.Get(id)
			if raw == nil {
				continue // pruned by hand; nothing to deliver
			}
			var e gateway.Event
			if err := json.Unmarshal(raw, &e); err != nil {
				return fmt.Errorf("decode event %s: %w", id, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, "", db.fail("next_events", err)
	}
	if last == 0 {
		return nil, "", nil
	}
	return out, strconv.FormatUint(last, 10), nil
}

// AdvanceEvents stores ds (as EnqueueDeliveries does) and moves the outbox
// cursor to pos, in one transaction. A pos that is not after the cursor
// (the events were handed on already) stores nothing and returns an error
// wrapping gateway.ErrExists; a malformed pos is a *gateway.ValidationError.
func (db *DB) AdvanceEvents(ctx context.Context, pos string, ds []gateway.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	seq, err := strconv.ParseUint(pos, 10, 64)
	if err != nil || seq == 0 {
		return gateway.Invalid("pos", "not an outbox position")
	}
	ds, err = prepareDeliveries(ds)
	if err != nil {
		return err
	}
	return db.fail("advance_events", db.update(ctx, func(tx *bbolt.Tx) error {
		if cur := outboxCursor(tx); seq <= cur {
			return reject(fmt.Errorf("store: outbox is at %d already: %w", cur, gateway.ErrExists))
		}
		if err := checkNewDeliveries(tx, ds); err != nil {
			return err
		}
		for i := range ds {
			if err := putDelivery(tx, nil, &ds[i]); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put(keyOutbox, u64(seq))
	}))
}
