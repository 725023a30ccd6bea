package api

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/labstack/gommon/bytes"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/simgate/simgate/api/webhook"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/balance"
	"github.com/simgate/simgate/gateway/campaign"
)

//go:embed openapi.yaml
var openAPISpec []byte

// OpenAPISpec returns the OpenAPI 3.1 description of the API (openapi.yaml).
func OpenAPISpec() []byte { return append([]byte(nil), openAPISpec...) }

// Sender accepts and cancels outbound messages. gateway.Dispatcher implements it.
type Sender interface {
	Submit(ctx context.Context, req gateway.SendRequest) (*gateway.Message, error)
	Cancel(ctx context.Context, id string) (*gateway.Message, error)
}

// Fleet is the modems as the API shows and steers them. gateway.Dispatcher implements it.
type Fleet interface {
	Modems() []gateway.ModemView
	Modem(name string) (gateway.ModemView, error)
	Pause(name, reason string, until time.Time) error
	Resume(name string) error
	Drain(name string) error
	// SIMs is the SIM inventory, by ID; SIM one SIM by its ID (ICCID, or
	// "imsi:" and its IMSI), or an error wrapping gateway.ErrNotFound.
	SIMs() []gateway.SIMView
	SIM(id string) (gateway.SIMView, error)
	// Waiting says why a queued message has not left yet ("" when nothing
	// holds it back).
	Waiting(ctx context.Context, m *gateway.Message) string
}

// Balances tells a modem's last balance check. balance.Checker implements it.
type Balances interface {
	Last(modem string) (balance.Result, bool)
}

// Deps are the parts of the gateway the API serves. Every field but Events
// and Ready is required.
type Deps struct {
	Messages gateway.MessageStore
	OptOuts  gateway.OptOutStore
	Keys     KeyStore
	Webhooks gateway.WebhookStore
	Sender   Sender
	Fleet    Fleet
	// Events hears opt-outs added and removed through the API (nil: none).
	Events gateway.Emitter
	// Ready says whether the gateway can take work (GET /readyz); nil: always ready.
	Ready func(ctx context.Context) error
	// Backup serves GET /admin/backup (admin scope); nil: no such route.
	Backup Backuper
	// QueueLen is the number of messages waiting to be sent, for
	// Limits.MaxQueued (nil: no cap). gateway.Dispatcher.QueueLen fits.
	QueueLen func() int
	// Campaigns serves /v1/campaigns… (nil: those routes are not served).
	Campaigns *campaign.Service
	// USSD runs codes on modems for POST /v1/modems/{name}/ussd (admin
	// scope); nil: no such route.
	USSD gateway.USSDService
	// Balances adds each modem's last balance check to its view; nil: none.
	Balances Balances
}

// Config configures a Server.
type Config struct {
	// DefaultRegion normalises numbers given without a country code in
	// filters and opt-outs ("US").
	DefaultRegion string
	// BodyLimit bounds request bodies ("64K", the default).
	BodyLimit string
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer for the HTTP metrics; nil registers none.
	Registerer prometheus.Registerer
	// Version is reported by /healthz.
	Version string
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// ShutdownTimeout bounds Serve's graceful shutdown (default 10 s).
	ShutdownTimeout time.Duration
	// ImportLimit bounds an uploaded contact file (default DefaultImportLimit).
	ImportLimit int64
	// WebhookAllow lists the ranges webhook and callback URLs may point to
	// although the SSRF guard refuses them (loopback, private ...), as
	// webhook.Config.Allow; URLs are checked against it when registered.
	WebhookAllow []netip.Prefix
	// Limits are the rate limits, quotas, queue cap and default validity
	// (the zero value limits nothing).
	Limits Limits
}

// Server is the HTTP API. Its handler is safe for concurrent use.
type Server struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	limit     int64
	e         *echo.Echo
	msgs      gateway.MessageStore
	optouts   gateway.OptOutStore
	keys      KeyStore
	touches   keyTouches
	hooks     gateway.WebhookStore
	sender    Sender
	fleet     Fleet
	events    gateway.Emitter
	ready     func(context.Context) error
	guard     webhook.Guard
	backupper Backuper
	ussd      gateway.USSDService
	balances  Balances
	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	limits    *limiter
	refused   *prometheus.CounterVec
	camp      *campaign.Service
	// importLimit bounds an uploaded contact file.
	importLimit int64

	backups     *prometheus.CounterVec
	backupBytes prometheus.Counter

	mu       sync.Mutex
	inflight map[string]struct{} // scoped idempotency keys being processed
}

