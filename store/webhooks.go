package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

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
	return db.fail("put_webhook", db.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bWebhooks).Put([]byte(w.ID), raw)
	}))
}

// DeleteWebhook deletes the webhook id, or returns an error wrapping
// gateway.ErrNotFound. Its pending deliveries are marked failed ("webhook
// deleted") in the same transaction; its delivery history stays.
func (db *DB) DeleteWebhook(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now().UTC()
	return db.fail("delete_webhook", db.update(ctx, func(tx *bbolt.Tx) error {
		hooks := tx.Bucket(bWebhooks)
		if hooks.Get([]byte(id)) == nil {
			return reject(fmt.Errorf("store: webhook %s: %w", id, gateway.ErrNotFound))
		}
		if err := hooks.Delete([]byte(id)); err != nil {
			return err
		}
		p := prefix(id)
		var pending []gateway.Delivery
		c := tx.Bucket(bIxHookDel).Cursor()
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			_, did, ok := splitIx(k, len(p))
			if !ok {
				continue
			}
			var d gateway.Delivery
			if found, err := getJSON(tx, bDeliveries, []byte(did), &d); err != nil || !found {
				continue
			}
			if !d.Done && !d.Failed {
				pending = append(pending, d)
			}
		}
		for _, d := range pending {
			n := d
			n.Failed, n.LastError = true, "webhook deleted"
			if n.LastAttempt.IsZero() {
				n.LastAttempt = now
			}
			if err := putDelivery(tx, &d, &n); err != nil {
				return err
			}
		}
		return nil
	}))
}

// ListWebhooks returns every webhook (secrets included), ordered by ID.
func (db *DB) ListWebhooks(ctx context.Context) ([]gateway.Webhook, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []gateway.Webhook
	err := db.view(func(tx *bbolt.Tx) error {
		return forEachJSON(tx, bWebhooks, func(_ []byte, w storedWebhook) error {
			w.Webhook.Secret = w.Secret
			out = append(out, w.Webhook)
			return nil
		})
	})
	if err != nil {
		return nil, db.fail("list_webhooks", err)
	}
	return out, nil
}

func pending(d *gateway.Delivery) bool { return !d.Done && !d.Failed }

// deliveryEntries derives the index entries of d: the webhook index always,
// the pending index (counted) while it is neither done nor failed.
func deliveryEntries(d *gateway.Delivery) []entry {
	es := []entry{{bucket: bIxHookDel, key: ixKey(d.WebhookID, d.CreatedAt, d.ID)}}
	if pending(d) {
		k := append(encTime(d.NextAttempt), d.ID...)
		es = append(es, entry{bucket: bIxPending, key: k, val: []byte(d.WebhookID), count: cntPending})
	}
	return es
}

// putDelivery stores n, replacing old (nil for a new delivery), and moves
// its index entries.
func putDelivery(tx *bbolt.Tx, old, n *gateway.Delivery) error {
	raw, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bDeliveries).Put([]byte(n.ID), raw); err != nil {
		return err
	}
	var oes []entry
	if old != nil {
		oes = deliveryEntries(old)
	}
	return applyEntries(tx, oes, deliveryEntries(n))
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
	ds, err := prepareDeliveries(ds)
	if err != nil {
		return err
	}
	return db.fail("enqueue_deliveries", db.update(ctx, func(tx *bbolt.Tx) error {
		if err := checkNewDeliveries(tx, ds); err != nil {
			return err
		}
		for i := range ds {
			if err := putDelivery(tx, nil, &ds[i]); err != nil {
				return err
			}
		}
		return nil
	}))
}

// prepareDeliveries checks new deliveries and fills in their times, on a
// copy of ds.
func prepareDeliveries(ds []gateway.Delivery) ([]gateway.Delivery, error) {
	now := time.Now().UTC()
	ds = append([]gateway.Delivery(nil), ds...)
	seen := map[string]bool{}
	for i := range ds {
		d := &ds[i]
		if d.ID == "" || d.WebhookID == "" {
			return nil, gateway.Invalid("delivery", "id and webhook_id are required")
		}
		if seen[d.ID] {
			return nil, fmt.Errorf("store: delivery %s twice: %w", d.ID, gateway.ErrExists)
		}
		seen[d.ID] = true
		if d.CreatedAt.IsZero() {
			d.CreatedAt = now
		}
		if d.NextAttempt.IsZero() {
			d.NextAttempt = d.CreatedAt
		}
	}
	return ds, nil
}

