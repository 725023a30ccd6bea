package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simgate/simgate/api/webhook"
	"github.com/simgate/simgate/gateway"
)

// hookSync keeps the webhooks of the configuration file in the store
// (Source "config"; those added through the API are left alone) and runs
// the webhook deliverer.
type hookSync struct {
	st     gateway.WebhookStore
	log    *slog.Logger
	del    *webhook.Deliverer
	cancel context.CancelFunc
	done   chan struct{}
}

// newHookSync stores cfg's webhooks, subscribes a Deliverer to ev and runs it.
func newHookSync(ctx context.Context, cfg Config, st webhook.Store, ev *gateway.Events, log *slog.Logger, reg prometheus.Registerer) (*hookSync, error) {
	h := &hookSync{st: st, log: log}
	if _, err := h.Sync(ctx, cfg); err != nil {
		return nil, err
	}
	del, err := webhook.New(webhook.Config{Allow: cfg.WebhookAllowPrefixes(), CallbackSecret: cfg.CallbackSecret}, st, log, reg)
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
	for _, wc := range cfg.Webhooks {
		id := configHookID(wc.URL)
		keep[id] = true
		evs := make([]gateway.EventType, len(wc.Events))
		for i, e := range wc.Events {
			evs[i] = gateway.EventType(e)
		}
		w := gateway.Webhook{ID: id, URL: wc.URL, Events: evs, Secret: wc.Secret, Source: "config", CreatedAt: time.Now().UTC()}
		old, ok := byID[id]
		if ok {
			if old.URL == w.URL && old.Secret == w.Secret && slices.Equal(old.Events, w.Events) {
				continue
			}
			w.CreatedAt = old.CreatedAt
			updated++
		} else {
			added++
		}
		if err := h.st.PutWebhook(ctx, w); err != nil {
			return "", fmt.Errorf("webhooks[%s]: %w", wc.URL, err)
		}
	}
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
