package web_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/api/web"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
	"github.com/simgate/simgate/gateway/balance"
	"github.com/simgate/simgate/gateway/campaign"
	"github.com/simgate/simgate/modem"
	"github.com/simgate/simgate/modem/modemsim"
	"github.com/simgate/simgate/store"
)

var cheap = account.PasswordParams{Memory: 64, Time: 1, Threads: 1}

type env struct {
	t        testing.TB
	db       *store.DB
	disp     *gateway.Dispatcher
	accounts *account.Service
	camps    *campaign.Service
	srv      *httptest.Server
}

// newEnv serves the app over a real store and dispatcher; with sim, one
// simulated modem "sim1" joins the pool.
func newEnv(t testing.TB, cfg web.Config, sim bool) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "simgate.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	gc := gateway.DefaultConfig()
	gc.DefaultRegion = "US"
	gc.Location = time.UTC
	gc.CloseTimeout = 5 * time.Second
	disp, err := gateway.NewDispatcher(gc, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sim {
		network := modemsim.NewNetwork(modemsim.NetworkOptions{DeliveryDelay: 10 * time.Millisecond})
		t.Cleanup(func() { network.Close() })
		m := network.AddModem(modemsim.ModemConfig{Name: "sim1"})
		m.SetFaults(modemsim.Faults{SendLatency: 20 * time.Millisecond})
		link := filepath.Join(dir, "tty-sim1")
		if _, err := m.ServePTY(link); err != nil {
			t.Fatal(err)
		}
		inbox := gateway.NewInbox(gateway.InboxConfig{DefaultRegion: "US"}, db, disp, disp, nil)
		dev, err := modem.Open(context.Background(), modem.Config{
			Name: "sim1", Port: link, Globs: []string{link},
			CommandTimeout: 2 * time.Second, PollInterval: 300 * time.Millisecond, HealthInterval: 200 * time.Millisecond,
		}, inbox, disp)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dev.Close() })
		disp.AddDevice(dev, gateway.ModemConfig{Name: "sim1"})
		eventually(t, "modem up", func() bool { return dev.Status().Usable() })
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- disp.Run(ctx) }()
	t.Cleanup(func() {
		_ = disp.Close()
		cancel()
		if err := <-done; err != nil && !errors.Is(err, gateway.ErrClosed) && !errors.Is(err, context.Canceled) {
			t.Errorf("dispatcher: %v", err)
		}
	})
	accounts := account.NewService(db, account.Config{Password: cheap})
	camps, err := campaign.New(campaign.Config{DefaultRegion: "US", Hours: campaign.Hours{Start: "00:00", End: "24:00", TimeZone: "UTC"}},
		campaign.Deps{Store: db, Sender: disp, Messages: db, OptOuts: db, Fleet: disp})
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultRegion = "US"
	app, err := web.New(cfg, web.Deps{Accounts: accounts, Fleet: disp, OptOuts: db, Campaigns: camps, Balances: testBalances})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	app.Mount(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, disp: disp, accounts: accounts, camps: camps, srv: srv}
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) user(login string, role account.Role) {
	e.t.Helper()
	if _, err := e.accounts.Create(context.Background(), account.NewUser{Login: login, Name: strings.ToUpper(login[:1]) + login[1:], Role: role, Password: login + "-password"}); err != nil {
		e.t.Fatal(err)
	}
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	e    *env
	c    *http.Client
	csrf string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var (
	csrfInput  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	csrfHeader = regexp.MustCompile(`"X-CSRF-Token": "([^"]+)"`)
)

func (b *browser) do(method, path string, form url.Values, hdr map[string]string) (int, string, http.Header) {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if m := csrfHeader.FindStringSubmatch(string(raw)); m != nil {
		b.csrf = m[1]
	}
	return resp.StatusCode, string(raw), resp.Header
}

func (b *browser) get(path string) (int, string, http.Header) { return b.do("GET", path, nil, nil) }

// post sends a form with the page's CSRF token.
func (b *browser) post(path string, form url.Values) (int, string, http.Header) {
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.csrf)
	return b.do("POST", path, form, nil)
}

func (b *browser) login(login, password string) (int, string, http.Header) {
	b.e.t.Helper()
	_, page, _ := b.get("/app/login")
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		b.e.t.Fatalf("no csrf field on the login page:\n%s", page)
	}
	code, body, h := b.do("POST", "/app/login", url.Values{"login": {login}, "password": {password}, "csrf": {m[1]}}, nil)
	if code == http.StatusSeeOther {
		_, _, _ = b.get("/app/help") // pick up the session's CSRF token
	}
	return code, body, h
}

