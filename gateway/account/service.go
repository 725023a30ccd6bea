package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/simgate/simgate/gateway"
)

// Config configures a Service. The zero value is usable.
type Config struct {
	// SessionTTL is how long a session lasts from login (default 12 h).
	SessionTTL time.Duration
	// Password are the argon2id costs of new hashes (default DefaultPasswordParams).
	Password PasswordParams
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service manages accounts and sessions over a Store.
type Service struct {
	store Store
	ttl   time.Duration
	pw    PasswordParams
	now   func() time.Time
	dummy string // a hash checked for unknown logins, so they cost the same
}

// Password length bounds (in characters).
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

// NewService returns a Service over st.
func NewService(st Store, cfg Config) *Service {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Password == (PasswordParams{}) {
		cfg.Password = DefaultPasswordParams
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{store: st, ttl: cfg.SessionTTL, pw: cfg.Password, now: cfg.Now}
	s.dummy, _ = HashPassword("not a password of anyone", s.pw)
	return s
}

// NormalizeLogin lower-cases and trims a login.
func NormalizeLogin(login string) string { return strings.ToLower(strings.TrimSpace(login)) }

// ValidateLogin checks a normalised login: 1 to 64 of a-z 0-9 . _ @ -.
func ValidateLogin(login string) error {
	if login == "" || len(login) > 64 {
		return gateway.Invalid("login", "must be 1 to 64 characters")
	}
	for _, r := range login {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._@-", r)) {
			return gateway.Invalid("login", "may hold only letters, digits and . _ @ -")
		}
	}
	return nil
}

func validateName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return gateway.Invalid("name", "must be 1 to 100 characters")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return gateway.Invalid("name", "may not hold control characters")
		}
	}
	return nil
}

// ValidatePassword checks a new password's length.
func ValidatePassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen || n > MaxPasswordLen {
		return gateway.Invalid("password", "must be %d to %d characters", MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

// NewUser is what Create needs.
type NewUser struct {
	Login, Name, Password string
	Role                  Role
}

// Create adds a user. A taken login is an error wrapping gateway.ErrExists.
func (s *Service) Create(ctx context.Context, nu NewUser) (User, error) {
	login := NormalizeLogin(nu.Login)
	name := strings.TrimSpace(nu.Name)
	if err := ValidateLogin(login); err != nil {
		return User{}, err
	}
	if err := validateName(name); err != nil {
		return User{}, err
	}
	if !nu.Role.Valid() {
		return User{}, gateway.Invalid("role", "must be organiser or texter")
	}
	if err := ValidatePassword(nu.Password); err != nil {
		return User{}, err
	}
	hash, err := HashPassword(nu.Password, s.pw)
	if err != nil {
		return User{}, err
	}
	id, err := randomHex(8)
	if err != nil {
		return User{}, err
	}
	now := s.now().UTC()
	u := User{ID: "usr_" + id, Login: login, Name: name, Role: nu.Role, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, gateway.ErrExists) {
			return User{}, fmt.Errorf("login %q is taken: %w", login, gateway.ErrExists)
		}
		return User{}, err
	}
	return u, nil
}

// Users lists every user, ordered by login.
func (s *Service) Users(ctx context.Context) ([]User, error) { return s.store.ListUsers(ctx) }

// User returns a user by ID.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	return s.store.UserByID(ctx, id)
}

// UserByLogin returns a user by login.
func (s *Service) UserByLogin(ctx context.Context, login string) (User, error) {
	return s.store.UserByLogin(ctx, NormalizeLogin(login))
}

// SetPassword replaces a user's password and ends their sessions.
func (s *Service) SetPassword(ctx context.Context, id, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return err
	}
	if u.PasswordHash, err = HashPassword(password, s.pw); err != nil {
		return err
	}
	u.UpdatedAt = s.now().UTC()
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return err
	}
	_, err = s.store.DeleteUserSessions(ctx, id)
	return err
}

