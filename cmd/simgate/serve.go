package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/balance"
	"github.com/simgate/simgate/gateway/campaign"
	"github.com/simgate/simgate/modem"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "-config FILE", `  simgate serve -config /etc/simgate/simgate.yaml
  simgate serve -config simgate.yaml -check      validate the file and exit

Signals: SIGINT/SIGTERM shut down in order (API, in-flight sends, modems,
store) within shutdown_timeout; SIGHUP reloads the modem list, pacing and
webhooks from the file and logs what needs a restart.
Under systemd (Type=notify) it reports READY=1 once the queue is loaded
(STATUS= says how far loading got meanwhile), STOPPING=1, and feeds the
watchdog only while the store is writable and the dispatcher answers.
`, stderr)
	path := fs.String("config", "/etc/simgate/simgate.yaml", "configuration file")
	check := fs.Bool("check", false, "validate the configuration and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := LoadConfig(*path, os.Getenv)
	if err != nil {
		return err
	}
	if *check {
		errs, warnings := checkModemPorts(cfg)
		for _, w := range warnings {
			fmt.Fprintf(stdout, "%s: warning: %s\n", *path, w)
		}
		if len(errs) > 0 {
			return fmt.Errorf("%s: %s", *path, strings.Join(errs, "\n"))
		}
		fmt.Fprintf(stdout, "%s: ok (%d modems, %d webhooks)\n", *path, len(cfg.Modems), len(cfg.Webhooks))
		return nil
	}
	level := new(slog.LevelVar)
	log := newLogger(cfg.Log, level, stderr)
	reload := func() (Config, error) { return LoadConfig(*path, os.Getenv) }
	return serve(ctx, cfg, serveOptions{log: log, level: level, reload: reload, notify: newNotifier(os.Getenv), watchdog: watchdogInterval(os.Getenv)})
}

// serveOptions are what serve needs besides the configuration.
type serveOptions struct {
	log      *slog.Logger
	level    *slog.LevelVar // adjusted on reload
	reload   func() (Config, error)
	notify   *notifier
	watchdog time.Duration
	// ready, if set, is called once the API listens, with its address.
	ready func(apiAddr string)
	// reloaded, if set, is called after each SIGHUP reload with what was
	// applied and what needs a restart.
	reloaded func(applied, restart []string)
	// readyGrace is how long modems may take to come up before the daemon
	// warns that it is not ready (0: readinessGrace).
	readyGrace time.Duration
	// dispatcherStore, if set, wraps the store the dispatcher is given
	// (tests: to hold the queue's loading at a known point).
	dispatcherStore func(gateway.DispatcherStore) gateway.DispatcherStore
}

// newLogger returns the configured logger; level is set from c and may be changed later.
func newLogger(c LogConfig, level *slog.LevelVar, w io.Writer) *slog.Logger {
	level.Set(parseLevel(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func parseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// newRegistry returns a registry with the Go and process collectors and simgate_build_info.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	bi := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "simgate_build_info",
		Help: "simgate's version and Go version; always 1.",
	}, []string{"version", "goversion"})
	bi.WithLabelValues(buildVersion(), runtime.Version()).Set(1)
	reg.MustRegister(bi)
	return reg
}

// daemon is the running gateway: what serve started, in start order.
type daemon struct {
	cfg  Config
	opts serveOptions
	log  *slog.Logger
	reg  *prometheus.Registry

	db      storeDB
	events  *gateway.Events
	disp    *gateway.Dispatcher
	inbox   *gateway.Inbox
	hooks   *hookSync
	camp    *campaign.Service
	api     *api.Server
	srv     *http.Server
	metrics *http.Server
	apiAddr string
	cert    *api.Certificate // the API's TLS certificate (nil: plain HTTP)
	bgCtx   context.Context  // the background loops'; cancelled by the "background" cleanup step
	life    *lifecycle       // cleanup steps and every goroutine the daemon starts
	runErr  chan error       // the dispatcher's Run result

	balances *balance.Checker

	mu     sync.Mutex
	modems map[string]*runningModem // by name
}

