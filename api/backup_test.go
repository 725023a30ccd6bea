package api_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store"
)

// TestBackupScopesAndMetrics: the online backup goes through the API's own
// authentication and scopes, answers problems like every route, is counted
// in the HTTP and backup metrics, and is a database that opens.
func TestBackupScopesAndMetrics(t *testing.T) {
	e := newEnv(t)
	e.send("+15551234567", "in the backup")
	must(t, e.do("GET", "/admin/backup", "", nil), 401).problem(t)
	must(t, e.do("GET", "/admin/backup", "revoked", nil), 401).problem(t)
	if p := must(t, e.do("GET", "/admin/backup", "sendread", nil), 403).problem(t); !strings.Contains(p.Detail, "admin") {
		t.Errorf("403 detail %q", p.Detail)
	}
	must(t, e.do("POST", "/admin/backup", "admin", nil), 405).problem(t)
	r := must(t, e.do("GET", "/admin/backup", "admin", nil), 200)
	if ct := r.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("content type %q", ct)
	}
	checkBackupFile(t, r.Body, 1)
	if n := counterValue(t, e, "simgate_backups_total", "result", "success"); n != 1 {
		t.Errorf("simgate_backups_total{result=success} = %v", n)
	}
	if n := counterValue(t, e, "simgate_http_requests_total", "route", "/admin/backup"); n != 5 {
		t.Errorf("simgate_http_requests_total{route=/admin/backup} = %v, want 5", n)
	}
	if n := counterValue(t, e, "simgate_backup_bytes_total", "", ""); n != float64(len(r.Body)) {
		t.Errorf("simgate_backup_bytes_total = %v, want %d", n, len(r.Body))
	}
}

// TestBackupOutlivesWriteTimeout: a backup that takes longer than the
// server's WriteTimeout arrives whole (before: the connection was cut at
// the timeout and the client got a short copy).
func TestBackupOutlivesWriteTimeout(t *testing.T) {
	e := newEnv(t)
	e.send("+15551234567", "in the backup")
	const timeout = 300 * time.Millisecond
	// Each of the first writes is held up; together they last well past the timeout.
	slowWrites := 8
	e.backupWriter = func(w io.Writer) io.Writer {
		return writerFunc(func(p []byte) (int, error) {
			n := 0
			for len(p) > 0 {
				c := min(len(p), 4096)
				if slowWrites > 0 {
					slowWrites--
					time.Sleep(timeout / 4) // a slow disk or network, not a wait for an event
				}
				m, err := w.Write(p[:c])
				n += m
				if err != nil {
					return n, err
				}
				p = p[c:]
			}
			return n, nil
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.srv.Handler(), WriteTimeout: timeout, ReadHeaderTimeout: time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+ln.Addr().String()+"/admin/backup", nil)
	req.Header.Set("Authorization", "Bearer "+e.keys["admin"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("backup cut off after %d bytes: %v", len(body), err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	checkBackupFile(t, body, 1)
}

// counterValue sums the counter name's series whose label has value ("" for all).
func counterValue(t *testing.T, e *env, name, label, value string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					match = true
				}
			}
			if match {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// checkBackupFile opens b as a store and counts its messages.
func checkBackupFile(t *testing.T, b []byte, messages int) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(p, store.Options{})
	if err != nil {
		t.Fatalf("the backup does not open (%d bytes): %v", len(b), err)
	}
	defer db.Close()
	pg, err := db.ListMessages(context.Background(), gateway.MessageFilter{})
	if err != nil || len(pg.Messages) != messages {
		t.Fatalf("backup holds %d messages (%v), want %d", len(pg.Messages), err, messages)
	}
}
