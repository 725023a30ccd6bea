package store

import (
	"bytes"
	"fmt"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store/storetest"
)

// indexKeysMentioning returns every key or value in any bucket that
// contains id: a record deleted with all its entries leaves none.
func indexKeysMentioning(t *testing.T, db *DB, id string) []string {
	t.Helper()
	var out []string
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if bytes.Contains(k, []byte(id)) || bytes.Contains(v, []byte(id)) {
					out = append(out, fmt.Sprintf("%s/%q", name, k))
				}
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRetentionLeavesNoIndexEntry checks at the bucket level what the
// conformance suite checks through the interface: a pruned record leaves
// no key anywhere.
func TestRetentionLeavesNoIndexEntry(t *testing.T) {
	db := openTest(t, "")
	f := storetest.SeedRetention(t, db)
	r, err := gateway.NewRetention(storetest.RetentionConfig(f.Now, 2), db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range f.GoneMessages {
		if left := indexKeysMentioning(t, db, m.ID); len(left) > 0 {
			t.Errorf("pruned message %s left %v", m.ID, left)
		}
		if left := indexKeysMentioning(t, db, m.IdempotencyKey); len(left) > 0 {
			t.Errorf("pruned message %s left its idempotency key %v", m.ID, left)
		}
	}
	for _, id := range f.GoneDeliveries {
		if left := indexKeysMentioning(t, db, id); len(left) > 0 {
			t.Errorf("pruned delivery %s left %v", id, left)
		}
	}
}