// runningModem is one open modem.Device and the configuration it was opened with.
type runningModem struct {
	cfg        ModemConfig
	dev        *modem.Device
	discovered bool
}

// serve runs the daemon until ctx ends.
func serve(ctx context.Context, cfg Config, o serveOptions) error {
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	d := &daemon{cfg: cfg, opts: o, log: o.log, modems: map[string]*runningModem{}, runErr: make(chan error, 1), life: newLifecycle()}
	if err := d.start(ctx); err != nil {
		if serr := d.stop(); serr != nil {
			d.log.Warn("undoing a partial start", "err", serr)
		}
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// READY=1 waits for the queue to load (reportReadiness): until then
	// messages are accepted and stored, but nothing is sent.
	qs, _ := d.queueStatus()
	_ = o.notify.Notify("STATUS=serving on " + d.apiAddr + ", " + qs)
	d.mu.Lock()
	nModems := len(d.modems)
	d.mu.Unlock()
	d.log.Info("simgate listening", "listen", d.apiAddr, "modems", nModems, "version", buildVersion())
	d.life.Go("readiness report", func() { d.reportReadiness(d.bgCtx) })
	if o.ready != nil {
		o.ready(d.apiAddr)
	}
	if o.watchdog > 0 {
		d.life.Go("watchdog", func() { runWatchdog(d.bgCtx, o.notify, o.watchdog, d.healthy, d.log) })
	}
	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			d.log.Info("shutting down", "timeout", d.cfg.ShutdownTimeout.String())
			break loop
		case <-hup:
			d.reload(ctx)
		case err = <-d.runErr:
			if err != nil {
				d.log.Error("dispatcher stopped", "err", err)
				err = fmt.Errorf("dispatcher: %w", err)
			}
			break loop
		}
	}
	_ = o.notify.Notify("STOPPING=1")
	done := make(chan error, 1)
	go func() { done <- d.stop() }()
	select {
	case serr := <-done:
		if serr != nil {
			d.log.Error("stopped, with errors", "err", serr)
			err = errors.Join(err, serr)
		} else {
			d.log.Info("stopped")
		}
	case <-time.After(d.cfg.ShutdownTimeout.D() + 2*time.Second):
		// Only a step that ignores its deadline gets here.
		d.log.Error("shutdown did not finish in time; exiting anyway")
		if err == nil {
			err = errors.New("shutdown timed out")
		}
	}
	return err
}

