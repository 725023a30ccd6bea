package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeEnv sets every variable: PIN variables to a PIN, others to a webhook secret.
func fakeEnv(k string) string {
	if strings.Contains(k, "PIN") {
		return "1234"
	}
	return "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
}

// TestConfigsParse parses and validates every simgate config under configs/
// (configs/grafana and configs/prometheus hold no simgate configs and are
// not *.yaml at the top level).
func TestConfigsParse(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d configs under configs/, want at least simgate.example.yaml and demo.yaml", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := LoadConfig(f, fakeEnv)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Listen == "" || cfg.Store.Path == "" {
				t.Errorf("listen %q, store.path %q: defaults lost", cfg.Listen, cfg.Store.Path)
			}
		})
	}
}

// TestExampleDocumentsEveryKey checks that simgate.example.yaml sets every
// key the config knows, so the example stays the documentation.
func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../configs/simgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range yamlKeys(Config{}, "") {
		last := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(string(data), last+":") {
			t.Errorf("configs/simgate.example.yaml does not mention %s", key)
		}
	}
}

func TestExampleValues(t *testing.T) {
	cfg, err := LoadConfig("../../configs/simgate.example.yaml", fakeEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Modems[0].PIN; got != "1234" {
		t.Errorf("modems[0] PIN from pin_env = %q, want 1234", got)
	}
	p := cfg.ModemPacing(cfg.Modems[0])
	if p.PerDay != 500 || p.MinInterval.D() != 5*time.Second {
		t.Errorf("modems[0] pacing = %+v, want per_day 500 over default min_interval 5s", p)
	}
	if p := cfg.ModemPacing(cfg.Modems[1]); p.PerDay != 1000 {
		t.Errorf("modems[1] per_day = %d, want the default 1000", p.PerDay)
	}
	if cfg.Webhooks[0].Secret == "" {
		t.Error("webhook secret not resolved from secret_env")
	}
}

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(nil, fakeEnv, "")
	if err != nil {
		t.Fatalf("empty file: %v", err)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.Store.Path != "/var/lib/simgate/simgate.db" {
		t.Errorf("empty file gave %q %q", cfg.Listen, cfg.Store.Path)
	}
}

func TestValidateMessages(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error
	}{
		{"port required", "modems:\n  - name: a\n  - name: b\n  - name: c\n", []string{"modems[0].port: required", "modems[2].port: required"}},
		{"duplicate names", "modems:\n  - {name: a, port: /dev/a}\n  - {name: a, port: /dev/b}\n", []string{`modems[1].name: "a" is also the name of modems[0]`}},
		{"duplicate ports", "modems:\n  - {name: a, port: /dev/a}\n  - {name: b, port: /dev/a}\n", []string{"modems[1].port:"}},
		{"relative port", "modems:\n  - {name: a, port: ttyUSB0}\n", []string{"modems[0].port:", "absolute"}},
		{"bad name", "modems:\n  - {name: 'a b', port: /dev/a}\n", []string{"modems[0].name:"}},
		{"globs without identity", "modems:\n  - {name: a, globs: ['/dev/ttyUSB*']}\n", []string{"modems[0].globs:", "expected_imei"}},
		{"bad glob", "modems:\n  - {name: a, port: /dev/a, globs: ['[']}\n", []string{"modems[0].globs[0]:"}},
		{"bad imei", "modems:\n  - {name: a, port: /dev/a, expected_imei: '12'}\n", []string{"modems[0].expected_imei:"}},
		{"bad pin", "modems:\n  - {name: a, port: /dev/a, pin: 'abc'}\n", []string{"modems[0].pin: must be 4-8 digits"}},
		{"two pins", "modems:\n  - {name: a, port: /dev/a, pin: '1234', pin_env: X_PIN}\n", []string{"modems[0]: set only one of pin, pin_env and pin_file"}},
		{"group clashes with modem", "modems:\n  - {name: a, port: /dev/a}\n  - {name: b, port: /dev/b, groups: [a]}\n", []string{"modems[1].groups[0]:"}},
		{"negative per-modem pacing", "modems:\n  - {name: a, port: /dev/a, pacing: {per_day: -1}}\n", []string{"modems[0].pacing.per_day:"}},
		{"listen", "listen: nonsense\n", []string{"listen:"}},
		{"listen hostname", "listen: example.com:80\n", []string{"listen:", "IP address"}},
		{"metrics listen", "metrics: {listen: ':x:'}\n", []string{"metrics.listen:"}},
		{"metrics path", "metrics: {path: metrics}\n", []string{"metrics.path: must start with /"}},
		{"store path", "store: {path: ''}\n", []string{"store.path: required"}},
		{"region", "default_region: usa\n", []string{"default_region:"}},
		{"timezone", "timezone: Mars/Olympus\n", []string{"timezone:"}},
		{"log level", "log: {level: loud}\n", []string{"log.level:"}},
		{"log format", "log: {format: xml}\n", []string{"log.format:"}},
		{"discovery", "discovery: {enabled: true, globs: []}\n", []string{"discovery.globs: required"}},
		{"pacing", "pacing: {per_minute: -1, min_interval: -1s}\n", []string{"pacing.per_minute:", "pacing.min_interval:"}},
		{"sticky", "sticky_timeout: 0s\n", []string{"sticky_timeout: must be positive"}},
		{"prefer healthy", "prefer_healthy: 1.5\n", []string{"prefer_healthy: must be between 0 (off) and 1"}},
		{"retries", "retries: {max_attempts: 0, base: 10s, max: 1s}\n", []string{"retries.max_attempts:", "retries.max:"}},
		{"pause", "pause: {for: 0s}\n", []string{"pause.for:"}},
		{"block watch ratios", "pause: {block_watch: {min_report_ratio: 0.7, baseline_report_ratio: 0.6}}\n", []string{"pause.block_watch.baseline_report_ratio:"}},
		{"block watch wait", "pause: {block_watch: {report_wait: 0s}}\n", []string{"pause.block_watch.report_wait: must be positive"}},
		{"block watch reply wait", "pause: {block_watch: {reply_wait: 0s}}\n", []string{"pause.block_watch.reply_wait: must be positive"}},
		{"block watch expected replies", "pause: {block_watch: {reply_window: 10, min_expected_replies: 11}}\n", []string{"pause.block_watch.min_expected_replies: must be between 1 and reply_window"}},
		{"block watch reply share", "pause: {block_watch: {min_reply_share: 1}}\n", []string{"pause.block_watch.min_reply_share:"}},
		{"webhook url", "webhooks:\n  - {url: 'ftp://x', secret_env: S}\n", []string{"webhooks[0].url:"}},
		{"destinations", "destinations: {allow_countries: [usa], deny_prefixes: ['1900']}\n", []string{"destinations.allow_countries[0]:", "destinations.deny_prefixes[0]:"}},
		{"webhook numeric host", "webhooks:\n  - {url: 'http://2130706433/', secret_env: S}\n", []string{"webhooks[0].url:", "numeric host"}},
		{"webhook loopback", "webhooks:\n  - {url: 'http://[::127.0.0.1]/', secret_env: S}\n", []string{"webhooks[0].url:", "must not point to"}},
		{"webhook event", "webhooks:\n  - {url: 'https://x', events: [message.exploded], secret_env: S}\n", []string{"webhooks[0].events[0]:"}},
		{"webhook secret", "webhooks:\n  - {url: 'https://x'}\n", []string{"webhooks[0]: secret_env or secret_file required"}},
		{"allow", "webhook_allow: [10.0.0.0]\n", []string{"webhook_allow[0]:"}},
		{"stop words", "optout: {stop_words: []}\n", []string{"optout.stop_words: required"}},
		{"empty stop word", "optout: {stop_words: [' ']}\n", []string{"optout.stop_words[0]: must not be empty"}},
		{"body limit small", "api: {body_limit: 10}\n", []string{"api.body_limit: must be at least 1K"}},
		{"body limit junk", "api: {body_limit: 10Q}\n", []string{"api.body_limit:", "not a size"}},
		{"gc headroom junk", "gc_headroom: lots\n", []string{"gc_headroom:", "not a size"}},
		{"shutdown", "shutdown_timeout: 0s\n", []string{"shutdown_timeout:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml), fakeEnv, "")
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestDecodeErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", "listen: 127.0.0.1:1\nlisen: x\n", `line 2: unknown key "lisen" at the top level (did you mean "listen"?)`},
		{"unknown nested key", "modems:\n  - name: a\n    port: /dev/a\n    pinn: 1\n", `line 4: unknown key "pinn" in modems[0] (did you mean "pin"?)`},
		{"typo in pacing", "pacing:\n  min_intervl: 5s\n", `line 2: unknown key "min_intervl" in pacing (did you mean "min_interval"?)`},
		{"typo in a modem's pacing", "modems:\n  - name: a\n    port: /dev/a\n    pacing: {per_dya: 3}\n", `line 4: unknown key "per_dya" in modems[0].pacing (did you mean "per_day"?)`},
		{"typo in a webhook", "webhooks:\n  - url: https://x\n    secret_env: S\n    event: [message.sent]\n", `line 4: unknown key "event" in webhooks[0] (did you mean "events"?)`},
		{"nothing close", "store:\n  frobnicate: 1\n", `line 2: unknown key "frobnicate" in store (known keys: driver, path, open_timeout, postgres)`},
		{"bare number duration", "pacing:\n  min_interval: 5\n", `line 2: "5" is not a duration`},
		{"duration without unit", "sticky_timeout: '72'\n", `line 1: "72" is not a duration`},
		{"wrong type", "modems: 3\n", `line 1: modems: "3" is not a list`},
		{"wrong scalar type", "pacing:\n  per_day: lots\n", `line 2: pacing.per_day: "lots" is not a whole number`},
		{"wrong bool", "discovery:\n  enabled: maybe\n", `line 2: discovery.enabled: "maybe" is not true or false`},
		{"two documents", "listen: 127.0.0.1:1\n---\nlisten: 127.0.0.1:2\n", "only one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml), fakeEnv, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			// Go's type names mean nothing to the person editing the file.
			if strings.Contains(err.Error(), "main.") || strings.Contains(err.Error(), "!!") {
				t.Errorf("error %q names Go or YAML types", err)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask-proof
			t.Fatal(err)
		}
		return p
	}
	good := write("pin", "4321\n", 0o600)
	open := write("pin-open", "4321\n", 0o644)
	group := write("secret-group", "whsec_abc", 0o640)
	empty := write("empty", "\n", 0o600)
	hook := write("hook", "whsec_c2VjcmV0c2VjcmV0c2VjcmV0\n", 0o400)
	env := map[string]string{"MY_PIN": "1111", "HOOK": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "WEAK": "whsec_c2Vj", "JUNK": "hunter2"}
	getenv := func(k string) string { return env[k] }

	tests := []struct {
		name    string
		yaml    string
		wantPIN string
		wantSec string
		wantErr string
	}{
		{"pin from env", "modems: [{name: a, port: /dev/a, pin_env: MY_PIN}]", "1111", "", ""},
		{"pin from file", "modems: [{name: a, port: /dev/a, pin_file: " + good + "}]", "4321", "", ""},
		{"pin file relative to config", "modems: [{name: a, port: /dev/a, pin_file: pin}]", "4321", "", ""},
		{"pin inline", "modems: [{name: a, port: /dev/a, pin: '2468'}]", "2468", "", ""},
		{"pin env unset", "modems: [{name: a, port: /dev/a, pin_env: NOPE}]", "", "", "modems[0].pin_env: environment variable NOPE is not set"},
		{"pin file world readable", "modems: [{name: a, port: /dev/a, pin_file: " + open + "}]", "", "", "modems[0].pin_file: " + open + " is accessible by group or others (mode 0644)"},
		{"pin file missing", "modems: [{name: a, port: /dev/a, pin_file: /nonexistent/pin}]", "", "", "modems[0].pin_file:"},
		{"pin file empty", "modems: [{name: a, port: /dev/a, pin_file: " + empty + "}]", "", "", "is empty"},
		{"webhook secret env", "webhooks: [{url: 'https://x', secret_env: HOOK}]", "", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ""},
		{"webhook secret file", "webhooks: [{url: 'https://x', secret_file: " + hook + "}]", "", "whsec_c2VjcmV0c2VjcmV0c2VjcmV0", ""},
		{"webhook secret short", "webhooks: [{url: 'https://x', secret_env: WEAK}]", "", "", "webhooks[0].secret: not a Standard Webhooks secret"},
		{"webhook secret not base64", "webhooks: [{url: 'https://x', secret_env: JUNK}]", "", "", "webhooks[0].secret: not a Standard Webhooks secret"},
		{"callback secret junk", "callback_secret_env: JUNK", "", "", "callback_secret: not a Standard Webhooks secret"},
		{"webhook secret file group readable", "webhooks: [{url: 'https://x', secret_file: " + group + "}]", "", "", "webhooks[0].secret_file:"},
		{"callback secret env", "callback_secret_env: HOOK", "", "", ""},
		{"callback secret world readable", "callback_secret_file: " + open, "", "", "callback_secret_file:"},
		{"callback secret both", "callback_secret_env: HOOK\ncallback_secret_file: " + hook, "", "", "callback_secret: set only one"},
		{"webhook both", "webhooks: [{url: 'https://x', secret_file: " + hook + ", secret_env: HOOK}]", "", "", "webhooks[0]: set only one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tt.yaml), getenv, dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Modems) > 0 && cfg.Modems[0].PIN != tt.wantPIN {
				t.Errorf("PIN = %q, want %q", cfg.Modems[0].PIN, tt.wantPIN)
			}
			if len(cfg.Webhooks) > 0 && cfg.Webhooks[0].Secret != tt.wantSec {
				t.Errorf("secret = %q, want %q", cfg.Webhooks[0].Secret, tt.wantSec)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true,
		":8080": false, "0.0.0.0:80": false, "192.168.1.2:80": false, "nonsense": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// yamlKeys lists the dotted YAML keys of the struct type of v.
func yamlKeys(v any, prefix string) []string {
	return keysOf(reflect.TypeOf(v), prefix)
}

func keysOf(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(Duration(0)) {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		keys = append(keys, prefix+tag)
		keys = append(keys, keysOf(f.Type, prefix+tag+".")...)
	}
	return keys
}
