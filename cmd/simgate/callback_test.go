package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/simgate/simgate/api/webhook"
)

// TestServeCallbackURL: a message posted with a callback_url gets its own
// events there, signed with the callback secret (Standard Webhooks), through
// the same SSRF-checked dialer as webhooks (loopback allowed explicitly);
// no configured webhook is needed.
func TestServeCallbackURL(t *testing.T) {
	secret := webhook.GenerateSecret()
	type call struct {
		sigErr error
		body   struct {
			Type string `json:"type"`
			Data struct {
				MessageID string `json:"message_id"`
				Type      string `json:"type"`
			} `json:"data"`
		}
		query string
	}
	got := make(chan call, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var c call
		c.sigErr = webhook.Verify(secret, r.Header, b, 5*time.Minute)
		_ = json.Unmarshal(b, &c.body)
		c.query = r.URL.RawQuery
		got <- c
	}))
	defer recv.Close()
	g := startGateway(t, 1, 1, func(c *Config) {
		c.CallbackSecret = secret
		c.WebhookAllow = []string{"127.0.0.0/8"}
	})
	var msg struct{ ID string }
	body := map[string]any{"to": demoContact, "body": "call me back", "callback_url": recv.URL + "/cb?token=t1"}
	if code := httpJSON(t, "POST", g.base+"/v1/messages", g.key, body, &msg); code != http.StatusAccepted {
		t.Fatalf("POST: %d", code)
	}
	select {
	case c := <-got:
		if c.sigErr != nil {
			t.Errorf("callback signature: %v", c.sigErr)
		}
		if c.body.Type != "message.sent" || c.body.Data.MessageID != msg.ID || c.query != "token=t1" {
			t.Errorf("callback = %+v, want message.sent for %s at ?token=t1", c, msg.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no callback for the sent message; logs:\n%s", g.logs.String())
	}
}