// start brings the gateway up in dependency order: registry, store, events,
// webhooks, dispatcher, inbox, modems, API.
func (d *daemon) start(ctx context.Context) error {
	cfg := d.cfg
	d.reg = newRegistry()
	storeLog := d.log.With("component", "store")
	db, err := openStoreAs(ctx, cfg.Store, storeLog, d.reg, true)
	if err != nil {
		return err
	}
	d.db = db
	d.life.PushClose("store", db.Close)

	if !IsLoopback(cfg.Listen) || cfg.API.RequireKeysOnLoopback {
		n, err := activeKeys(ctx, db)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("refusing to listen on %s with no API key in %s: create one first with\n  simgate keys create -config FILE -owner admin -scopes admin,send,read\n(the daemon must be stopped while keys are created)", cfg.Listen, cfg.Store.describe())
		}
	}

	d.events = gateway.NewEvents(db, d.log.With("component", "events"), d.reg)
	d.hooks, err = newHookSync(ctx, cfg, db, d.events, d.log.With("component", "webhooks"), d.reg)
	if err != nil {
		_ = d.events.Close()
		return err
	}
	// Pushed in this order so that the events close first (the last ones are
	// handed to the webhook outbox), then the deliverer stops.
	d.life.PushClose("webhooks", func() error { d.hooks.Close(); return nil })
	d.life.PushClose("events", d.events.Close)

	gcfg := cfg.Gateway()
	sq, err := openSharedQueue(ctx, cfg.Store, db, d.events, d.log.With("component", "queue"))
	if err != nil {
		return err
	}
	if sq != nil { // several nodes share the database's queue
		gcfg.Queue = sq
		d.life.PushClose("queue", sq.Close)
	}
	gcfg.Logger = d.log.With("component", "dispatcher")
	gcfg.Registerer = d.reg
	gcfg.CloseTimeout = cfg.ShutdownTimeout.D() / 2
	var dst gateway.DispatcherStore = db
	if d.opts.dispatcherStore != nil {
		dst = d.opts.dispatcherStore(dst)
	}
	d.disp, err = gateway.NewDispatcher(gcfg, dst, d.events)
	if err != nil {
		return err
	}
	d.inbox = gateway.NewInbox(gateway.InboxConfig{
		DefaultRegion: cfg.DefaultRegion,
		StopWords:     cfg.OptOut.StopWords,
		StartWords:    cfg.OptOut.StartWords,
		HelpWords:     cfg.OptOut.HelpWords,
		StopReply:     cfg.OptOut.StopReply,
		StartReply:    cfg.OptOut.StartReply,
		HelpReply:     cfg.OptOut.HelpReply,
		Logger:        d.log.With("component", "inbox"),
		Registerer:    d.reg,
		Counter:       d.disp,
	}, db, d.disp, d.disp, d.events)
	if err := d.startCampaigns(); err != nil {
		return err
	}

	d.life.Push("modems", d.closeModems)
	portErrs, portWarnings := checkModemPorts(cfg)
	for _, p := range append(portErrs, portWarnings...) {
		d.log.Warn("modem port: waiting for it to appear", "problem", p)
	}
	for _, m := range cfg.Modems {
		if err := d.openModem(ctx, m, false); err != nil {
			return err
		}
	}
	// Devices are added before Run starts their workers: Run's recovery
	// (crash rules) sees the whole pool at once.
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.bgCtx = bgCtx
	// The background loops stop (and every goroutine is waited for) after
	// the dispatcher has finished its in-flight sends, before the modems close.
	d.life.Push("background", func(ctx context.Context) error {
		cancel()
		return d.life.Wait(ctx)
	})
	d.life.Push("dispatcher", func(context.Context) error { return d.disp.Close() }) // bounded by CloseTimeout
	d.life.Go("dispatcher", func() { d.runErr <- d.disp.Run(bgCtx) })
	d.life.Go("inbox", func() { _ = d.inbox.Run(bgCtx) })
	headroom, _ := parseSize(cfg.GCHeadroom) // validated
	d.life.Go("gc headroom", func() { newGCHeadroom(headroom).run(bgCtx, d.disp.Loaded(), d.log) })
	d.recoverCampaigns(bgCtx)
	if err := d.startRetention(bgCtx); err != nil {
		return err
	}
	if err := d.startBalances(bgCtx); err != nil {
		return err
	}

	if len(cfg.Modems) == 0 && !cfg.Discovery.Enabled {
		d.log.Warn("no modems configured and discovery is off: messages will queue until modems are added (edit modems and send SIGHUP)")
	}
	if cfg.Discovery.Enabled {
		d.life.Go("discovery", func() { d.discoverLoop(bgCtx) })
	}

	d.api, err = api.New(api.Config{
		DefaultRegion:   cfg.DefaultRegion,
		BodyLimit:       cfg.API.BodyLimit,
		ImportLimit:     cfg.Campaigns.ImportLimit,
		Logger:          d.log.With("component", "api"),
		Registerer:      d.reg,
		Version:         buildVersion(),
		ShutdownTimeout: cfg.ShutdownTimeout.D() / 2,
		WebhookAllow:    cfg.WebhookAllowPrefixes(),
		Limits:          cfg.API.Limits(cfg.Gateway().Location),
	}, api.Deps{
		Messages:  db,
		OptOuts:   db,
		Keys:      db,
		Webhooks:  db,
		Sender:    d.disp,
		Fleet:     d.disp,
		USSD:      d,
		Balances:  d.balances,
		Events:    d.events,
		Ready:     d.ready,
		Backup:    backuper(db),
		QueueLen:  d.disp.QueueLen,
		Campaigns: d.camp,
	})
	if err != nil {
		return err
	}
	if err := d.mountWeb(); err != nil {
		return err
	}
	metrics := promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{Registry: d.reg, ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)})
	mux := http.NewServeMux()
	if cfg.Metrics.Listen == "" {
		mux.Handle(cfg.Metrics.Path, metrics)
	}
	mux.Handle("/", d.api.Handler())
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	d.apiAddr = ln.Addr().String()
	if cfg.TLS.Enabled() {
		if d.cert, err = api.LoadCertificate(cfg.TLS.CertFile, cfg.TLS.KeyFile); err != nil {
			_ = ln.Close()
			return err
		}
		ln = tls.NewListener(ln, d.cert.TLSConfig())
	}
	d.srv = api.NewHTTPServer(mux, d.log)
	d.serveHTTP("api server", d.srv, ln, cfg.ShutdownTimeout.D()/2)
	if cfg.Metrics.Listen != "" {
		mln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics listen: %w", err)
		}
		mm := http.NewServeMux()
		mm.Handle(cfg.Metrics.Path, metrics)
		d.metrics = api.NewHTTPServer(mm, d.log)
		d.serveHTTP("metrics server", d.metrics, mln, 0)
	}
	return nil
}

