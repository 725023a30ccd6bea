package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

var keyTests = []Test{
	{"CreateFindRevoke", testAPIKeys},
}

func testAPIKeys(t *testing.T, h Harness) {
	db := h.Open(t)
	k := gateway.APIKey{ID: "k1", Hash: []byte("hash1"), Owner: "alice", Scopes: []string{"send", "read"}, CreatedAt: T0}
	if err := db.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateKey(ctx, gateway.APIKey{ID: "k0", Hash: []byte("hash0"), Owner: "bob", CreatedAt: T0}); err != nil {
		t.Fatal(err)
	}
	for _, dup := range []gateway.APIKey{{ID: "k1", Hash: []byte("other")}, {ID: "k2", Hash: []byte("hash1")}} {
		if err := db.CreateKey(ctx, dup); !errors.Is(err, gateway.ErrExists) {
			t.Errorf("CreateKey(%s): %v", dup.ID, err)
		}
	}
	var ve *gateway.ValidationError
	if err := db.CreateKey(ctx, gateway.APIKey{ID: "k3"}); !errors.As(err, &ve) {
		t.Errorf("CreateKey without a hash: %v", err)
	}
	got, err := db.KeyByHash(ctx, []byte("hash1"))
	if err != nil || got.Owner != "alice" || got.ID != "k1" || !slices.Equal(got.Scopes, k.Scopes) || !got.CreatedAt.Equal(T0) {
		t.Errorf("KeyByHash = %+v, %v", got, err)
	}
	if _, err := db.KeyByHash(ctx, []byte("nope")); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("KeyByHash missing: %v", err)
	}
	if _, err := db.KeyByHash(ctx, []byte("other")); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("hash of a refused key: %v", err)
	}
	if err := db.RevokeKey(ctx, "k1", T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeKey(ctx, "k1", T0.Add(2*time.Hour)); err != nil { // keeps the first revocation
		t.Fatal(err)
	}
	if err := db.RevokeKey(ctx, "k9", T0); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("RevokeKey missing: %v", err)
	}
	db = h.Reopen(t, db)
	keys, err := db.ListKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].ID != "k0" || keys[1].ID != "k1" || !keys[1].RevokedAt.Equal(T0.Add(time.Hour)) || !keys[0].RevokedAt.IsZero() {
		t.Errorf("ListKeys = %+v, %v", keys, err)
	}
	if got, err := db.KeyByHash(ctx, []byte("hash1")); err != nil || !got.RevokedAt.Equal(T0.Add(time.Hour)) {
		t.Errorf("revoked key by hash = %+v, %v", got, err)
	}
}
