package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simgate/simgate/gateway"
)

// getJSON decodes the one JSON column of the row sql selects into v; it
// returns an error wrapping gateway.ErrNotFound if there is no row.
func getJSON(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, v any, sql string, args ...any) error {
	var raw []byte
	if err := q.QueryRow(ctx, sql, args...).Scan(&raw); err != nil {
		return mapErr(err)
	}
	return json.Unmarshal(raw, v)
}

// Sticky returns the binding of contact, or an error wrapping gateway.ErrNotFound.
func (db *DB) Sticky(ctx context.Context, contact string) (gateway.Sticky, error) {
	var s gateway.Sticky
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return getJSON(ctx, q, &s, `SELECT data FROM sticky WHERE contact = $1`, contact)
	})
	if notFound(err) {
		return s, errNotFound("sticky binding")
	}
	return s, db.fail("sticky", err)
}

// SetSticky binds contact to s durably, keeping the move history as the
// bbolt store does: unless s.Moves starts with the stored moves (the caller
// carried the history over), s.Moves is appended to the stored ones; if the
// modem changes and s's last move does not already record it, a move
// {From: old, To: new, At: s.Since, Reason: "rebound"} is appended. The
// stored binding is locked while it is merged, so concurrent binders on
// several nodes do not lose each other's moves.
func (db *DB) SetSticky(ctx context.Context, contact string, s gateway.Sticky) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.Since.IsZero() {
		s.Since = time.Now().UTC()
	}
	return db.fail("set_sticky", db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		for {
			n := s
			n.Moves = append([]gateway.StickyMove(nil), s.Moves...)
			var old gateway.Sticky
			err := getJSON(ctx, tx, &old, `SELECT data FROM sticky WHERE contact = $1 FOR UPDATE`, contact)
			found := err == nil
			if err != nil && !notFound(err) {
				return err
			}
			if found {
				n = mergeSticky(old, n)
			}
			raw, err := json.Marshal(n)
			if err != nil {
				return reject(err)
			}
			if found {
				_, err := tx.Exec(ctx, `UPDATE sticky SET modem = $2, sim = $4, data = $3 WHERE contact = $1`, contact, n.Modem, raw, n.SIM)
				return err
			}
			tag, err := tx.Exec(ctx, `INSERT INTO sticky (contact, modem, sim, data) VALUES ($1, $2, $4, $3) ON CONFLICT (contact) DO NOTHING`, contact, n.Modem, raw, n.SIM)
			if err != nil || tag.RowsAffected() == 1 {
				return err
			}
			// Another node bound it meanwhile: merge with theirs.
		}
	}))
}

// mergeSticky is the binding n stored over old.
func mergeSticky(old, n gateway.Sticky) gateway.Sticky {
	if !carries(n.Moves, old.Moves) {
		n.Moves = append(append([]gateway.StickyMove(nil), old.Moves...), n.Moves...)
	}
	if old.Modem != n.Modem {
		last := len(n.Moves) - 1
		if last < 0 || n.Moves[last].From != old.Modem || n.Moves[last].To != n.Modem {
			n.Moves = append(n.Moves, gateway.StickyMove{From: old.Modem, To: n.Modem, At: n.Since, Reason: "rebound"})
		}
	}
	return n
}

// carries reports whether moves starts with old.
func carries(moves, old []gateway.StickyMove) bool {
	if len(moves) < len(old) {
		return false
	}
	for i, o := range old {
		m := moves[i]
		if m.From != o.From || m.To != o.To || m.Reason != o.Reason || !m.At.Equal(o.At) {
			return false
		}
	}
	return true
}

// Budgets returns the stored budget usage of every modem.
func (db *DB) Budgets(ctx context.Context) (map[string]gateway.BudgetUsage, error) {
	out := map[string]gateway.BudgetUsage{}
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		rows, err := q.Query(ctx, `SELECT modem, data FROM budgets`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				modem string
				raw   []byte
				u     gateway.BudgetUsage
			)
			if err := rows.Scan(&modem, &raw); err != nil {
				return err
			}
			if err := json.Unmarshal(raw, &u); err != nil {
				return err
			}
			out[modem] = u
		}
		return rows.Err()
	})
	if err != nil {
		return nil, db.fail("budgets", err)
	}
	return out, nil
}

// SaveBudget stores modem's budget usage durably.
func (db *DB) SaveBudget(ctx context.Context, modem string, u gateway.BudgetUsage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	raw, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return db.fail("save_budget", db.exec(ctx,
		`INSERT INTO budgets (modem, data) VALUES ($1, $2) ON CONFLICT (modem) DO UPDATE SET data = excluded.data`, modem, raw))
}

// OptedOut reports whether number is on the suppression list.
func (db *DB) OptedOut(ctx context.Context, number string) (bool, error) {
	var out bool
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM optouts WHERE number = $1)`, number).Scan(&out)
	})
	return out, db.fail("opted_out", err)
}

// AddOptOut puts o.Number on the suppression list durably (replacing an
// earlier entry for the number). A zero o.At is set to now.
func (db *DB) AddOptOut(ctx context.Context, o gateway.OptOut) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if o.Number == "" {
		return gateway.Invalid("number", "missing")
	}
	if o.At.IsZero() {
		o.At = time.Now().UTC()
	}
	raw, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return db.fail("add_optout", db.exec(ctx,
		`INSERT INTO optouts (number, data) VALUES ($1, $2) ON CONFLICT (number) DO UPDATE SET data = excluded.data`, o.Number, raw))
}

// RemoveOptOut takes number off the suppression list, or returns an error
// wrapping gateway.ErrNotFound if it was not on it.
func (db *DB) RemoveOptOut(ctx context.Context, number string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n, err := db.execN(ctx, `DELETE FROM optouts WHERE number = $1`, number)
	if err == nil && n == 0 {
		return errNotFound("opt-out")
	}
	return db.fail("remove_optout", err)
}

// ListOptOuts lists entries ordered by number, strictly after after ("" =
// from the start), at most limit (default 100, max 1000).
func (db *DB) ListOptOuts(ctx context.Context, after string, limit int) ([]gateway.OptOut, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var out []gateway.OptOut
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		var err error
		out, err = queryJSON[gateway.OptOut](ctx, q, `SELECT data FROM optouts WHERE number > $1 ORDER BY number LIMIT $2`, after, limit)
		return err
	})
	if err != nil {
		return nil, db.fail("list_optouts", err)
	}
	return out, nil
}
