package api_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/api"
)

func TestAuthRefusals(t *testing.T) {
	e := newEnv(t)
	routes := [][2]string{
		{"POST", "/v1/messages"}, {"GET", "/v1/messages"}, {"GET", "/v1/messages/x"}, {"POST", "/v1/messages/x/cancel"},
		{"GET", "/v1/conversations/+15551234567"}, {"GET", "/v1/modems"}, {"GET", "/v1/modems/sim1"},
		{"POST", "/v1/modems/sim1/pause"}, {"POST", "/v1/modems/sim1/resume"}, {"POST", "/v1/modems/sim1/drain"},
		{"GET", "/v1/optouts"}, {"POST", "/v1/optouts"}, {"DELETE", "/v1/optouts/+15551234567"},
		{"GET", "/v1/webhooks"}, {"POST", "/v1/webhooks"}, {"DELETE", "/v1/webhooks/x"},
	}
	creds := map[string][]string{
		"none":            nil,
		"revoked":         {"Authorization", "Bearer " + e.keys["revoked"]},
		"unknown":         {"Authorization", "Bearer sg_" + base64.RawURLEncoding.EncodeToString(make([]byte, 32))},
		"basic":           {"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))},
		"no prefix":       {"Authorization", "Bearer " + strings.TrimPrefix(e.keys["admin"], "sg_")},
		"empty bearer":    {"Authorization", "Bearer "},
		"oversized token": {"Authorization", "Bearer sg_" + strings.Repeat("A", 500)},
	}
	for name, hdr := range creds {
		for _, rt := range routes {
			r := must(t, e.do(rt[0], rt[1], "", nil, hdr...), 401)
			if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("%s %s %s: WWW-Authenticate %q", name, rt[0], rt[1], got)
			}
			if p := r.problem(t); p.Type != api.ProblemBase+"unauthorized" {
				t.Errorf("%s: type %q", name, p.Type)
			}
		}
	}
	// A lowercase scheme is accepted (RFC 9110: case-insensitive).
	must(t, e.do("GET", "/v1/modems", "", nil, "Authorization", "bearer "+e.keys["read"]), 200)
}

func TestScopes(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		method, path string
		body         any
		allowed      []string // key names allowed past the scope check
	}{
		{"POST", "/v1/messages", `{"to":"+15551234567","body":"hi"}`, []string{"send", "sendread", "admin"}},
		{"GET", "/v1/messages", nil, []string{"read", "sendread", "admin"}},
		{"GET", "/v1/messages/01HZZZZZZZZZZZZZZZZZZZZZZZ", nil, []string{"read", "sendread", "admin"}},
		{"POST", "/v1/messages/01HZZZZZZZZZZZZZZZZZZZZZZZ/cancel", nil, []string{"send", "sendread", "admin"}},
		{"GET", "/v1/conversations/+15551234567", nil, []string{"read", "sendread", "admin"}},
		{"GET", "/v1/modems", nil, []string{"read", "sendread", "admin"}},
		{"GET", "/v1/modems/sim1", nil, []string{"read", "sendread", "admin"}},
		{"POST", "/v1/modems/sim1/pause", nil, []string{"admin"}},
		{"POST", "/v1/modems/sim1/resume", nil, []string{"admin"}},
		{"POST", "/v1/modems/sim1/drain", nil, []string{"admin"}},
		{"GET", "/v1/optouts", nil, []string{"read", "sendread", "admin"}},
		{"POST", "/v1/optouts", `{"numbers":["+15550001111"]}`, []string{"admin"}},
		{"DELETE", "/v1/optouts/+15550001111", nil, []string{"admin"}},
		{"GET", "/v1/webhooks", nil, []string{"admin"}},
		{"POST", "/v1/webhooks", `{"url":"https://example.com/hook"}`, []string{"admin"}},
		{"DELETE", "/v1/webhooks/wh_none", nil, []string{"admin"}},
	}
	for _, c := range cases {
		for _, key := range []string{"send", "read", "sendread", "admin"} {
			r := e.do(c.method, c.path, key, c.body)
			allowed := false
			for _, a := range c.allowed {
				allowed = allowed || a == key
			}
			switch {
			case allowed && (r.Status == 401 || r.Status == 403):
				t.Errorf("%s %s with %s: %d, want allowed", c.method, c.path, key, r.Status)
			case !allowed && r.Status != 403:
				t.Errorf("%s %s with %s: %d, want 403", c.method, c.path, key, r.Status)
			case !allowed:
				if p := r.problem(t); p.Type != api.ProblemBase+"forbidden" {
					t.Errorf("type %q", p.Type)
				}
			}
		}
	}
}

func TestGenerateKey(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	secret, k, err := api.GenerateKey("alice", []string{"send", "read", "send"}, now)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(secret, api.KeyPrefix))
	if !strings.HasPrefix(secret, "sg_") || err != nil || len(raw) != 32 {
		t.Fatalf("secret %q: %v", secret, err)
	}
	if string(k.Hash) != string(api.HashKey(secret)) || len(k.Hash) != 32 {
		t.Error("hash is not SHA-256 of the secret")
	}
	if strings.Contains(k.ID, secret[3:10]) || k.ID == "" {
		t.Errorf("id %q", k.ID)
	}
	if k.Owner != "alice" || strings.Join(k.Scopes, ",") != "read,send" || !k.CreatedAt.Equal(now) {
		t.Errorf("key %+v", k)
	}
	s2, k2, _ := api.GenerateKey("alice", []string{"send"}, now)
	if s2 == secret || k2.ID == k.ID {
		t.Error("two keys alike")
	}
	for _, bad := range []struct {
		owner  string
		scopes []string
	}{{"", []string{"send"}}, {"bob", nil}, {"bob", []string{"root"}}, {strings.Repeat("x", 200), []string{"read"}}} {
		if _, _, err := api.GenerateKey(bad.owner, bad.scopes, now); err == nil {
			t.Errorf("GenerateKey(%q, %v) accepted", bad.owner, bad.scopes)
		}
	}
	for s, want := range map[string]bool{"send": true, "read": true, "admin": true, "Send": false, "": false, "write": false} {
		if api.ValidScope(s) != want {
			t.Errorf("ValidScope(%q) = %v", s, !want)
		}
	}
}
