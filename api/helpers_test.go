package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/campaign"
	"github.com/simgate/simgate/store"
)

// The OpenAPI document, loaded once; every request a test makes through
// env.do has its answer validated against it (and its request, when the
// answer is a 2xx: the server accepted it, so the spec must too).
var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error

	coveredMu sync.Mutex
	covered   = map[string]map[int]bool{} // "METHOD /path" → statuses seen
)

func loadSpec() (routers.Router, error) {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(api.OpenAPISpec())
		if err != nil {
			specErr = fmt.Errorf("load openapi.yaml: %w", err)
			return
		}
		if err := doc.Validate(loader.Context); err != nil {
			specErr = fmt.Errorf("openapi.yaml is invalid: %w", err)
			return
		}
		doc.Servers = nil // match any host
		specRouter, specErr = legacy.NewRouter(doc)
	})
	return specRouter, specErr
}

// TestMain checks, after a full run, that every operation of the spec was
// exercised with a 2xx answer and at least one problem answer.
func TestMain(m *testing.M) {
	code := m.Run()
	// The coverage check needs the whole suite: not a -run/-skip selection,
	// not -list, -bench or -fuzz.
	whole := true
	for _, f := range []string{"test.run", "test.skip", "test.list", "test.bench", "test.fuzz"} {
		if fl := flag.Lookup(f); fl != nil && fl.Value.String() != "" {
			whole = false
		}
	}
	if code == 0 && whole {
		if missing := uncovered(); len(missing) > 0 {
			fmt.Fprintln(os.Stderr, "operations of openapi.yaml not exercised by the tests:\n  "+strings.Join(missing, "\n  "))
			code = 1
		}
	}
	os.Exit(code)
}

func uncovered() []string {
	r, err := loadSpec()
	if err != nil {
		return []string{err.Error()}
	}
	_ = r
	loader := openapi3.NewLoader()
	doc, _ := loader.LoadFromData(api.OpenAPISpec())
	coveredMu.Lock()
	defer coveredMu.Unlock()
	var out []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			op := method + " " + path
			ok2, okProblem := false, false
			for st := range covered[op] {
				if st < 300 {
					ok2 = true
				} else {
					okProblem = true
				}
			}
			noAuth := path == "/healthz" || path == "/readyz" || path == "/openapi.yaml"
			if !ok2 || (!okProblem && !noAuth) {
				out = append(out, fmt.Sprintf("%s (statuses seen %v)", op, keys(covered[op])))
			}
		}
	}
	sort.Strings(out)
	return out
}

func keys(m map[int]bool) []int {
	var k []int
	for s := range m {
		k = append(k, s)
	}
	sort.Ints(k)
	return k
}

// checkAgainstSpec validates one exchange against openapi.yaml.
func checkAgainstSpec(t testing.TB, req *http.Request, reqBody []byte, status int, hdr http.Header, body []byte) {
	t.Helper()
	r, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	req = req.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := r.FindRoute(req)
	if err != nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed || status == http.StatusUnauthorized {
			checkProblem(t, status, hdr, body)
			return // not a route of the API: the answer must still be a problem
		}
		t.Fatalf("%s %s answered %d but is not in openapi.yaml: %v", req.Method, req.URL.Path, status, err)
	}
	coveredMu.Lock()
	op := req.Method + " " + route.Path
	if covered[op] == nil {
		covered[op] = map[int]bool{}
	}
	covered[op][status] = true
	coveredMu.Unlock()
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if status < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s was accepted (%d) but the spec refuses the request: %v", req.Method, req.URL.Path, status, err)
		}
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: hdr, Options: opts}
	rin.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), rin); err != nil {
		t.Errorf("%s %s → %d: answer does not match openapi.yaml: %v\nbody: %s", req.Method, req.URL.Path, status, err, body)
	}
	if status >= 400 {
		checkProblem(t, status, hdr, body)
	}
}

// checkProblem asserts an answer is a problem document of its status.
func checkProblem(t testing.TB, status int, hdr http.Header, body []byte) api.Problem {
	t.Helper()
	if ct := hdr.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("status %d: content type %q, want application/problem+json (body %s)", status, ct, body)
	}
	var p api.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("status %d: not JSON: %v: %s", status, err, body)
	}
	if p.Status != status || p.Type == "" || p.Title == "" {
		t.Errorf("status %d: bad problem document %s", status, body)
	}
	return p
}

// env is a server over a real store.DB and a real Dispatcher (never Run:
// nothing is sent) with some fake modems, and one API key per scope set.
type env struct {
	t      testing.TB
	db     *store.DB
	disp   *gateway.Dispatcher
	srv    *api.Server
	reg    *prometheus.Registry
	sender *gateSender
	events *recorder
	keys   map[string]string // "send", "read", "admin", "sendread", "revoked" → secret
	camp   *campaign.Service
	ready  error
	// backupWriter, if set, wraps the writer of each online backup.
	backupWriter func(io.Writer) io.Writer
}

// backupFunc is an api.Backuper.
type backupFunc func(io.Writer) (int64, error)

func (f backupFunc) Backup(w io.Writer) (int64, error) { return f(w) }

type envOpt func(*gateway.Config, *api.Config)

