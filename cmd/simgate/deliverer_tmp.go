package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simgate/simgate/gateway"
)

// startDeliverer starts api/webhook's Deliverer once it exists.
// TODO(G): wire webhook.New when api/webhook lands.
func startDeliverer(cfg Config, st gateway.WebhookStore, ev *gateway.Events, log *slog.Logger, reg prometheus.Registerer) (deliverer, error) {
	return nil, nil
}