func TestLoginSessionCookieAndLogout(t *testing.T) {
	e := newEnv(t, web.Config{}, false)
	e.user("olu", account.RoleOrganiser)
	b := e.browser()

	code, _, h := b.get("/app/ops")
	if code != http.StatusSeeOther || h.Get("Location") != "/app/login?next=%2Fapp%2Fops" {
		t.Fatalf("logged out: %d %s", code, h.Get("Location"))
	}
	code, body, _ := b.login("olu", "wrong password")
	if code != http.StatusUnauthorized || !strings.Contains(body, "Wrong login or password.") || !strings.Contains(body, `aria-invalid="true"`) {
		t.Fatalf("wrong password: %d\n%s", code, body)
	}
	_, page, _ := b.get("/app/login?next=/app/ops")
	tok := csrfInput.FindStringSubmatch(page)[1]
	code, _, h = b.do("POST", "/app/login", url.Values{"login": {"OLU"}, "password": {"olu-password"}, "csrf": {tok}, "next": {"/app/ops"}}, nil)
	if code != http.StatusSeeOther || h.Get("Location") != "/app/ops" {
		t.Fatalf("login: %d %s", code, h.Get("Location"))
	}
	ck := findCookie(h, "simgate_session")
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure || ck.Path != "/app/" {
		t.Fatalf("session cookie %+v", ck)
	}
	if code, body, _ := b.get("/app/ops"); code != http.StatusOK || !strings.Contains(body, "<h1>Modems</h1>") || !strings.Contains(body, `<main id="main"`) {
		t.Fatalf("ops after login: %d", code)
	}
	if code, _, h := b.post("/app/logout", nil); code != http.StatusSeeOther || h.Get("Location") != "/app/login" {
		t.Fatalf("logout: %d", code)
	}
	if code, _, _ := b.get("/app/ops"); code != http.StatusSeeOther {
		t.Fatalf("after logout: %d", code)
	}
	// The old token opens nothing either.
	if _, _, err := e.accounts.Session(context.Background(), ck.Value); !errors.Is(err, account.ErrSessionExpired) {
		t.Fatalf("session after logout: %v", err)
	}

	// An open redirect is refused.
	_, page, _ = b.get("/app/login")
	tok = csrfInput.FindStringSubmatch(page)[1]
	if _, _, h := b.do("POST", "/app/login", url.Values{"login": {"olu"}, "password": {"olu-password"}, "csrf": {tok}, "next": {"//evil.example/x"}}, nil); h.Get("Location") != "/app/" {
		t.Fatalf("next=//evil: redirected to %q", h.Get("Location"))
	}
}

func TestSecureCookiesOption(t *testing.T) {
	e := newEnv(t, web.Config{SecureCookies: true}, false)
	e.user("olu", account.RoleOrganiser)
	_, _, h := e.browser().login("olu", "olu-password")
	if ck := findCookie(h, "simgate_session"); ck == nil || !ck.Secure {
		t.Fatalf("cookie %+v: want Secure", ck)
	}
}

