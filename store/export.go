package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
)

// Enumeration for simgate store copy: each ForEach method calls fn for
// every record of one kind, in key order, inside one read transaction (a
// consistent view; writers are not blocked). fn must not call the store.
// fn's error stops the walk and is returned.

// ForEachSticky calls fn for every sticky binding, by contact.
func (db *DB) ForEachSticky(ctx context.Context, fn func(contact string, s gateway.Sticky) error) error {
	return db.fail("for_each_sticky", db.forEach(ctx, func(tx *bbolt.Tx) error {
		return forEachJSON(tx, bSticky, func(k []byte, s gateway.Sticky) error { return fn(string(k), s) })
	}))
}

// ForEachDelivery calls fn for every webhook delivery (done, failed and
// pending), by ID.
func (db *DB) ForEachDelivery(ctx context.Context, fn func(gateway.Delivery) error) error {
	return db.fail("for_each_delivery", db.forEach(ctx, func(tx *bbolt.Tx) error {
		return forEachJSON(tx, bDeliveries, func(_ []byte, d gateway.Delivery) error { return fn(d) })
	}))
}

// ForEachUnmatchedReport calls fn for every kept unmatched status report,
// oldest first.
func (db *DB) ForEachUnmatchedReport(ctx context.Context, fn func(gateway.StatusReport) error) error {
	return db.fail("for_each_unmatched_report", db.forEach(ctx, func(tx *bbolt.Tx) error {
		return forEachJSON(tx, bUnmatched, func(_ []byte, r gateway.StatusReport) error { return fn(r) })
	}))
}

// ForEachSession calls fn for every web app session, by token hash.
func (db *DB) ForEachSession(ctx context.Context, fn func(account.Session) error) error {
	return db.fail("for_each_session", db.forEach(ctx, func(tx *bbolt.Tx) error {
		return forEachJSON(tx, bSessions, func(_ []byte, s account.Session) error { return fn(s) })
	}))
}

// ForEachEvent calls fn for every stored event in outbox (commit) order,
// saying whether the outbox has handed it on to the webhook deliverer.
func (db *DB) ForEachEvent(ctx context.Context, fn func(e gateway.Event, handedOn bool) error) error {
	return db.fail("for_each_event", db.forEach(ctx, func(tx *bbolt.Tx) error {
		cur := outboxCursor(tx)
		evs := tx.Bucket(bEvents)
		return tx.Bucket(bEventLog).ForEach(func(k, id []byte) error {
			raw := evs.Get(id)
			if len(k) != 8 || raw == nil {
				return nil
			}
			var e gateway.Event
			if err := json.Unmarshal(raw, &e); err != nil {
				return fmt.Errorf("decode event %s: %w", id, err)
			}
			return fn(e, binary.BigEndian.Uint64(k) <= cur)
		})
	}))
}

func (db *DB) forEach(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.view(fn)
}
