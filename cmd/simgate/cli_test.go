package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// TestHelpEverywhere: every command answers -h with its usage and examples
// on stdout (help asked for), exit 0; a bad command line gets them on stderr.
func TestHelpEverywhere(t *testing.T) {
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(c.name, "-h")
			if code != 0 || !strings.Contains(stdout, "Usage: simgate "+c.name) || !strings.Contains(stdout, "Examples:") || stderr != "" {
				t.Errorf("simgate %s -h: exit %d\nstdout: %s\nstderr: %s", c.name, code, stdout, stderr)
			}
			if _, stdout2, _ := runCLI("help", c.name); stdout2 != stdout {
				t.Errorf("simgate help %s differs from simgate %s -h", c.name, c.name)
			}
		})
	}
	if code, stdout, stderr := runCLI(); code != 2 || !strings.Contains(stderr, "go run ./cmd/simgate demo") || stdout != "" {
		t.Errorf("simgate without a command: exit %d\n%s", code, stderr)
	}
	if code, stdout, _ := runCLI("help"); code != 0 || !strings.Contains(stdout, "conversations") {
		t.Errorf("simgate help: exit %d\n%s", code, stdout)
	}
	if code, stdout, stderr := runCLI("messages", "-nope"); code != 2 || stdout != "" || !strings.Contains(stderr, "Usage: simgate messages") {
		t.Errorf("bad flag: exit %d, usage not on stderr:\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	// Every event type an example names is a real one.
	_, out, _ := runCLI("webhooks", "-h")
	for _, m := range regexp.MustCompile(`(?m)^  simgate webhooks .*-events (\S+)`).FindAllStringSubmatch(out, -1) {
		for _, e := range strings.Split(m[1], ",") {
			if !gateway.EventType(e).Known() {
				t.Errorf("webhooks -h shows event type %q, which does not exist", e)
			}
		}
	}
	// The key formats shown are the real ones: sg_ secrets, key_ IDs.
	for _, args := range [][]string{{"send", "-h"}, {"keys", "-h"}, {"keys", "revoke", "-h"}} {
		_, out, _ := runCLI(args...)
		if strings.Contains(out, "sk_") || strings.Contains(out, "k_3f9a2c ") || (!strings.Contains(out, "sg_") && !strings.Contains(out, "key_")) {
			t.Errorf("simgate %s shows a key format that is not the real one:\n%s", strings.Join(args, " "), out)
		}
	}
	if code, _, stderr := runCLI("frobnicate"); code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI("send", "-nope"); code != 2 || !strings.Contains(stderr, "flag provided but not defined") {
		t.Errorf("bad flag: exit %d %s", code, stderr)
	}
}

// TestVersionOf: -ldflags wins, then the module version, then the VCS
// revision and time go build records, else devel.
func TestVersionOf(t *testing.T) {
	vcs := func(rev, tm, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: tm}, {Key: "vcs.modified", Value: modified}}}
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name    string
		ldflags string
		bi      *debug.BuildInfo
		want    versionInfo
	}{
		{"ldflags", "v1.2.3", vcs(rev, "2026-12-01T09:00:00Z", "false"), versionInfo{"v1.2.3", rev, "2026-12-01T09:00:00Z"}},
		{"go install @version", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, versionInfo{version: "v1.4.0"}},
		{"git checkout", "", vcs(rev, "2026-12-01T09:00:00Z", "false"), versionInfo{"devel-0123456789ab", rev, "2026-12-01T09:00:00Z"}},
		{"dirty checkout", "", vcs(rev, "2026-12-01T09:00:00Z", "true"), versionInfo{"devel-0123456789ab-dirty", rev, "2026-12-01T09:00:00Z"}},
		{"nothing known", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, versionInfo{version: "devel"}},
		{"no build info", "", nil, versionInfo{version: "devel"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionOf(tt.ldflags, tt.bi); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
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

	// -since/-until and the status filter.
	if _, out, _ := runCLI("messages", "-since", "1h", "-until", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); !strings.Contains(out, id) {
		t.Errorf("messages -since 1h:\n%s", out)
	}
	if _, out, _ := runCLI("messages", "-until", "2d"); strings.Contains(out, id) {
		t.Errorf("messages -until 2d lists a message made now:\n%s", out)
	}
	if code, _, stderr := runCLI("messages", "-since", "yesterday"); code != 1 || !strings.Contains(stderr, "how long ago") {
		t.Errorf("bad -since: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI("messages", "-status", "pending"); code != 1 || !strings.Contains(stderr, "queued, sending, sent, delivered, failed, unknown, cancelled, expired, unconfirmed, received") {
		t.Errorf("bad -status: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI("messages", "-status", "pending", "-addr", "http://127.0.0.1:1"); code != 1 || strings.Contains(stderr, "daemon running") {
		t.Errorf("bad -status reached the daemon: %d %s", code, stderr)
	}

	// conversations: both directions with one contact.
	if err := g.sim.net.InjectSMS(g.sim.modemFor(demoContact, "").msisdn, demoContact, "a reply from the contact"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reply in the conversation", 30*time.Second, func() bool {
		_, out, _ := runCLI("conversations", demoContact)
		return strings.Contains(out, "from the CLI") && strings.Contains(out, "a reply from the contact")
	})
	if _, out, _ := runCLI("conversations", demoContact); !regexp.MustCompile(`(?m)^Conversation with \+15551234567 \(2 messages\)`).MatchString(out) ||
		!regexp.MustCompile(`(?m)\sout\s+(sent|delivered)\s`).MatchString(out) || !regexp.MustCompile(`(?m)\sin\s+received\s`).MatchString(out) {
		t.Errorf("conversations:\n%s", out)
	}
	if code, _, _ := runCLI("conversations"); code != 2 {
		t.Errorf("conversations without a number: exit %d", code)
	}

	// optouts: add, list, remove.
	if code, out, stderr := runCLI("optouts", "-add", "+15550001111, +15550002222", "-keyword", "STOP"); code != 0 || !strings.Contains(out, "Added 2 of 2") {
		t.Errorf("optouts -add: %d %s %s", code, out, stderr)
	}
	if _, out, _ := runCLI("optouts"); !regexp.MustCompile(`(?m)^\+15550001111\s+\S+\s+STOP`).MatchString(out) || !strings.Contains(out, "+15550002222") {
		t.Errorf("optouts:\n%s", out)
	}
	if code, out, _ := runCLI("optouts", "-remove", "+15550001111"); code != 0 || !strings.Contains(out, "Removed") {
		t.Errorf("optouts -remove: %d %s", code, out)
	}
	if _, out, _ := runCLI("optouts"); strings.Contains(out, "+15550001111") {
		t.Errorf("removed number still listed:\n%s", out)
	}

	// webhooks: add (secret shown once), list, remove; a wrong event type is refused before any request.
	code, out, stderr = runCLI("webhooks", "-add", "https://hooks.example.org/sms", "-events", "message.received,optout.added")
	hookID := regexp.MustCompile(`Added webhook (\S+) for https://hooks.example.org/sms \(events: message.received,optout.added\)`).FindStringSubmatch(out)
	if code != 0 || hookID == nil || !regexp.MustCompile(`(?m)^  whsec_\S+$`).MatchString(out) {
		t.Fatalf("webhooks -add: %d\n%s%s", code, out, stderr)
	}
	if _, out, _ := runCLI("webhooks"); !strings.Contains(out, hookID[1]) || !strings.Contains(out, "api") || strings.Contains(out, "whsec_") {
		t.Errorf("webhooks:\n%s", out)
	}
	if code, _, stderr := runCLI("webhooks", "-add", "https://x.example", "-events", "message.exploded"); code != 1 || !strings.Contains(stderr, "message.received, message.sent") {
		t.Errorf("bad event: %d %s", code, stderr)
	}
	if code, out, _ := runCLI("webhooks", "-remove", hookID[1]); code != 0 || !strings.Contains(out, "Removed webhook") {
		t.Errorf("webhooks -remove: %d %s", code, out)
	}

	_, out, _ = runCLI("modems")
	if !regexp.MustCompile(`(?m)^sim1\s+\d{18,22}\s+up\s+home\s+-?\d+ dBm`).MatchString(out) {
		t.Errorf("modems:\n%s", out)
	}
	iccid := regexp.MustCompile(`(?m)^sim1\s+(\d{18,22})\s`).FindStringSubmatch(out)
	waitFor(t, "the SIM inventory", 30*time.Second, func() bool {
		_, out, _ := runCLI("sims")
		return iccid != nil && regexp.MustCompile(`(?m)^`+iccid[1]+`\s+sim1\s+\d+`).MatchString(out)
	})
	if iccid != nil {
		if code, out, stderr := runCLI("sims", iccid[1]); code != 0 || !strings.Contains(out, "sim1") {
			t.Errorf("sims %s: %d\n%s%s", iccid[1], code, out, stderr)
		}
	}
	if code, _, stderr := runCLI("sims", "8900000000000000000"); code != 1 || !strings.Contains(stderr, "404") && !strings.Contains(strings.ToLower(stderr), "not found") {
		t.Errorf("sims of an unknown SIM: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI("modems", "-pause", "sim1", "-reason", "test pause"); code != 0 {
		t.Fatalf("pause: %d %s", code, stderr)
	}
	if _, out, _ := runCLI("modems", "sim1"); !strings.Contains(out, "HEALTH") || !regexp.MustCompile(`\s0\s+yes: test pause`).MatchString(out) {
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