// serveHTTP serves srv on ln in a tracked goroutine and pushes its
// shutdown: requests in progress get grace (bounded by the shutdown's
// deadline; 0: none), then the server closes.
func (d *daemon) serveHTTP(name string, srv *http.Server, ln net.Listener, grace time.Duration) {
	d.life.Go(name, func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error(name, "err", err)
		}
	})
	d.life.Push(name, func(ctx context.Context) error {
		if grace <= 0 {
			return srv.Close()
		}
		sctx, cancel := context.WithTimeout(ctx, grace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
			return fmt.Errorf("requests still in progress after %s were cut off: %w", grace, err)
		}
		return nil
	})
}

// stop runs the cleanup steps start pushed, in reverse, within
// shutdown_timeout: the API stops taking work, the dispatcher finishes its
// in-flight sends, the background loops stop and every goroutine is waited
// for, the modems close (no more inbound), the events are handed to the
// webhook outbox and the deliverer stops, the store closes. After a partial
// start it undoes what came up. The errors of all steps are joined.
func (d *daemon) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout.D())
	defer cancel()
	return d.life.Stop(ctx)
}

// closeModems closes every open modem, in parallel (each Close is bounded).
func (d *daemon) closeModems(ctx context.Context) error {
	d.mu.Lock()
	open := d.modems
	d.modems = map[string]*runningModem{}
	d.mu.Unlock()
	errc := make(chan error, len(open))
	for name, m := range open {
		go func() {
			if err := m.dev.Close(); err != nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				return
			}
			errc <- nil
		}()
	}
	var errs []error
	for range open {
		select {
		case err := <-errc:
			if err != nil {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			return errors.Join(append(errs, fmt.Errorf("modems still closing when the shutdown timeout ended: %w", ctx.Err()))...)
		}
	}
	return errors.Join(errs...)
}

// ready is GET /readyz: the store takes writes, the queue is loaded and at
// least one modem can send. The error says what is missing (how far the
// queue's loading got, which modem is in which state).
func (d *daemon) ready(ctx context.Context) error {
	public, _ := d.readiness(ctx)
	if public != "" {
		return api.NotReady(public)
	}
	return nil
}

