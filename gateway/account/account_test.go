package account_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
	"github.com/simgate/simgate/store"
)

// cheap keeps the tests fast; the format and checks are the same.
var cheap = account.PasswordParams{Memory: 64, Time: 1, Threads: 1}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(t *testing.T) (*account.Service, *clock) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "simgate.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	return account.NewService(db, account.Config{Password: cheap, Now: c.Now, SessionTTL: time.Hour}), c
}

func TestPasswordHash(t *testing.T) {
	h, err := account.HashPassword("correct horse", account.DefaultPasswordParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q: not a PHC argon2id string with the default costs", h)
	}
	if ok, err := account.CheckPassword(h, "correct horse"); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, err := account.CheckPassword(h, "correct horsE"); ok || err != nil {
		t.Fatalf("wrong password: %v %v", ok, err)
	}
	h2, _ := account.HashPassword("correct horse", account.DefaultPasswordParams)
	if h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if _, err := account.CheckPassword(bad, "x"); err == nil {
			t.Errorf("CheckPassword(%q): no error", bad)
		}
	}
}

func TestCreateAndLogin(t *testing.T) {
	ctx := context.Background()
	s, c := newService(t)
	u, err := s.Create(ctx, account.NewUser{Login: " Ana@Example.org ", Name: "Ana", Password: "a long password", Role: account.RoleTexter})
	if err != nil {
		t.Fatal(err)
	}
	if u.Login != "ana@example.org" || !strings.HasPrefix(u.ID, "usr_") || strings.Contains(u.PasswordHash, "a long password") {
		t.Fatalf("created %+v", u)
	}
	if _, err := s.Create(ctx, account.NewUser{Login: "ANA@example.org", Name: "Other", Password: "another password", Role: account.RoleOrganiser}); !errors.Is(err, gateway.ErrExists) {
		t.Fatalf("same login again: %v, want ErrExists", err)
	}
	for name, nu := range map[string]account.NewUser{
		"login":    {Login: "a b", Name: "A", Password: "0123456789", Role: account.RoleTexter},
		"name":     {Login: "ab", Name: " ", Password: "0123456789", Role: account.RoleTexter},
		"role":     {Login: "ab", Name: "A", Password: "0123456789", Role: "admin"},
		"password": {Login: "ab", Name: "A", Password: "short", Role: account.RoleTexter},
	} {
		var ve *gateway.ValidationError
		if _, err := s.Create(ctx, nu); !errors.As(err, &ve) || ve.Field != name {
			t.Errorf("bad %s: %v", name, err)
		}
	}

	if _, _, _, err := s.Login(ctx, "ana@example.org", "wrong password"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, _, _, err := s.Login(ctx, "nobody", "a long password"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("unknown login: %v", err)
	}
	tok, sess, got, err := s.Login(ctx, "ANA@example.org", "a long password")
	if err != nil || got.ID != u.ID || sess.CSRF == "" || tok == "" {
		t.Fatalf("login: %v %+v", err, got)
	}
	if string(sess.Hash) == tok || string(account.HashToken(tok)) != string(sess.Hash) {
		t.Fatal("the session is stored under the token, not its hash")
	}
	s2, u2, err := s.Session(ctx, tok)
	if err != nil || u2.ID != u.ID || s2.CSRF != sess.CSRF {
		t.Fatalf("session: %v", err)
	}
	if _, _, err := s.Session(ctx, tok+"x"); !errors.Is(err, account.ErrSessionExpired) {
		t.Fatalf("unknown token: %v", err)
	}
	c.Add(time.Hour)
	if _, _, err := s.Session(ctx, tok); !errors.Is(err, account.ErrSessionExpired) {
		t.Fatalf("expired session: %v", err)
	}
}

func TestPasswordChangeAndDisableEndSessions(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	u, err := s.Create(ctx, account.NewUser{Login: "org", Name: "Olu", Password: "first password", Role: account.RoleOrganiser})
	if err != nil {
		t.Fatal(err)
	}
	tok1, _, _, err := s.Login(ctx, "org", "first password")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(ctx, u.ID, "second password"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, tok1); !errors.Is(err, account.ErrSessionExpired) {
		t.Fatalf("session after a password change: %v", err)
	}
	if _, _, _, err := s.Login(ctx, "org", "first password"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("old password: %v", err)
	}
	tok2, _, _, err := s.Login(ctx, "org", "second password")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, tok2); !errors.Is(err, account.ErrSessionExpired) {
		t.Fatalf("session after disable: %v", err)
	}
	if _, _, _, err := s.Login(ctx, "org", "second password"); !errors.Is(err, account.ErrDisabled) {
		t.Fatalf("disabled login: %v", err)
	}
	if err := s.SetDisabled(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	tok3, _, _, err := s.Login(ctx, "org", "second password")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(ctx, tok3); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, tok3); !errors.Is(err, account.ErrSessionExpired) {
		t.Fatalf("after logout: %v", err)
	}
	if err := s.SetPassword(ctx, "usr_nobody", "some password"); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
}
