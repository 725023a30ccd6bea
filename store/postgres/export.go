package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
)

// Enumeration for simgate store copy: each ForEach method calls fn for
// every record of one kind, in key order (the bbolt store's order), from
// one read-only repeatable-read transaction (a consistent view). fn must
// not call the store. fn's error stops the walk and is returned.

// ForEachSticky calls fn for every sticky binding, by contact.
func (db *DB) ForEachSticky(ctx context.Context, fn func(contact string, s gateway.Sticky) error) error {
	return db.fail("for_each_sticky", forEachRow(ctx, db, `SELECT contact, data FROM sticky ORDER BY contact`,
		func(key string, raw []byte) error {
			var s gateway.Sticky
			if err := json.Unmarshal(raw, &s); err != nil {
				return err
			}
			return fn(key, s)
		}))
}

// ForEachDelivery calls fn for every webhook delivery, by ID.
func (db *DB) ForEachDelivery(ctx context.Context, fn func(gateway.Delivery) error) error {
	return db.fail("for_each_delivery", forEachRow(ctx, db, `SELECT id, data FROM deliveries ORDER BY id`,
		func(_ string, raw []byte) error {
			var d gateway.Delivery
			if err := json.Unmarshal(raw, &d); err != nil {
				return err
			}
			return fn(d)
		}))
}

// ForEachUnmatchedReport calls fn for every kept unmatched status report, oldest first.
func (db *DB) ForEachUnmatchedReport(ctx context.Context, fn func(gateway.StatusReport) error) error {
	return db.fail("for_each_unmatched_report", forEachRow(ctx, db, `SELECT seq::text, data FROM unmatched_reports ORDER BY received_ns, seq`,
		func(_ string, raw []byte) error {
			var r gateway.StatusReport
			if err := json.Unmarshal(raw, &r); err != nil {
				return err
			}
			return fn(r)
		}))
}

// ForEachSession calls fn for every web app session, by token hash.
func (db *DB) ForEachSession(ctx context.Context, fn func(account.Session) error) error {
	return db.fail("for_each_session", forEachRow(ctx, db, `SELECT encode(hash, 'hex'), data FROM sessions ORDER BY hash`,
		func(_ string, raw []byte) error {
			var s account.Session
			if err := json.Unmarshal(raw, &s); err != nil {
				return err
			}
			return fn(s)
		}))
}

// ForEachEvent calls fn for every stored event in outbox order, saying
// whether the outbox has handed it on to the webhook deliverer.
func (db *DB) ForEachEvent(ctx context.Context, fn func(e gateway.Event, handedOn bool) error) error {
	return db.fail("for_each_event", forEachRow(ctx, db, `SELECT (e.seq <= o.cursor)::text, e.data FROM events e, outbox o ORDER BY e.seq`,
		func(handed string, raw []byte) error {
			var e gateway.Event
			if err := json.Unmarshal(raw, &e); err != nil {
				return fmt.Errorf("decode event: %w", err)
			}
			return fn(e, handed == "true")
		}))
}

// forEachRow runs sql (two columns: a text key and a JSON record) in a
// read-only snapshot and calls fn for each row.
func forEachRow(ctx context.Context, db *DB, sql string, fn func(key string, raw []byte) error) error {
	return db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return pgx.BeginTxFunc(ctx, q, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, sql)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var (
					key string
					raw []byte
				)
				if err := rows.Scan(&key, &raw); err != nil {
					return err
				}
				if err := fn(key, raw); err != nil {
					return err
				}
			}
			return rows.Err()
		})
	})
}
