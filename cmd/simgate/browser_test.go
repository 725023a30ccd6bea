package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The browser tests drive Debian's Chromium (apt-get install chromium) with
// chromedp against the demo daemon on simulated modems. Without Chromium
// they skip, except under CI=true, where they fail. With
// SIMGATE_SCREENSHOTS=1 they write the screenshots shown in the README to
// api/web/screenshots/.

// chromiumPath finds the browser or skips (fails on CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is missing: .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("Chromium not found: apt-get install chromium to run the browser tests (CI does)")
	return ""
}

// demoDaemon is `simgate demo` running in this process.
type demoDaemon struct {
	addr, control string
	passwords     map[string]string // login → password, from the banner
}

var loginLineRE = regexp.MustCompile(`(?m)^  \S+\s+login (\S+)\s+password (\S+)$`)

// startDemo runs the demo with args until the test ends.
func startDemo(t *testing.T, args ...string) *demoDaemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"demo", "-listen", "127.0.0.1:0", "-control", "127.0.0.1:0"}, args...), &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if t.Failed() {
			t.Logf("the demo's log:\n%s", stderr.String())
		}
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("demo exited with %d: %s", code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("demo did not stop after cancel")
		}
	})
	ctlRE := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/sms`)
	waitFor(t, "the demo banner", 60*time.Second, func() bool {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("demo exited with %d: %s", code, stderr.String())
		default:
		}
		return ctlRE.MatchString(stdout.String())
	})
	out := stdout.String()
	d := &demoDaemon{
		addr:      regexp.MustCompile(`export SIMGATE_ADDR=(\S+)`).FindStringSubmatch(out)[1],
		control:   ctlRE.FindStringSubmatch(out)[1],
		passwords: map[string]string{},
	}
	for _, m := range loginLineRE.FindAllStringSubmatch(out, -1) {
		d.passwords[m[1]] = m[2]
	}
	if len(d.passwords) < 2 {
		t.Fatalf("no web logins in the banner:\n%s", out)
	}
	return d
}

// browser is one headless Chromium with its own profile; it records the
// URL of every request its tabs make.
type browser struct {
	t     *testing.T
	alloc context.Context
	root  context.Context

	mu   sync.Mutex
	urls []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		// Anything but the loopback address fails to resolve: nothing can
		// leave the host even if a page tried (the test checks it did not).
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancelRoot := chromedp.NewContext(alloc)
	b := &browser{t: t, alloc: alloc, root: root}
	if err := chromedp.Do(root); err != nil { // start the browser
		cancelRoot()
		cancelAlloc()
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelRoot()
		cancelAlloc()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, u := range b.urls {
			if !loopbackURL(u) {
				t.Errorf("a request left the host: %s", u)
			}
		}
		if len(b.urls) == 0 {
			t.Error("no request was recorded: the network check saw nothing")
		}
	})
	return b
}

func loopbackURL(raw string) bool {
	if strings.HasPrefix(raw, "data:") || strings.HasPrefix(raw, "about:") || strings.HasPrefix(raw, "blob:") {
		return true
	}
	u, err := url.Parse(raw)
	return err == nil && u.Hostname() == "127.0.0.1"
}

// tab is one browser context (its own cookies) with one tab.
type tab struct {
	b   *browser
	ctx context.Context
}

func (b *browser) tab() *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("new tab: %v", err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			b.mu.Lock()
			b.urls = append(b.urls, e.Request.URL)
			b.mu.Unlock()
		}
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return &tab{b: b, ctx: ctx}
}

// do runs steps, bounded, and fails the test on an error.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		html, _ := chromedp.Run(tb.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		tb.b.t.Fatalf("%s: %v\n%s", what, err, html)
	}
}

// eval evaluates a JavaScript expression.
func evalIn[T any](tb *tab, expr string) T {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls until the expression is true (across navigations: an
// evaluation that fails because the page is being replaced is retried).
func (tb *tab) waitJS(what, expr string) {
	tb.b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	html, _ := chromedp.Run(tb.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
	tb.b.t.Fatalf("waiting for %s (last error %v)\n%s", what, last, html)
}

// navigate runs steps that load a new page (a form post, a link) and waits
// until that page has loaded: a mark set on the old page must be gone.
func (tb *tab) navigate(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.b.t.Helper()
	evalIn[bool](tb, "window.__oldPage = true")
	tb.do(what, steps...)
	tb.waitJS(what+": the new page", `!window.__oldPage && document.readyState === "complete" && !!window.htmx`)
}

// clickHX clicks the element sel once htmx has taken over its form (so the
// click is an htmx request, not a page load).
func (tb *tab) clickHX(what, sel string) {
	tb.b.t.Helper()
	// The check and the click run in one turn of the page's event loop: a
	// poll that swaps the element in between (the operations view refreshes
	// every 5 s) would otherwise leave the click on a form htmx has not yet
	// taken over, which then posts as a page load.
	tb.waitJS(what, fmt.Sprintf(`(() => { const e = document.querySelector(%q); const f = e && e.closest("[hx-post],[hx-get]"); if (!(f && f["htmx-internal-data"] && f["htmx-internal-data"].initHash)) return false; e.click(); return true })()`, sel))
}

// accessible checks the page's basics: one main landmark and one h1, a
// lang, and every visible form control named by a label or aria-label.
func (tb *tab) accessible(page string) {
	tb.b.t.Helper()
	problems := evalIn[[]string](tb, `(() => {
		const out = [];
		if (document.querySelectorAll("main").length !== 1) out.push("not one <main>");
		if (document.querySelectorAll("h1").length !== 1) out.push("not one <h1>");
		if (!document.documentElement.lang) out.push("no lang");
		for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
			if (el.labels.length === 0 && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby"))
				out.push("unlabelled " + el.tagName.toLowerCase() + (el.name ? " " + el.name : ""));
		}
		for (const b of document.querySelectorAll("button")) {
			if (!b.textContent.trim() && !b.getAttribute("aria-label")) out.push("a button without a name");
		}
		return out })()`)
	for _, p := range problems {
		tb.b.t.Errorf("%s: %s", page, p)
	}
}

// ready waits until the page has loaded and htmx has processed it.
func (tb *tab) ready() {
	tb.b.t.Helper()
	tb.waitJS("the page and htmx", `document.readyState === "complete" && !!window.htmx`)
}

func (tb *tab) text(sel string) string {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (tb *tab) login(d *demoDaemon, login string) {
	tb.b.t.Helper()
	tb.do("log in as "+login,
		chromedp.Navigate(d.addr+"/app/"),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), login),
		chromedp.SendKeys(chromedp.CSS("#password"), d.passwords[login]),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("form.logout")),
	)
	tb.ready()
}

// shot saves a screenshot of the viewport as api/web/screenshots/name.png
// when SIMGATE_SCREENSHOTS is set.
func (tb *tab) shot(name string) {
	tb.b.t.Helper()
	if os.Getenv("SIMGATE_SCREENSHOTS") == "" {
		return
	}
	png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.b.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "..", "api", "web", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		tb.b.t.Fatal(err)
	}
}

// TestBrowserOperations: an organiser logs in, pauses and resumes a modem
// on the operations view without a reload, follows a modem's SIM link to
// the SIMs page, adds an opt-out (an invalid number is refused beside the
// field), and a texter cannot open it; the pages fit a 375-px-wide phone;
// no request leaves 127.0.0.1.
func TestBrowserOperations(t *testing.T) {
	if testing.Short() {
		t.Skip("a real browser and a demo daemon")
	}
	d := startDemo(t, "-modems", "2", "-latency", "20ms")
	b := newBrowser(t)
	org := b.tab()

	// Wrong password: the error is beside the form, focus stays usable.
	org.do("wrong password",
		chromedp.Navigate(d.addr+"/app/ops"),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), "organiser"),
		chromedp.SendKeys(chromedp.CSS("#password"), "not the password"),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")),
	)
	if got := org.text("#login-error"); got != "Wrong login or password." {
		t.Fatalf("login error: %q", got)
	}
	org.shot("login")
	org.do("log in",
		chromedp.SendKeys(chromedp.CSS("#password"), d.passwords["organiser"]),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#modem-sim1")),
	)
	if loc := evalIn[string](org, "location.pathname"); loc != "/app/ops" {
		t.Fatalf("after login: %s, want the page asked for", loc)
	}
	org.ready()
	org.waitJS("sim1 up", `document.querySelector("#modem-sim1 .state").textContent === "up"`)
	org.shot("modems")
	org.accessible("modems")

	// Pause and resume swap the table in place: a marker on the window survives.
	evalIn[bool](org, "window.__noReload = true")
	org.clickHX("pause sim1", `button[aria-label="Pause sim1"]`)
	org.waitJS("sim1 paused", `!!document.querySelector('#modem-sim1 button[aria-label="Resume sim1"]')`)
	org.clickHX("resume sim1", `button[aria-label="Resume sim1"]`)
	org.waitJS("sim1 resumed", `!!document.querySelector('#modem-sim1 button[aria-label="Pause sim1"]')`)
	if !evalIn[bool](org, "window.__noReload === true") {
		t.Fatal("pausing reloaded the page")
	}

	// The SIMs page, from sim1's row: its SIM is listed in sim1.
	simLink := `#modem-sim1 a[href^="/app/ops/sims#sim-"]`
	org.waitJS("sim1's SIM link", `!!document.querySelector('`+simLink+`')`)
	simID := strings.TrimPrefix(evalIn[string](org, `document.querySelector('`+simLink+`').getAttribute("href")`), "/app/ops/sims#sim-")
	org.do("SIMs page", chromedp.Click(chromedp.CSS(simLink)), chromedp.WaitVisible(chromedp.CSS("table.sims")))
	org.ready()
	if loc := evalIn[string](org, "location.pathname"); loc != "/app/ops/sims" {
		t.Fatalf("the SIM link opened %s", loc)
	}
	if row := evalIn[string](org, `(document.getElementById("sim-`+simID+`") || {textContent: ""}).textContent`); !strings.Contains(row, "sim1") {
		t.Fatalf("SIM %s's row does not show it in sim1: %q", simID, row)
	}
	org.shot("sims")
	org.accessible("sims")

	// Opt-outs: a bad number is refused beside the field, a good one listed.
	org.do("bad opt-out",
		chromedp.Navigate(d.addr+"/app/ops/optouts"),
		chromedp.SendKeys(chromedp.CSS("#number"), "12"),
		chromedp.Click(chromedp.CSS("main form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#number-error")),
	)
	if inv := evalIn[string](org, `document.querySelector("#number").getAttribute("aria-describedby")`); inv != "number-error" {
		t.Fatalf("the error is not tied to the field: %q", inv)
	}
	org.do("good opt-out",
		chromedp.WaitVisible(chromedp.CSS("#number-error")),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#number").value = ""`),
		chromedp.SendKeys(chromedp.CSS("#number"), "+1 555 123 0042"),
		chromedp.Click(chromedp.CSS("main form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".ok")),
	)
	if !strings.Contains(org.text("main table"), "+15551230042") {
		t.Fatal("the opt-out is not listed")
	}

	// A phone: nothing wider than 375 px but the scrolling table regions.
	org.do("phone viewport", chromedp.EmulateViewport(375, 740), chromedp.Navigate(d.addr+"/app/ops"), chromedp.WaitVisible(chromedp.CSS("#modem-sim1")))
	if w := evalIn[int](org, "document.documentElement.scrollWidth"); w > 375 {
		t.Errorf("the operations page is %d px wide at 375 px", w)
	}
	org.shot("modems-phone")
	org.do("SIMs on a phone", chromedp.Navigate(d.addr+"/app/ops/sims"), chromedp.WaitVisible(chromedp.CSS("table.sims")))
	if w := evalIn[int](org, "document.documentElement.scrollWidth"); w > 375 {
		t.Errorf("the SIMs page is %d px wide at 375 px", w)
	}

	// A texter sees neither the operations view nor its links.
	tx := b.tab()
	tx.login(d, "texter")
	if evalIn[bool](tx, `!!document.querySelector('a[href="/app/ops"]')`) {
		t.Fatal("a texter sees the operations link")
	}
	tx.do("texter opens ops", chromedp.Navigate(d.addr+"/app/ops"), chromedp.WaitVisible(chromedp.CSS("main .error")))
	if got := tx.text("h1"); got != "Forbidden" {
		t.Fatalf("texter on /app/ops: %q", got)
	}
	// Keyboard: ? opens the shortcuts page.
	tx.do("? key", chromedp.Navigate(d.addr+"/app/"), chromedp.WaitVisible(chromedp.CSS("main")), chromedp.KeyEvent("?"))
	tx.waitJS("help page", `location.pathname === "/app/help"`)
}
