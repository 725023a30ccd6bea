package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simgate/simgate/gateway"
)

var _ gateway.EventOutbox = (*DB)(nil)

// The event outbox (migration 0002). A bigserial alone is not commit
// order: two transactions may take 4 and 5 and commit 5 first, and a reader
// that moved its cursor past 5 would never see 4. AppendEvent therefore
// numbers and inserts an event while holding a transaction-scoped advisory
// lock (per schema), so numbers commit in order. outbox.cursor is the
// number of the last event handed on; AdvanceEvents moves it and stores the
// deliveries in one transaction, locking the row so that two nodes cannot
// hand the same events on twice.

// eventLockKey is the first key of the advisory lock that orders event
// numbers; the second is a hash of the schema.
const eventLockKey = 0x51_65_76_74 // "Qevt"

// NextEvents returns up to limit (default 100, max 1000) events committed
// after the outbox cursor, in commit order, and the position of the last
// one ("" when there are none).
func (db *DB) NextEvents(ctx context.Context, limit int) ([]gateway.Event, string, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var (
		out  []gateway.Event
		last int64
	)
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		rows, err := q.Query(ctx, `SELECT seq, data FROM events WHERE seq > (SELECT cursor FROM outbox) ORDER BY seq LIMIT $1`, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var raw []byte
			if err := rows.Scan(&last, &raw); err != nil {
				return err
			}
			var e gateway.Event
			if err := json.Unmarshal(raw, &e); err != nil {
				return fmt.Errorf("decode event: %w", err)
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, "", db.fail("next_events", err)
	}
	if last == 0 {
		return nil, "", nil
	}
	return out, strconv.FormatInt(last, 10), nil
}

// AdvanceEvents stores ds (as EnqueueDeliveries) and moves the outbox
// cursor to pos in one transaction. A pos not after the cursor stores
// nothing and returns an error wrapping gateway.ErrExists.
func (db *DB) AdvanceEvents(ctx context.Context, pos string, ds []gateway.Delivery) error {
	seq, err := strconv.ParseInt(pos, 10, 64)
	if err != nil || seq <= 0 {
		return gateway.Invalid("pos", "not an outbox position")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.fail("advance_events", db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var cur int64
		if err := tx.QueryRow(ctx, `SELECT cursor FROM outbox FOR UPDATE`).Scan(&cur); err != nil {
			return err
		}
		if seq <= cur {
			return reject(fmt.Errorf("postgres: outbox is at %d already: %w", cur, gateway.ErrExists))
		}
		if len(ds) > 0 {
			if err := insertDeliveries(ctx, tx, ds); err != nil {
				if isExists(err) {
					return reject(err)
				}
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE outbox SET cursor = $1`, seq)
		return err
	}))
}