// checkNewDeliveries rejects the write if any of ds is stored already.
func checkNewDeliveries(tx *bbolt.Tx, ds []gateway.Delivery) error {
	b := tx.Bucket(bDeliveries)
	for i := range ds {
		if b.Get([]byte(ds[i].ID)) != nil {
			return reject(fmt.Errorf("store: delivery %s: %w", ds[i].ID, gateway.ErrExists))
		}
	}
	return nil
}

// maxDueScan bounds the pending-index entries one DueDeliveries call walks
// past (skipped or not due yet is where it stops anyway).
const maxDueScan = 100_000

// DueDeliveries returns up to limit (default 100) pending deliveries with
// NextAttempt <= now, oldest NextAttempt first, through the pending index.
// skip, if not nil, is asked about each due delivery by ID and webhook ID
// (from the index: the record is not read) and leaves out those it returns
// true for; it runs inside a read transaction and must not call the store.
func (db *DB) DueDeliveries(ctx context.Context, now time.Time, limit int, skip func(id, webhookID string) bool) ([]gateway.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	end := timeBits(now)
	var out []gateway.Delivery
	err := db.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bIxPending).Cursor()
		scanned := 0
		for k, v := c.First(); k != nil && len(out) < limit && scanned < maxDueScan; k, v = c.Next() {
			scanned++
			if len(k) < 8 || binary.BigEndian.Uint64(k) > end {
				break
			}
			id := k[8:]
			if skip != nil && len(v) > 0 && skip(string(id), string(v)) {
				continue
			}
			var d gateway.Delivery
			found, err := getJSON(tx, bDeliveries, id, &d)
			if err != nil {
				return err
			}
			if !found || (skip != nil && len(v) == 0 && skip(d.ID, d.WebhookID)) {
				continue
			}
			out = append(out, d)
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
// leaves the pending index.
func (db *DB) UpdateDelivery(ctx context.Context, d gateway.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.fail("update_delivery", db.update(ctx, func(tx *bbolt.Tx) error {
		var old gateway.Delivery
		found, err := getJSON(tx, bDeliveries, []byte(d.ID), &old)
		if err != nil {
			return reject(err)
		}
		if !found {
			return reject(fmt.Errorf("store: delivery %s: %w", d.ID, gateway.ErrNotFound))
		}
		n := d
		if n.CreatedAt.IsZero() {
			n.CreatedAt = old.CreatedAt
		}
		return putDelivery(tx, &old, &n)
	}))
}

// ListDeliveries lists the deliveries of a webhook, newest first, at most
// limit (default 50, max 500).
func (db *DB) ListDeliveries(ctx context.Context, webhookID string, limit int) ([]gateway.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit = gateway.PageLimit(limit)
	var out []gateway.Delivery
	err := db.view(func(tx *bbolt.Tx) error {
		p := prefix(webhookID)
		c := tx.Bucket(bIxHookDel).Cursor()
		k, _ := c.Seek(nextPrefix(p))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, p) && len(out) < limit; k, _ = c.Prev() {
			_, id, ok := splitIx(k, len(p))
			if !ok {
				continue
			}
			var d gateway.Delivery
			found, err := getJSON(tx, bDeliveries, []byte(id), &d)
			if err != nil {
				return err
			}
			if found {
				out = append(out, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, db.fail("list_deliveries", err)
	}
	return out, nil
}

// PendingDeliveries counts deliveries neither done nor failed (a stored
// counter, not a scan).
func (db *DB) PendingDeliveries(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	err := db.view(func(tx *bbolt.Tx) error {
		n = int(getCount(tx, cntPending))
		return nil
	})
	return n, db.fail("pending_deliveries", err)
}
