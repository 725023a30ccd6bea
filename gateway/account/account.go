package account

import (
	"context"
	"errors"
	"time"
)

// Role says what a user may do.
type Role string

// Roles.
const (
	// RoleOrganiser runs campaigns: creates them, uploads lists, assigns
	// texters, reviews and exports; and sees the operations view.
	RoleOrganiser Role = "organiser"
	// RoleTexter sends first messages and answers replies for the contacts
	// assigned to them, and sees nothing else.
	RoleTexter Role = "texter"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleOrganiser || r == RoleTexter }

// User is a person with a login.
type User struct {
	ID           string    `json:"id"`    // "usr_" + 16 hex digits, never reused
	Login        string    `json:"login"` // lower case, unique
	Name         string    `json:"name"`  // display name ("Ana"), used as {texterFirstName}
	Role         Role      `json:"role"`
	PasswordHash string    `json:"password_hash"` // PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$hash
	Disabled     bool      `json:"disabled,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Session is a logged-in browser. Its token is only in the browser's
// cookie; the store keeps its SHA-256 hash.
type Session struct {
	Hash      []byte    `json:"hash"` // SHA-256 of the token
	UserID    string    `json:"user_id"`
	CSRF      string    `json:"csrf"` // the token every state-changing request carries
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Store keeps users and sessions. Implementations: store.DB (bbolt) and
// the PostgreSQL store; store/storetest checks both the same way.
type Store interface {
	// CreateUser stores u; gateway.ErrExists if its ID or login is taken.
	CreateUser(ctx context.Context, u User) error
	// UserByID and UserByLogin return gateway.ErrNotFound if there is none.
	UserByID(ctx context.Context, id string) (User, error)
	UserByLogin(ctx context.Context, login string) (User, error)
	// ListUsers returns every user ordered by login.
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser replaces the user with u's ID (its login cannot change);
	// gateway.ErrNotFound if there is none.
	UpdateUser(ctx context.Context, u User) error

	// CreateSession stores s; gateway.ErrExists if its hash is taken.
	CreateSession(ctx context.Context, s Session) error
	// SessionByHash returns gateway.ErrNotFound if there is none.
	SessionByHash(ctx context.Context, hash []byte) (Session, error)
	// DeleteSession removes one session (no error if it is gone).
	DeleteSession(ctx context.Context, hash []byte) error
	// DeleteUserSessions removes every session of a user and says how many.
	DeleteUserSessions(ctx context.Context, userID string) (int, error)
	// PruneSessions removes the sessions that expired before t.
	PruneSessions(ctx context.Context, t time.Time) (int, error)
}

// Errors of Service.
var (
	// ErrBadCredentials: no such login, or the wrong password.
	ErrBadCredentials = errors.New("wrong login or password")
	// ErrDisabled: the account exists but may not log in.
	ErrDisabled = errors.New("account disabled")
	// ErrSessionExpired: the session is unknown, expired or its user is
	// disabled; log in again.
	ErrSessionExpired = errors.New("session expired")
)
