package main

import (
	"context"
	"fmt"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/balance"
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

// balanceChecks are the configured modems' balance checks.
func balanceChecks(cfg Config) ([]balance.Check, error) {
	var out []balance.Check
	for _, m := range cfg.Modems {
		if m.Balance == nil {
			continue
		}
		c, err := m.Balance.Check(m.Name)
		if err != nil {
			return nil, fmt.Errorf("modems %s: balance: %w", m.Name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// startBalances starts the balance checker: each configured check runs on
// its schedule, and a low balance pauses the modem through the dispatcher.
func (d *daemon) startBalances(ctx context.Context) error {
	checks, err := balanceChecks(d.cfg)
	if err != nil {
		return err
	}
	d.balances, err = balance.New(checks, d, d.disp, balance.Options{
		Logger:     d.log.With("component", "balance"),
		Registerer: d.reg,
		History:    d.disp, // readings follow the SIM (its inventory record)
	})
	if err != nil {
		return err
	}
	d.life.Go("balance", func() { _ = d.balances.Run(ctx) })
	return nil
}

// reloadBalances applies changed balance checks; true if they changed.
func (d *daemon) reloadBalances(old, next Config) bool {
	a, errA := balanceChecks(old)
	b, errB := balanceChecks(next)
	if errB != nil {
		d.log.Error("reload: balance checks", "err", errB)
		return false
	}
	if errA == nil && sameChecks(a, b) {
		return false
	}
	if err := d.balances.SetChecks(b); err != nil {
		d.log.Error("reload: balance checks", "err", err)
		return false
	}
	return true
}

func sameChecks(a, b []balance.Check) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Modem != y.Modem || x.Code != y.Code || x.Every != y.Every || x.Low != y.Low || x.Amount.String() != y.Amount.String() {
			return false
		}
	}
	return true
}