// New builds the API server over deps.
func New(cfg Config, deps Deps) (*Server, error) {
	switch {
	case deps.Messages == nil:
		return nil, errors.New("api: nil Deps.Messages")
	case deps.OptOuts == nil:
		return nil, errors.New("api: nil Deps.OptOuts")
	case deps.Keys == nil:
		return nil, errors.New("api: nil Deps.Keys")
	case deps.Webhooks == nil:
		return nil, errors.New("api: nil Deps.Webhooks")
	case deps.Sender == nil:
		return nil, errors.New("api: nil Deps.Sender")
	case deps.Fleet == nil:
		return nil, errors.New("api: nil Deps.Fleet")
	}
	if cfg.BodyLimit == "" {
		cfg.BodyLimit = "64K"
	}
	limit, err := bytes.Parse(cfg.BodyLimit)
	if err != nil || limit <= 0 {
		return nil, fmt.Errorf("api: body_limit %q: not a size such as 64K", cfg.BodyLimit)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	s := &Server{
		cfg:         cfg,
		log:         cfg.Logger,
		now:         cfg.Now,
		limit:       limit,
		msgs:        deps.Messages,
		optouts:     deps.OptOuts,
		keys:        deps.Keys,
		hooks:       deps.Webhooks,
		sender:      deps.Sender,
		fleet:       deps.Fleet,
		events:      deps.Events,
		ready:       deps.Ready,
		guard:       webhook.Guard{Allow: cfg.WebhookAllow},
		backupper:   deps.Backup,
		inflight:    map[string]struct{}{},
		camp:        deps.Campaigns,
		importLimit: cfg.ImportLimit,
		touches:     keyTouches{last: map[string]time.Time{}},
		ussd:        deps.USSD,
		balances:    deps.Balances,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.importLimit <= 0 {
		s.importLimit = DefaultImportLimit
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.limits = newLimiter(cfg.Limits, s.now, deps.QueueLen)
	if err := s.initMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	s.e = s.routes()
	return s, nil
}

// Handler returns the API as an http.Handler.
func (s *Server) Handler() http.Handler { return s.e }

// Echo returns the underlying Echo instance, e.g. to mount /metrics.
func (s *Server) Echo() *echo.Echo { return s.e }

// Serve serves the API on ln until ctx is done, then shuts down gracefully,
// waiting at most Config.ShutdownTimeout for requests in progress. It
// returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := NewHTTPServer(s.e, s.log)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("api: shutdown: %w", err)
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("api: serve: %w", serr)
	}
	return err
}

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.observe)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll:   true,
		DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic in handler", "route", routeOf(c), "err", err, "stack", string(stack))
			return fmt.Errorf("panic: %w", err)
		},
	}))

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/openapi.yaml", s.spec)

	// Authentication is per route, not group middleware: Echo answers a
	// group's unknown methods with 404 instead of 405 once it has middleware.
	v1 := e.Group("/v1")
	// auth authenticates, then spends a token of the key's rate limit.
	auth := func(next echo.HandlerFunc) echo.HandlerFunc { return s.authenticate(s.rateLimit(next)) }
	send := []echo.MiddlewareFunc{auth, require(ScopeSend)}
	read := []echo.MiddlewareFunc{auth, require(ScopeRead)}
	admin := []echo.MiddlewareFunc{auth, require(ScopeAdmin)}
	v1.POST("/messages", s.postMessage, send...)
	v1.GET("/messages", s.listMessages, read...)
	v1.GET("/messages/:id", s.getMessage, read...)
	v1.POST("/messages/:id/cancel", s.cancelMessage, send...)
	v1.GET("/conversations/:number", s.conversation, read...)
	v1.GET("/modems", s.listModems, read...)
	v1.GET("/modems/:name", s.getModem, read...)
	v1.POST("/modems/:name/pause", s.pauseModem, admin...)
	v1.POST("/modems/:name/resume", s.resumeModem, admin...)
	v1.POST("/modems/:name/drain", s.drainModem, admin...)
	v1.GET("/sims", s.listSIMs, read...)
	v1.GET("/sims/:id", s.getSIM, read...)
	if s.ussd != nil {
		v1.POST("/modems/:name/ussd", s.runUSSD, admin...)
	}
	v1.GET("/optouts", s.listOptOuts, read...)
	v1.POST("/optouts", s.importOptOuts, admin...)
	v1.DELETE("/optouts/:number", s.deleteOptOut, admin...)
	v1.GET("/webhooks", s.listWebhooks, admin...)
	v1.POST("/webhooks", s.createWebhook, admin...)
	v1.DELETE("/webhooks/:id", s.deleteWebhook, admin...)
	v1.GET("/keys", s.listKeys, admin...)
	v1.POST("/keys", s.createKey, admin...)
	v1.DELETE("/keys/:id", s.revokeKey, admin...)
	if s.backupper != nil {
		e.GET(BackupPath, s.backup, admin...)
	}
	s.campaignRoutes(v1, auth)
	return e
}