// readiness says why the gateway cannot take work ("" and "" when it can):
// public is fit for the unauthenticated /readyz (states, no paths or modem
// errors), detail adds what each modem last reported, for the log.
func (d *daemon) readiness(ctx context.Context) (public, detail string) {
	if err := d.db.Ready(ctx); err != nil {
		if errors.Is(err, gateway.ErrStorageFull) {
			return "store: disk full", "store: disk full: " + err.Error()
		}
		return "store: not writable", "store: not writable: " + err.Error()
	}
	modems := d.disp.Modems()
	var loading string
	if s, loaded := d.queueStatus(); !loaded {
		loading = s
	}
	return joinReasons(loading, notReadyReason(modems, false)), joinReasons(loading, notReadyReason(modems, true))
}

// queueStatus says how far the dispatcher got loading the queue ("queue
// loading: 412,000 messages so far"), and whether it is loaded.
func (d *daemon) queueStatus() (status string, loaded bool) {
	select {
	case <-d.disp.Loaded():
		return "queue loaded", true
	default:
	}
	if s := d.disp.LoadingStatus(); s != "" {
		return s, false
	}
	return "queue not loaded yet", false // Run has not begun
}

func joinReasons(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// healthy is the watchdog's check: the store commits a write and the
// dispatcher's lock is free within the deadline (its event loop is not stuck).
func (d *daemon) healthy(ctx context.Context) error {
	if err := d.db.Writable(ctx); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		d.disp.Modems()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("dispatcher not responding")
	}
}

func activeKeys(ctx context.Context, ks gateway.KeyStore) (int, error) {
	keys, err := ks.ListKeys(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if k.RevokedAt.IsZero() {
			n++
		}
	}
	return n, nil
}

// modemConfig is the driver's configuration of m.
func (d *daemon) modemConfig(m ModemConfig) modem.Config {
	return modem.Config{
		Name:          m.Name,
		Port:          m.Port,
		Globs:         m.Globs,
		ExpectedIMEI:  m.ExpectedIMEI,
		ExpectedICCID: m.ExpectedICCID,
		PIN:           m.PIN,
		Baud:          m.Baud,
		Logger:        d.log, // the driver adds modem=<name> itself
	}
}

// openModem opens m and adds it to the dispatcher's pool.
func (d *daemon) openModem(ctx context.Context, m ModemConfig, discovered bool) error {
	dev, err := modem.Open(ctx, d.modemConfig(m), d.inbox, d.disp)
	if err != nil {
		return fmt.Errorf("modem %s: %w", m.Name, err)
	}
	d.mu.Lock()
	d.modems[m.Name] = &runningModem{cfg: m, dev: dev, discovered: discovered}
	d.mu.Unlock()
	d.disp.AddDevice(dev, d.cfg.GatewayModem(m))
	d.log.Info("modem added", "modem", m.Name, "port", m.Port, "discovered", discovered)
	return nil
}

// closeModem takes the modem out of the pool (its queue waits, sticky) and closes it.
func (d *daemon) closeModem(name string) {
	d.mu.Lock()
	m := d.modems[name]
	delete(d.modems, name)
	d.mu.Unlock()
	if m == nil {
		return
	}
	d.disp.RemoveDevice(name)
	_ = m.dev.Close()
	d.log.Info("modem removed", "modem", name)
}

// discoverLoop serves modems on ports no configured modem holds, at start,
// every discovery.interval and after SIGHUP.
func (d *daemon) discoverLoop(ctx context.Context) {
	d.discover(ctx)
	if d.cfg.Discovery.Interval <= 0 {
		return
	}
	t := time.NewTicker(d.cfg.Discovery.Interval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.discover(ctx)
		}
	}
}

