package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simgate/simgate/gateway"
)

// storedWebhook keeps the secret, which gateway.Webhook hides from JSON.
type storedWebhook struct {
	gateway.Webhook
	Secret string `json:"secret"`
}

// PutWebhook stores w (creating or replacing the webhook with w.ID),
// secret included.
func (db *DB) PutWebhook(ctx context.Context, w gateway.Webhook) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.ID == "" {
		return gateway.Invalid("id", "missing")
	}
	if w.CreatedAt.IsZero() {
		w.CreatedAt = time.Now().UTC()
	}
	raw, err := json.Marshal(storedWebhook{Webhook: w, Secret: w.Secret})
	if err != nil {
		return err
	}
	return db.fail("put_webhook", db.exec(ctx,
		`INSERT INTO webhooks (id, data) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET data = excluded.data`, w.ID, raw))
}

// DeleteWebhook deletes the webhook id, or returns an error wrapping
// gateway.ErrNotFound. Its pending deliveries are marked failed ("webhook
// deleted") in the same transaction; its delivery history stays.
func (db *DB) DeleteWebhook(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now().UTC()
	return db.fail("delete_webhook", db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM webhooks WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return reject(errNotFound("webhook " + id))
		}
		ds, err := queryJSON[gateway.Delivery](ctx, tx, `SELECT data FROM deliveries WHERE webhook_id = $1 AND pending FOR UPDATE`, id)
		if err != nil {
			return err
		}
		for _, d := range ds {
			d.Failed, d.LastError = true, "webhook deleted"
			if d.LastAttempt.IsZero() {
				d.LastAttempt = now
			}
			if err := putDelivery(ctx, tx, d); err != nil {
				return err
			}
		}
		return nil
	}))
}

// ListWebhooks returns every webhook (secrets included), ordered by ID.
func (db *DB) ListWebhooks(ctx context.Context) ([]gateway.Webhook, error) {
	var out []gateway.Webhook
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		ws, err := queryJSON[storedWebhook](ctx, q, `SELECT data FROM webhooks ORDER BY id`)
		for _, w := range ws {
			w.Webhook.Secret = w.Secret
			out = append(out, w.Webhook)
		}
		return err
	})
	if err != nil {
		return nil, db.fail("list_webhooks", err)
	}
	return out, nil
}

func pending(d gateway.Delivery) bool { return !d.Done && !d.Failed }

