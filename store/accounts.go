package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
)

var _ account.Store = (*DB)(nil)

// Buckets of the web app's accounts (see doc.go).
var (
	bUsers          = []byte("users")
	bIxUserLogin    = []byte("ix_user_login")
	bSessions       = []byte("sessions")
	bIxSessionUser  = []byte("ix_session_user")
	accountsBuckets = [][]byte{bUsers, bIxUserLogin, bSessions, bIxSessionUser}
)

// CreateUser stores u; gateway.ErrExists if its ID or login is taken.
func (db *DB) CreateUser(ctx context.Context, u account.User) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if u.ID == "" || u.Login == "" {
		return gateway.Invalid("user", "id and login are required")
	}
	raw, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return db.fail("create_user", db.update(ctx, func(tx *bbolt.Tx) error {
		users, byLogin := tx.Bucket(bUsers), tx.Bucket(bIxUserLogin)
		if users.Get([]byte(u.ID)) != nil || byLogin.Get([]byte(u.Login)) != nil {
			return reject(fmt.Errorf("store: user %s: %w", u.Login, gateway.ErrExists))
		}
		if err := users.Put([]byte(u.ID), raw); err != nil {
			return err
		}
		return byLogin.Put([]byte(u.Login), []byte(u.ID))
	}))
}

// UserByID returns the user, or an error wrapping gateway.ErrNotFound.
func (db *DB) UserByID(ctx context.Context, id string) (account.User, error) {
	var u account.User
	if err := ctx.Err(); err != nil {
		return u, err
	}
	err := db.view(func(tx *bbolt.Tx) error {
		ok, err := getJSON(tx, bUsers, []byte(id), &u)
		if err == nil && !ok {
			err = fmt.Errorf("store: user %s: %w", id, gateway.ErrNotFound)
		}
		return err
	})
	return u, db.fail("user_by_id", err)
}

// UserByLogin returns the user, or an error wrapping gateway.ErrNotFound.
func (db *DB) UserByLogin(ctx context.Context, login string) (account.User, error) {
	var u account.User
	if err := ctx.Err(); err != nil {
		return u, err
	}
	err := db.view(func(tx *bbolt.Tx) error {
		id := tx.Bucket(bIxUserLogin).Get([]byte(login))
		if id == nil {
			return fmt.Errorf("store: user: %w", gateway.ErrNotFound)
		}
		ok, err := getJSON(tx, bUsers, id, &u)
		if err == nil && !ok {
			err = fmt.Errorf("store: user %s: %w", id, gateway.ErrNotFound)
		}
		return err
	})
	return u, db.fail("user_by_login", err)
}

// ListUsers returns every user ordered by login.
func (db *DB) ListUsers(ctx context.Context) ([]account.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []account.User
	err := db.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bIxUserLogin).ForEach(func(_, id []byte) error {
			var u account.User
			ok, err := getJSON(tx, bUsers, id, &u)
			if err != nil || !ok {
				return err
			}
			out = append(out, u)
			return nil
		})
	})
	if err != nil {
		return nil, db.fail("list_users", err)
	}
	return out, nil
}

// UpdateUser replaces the stored user with u's ID; its login is kept.
func (db *DB) UpdateUser(ctx context.Context, u account.User) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.fail("update_user", db.update(ctx, func(tx *bbolt.Tx) error {
		var old account.User
		ok, err := getJSON(tx, bUsers, []byte(u.ID), &old)
		if err != nil {
			return reject(err)
		}
		if !ok {
			return reject(fmt.Errorf("store: user %s: %w", u.ID, gateway.ErrNotFound))
		}
		u.Login = old.Login
		raw, err := json.Marshal(u)
		if err != nil {
			return reject(err)
		}
		return tx.Bucket(bUsers).Put([]byte(u.ID), raw)
	}))
}

// sessionUserKey is prefix(userID) | hash.
func sessionUserKey(userID string, hash []byte) []byte {
	return append(prefix(userID), hash...)
}

// CreateSession stores s; gateway.ErrExists if its hash is taken.
func (db *DB) CreateSession(ctx context.Context, s account.Session) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(s.Hash) == 0 || s.UserID == "" {
		return gateway.Invalid("session", "hash and user are required")
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return db.fail("create_session", db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bSessions)
		if b.Get(s.Hash) != nil {
			return reject(fmt.Errorf("store: session: %w", gateway.ErrExists))
		}
		if err := b.Put(s.Hash, raw); err != nil {
			return err
		}
		return tx.Bucket(bIxSessionUser).Put(sessionUserKey(s.UserID, s.Hash), nil)
	}))
}

// SessionByHash returns the session, or an error wrapping gateway.ErrNotFound.
func (db *DB) SessionByHash(ctx context.Context, hash []byte) (account.Session, error) {
	var s account.Session
	if err := ctx.Err(); err != nil {
		return s, err
	}
	err := db.view(func(tx *bbolt.Tx) error {
		ok, err := getJSON(tx, bSessions, hash, &s)
		if err == nil && !ok {
			err = fmt.Errorf("store: session: %w", gateway.ErrNotFound)
		}
		return err
	})
	return s, db.fail("session_by_hash", err)
}

func deleteSession(tx *bbolt.Tx, hash []byte) error {
	var s account.Session
	ok, err := getJSON(tx, bSessions, hash, &s)
	if err != nil || !ok {
		return err
	}
	if err := tx.Bucket(bSessions).Delete(hash); err != nil {
		return err
	}
	return tx.Bucket(bIxSessionUser).Delete(sessionUserKey(s.UserID, hash))
}

// DeleteSession removes one session; a missing one is no error.
func (db *DB) DeleteSession(ctx context.Context, hash []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.fail("delete_session", db.update(ctx, func(tx *bbolt.Tx) error {
		return deleteSession(tx, hash)
	}))
}

// DeleteUserSessions removes every session of userID and says how many.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		p := prefix(userID)
		var hashes [][]byte
		c := tx.Bucket(bIxSessionUser).Cursor()
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			hashes = append(hashes, bytes.Clone(k[len(p):]))
		}
		for _, h := range hashes {
			if err := deleteSession(tx, h); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, db.fail("delete_user_sessions", err)
}

// PruneSessions removes the sessions that expired before t.
func (db *DB) PruneSessions(ctx context.Context, t time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		var hashes [][]byte
		err := forEachJSON(tx, bSessions, func(k []byte, s account.Session) error {
			if s.ExpiresAt.Before(t) {
				hashes = append(hashes, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, h := range hashes {
			if err := deleteSession(tx, h); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, db.fail("prune_sessions", err)
}
