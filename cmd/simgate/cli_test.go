package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// TestHelpEverywhere: every command answers -h with its usage and examples, exit 0.
func TestHelpEverywhere(t *testing.T) {
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(c.name, "-h")
			if code != 0 || !strings.Contains(stderr, "Usage: simgate "+c.name) || !strings.Contains(stderr, "Examples:") {
				t.Errorf("simgate %s -h: exit %d\n%s", c.name, code, stderr)
			}
		})
	}
	if code, _, stderr := runCLI(); code != 2 || !strings.Contains(stderr, "go run ./cmd/simgate demo") {
		t.Errorf("simgate without a command: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI("frobnicate"); code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI("send", "-nope"); code != 2 || !strings.Contains(stderr, "flag provided but not defined") {
		t.Errorf("bad flag: exit %d %s", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI("version")
	if code != 0 || !regexp.MustCompile(`^simgate \S+ \(go1\.\d+`).MatchString(out) {
		t.Errorf("version: exit %d %q", code, out)
	}
	old := version
	version = "v9.9.9"
	defer func() { version = old }()
	if _, out, _ := runCLI("version"); !strings.HasPrefix(out, "simgate v9.9.9 ") {
		t.Errorf("-ldflags version not used: %q", out)
	}
}

func TestKeysCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "simgate.db")
	code, out, stderr := runCLI("keys", "create", "-store", db, "-owner", "ana", "-scopes", "send,read")
	if code != 0 {
		t.Fatalf("create: %d %s", code, stderr)
	}
	secret := regexp.MustCompile(`(?m)^  (sg_\S+)$`).FindStringSubmatch(out)
	id := regexp.MustCompile(`Created key (\S+) for ana`).FindStringSubmatch(out)
	if secret == nil || id == nil {
		t.Fatalf("create printed no key:\n%s", out)
	}
	if code, _, stderr := runCLI("keys", "create", "-store", db, "-owner", "x", "-scopes", "root"); code != 1 || !strings.Contains(stderr, "scope") {
		t.Errorf("unknown scope: exit %d %s", code, stderr)
	}
	if code, _, _ := runCLI("keys", "create", "-store", db); code != 2 {
		t.Errorf("create without -owner: exit %d", code)
	}
	_, out, _ = runCLI("keys", "list", "-store", db)
	if !strings.Contains(out, id[1]) || !strings.Contains(out, "read,send") || strings.Contains(out, secret[1]) {
		t.Errorf("list:\n%s", out)
	}
	if code, out, _ := runCLI("keys", "revoke", "-store", db, id[1]); code != 0 || !strings.Contains(out, "Revoked") {
		t.Errorf("revoke: %d %s", code, out)
	}
	if _, out, _ := runCLI("keys", "list", "-store", db); strings.Contains(out, id[1]) {
		t.Errorf("revoked key still listed without -all:\n%s", out)
	}
	if _, out, _ := runCLI("keys", "list", "-store", db, "-all"); !strings.Contains(out, id[1]) {
		t.Errorf("revoked key not listed with -all:\n%s", out)
	}
	if code, _, stderr := runCLI("keys", "revoke", "-store", db, "k_nope"); code != 1 || !strings.Contains(stderr, "no key") {
		t.Errorf("revoke unknown: %d %s", code, stderr)
	}
	// A key from -config's store.path.
	cfgPath := filepath.Join(t.TempDir(), "simgate.yaml")
	writeFile(t, cfgPath, "store: {path: "+db+"}\nmodems: [{name: a, port: /dev/a, pin_env: UNSET_PIN_IS_FINE_HERE}]\n")
	if code, out, stderr := runCLI("keys", "create", "-config", cfgPath, "-owner", "ops", "-scopes", "admin", "-q"); code != 0 || !strings.HasPrefix(out, "sg_") {
		t.Errorf("create -config: %d %q %s", code, out, stderr)
	}
}

// TestClientCommands drives send, messages and modems against a running gateway.
func TestClientCommands(t *testing.T) {
	g := startGateway(t, 2, 2, nil)
	t.Setenv("SIMGATE_ADDR", g.base)
	t.Setenv("SIMGATE_KEY", g.key)

	code, out, stderr := runCLI("send", "-to", demoContact, "-body", "from the CLI", "-idempotency-key", "cli-1")
	if code != 0 {
		t.Fatalf("send: %d %s", code, stderr)
	}
	m := regexp.MustCompile(`(?m)^(\w{26})\s+(queued|sending|sent)\s+gsm7\s+1\s*$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("send printed:\n%s", out)
	}
	id := m[1]
	// The same Idempotency-Key gives the same message.
	if _, out2, _ := runCLI("send", "-to", demoContact, "-body", "from the CLI", "-idempotency-key", "cli-1", "-json"); !strings.Contains(out2, id) {
		t.Errorf("idempotent resend gave another message:\n%s", out2)
	}
	waitFor(t, "the message to be sent", 30*time.Second, func() bool {
		_, out, _ := runCLI("messages", id)
		return regexp.MustCompile(`status:\s+(sent|delivered)`).MatchString(out)
	})
	_, out, _ = runCLI("messages", id)
	if !strings.Contains(out, "PART") || !regexp.MustCompile(`(?m)^1\s+(submitted|delivered)\s+sim\d`).MatchString(out) {
		t.Errorf("messages ID:\n%s", out)
	}
	if _, out, _ := runCLI("messages", "-direction", "out"); !strings.Contains(out, id) || !strings.Contains(out, "from the CLI") {
		t.Errorf("messages list:\n%s", out)
	}
	if _, out, _ := runCLI("messages", "-json", "-limit", "1"); !json.Valid([]byte(out)) {
		t.Errorf("messages -json is not JSON:\n%s", out)
	}
	if code, _, stderr := runCLI("messages", "01NOPE000000000000000000000"); code != 1 || !strings.Contains(stderr, "HTTP 404") {
		t.Errorf("unknown message: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI("send", "-to", "12", "-body", "x"); code != 1 || !strings.Contains(stderr, "HTTP 422") {
		t.Errorf("bad number: %d %s", code, stderr)
	}

	_, out, _ = runCLI("modems")
	if !regexp.MustCompile(`(?m)^sim1\s+up\s+home\s+-?\d+ dBm`).MatchString(out) {
		t.Errorf("modems:\n%s", out)
	}
	if code, _, stderr := runCLI("modems", "-pause", "sim1", "-reason", "test pause"); code != 0 {
		t.Fatalf("pause: %d %s", code, stderr)
	}
	if _, out, _ := runCLI("modems", "sim1"); !strings.Contains(out, "yes: test pause") {
		t.Errorf("paused modem:\n%s", out)
	}
	if code, _, stderr := runCLI("modems", "-resume", "sim1"); code != 0 {
		t.Fatalf("resume: %d %s", code, stderr)
	}
	if _, out, _ := runCLI("modems", "sim1"); strings.Contains(out, "yes:") {
		t.Errorf("resumed modem still paused:\n%s", out)
	}

	// Without a key: a helpful error, no request.
	t.Setenv("SIMGATE_KEY", "")
	if code, _, stderr := runCLI("modems"); code != 1 || !strings.Contains(stderr, "simgate keys create") {
		t.Errorf("no key: %d %s", code, stderr)
	}
	// A daemon that is not there.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	if code, _, stderr := runCLI("modems", "-addr", dead, "-key", "sg_x"); code != 1 || !strings.Contains(stderr, "is the daemon running") {
		t.Errorf("no daemon: %d %s", code, stderr)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
