package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/simgate/simgate/gateway"
)

// CallbackPrefix starts the WebhookID of deliveries to a message's callback_url.
const CallbackPrefix = "callback:"

// Store is what a Deliverer needs of the store: the webhooks and their
// deliveries, the event outbox it reads, and messages (for callback URLs).
type Store interface {
	gateway.WebhookStore
	gateway.EventOutbox
	// GetMessage returns the message with id, or an error wrapping
	// gateway.ErrNotFound.
	GetMessage(ctx context.Context, id string) (*gateway.Message, error)
}

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
	// Concurrency: attempts in flight at once to one endpoint (a webhook,
	// or the host of callback URLs) (default 2).
	Concurrency int
	// MaxInFlight: attempts in flight at once in all (default 32).
	MaxInFlight int
	// BreakerThreshold: consecutive failed attempts to an endpoint that open
	// its circuit (default 5). While open, its due deliveries are put back
	// without a request (LastError "circuit open"); after BreakerBase (doubling
	// per consecutive opening up to BreakerMax; defaults 30s and 10m) one
	// attempt probes it, and its success closes the circuit.
	BreakerThreshold int
	BreakerBase      time.Duration
	BreakerMax       time.Duration
	// Batch: events and deliveries read per round (default 64).
	Batch int
	// PollInterval: how often the workers look for due retries and new
	// events when nothing wakes them (default 1s).
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
		c.Concurrency = 2
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 32
	}
	if c.BreakerThreshold <= 0 {
		c.BreakerThreshold = 5
	}
	if c.BreakerBase <= 0 {
		c.BreakerBase = 30 * time.Second
	}
	if c.BreakerMax <= 0 {
		c.BreakerMax = 10 * time.Minute
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
	st     Store
	log    *slog.Logger
	client *http.Client
	tr     *http.Transport
	wake   chan struct{} // due deliveries may be waiting
	events chan struct{} // new events may be in the outbox

	mu       sync.Mutex
	hooks    map[string]gateway.Webhook // cache, refreshed every round
	lanes    map[string]*lane           // by endpoint key
	inFlight map[string]bool            // delivery IDs being attempted
	total    int                        // len(inFlight)
	ended    map[string]uint64          // delivery ID → pass in which its attempt ended
	pass     uint64                     // DueDeliveries calls so far

	results *prometheus.CounterVec
	pending prometheus.Gauge
}

var _ gateway.Notifier = (*Deliverer)(nil)

// New returns a Deliverer over st. logger may be nil; reg may be nil (no
// metrics registered). It starts nothing: call Run.
func New(cfg Config, st Store, logger *slog.Logger, reg prometheus.Registerer) (*Deliverer, error) {
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
		wake:     make(chan struct{}, 1),
		events:   make(chan struct{}, 1),
		hooks:    map[string]gateway.Webhook{},
		lanes:    map[string]*lane{},
		inFlight: map[string]bool{},
		ended:    map[string]uint64{},
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simgate_webhook_deliveries_total",
			Help: "Webhook delivery attempts by result (success, retry, failed, refused, circuit_open).",
		}, []string{"result"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "simgate_webhook_pending",
			Help: "Webhook deliveries not yet done or given up.",
		}),
	}
	for _, r := range []string{"success", "retry", "failed", "refused", "circuit_open"} {
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

// Notify tells the Deliverer that e has been stored: it wakes the outbox
// reader, which turns every stored event after its cursor into deliveries.
// e itself is not used (the stored copy is), so an event is delivered only
// if it was stored, and is delivered even if the process dies before it is
// read. Notify never blocks.
func (d *Deliverer) Notify(gateway.Event) {
	select {
	case d.events <- struct{}{}:
	default:
	}
}

// Wake makes the worker look for due deliveries now (e.g. after a webhook was
// added through the API). It never blocks.
func (d *Deliverer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run runs the outbox reader and the delivery scheduler until ctx ends,
// waits for the attempts in flight to stop, and returns nil. Events stored
// and deliveries due while it is stopped are handled when it runs again.
func (d *Deliverer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.readOutbox(ctx)
	}()
	d.schedule(ctx, &wg)
	wg.Wait()
	return nil
}

// sleep waits for ch, the poll interval or ctx; it reports false once ctx ended.
func (d *Deliverer) sleep(ctx context.Context, ch <-chan struct{}) bool {
	t := time.NewTimer(d.cfg.PollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-ch:
	case <-t.C:
	}
	return true
}

// readOutbox turns stored events into deliveries until ctx ends.
func (d *Deliverer) readOutbox(ctx context.Context) {
	for {
		if err := d.fanOut(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("webhook: event outbox", "err", err)
		}
		if !d.sleep(ctx, d.events) {
			return
		}
	}
}

// fanOut reads the events after the outbox cursor, a batch at a time, and
// stores one delivery per subscribed webhook (and one for the callback URL
// of the message an event is about) together with the new cursor.
func (d *Deliverer) fanOut(ctx context.Context) error {
	for ctx.Err() == nil {
		evs, pos, err := d.st.NextEvents(ctx, d.cfg.Batch)
		if err != nil || pos == "" {
			return err
		}
		hooks, err := d.st.ListWebhooks(ctx)
		if err != nil {
			return fmt.Errorf("list webhooks: %w", err)
		}
		now := d.cfg.Now().UTC()
		var ds []gateway.Delivery
		for _, e := range evs {
			add := func(webhookID string) {
				ds = append(ds, gateway.Delivery{
					ID: "msg_" + ulid.Make().String(), WebhookID: webhookID, Event: e,
					NextAttempt: now, CreatedAt: now,
				})
			}
			for _, h := range hooks {
				if subscribed(h, e.Type) {
					add(h.ID)
				}
			}
			u, err := d.callbackURL(ctx, e)
			if err != nil {
				return err
			}
			if u != "" {
				if err := CheckURL(u); err != nil {
					d.log.Warn("webhook: callback URL ignored", "event_id", e.ID, "err", err)
				} else {
					add(CallbackPrefix + u)
				}
			}
		}
		if err := d.st.AdvanceEvents(ctx, pos, ds); err != nil {
			if errors.Is(err, gateway.ErrExists) {
				continue // handed on already (cannot happen with one reader): read on
			}
			return fmt.Errorf("store deliveries: %w", err)
		}
		if len(ds) > 0 {
			d.pending.Add(float64(len(ds)))
			d.Wake()
		}
	}
	return nil
}

// callbackURL is the callback_url of the outbound message e is about, if any.
func (d *Deliverer) callbackURL(ctx context.Context, e gateway.Event) (string, error) {
	if e.MessageID == "" || !e.Type.AboutOutboundMessage() {
		return "", nil
	}
	m, err := d.st.GetMessage(ctx, e.MessageID)
	if errors.Is(err, gateway.ErrNotFound) {
		return "", nil // pruned, or the event came from elsewhere
	}
	if err != nil {
		return "", fmt.Errorf("message of event %s: %w", e.ID, err)
	}
	if m.Direction != gateway.Outbound {
		return "", nil
	}
	return m.CallbackURL, nil
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