func (s *Server) initMetrics(reg prometheus.Registerer) error {
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "simgate_http_requests_total",
		Help: "HTTP requests answered by the API, by route template, method and status code.",
	}, []string{"route", "method", "code"})
	s.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "simgate_http_request_duration_seconds",
		Help:    "Time to answer an API request, by route template and method.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method"})
	s.backups, s.backupBytes = newBackupMetrics()
	s.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "simgate_api_refused_total",
		Help: "Requests refused by the API's limits, by reason (rate, quota, queue).",
	}, []string{"reason"})
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{s.requests, s.durations, s.backups, s.backupBytes, s.refused} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("api: register metrics: %w", err)
		}
	}
	return nil
}

// routeOf is the route template of a request, bounded for metrics and logs:
// "unmatched" when no route matched.
func routeOf(c echo.Context) string {
	p := c.Path()
	if p == "" || p == "/v1/*" || p == "/v1" || p == "/*" {
		return "unmatched"
	}
	return p
}

// knownMethods bounds the method label.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// observe answers errors through the error handler, then counts, times and
// logs the request: method, route template, status, latency and key id,
// never numbers, bodies or keys.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		d := time.Since(start)
		route, method, code := routeOf(c), methodLabel(c.Request().Method), c.Response().Status
		s.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
		s.durations.WithLabelValues(route, method).Observe(d.Seconds())
		if s.log.Enabled(c.Request().Context(), slog.LevelInfo) {
			keyID := ""
			if k, ok := keyOf(c); ok {
				keyID = k.ID
			}
			s.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "http request",
				slog.String("method", method), slog.String("route", route), slog.Int("status", code),
				slog.Duration("latency", d), slog.String("key_id", keyID))
		}
		return nil
	}
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "version": s.cfg.Version})
}

// NotReadyError is what a Deps.Ready function returns to say why the
// gateway cannot take work, in words safe to show on the unauthenticated
// /readyz ("no modem is up and registered"). Other errors are shown as a
// generic reason (a full disk as "store: disk full").
type NotReadyError struct{ Reason string }

func (e *NotReadyError) Error() string { return e.Reason }

// NotReady returns a *NotReadyError with reason.
func NotReady(reason string) error { return &NotReadyError{Reason: reason} }

func (s *Server) readyz(c echo.Context) error {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			reason := "the gateway cannot take work now"
			var nr *NotReadyError
			switch {
			case errors.As(err, &nr):
				reason = nr.Reason
			case errors.Is(err, gateway.ErrStorageFull):
				reason = "store: disk full"
			}
			s.log.Warn("not ready", "reason", reason, "err", err)
			writeProblem(c, Problem{Type: ProblemBase + ProblemNotReady, Title: "Not ready", Status: http.StatusServiceUnavailable,
				Detail: reason})
			return nil
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) spec(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", openAPISpec)
}
