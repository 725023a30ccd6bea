package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

// CreateKey stores k durably. An existing ID or hash gives an error
// wrapping gateway.ErrExists.
func (db *DB) CreateKey(ctx context.Context, k gateway.APIKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if k.ID == "" || len(k.Hash) == 0 {
		return gateway.Invalid("key", "id and hash are required")
	}
	raw, err := json.Marshal(k)
	if err != nil {
		return err
	}
	return db.fail("create_key", db.update(ctx, func(tx *bbolt.Tx) error {
		keys, byHash := tx.Bucket(bKeys), tx.Bucket(bIxKeyHash)
		if keys.Get([]byte(k.ID)) != nil || byHash.Get(k.Hash) != nil {
			return reject(fmt.Errorf("store: api key %s: %w", k.ID, gateway.ErrExists))
		}
		if err := keys.Put([]byte(k.ID), raw); err != nil {
			return err
		}
		return byHash.Put(k.Hash, []byte(k.ID))
	}))
}

// KeyByHash returns the key whose secret hashes to hash (revoked keys
// included: the caller checks RevokedAt), or an error wrapping
// gateway.ErrNotFound.
func (db *DB) KeyByHash(ctx context.Context, hash []byte) (gateway.APIKey, error) {
	var k gateway.APIKey
	if err := ctx.Err(); err != nil {
		return k, err
	}
	err := db.view(func(tx *bbolt.Tx) error {
		id := tx.Bucket(bIxKeyHash).Get(hash)
		if id == nil {
			return fmt.Errorf("store: api key: %w", gateway.ErrNotFound)
		}
		ok, err := getJSON(tx, bKeys, id, &k)
		if err == nil && !ok {
			err = fmt.Errorf("store: api key %s: %w", id, gateway.ErrNotFound)
		}
		return err
	})
	return k, db.fail("key_by_hash", err)
}

// ListKeys returns every key, ordered by ID.
func (db *DB) ListKeys(ctx context.Context) ([]gateway.APIKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []gateway.APIKey
	err := db.view(func(tx *bbolt.Tx) error {
		return forEachJSON(tx, bKeys, func(_ []byte, k gateway.APIKey) error {
			out = append(out, k)
			return nil
		})
	})
	if err != nil {
		return nil, db.fail("list_keys", err)
	}
	return out, nil
}

// RevokeKey sets the key's RevokedAt to at (keeping an earlier revocation),
// or returns an error wrapping gateway.ErrNotFound.
func (db *DB) RevokeKey(ctx context.Context, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.fail("revoke_key", db.update(ctx, func(tx *bbolt.Tx) error {
		var k gateway.APIKey
		ok, err := getJSON(tx, bKeys, []byte(id), &k)
		if err != nil {
			return reject(err)
		}
		if !ok {
			return reject(fmt.Errorf("store: api key %s: %w", id, gateway.ErrNotFound))
		}
		if !k.RevokedAt.IsZero() {
			return nil
		}
		k.RevokedAt = at
		raw, err := json.Marshal(k)
		if err != nil {
			return reject(err)
		}
		return tx.Bucket(bKeys).Put([]byte(id), raw)
	}))
}

// TouchKey records that the key id was used at at (LastUsed), unless it
// was recorded as used later already, or returns an error wrapping
// gateway.ErrNotFound. The API calls it at most once a minute per key.
func (db *DB) TouchKey(ctx context.Context, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.fail("touch_key", db.update(ctx, func(tx *bbolt.Tx) error {
		var k gateway.APIKey
		ok, err := getJSON(tx, bKeys, []byte(id), &k)
		if err != nil {
			return reject(err)
		}
		if !ok {
			return reject(fmt.Errorf("store: api key %s: %w", id, gateway.ErrNotFound))
		}
		if !at.After(k.LastUsed) {
			return nil
		}
		k.LastUsed = at
		raw, err := json.Marshal(k)
		if err != nil {
			return reject(err)
		}
		return tx.Bucket(bKeys).Put([]byte(id), raw)
	}))
}
