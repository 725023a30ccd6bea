package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/simgate/simgate/gateway/account"
)

// Cookie names.
const (
	sessionCookie   = "simgate_session"
	loginCSRFCookie = "simgate_login_csrf" // double-submit token of the login form
	csrfHeader      = "X-CSRF-Token"
	csrfField       = "csrf"
)

const (
	ctxUser    = "web.user"
	ctxSession = "web.session"
)

func userOf(c echo.Context) (*account.User, bool) {
	u, ok := c.Get(ctxUser).(*account.User)
	return u, ok
}

func csrfOf(c echo.Context) string {
	if s, ok := c.Get(ctxSession).(*account.Session); ok {
		return s.CSRF
	}
	return ""
}

func (a *App) secure(c echo.Context) bool { return a.cfg.SecureCookies || c.Request().TLS != nil }

func (a *App) setCookie(c echo.Context, name, value string, expires time.Time) {
	ck := &http.Cookie{
		Name: name, Value: value, Path: Prefix + "/",
		HttpOnly: true, Secure: a.secure(c), SameSite: http.SameSiteLaxMode,
	}
	if value == "" {
		ck.MaxAge = -1
	} else if !expires.IsZero() {
		ck.Expires = expires
	}
	c.SetCookie(ck)
}

// session loads the session and its user, sending a browser without one to
// the login page, and checks the CSRF token of every state change.
func (a *App) session(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(sessionCookie)
		if err != nil {
			return a.toLogin(c)
		}
		sess, u, err := a.accounts.Session(c.Request().Context(), ck.Value)
		if errors.Is(err, account.ErrSessionExpired) {
			a.setCookie(c, sessionCookie, "", time.Time{})
			return a.toLogin(c)
		}
		if err != nil {
			return err
		}
		c.Set(ctxUser, &u)
		c.Set(ctxSession, &sess)
		if unsafeMethod(c.Request().Method) {
			if !sameOrigin(c.Request()) {
				return errCSRF
			}
			tok := c.Request().Header.Get(csrfHeader)
			if tok == "" {
				tok = c.FormValue(csrfField)
			}
			if subtle.ConstantTimeCompare([]byte(tok), []byte(sess.CSRF)) != 1 {
				return errCSRF
			}
		}
		return next(c)
	}
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// sameOrigin refuses requests a browser marks as cross-site: a
// Sec-Fetch-Site other than same-origin/none, or an Origin whose host is
// not the request's.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// toLogin sends the browser to the login page, back here afterwards.
func (a *App) toLogin(c echo.Context) error {
	next := c.Request().URL.RequestURI()
	if c.Request().Method != http.MethodGet || !strings.HasPrefix(next, Prefix) {
		next = Prefix + "/"
	}
	to := Prefix + "/login?next=" + url.QueryEscape(next)
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusUnauthorized)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// requireRole answers 403 unless the user has role.
func requireRole(role account.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			u, ok := userOf(c)
			if !ok || u.Role != role {
				return errForbidden
			}
			return next(c)
		}
	}
}

// loginForm is the login page's model.
type loginForm struct {
	Login, Next, Token, Error string
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// safeNext keeps a post-login redirect inside the app.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix+"/") && next != Prefix || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix + "/"
	}
	return next
}

func (a *App) loginPage(c echo.Context) error {
	tok := randomToken()
	a.setCookie(c, loginCSRFCookie, tok, time.Time{})
	return a.render(c, http.StatusOK, "login", page{Title: "Log in", Data: loginForm{Next: safeNext(c.QueryParam("next")), Token: tok}})
}

