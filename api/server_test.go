package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
)

func TestHealthReadySpec(t *testing.T) {
	e := newEnv(t)
	must(t, e.do("GET", "/healthz", "", nil), 200)
	must(t, e.do("GET", "/readyz", "", nil), 200)
	e.ready = errors.New("store /var/lib/simgate/db is read-only")
	r := must(t, e.do("GET", "/readyz", "", nil), 503)
	if p := r.problem(t); p.Type != api.ProblemBase+"not-ready" || strings.Contains(string(r.Body), "/var/lib") {
		t.Errorf("problem %s", r.Body)
	}
	// The reason is in the body: a full disk, or the daemon's own words.
	e.ready = fmt.Errorf("store: %w: 3 MiB free", gateway.ErrStorageFull)
	if p := must(t, e.do("GET", "/readyz", "", nil), 503).problem(t); p.Detail != "store: disk full" {
		t.Errorf("disk full: detail %q", p.Detail)
	}
	e.ready = api.NotReady("no modem is up and registered")
	if p := must(t, e.do("GET", "/readyz", "", nil), 503).problem(t); p.Detail != "no modem is up and registered" {
		t.Errorf("detail %q", p.Detail)
	}
	r = must(t, e.do("GET", "/openapi.yaml", "", nil), 200)
	if !bytes.Equal(r.Body, api.OpenAPISpec()) || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/yaml") {
		t.Error("spec not served as is")
	}
}

func TestRoutingProblems(t *testing.T) {
	e := newEnv(t)
	r := must(t, e.do("GET", "/nothing", "", nil), 404)
	if p := r.problem(t); p.Type != api.ProblemBase+"not-found" {
		t.Errorf("type %q", p.Type)
	}
	must(t, e.do("GET", "/v1/nothing", "read", nil), 404).problem(t)
	r = must(t, e.do("PUT", "/v1/messages", "admin", `{}`), 405)
	if p := r.problem(t); p.Type != api.ProblemBase+"method-not-allowed" || !strings.Contains(r.Header.Get("Allow"), "POST") {
		t.Errorf("type %q allow %q", p.Type, r.Header.Get("Allow"))
	}
	must(t, e.do("DELETE", "/healthz", "", nil), 405).problem(t)
}

// panicSender panics on Submit and fails Cancel with an internal error
// whose text must not reach the client.
type panicSender struct{}

func (panicSender) Submit(context.Context, gateway.SendRequest) (*gateway.Message, error) {
	panic("boom at /internal/secret")
}
func (panicSender) Cancel(context.Context, string) (*gateway.Message, error) {
	return nil, errors.New("bbolt: /var/lib/simgate/simgate.db: disk I/O error")
}

func TestInternalErrorsShowNothing(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	srv, err := api.New(api.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, api.Deps{
		Messages: e.db, OptOuts: e.db, Keys: e.db, Webhooks: e.db, Sender: panicSender{}, Fleet: e.disp,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	for _, c := range [][2]string{{"POST", "/v1/messages"}, {"POST", "/v1/messages/x/cancel"}} {
		r := must(t, e.do(c[0], c[1], "admin", `{"to":"+15551234567","body":"secret body"}`), 500)
		p := r.problem(t)
		if p.Type != api.ProblemBase+"internal" || p.Detail != "internal error" ||
			strings.Contains(string(r.Body), "boom") || strings.Contains(string(r.Body), "bbolt") {
			t.Errorf("%s: %s", c[1], r.Body)
		}
	}
	if !strings.Contains(logs.String(), "boom") || !strings.Contains(logs.String(), "disk I/O") {
		t.Errorf("internal errors not logged: %s", logs.String())
	}
}

func TestLogsAndMetrics(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	srv, err := api.New(api.Config{DefaultRegion: "US", Registerer: reg, Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))},
		api.Deps{Messages: e.db, OptOuts: e.db, Keys: e.db, Webhooks: e.db, Sender: e.disp, Fleet: e.disp})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	m := e.send("+15557654321", "meet at the polling place")
	must(t, e.do("GET", "/v1/messages/"+m.ID, "read", nil), 200)
	must(t, e.do("GET", "/v1/messages/"+m.ID+"x", "read", nil), 404)
	must(t, e.do("GET", "/nope", "", nil), 404)
	must(t, e.do("POST", "/v1/optouts", "admin", `{"numbers":["+15557654329"]}`), 200)
	must(t, e.do("DELETE", "/v1/optouts/+15557654329", "admin", nil), 204)

	for _, c := range []struct {
		route, method, code string
		want                float64
	}{
		{"/v1/messages", "POST", "202", 1},
		{"/v1/messages/:id", "GET", "200", 1},
		{"/v1/messages/:id", "GET", "404", 1},
		{"unmatched", "GET", "404", 1},
	} {
		got := testutil.ToFloat64(srvCounter(t, reg, c.route, c.method, c.code))
		if got != c.want {
			t.Errorf("requests{%s,%s,%s} = %v, want %v", c.route, c.method, c.code, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(reg, "simgate_http_request_duration_seconds"); n < 3 {
		t.Errorf("%d duration series", n)
	}
	out := logs.String()
	if !strings.Contains(out, `"route":"/v1/messages/:id"`) || !strings.Contains(out, `"key_id":"key_`) {
		t.Errorf("request log lacks route or key id: %s", out)
	}
	for _, secret := range []string{"7654321", "765432", "polling place", e.keys["send"], e.keys["read"], m.ID} {
		if strings.Contains(out, secret) {
			t.Errorf("log at Info contains %q: %s", secret, out)
		}
	}
}

// srvCounter finds one series of simgate_http_requests_total.
func srvCounter(t *testing.T, reg *prometheus.Registry, route, method, code string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	for _, mf := range mfs {
		if mf.GetName() != "simgate_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["route"] == route && l["method"] == method && l["code"] == code {
				c.Add(m.GetCounter().GetValue())
			}
		}
	}
	return c
}

func TestServeShutsDown(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()
	res, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("healthz %d", res.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

func TestNewRefusesMissingDeps(t *testing.T) {
	e := newEnv(t)
	full := api.Deps{Messages: e.db, OptOuts: e.db, Keys: e.db, Webhooks: e.db, Sender: e.disp, Fleet: e.disp}
	if _, err := api.New(api.Config{BodyLimit: "lots"}, full); err == nil {
		t.Error("bad body limit accepted")
	}
	d := full
	d.Sender = nil
	if _, err := api.New(api.Config{}, d); err == nil {
		t.Error("nil Sender accepted")
	}
}
