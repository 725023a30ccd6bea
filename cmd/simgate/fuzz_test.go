package main

import (
	"strings"
	"testing"
)

// FuzzParseConfig: any input is either a valid configuration or an error;
// never a panic, and a valid one validates again.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("listen: 127.0.0.1:8080\nmodems:\n  - {name: a, port: /dev/a, pacing: {per_day: 5}}\n"))
	f.Add([]byte("pacing: {min_interval: 5}\n"))
	f.Add([]byte("modems: [{name: a, globs: ['[']}]\n"))
	f.Add([]byte("webhooks: [{url: 'https://x', secret_env: S, events: [message.sent]}]\napi: {body_limit: 1M}\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data, func(string) string { return "1234" }, t.TempDir())
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("ParseConfig accepted a config that does not validate: %v", err)
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"64K", "1M", "65536", "2GB", "-1", "9999999999999G", "k", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err == nil && (n < 0 || n > 1<<40) {
			t.Fatalf("parseSize(%q) = %d", s, n)
		}
		if err != nil && !strings.Contains(err.Error(), "not a size") {
			t.Fatalf("parseSize(%q): %v", s, err)
		}
	})
}

func TestParseSize(t *testing.T) {
	for s, want := range map[string]int64{"64K": 64 << 10, "64kb": 64 << 10, "1M": 1 << 20, "65536": 65536, " 2G ": 2 << 30} {
		if got, err := parseSize(s); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "K", "-1K", "1T", "1.5M"} {
		if _, err := parseSize(s); err == nil {
			t.Errorf("parseSize(%q) accepted", s)
		}
	}
}