// SetDisabled disables (ending their sessions) or re-enables a user.
func (s *Service) SetDisabled(ctx context.Context, id string, disabled bool) error {
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return err
	}
	u.Disabled = disabled
	u.UpdatedAt = s.now().UTC()
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return err
	}
	if disabled {
		_, err = s.store.DeleteUserSessions(ctx, id)
	}
	return err
}

// Authenticate checks a login and password: ErrBadCredentials for an
// unknown login or a wrong password (after the same hashing work),
// ErrDisabled for a disabled account.
func (s *Service) Authenticate(ctx context.Context, login, password string) (User, error) {
	if len(password) > 4*MaxPasswordLen {
		return User{}, ErrBadCredentials
	}
	u, err := s.store.UserByLogin(ctx, NormalizeLogin(login))
	if errors.Is(err, gateway.ErrNotFound) {
		_, _ = CheckPassword(s.dummy, password)
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	ok, err := CheckPassword(u.PasswordHash, password)
	if err != nil {
		return User{}, fmt.Errorf("account %s: %w", u.ID, err)
	}
	if !ok {
		return User{}, ErrBadCredentials
	}
	if u.Disabled {
		return User{}, ErrDisabled
	}
	return u, nil
}

// Login authenticates and opens a session. token goes into the browser's
// cookie and nowhere else.
func (s *Service) Login(ctx context.Context, login, password string) (token string, sess Session, u User, err error) {
	u, err = s.Authenticate(ctx, login, password)
	if err != nil {
		return "", Session{}, User{}, err
	}
	token, sess, err = s.Open(ctx, u.ID)
	return token, sess, u, err
}

// Open starts a session for a user (after Authenticate, or for tests and
// tools that act as a user).
func (s *Service) Open(ctx context.Context, userID string) (token string, sess Session, err error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Session{}, fmt.Errorf("account: session token: %w", err)
	}
	csrf := make([]byte, 32)
	if _, err := rand.Read(csrf); err != nil {
		return "", Session{}, fmt.Errorf("account: csrf token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(raw)
	now := s.now().UTC()
	sess = Session{
		Hash:      HashToken(token),
		UserID:    userID,
		CSRF:      base64.RawURLEncoding.EncodeToString(csrf),
		CreatedAt: now,
		ExpiresAt: now.Add(s.ttl),
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return "", Session{}, err
	}
	return token, sess, nil
}

// Session returns the session of token and its user: ErrSessionExpired if
// the token is malformed, unknown or expired, or its user is disabled or gone.
func (s *Service) Session(ctx context.Context, token string) (Session, User, error) {
	if token == "" || len(token) > 64 {
		return Session{}, User{}, ErrSessionExpired
	}
	sess, err := s.store.SessionByHash(ctx, HashToken(token))
	if errors.Is(err, gateway.ErrNotFound) {
		return Session{}, User{}, ErrSessionExpired
	}
	if err != nil {
		return Session{}, User{}, err
	}
	if !s.now().Before(sess.ExpiresAt) {
		_ = s.store.DeleteSession(ctx, sess.Hash)
		return Session{}, User{}, ErrSessionExpired
	}
	u, err := s.store.UserByID(ctx, sess.UserID)
	if errors.Is(err, gateway.ErrNotFound) || err == nil && u.Disabled {
		return Session{}, User{}, ErrSessionExpired
	}
	if err != nil {
		return Session{}, User{}, err
	}
	return sess, u, nil
}

// Logout ends the session of token.
func (s *Service) Logout(ctx context.Context, token string) error {
	if token == "" || len(token) > 64 {
		return nil
	}
	return s.store.DeleteSession(ctx, HashToken(token))
}

// PruneSessions removes expired sessions.
func (s *Service) PruneSessions(ctx context.Context) (int, error) {
	return s.store.PruneSessions(ctx, s.now())
}

// HashToken is the stored form of a session token.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("account: id: %w", err)
	}
	return hex.EncodeToString(b), nil
}
