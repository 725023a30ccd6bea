package api

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/simgate/simgate/gateway"
)

// Limits bound what one API key, and all of them together, may ask of the
// gateway. The zero value limits nothing; DefaultLimits are the defaults of
// the daemon's configuration.
type Limits struct {
	// Rate is each key's sustained request rate, in requests per second,
	// over every authenticated route (0: no rate limit). Burst is how many
	// requests a key may make at once above it (at least 1).
	Rate  float64
	Burst int
	// DailyQuota is how many messages one key may have accepted per day,
	// counted from midnight in Location (0: no quota). The counts are kept
	// in memory: a restart starts the day's counts again.
	DailyQuota int
	// MaxQueued refuses new messages (503 queue-full) while at least this
	// many wait in the gateway's queue (0: no cap; needs Deps.QueueLen).
	MaxQueued int
	// DefaultValidity is the validity given to a message that asks for
	// none, counted from its send_at if it has one (0: such messages wait
	// until they are sent or cancelled). It keeps a message pinned to a
	// SIM that never comes back from waiting forever.
	DefaultValidity time.Duration
	// Location is the time zone the daily quota rolls over in (nil: UTC).
	Location *time.Location
}

// DefaultLimits are the limits the daemon applies unless configured.
func DefaultLimits() Limits {
	return Limits{Rate: 20, Burst: 100, DailyQuota: 5000, MaxQueued: 100000, DefaultValidity: 72 * time.Hour}
}

// Problem types of the limits.
const (
	ProblemRateLimited   = "rate-limited"
	ProblemQuotaExceeded = "quota-exceeded"
	ProblemQueueFull     = "queue-full"
)

// retryError is a refusal that tells the client when to try again
// (Retry-After, whole seconds, at least 1).
type retryError struct {
	apiError
	after time.Duration
}

func (e *retryError) Unwrap() error { return &e.apiError }

func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}

// limiter holds the per-key token buckets and daily counts.
type limiter struct {
	cfg Limits
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter // key id →
	day     string                   // YYYY-MM-DD the counts are for
	counts  map[string]int           // key id → messages accepted (or being accepted) today

	queueLen  func() int
	depthAt   atomic.Int64 // unix nanos of the cached depth
	depth     atomic.Int64
	refreshMu sync.Mutex
}

func newLimiter(cfg Limits, now func() time.Time, queueLen func() int) *limiter {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Burst < 1 {
		cfg.Burst = 1
	}
	return &limiter{cfg: cfg, now: now, queueLen: queueLen, buckets: map[string]*rate.Limiter{}, counts: map[string]int{}}
}

// allow takes a token from key id's bucket, or says how long until one is there.
func (l *limiter) allow(id string) (bool, time.Duration) {
	if l.cfg.Rate <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	b := l.buckets[id]
	if b == nil {
		if len(l.buckets) > 10000 { // keys are few; bound the map anyway
			clear(l.buckets)
		}
		b = rate.NewLimiter(rate.Limit(l.cfg.Rate), l.cfg.Burst)
		l.buckets[id] = b
	}
	l.mu.Unlock()
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// reserve counts one message against key id's quota for today; release
// gives it back when the message was not accepted after all.
func (l *limiter) reserve(id string) (release func(), retry time.Duration, ok bool) {
	if l.cfg.DailyQuota <= 0 {
		return func() {}, 0, true
	}
	now := l.now().In(l.cfg.Location)
	day := now.Format(time.DateOnly)
	l.mu.Lock()
	defer l.mu.Unlock()
	if day != l.day {
		l.day, l.counts = day, map[string]int{}
	}
	if l.counts[id] >= l.cfg.DailyQuota {
		y, m, d := now.Date()
		return nil, time.Date(y, m, d+1, 0, 0, 0, 0, l.cfg.Location).Sub(now), false
	}
	l.counts[id]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.day == day && l.counts[id] > 0 {
			l.counts[id]--
		}
	}, 0, true
}

// queueFull reports whether the queue holds MaxQueued messages. The depth
// is read at most every 250 ms (counting it walks the queue).
func (l *limiter) queueFull() bool {
	if l.cfg.MaxQueued <= 0 || l.queueLen == nil {
		return false
	}
	now := l.now().UnixNano()
	if d := now - l.depthAt.Load(); (d > int64(250*time.Millisecond) || d < 0) && l.refreshMu.TryLock() {
		l.depth.Store(int64(l.queueLen()))
		l.depthAt.Store(now)
		l.refreshMu.Unlock()
	}
	return l.depth.Load() >= int64(l.cfg.MaxQueued)
}

// rateLimit is the middleware, after authenticate, that spends a token of
// the key's bucket on every request.
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		k, ok := keyOf(c)
		if !ok {
			return next(c)
		}
		if ok, after := s.limits.allow(k.ID); !ok {
			s.refused.WithLabelValues("rate").Inc()
			return &retryError{apiError: apiError{status: http.StatusTooManyRequests, kind: ProblemRateLimited, title: "Too many requests",
				detail: "this API key is over its request rate (" + strconv.FormatFloat(s.limits.cfg.Rate, 'g', -1, 64) + "/s); retry after the time in Retry-After"}, after: after}
		}
		return next(c)
	}
}

// admit checks the daily quota and the queue cap before a message is
// submitted; release undoes the quota count if it is not accepted.
func (s *Server) admit(k gateway.APIKey) (release func(), err error) {
	if s.limits.queueFull() {
		s.refused.WithLabelValues("queue").Inc()
		return nil, &retryError{apiError: apiError{status: http.StatusServiceUnavailable, kind: ProblemQueueFull, title: "Queue full",
			detail: "the gateway's queue holds " + strconv.Itoa(s.limits.cfg.MaxQueued) + " messages or more; retry later"}, after: time.Minute}
	}
	release, after, ok := s.limits.reserve(k.ID)
	if !ok {
		s.refused.WithLabelValues("quota").Inc()
		return nil, &retryError{apiError: apiError{status: http.StatusTooManyRequests, kind: ProblemQuotaExceeded, title: "Daily quota exceeded",
			detail: "this API key has had " + strconv.Itoa(s.limits.cfg.DailyQuota) + " messages accepted today; the quota renews at midnight"}, after: after}
	}
	return release, nil
}

// applyDefaultValidity gives req the default validity if it has none.
func (s *Server) applyDefaultValidity(req *gateway.SendRequest) {
	dv := s.limits.cfg.DefaultValidity
	if req.Validity != 0 || dv <= 0 {
		return
	}
	v := dv
	if !req.SendAt.IsZero() {
		wait := req.SendAt.Sub(s.now())
		if wait >= gateway.MaxValidity-time.Minute {
			return // too far ahead for any validity: it waits as asked
		}
		v += max(wait, 0)
	}
	req.Validity = min(v, gateway.MaxValidity)
}
