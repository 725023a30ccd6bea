package gateway

import (
	"math/rand/v2"
	"time"
)

// Backoff is an exponential backoff: the delay after n failed attempts is
// Base·2^(n-1), capped at Max, minus a random part of up to Jitter of it
// (0 ≤ Jitter < 1; 0 means no jitter, so the delay is exact). It is the
// one backoff of simgate: the dispatcher's send retries and the webhook
// deliverer's retries both use it. The zero value returns 0.
type Backoff struct {
	Base   time.Duration
	Max    time.Duration
	Jitter float64
}

// Delay returns the wait before attempt n+1 after n ≥ 1 failed attempts
// (n < 1 is taken as 1). It never overflows: doubling stops at Max.
func (b Backoff) Delay(n int) time.Duration {
	d := b.Base
	if d <= 0 {
		return 0
	}
	ceil := max(b.Max, b.Base)
	for i := 1; i < n && d < ceil; i++ {
		d *= 2
	}
	d = min(d, ceil)
	if b.Jitter > 0 {
		if j := int64(float64(d) * min(b.Jitter, 1)); j > 0 {
			d -= time.Duration(rand.Int64N(j))
		}
	}
	return d
}
