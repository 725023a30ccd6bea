package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/simgate/simgate/gateway"
)

// CallbackPrefix starts the WebhookID of deliveries to a message's callback_url.
const CallbackPrefix = "callback:"

// Config configures a Deliverer. Zero fields take the defaults noted.
type Config struct {
	// Allow lists ranges that may be dialled although they are loopback,
	// private, link-local ... (e.g. an internal receiver at 10.1.2.3/32).
	Allow []netip.Prefix
	// Timeout bounds one attempt, connection to last byte (default 10s).
	Timeout time.Duration
	// MaxAge: a delivery still failing this long after it was created is
	// given up (default 72h). MaxAttempts, if > 0, also bounds the attempts.
	MaxAge      time.Duration
	MaxAttempts int
	// BackoffBase and BackoffMax shape the retry delay: base·2^(attempt-1),
	// capped at max, minus up to 20% jitter (defaults 10s and 1h).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxRedirects followed per attempt (default 3; each hop is SSRF-checked).
	MaxRedirects int
	// Concurrency: attempts in flight at once (default 4).
	Concurrency int
	// Batch: deliveries fetched per round (default 64).
	Batch int
	// PollInterval: how often the worker looks for due retries when nothing
	// wakes it (default 1s).
	PollInterval time.Duration
	// CallbackSecret signs deliveries to message callback URLs; empty sends
	// them unsigned (webhook-id and webhook-timestamp still set).
	CallbackSecret string
	// Resolver resolves webhook hosts (default net.DefaultResolver).
	Resolver Resolver
	// Now is the clock (default time.Now).
	Now func() time.Time
	// UserAgent (default "simgate-webhooks/1").
	UserAgent string
}

func (c *Config) setDefaults() {
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 72 * time.Hour
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = 10 * time.Second
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = time.Hour
	}
	if c.BackoffMax < c.BackoffBase {
		c.BackoffMax = c.BackoffBase
	}
	if c.MaxRedirects <= 0 {
		c.MaxRedirects = 3
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.Batch <= 0 {
		c.Batch = 64
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.UserAgent == "" {
		c.UserAgent = "simgate-webhooks/1"
	}
}

// Deliverer implements gateway.Notifier: see the package documentation.
type Deliverer struct {
	cfg    Config
	st     gateway.WebhookStore
	log    *slog.Logger
	client *http.Client
	tr     *http.Transport
	wake   chan struct{}

	mu    sync.Mutex
	hooks map[string]gateway.Webhook // cache, refreshed every round

	results *prometheus.CounterVec
	pending prometheus.Gauge
}

var _ gateway.Notifier = (*Deliverer)(nil)

// New returns a Deliverer over st. logger may be nil; reg may be nil (no
// metrics registered). It starts nothing: call Run.
func New(cfg Config, st gateway.WebhookStore, logger *slog.Logger, reg prometheus.Registerer) (*Deliverer, error) {
	if st == nil {
		return nil, errors.New("webhook: nil store")
	}
	cfg.setDefaults()
	if cfg.CallbackSecret != "" {
		if _, err := secretKey(cfg.CallbackSecret); err != nil {
			return nil, fmt.Errorf("webhook: callback secret: %w", err)
		}
	}
	for _, p := range cfg.Allow {
		if !p.IsValid() {
			return nil, fmt.Errorf("webhook: invalid allow-listed prefix %v", p)
		}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dl := newDialer(Guard{Allow: cfg.Allow}, cfg.Resolver, cfg.Timeout)
	tr := &http.Transport{
		Proxy:                 nil, // never: a proxy would bypass the address checks
		DialContext:           dl.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
	}
	d := &Deliverer{
		cfg: cfg, st: st, log: logger, tr: tr,
		wake:  make(chan struct{}, 1),
		hooks: map[string]gateway.Webhook{},
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simgate_webhook_deliveries_total",
			Help: "Webhook delivery attempts by result (success, retry, failed, refused).",
		}, []string{"result"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "simgate_webhook_pending",
			Help: "Webhook deliveries not yet done or given up.",
		}),
	}
	for _, r := range []string{"success", "retry", "failed", "refused"} {
		d.results.WithLabelValues(r)
	}
	d.client = &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > cfg.MaxRedirects {
				return fmt.Errorf("more than %d redirects", cfg.MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to scheme %q", req.URL.Scheme)
			}
			return nil
		},
	}
	if reg != nil {
		if err := reg.Register(d.results); err != nil {
			return nil, fmt.Errorf("webhook: metrics: %w", err)
		}
		if err := reg.Register(d.pending); err != nil {
			return nil, fmt.Errorf("webhook: metrics: %w", err)
		}
	}
	return d, nil
}