func (d *daemon) discover(ctx context.Context) {
	d.mu.Lock()
	cfg := d.cfg
	held := map[string]bool{}
	imeis := map[string]bool{}
	for _, m := range d.modems {
		if m.cfg.Port != "" {
			held[resolvePath(m.cfg.Port)] = true
		}
		if m.cfg.ExpectedIMEI != "" {
			imeis[m.cfg.ExpectedIMEI] = true
		}
		if info := m.dev.Info(); info.IMEI != "" {
			imeis[info.IMEI] = true
		}
	}
	d.mu.Unlock()
	found, err := modem.Discover(ctx, cfg.Discovery.Globs, func(p string) bool { return held[resolvePath(p)] })
	if err != nil {
		d.log.Warn("discovery", "err", err)
		return
	}
	for _, f := range found {
		if f.Info.IMEI == "" || imeis[f.Info.IMEI] {
			continue
		}
		name := discoveredName(f.Info.IMEI)
		d.mu.Lock()
		_, exists := d.modems[name]
		d.mu.Unlock()
		if exists {
			continue
		}
		m := ModemConfig{Name: name, Port: f.Path, Globs: cfg.Discovery.Globs, ExpectedIMEI: f.Info.IMEI, Groups: cfg.Discovery.Groups}
		if err := d.openModem(ctx, m, true); err != nil {
			d.log.Warn("discovered modem", "port", f.Path, "err", err)
		}
	}
}

// discoveredName names a discovered modem after the end of its IMEI.
func discoveredName(imei string) string {
	if len(imei) > 6 {
		imei = imei[len(imei)-6:]
	}
	return "imei-" + imei
}

