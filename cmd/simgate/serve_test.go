package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/simgate/simgate/api/webhook"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store"
)

// testGateway is serve running in process on simulated modems.
type testGateway struct {
	cfg    Config
	sim    *demoSim
	base   string // http://addr
	key    string // admin, send, read
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
	// next is what the reload function returns (guarded by mu).
	mu       sync.Mutex
	next     Config
	reloaded chan [2][]string
}

// startGateway starts serve on nModems simulated modems (sim1..), of which
// the first useModems are configured; edit adjusts the configuration.
func startGateway(t *testing.T, nModems, useModems int, edit func(*Config), opts ...func(*serveOptions)) *testGateway {
	t.Helper()
	dir := t.TempDir()
	sim, err := startDemoSim(nModems, dir, 10*time.Millisecond, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Store.Path = filepath.Join(dir, "simgate.db")
	cfg.Pacing = PacingConfig{}
	cfg.ShutdownTimeout = Duration(5 * time.Second)
	for _, m := range sim.modems[:useModems] {
		cfg.Modems = append(cfg.Modems, ModemConfig{Name: m.name, Port: m.link})
	}
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	db, err := openStore(context.Background(), cfg.Store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := createKey(context.Background(), db, "test", []string{"admin", "send", "read"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	g := &testGateway{cfg: cfg, sim: sim, key: key.secret, done: make(chan error, 1), logs: &syncBuffer{}, next: cfg, reloaded: make(chan [2][]string, 4)}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	ready := make(chan string, 1)
	o := serveOptions{
		log:   slog.New(slog.NewTextHandler(g.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		level: new(slog.LevelVar),
		reload: func() (Config, error) {
			g.mu.Lock()
			defer g.mu.Unlock()
			c := g.next
			if err := c.Validate(); err != nil { // as LoadConfig does
				return Config{}, err
			}
			return c, nil
		},
		ready:    func(addr string) { ready <- addr },
		reloaded: func(a, r []string) { g.reloaded <- [2][]string{a, r} },
	}
	for _, f := range opts {
		f(&o)
	}
	go func() { g.done <- serve(ctx, cfg, o) }()
	select {
	case addr := <-ready:
		g.base = "http://" + addr
	case err := <-g.done:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve not ready")
	}
	t.Cleanup(func() { g.stop(t) })
	return g
}

func (g *testGateway) stop(t *testing.T) {
	t.Helper()
	if g.cancel == nil {
		return
	}
	g.cancel()
	g.cancel = nil
	select {
	case err := <-g.done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("serve did not stop")
	}
}

func (g *testGateway) modemNames(t *testing.T) []string {
	t.Helper()
	var list []gateway.ModemView
	var page struct {
		Modems []gateway.ModemView `json:"modems"`
		Data   []gateway.ModemView `json:"data"`
	}
	raw := getRaw(t, g.base+"/v1/modems", g.key)
	if err := jsonUnmarshal(raw, &list); err != nil {
		if err := jsonUnmarshal(raw, &page); err != nil {
			t.Fatalf("GET /v1/modems: %s", raw)
		}
		list = append(page.Modems, page.Data...)
	}
	var names []string
	for _, m := range list {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names
}

func getRaw(t *testing.T, url, key string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// sighup sends SIGHUP to this process (serve has a handler) and waits for the reload.
func (g *testGateway) sighup(t *testing.T, next Config) (applied, restart []string) {
	t.Helper()
	g.mu.Lock()
	g.next = next
	g.mu.Unlock()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-g.reloaded:
		return r[0], r[1]
	case <-time.After(30 * time.Second):
		t.Fatal("no reload after SIGHUP")
	}
	return nil, nil
}

func TestServeReloadOnSIGHUP(t *testing.T) {
	five := 5
	g := startGateway(t, 3, 2, func(c *Config) { c.Modems[1].Pacing.PerMinute = &five })
	if got := g.modemNames(t); !slices.Equal(got, []string{"sim1", "sim2"}) {
		t.Fatalf("modems %v", got)
	}
	// Accept a message before the reload; it must still be sent after.
	var msg struct{ ID, Status string }
	if code := httpJSON(t, "POST", g.base+"/v1/messages", g.key, map[string]string{"to": demoContact, "body": "across a reload"}, &msg); code != http.StatusAccepted {
		t.Fatalf("POST: %d", code)
	}

	next := g.cfg
	next.Modems = []ModemConfig{
		{Name: "sim2", Port: g.sim.modems[1].link, Groups: []string{"east"}, Pacing: PacingOverride{PerMinute: new(5)}},
		{Name: "sim3", Port: g.sim.modems[2].link},
	}
	next.Pacing.PerDay = 77
	next.Log.Level = "debug"
	next.Listen = "127.0.0.1:1" // needs a restart: reported, not applied
	applied, restart := g.sighup(t, next)
	for _, want := range []string{"pacing", "log.level", "modems: removed sim1", "modems: added sim3", "modems: groups/pacing of sim2"} {
		if !slices.Contains(applied, want) {
			t.Errorf("applied %q, want it to include %q", applied, want)
		}
	}
	if !slices.Contains(restart, "listen") {
		t.Errorf("needs restart %q, want listen", restart)
	}
	if got := g.modemNames(t); !slices.Equal(got, []string{"sim2", "sim3"}) {
		t.Fatalf("modems after reload %v, want [sim2 sim3]", got)
	}
	var view gateway.ModemView
	if err := jsonUnmarshal(getRaw(t, g.base+"/v1/modems/sim3", g.key), &view); err != nil || view.Budget.PerDay != 77 {
		t.Errorf("sim3 per_day %d (%v), want the reloaded default 77", view.Budget.PerDay, err)
	}
	// sim2 keeps its own per_minute and follows the new default per_day.
	if err := jsonUnmarshal(getRaw(t, g.base+"/v1/modems/sim2", g.key), &view); err != nil || view.Budget.PerDay != 77 || view.Budget.PerMinute != 5 {
		t.Errorf("sim2 budget %+v (%v), want per_day 77 and its own per_minute 5", view.Budget, err)
	}
	waitFor(t, "the message accepted before the reload to be sent", 30*time.Second, func() bool {
		httpJSON(t, "GET", g.base+"/v1/messages/"+msg.ID, g.key, nil, &msg)
		return msg.Status == "sent" || msg.Status == "delivered"
	})

	// A driver setting changed: the modem is closed and opened again, and comes back up.
	reopen := next
	reopen.Modems = slices.Clone(next.Modems)
	reopen.Modems[1].Baud = 9600
	if applied, _ := g.sighup(t, reopen); !slices.Contains(applied, "modems: reopened sim3") {
		t.Errorf("applied %q, want sim3 reopened", applied)
	}
	waitFor(t, "sim3 up again", 30*time.Second, func() bool {
		var v gateway.ModemView
		return jsonUnmarshal(getRaw(t, g.base+"/v1/modems/sim3", g.key), &v) == nil && v.Status.State == gateway.ModemUp
	})
	next = reopen

	// A broken configuration is refused and the running one kept.
	bad := next
	bad.Modems = append(bad.Modems, ModemConfig{Name: "sim2"})
	if applied, _ := g.sighup(t, bad); applied != nil {
		t.Errorf("a refused configuration applied %q", applied)
	}
	if got := g.modemNames(t); !slices.Equal(got, []string{"sim2", "sim3"}) {
		t.Fatalf("modems after a refused reload %v", got)
	}
}

func TestServeRefusesNonLoopbackWithoutKeys(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = "0.0.0.0:0"
	cfg.Store.Path = filepath.Join(t.TempDir(), "simgate.db")
	err := serve(context.Background(), cfg, serveOptions{})
	if err == nil || !strings.Contains(err.Error(), "refusing to listen on 0.0.0.0:0 with no API key") {
		t.Fatalf("serve = %v, want a refusal naming the address", err)
	}
	// The store was closed again: it opens.
	db, err := store.Open(cfg.Store.Path, store.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("store left locked: %v", err)
	}
	db.Close()
}

func TestServeMetricsWebhooksBackup(t *testing.T) {
	// A webhook receiver on loopback, allowed explicitly.
	const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	got := make(chan http.Header, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"message.sent"`)) {
			h := r.Header.Clone()
			// The secret reached the deliverer from memory: the signature verifies.
			if err := webhook.Verify(hookSecret, r.Header, body, time.Minute); err != nil {
				h.Set("X-Verify-Error", err.Error())
			}
			got <- h
		}
	}))
	defer recv.Close()
	secretFile := filepath.Join(t.TempDir(), "hook.secret")
	if err := os.WriteFile(secretFile, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, 1, 1, func(c *Config) {
		c.Webhooks = []WebhookConfig{{URL: recv.URL + "/hook", Events: []string{"message.sent"}, SecretFile: secretFile, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
		c.WebhookAllow = []string{"127.0.0.0/8"}
	})
	var msg struct{ ID string }
	if code := httpJSON(t, "POST", g.base+"/v1/messages", g.key, map[string]string{"to": demoContact, "body": "hook me"}, &msg); code != http.StatusAccepted {
		t.Fatalf("POST: %d", code)
	}
	select {
	case h := <-got:
		if h.Get("webhook-signature") == "" || h.Get("webhook-id") == "" {
			t.Errorf("delivery without Standard Webhooks headers: %v", h)
		}
		if e := h.Get("X-Verify-Error"); e != "" {
			t.Errorf("the delivery's signature does not verify with the configured secret: %s", e)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no message.sent delivery to the configured webhook; logs:\n%s", g.logs.String())
	}

	metrics := string(getRaw(t, g.base+"/metrics", ""))
	for _, name := range []string{"simgate_build_info{", "simgate_modem_up{modem=\"sim1\"} 1", "simgate_messages_accepted_total", "simgate_http_requests_total", "go_goroutines", "process_resident_memory_bytes", "simgate_webhook_deliveries_total"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	// keys needs the daemon stopped: a clear error while it runs.
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"keys", "list", "-store", g.cfg.Store.Path, "-timeout", "100ms"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "stop the daemon first") {
		t.Errorf("keys list while the daemon runs: exit %d, %q", code, errb.String())
	}
	// backup without a key while the daemon runs says what to do.
	t.Setenv("SIMGATE_KEY", "")
	out.Reset()
	errb.Reset()
	if code := run(context.Background(), []string{"backup", "-store", g.cfg.Store.Path, "-timeout", "100ms", "-o", filepath.Join(t.TempDir(), "x.db")}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "pass an admin key") {
		t.Errorf("backup without a key while running: exit %d %q", code, errb.String())
	}
	// backup works online, through the daemon, with the admin key.
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	out.Reset()
	errb.Reset()
	if code := run(context.Background(), []string{"backup", "-store", g.cfg.Store.Path, "-timeout", "100ms", "-addr", g.base, "-key", g.key, "-o", copyPath}, &out, &errb); code != 0 {
		t.Fatalf("online backup: exit %d: %s", code, errb.String())
	}
	db, err := store.Open(copyPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := db.GetMessage(context.Background(), msg.ID)
	db.Close()
	if err != nil || m.Body != "hook me" {
		t.Fatalf("backup lacks the message: %v", err)
	}
	// The configured webhook's secret is in memory only, never in the store
	// and so never in a backup.
	if raw, err := os.ReadFile(copyPath); err != nil || bytes.Contains(raw, []byte(strings.TrimPrefix(hookSecret, "whsec_"))) {
		t.Errorf("the backup holds the configured webhook secret (read err %v)", err)
	}
	// Without an admin key the endpoint refuses.
	req, _ := http.NewRequest("GET", g.base+backupPath, nil)
	req.Header.Set("Authorization", "Bearer sg_nope")
	if resp, err := testHTTP.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("backup with a bad key: %v %v", resp, err)
	}
	// keys create, list and revoke work while the daemon runs, through it
	// with an admin key; the revoked key is refused at once.
	out.Reset()
	errb.Reset()
	online := []string{"-store", g.cfg.Store.Path, "-timeout", "100ms", "-addr", g.base, "-key", g.key}
	if code := run(context.Background(), append([]string{"keys", "create", "-owner", "temp", "-scopes", "read", "-q"}, online...), &out, &errb); code != 0 {
		t.Fatalf("keys create online: exit %d: %s", code, errb.String())
	}
	tempKey := strings.TrimSpace(out.String())
	if code := getStatus(t, g.base+"/v1/modems", tempKey); code != http.StatusOK {
		t.Fatalf("the new key: %d", code)
	}
	out.Reset()
	if code := run(context.Background(), append([]string{"keys", "list"}, online...), &out, &errb); code != 0 || !strings.Contains(out.String(), "temp") {
		t.Fatalf("keys list online: exit %d %q %q", code, out.String(), errb.String())
	}
	var tempID string
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "temp" {
			tempID = f[0]
		}
	}
	out.Reset()
	if code := run(context.Background(), append([]string{"keys", "revoke"}, append(online, tempID)...), &out, &errb); code != 0 {
		t.Fatalf("keys revoke %q online: exit %d: %s", tempID, code, errb.String())
	}
	if code := getStatus(t, g.base+"/v1/modems", tempKey); code != http.StatusUnauthorized {
		t.Errorf("the revoked key while the daemon runs: %d, want 401", code)
	}

	// After the daemon stops, keys and backup work on the file.
	g.stop(t)
	out.Reset()
	errb.Reset()
	if code := run(context.Background(), []string{"keys", "list", "-store", g.cfg.Store.Path}, &out, &errb); code != 0 || !strings.Contains(out.String(), "test") {
		t.Errorf("keys list after stop: exit %d %q %q", code, out.String(), errb.String())
	}
	offline := filepath.Join(t.TempDir(), "offline.db")
	if code := run(context.Background(), []string{"backup", "-store", g.cfg.Store.Path, "-o", offline}, &out, &errb); code != 0 {
		t.Errorf("offline backup: exit %d: %s", code, errb.String())
	}
}

func jsonUnmarshal(b []byte, v any) error {
	if len(b) == 0 {
		return errors.New("empty")
	}
	return json.Unmarshal(b, v)
}

// TestServeNotifiesSystemd: STATUS= while the queue loads, READY=1 once it
// is loaded, WATCHDOG=1 only from the health check (store writable,
// dispatcher answering), STOPPING=1 on shutdown.
func TestServeNotifiesSystemd(t *testing.T) {
	conn, path := listenNotify(t)
	g := startGateway(t, 1, 1, nil, func(o *serveOptions) {
		o.notify = &notifier{socket: path}
		o.watchdog = 10 * time.Millisecond
	})
	if got := readDatagram(t, conn); !strings.HasPrefix(got, "STATUS=serving on ") || !strings.Contains(got, "queue ") {
		t.Fatalf("first notification %q, want STATUS= saying how the queue's loading goes", got)
	}
	for {
		got := readDatagram(t, conn)
		if strings.HasPrefix(got, "READY=1\n") {
			break
		}
		if !strings.HasPrefix(got, "STATUS=serving on ") && got != "WATCHDOG=1" {
			t.Fatalf("got %q while waiting for READY=1", got)
		}
	}
	// STATUS= lines (readiness) may come in between.
	next := func() string {
		for {
			if got := readDatagram(t, conn); !strings.HasPrefix(got, "STATUS=") {
				return got
			}
		}
	}
	if got := next(); got != "WATCHDOG=1" {
		t.Fatalf("then %q, want WATCHDOG=1", got)
	}
	g.stop(t)
	for {
		got := next()
		if got == "STOPPING=1" {
			break
		}
		if got != "WATCHDOG=1" {
			t.Fatalf("got %q while waiting for STOPPING=1", got)
		}
	}
}

// TestServeDiscovery: with discovery on, a modem on a port no configured
// modem holds is served under a name from its IMEI.
func TestServeDiscovery(t *testing.T) {
	g := startGateway(t, 2, 1, func(c *Config) {
		c.Discovery.Enabled = true
		c.Discovery.Globs = []string{filepath.Join(filepath.Dir(c.Modems[0].Port), "sim[0-9]*")}
	})
	waitFor(t, "the second modem to be discovered", 30*time.Second, func() bool {
		return len(g.modemNames(t)) == 2
	})
	names := g.modemNames(t)
	if names[1] != "sim1" || !strings.HasPrefix(names[0], "imei-") {
		t.Fatalf("modems %v, want [imei-... sim1]", names)
	}
}

// TestServeMetricsListener: metrics.listen serves /metrics on its own
// address and takes it off the API's.
func TestServeMetricsListener(t *testing.T) {
	addr := freeAddr(t)
	g := startGateway(t, 1, 1, func(c *Config) {
		c.Metrics.Listen = addr
		c.Metrics.Path = "/prom"
	})
	if body := string(getRaw(t, "http://"+addr+"/prom", "")); !strings.Contains(body, "simgate_build_info{") {
		t.Errorf("metrics listener:\n%.300s", body)
	}
	if code := httpJSON(t, "GET", g.base+"/prom", "", nil, nil); code != http.StatusNotFound {
		t.Errorf("API listener /prom: %d, want 404", code)
	}
}

// TestServeCheckPorts: serve -check fails on a modem port that does not
// exist or is no serial device, naming the port, and passes on a real tty.
func TestServeCheckPorts(t *testing.T) {
	dir := t.TempDir()
	sim, err := startDemoSim(1, dir, 10*time.Millisecond, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	regular := filepath.Join(dir, "not-a-tty")
	writeFile(t, regular, "")
	tests := []struct {
		name, port string
		code       int
		want       string
	}{
		{"missing", "/dev/simgate-test-no-such-port", 1, "modems[0] (m).port: /dev/simgate-test-no-such-port does not exist"},
		{"udev name missing", "/dev/simgate/nope", 1, "99-simgate.rules"},
		{"regular file", regular, 1, regular + " is not a serial device"},
		{"simulated tty", sim.modems[0].link, 0, "ok (1 modems, 0 webhooks)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgPath := filepath.Join(t.TempDir(), "simgate.yaml")
			writeFile(t, cfgPath, "store: {path: "+filepath.Join(dir, "x.db")+"}\nmodems: [{name: m, port: '"+tt.port+"'}]\n")
			code, out, stderr := runCLI("serve", "-config", cfgPath, "-check")
			if code != tt.code || !strings.Contains(out+stderr, tt.want) {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s\nwant %q", code, tt.code, out, stderr, tt.want)
			}
		})
	}
}

// TestServeSaysWhatIsMissing: with no modem that can send, the daemon does
// not log "simgate ready" but warns which modem is missing and why (the
// port's path included), and the modem's last_error names the path.
func TestServeSaysWhatIsMissing(t *testing.T) {
	const ghost = "/dev/simgate-test-ghost"
	conn, path := listenNotify(t)
	g := startGateway(t, 1, 0, func(c *Config) {
		c.Modems = append(c.Modems, ModemConfig{Name: "ghost", Port: ghost})
	}, func(o *serveOptions) {
		o.readyGrace = 100 * time.Millisecond
		o.notify = &notifier{socket: path}
	})
	waitFor(t, "the not-ready warning", 30*time.Second, func() bool {
		return strings.Contains(g.logs.String(), "simgate not ready")
	})
	// systemctl status says it too.
	for {
		got := readDatagram(t, conn)
		if strings.HasPrefix(got, "STATUS=") && strings.Contains(got, "not ready: no modem can send: ghost: down") {
			break
		}
	}
	logs := g.logs.String()
	if !strings.Contains(logs, "ghost: down (no port available: "+ghost+" does not exist)") {
		t.Errorf("the warning does not say what is missing:\n%s", logs)
	}
	if strings.Contains(logs, "simgate ready") {
		t.Errorf("logged ready with no usable modem:\n%s", logs)
	}
	if !strings.Contains(logs, "modem port: waiting for it to appear") || !strings.Contains(logs, ghost+" does not exist") {
		t.Errorf("the start does not warn about the missing port:\n%s", logs)
	}
	checkNoRepeatedKeys(t, logs)
	// /readyz says which modem is in which state, without the path.
	var p struct{ Detail string }
	if body := getRaw(t, g.base+"/readyz", ""); jsonUnmarshal(body, &p) != nil || !strings.Contains(p.Detail, "no modem can send: ghost: down") || strings.Contains(p.Detail, ghost) {
		t.Errorf("/readyz: %s", body)
	}
	var m gateway.ModemView
	if err := jsonUnmarshal(getRaw(t, g.base+"/v1/modems/ghost", g.key), &m); err != nil || !strings.Contains(m.Status.LastError, ghost) {
		t.Errorf("ghost's last_error %q (%v) does not name its port", m.Status.LastError, err)
	}
}

// TestServeLogsReady: once a modem can send, "simgate ready" is logged; a
// send, a pause and a resume log no attribute twice on one line.
func TestServeLogsReady(t *testing.T) {
	g := startGateway(t, 1, 1, nil)
	waitFor(t, "simgate ready in the log", 30*time.Second, func() bool {
		return strings.Contains(g.logs.String(), "simgate ready")
	})
	var msg struct{ ID, Status string }
	if code := httpJSON(t, "POST", g.base+"/v1/messages", g.key, map[string]string{"to": demoContact, "body": "log check"}, &msg); code != http.StatusAccepted {
		t.Fatalf("send: %d", code)
	}
	waitFor(t, "the message to be sent", 30*time.Second, func() bool {
		httpJSON(t, "GET", g.base+"/v1/messages/"+msg.ID, g.key, nil, &msg)
		return msg.Status == "sent" || msg.Status == "delivered"
	})
	httpJSON(t, "POST", g.base+"/v1/modems/sim1/pause", g.key, map[string]string{"reason": "log check"}, nil)
	httpJSON(t, "POST", g.base+"/v1/modems/sim1/resume", g.key, nil, nil)
	checkNoRepeatedKeys(t, g.logs.String())
}

// checkNoRepeatedKeys fails on a log line (slog's text format) that has
// the same attribute twice, e.g. modem=sim1 modem=sim1.
func checkNoRepeatedKeys(t *testing.T, logs string) {
	t.Helper()
	key := regexp.MustCompile(`(?:^| )([a-z_.]+)=`)
	for _, line := range strings.Split(logs, "\n") {
		seen := map[string]bool{}
		for _, m := range key.FindAllStringSubmatch(line, -1) {
			if seen[m[1]] {
				t.Errorf("%s= repeated: %s", m[1], line)
				break
			}
			seen[m[1]] = true
		}
	}
}

// getStatus GETs url with key and returns the status.
func getStatus(t *testing.T, url, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