// Close releases idle connections. Stop Run by cancelling its context.
func (d *Deliverer) Close() error {
	d.tr.CloseIdleConnections()
	return nil
}

// Notify stores one delivery per webhook subscribed to e.Type (and one for
// the callback URL e carries, if any) durably, then wakes the worker. A store
// failure is logged: the event itself is already in the event store.
func (d *Deliverer) Notify(e gateway.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hooks, err := d.st.ListWebhooks(ctx)
	if err != nil {
		d.log.Error("webhook: list webhooks", "event_id", e.ID, "err", err)
		return
	}
	now := d.cfg.Now().UTC()
	var ds []gateway.Delivery
	add := func(webhookID string) {
		ds = append(ds, gateway.Delivery{
			ID:          "msg_" + ulid.Make().String(),
			WebhookID:   webhookID,
			Event:       e,
			NextAttempt: now,
			CreatedAt:   now,
		})
	}
	for _, h := range hooks {
		if subscribed(h, e.Type) {
			add(h.ID)
		}
	}
	if u := callbackURL(e.Data); u != "" {
		if err := CheckURL(u); err != nil {
			d.log.Warn("webhook: callback URL ignored", "event_id", e.ID, "err", err)
		} else {
			add(CallbackPrefix + u)
		}
	}
	if len(ds) == 0 {
		return
	}
	if err := d.st.EnqueueDeliveries(ctx, ds); err != nil {
		d.log.Error("webhook: deliveries not stored", "event_id", e.ID, "type", string(e.Type), "count", len(ds), "err", err)
		return
	}
	d.pending.Add(float64(len(ds)))
	d.Wake()
}

