package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
	err = db.exec(ctx, `INSERT INTO api_keys (id, hash, data) VALUES ($1, $2, $3)`, k.ID, k.Hash, raw)
	if isExists(err) {
		err = fmt.Errorf("postgres: api key %s: %w", k.ID, gateway.ErrExists)
	}
	return db.fail("create_key", err)
}

// KeyByHash returns the key whose secret hashes to hash (revoked keys
// included: the caller checks RevokedAt), or an error wrapping
// gateway.ErrNotFound.
func (db *DB) KeyByHash(ctx context.Context, hash []byte) (gateway.APIKey, error) {
	var k gateway.APIKey
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return getJSON(ctx, q, &k, `SELECT data FROM api_keys WHERE hash = $1`, hash)
	})
	if notFound(err) {
		return k, errNotFound("api key")
	}
	return k, db.fail("key_by_hash", err)
}

// ListKeys returns every key, ordered by ID.
func (db *DB) ListKeys(ctx context.Context) ([]gateway.APIKey, error) {
	var out []gateway.APIKey
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		var err error
		out, err = queryJSON[gateway.APIKey](ctx, q, `SELECT data FROM api_keys ORDER BY id`)
		return err
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
	return db.fail("revoke_key", db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var k gateway.APIKey
		if err := getJSON(ctx, tx, &k, `SELECT data FROM api_keys WHERE id = $1 FOR UPDATE`, id); err != nil {
			if notFound(err) {
				return reject(errNotFound("api key " + id))
			}
			return err
		}
		if !k.RevokedAt.IsZero() {
			return nil
		}
		k.RevokedAt = at
		raw, err := json.Marshal(k)
		if err != nil {
			return reject(err)
		}
		_, err = tx.Exec(ctx, `UPDATE api_keys SET data = $2 WHERE id = $1`, id, raw)
		return err
	}))
}

// TouchKey records that the key id was used at at (LastUsed), unless it
// was recorded as used later already, or returns an error wrapping
// gateway.ErrNotFound. The API calls it at most once a minute per key.
func (db *DB) TouchKey(ctx context.Context, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.fail("touch_key", db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var k gateway.APIKey
		if err := getJSON(ctx, tx, &k, `SELECT data FROM api_keys WHERE id = $1 FOR UPDATE`, id); err != nil {
			if notFound(err) {
				return reject(errNotFound("api key " + id))
			}
			return err
		}
		if !at.After(k.LastUsed) {
			return nil
		}
		k.LastUsed = at
		raw, err := json.Marshal(k)
		if err != nil {
			return reject(err)
		}
		_, err = tx.Exec(ctx, `UPDATE api_keys SET data = $2 WHERE id = $1`, id, raw)
		return err
	}))
}
