package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
)

// TestKeyAdmin: keys are created (secret shown once), listed and revoked
// while the server runs; a revoked key is refused at its next request.
func TestKeyAdmin(t *testing.T) {
	e := newEnv(t)
	var k api.KeyView
	must(t, e.do("POST", "/v1/keys", "admin", map[string]any{"owner": "dana", "scopes": []string{"send", "read"}}), 201).decode(t, &k)
	if !strings.HasPrefix(k.Secret, "sg_") || k.Owner != "dana" || len(k.Scopes) != 2 || k.ID == "" {
		t.Fatalf("created %+v", k)
	}
	e.keys["dana"] = k.Secret
	must(t, e.do("GET", "/v1/messages", "dana", nil), 200)

	r := must(t, e.do("GET", "/v1/keys", "admin", nil), 200)
	if strings.Contains(string(r.Body), k.Secret) || strings.Contains(string(r.Body), `"hash"`) || strings.Contains(string(r.Body), "secret") {
		t.Errorf("the list shows a secret or hash: %s", r.Body)
	}
	var list api.KeyList
	r.decode(t, &list)
	var found *api.KeyView
	for i := range list.Data {
		if list.Data[i].ID == k.ID {
			found = &list.Data[i]
		}
	}
	if found == nil || found.LastUsed == nil {
		t.Fatalf("dana's key in the list: %+v (last_used recorded?)", found)
	}

	var rv api.KeyView
	must(t, e.do("DELETE", "/v1/keys/"+k.ID, "admin", nil), 200).decode(t, &rv)
	if rv.RevokedAt == nil {
		t.Errorf("revoked %+v", rv)
	}
	must(t, e.do("GET", "/v1/messages", "dana", nil), 401).problem(t)
	must(t, e.do("DELETE", "/v1/keys/key_nope", "admin", nil), 404).problem(t)

	for _, c := range []struct {
		body   string
		status int
		field  string
	}{
		{`{"owner":"x","scopes":["root"]}`, 422, "scopes"},
		{`{"owner":"","scopes":["send"]}`, 422, "owner"},
		{`{"owner":"x","scopes":[]}`, 422, "scopes"},
		{`{"owner":"x","scopes":["send"],"secret":"sg_mine"}`, 400, "secret"},
	} {
		p := must(t, e.do("POST", "/v1/keys", "admin", c.body), c.status).problem(t)
		if len(p.Errors) == 0 || p.Errors[0].Field != c.field {
			t.Errorf("%s: %+v", c.body, p)
		}
	}
	must(t, e.do("GET", "/v1/keys", "sendread", nil), 403).problem(t)
	must(t, e.do("POST", "/v1/keys", "send", map[string]any{"owner": "eve", "scopes": []string{"admin"}}), 403).problem(t)
}

// TestRevokeLastAdmin: the last active admin key cannot lock everyone out.
func TestRevokeLastAdmin(t *testing.T) {
	e := newEnv(t)
	keys, err := e.db.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var adminID string
	for _, k := range keys {
		if k.RevokedAt.IsZero() && len(k.Scopes) == 1 && k.Scopes[0] == "admin" {
			adminID = k.ID
		}
	}
	must(t, e.do("DELETE", "/v1/keys/"+adminID, "admin", nil), 409).problem(t)
	var k api.KeyView
	must(t, e.do("POST", "/v1/keys", "admin", map[string]any{"owner": "ops2", "scopes": []string{"admin"}}), 201).decode(t, &k)
	must(t, e.do("DELETE", "/v1/keys/"+adminID, k.Secret, nil), 200)
	must(t, e.do("GET", "/v1/keys", "admin", nil), 401)
}

// TestLastUsedThrottled: a key's use is recorded, at most once a minute.
func TestLastUsedThrottled(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var clock = now
	e := newEnv(t, func(_ *gateway.Config, ac *api.Config) { ac.Now = func() time.Time { return clock } })
	lastUsed := func() time.Time {
		t.Helper()
		keys, err := e.db.ListKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.Owner == "alice" && len(k.Scopes) == 1 && k.Scopes[0] == "read" {
				return k.LastUsed
			}
		}
		t.Fatal("no read key")
		return time.Time{}
	}
	if !lastUsed().IsZero() {
		t.Fatal("used before any request")
	}
	must(t, e.do("GET", "/v1/modems", "read", nil), 200)
	if got := lastUsed(); !got.Equal(now) {
		t.Fatalf("LastUsed %v, want %v", got, now)
	}
	clock = now.Add(30 * time.Second)
	must(t, e.do("GET", "/v1/modems", "read", nil), 200)
	if got := lastUsed(); !got.Equal(now) {
		t.Errorf("LastUsed %v after 30 s, want it unchanged (throttled)", got)
	}
	clock = now.Add(61 * time.Second)
	must(t, e.do("GET", "/v1/modems", "read", nil), 200)
	if got := lastUsed(); !got.Equal(clock) {
		t.Errorf("LastUsed %v after 61 s, want %v", got, clock)
	}
}
