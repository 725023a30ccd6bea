package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simgate/simgate/api/webhook"
	"github.com/simgate/simgate/gateway"
)

// hookSync keeps the webhooks of the configuration file in the store
// (Source "config"; those added through the API are left alone) and runs
// the webhook deliverer. The store keeps a config webhook's ID, URL and
// events, never its secret: the secret stays in memory (it came from the
// environment or a file, and would otherwise be copied into every backup);
// the deliverer sees the store through secretStore, which adds it.
type hookSync struct {
	st      gateway.WebhookStore
	secrets *configSecrets
	log     *slog.Logger
	del     *webhook.Deliverer
	cancel  context.CancelFunc
	done    chan struct{}
}

// newHookSync stores cfg's webhooks, subscribes a Deliverer to ev and runs it.
func newHookSync(ctx context.Context, cfg Config, st webhook.Store, ev *gateway.Events, log *slog.Logger, reg prometheus.Registerer) (*hookSync, error) {
	h := &hookSync{st: st, secrets: &configSecrets{byID: map[string]string{}}, log: log}
	if _, err := h.Sync(ctx, cfg); err != nil {
		return nil, err
	}
	del, err := webhook.New(webhook.Config{Allow: cfg.WebhookAllowPrefixes(), CallbackSecret: cfg.CallbackSecret}, secretStore{st, h.secrets}, log, reg)
	if err != nil {
		return nil, err
	}
	h.del = del
	ev.Subscribe(del)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.cancel, h.done = cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		if err := del.Run(rctx); err != nil {
			log.Error("webhook deliverer stopped", "err", err)
		}
	}()
	return h, nil
}

// configHookID is the stable ID of a webhook from the file: the same URL
// keeps its ID (and its pending deliveries) across restarts and reloads.
func configHookID(url string) string {
	sum := sha256.Sum256([]byte(url))
	return "cfg_" + hex.EncodeToString(sum[:6])
}

// Sync makes the store's config webhooks equal cfg.Webhooks and says what changed.
func (h *hookSync) Sync(ctx context.Context, cfg Config) (string, error) {
	have, err := h.st.ListWebhooks(ctx)
	if err != nil {
		return "", fmt.Errorf("webhooks: %w", err)
	}
	byID := map[string]gateway.Webhook{}
	for _, w := range have {
		if w.Source == "config" {
			byID[w.ID] = w
		}
	}
	var added, removed, updated int
	keep := map[string]bool{}
	secrets := map[string]string{}
	for _, wc := range cfg.Webhooks {
		id := configHookID(wc.URL)
		keep[id] = true
		evs := make([]gateway.EventType, len(wc.Events))
		for i, e := range wc.Events {
			evs[i] = gateway.EventType(e)
		}
		secrets[id] = wc.Secret
		w := gateway.Webhook{ID: id, URL: wc.URL, Events: evs, Source: "config", CreatedAt: time.Now().UTC()}
		old, ok := byID[id]
		prev, had := h.secrets.get(id)
		switch {
		case !ok:
			added++
		case old.URL == w.URL && old.Secret == "" && slices.Equal(old.Events, w.Events):
			if had && prev != wc.Secret {
				updated++ // only the secret changed: nothing to store
			}
			continue
		default: // changed, or a secret stored by an older version to scrub
			w.CreatedAt = old.CreatedAt
			updated++
		}
		if err := h.st.PutWebhook(ctx, w); err != nil {
			return "", fmt.Errorf("webhooks[%s]: %w", wc.URL, err)
		}
	}
	h.secrets.set(secrets)
	for id := range byID {
		if keep[id] {
			continue
		}
		if err := h.st.DeleteWebhook(ctx, id); err != nil {
			return "", fmt.Errorf("webhook %s: %w", id, err)
		}
		removed++
	}
	if added+removed+updated == 0 {
		return "", nil
	}
	var parts []string
	for _, p := range []struct {
		n int
		s string
	}{{added, "added"}, {updated, "updated"}, {removed, "removed"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.s))
		}
	}
	return "webhooks: " + strings.Join(parts, ", "), nil
}

// Close stops the deliverer (pending deliveries stay stored and are sent
// after the next start).
func (h *hookSync) Close() {
	if h.del == nil {
		return
	}
	h.cancel()
	<-h.done
	if err := h.del.Close(); err != nil {
		h.log.Warn("webhook deliverer close", "err", err)
	}
}

// configSecrets are the secrets of the configuration's webhooks, by ID.
type configSecrets struct {
	mu   sync.RWMutex
	byID map[string]string
}

func (c *configSecrets) get(id string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.byID[id]
	return s, ok
}

func (c *configSecrets) set(m map[string]string) {
	c.mu.Lock()
	c.byID = m
	c.mu.Unlock()
}

// secretStore is the store as the deliverer sees it: config webhooks carry
// their secrets from memory.
type secretStore struct {
	webhook.Store
	secrets *configSecrets
}

// ListWebhooks lists the stored webhooks, the config ones with their secrets.
func (s secretStore) ListWebhooks(ctx context.Context) ([]gateway.Webhook, error) {
	return s.fill(s.Store.ListWebhooks(ctx))
}

// fill gives the config webhooks of ws their secrets.
func (s secretStore) fill(ws []gateway.Webhook, err error) ([]gateway.Webhook, error) {
	if err != nil {
		return nil, err
	}
	for i := range ws {
		if ws[i].Source == "config" {
			ws[i].Secret, _ = s.secrets.get(ws[i].ID)
		}
	}
	return ws, nil
}
