package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simgate/simgate/gateway"
)

// AddFragment durably stores f under key and returns every fragment stored
// for key so far, ordered by seq. A fragment whose seq is already stored
// under key is not stored again (the first one is kept).
func (db *DB) AddFragment(ctx context.Context, key string, f gateway.Fragment) ([]gateway.Fragment, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.Seq < 0 || f.Seq > 0xFFFF {
		return nil, gateway.Invalid("seq", "out of range")
	}
	if f.Received.IsZero() {
		f.Received = time.Now().UTC()
	}
	raw, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	var out []gateway.Fragment
	err = db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO fragments (set_key, seq, received_ns, data) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			[]byte(key), f.Seq, nanos(f.Received), raw); err != nil {
			return err
		}
		var err error
		out, err = queryJSON[gateway.Fragment](ctx, tx, `SELECT data FROM fragments WHERE set_key = $1 ORDER BY seq`, []byte(key))
		return err
	})
	if err != nil {
		return nil, db.fail("add_fragment", err)
	}
	return out, nil
}

// CompleteInbound stores msg and deletes the fragments of key (if key is
// not "") in one transaction. If a message with msg.ID is already stored it
// does nothing and returns an error wrapping gateway.ErrExists (the
// fragments stay).
func (db *DB) CompleteInbound(ctx context.Context, msg *gateway.Message, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	raw, err := prepare(msg)
	if err != nil {
		return err
	}
	if key == "" {
		return db.fail("complete_inbound", existsErr(msg, db.exec(ctx, insertMessageSQL, insertMessageArgs(msg, raw)...)))
	}
	err = db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, insertMessageSQL, insertMessageArgs(msg, raw)...); err != nil {
			return reject(existsErr(msg, err))
		}
		_, err := tx.Exec(ctx, `DELETE FROM fragments WHERE set_key = $1`, []byte(key))
		return err
	})
	return db.fail("complete_inbound", err)
}

// StaleFragments returns the fragment sets whose newest fragment was
// received before before, by key.
func (db *DB) StaleFragments(ctx context.Context, before time.Time) (map[string][]gateway.Fragment, error) {
	out := map[string][]gateway.Fragment{}
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		rows, err := q.Query(ctx, `SELECT f.set_key, f.data FROM fragments f
			JOIN (SELECT set_key FROM fragments GROUP BY set_key HAVING max(received_ns) < $1) s USING (set_key)
			ORDER BY f.set_key, f.seq`, nanos(before))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var key, raw []byte
			if err := rows.Scan(&key, &raw); err != nil {
				return err
			}
			var f gateway.Fragment
			if err := json.Unmarshal(raw, &f); err != nil {
				return fmt.Errorf("decode fragment: %w", err)
			}
			out[string(key)] = append(out[string(key)], f)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, db.fail("stale_fragments", err)
	}
	return out, nil
}

// errNotFound wraps gateway.ErrNotFound with what was not found.
func errNotFound(what string) error { return fmt.Errorf("postgres: %s: %w", what, gateway.ErrNotFound) }

// notFound reports whether err means "no row".
func notFound(err error) bool {
	return errors.Is(err, pgx.ErrNoRows) || errors.Is(err, gateway.ErrNotFound)
}
