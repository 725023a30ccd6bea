package api_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
)

// fakeClock is the API's clock in these tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func withLimits(l api.Limits, clock *fakeClock) envOpt {
	return func(_ *gateway.Config, ac *api.Config) {
		ac.Limits = l
		if clock != nil {
			ac.Now = clock.now
		}
	}
}

// TestRateLimit: each key has its own token bucket; an empty one is a 429
// rate-limited problem with Retry-After, and refills with time.
func TestRateLimit(t *testing.T) {
	clock := &fakeClock{time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	e := newEnv(t, withLimits(api.Limits{Rate: 1, Burst: 3}, clock))
	for range 3 {
		must(t, e.do("GET", "/v1/modems", "read", nil), 200)
	}
	r := must(t, e.do("GET", "/v1/modems", "read", nil), 429)
	if p := r.problem(t); p.Type != api.ProblemBase+api.ProblemRateLimited {
		t.Errorf("type %q", p.Type)
	}
	if ra := r.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
	must(t, e.do("GET", "/v1/modems", "sendread", nil), 200) // another key has its own bucket
	clock.t = clock.t.Add(time.Second)
	must(t, e.do("GET", "/v1/modems", "read", nil), 200)
	if n := counterValue(t, e, "simgate_api_refused_total", "reason", "rate"); n != 1 {
		t.Errorf("refused{rate} = %v", n)
	}
}

// TestDailyQuota: a key may have DailyQuota messages accepted per day;
// then 429 quota-exceeded with Retry-After until midnight. Refused
// messages do not count; the next day starts again.
func TestDailyQuota(t *testing.T) {
	clock := &fakeClock{time.Date(2026, 5, 1, 22, 0, 0, 0, time.UTC)}
	e := newEnv(t, withLimits(api.Limits{DailyQuota: 2}, clock))
	must(t, e.do("POST", "/v1/messages", "send", map[string]any{"to": "12", "body": "refused"}), 422) // not counted
	e.send("+15551234567", "one")
	e.send("+15551234568", "two")
	r := must(t, e.do("POST", "/v1/messages", "send", map[string]any{"to": "+15551234569", "body": "three"}), 429)
	if p := r.problem(t); p.Type != api.ProblemBase+api.ProblemQuotaExceeded {
		t.Errorf("type %q", p.Type)
	}
	if ra := r.Header.Get("Retry-After"); ra != strconv.Itoa(2*3600) {
		t.Errorf("Retry-After %q, want %d (until midnight)", ra, 2*3600)
	}
	// Another key has its own quota; reads are not counted.
	must(t, e.do("POST", "/v1/messages", "other", map[string]any{"to": "+15551234569", "body": "bob"}), 202)
	must(t, e.do("GET", "/v1/messages", "sendread", nil), 200)
	clock.t = clock.t.Add(2 * time.Hour)
	e.send("+15551234569", "next day")
}

// TestQueueCap: while MaxQueued messages wait, new ones are a 503
// queue-full problem with Retry-After.
func TestQueueCap(t *testing.T) {
	clock := &fakeClock{time.Now()}
	e := newEnv(t, withLimits(api.Limits{MaxQueued: 2}, clock))
	e.send("+15551234567", "one")
	clock.t = clock.t.Add(time.Second) // the depth is re-read at most every 250 ms
	e.send("+15551234568", "two")
	clock.t = clock.t.Add(time.Second)
	r := must(t, e.do("POST", "/v1/messages", "send", map[string]any{"to": "+15551234569", "body": "three"}), 503)
	if p := r.problem(t); p.Type != api.ProblemBase+api.ProblemQueueFull || r.Header.Get("Retry-After") == "" {
		t.Errorf("problem %s, Retry-After %q", r.Body, r.Header.Get("Retry-After"))
	}
}

// TestDefaultValidity: a message that asks for no validity gets the
// default (counted from its send_at), so it cannot wait forever for a SIM
// that never comes back; an explicit validity is kept.
func TestDefaultValidity(t *testing.T) {
	e := newEnv(t, withLimits(api.Limits{DefaultValidity: 72 * time.Hour}, nil))
	v := e.send("+15551234567", "default")
	if v.ExpiresAt == nil || v.ExpiresAt.Sub(v.CreatedAt) != 72*time.Hour {
		t.Fatalf("expires_at %v, created_at %v: want 72 h later", v.ExpiresAt, v.CreatedAt)
	}
	sendAt := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	must(t, e.do("POST", "/v1/messages", "send", map[string]any{"to": "+15551234567", "body": "later", "send_at": sendAt.Format(time.RFC3339)}), 202).decode(t, &v)
	if v.ExpiresAt == nil || v.ExpiresAt.Before(sendAt.Add(72*time.Hour-time.Minute)) || v.ExpiresAt.After(sendAt.Add(72*time.Hour+time.Minute)) {
		t.Errorf("scheduled: expires_at %v, want about send_at + 72 h (%v)", v.ExpiresAt, sendAt.Add(72*time.Hour))
	}
	must(t, e.do("POST", "/v1/messages", "send", map[string]any{"to": "+15551234567", "body": "own", "validity": "2h"}), 202).decode(t, &v)
	if v.ExpiresAt == nil || v.ExpiresAt.Sub(v.CreatedAt) != 2*time.Hour {
		t.Errorf("explicit validity: expires_at %v", v.ExpiresAt)
	}
	// Without a default, no expiry (as before).
	e2 := newEnv(t)
	if v := e2.send("+15551234567", "forever"); v.ExpiresAt != nil {
		t.Errorf("no default: expires_at %v", v.ExpiresAt)
	}
}
