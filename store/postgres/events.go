package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"

	"github.com/simgate/simgate/gateway"
)

// pruneChunk bounds how many events one pruning statement deletes.
const pruneChunk = 5000

// AppendEvent stores e durably under its ID (a ULID; a missing one is made,
// as is a missing Time). An event whose ID is stored already gives an error
// wrapping gateway.ErrExists.
func (db *DB) AppendEvent(ctx context.Context, e gateway.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if e.ID == "" {
		e.ID = ulid.MustNew(ulid.Timestamp(e.Time), ulid.DefaultEntropy()).String()
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("postgres: encode event: %w", err)
	}
	// Numbered under a lock so that numbers commit in order (outbox.go).
	err = db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, eventLockKey); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO events (id, at_ns, data, seq) VALUES ($1, $2, $3, nextval('event_seq'))`, e.ID, nanos(eventTime(e)), raw)
		if isUnique(err) {
			return reject(fmt.Errorf("postgres: event %s: %w", e.ID, gateway.ErrExists))
		}
		return err
	})
	return db.fail("append_event", err)
}

// eventTime is the time an event is pruned by: its ULID's timestamp, or
// its Time when the ID is not a ULID (as in the bbolt store).
func eventTime(e gateway.Event) time.Time {
	if id, err := ulid.ParseStrict(e.ID); err == nil {
		return ulid.Time(id.Time())
	}
	return e.Time
}

// Events lists stored events in ID (time) order, strictly after the ID
// after ("" = from the oldest), at most limit (default 100, max 1000).
// Event.Data comes back in the payload type of the event (gateway.EventData).
func (db *DB) Events(ctx context.Context, after string, limit int) ([]gateway.Event, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var out []gateway.Event
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		var err error
		out, err = queryJSON[gateway.Event](ctx, q, `SELECT data FROM events WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
		return err
	})
	if err != nil {
		return nil, db.fail("events", err)
	}
	return out, nil
}

// PruneEvents deletes up to limit (default and maximum pruneChunk) of the
// oldest events older than before, in one statement, and returns how many
// it deleted. Events the outbox has not handed on are kept.
func (db *DB) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err := db.execN(ctx, `DELETE FROM events WHERE id IN (SELECT id FROM events
		WHERE at_ns < $1 AND seq <= (SELECT cursor FROM outbox) ORDER BY id LIMIT $2)`,
		nanos(before), pruneLimit(limit))
	return int(n), db.fail("prune_events", err)
}

// TrimEvents deletes the oldest events until at most keep are left and
// returns how many it deleted, in statements of at most pruneChunk rows.
func (db *DB) TrimEvents(ctx context.Context, keep int) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := db.execN(ctx, `DELETE FROM events WHERE id IN (SELECT id FROM events WHERE seq <= (SELECT cursor FROM outbox)
			ORDER BY id LIMIT least($2, greatest((SELECT count(*) FROM events) - $1, 0)))`, max(keep, 0), pruneChunk)
		total += int(n)
		if err != nil || n < pruneChunk {
			return total, db.fail("trim_events", err)
		}
	}
}

// CountEvents returns how many events are stored.
func (db *DB) CountEvents(ctx context.Context) (int, error) {
	var n int
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return q.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n)
	})
	return n, db.fail("count_events", err)
}
