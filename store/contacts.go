package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

// getJSON decodes the value of key in bucket b into v; found is false if absent.
func getJSON(tx *bbolt.Tx, b []byte, key []byte, v any) (found bool, err error) {
	raw := tx.Bucket(b).Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("decode %s: %w", b, err)
	}
	return true, nil
}

// forEachJSON decodes every value of bucket b into a T and calls fn with its key.
func forEachJSON[T any](tx *bbolt.Tx, b []byte, fn func(k []byte, v T) error) error {
	return tx.Bucket(b).ForEach(func(k, raw []byte) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("decode %s %q: %w", b, k, err)
		}
		return fn(k, v)
	})
}

// Sticky returns the binding of contact, or an error wrapping gateway.ErrNotFound.
func (db *DB) Sticky(ctx context.Context, contact string) (gateway.Sticky, error) {
	var s gateway.Sticky
	if err := ctx.Err(); err != nil {
		return s, err
	}
	err := db.view(func(tx *bbolt.Tx) error {
		ok, err := getJSON(tx, bSticky, []byte(contact), &s)
		if err == nil && !ok {
			err = fmt.Errorf("store: sticky binding: %w", gateway.ErrNotFound)
		}
		return err
	})
	return s, db.fail("sticky", err)
}

// SetSticky binds contact to s durably. The move history is kept: unless
// s.Moves starts with the stored moves (the caller carried the history
// over), s.Moves is appended to the stored ones; if the modem changes and s's last move does not already
// record it, a move {From: old, To: new, At: s.Since (or now)} is appended.
func (db *DB) SetSticky(ctx context.Context, contact string, s gateway.Sticky) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.Since.IsZero() {
		s.Since = time.Now().UTC()
	}
	key := []byte(contact)
	return db.fail("set_sticky", db.update(ctx, func(tx *bbolt.Tx) error {
		n := s
		n.Moves = append([]gateway.StickyMove(nil), s.Moves...)
		var old gateway.Sticky
		found, err := getJSON(tx, bSticky, key, &old)
		if err != nil {
			return reject(err)
		}
		if found {
			if !carries(n.Moves, old.Moves) {
				n.Moves = append(old.Moves, n.Moves...)
			}
			if old.Modem != n.Modem {
				last := len(n.Moves) - 1
				if last < 0 || n.Moves[last].From != old.Modem || n.Moves[last].To != n.Modem {
					n.Moves = append(n.Moves, gateway.StickyMove{From: old.Modem, To: n.Modem, At: n.Since, Reason: "rebound"})
				}
			}
		}
		return putSticky(tx, contact, n)
	}))
}

// putSticky stores s as contact's binding.
func putSticky(tx *bbolt.Tx, contact string, s gateway.Sticky) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return reject(err)
	}
	return tx.Bucket(bSticky).Put([]byte(contact), raw)
}

// Budgets returns the stored budget usage of every modem.
func (db *DB) Budgets(ctx context.Context) (map[string]gateway.BudgetUsage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := map[string]gateway.BudgetUsage{}
	err := db.view(func(tx *bbolt.Tx) error {
		return forEachJSON(tx, bBudgets, func(k []byte, u gateway.BudgetUsage) error {
			out[string(k)] = u
			return nil
		})
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
	return db.fail("save_budget", db.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bBudgets).Put([]byte(modem), raw)
	}))
}

// OptedOut reports whether number is on the suppression list.
func (db *DB) OptedOut(ctx context.Context, number string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var out bool
	err := db.view(func(tx *bbolt.Tx) error {
		out = tx.Bucket(bOptOuts).Get([]byte(number)) != nil
		return nil
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
	return db.fail("add_optout", db.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bOptOuts).Put([]byte(o.Number), raw)
	}))
}

// RemoveOptOut takes number off the suppression list, or returns an error
// wrapping gateway.ErrNotFound if it was not on it.
func (db *DB) RemoveOptOut(ctx context.Context, number string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.fail("remove_optout", db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bOptOuts)
		if b.Get([]byte(number)) == nil {
			return reject(fmt.Errorf("store: opt-out: %w", gateway.ErrNotFound))
		}
		return b.Delete([]byte(number))
	}))
}

// ListOptOuts lists entries ordered by number, strictly after after ("" =
// from the start), at most limit (default 100, max 1000).
func (db *DB) ListOptOuts(ctx context.Context, after string, limit int) ([]gateway.OptOut, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var out []gateway.OptOut
	err := db.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bOptOuts).Cursor()
		k, v := c.Seek([]byte(after))
		if k != nil && after != "" && string(k) == after {
			k, v = c.Next()
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			var o gateway.OptOut
			if err := json.Unmarshal(v, &o); err != nil {
				return fmt.Errorf("decode opt-out: %w", err)
			}
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return nil, db.fail("list_optouts", err)
	}
	return out, nil
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
