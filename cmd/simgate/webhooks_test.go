package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store"
)

// TestConfigWebhookSecretsInMemory: Sync stores a config webhook without
// its secret (and scrubs one an older version stored); the deliverer's view
// of the store has it; a new secret on reload is applied without a write.
func TestConfigWebhookSecretsInMemory(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const url, s1, s2 = "https://crm.example.com/hooks/sms", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2VjcmV0c2VjcmV0c2VjcmV0"
	// What an older version stored: the secret in the record.
	if err := db.PutWebhook(ctx, gateway.Webhook{ID: configHookID(url), URL: url, Secret: s1, Source: "config", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	h := &hookSync{st: db, secrets: &configSecrets{byID: map[string]string{}}}
	cfg := Config{Webhooks: []WebhookConfig{{URL: url, Secret: s1}}}
	if _, err := h.Sync(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	stored, err := db.ListWebhooks(ctx)
	if err != nil || len(stored) != 1 || stored[0].Secret != "" {
		t.Fatalf("stored %+v, %v: want one webhook without its secret", stored, err)
	}
	// (The old record's bytes may linger in bbolt's free pages until they
	// are reused or the file is compacted; a store that never had it: below.)
	fresh, err := store.Open(filepath.Join(t.TempDir(), "fresh.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	hf := &hookSync{st: fresh, secrets: &configSecrets{byID: map[string]string{}}}
	if _, err := hf.Sync(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := fresh.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte(s1[len("whsec_"):])) {
		t.Error("a backup holds the configured secret")
	}
	list := func() []gateway.Webhook {
		t.Helper()
		ws, err := (secretStore{secrets: h.secrets}).fill(db.ListWebhooks(ctx))
		if err != nil {
			t.Fatal(err)
		}
		return ws
	}
	if ws := list(); len(ws) != 1 || ws[0].Secret != s1 {
		t.Fatalf("the deliverer's view %+v, want the secret from memory", ws)
	}
	cfg.Webhooks[0].Secret = s2
	changed, err := h.Sync(ctx, cfg)
	if err != nil || changed != "webhooks: 1 updated" {
		t.Fatalf("reload with a new secret: %q, %v", changed, err)
	}
	if ws := list(); ws[0].Secret != s2 {
		t.Errorf("after reload the deliverer sees %q, want the new secret", ws[0].Secret)
	}
	if changed, _ := h.Sync(ctx, cfg); changed != "" {
		t.Errorf("a reload changing nothing says %q", changed)
	}
}