// putDelivery updates the stored delivery d.ID to d.
func putDelivery(ctx context.Context, tx pgx.Tx, d gateway.Delivery) error {
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE deliveries SET next_ns = $2, pending = $3, data = $4 WHERE id = $1`,
		d.ID, nanos(d.NextAttempt), pending(d), raw)
	return err
}

// EnqueueDeliveries stores ds durably in one transaction. A zero CreatedAt
// is set to now and a zero NextAttempt to CreatedAt (due at once). If any
// ID is stored already (or repeated in ds) nothing is stored and the error
// wraps gateway.ErrExists.
func (db *DB) EnqueueDeliveries(ctx context.Context, ds []gateway.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	leave, err := db.enter(ctx)
	if err != nil {
		return err
	}
	defer leave()
	return db.fail("enqueue_deliveries", insertDeliveries(ctx, db.pool, ds))
}

// insertDeliveries checks and stores ds in one statement (see EnqueueDeliveries).
func insertDeliveries(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, ds []gateway.Delivery) error {
	now := time.Now().UTC()
	ds = append([]gateway.Delivery(nil), ds...)
	seen := map[string]bool{}
	var (
		ids, hooks []string
		created    []int64
		next       []int64
		pend       []bool
		raws       [][]byte
	)
	for i := range ds {
		d := &ds[i]
		if d.ID == "" || d.WebhookID == "" {
			return gateway.Invalid("delivery", "id and webhook_id are required")
		}
		if seen[d.ID] {
			return fmt.Errorf("postgres: delivery %s twice: %w", d.ID, gateway.ErrExists)
		}
		seen[d.ID] = true
		if d.CreatedAt.IsZero() {
			d.CreatedAt = now
		}
		if d.NextAttempt.IsZero() {
			d.NextAttempt = d.CreatedAt
		}
		raw, err := json.Marshal(d)
		if err != nil {
			return err
		}
		ids, hooks, created, next, pend, raws = append(ids, d.ID), append(hooks, d.WebhookID), append(created, nanos(d.CreatedAt)),
			append(next, nanos(d.NextAttempt)), append(pend, pending(*d)), append(raws, raw)
	}
	_, err := q.Exec(ctx, `INSERT INTO deliveries (id, webhook_id, created_ns, next_ns, pending, data)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bool[], $6::json[])`,
		ids, hooks, created, next, pend, raws)
	err = mapErr(err)
	if isExists(err) {
		err = fmt.Errorf("postgres: delivery already stored: %w", gateway.ErrExists)
	}
	return err
}

// dueScan is how many due rows one DueDeliveries query reads at a time, and
// maxDueScan how many it walks past in all (skipped ones included).
const (
	dueScan    = 500
	maxDueScan = 100_000
)

// DueDeliveries returns up to limit (default 100) pending deliveries with
// NextAttempt <= now, oldest NextAttempt first, leaving out those skip (if
// not nil) returns true for, given their ID and WebhookID.
func (db *DB) DueDeliveries(ctx context.Context, now time.Time, limit int, skip func(id, webhookID string) bool) ([]gateway.Delivery, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []gateway.Delivery
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		afterNs, afterID := int64(math.MinInt64), ""
		for scanned := 0; len(out) < limit && scanned < maxDueScan; {
			rows, err := q.Query(ctx, `SELECT id, webhook_id, next_ns, data FROM deliveries
				WHERE pending AND next_ns <= $1 AND (next_ns, id) > ($2, $3) ORDER BY next_ns, id LIMIT $4`,
				nanos(now), afterNs, afterID, dueScan)
			if err != nil {
				return err
			}
			n := 0
			for rows.Next() {
				var (
					id, hook string
					raw      []byte
				)
				if err := rows.Scan(&id, &hook, &afterNs, &raw); err != nil {
					rows.Close()
					return err
				}
				afterID = id
				n++
				if len(out) == limit || (skip != nil && skip(id, hook)) {
					continue
				}
				var d gateway.Delivery
				if err := json.Unmarshal(raw, &d); err != nil {
					rows.Close()
					return fmt.Errorf("decode delivery %s: %w", id, err)
				}
				out = append(out, d)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			scanned += n
			if n < dueScan {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, db.fail("due_deliveries", err)
	}
	return out, nil
}

// UpdateDelivery stores d over the stored delivery with d.ID (an error
// wrapping gateway.ErrNotFound if there is none); a Done or Failed delivery
// leaves the pending set.
func (db *DB) UpdateDelivery(ctx context.Context, d gateway.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.fail("update_delivery", db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var old gateway.Delivery
		if err := getJSON(ctx, tx, &old, `SELECT data FROM deliveries WHERE id = $1 FOR UPDATE`, d.ID); err != nil {
			if notFound(err) {
				return reject(errNotFound("delivery " + d.ID))
			}
			return err
		}
		n := d
		if n.CreatedAt.IsZero() {
			n.CreatedAt = old.CreatedAt
		}
		n.WebhookID = old.WebhookID
		return putDelivery(ctx, tx, n)
	}))
}

// ListDeliveries lists the deliveries of a webhook, newest first, at most
// limit (default 50, max 500).
func (db *DB) ListDeliveries(ctx context.Context, webhookID string, limit int) ([]gateway.Delivery, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	var out []gateway.Delivery
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		var err error
		out, err = queryJSON[gateway.Delivery](ctx, q, `SELECT data FROM deliveries WHERE webhook_id = $1 ORDER BY created_ns DESC, id DESC LIMIT $2`,
			webhookID, limit)
		return err
	})
	if err != nil {
		return nil, db.fail("list_deliveries", err)
	}
	return out, nil
}

// PendingDeliveries counts deliveries neither done nor failed.
func (db *DB) PendingDeliveries(ctx context.Context) (int, error) {
	var n int
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return q.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE pending`).Scan(&n)
	})
	return n, db.fail("pending_deliveries", err)
}
