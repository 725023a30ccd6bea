package main

import (
	"context"

	"github.com/simgate/simgate/gateway"
)

var _ gateway.USSDService = (*daemon)(nil)

// RunUSSD runs a USSD code on the named modem through its driver's own
// goroutine (the API's POST /v1/modems/{name}/ussd).
func (d *daemon) RunUSSD(ctx context.Context, name, code string) (gateway.USSDReply, error) {
	d.mu.Lock()
	m := d.modems[name]
	d.mu.Unlock()
	if m == nil {
		return gateway.USSDReply{}, gateway.ErrNoModem
	}
	return m.dev.USSD(ctx, code)
}