func newEnv(t testing.TB, opts ...envOpt) *env {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "simgate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	gc := gateway.DefaultConfig()
	gc.DefaultRegion = "US"
	ac := api.Config{DefaultRegion: "US", BodyLimit: "64K", Version: "test"}
	for _, o := range opts {
		o(&gc, &ac)
	}
	disp, err := gateway.NewDispatcher(gc, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"sim1", "sim2"} {
		disp.AddDevice(fakeDevice{name: n}, gateway.ModemConfig{Name: n, Groups: []string{"field"}})
	}
	return attachServer(t, db, disp, ac)
}

// attachServer builds the API over db and disp and stores one key per
// scope set.
func attachServer(t testing.TB, db *store.DB, disp *gateway.Dispatcher, ac api.Config) *env {
	t.Helper()
	var err error
	e := &env{t: t, db: db, disp: disp, reg: prometheus.NewRegistry(), keys: map[string]string{}}
	e.sender = &gateSender{Sender: disp}
	e.events = &recorder{}
	ac.Registerer = e.reg
	// Texting hours around the clock: these tests must not depend on the hour they run at.
	e.camp, err = campaign.New(campaign.Config{DefaultRegion: "US", Now: ac.Now,
		Hours: campaign.Hours{Start: "00:00", End: "24:00", TimeZone: "UTC"}}, campaign.Deps{
		Store: db, Sender: e.sender, Messages: db, OptOuts: db, Fleet: disp})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = api.New(ac, api.Deps{
		Messages: db, OptOuts: db, Keys: db, Webhooks: db,
		Sender: e.sender, Fleet: disp, Events: e.events, QueueLen: disp.QueueLen, Campaigns: e.camp,
		Ready: func(ctx context.Context) error {
			if e.ready != nil {
				return e.ready
			}
			return db.Ready(ctx)
		},
		USSD:     ussdModems{},
		Balances: balanceBook{},
		Backup: backupFunc(func(w io.Writer) (int64, error) {
			if e.backupWriter != nil {
				w = e.backupWriter(w)
			}
			return db.Backup(w)
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, scopes := range map[string][]string{
		"send": {"send"}, "read": {"read"}, "admin": {"admin"}, "sendread": {"send", "read"}, "revoked": {"admin"},
		"other": {"send", "read"},
	} {
		owner := "alice"
		if name == "other" {
			owner = "bob"
		}
		secret, k, err := api.GenerateKey(owner, scopes, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateKey(context.Background(), k); err != nil {
			t.Fatal(err)
		}
		if name == "revoked" {
			if err := db.RevokeKey(context.Background(), k.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		e.keys[name] = secret
	}
	return e
}

// resp is one answer.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (r resp) problem(t testing.TB) api.Problem {
	t.Helper()
	return checkProblem(t, r.Status, r.Header, r.Body)
}

// do sends one request with the key of the given name ("" = none) and a
// JSON body (a string or []byte is sent as is, anything else marshalled).
func (e *env) do(method, path, key string, body any, hdr ...string) resp {
	e.t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			e.t.Fatal(err)
		}
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(b))
	if b != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		secret, ok := e.keys[key]
		if !ok {
			secret = key
		}
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	r := resp{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	checkAgainstSpec(e.t, req, b, r.Status, r.Header, r.Body)
	return r
}

// must asserts the status of an answer.
func must(t testing.TB, r resp, status int) resp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	return r
}

// send accepts a message and returns its view.
func (e *env) send(to, body string, hdr ...string) api.MessageView {
	e.t.Helper()
	var v api.MessageView
	must(e.t, e.do("POST", "/v1/messages", "send", map[string]any{"to": to, "body": body}, hdr...), 202).decode(e.t, &v)
	return v
}

// fakeDevice is a modem that is up and never asked to send (the
// dispatcher is not run in these tests).
type fakeDevice struct{ name string }

func (d fakeDevice) Name() string { return d.name }
func (d fakeDevice) Info() gateway.ModemInfo {
	return gateway.ModemInfo{Manufacturer: "simgate", Model: "fake", IMEI: "350000000000001"}
}
func (d fakeDevice) Status() gateway.ModemStatus {
	return gateway.ModemStatus{State: gateway.ModemUp, Registration: gateway.RegHome, RSSI: 20, Operator: "Sim", Since: time.Now(), Updated: time.Now()}
}
func (d fakeDevice) SendPDU(context.Context, []byte) (int, error) {
	return 0, errors.New("fake device does not send")
}

// gateSender passes calls to the real Dispatcher; when hold is set, Submit
// first announces itself on entered and waits for release.
type gateSender struct {
	api.Sender
	mu      sync.Mutex
	entered chan struct{}
	release chan struct{}
}

func (g *gateSender) hold() (entered, release chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.entered, g.release = make(chan struct{}, 1), make(chan struct{})
	return g.entered, g.release
}

func (g *gateSender) Submit(ctx context.Context, req gateway.SendRequest) (*gateway.Message, error) {
	g.mu.Lock()
	entered, release := g.entered, g.release
	g.entered, g.release = nil, nil
	g.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
		<-release
	}
	return g.Sender.Submit(ctx, req)
}

// recorder is an Emitter that keeps events.
type recorder struct {
	mu     sync.Mutex
	events []gateway.Event
}

func (r *recorder) Emit(_ context.Context, e gateway.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) types() []gateway.EventType {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []gateway.EventType
	for _, e := range r.events {
		out = append(out, e.Type)
	}
	return out
}
