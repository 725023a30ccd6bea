package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// robustRequests is how many generated requests TestRobustness sends.
const robustRequests = 10000

// validHeaderValue reports whether v may be sent as a header value (no
// control characters but tab).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// TestRobustness sends 10,000 malformed, truncated, oversized and wrongly
// typed requests (generated from a seeded RNG: routes, methods, headers,
// bodies, plus raw requests whose body is shorter than their
// Content-Length) to the server on a real loopback listener. No answer may
// be a 5xx and every non-2xx answer must be a problem document whose status
// matches. A panic would fail the test through the Recover middleware's 500.
// Requests are always valid HTTP/1.1 framing: a broken request line or
// header is answered by net/http itself (400 text/plain) before the API sees
// it, and is not the API's to shape.
func TestRobustness(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	addr := ln.Addr().String()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}

	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		failures []string
	)
	fail := func(i int, format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf("request %d: ", i)+fmt.Sprintf(format, args...))
		}
	}
	g := &generator{keys: e.keys}
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				rq := g.request(i)
				var (
					status int
					hdr    http.Header
					body   []byte
					err    error
				)
				if rq.rawShort {
					status, hdr, body, err = rawTruncated(addr, rq)
				} else {
					status, hdr, body, err = viaClient(client, addr, rq)
				}
				if err != nil {
					fail(i, "%s %s: %v", rq.method, rq.path, err)
					continue
				}
				mu.Lock()
				statuses[status]++
				mu.Unlock()
				if status >= 500 {
					fail(i, "%s %s → %d: %s", rq.method, rq.path, status, body)
					continue
				}
				if status >= 400 && rq.method != http.MethodHead {
					if msg := problemError(status, hdr, body); msg != "" {
						fail(i, "%s %s → %d: %s: %.200s", rq.method, rq.path, status, msg, body)
					}
				}
			}
		}()
	}
	for i := range robustRequests {
		work <- i
	}
	close(work)
	wg.Wait()
	var codes []string
	for c, n := range statuses {
		codes = append(codes, fmt.Sprintf("%d:%d", c, n))
	}
	sort.Strings(codes)
	t.Logf("%d requests, answers by status: %s", robustRequests, strings.Join(codes, " "))
	for _, f := range failures {
		t.Error(f)
	}
	// Still healthy afterwards.
	res, err := client.Get("http://" + addr + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz after the storm: %v %v", res, err)
	}
	res.Body.Close()
}