// Wake makes the worker look for due deliveries now (e.g. after a webhook was
// added through the API). It never blocks.
func (d *Deliverer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func subscribed(h gateway.Webhook, t gateway.EventType) bool {
	if len(h.Events) == 0 {
		return true
	}
	for _, x := range h.Events {
		if x == t || x == "*" {
			return true
		}
	}
	return false
}

// callbackURL finds a message's callback_url in an event's Data.
func callbackURL(data any) string {
	switch v := data.(type) {
	case *gateway.Message:
		if v != nil {
			return v.CallbackURL
		}
	case gateway.Message:
		return v.CallbackURL
	case map[string]any:
		s, _ := v["callback_url"].(string)
		return s
	}
	return ""
}

// Run is the worker loop: it sends due deliveries until ctx ends, then
// returns nil. Deliveries due while it is stopped are sent when it runs again.
func (d *Deliverer) Run(ctx context.Context) error {
	for {
		full, err := d.round(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Error("webhook: delivery round", "err", err)
		}
		if n, err := d.st.PendingDeliveries(ctx); err == nil {
			d.pending.Set(float64(n))
		}
		if full && ctx.Err() == nil {
			continue // more are due
		}
		t := time.NewTimer(d.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// round sends one batch of due deliveries and reports whether it was full.
func (d *Deliverer) round(ctx context.Context) (bool, error) {
	due, err := d.st.DueDeliveries(ctx, d.cfg.Now().UTC(), d.cfg.Batch)
	if err != nil || len(due) == 0 {
		return false, err
	}
	if err := d.refreshHooks(ctx); err != nil {
		return false, err
	}
	sem := make(chan struct{}, d.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, del := range due {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(del gateway.Delivery) {
			defer func() { <-sem; wg.Done() }()
			d.attempt(ctx, del)
		}(del)
	}
	wg.Wait()
	return len(due) == d.cfg.Batch, nil
}

func (d *Deliverer) refreshHooks(ctx context.Context) error {
	hooks, err := d.st.ListWebhooks(ctx)
	if err != nil {
		return fmt.Errorf("list webhooks: %w", err)
	}
	m := make(map[string]gateway.Webhook, len(hooks))
	for _, h := range hooks {
		m[h.ID] = h
	}
	d.mu.Lock()
	d.hooks = m
	d.mu.Unlock()
	return nil
}

// target returns the URL and secret of a delivery, or ok false when its
// webhook no longer exists.
func (d *Deliverer) target(del gateway.Delivery) (u, secret string, ok bool) {
	if cb, isCB := strings.CutPrefix(del.WebhookID, CallbackPrefix); isCB {
		return cb, d.cfg.CallbackSecret, true
	}
	d.mu.Lock()
	h, ok := d.hooks[del.WebhookID]
	d.mu.Unlock()
	return h.URL, h.Secret, ok
}

// payload is the body of every delivery.
type payload struct {
	Type      gateway.EventType `json:"type"`
	Timestamp time.Time         `json:"timestamp"`
	Data      gateway.Event     `json:"data"`
}

// attempt makes one attempt at del and records its outcome.
func (d *Deliverer) attempt(ctx context.Context, del gateway.Delivery) {
	now := d.cfg.Now().UTC()
	u, secret, ok := d.target(del)
	if !ok {
		d.finish(ctx, del, now, "failed", 0, "webhook deleted")
		return
	}
	if err := CheckURL(u); err != nil {
		d.finish(ctx, del, now, "failed", 0, "url "+err.Error())
		return
	}
	body, err := json.Marshal(payload{Type: del.Event.Type, Timestamp: del.Event.Time.UTC(), Data: del.Event})
	if err != nil {
		d.finish(ctx, del, now, "failed", 0, "payload: "+err.Error())
		return
	}
	status, err := d.post(ctx, u, secret, del.ID, now, body)
	if ctx.Err() != nil {
		return // shutting down: the attempt is not counted; it is retried at the next start
	}
	switch {
	case err == nil && status >= 200 && status < 300:
		d.finish(ctx, del, now, "success", status, "")
	case errors.Is(err, ErrRefused):
		d.finish(ctx, del, now, "refused", 0, errText(err))
	case err != nil && errors.Is(err, ErrBadSecret):
		d.finish(ctx, del, now, "failed", 0, errText(err))
	default:
		msg := ""
		if err != nil {
			msg = errText(err)
		} else {
			msg = "HTTP " + strconv.Itoa(status)
		}
		d.finish(ctx, del, now, "retry", status, msg)
	}
}

// post sends body to u once, signed, and returns the final HTTP status.
func (d *Deliverer) post(ctx context.Context, u, secret, id string, now time.Time, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.cfg.UserAgent)
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	if secret != "" {
		sig, err := Sign(secret, id, now, body)
		if err != nil {
			return 0, err
		}
		req.Header.Set(HeaderSignature, sig)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// finish records an attempt. result "retry" schedules the next attempt or,
// past MaxAge/MaxAttempts, gives up ("failed").
func (d *Deliverer) finish(ctx context.Context, del gateway.Delivery, now time.Time, result string, status int, errMsg string) {
	del.Attempts++
	del.LastAttempt = now
	del.LastStatus = status
	if len(errMsg) > 500 {
		errMsg = errMsg[:500]
	}
	del.LastError = errMsg
	switch result {
	case "success":
		del.Done = true
		del.LastError = ""
	case "refused", "failed":
		del.Failed = true
	case "retry":
		if now.Sub(del.CreatedAt) >= d.cfg.MaxAge || (d.cfg.MaxAttempts > 0 && del.Attempts >= d.cfg.MaxAttempts) {
			del.Failed = true
			result = "failed"
		} else {
			del.NextAttempt = now.Add(d.backoff(del.Attempts))
		}
	}
	d.results.WithLabelValues(result).Inc()
	log := d.log.With("delivery", del.ID, "webhook", hookLabel(del.WebhookID), "event", string(del.Event.Type), "attempt", del.Attempts)
	switch result {
	case "success":
		log.Debug("webhook delivered", "status", status)
	case "retry":
		log.Info("webhook attempt failed; will retry", "status", status, "err", errMsg, "next", del.NextAttempt)
	default:
		log.Warn("webhook delivery given up", "result", result, "status", status, "err", errMsg)
	}
	if err := d.st.UpdateDelivery(ctx, del); err != nil {
		d.log.Error("webhook: record attempt", "delivery", del.ID, "err", err)
	}
}

// errText is err without the URL the HTTP client puts in front of it (URLs
// may carry tokens; the error is logged and shown to operators).
func errText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return strings.ToLower(ue.Op) + ": " + ue.Err.Error()
	}
	return err.Error()
}

// hookLabel keeps callback URLs (which may carry tokens) out of logs.
func hookLabel(id string) string {
	if strings.HasPrefix(id, CallbackPrefix) {
		return "callback"
	}
	return id
}

// backoff is the delay before attempt n+1 after n failed attempts:
// base·2^(n-1) capped at max, minus up to 20% jitter (gateway.Backoff).
func (d *Deliverer) backoff(n int) time.Duration {
	return gateway.Backoff{Base: d.cfg.BackoffBase, Max: d.cfg.BackoffMax, Jitter: 0.2}.Delay(n)
}
