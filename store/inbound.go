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

// fragKey is prefix(set key) | seq (2 bytes): the fragments of one set are
// adjacent and ordered by seq.
func fragKey(key string, seq int) []byte {
	return binary.BigEndian.AppendUint16(prefix(key), uint16(seq))
}

// fragments returns the fragments stored under prefix p, ordered by seq.
func fragments(b *bbolt.Bucket, p []byte) ([]gateway.Fragment, error) {
	var out []gateway.Fragment
	c := b.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		var f gateway.Fragment
		if err := json.Unmarshal(v, &f); err != nil {
			return nil, fmt.Errorf("decode fragment: %w", err)
		}
		out = append(out, f)
	}
	return out, nil
}

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
	k := fragKey(key, f.Seq)
	p := prefix(key)
	var out []gateway.Fragment
	err = db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bFragments)
		if b.Get(k) == nil {
			if err := b.Put(k, raw); err != nil {
				return err
			}
		}
		var err error
		out, err = fragments(b, p)
		return err
	})
	if err != nil {
		return nil, db.fail("add_fragment", err)
	}
	return out, nil
}

// CompleteInbound stores msg (with its indexes) and deletes the fragments
// of key (if key is not "") in one durable transaction. If a message with
// msg.ID is already stored it does nothing and returns an error wrapping
// gateway.ErrExists (the fragments stay).
func (db *DB) CompleteInbound(ctx context.Context, msg *gateway.Message, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	raw, es, err := prepare(msg)
	if err != nil {
		return err
	}
	create := createFn(msg, raw, es)
	p := prefix(key)
	return db.fail("complete_inbound", db.update(ctx, func(tx *bbolt.Tx) error {
		if err := create(tx); err != nil {
			return err
		}
		if key == "" {
			return nil
		}
		c := tx.Bucket(bFragments).Cursor()
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Seek(p) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	}))
}

// StaleFragments returns the fragment sets whose newest fragment was
// received before before, by key.
func (db *DB) StaleFragments(ctx context.Context, before time.Time) (map[string][]gateway.Fragment, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := map[string][]gateway.Fragment{}
	err := db.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bFragments)
		c := b.Cursor()
		for k, _ := c.First(); k != nil; {
			if len(k) < 2 {
				k, _ = c.Next()
				continue
			}
			plen := 2 + int(binary.BigEndian.Uint16(k))
			if len(k) < plen {
				k, _ = c.Next()
				continue
			}
			p := append([]byte(nil), k[:plen]...)
			fs, err := fragments(b, p)
			if err != nil {
				return err
			}
			var newest time.Time
			for _, f := range fs {
				if f.Received.After(newest) {
					newest = f.Received
				}
			}
			if newest.Before(before) {
				out[string(p[2:])] = fs
			}
			next := nextPrefix(p)
			if next == nil {
				break
			}
			k, _ = c.Seek(next)
		}
		return nil
	})
	if err != nil {
		return nil, db.fail("stale_fragments", err)
	}
	return out, nil
}