// problemError says why an answer is not a valid problem document, or "".
func problemError(status int, hdr http.Header, body []byte) string {
	if ct := hdr.Get("Content-Type"); ct != "application/problem+json" {
		return "content type " + ct
	}
	var p struct {
		Type   *string `json:"type"`
		Title  *string `json:"title"`
		Status *int    `json:"status"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return "not JSON: " + err.Error()
	}
	if p.Type == nil || *p.Type == "" || p.Title == nil || *p.Title == "" || p.Status == nil {
		return "type, title or status missing"
	}
	if *p.Status != status {
		return "status member " + strconv.Itoa(*p.Status)
	}
	return ""
}

type genRequest struct {
	method, path string
	header       http.Header
	body         []byte
	rawShort     bool // send with a Content-Length longer than the body, then close
}

type generator struct{ keys map[string]string }

var robustRoutes = []struct{ method, path string }{
	{"POST", "/v1/messages"}, {"GET", "/v1/messages"}, {"GET", "/v1/messages/{id}"}, {"POST", "/v1/messages/{id}/cancel"},
	{"GET", "/v1/conversations/{number}"}, {"GET", "/v1/modems"}, {"GET", "/v1/modems/{name}"},
	{"POST", "/v1/modems/{name}/pause"}, {"POST", "/v1/modems/{name}/resume"}, {"POST", "/v1/modems/{name}/drain"},
	{"GET", "/v1/optouts"}, {"POST", "/v1/optouts"}, {"DELETE", "/v1/optouts/{number}"},
	{"GET", "/v1/webhooks"}, {"POST", "/v1/webhooks"}, {"DELETE", "/v1/webhooks/{id}"},
	{"GET", "/healthz"}, {"GET", "/readyz"}, {"GET", "/openapi.yaml"}, {"GET", "/v1/{junk}"}, {"POST", "/{junk}"},
}

var robustMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "PROPFIND"}

func (g *generator) request(i int) genRequest {
	r := rand.New(rand.NewPCG(20261126, uint64(i)))
	rt := robustRoutes[r.IntN(len(robustRoutes))]
	rq := genRequest{method: rt.method, header: http.Header{}}
	if r.IntN(10) == 0 {
		rq.method = robustMethods[r.IntN(len(robustMethods))]
	}
	path := rt.path
	for _, p := range []string{"{id}", "{number}", "{name}", "{junk}"} {
		path = strings.ReplaceAll(path, p, url.PathEscape(g.param(r, p)))
	}
	if r.IntN(3) == 0 {
		path += "?" + g.query(r)
	}
	rq.path = path
	switch r.IntN(10) {
	case 0: // no key
	case 1:
		rq.header.Set("Authorization", junkString(r, 80))
	case 2:
		rq.header.Set("Authorization", "Bearer sg_"+junkString(r, 43))
	case 3:
		rq.header.Set("Authorization", "Bearer "+g.keys["revoked"])
	default:
		names := []string{"send", "read", "admin", "sendread", "admin", "admin"}
		rq.header.Set("Authorization", "Bearer "+g.keys[names[r.IntN(len(names))]])
	}
	switch r.IntN(8) {
	case 0:
	case 1:
		rq.header.Set("Content-Type", []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ";;;", "application/json; charset=\"", "application/merge-patch+json"}[r.IntN(6)])
	default:
		rq.header.Set("Content-Type", "application/json")
	}
	if r.IntN(4) == 0 {
		rq.header.Set("Idempotency-Key", []string{"k", "same-key", junkString(r, 300), "has space", "k" + strconv.Itoa(r.IntN(20))}[r.IntN(5)])
	}
	rq.body = g.body(r, rt.path)
	if r.IntN(50) == 0 && len(rq.body) > 2 {
		rq.rawShort = true
	}
	return rq
}

func (g *generator) param(r *rand.Rand, kind string) string {
	switch r.IntN(6) {
	case 0:
		return junkString(r, 1+r.IntN(100))
	case 1:
		return strings.Repeat("9", 1+r.IntN(300))
	case 2:
		return "01HZZZZZZZZZZZZZZZZZZZZZZZ"
	case 3:
		return "+1555" + strconv.Itoa(1000000+r.IntN(8999999))
	case 4:
		return []string{"sim1", "sim2", "field", "..", "%", "\x00", " "}[r.IntN(7)]
	}
	return "(555) 123-45" + strconv.Itoa(10+r.IntN(89))
}

func (g *generator) query(r *rand.Rand) string {
	names := []string{"direction", "status", "contact", "modem", "agent", "since", "until", "cursor", "limit", "x"}
	q := url.Values{}
	for range 1 + r.IntN(4) {
		var v string
		switch r.IntN(5) {
		case 0:
			v = junkString(r, r.IntN(60))
		case 1:
			v = strconv.Itoa(r.IntN(1000) - 100)
		case 2:
			v = []string{"in", "out", "queued", "2026-01-01T00:00:00Z", "+15551234567", "abc"}[r.IntN(6)]
		case 3:
			v = strings.Repeat("A", r.IntN(3000))
		default:
			v = "9999999999999999999999"
		}
		q.Add(names[r.IntN(len(names))], v)
	}
	if r.IntN(5) == 0 {
		// Not even a valid query: raw bytes escaped so that the request line
		// stays valid HTTP, plus broken escapes.
		return url.QueryEscape(junkString(r, 40)) + []string{"%zz", "%", "&&=;", "%00"}[r.IntN(4)]
	}
	return q.Encode()
}

// body makes a body for route: a valid one, then perhaps broken.
func (g *generator) body(r *rand.Rand, route string) []byte {
	var base map[string]any
	switch route {
	case "/v1/messages":
		base = map[string]any{"to": "+1555" + strconv.Itoa(1000000+r.IntN(8999999)), "body": "hello " + strconv.Itoa(r.IntN(5))}
		if r.IntN(2) == 0 {
			base["validity"] = []any{"1h", 60, "-1s", 1e30, true, "1.5h", nil}[r.IntN(7)]
		}
		if r.IntN(3) == 0 {
			base["metadata"] = map[string]any{"a": []any{"b", 1, nil, map[string]any{}}[r.IntN(4)]}
		}
		if r.IntN(3) == 0 {
			base["priority"] = []any{1, -11, 3.5, "high", nil, 1e300}[r.IntN(6)]
		}
		if r.IntN(4) == 0 {
			base["from"] = []any{"sim1", "field", "nope", 7}[r.IntN(4)]
		}
		if r.IntN(4) == 0 {
			base["send_at"] = []any{"2026-13-01T00:00:00Z", time.Now().Add(time.Hour).Format(time.RFC3339), 17, "2999-01-01T00:00:00Z"}[r.IntN(4)]
		}
	case "/v1/optouts":
		nums := []any{}
		for range r.IntN(5) {
			nums = append(nums, []any{"+15550001234", "12", 5, nil, "(555) 000-1111"}[r.IntN(5)])
		}
		base = map[string]any{"numbers": nums}
	case "/v1/webhooks":
		base = map[string]any{"url": []any{"https://example.com/h", "ftp://x", "", 9, "http://[::1"}[r.IntN(5)]}
		if r.IntN(2) == 0 {
			base["events"] = []any{"message.sent", "nope", 4}[:r.IntN(3)]
		}
	case "/v1/modems/{name}/pause":
		base = map[string]any{"reason": "test", "until": []any{"2999-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "later", 5}[r.IntN(4)]}
	default:
		if r.IntN(3) != 0 {
			return nil
		}
		base = map[string]any{"x": 1}
	}
	b, _ := json.Marshal(base)
	switch r.IntN(12) {
	case 0, 1, 2: // valid as generated
	case 3: // truncated
		b = b[:r.IntN(len(b))]
	case 4: // flipped bytes
		for range 1 + r.IntN(4) {
			b[r.IntN(len(b))] = byte(r.IntN(256))
		}
	case 5: // oversized (up to 200 KB; the limit is 64 KB)
		b = []byte(`{"to":"+15551234567","body":"` + strings.Repeat("x", 60<<10+r.IntN(140<<10)) + `"}`)
	case 6: // wrong top-level types
		b = []byte([]string{`null`, `[]`, `"x"`, `42`, `true`, `{}`, ` `, `{"to":null,"body":null}`}[r.IntN(8)])
	case 7: // trailing data and duplicate keys
		b = append(b, []string{`{}`, ` x`, `]`, `,{"a":1}`}[r.IntN(4)]...)
	case 8: // deep nesting
		n := 1 + r.IntN(20000)
		b = []byte(`{"to":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`)
	case 9: // invalid UTF-8 and control characters in strings
		b = []byte("{\"to\":\"+1555\xff\xfe\",\"body\":\"\x00\x01\"}")
	case 10: // unknown fields
		b = append(b[:len(b)-1], []byte(`,"evil":{"$ne":1}}`)...)
	case 11: // huge numbers and exponents
		b = []byte(`{"to":"+15551234567","body":"x","priority":1e999999,"validity":123456789012345678901234567890}`)
	}
	return b
}

func junkString(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return string(b)
}

func viaClient(c *http.Client, addr string, rq genRequest) (int, http.Header, []byte, error) {
	u := "http://" + addr + rq.path
	req, err := http.NewRequest(rq.method, u, bytes.NewReader(rq.body))
	if err != nil {
		// A path the HTTP client refuses to send is not a server question.
		req, err = http.NewRequest(rq.method, "http://"+addr+"/v1/"+url.PathEscape(rq.path), bytes.NewReader(rq.body))
		if err != nil {
			return 0, nil, nil, err
		}
	}
	for k, v := range rq.header {
		req.Header[k] = v
	}
	if rq.body == nil {
		req.Body = nil
	}
	res, err := c.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), "invalid header field value") || strings.Contains(err.Error(), "invalid method") {
			// The client refuses to send control bytes in headers; drop them.
			req.Header.Del("Authorization")
			req.Header.Del("Idempotency-Key")
			req.Body = io.NopCloser(bytes.NewReader(rq.body))
			if res, err = c.Do(req); err != nil {
				return 0, nil, nil, err
			}
		} else {
			return 0, nil, nil, err
		}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, body, err
}

// rawTruncated writes a request whose body is shorter than its
// Content-Length and half-closes the connection, as a client that dies
// mid-request does, then reads whatever answer comes.
func rawTruncated(addr string, rq genRequest) (int, http.Header, []byte, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, nil, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	path := rq.path
	if strings.ContainsAny(path, " \r\n") || !strings.HasPrefix(path, "/") {
		path = "/v1/messages"
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", path, addr, len(rq.body)+100)
	if a := rq.header.Get("Authorization"); a != "" && validHeaderValue(a) {
		fmt.Fprintf(&buf, "Authorization: %s\r\n", a)
	}
	buf.WriteString("\r\n")
	buf.Write(rq.body[:len(rq.body)/2])
	if _, err := conn.Write(buf.Bytes()); err != nil {
		return 0, nil, nil, err
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		if err == io.EOF || strings.Contains(err.Error(), "connection reset") {
			// The server may drop a client that went away before it
			// finished: no answer is not a wrong answer.
			return 499, http.Header{"Content-Type": {"application/problem+json"}}, []byte(`{"type":"x","title":"x","status":499}`), nil
		}
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, body, nil
}

// FuzzHandler sends arbitrary methods, paths, bodies and content types with
// an admin key to the whole handler: no answer is a 5xx and every error
// answer is a problem document.
func FuzzHandler(f *testing.F) {
	e := newEnv(f)
	for _, s := range []struct{ method, path, ct, body string }{
		{"POST", "/v1/messages", "application/json", `{"to":"+15551234567","body":"hi"}`},
		{"POST", "/v1/optouts", "application/json", `{"numbers":["+15551234567"]}`},
		{"POST", "/v1/webhooks", "application/json", `{"url":"https://example.com"}`},
		{"POST", "/v1/modems/sim1/pause", "", `{"until":"2999-01-01T00:00:00Z"}`},
		{"GET", "/v1/messages?limit=2&cursor=abc", "", ""},
		{"DELETE", "/v1/optouts/%2B15551234567", "", ""},
		{"GET", "/v1/conversations/abc", "", ""},
	} {
		f.Add(s.method, s.path, s.ct, []byte(s.body))
	}
	admin := e.keys["admin"]
	f.Fuzz(func(t *testing.T, method, path, ct string, body []byte) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		u, err := url.ParseRequestURI(path)
		if err != nil || !validHeaderValue(ct) || method == "" || strings.ContainsAny(method, " \t\r\n/()<>@,;:\\\"[]?={}") {
			return
		}
		req := httptest.NewRequest("GET", "/", bytes.NewReader(body))
		req.Method, req.URL, req.RequestURI = method, u, path
		req.ContentLength = int64(len(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s → %d: %s", method, path, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 && method != http.MethodHead {
			if msg := problemError(rec.Code, rec.Header(), rec.Body.Bytes()); msg != "" {
				t.Fatalf("%s %s → %d: %s", method, path, rec.Code, msg)
			}
		}
	})
}
