package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

// Retention: each Prune method deletes at most limit records (default and
// maximum pruneChunk) in one transaction, with every index entry and
// counter of each record, and returns how many it deleted; the caller
// repeats while the result equals the limit. A batch is one write in the
// group committer, so writers wait for at most one batch.

func pruneLimit(limit int) int {
	if limit <= 0 || limit > pruneChunk {
		return pruneChunk
	}
	return limit
}

// PruneMessages deletes up to limit messages in a final status (delivered,
// failed, unknown, cancelled, expired, unconfirmed, received) created before before,
// oldest first, with all their index entries (time, status,
// contact, modem, agent, message references, idempotency key) and counts.
// Messages in any other status (queued, sending, sent) are never deleted.
func (db *DB) PruneMessages(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	limit = pruneLimit(limit)
	end := timeBits(before)
	var n int
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		var victims []*gateway.Message
		c := tx.Bucket(bIxStatus).Cursor()
		for k, _ := c.First(); k != nil && len(victims) < limit; {
			st, plen, ok := splitStatus(k)
			if !ok || len(k) < plen+8 {
				k, _ = c.Next()
				continue
			}
			// Skip a status that is not final, and the rest of a final
			// status once its entries are too new.
			if !st.Terminal() || binary.BigEndian.Uint64(k[plen:]) >= end {
				next := nextPrefix(k[:plen])
				if next == nil {
					break
				}
				k, _ = c.Seek(next)
				continue
			}
			if _, id, ok := splitMsgIx(k, plen); ok {
				if raw := tx.Bucket(bMessages).Get(k[plen+8:]); raw != nil {
					m, err := decodeMessage(id, raw)
					if err != nil {
						return err
					}
					victims = append(victims, m)
				}
			}
			k, _ = c.Next()
		}
		for _, m := range victims {
			if err := tx.Bucket(bMessages).Delete(messageKey(m.ID)); err != nil {
				return err
			}
			if err := applyEntries(tx, messageEntries(m), nil); err != nil {
				return err
			}
		}
		n = len(victims)
		return nil
	})
	return n, db.fail("prune_messages", err)
}

// PruneDeliveries deletes up to limit webhook deliveries that are done or
// given up and were created before before, with their index entries.
// Pending deliveries are never deleted.
func (db *DB) PruneDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	limit = pruneLimit(limit)
	end := timeBits(before)
	var n int
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		var victims []gateway.Delivery
		// The webhook index is ordered by webhook, then creation time: walk
		// each webhook's old entries and skip to the next webhook.
		c := tx.Bucket(bIxHookDel).Cursor()
		for k, _ := c.First(); k != nil && len(victims) < limit; {
			if len(k) < 2 {
				k, _ = c.Next()
				continue
			}
			plen := 2 + int(binary.BigEndian.Uint16(k))
			if len(k) < plen+8 || binary.BigEndian.Uint64(k[plen:]) >= end {
				next := nextPrefix(k[:min(plen, len(k))])
				if next == nil {
					break
				}
				k, _ = c.Seek(next)
				continue
			}
			var d gateway.Delivery
			found, err := getJSON(tx, bDeliveries, k[plen+8:], &d)
			if err != nil {
				return err
			}
			if found && !pending(&d) {
				victims = append(victims, d)
			}
			k, _ = c.Next()
		}
		for i := range victims {
			if err := tx.Bucket(bDeliveries).Delete([]byte(victims[i].ID)); err != nil {
				return err
			}
			if err := applyEntries(tx, deliveryEntries(&victims[i]), nil); err != nil {
				return err
			}
		}
		n = len(victims)
		return nil
	})
	return n, db.fail("prune_deliveries", err)
}

// PruneUnmatchedReports deletes up to limit kept unmatched status reports
// received before before, oldest first.
func (db *DB) PruneUnmatchedReports(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	limit = pruneLimit(limit)
	end := encTime(before)
	var n int
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		c := tx.Bucket(bUnmatched).Cursor()
		for k, _ := c.First(); k != nil && n < limit && bytes.Compare(k, end) < 0; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return nil
		}
		return addCount(tx, cntUnmatch, -int64(n))
	})
	return n, db.fail("prune_unmatched_reports", err)
}

// PruneSticky deletes up to limit SIM bindings of contacts with no stored
// message (no entry in ix_c). The bindings are read in a read
// transaction; each is checked again before it is deleted.
func (db *DB) PruneSticky(ctx context.Context, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	limit = pruneLimit(limit)
	orphan := func(tx *bbolt.Tx, contact []byte) bool {
		p := prefix(string(contact))
		k, _ := tx.Bucket(bIxContact).Cursor().Seek(p)
		return k == nil || !bytes.HasPrefix(k, p)
	}
	var victims [][]byte
	err := db.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bSticky).Cursor()
		for k, _ := c.First(); k != nil && len(victims) < limit; k, _ = c.Next() {
			if orphan(tx, k) {
				victims = append(victims, append([]byte(nil), k...))
			}
		}
		return nil
	})
	if err != nil || len(victims) == 0 {
		return 0, db.fail("prune_sticky", err)
	}
	var n int
	err = db.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		b := tx.Bucket(bSticky)
		for _, k := range victims {
			if b.Get(k) == nil || !orphan(tx, k) {
				continue // a message to the contact came meanwhile
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, db.fail("prune_sticky", err)
}
