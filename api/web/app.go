package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
	"github.com/simgate/simgate/gateway/balance"
	"github.com/simgate/simgate/gateway/campaign"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the app is mounted.
const Prefix = "/app"

// Fleet is the modems as the operations view shows and steers them.
// gateway.Dispatcher implements it.
type Fleet interface {
	Modems() []gateway.ModemView
	// SIMs is the SIM inventory, by ID (as GET /v1/sims shows it).
	SIMs() []gateway.SIMView
	Pause(name, reason string, until time.Time) error
	Resume(name string) error
}

// Deps are what the app serves. Accounts, Fleet and OptOuts are required.
type Deps struct {
	Accounts *account.Service
	Fleet    Fleet
	OptOuts  gateway.OptOutStore
	// Events hears opt-outs added from the app (nil: none).
	Events gateway.Emitter
	// Campaigns is the P2P campaign workflow (nil: no campaign pages).
	Campaigns *campaign.Service
	// Balances tells each modem's last balance check for the modems page
	// (nil: no balances). balance.Checker implements it.
	Balances Balances
}

// Balances tells a modem's last balance check.
type Balances interface {
	Last(modem string) (balance.Result, bool)
}

// Config configures the App.
type Config struct {
	// DefaultRegion normalises numbers typed without a country code ("US").
	DefaultRegion string
	// SecureCookies marks cookies Secure even on plain HTTP requests (set
	// it behind a TLS-terminating proxy). Requests over TLS always get
	// Secure cookies.
	SecureCookies bool
	// LoginBurst and LoginEvery bound login attempts per client address;
	// a login name gets a fifth of the burst. Defaults 20 and 3 s.
	LoginBurst int
	LoginEvery time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil = time.Now.
	Now func() time.Time
}

// App is the web app.
type App struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	accounts *account.Service
	fleet    Fleet
	balances Balances
	optouts  gateway.OptOutStore
	events   gateway.Emitter
	camps    *campaign.Service
	pages    map[string]*template.Template
	limiter  *loginLimiter
}

// New builds the app.
func New(cfg Config, deps Deps) (*App, error) {
	switch {
	case deps.Accounts == nil:
		return nil, errors.New("web: nil Deps.Accounts")
	case deps.Fleet == nil:
		return nil, errors.New("web: nil Deps.Fleet")
	case deps.OptOuts == nil:
		return nil, errors.New("web: nil Deps.OptOuts")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LoginBurst <= 0 {
		cfg.LoginBurst = 20
	}
	if cfg.LoginEvery <= 0 {
		cfg.LoginEvery = 3 * time.Second
	}
	a := &App{
		cfg: cfg, log: cfg.Logger, now: cfg.Now,
		accounts: deps.Accounts, fleet: deps.Fleet, balances: deps.Balances, optouts: deps.OptOuts, events: deps.Events, camps: deps.Campaigns,
		limiter: newLoginLimiter(cfg.LoginBurst, cfg.LoginEvery),
	}
	var err error
	if a.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return a, nil
}

// Mount registers the app's routes on e under Prefix.
func (a *App) Mount(e *echo.Echo) {
	g := e.Group(Prefix, a.secureHeaders, a.catch)
	static, _ := fs.Sub(staticFS, "static")
	g.GET("/static/*", echo.WrapHandler(http.StripPrefix(Prefix+"/static/", cacheStatic(http.FileServerFS(static)))))
	g.GET("/login", a.loginPage)
	g.POST("/login", a.login)

	user := a.session
	org := []echo.MiddlewareFunc{a.session, requireRole(account.RoleOrganiser)}
	g.POST("/logout", a.logout, user)
	g.GET("", a.home, user)
	g.GET("/", a.home, user)
	g.GET("/help", a.help, user)
	g.GET("/ops", a.ops, org...)
	g.GET("/ops/modems", a.opsModems, org...)
	g.GET("/ops/sims", a.opsSIMs, org...)
	g.POST("/ops/modems/:name/pause", a.pauseModem, org...)
	g.POST("/ops/modems/:name/resume", a.resumeModem, org...)
	g.GET("/ops/optouts", a.optOuts, org...)
	g.POST("/ops/optouts", a.addOptOut, org...)
	g.GET("/users", a.users, org...)
	g.POST("/users", a.createUser, org...)
	g.POST("/users/:id/disable", a.disableUser, org...)
	g.POST("/users/:id/enable", a.enableUser, org...)
	if a.camps != nil {
		a.mountCampaigns(g)
	}
	g.Any("/*", func(c echo.Context) error { return errPageNotFound })
}

// mountCampaigns adds the campaign pages: organisers' under /campaigns,
// texters' under /c.
func (a *App) mountCampaigns(g *echo.Group) {
	org := []echo.MiddlewareFunc{a.session, requireRole(account.RoleOrganiser)}
	g.GET("/campaigns", a.campaigns, org...)
	g.GET("/campaigns/progress", a.campaignsProgress, org...)
	g.POST("/campaigns", a.createCampaign, org...)
	g.GET("/campaigns/:id", a.campaignPage, org...)
	g.POST("/campaigns/:id", a.updateCampaign, org...)
	g.GET("/campaigns/:id/progress", a.campaignProgress, org...)
	g.POST("/campaigns/:id/preview", a.previewScript, org...)
	g.POST("/campaigns/:id/state", a.setCampaignState, org...)
	g.POST("/campaigns/:id/import", a.importCSV, org...)
	g.GET("/campaigns/:id/imports/:import/rejects.csv", a.rejects, org...)
	g.POST("/campaigns/:id/texters", a.assign, org...)
	g.GET("/campaigns/:id/export/:kind", a.export, org...)
	g.GET("/campaigns/:id/review", a.review, org...)

	tx := []echo.MiddlewareFunc{a.session, requireRole(account.RoleTexter)}
	g.POST("/c/:id/more", a.more, tx...)
	g.GET("/c/:id/send", a.sendPage, tx...)
	g.POST("/c/:id/send/:contact", a.sendFirst, tx...)
	g.GET("/c/:id/replies", a.replies, tx...)
	g.GET("/c/:id/replies/list", a.replyList, tx...)
	g.GET("/c/:id/replies/:contact/thread", a.thread, tx...)
	g.POST("/c/:id/replies/:contact/answer", a.answer, tx...)
	g.POST("/c/:id/replies/:contact/reply", a.reply, tx...)
	g.POST("/c/:id/replies/:contact/tag", a.tag, tx...)
	g.POST("/c/:id/replies/:contact/optout", a.optOut, tx...)
	g.POST("/c/:id/replies/:contact/close", a.closeConv, tx...)
}

// cacheStatic lets browsers keep the embedded files for an hour.
func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// csp allows nothing but this origin: no inline script or style, no frames.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (a *App) secureHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(c.Request().URL.Path, Prefix+"/static/") {
			h.Set("Cache-Control", "no-store")
		}
		return next(c)
	}
}

