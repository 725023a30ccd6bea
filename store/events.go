package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

// pruneChunk bounds how many entries one pruning transaction deletes.
const pruneChunk = 5000

// AppendEvent stores e durably under its ID (a ULID; a missing one is
// made, as is a missing Time). An event whose ID is stored already gives an
// error wrapping gateway.ErrExists.
func (db *DB) AppendEvent(ctx context.Context, e gateway.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if e.ID == "" {
		e.ID = gateway.NewID(e.Time)
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("store: encode event: %w", err)
	}
	return db.fail("append_event", db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bEvents)
		if b.Get([]byte(e.ID)) != nil {
			return reject(fmt.Errorf("store: event %s: %w", e.ID, gateway.ErrExists))
		}
		if err := b.Put([]byte(e.ID), raw); err != nil {
			return err
		}
		if err := logEvent(tx, e.ID); err != nil {
			return err
		}
		return addCount(tx, cntEvents, 1)
	}))
}

// Events lists stored events in ID (time) order, strictly after the ID
// after ("" = from the oldest), at most limit (default 100, max 1000).
// Event.Data comes back in the payload type of the event (gateway.EventData).
func (db *DB) Events(ctx context.Context, after string, limit int) ([]gateway.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var out []gateway.Event
	err := db.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bEvents).Cursor()
		k, v := c.Seek([]byte(after))
		if k != nil && after != "" && string(k) == after {
			k, v = c.Next()
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			var e gateway.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode event %s: %w", k, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, db.fail("events", err)
	}
	return out, nil
}

// eventTime is the time of a stored event: its ULID's timestamp, or the
// stored Time when the ID is not a ULID.
func eventTime(k, v []byte) time.Time {
	if id, err := ulid.ParseStrict(string(k)); err == nil {
		return ulid.Time(id.Time())
	}
	var e struct {
		Time time.Time `json:"time"`
	}
	_ = json.Unmarshal(v, &e)
	return e.Time
}

// PruneEvents deletes up to limit (default and maximum pruneChunk) of the
// oldest events older than before (by their ULID time), in one
// transaction, and returns how many it deleted. Events the webhook outbox
// has not handed on yet are never deleted.
func (db *DB) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	n, _, err := db.pruneEvents(ctx, pruneLimit(limit), func(k, v []byte, _ int64) bool { return eventTime(k, v).Before(before) })
	return n, db.fail("prune_events", err)
}

// TrimEvents deletes the oldest events until at most keep are left and
// returns how many it deleted. Like PruneEvents it keeps the events the
// outbox has not handed on.
func (db *DB) TrimEvents(ctx context.Context, keep int) (int, error) {
	total := 0
	for {
		n, more, err := db.pruneEvents(ctx, pruneChunk, func(_, _ []byte, stored int64) bool { return stored > int64(max(keep, 0)) })
		total += n
		if err != nil || !more {
			return total, db.fail("trim_events", err)
		}
	}
}

// CountEvents returns how many events are stored (a counter, not a scan).
func (db *DB) CountEvents(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	err := db.view(func(tx *bbolt.Tx) error {
		n = int(getCount(tx, cntEvents))
		return nil
	})
	return n, db.fail("count_events", err)
}

// pruneEvents deletes, in one transaction, up to limit events from the
// oldest in the event log while drop says so (given the event's key, its
// value and the number still stored), stopping at the outbox cursor. more
// reports that it stopped at the limit.
func (db *DB) pruneEvents(ctx context.Context, limit int, drop func(k, v []byte, stored int64) bool) (n int, more bool, err error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	err = db.update(ctx, func(tx *bbolt.Tx) error {
		n, more = 0, false
		stored := getCount(tx, cntEvents)
		cur := outboxCursor(tx)
		evs := tx.Bucket(bEvents)
		c := tx.Bucket(bEventLog).Cursor()
		for k, id := c.First(); k != nil; k, id = c.First() {
			if len(k) != 8 || binary.BigEndian.Uint64(k) > cur {
				break
			}
			v := evs.Get(id)
			if v != nil && !drop(id, v, stored-int64(n)) {
				break
			}
			if v != nil && n == limit {
				more = true
				break
			}
			id = append([]byte(nil), id...)
			if err := c.Delete(); err != nil {
				return err
			}
			if v == nil {
				continue // its event is gone already
			}
			if err := evs.Delete(id); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return nil
		}
		return addCount(tx, cntEvents, -int64(n))
	})
	return n, more, err
}
