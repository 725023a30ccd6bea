package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
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
	err = db.exec(ctx, `INSERT INTO users (id, login, data) VALUES ($1, $2, $3)`, u.ID, u.Login, raw)
	if isExists(err) {
		err = fmt.Errorf("postgres: user %s: %w", u.Login, gateway.ErrExists)
	}
	return db.fail("create_user", err)
}

// UserByID returns the user, or an error wrapping gateway.ErrNotFound.
func (db *DB) UserByID(ctx context.Context, id string) (account.User, error) {
	return db.user(ctx, "user_by_id", `SELECT data FROM users WHERE id = $1`, id)
}

// UserByLogin returns the user, or an error wrapping gateway.ErrNotFound.
func (db *DB) UserByLogin(ctx context.Context, login string) (account.User, error) {
	return db.user(ctx, "user_by_login", `SELECT data FROM users WHERE login = $1`, login)
}

func (db *DB) user(ctx context.Context, op, sql, arg string) (account.User, error) {
	var u account.User
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return getJSON(ctx, q, &u, sql, arg)
	})
	if notFound(err) {
		return u, errNotFound("user")
	}
	return u, db.fail(op, err)
}

// ListUsers returns every user ordered by login.
func (db *DB) ListUsers(ctx context.Context) ([]account.User, error) {
	var out []account.User
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		var err error
		out, err = queryJSON[account.User](ctx, q, `SELECT data FROM users ORDER BY login`)
		return err
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
	return db.fail("update_user", db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var login string
		if err := tx.QueryRow(ctx, `SELECT login FROM users WHERE id = $1 FOR UPDATE`, u.ID).Scan(&login); err != nil {
			if notFound(mapErr(err)) {
				return reject(errNotFound("user " + u.ID))
			}
			return err
		}
		u.Login = login
		raw, err := json.Marshal(u)
		if err != nil {
			return reject(err)
		}
		_, err = tx.Exec(ctx, `UPDATE users SET data = $2 WHERE id = $1`, u.ID, raw)
		return err
	}))
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
	err = db.exec(ctx, `INSERT INTO sessions (hash, user_id, expires_ns, data) VALUES ($1, $2, $3, $4)`, s.Hash, s.UserID, nanos(s.ExpiresAt), raw)
	if isExists(err) {
		err = fmt.Errorf("postgres: session: %w", gateway.ErrExists)
	}
	return db.fail("create_session", err)
}

// SessionByHash returns the session, or an error wrapping gateway.ErrNotFound.
func (db *DB) SessionByHash(ctx context.Context, hash []byte) (account.Session, error) {
	var s account.Session
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return getJSON(ctx, q, &s, `SELECT data FROM sessions WHERE hash = $1`, hash)
	})
	if notFound(err) {
		return s, errNotFound("session")
	}
	return s, db.fail("session_by_hash", err)
}

// DeleteSession removes one session; a missing one is no error.
func (db *DB) DeleteSession(ctx context.Context, hash []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.fail("delete_session", db.exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hash))
}

// DeleteUserSessions removes every session of userID and says how many.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err := db.execN(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
	return int(n), db.fail("delete_user_sessions", err)
}

// PruneSessions removes the sessions that expired before t.
func (db *DB) PruneSessions(ctx context.Context, t time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err := db.execN(ctx, `DELETE FROM sessions WHERE expires_ns < $1`, nanos(t))
	return int(n), db.fail("prune_sessions", err)
}