func findCookie(h http.Header, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestCSRFRefused(t *testing.T) {
	e := newEnv(t, web.Config{}, false)
	e.user("olu", account.RoleOrganiser)
	b := e.browser()
	if code, _, _ := b.login("olu", "olu-password"); code != http.StatusSeeOther {
		t.Fatalf("login: %d", code)
	}
	add := url.Values{"number": {"+15551230001"}}
	for name, tc := range map[string]struct {
		form url.Values
		hdr  map[string]string
	}{
		"no token":          {url.Values{"number": {"+15551230001"}}, nil},
		"wrong token":       {url.Values{"number": {"+15551230001"}, "csrf": {"x" + b.csrf}}, nil},
		"cross-site origin": {url.Values{"number": {"+15551230001"}, "csrf": {b.csrf}}, map[string]string{"Origin": "http://evil.example"}},
		"cross-site fetch":  {url.Values{"number": {"+15551230001"}, "csrf": {b.csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
	} {
		code, body, _ := b.do("POST", "/app/ops/optouts", tc.form, tc.hdr)
		if code != http.StatusForbidden || !strings.Contains(body, "did not come from this site") {
			t.Errorf("%s: %d", name, code)
		}
	}
	if ok, _ := e.db.OptedOut(context.Background(), "+15551230001"); ok {
		t.Fatal("a refused request added an opt-out")
	}
	// The header form (htmx) and the field form both pass.
	if code, _, _ := b.do("POST", "/app/ops/optouts", add, map[string]string{"X-CSRF-Token": b.csrf, "Origin": e.srv.URL}); code != http.StatusOK {
		t.Fatalf("with header: %d", code)
	}
	if code, body, _ := b.post("/app/ops/optouts", url.Values{"number": {"555 123 0002"}}); code != http.StatusOK || !strings.Contains(html.UnescapeString(body), "Added +15551230002") {
		t.Fatalf("with field: %d", code)
	}
	for _, n := range []string{"+15551230001", "+15551230002"} {
		if ok, _ := e.db.OptedOut(context.Background(), n); !ok {
			t.Errorf("%s not opted out", n)
		}
	}
	// Login itself needs its double-submit token.
	if code, _, _ := e.browser().do("POST", "/app/login", url.Values{"login": {"olu"}, "password": {"olu-password"}}, nil); code != http.StatusForbidden {
		t.Fatalf("login without token: %d", code)
	}
}

func TestOptOutErrorBesideField(t *testing.T) {
	e := newEnv(t, web.Config{}, false)
	e.user("olu", account.RoleOrganiser)
	b := e.browser()
	b.login("olu", "olu-password")
	code, body, _ := b.post("/app/ops/optouts", url.Values{"number": {"not a number"}})
	if code != http.StatusUnprocessableEntity || !regexp.MustCompile(`id="number"[^>]*aria-invalid="true" aria-describedby="number-error"`).MatchString(body) ||
		!strings.Contains(body, `<p class="error" id="number-error">`) || !strings.Contains(body, `value="not a number"`) {
		t.Fatalf("bad number: %d\n%s", code, body)
	}
}

func TestLoginRateLimited(t *testing.T) {
	e := newEnv(t, web.Config{LoginBurst: 5, LoginEvery: time.Hour}, false)
	e.user("olu", account.RoleOrganiser)
	b := e.browser()
	limited := 0
	for range 8 {
		code, body, h := b.login("olu", "guess")
		if code == http.StatusTooManyRequests {
			limited++
			if !strings.Contains(body, "Too many login attempts") || h.Get("Retry-After") == "" {
				t.Fatalf("429 without a message or Retry-After:\n%s", body)
			}
		}
	}
	// A login's budget is a fifth of the address's, at least 3.
	if limited != 5 {
		t.Fatalf("%d of 8 attempts limited, want 5 (3 allowed per login)", limited)
	}
	// Even the right password waits.
	if code, _, _ := b.login("olu", "olu-password"); code != http.StatusTooManyRequests {
		t.Fatalf("right password while limited: %d", code)
	}
}

func TestRolesEnforced(t *testing.T) {
	e := newEnv(t, web.Config{}, false)
	e.user("ana", account.RoleTexter)
	b := e.browser()
	if code, _, h := b.login("ana", "ana-password"); code != http.StatusSeeOther || h.Get("Location") != "/app/" {
		t.Fatalf("login: %d", code)
	}
	if code, body, _ := b.get("/app/"); code != http.StatusOK || strings.Contains(body, "/app/ops") {
		t.Fatalf("texter home: %d (organiser links shown?)", code)
	}
	for _, p := range []string{"/app/ops", "/app/ops/modems", "/app/ops/sims", "/app/ops/optouts", "/app/users"} {
		if code, _, _ := b.get(p); code != http.StatusForbidden {
			t.Errorf("texter GET %s: %d", p, code)
		}
	}
	for _, p := range []string{"/app/ops/modems/sim1/pause", "/app/ops/optouts", "/app/users"} {
		if code, _, _ := b.post(p, url.Values{"number": {"+15551230003"}, "login": {"x"}}); code != http.StatusForbidden {
			t.Errorf("texter POST %s: %d", p, code)
		}
	}
	if code, _, _ := b.get("/app/nowhere"); code != http.StatusNotFound {
		t.Errorf("unknown page: %d", code)
	}
}

// testBalances: sim1's last balance check read 4.20 at 08:30 UTC.
var testBalances = fixedBalances{"sim1": {Amount: 4.2, Known: true, Text: "Your balance is 4.20", At: time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC)}}

type fixedBalances map[string]balance.Result

func (f fixedBalances) Last(modem string) (balance.Result, bool) { r, ok := f[modem]; return r, ok }

// TestOpsModemHealthBalanceAndBlock: the modems page shows each SIM's
// health score with its parts, its balance and when it was read, and the
// reason of a suspected-block pause.
func TestOpsModemHealthBalanceAndBlock(t *testing.T) {
	if testing.Short() {
		t.Skip("PTYs and a simulated network")
	}
	e := newEnv(t, web.Config{}, true)
	e.user("olu", account.RoleOrganiser)
	b := e.browser()
	b.login("olu", "olu-password")
	eventually(t, "signal known", func() bool {
		m, _ := e.disp.Modem("sim1")
		return m.Health.Signal != nil
	})
	m, _ := e.disp.Modem("sim1")
	code, body, _ := b.get("/app/ops/modems")
	want := []string{fmt.Sprintf(`<td class="health"><strong>%d</strong>`, m.Health.Score), "signal ", "registration 100%",
		`<td class="balance">4.20`, "read " /* the time as the app formats it */}
	for _, w := range want {
		if code != http.StatusOK || !strings.Contains(body, w) {
			t.Fatalf("modems: %d, want %q in\n%s", code, w, body)
		}
	}
	reason := gateway.RepliesStoppedReason + ": 0 of last 50 sends got a reply while the pool got 22%"
	if err := e.disp.Pause("sim1", reason, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, body, _ := b.get("/app/ops/modems"); !strings.Contains(body, reason) || !strings.Contains(body, `<td class="health"><strong>0</strong>`) {
		t.Fatalf("block reason or score 0 missing:\n%s", body)
	}
}

func TestOpsPauseResumeOnSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("PTYs and a simulated network")
	}
	e := newEnv(t, web.Config{}, true)
	e.user("olu", account.RoleOrganiser)
	b := e.browser()
	b.login("olu", "olu-password")
	code, body, _ := b.get("/app/ops")
	if code != http.StatusOK || !strings.Contains(body, `<tr id="modem-sim1">`) || !strings.Contains(body, "dBm") || !strings.Contains(body, `aria-label="Pause sim1"`) {
		t.Fatalf("ops: %d\n%s", code, body)
	}
	code, body, _ = b.do("POST", "/app/ops/modems/sim1/pause", url.Values{"reason": {"SIM swap"}}, map[string]string{"HX-Request": "true", "X-CSRF-Token": b.csrf})
	if code != http.StatusOK || strings.Contains(body, "<html") || !strings.Contains(body, "SIM swap") || !strings.Contains(body, `aria-label="Resume sim1"`) {
		t.Fatalf("pause (htmx): %d\n%s", code, body)
	}
	if m, _ := e.disp.Modem("sim1"); !m.Paused || m.PauseReason != "SIM swap" {
		t.Fatalf("dispatcher after pause: %+v", m)
	}
	if code, _, h := b.post("/app/ops/modems/sim1/resume", nil); code != http.StatusSeeOther || h.Get("Location") != "/app/ops" {
		t.Fatalf("resume (form): %d", code)
	}
	if m, _ := e.disp.Modem("sim1"); m.Paused {
		t.Fatal("still paused")
	}
	if code, _, _ := b.post("/app/ops/modems/nope/pause", nil); code != http.StatusNotFound {
		t.Fatalf("unknown modem: %d", code)
	}
}

func TestPeoplePage(t *testing.T) {
	e := newEnv(t, web.Config{}, false)
	e.user("olu", account.RoleOrganiser)
	b := e.browser()
	b.login("olu", "olu-password")
	code, body, _ := b.post("/app/users", url.Values{"login": {"ben"}, "name": {"Ben"}, "role": {"texter"}, "password": {"short"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="u-password-error"`) || !strings.Contains(body, `value="ben"`) {
		t.Fatalf("short password: %d\n%s", code, body)
	}
	if code, body, _ := b.post("/app/users", url.Values{"login": {"ben"}, "name": {"Ben"}, "role": {"texter"}, "password": {"ben-password"}}); code != http.StatusOK || !strings.Contains(body, "Created ben") {
		t.Fatalf("create: %d", code)
	}
	if code, body, _ := b.post("/app/users", url.Values{"login": {"BEN"}, "name": {"Ben"}, "role": {"texter"}, "password": {"ben-password"}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "This login is taken.") {
		t.Fatalf("duplicate: %d", code)
	}
	ben, err := e.accounts.UserByLogin(context.Background(), "ben")
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := b.post("/app/users/"+ben.ID+"/disable", nil); code != http.StatusSeeOther {
		t.Fatalf("disable: %d", code)
	}
	if code, _, _ := e.browser().login("ben", "ben-password"); code != http.StatusForbidden {
		t.Fatalf("disabled login: %d", code)
	}
}

func webConfigForBench() web.Config { return web.Config{} }