func resolvePath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// reload re-reads the configuration and applies what can change without a
// restart: modems added, removed or changed, default and per-modem pacing,
// groups, webhooks, log level. Everything else is logged as needing a restart.
func (d *daemon) reload(ctx context.Context) {
	if d.opts.reload == nil {
		return
	}
	next, err := d.opts.reload()
	if err != nil {
		d.log.Error("reload: configuration refused; keeping the running one", "err", err)
		if d.opts.reloaded != nil {
			d.opts.reloaded(nil, nil)
		}
		return
	}
	old := d.cfg
	var restart []string
	if old.Listen != next.Listen {
		restart = append(restart, "listen")
	}
	if old.Metrics != next.Metrics {
		restart = append(restart, "metrics")
	}
	if old.Store != next.Store {
		restart = append(restart, "store")
	}
	if old.DefaultRegion != next.DefaultRegion {
		restart = append(restart, "default_region")
	}
	if old.Timezone != next.Timezone {
		restart = append(restart, "timezone")
	}
	if old.Log.Format != next.Log.Format {
		restart = append(restart, "log.format")
	}
	if old.StickyTimeout != next.StickyTimeout || old.Retries != next.Retries || old.Pause != next.Pause ||
		old.StatusReports != next.StatusReports || old.ReportWindow != next.ReportWindow {
		restart = append(restart, "sticky_timeout/retries/pause/status_reports/report_window")
	}
	if !equalOptOut(old.OptOut, next.OptOut) {
		restart = append(restart, "optout")
	}
	if old.API != next.API || old.ShutdownTimeout != next.ShutdownTimeout {
		restart = append(restart, "api/shutdown_timeout")
	}
	if old.TLS != next.TLS {
		restart = append(restart, "tls")
	}
	if !equalDestinations(old.Destinations, next.Destinations) {
		restart = append(restart, "destinations")
	}
	if !slices.Equal(old.WebhookAllow, next.WebhookAllow) {
		restart = append(restart, "webhook_allow")
	}
	if old.Discovery.Enabled != next.Discovery.Enabled || old.Discovery.Interval != next.Discovery.Interval {
		restart = append(restart, "discovery.enabled/interval")
	}

	var changed []string
	if d.cert != nil && old.TLS == next.TLS {
		// A renewed certificate (same files) is picked up without a restart.
		if err := d.cert.Reload(); err != nil {
			d.log.Error("reload: tls certificate; keeping the one in use", "err", err)
		} else {
			changed = append(changed, "tls: certificate reread")
		}
	}
	if old.Log.Level != next.Log.Level && d.opts.level != nil {
		d.opts.level.Set(parseLevel(next.Log.Level))
		changed = append(changed, "log.level")
	}
	if old.Pacing != next.Pacing {
		d.disp.SetPacing(next.Pacing.Gateway())
		changed = append(changed, "pacing")
	}
	d.mu.Lock()
	d.cfg.Log.Level = next.Log.Level
	d.cfg.Pacing = next.Pacing
	d.cfg.Modems = next.Modems
	d.cfg.Webhooks = next.Webhooks
	d.cfg.Discovery.Globs = next.Discovery.Globs
	d.cfg.Discovery.Groups = next.Discovery.Groups
	running := make(map[string]*runningModem, len(d.modems))
	for k, v := range d.modems {
		running[k] = v
	}
	d.mu.Unlock()

	want := map[string]ModemConfig{}
	for _, m := range next.Modems {
		want[m.Name] = m
	}
	for name, r := range running {
		m, ok := want[name]
		switch {
		case !ok && r.discovered:
			// Discovered modems stay until unplugged for good.
		case !ok:
			d.closeModem(name)
			changed = append(changed, "modems: removed "+name)
		case driverChanged(r.cfg, m):
			d.closeModem(name)
			if err := d.openModem(ctx, m, false); err != nil {
				d.log.Error("reload: reopen modem", "modem", name, "err", err)
			}
			changed = append(changed, "modems: reopened "+name)
		default:
			// A modem with its own pacing follows the default's changes too.
			pacingChanged := r.cfg.Pacing.IsZero() != m.Pacing.IsZero() ||
				(!m.Pacing.IsZero() && old.ModemPacing(r.cfg) != next.ModemPacing(m))
			if !slices.Equal(r.cfg.Groups, m.Groups) || pacingChanged {
				if err := d.disp.UpdateModemConfig(d.cfg.GatewayModem(m)); err != nil {
					d.log.Error("reload: modem config", "modem", name, "err", err)
				}
				d.mu.Lock()
				r.cfg = m
				d.mu.Unlock()
				changed = append(changed, "modems: groups/pacing of "+name)
			}
		}
	}
	for _, m := range next.Modems {
		if _, ok := running[m.Name]; ok {
			continue
		}
		if err := d.openModem(ctx, m, false); err != nil {
			d.log.Error("reload: open modem", "modem", m.Name, "err", err)
			continue
		}
		changed = append(changed, "modems: added "+m.Name)
	}
	if d.reloadBalances(old, next) {
		changed = append(changed, "balance checks")
	}
	if hc, err := d.hooks.Sync(ctx, next); err != nil {
		d.log.Error("reload: webhooks", "err", err)
	} else if hc != "" {
		changed = append(changed, hc)
	}
	if next.Discovery.Enabled && old.Discovery.Enabled {
		d.life.Go("discovery after reload", func() { d.discover(d.bgCtx) })
	}
	d.log.Info("configuration reloaded", "applied", strings.Join(changed, "; "), "needs_restart", strings.Join(restart, ", "))
	if d.opts.reloaded != nil {
		d.opts.reloaded(changed, restart)
	}
}

// driverChanged reports whether the modem must be reopened for the change from a to b.
func driverChanged(a, b ModemConfig) bool {
	return a.Port != b.Port || !slices.Equal(a.Globs, b.Globs) || a.ExpectedIMEI != b.ExpectedIMEI ||
		a.ExpectedICCID != b.ExpectedICCID || a.PIN != b.PIN || a.Baud != b.Baud
}

func equalDestinations(a, b DestinationsConfig) bool {
	return slices.Equal(a.AllowCountries, b.AllowCountries) && slices.Equal(a.DenyCountries, b.DenyCountries) &&
		slices.Equal(a.AllowPrefixes, b.AllowPrefixes) && slices.Equal(a.DenyPrefixes, b.DenyPrefixes) && a.AllowPremium == b.AllowPremium
}

func equalOptOut(a, b OptOutConfig) bool {
	return slices.Equal(a.StopWords, b.StopWords) && slices.Equal(a.StartWords, b.StartWords) &&
		slices.Equal(a.HelpWords, b.HelpWords) && a.StopReply == b.StopReply && a.StartReply == b.StartReply && a.HelpReply == b.HelpReply
}