func (a *App) login(c echo.Context) error {
	f := loginForm{Login: strings.TrimSpace(c.FormValue("login")), Next: safeNext(c.FormValue("next"))}
	ck, err := c.Cookie(loginCSRFCookie)
	if err != nil || !sameOrigin(c.Request()) || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(c.FormValue(csrfField))) != 1 {
		return errCSRF
	}
	f.Token = ck.Value
	ip := clientIP(c.Request())
	if wait := a.limiter.allow(ip, account.NormalizeLogin(f.Login), a.now()); wait > 0 {
		f.Error = "Too many login attempts. Try again in " + wait.Round(time.Second).String() + "."
		c.Response().Header().Set("Retry-After", strings.TrimSuffix(wait.Round(time.Second).String(), "s"))
		return a.render(c, http.StatusTooManyRequests, "login", page{Title: "Log in", Data: f})
	}
	tok, sess, u, err := a.accounts.Login(c.Request().Context(), f.Login, c.FormValue("password"))
	switch {
	case errors.Is(err, account.ErrBadCredentials):
		f.Error = "Wrong login or password."
		a.log.Info("web: login failed", "reason", "credentials")
		return a.render(c, http.StatusUnauthorized, "login", page{Title: "Log in", Data: f})
	case errors.Is(err, account.ErrDisabled):
		f.Error = "This account is disabled. Ask an organiser."
		a.log.Info("web: login failed", "reason", "disabled", "user", u.ID)
		return a.render(c, http.StatusForbidden, "login", page{Title: "Log in", Data: f})
	case err != nil:
		return err
	}
	a.setCookie(c, loginCSRFCookie, "", time.Time{})
	a.setCookie(c, sessionCookie, tok, sess.ExpiresAt)
	// Expired sessions go as people log in: no background loop needed.
	if _, err := a.accounts.PruneSessions(c.Request().Context()); err != nil {
		a.log.Warn("web: prune sessions", "err", err)
	}
	a.log.Info("web: login", "user", u.ID, "role", string(u.Role))
	return c.Redirect(http.StatusSeeOther, f.Next)
}

func (a *App) logout(c echo.Context) error {
	if ck, err := c.Cookie(sessionCookie); err == nil {
		if err := a.accounts.Logout(c.Request().Context(), ck.Value); err != nil {
			return err
		}
	}
	a.setCookie(c, sessionCookie, "", time.Time{})
	return c.Redirect(http.StatusSeeOther, Prefix+"/login")
}

// clientIP is the peer's address: X-Forwarded-For is not trusted (anyone
// can send it), so behind a proxy every client shares the proxy's budget.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// loginLimiter bounds login attempts per client address and per login.
type loginLimiter struct {
	burst int
	every time.Duration

	mu      sync.Mutex
	byKey   map[string]*limitEntry
	lastGC  time.Time
	maxKeys int
}

type limitEntry struct {
	l    *rate.Limiter
	seen time.Time
}

func newLoginLimiter(burst int, every time.Duration) *loginLimiter {
	return &loginLimiter{burst: burst, every: every, byKey: map[string]*limitEntry{}, maxKeys: 10000}
}

// allow takes one attempt from the address's and the login's budgets and
// returns 0, or how long to wait when either is spent.
func (l *loginLimiter) allow(ip, login string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.byKey) > l.maxKeys || now.Sub(l.lastGC) > 10*time.Minute {
		l.gc(now)
	}
	perLogin := max(l.burst/5, 3)
	var wait time.Duration
	var taken []*rate.Reservation
	for _, k := range []struct {
		key   string
		burst int
	}{{"ip:" + ip, l.burst}, {"login:" + login, perLogin}} {
		e := l.byKey[k.key]
		if e == nil {
			e = &limitEntry{l: rate.NewLimiter(rate.Every(l.every), k.burst)}
			l.byKey[k.key] = e
		}
		e.seen = now
		r := e.l.ReserveN(now, 1)
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			wait = max(wait, d)
			continue
		}
		taken = append(taken, r)
	}
	if wait > 0 {
		for _, r := range taken {
			r.CancelAt(now)
		}
	}
	return wait
}

// gc forgets limiters idle long enough to be full again.
func (l *loginLimiter) gc(now time.Time) {
	l.lastGC = now
	full := l.every * time.Duration(l.burst)
	for k, e := range l.byKey {
		if now.Sub(e.seen) > full {
			delete(l.byKey, k)
		}
	}
	// Under a flood of distinct keys, forget the oldest half rather than grow.
	if len(l.byKey) > l.maxKeys {
		n := 0
		for k := range l.byKey {
			delete(l.byKey, k)
			if n++; n > l.maxKeys/2 {
				break
			}
		}
	}
}
