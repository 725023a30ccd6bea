package api_test

import (
	"context"
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
)

func TestWebhooks(t *testing.T) {
	e := newEnv(t)
	var w api.WebhookView
	must(t, e.do("POST", "/v1/webhooks", "admin", map[string]any{"url": "https://hooks.example.com/sms", "events": []string{"message.received", "optout.added"}}), 201).decode(t, &w)
	if !strings.HasPrefix(w.Secret, "whsec_") || w.ID == "" || len(w.Events) != 2 || w.Source != "api" {
		t.Fatalf("created %+v", w)
	}
	if raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(w.Secret, "whsec_")); err != nil || len(raw) != 24 {
		t.Errorf("secret %q is not whsec_ + base64(24 bytes)", w.Secret)
	}
	stored, err := e.db.ListWebhooks(context.Background())
	if err != nil || len(stored) != 1 || stored[0].Secret != w.Secret {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	r := must(t, e.do("GET", "/v1/webhooks", "admin", nil), 200)
	if strings.Contains(string(r.Body), w.Secret) || strings.Contains(string(r.Body), "secret") {
		t.Error("the list shows the secret")
	}
	var list api.WebhookList
	r.decode(t, &list)
	if len(list.Data) != 1 || list.Data[0].ID != w.ID {
		t.Errorf("list %+v", list)
	}
	for _, c := range []struct {
		body   string
		status int
		field  string
	}{
		{`{"url":"file:///etc/passwd"}`, 422, "url"},
		{`{"url":"https://u:p@example.com/"}`, 422, "url"},
		{`{}`, 422, "url"},
		{`{"url":"https://example.com","events":["message.sent","nope"]}`, 422, "events[1]"},
		{`{"url":"https://example.com","secret":"mine"}`, 400, "secret"},
		// SSRF: refused when registered, not retried for days at delivery.
		{`{"url":"http://127.0.0.1:8080/"}`, 422, "url"},
		{`{"url":"http://[::127.0.0.1]/"}`, 422, "url"},
		{`{"url":"http://[::ffff:127.0.0.1]/"}`, 422, "url"},
		{`{"url":"http://169.254.169.254/latest/meta-data"}`, 422, "url"},
		{`{"url":"http://2130706433/"}`, 422, "url"},
		{`{"url":"http://127.1/"}`, 422, "url"},
		{`{"url":"http://0x7f.1/"}`, 422, "url"},
		{`{"url":"http://localhost:9000/"}`, 422, "url"},
	} {
		p := must(t, e.do("POST", "/v1/webhooks", "admin", c.body), c.status).problem(t)
		if len(p.Errors) == 0 || p.Errors[0].Field != c.field {
			t.Errorf("%s: errors %+v", c.body, p.Errors)
		}
	}
	// Webhooks from the configuration file cannot be removed through the API.
	if err := e.db.PutWebhook(context.Background(), gateway.Webhook{ID: "cfg1", URL: "https://example.com", Source: "config", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	must(t, e.do("DELETE", "/v1/webhooks/cfg1", "admin", nil), 409).problem(t)
	must(t, e.do("DELETE", "/v1/webhooks/"+w.ID, "admin", nil), 204)
	must(t, e.do("DELETE", "/v1/webhooks/"+w.ID, "admin", nil), 404).problem(t)
}

// TestCallbackURLGuard: a message's callback_url passes the same check as
// a webhook's URL, and the configured allow list opens it.
func TestCallbackURLGuard(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"http://127.0.0.1/cb", "http://[::127.0.0.1]/cb", "http://2130706433/cb", "http://0x7f.1/cb", "http://10.1.2.3/cb"} {
		p := must(t, e.do("POST", "/v1/messages", "send", map[string]any{"to": "+15551234567", "body": "hi", "callback_url": u}), 422).problem(t)
		if len(p.Errors) == 0 || p.Errors[0].Field != "callback_url" {
			t.Errorf("%s: %+v", u, p)
		}
	}
	allowed := newEnv(t, func(_ *gateway.Config, ac *api.Config) {
		ac.WebhookAllow = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	must(t, allowed.do("POST", "/v1/messages", "send", map[string]any{"to": "+15551234567", "body": "hi", "callback_url": "http://10.1.2.3/cb"}), 202)
	must(t, allowed.do("POST", "/v1/messages", "send", map[string]any{"to": "+15551234567", "body": "hi", "callback_url": "http://2130706433/cb"}), 422)
}
