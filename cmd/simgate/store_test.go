package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/api/webhook"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store/postgres"
	"github.com/simgate/simgate/store/postgres/pgtest"
)

func TestStoreConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("dsn", "postgres://simgate:pw@db.example:5432/simgate\n", 0o600)
	open := write("dsn-open", "postgres://simgate:pw@db.example/simgate", 0o644)
	env := map[string]string{"PG": "postgres://simgate@db.example/simgate"}
	tests := []struct {
		name, yaml string
		wantDSN    string
		wantErr    string // substring; "" = valid
	}{
		{"default is bbolt", "", "", ""},
		{"unknown driver", "store: {driver: sqlite}", "", `store.driver: "sqlite" is not one of bbolt, postgres`},
		{"bbolt needs a path", "store: {driver: bbolt, path: ''}", "", "store.path: required"},
		{"postgres from env", "store: {driver: postgres, postgres: {dsn_env: PG}}", env["PG"], ""},
		{"postgres from file", "store: {driver: postgres, postgres: {dsn_file: " + good + "}}", "postgres://simgate:pw@db.example:5432/simgate", ""},
		{"postgres needs a dsn", "store: {driver: postgres}", "", "store.postgres: set one of dsn_env and dsn_file"},
		{"postgres both", "store: {driver: postgres, postgres: {dsn_env: PG, dsn_file: " + good + "}}", "", "store.postgres: set one of dsn_env and dsn_file"},
		{"env unset", "store: {driver: postgres, postgres: {dsn_env: NOPE}}", "", "store.postgres.dsn_env: environment variable NOPE is not set"},
		{"file readable by others", "store: {driver: postgres, postgres: {dsn_file: " + open + "}}", "", "store.postgres.dsn_file: " + open + " is accessible by group or others"},
		{"bad schema", "store: {driver: postgres, postgres: {dsn_env: PG, schema: 'Robert; DROP'}}", "", "store.postgres.schema:"},
		{"max conns", "store: {driver: postgres, postgres: {dsn_env: PG, max_conns: -1}}", "", "store.postgres.max_conns:"},
		{"lease", "store: {driver: postgres, postgres: {dsn_env: PG, node: a, lease: 5s}}", env["PG"], ""},
		{"lease too short", "store: {driver: postgres, postgres: {dsn_env: PG, node: a, lease: 500ms}}", "", "store.postgres.lease: 500ms is not 1s to 10m0s"},
		{"lease too long", "store: {driver: postgres, postgres: {dsn_env: PG, node: a, lease: 1h}}", "", "store.postgres.lease: 1h0m0s is not 1s to 10m0s"},
		{"dsn not in the file", "store: {driver: postgres, postgres: {dsn: 'postgres://x'}}", "", "dsn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tt.yaml), func(k string) string { return env[k] }, dir)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseConfig: %v", err)
				}
				if cfg.Store.Postgres.dsn != tt.wantDSN {
					t.Errorf("dsn = %q, want %q", cfg.Store.Postgres.dsn, tt.wantDSN)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseConfig: %v, want an error containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), ":pw@") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// usePostgres points cfg at a new schema of the test server.
func usePostgres(t *testing.T) func(*Config) {
	dsn, schema := pgtest.Schema(t)
	return func(c *Config) {
		c.Store.Driver = driverPostgres
		c.Store.Postgres = PostgresConfig{DSNEnv: "SIMGATE_TEST_POSTGRES", Schema: schema, dsn: dsn}
	}
}