// catch turns the error of a page, or of its middleware (session, CSRF,
// role), into an HTML error page.
func (a *App) catch(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := next(c); err != nil {
			a.renderError(c, err)
		}
		return nil
	}
}

// pageError is an error page with a status and a message for people.
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

var (
	errPageNotFound = &pageError{http.StatusNotFound, "There is no such page."}
	errForbidden    = &pageError{http.StatusForbidden, "Your account may not open this page."}
	errCSRF         = &pageError{http.StatusForbidden, "This form has expired or did not come from this site. Reload the page and try again."}
)

func (a *App) renderError(c echo.Context, err error) {
	var pe *pageError
	var ve *gateway.ValidationError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &pe):
	case errors.As(err, &ve):
		pe = &pageError{http.StatusUnprocessableEntity, ve.Field + ": " + ve.Reason}
	case errors.Is(err, gateway.ErrNotFound):
		pe = errPageNotFound
	case errors.As(err, &he) && he.Code < 500:
		pe = &pageError{he.Code, http.StatusText(he.Code)}
	case errors.Is(err, context.Canceled):
		return
	default:
		a.log.Error("web: page failed", "path", c.Path(), "err", err)
		pe = &pageError{http.StatusInternalServerError, "Something went wrong on the server. Try again; if it keeps happening, tell the organiser."}
	}
	if c.Response().Committed {
		return
	}
	if isHTMX(c) {
		// htmx swaps nothing on 4xx/5xx by default; app.js shows the message.
		c.Response().Header().Set("HX-Reswap", "none")
		_ = c.String(pe.status, pe.msg)
		return
	}
	u, _ := userOf(c)
	_ = a.render(c, pe.status, "error", page{Title: http.StatusText(pe.status), User: u, CSRF: csrfOf(c), Data: pe.msg})
}

func isHTMX(c echo.Context) bool { return c.Request().Header.Get("HX-Request") == "true" }

// page is what every template gets.
type page struct {
	Title string
	Nav   string // the current section, for aria-current
	User  *account.User
	CSRF  string
	Data  any
}

// render executes the page's layout, or, for an htmx request with block
// set, only that block.
func (a *App) render(c echo.Context, status int, name string, p page) error {
	return a.renderBlock(c, status, name, "layout", p)
}

func (a *App) renderBlock(c echo.Context, status int, name, block string, p any) error {
	t, ok := a.pages[name]
	if !ok {
		return fmt.Errorf("web: no page %q", name)
	}
	var sb strings.Builder
	if err := t.ExecuteTemplate(&sb, block, p); err != nil {
		return fmt.Errorf("web: render %s/%s: %w", name, block, err)
	}
	return c.HTML(status, sb.String())
}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"path": func(parts ...string) string { return Prefix + strings.Join(parts, "") },
		"time": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.Local().Format("2006-01-02 15:04")
		},
		"signal":   signalText,
		"simtail":  simTail,
		"list":     func(v ...any) []any { return v },
		"mask":     gateway.MaskNumber,
		"when":     when,
		"add":      func(a, b int) int { return a + b },
		"statuses": func() []campaign.Status { return campaign.Statuses },
	}
	base, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// signalText describes a +CSQ RSSI for people: "-71 dBm (good)".
func signalText(s gateway.ModemStatus) string {
	dbm, ok := s.SignalDBm()
	if !ok {
		return "unknown"
	}
	q := "poor"
	switch {
	case dbm >= -73:
		q = "excellent"
	case dbm >= -83:
		q = "good"
	case dbm >= -93:
		q = "fair"
	}
	return fmt.Sprintf("%d dBm (%s)", dbm, q)
}
