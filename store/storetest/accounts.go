package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
)

var accountTests = []Test{
	{"Users", testUsers},
	{"Sessions", testSessions},
}

func testUsers(t *testing.T, h Harness) {
	db := h.Open(t)
	ana := account.User{ID: "usr_a", Login: "ana", Name: "Ana", Role: account.RoleTexter, PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", CreatedAt: T0, UpdatedAt: T0}
	olu := account.User{ID: "usr_o", Login: "olu", Name: "Olu", Role: account.RoleOrganiser, PasswordHash: "h2", CreatedAt: T0, UpdatedAt: T0}
	for _, u := range []account.User{olu, ana} {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for _, dup := range []account.User{{ID: "usr_a", Login: "other"}, {ID: "usr_x", Login: "ana"}} {
		if err := db.CreateUser(ctx, dup); !errors.Is(err, gateway.ErrExists) {
			t.Errorf("CreateUser(%s, %s): %v, want ErrExists", dup.ID, dup.Login, err)
		}
	}
	var ve *gateway.ValidationError
	if err := db.CreateUser(ctx, account.User{ID: "usr_y"}); !errors.As(err, &ve) {
		t.Errorf("CreateUser without a login: %v", err)
	}
	got, err := db.UserByLogin(ctx, "ana")
	if err != nil || got.ID != "usr_a" || got.Name != "Ana" || got.Role != account.RoleTexter || got.PasswordHash != ana.PasswordHash || !got.CreatedAt.Equal(T0) {
		t.Errorf("UserByLogin = %+v, %v", got, err)
	}
	if got, err := db.UserByID(ctx, "usr_o"); err != nil || got.Login != "olu" {
		t.Errorf("UserByID = %+v, %v", got, err)
	}
	if _, err := db.UserByID(ctx, "usr_none"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("UserByID missing: %v", err)
	}
	if _, err := db.UserByLogin(ctx, "none"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("UserByLogin missing: %v", err)
	}
	list, err := db.ListUsers(ctx)
	if err != nil || len(list) != 2 || list[0].Login != "ana" || list[1].Login != "olu" {
		t.Errorf("ListUsers = %+v, %v (want ordered by login)", list, err)
	}

	// UpdateUser replaces everything but the login.
	ana.Name, ana.Disabled, ana.PasswordHash, ana.Login = "Ana B", true, "h3", "renamed"
	ana.UpdatedAt = T0.Add(time.Hour)
	if err := db.UpdateUser(ctx, ana); err != nil {
		t.Fatal(err)
	}
	got, err = db.UserByLogin(ctx, "ana")
	if err != nil || got.Name != "Ana B" || !got.Disabled || got.PasswordHash != "h3" || got.Login != "ana" || !got.UpdatedAt.Equal(ana.UpdatedAt) {
		t.Errorf("after UpdateUser = %+v, %v", got, err)
	}
	if _, err := db.UserByLogin(ctx, "renamed"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("the login changed: %v", err)
	}
	if err := db.UpdateUser(ctx, account.User{ID: "usr_none", Login: "x"}); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("UpdateUser missing: %v", err)
	}

	db = h.Reopen(t, db)
	if got, err := db.UserByID(ctx, "usr_a"); err != nil || got.Name != "Ana B" {
		t.Errorf("after reopen = %+v, %v", got, err)
	}
}

func testSessions(t *testing.T, h Harness) {
	db := h.Open(t)
	for _, u := range []account.User{{ID: "usr_a", Login: "ana"}, {ID: "usr_b", Login: "ben"}} {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(hash, user string, expires time.Time) account.Session {
		return account.Session{Hash: []byte(hash), UserID: user, CSRF: "csrf-" + hash, CreatedAt: T0, ExpiresAt: expires}
	}
	sessions := []account.Session{
		mk("a1", "usr_a", T0.Add(time.Hour)),
		mk("a2", "usr_a", T0.Add(2*time.Hour)),
		mk("b1", "usr_b", T0.Add(time.Minute)),
		mk("b2", "usr_b", T0.Add(3*time.Hour)),
	}
	for _, s := range sessions {
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateSession(ctx, mk("a1", "usr_b", T0)); !errors.Is(err, gateway.ErrExists) {
		t.Errorf("CreateSession with a taken hash: %v", err)
	}
	var ve *gateway.ValidationError
	if err := db.CreateSession(ctx, account.Session{UserID: "usr_a"}); !errors.As(err, &ve) {
		t.Errorf("CreateSession without a hash: %v", err)
	}
	got, err := db.SessionByHash(ctx, []byte("a2"))
	if err != nil || got.UserID != "usr_a" || got.CSRF != "csrf-a2" || !bytes.Equal(got.Hash, []byte("a2")) || !got.ExpiresAt.Equal(T0.Add(2*time.Hour)) {
		t.Errorf("SessionByHash = %+v, %v", got, err)
	}
	if _, err := db.SessionByHash(ctx, []byte("zz")); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("SessionByHash missing: %v", err)
	}

	if err := db.DeleteSession(ctx, []byte("a1")); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSession(ctx, []byte("a1")); err != nil {
		t.Errorf("deleting a deleted session: %v", err)
	}
	if _, err := db.SessionByHash(ctx, []byte("a1")); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("after DeleteSession: %v", err)
	}

	// Expired before T0+30m: b1 only.
	if n, err := db.PruneSessions(ctx, T0.Add(30*time.Minute)); err != nil || n != 1 {
		t.Errorf("PruneSessions = %d, %v; want 1", n, err)
	}
	if _, err := db.SessionByHash(ctx, []byte("b1")); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("the expired session survived: %v", err)
	}
	if n, err := db.DeleteUserSessions(ctx, "usr_b"); err != nil || n != 1 {
		t.Errorf("DeleteUserSessions(usr_b) = %d, %v; want 1 (b2; b1 was pruned)", n, err)
	}
	if _, err := db.SessionByHash(ctx, []byte("a2")); err != nil {
		t.Errorf("another user's session went too: %v", err)
	}
	if n, err := db.DeleteUserSessions(ctx, "usr_none"); err != nil || n != 0 {
		t.Errorf("DeleteUserSessions(nobody) = %d, %v", n, err)
	}

	db = h.Reopen(t, db)
	if got, err := db.SessionByHash(ctx, []byte("a2")); err != nil || got.UserID != "usr_a" {
		t.Errorf("after reopen = %+v, %v", got, err)
	}
	if n, err := db.DeleteUserSessions(ctx, "usr_a"); err != nil || n != 1 {
		t.Errorf("DeleteUserSessions(usr_a) after reopen = %d, %v", n, err)
	}
}
