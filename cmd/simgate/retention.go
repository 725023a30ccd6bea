package main

import (
	"context"

	"github.com/simgate/simgate/gateway"
)

// startRetention runs the pruning loop of cfg.Retention over the store
// until ctx ends (a goroutine tracked by d.life).
func (d *daemon) startRetention(ctx context.Context) error {
	rc := d.cfg.Retention.Gateway()
	rc.Logger = d.log.With("component", "retention")
	rc.Registerer = d.reg
	r, err := gateway.NewRetention(rc, d.db)
	if err != nil {
		return err
	}
	d.life.Go("retention", func() { _ = r.Run(ctx) })
	return nil
}
