package gateway

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Base: 10 * time.Second, Max: time.Hour}
	for _, c := range []struct {
		n    int
		want time.Duration
	}{
		{0, 10 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second},
		{9, 2560 * time.Second}, {10, time.Hour}, {1000, time.Hour},
	} {
		if got := b.Delay(c.n); got != c.want {
			t.Errorf("Delay(%d) = %s, want %s", c.n, got, c.want)
		}
	}
	if got := (Backoff{}).Delay(3); got != 0 {
		t.Errorf("zero Backoff = %s, want 0", got)
	}
	if got := (Backoff{Base: time.Minute, Max: time.Second}).Delay(5); got != time.Minute {
		t.Errorf("Max below Base = %s, want Base", got)
	}
}

func TestBackoffJitter(t *testing.T) {
	b := Backoff{Base: time.Second, Max: time.Minute, Jitter: 0.2}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := b.Delay(3) // 4 s nominal
		if d <= 3200*time.Millisecond-time.Nanosecond || d > 4*time.Second {
			t.Fatalf("Delay(3) = %s, want in (3.2s, 4s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Errorf("jitter gave one value only")
	}
}