// serve on PostgreSQL: a message is accepted, sent, and stored in the database.
func TestServeOnPostgres(t *testing.T) {
	usePG := usePostgres(t)
	g := startGateway(t, 2, 2, usePG)
	var msg struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if code := httpJSON(t, "POST", g.base+"/v1/messages", g.key, map[string]string{"to": demoContact, "body": "via postgres"}, &msg); code != http.StatusAccepted {
		t.Fatalf("POST /v1/messages: %d", code)
	}
	waitFor(t, "the message to be sent", 30*time.Second, func() bool {
		httpJSON(t, "GET", g.base+"/v1/messages/"+msg.ID, g.key, nil, &msg)
		return msg.Status == "sent" || msg.Status == "delivered"
	})
	if code := httpJSON(t, "GET", g.base+"/readyz", "", nil, nil); code != http.StatusOK {
		t.Errorf("/readyz = %d", code)
	}
	if code := httpJSON(t, "GET", g.base+backupPath, g.key, nil, nil); code != http.StatusNotFound {
		t.Errorf("online bbolt backup on postgres: %d, want 404", code)
	}
	g.stop(t)
	// The message is in the database, not in a file.
	db, err := postgres.Open(context.Background(), g.cfg.Store.Postgres.dsn, postgres.Options{Schema: g.cfg.Store.Postgres.Schema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := db.GetMessage(context.Background(), msg.ID)
	if err != nil || m.Body != "via postgres" || (m.Status != "sent" && m.Status != "delivered") {
		t.Errorf("stored message: %+v, %v", m, err)
	}
	if _, err := os.Stat(g.cfg.Store.Path); !os.IsNotExist(err) {
		t.Errorf("a bbolt file was made at %s: %v", g.cfg.Store.Path, err)
	}
}

// Two daemons on one PostgreSQL schema: the second is refused (each would
// send the whole queue) until several nodes are supported.
func TestServeSecondDaemonOnPostgresRefused(t *testing.T) {
	usePG := usePostgres(t)
	g := startGateway(t, 1, 1, usePG)
	cfg := g.cfg
	cfg.Listen = "127.0.0.1:0"
	err := serve(context.Background(), cfg, serveOptions{log: slog.New(slog.DiscardHandler), level: new(slog.LevelVar)})
	if err == nil || !strings.Contains(err.Error(), "used by another simgate daemon") {
		t.Fatalf("second serve: %v", err)
	}
}

// Two daemons on one PostgreSQL schema, each a node of the shared queue
// with two simulated modems of its own: messages posted to either API are
// each sent exactly once, by the modems of both nodes.
func TestServeTwoNodesShareTheQueue(t *testing.T) {
	dsn, schema := pgtest.Schema(t)
	asNode := func(node string) func(*Config) {
		return func(c *Config) {
			c.Store.Driver = driverPostgres
			c.Store.Postgres = PostgresConfig{DSNEnv: "SIMGATE_TEST_POSTGRES", Schema: schema, Node: node, dsn: dsn}
			for i := range c.Modems {
				c.Modems[i].Name = node + "-" + c.Modems[i].Name // modem names are global
			}
		}
	}
	a := startGateway(t, 2, 2, asNode("a"))
	b := startGateway(t, 2, 2, asNode("b"))
	const n = 40
	ids := make([]string, n)
	for i := range n {
		g := a
		if i%2 == 1 {
			g = b
		}
		var msg struct {
			ID string `json:"id"`
		}
		body := map[string]string{"to": fmt.Sprintf("+1555300%04d", i), "body": fmt.Sprintf("two nodes %d", i)}
		if code := httpJSON(t, "POST", g.base+"/v1/messages", g.key, body, &msg); code != http.StatusAccepted {
			t.Fatalf("POST /v1/messages to node %d: %d", i%2, code)
		}
		ids[i] = msg.ID
	}
	db, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitFor(t, "every message to be sent", 60*time.Second, func() bool { // the store, not the API: its rate limit
		c, err := db.CountByStatus(context.Background())
		return err == nil && c["sent"]+c["delivered"] == n
	})
	for _, id := range ids {
		if m, err := db.GetMessage(context.Background(), id); err != nil || m.Parts[0].Attempts != 1 {
			t.Errorf("message %s: %+v, %v", id, m, err)
		}
	}
	sent := map[string]int{}
	byNode := map[string]int{}
	for node, g := range map[string]*testGateway{"a": a, "b": b} {
		for _, s := range g.sim.net.Submissions() {
			sent[s.Text]++
			byNode[node]++
		}
	}
	for i := range n {
		if c := sent[fmt.Sprintf("two nodes %d", i)]; c != 1 {
			t.Errorf("message %d submitted %d times", i, c)
		}
	}
	if byNode["a"] == 0 || byNode["b"] == 0 {
		t.Errorf("submissions by node: %v; want both nodes sending", byNode)
	}
	t.Logf("submissions by node: %v", byNode)
}

// A node whose lease lapses while a part is submitting: a live node's
// reaper makes the message unknown and tells it as the node's own restart
// would, a message.unknown event (stored, and delivered to its webhooks).
func TestServeReapedUnknownIsAnEvent(t *testing.T) {
	dsn, schema := pgtest.Schema(t)
	const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	type delivery struct {
		Type string `json:"type"`
		Data struct {
			MessageID string `json:"message_id"`
			Data      struct {
				Reason string `json:"reason"`
			} `json:"data"`
		} `json:"data"`
	}
	got := make(chan delivery, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var d delivery
		if webhook.Verify(hookSecret, r.Header, body, time.Minute) == nil && json.Unmarshal(body, &d) == nil {
			got <- d
		}
	}))
	defer recv.Close()
	secretFile := filepath.Join(t.TempDir(), "hook.secret")
	if err := os.WriteFile(secretFile, []byte(hookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The live node has no modems: only the dead node could send.
	live := startGateway(t, 1, 0, func(c *Config) {
		c.Store.Driver = driverPostgres
		c.Store.Postgres = PostgresConfig{DSNEnv: "SIMGATE_TEST_POSTGRES", Schema: schema, Node: "live", Lease: Duration(time.Second), dsn: dsn}
		c.Webhooks = []WebhookConfig{{URL: recv.URL + "/hook", Events: []string{"message.unknown"}, SecretFile: secretFile, Secret: hookSecret}}
		c.WebhookAllow = []string{"127.0.0.0/8"}
	})
	var msg struct{ ID string }
	if code := httpJSON(t, "POST", live.base+"/v1/messages", live.key, map[string]string{"to": demoContact, "body": "in flight when its node died"}, &msg); code != http.StatusAccepted {
		t.Fatalf("POST: %d", code)
	}
	// The other node claims it, starts submitting it, and stops renewing.
	ctx := context.Background()
	db, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dead, err := db.NewQueue(ctx, postgres.QueueConfig{Node: "dead", LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, err := dead.Claim(ctx, gateway.ClaimRequest{Modem: "dead-a", PartsLeft: 10, NewContacts: true})
	if err != nil || c == nil || c.Message.ID != msg.ID {
		t.Fatalf("the dead node's claim: %+v, %v", c, err)
	}
	if err := dead.Submitting(ctx, c, 1); err != nil {
		t.Fatal(err)
	}
	if err := dead.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if d.Type != "message.unknown" || d.Data.MessageID != msg.ID || !strings.Contains(d.Data.Data.Reason, "lease") {
			t.Errorf("delivery %+v; want message.unknown of %s saying the node's lease lapsed", d, msg.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no message.unknown delivered after the dead node's lease lapsed; logs:\n%s", live.logs.String())
	}
	m, err := db.GetMessage(ctx, msg.ID)
	if err != nil || m.Status != gateway.StatusUnknown {
		t.Errorf("message after the reap: %+v, %v", m, err)
	}
}

// The CLI's -timeout (1 s by default, for a bbolt lock the daemon holds)
// does not cut short connecting to PostgreSQL and migrating a new schema:
// unless given, store.open_timeout applies.
func TestStoreFlagsTimeoutOnPostgres(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "simgate.yaml")
	if err := os.WriteFile(cfgPath, []byte("store: {driver: postgres, open_timeout: 45s, postgres: {dsn_env: SIMGATE_TEST_DSN_X}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SIMGATE_TEST_DSN_X", "postgres://simgate@db.example/simgate")
	for _, tt := range []struct {
		args []string
		want time.Duration
	}{
		{[]string{"-config", cfgPath}, 45 * time.Second},
		{[]string{"-config", cfgPath, "-timeout", "2s"}, 2 * time.Second},
	} {
		fs := newFlags("keys list", "", "", io.Discard)
		sf := addStoreFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		s, err := sf.storeConfig()
		if err != nil {
			t.Fatal(err)
		}
		if s.OpenTimeout.D() != tt.want {
			t.Errorf("%v: open timeout %s, want %s", tt.args, s.OpenTimeout, tt.want)
		}
	}
}
