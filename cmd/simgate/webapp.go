package main

import (
	"time"

	"github.com/simgate/simgate/api/web"
	"github.com/simgate/simgate/gateway/account"
)

// WebConfig is the web app's part of the configuration.
type WebConfig struct {
	// Enabled serves the web app under /app/.
	Enabled bool `yaml:"enabled"`
	// SessionTTL is how long a login lasts.
	SessionTTL Duration `yaml:"session_ttl"`
	// SecureCookies marks cookies Secure on plain HTTP too (behind a TLS proxy).
	SecureCookies bool `yaml:"secure_cookies"`
}

func defaultWebConfig() WebConfig {
	return WebConfig{Enabled: true, SessionTTL: Duration(12 * time.Hour)}
}

func (w WebConfig) validate(bad func(field, format string, args ...any)) {
	if w.SessionTTL.D() < time.Minute || w.SessionTTL.D() > 30*24*time.Hour {
		bad("web.session_ttl", "must be between 1m and 720h")
	}
}

// accounts is the account service over the daemon's store.
func (d *daemon) accounts() *account.Service {
	return account.NewService(d.db, account.Config{SessionTTL: d.cfg.Web.SessionTTL.D()})
}

// webBalances is the balance checker for the web app (nil when none runs).
func (d *daemon) webBalances() web.Balances {
	if d.balances == nil {
		return nil
	}
	return d.balances
}

// mountWeb serves the web app on the API's Echo server.
func (d *daemon) mountWeb() error {
	if !d.cfg.Web.Enabled {
		return nil
	}
	app, err := web.New(web.Config{
		DefaultRegion: d.cfg.DefaultRegion,
		SecureCookies: d.cfg.Web.SecureCookies,
		Logger:        d.log.With("component", "web"),
	}, web.Deps{
		Accounts:  d.accounts(),
		Fleet:     d.disp,
		OptOuts:   d.db,
		Events:    d.events,
		Campaigns: d.camp, // nil when the store keeps no campaigns
		Balances:  d.webBalances(),
	})
	if err != nil {
		return err
	}
	app.Mount(d.api.Echo())
	return nil
}
