package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RetentionStore deletes what is past its retention. Each method deletes at
// most limit records in one transaction (so writers wait for one bounded
// batch), each with every index entry and counter that refers to it, and
// returns how many it deleted; a result equal to limit means there may be
// more.
type RetentionStore interface {
	// PruneMessages deletes messages in a final status (Status.Terminal)
	// created before before. Queued, sending and sent messages are never
	// deleted.
	PruneMessages(ctx context.Context, before time.Time, limit int) (int, error)
	// PruneEvents deletes events older than before that the webhook outbox
	// has already turned into deliveries.
	PruneEvents(ctx context.Context, before time.Time, limit int) (int, error)
	// PruneDeliveries deletes webhook deliveries done or given up, created
	// before before. Pending deliveries are never deleted.
	PruneDeliveries(ctx context.Context, before time.Time, limit int) (int, error)
	// PruneUnmatchedReports deletes kept unmatched status reports received
	// before before.
	PruneUnmatchedReports(ctx context.Context, before time.Time, limit int) (int, error)
	// PruneSticky deletes the SIM bindings (Sticky) of contacts that no
	// stored message names any more: once a contact's messages are all
	// pruned its number should not stay behind in the binding, and a new
	// conversation may start on any SIM. Every binding is made when a
	// message to the contact is submitted, so one with no message is over.
	PruneSticky(ctx context.Context, limit int) (int, error)
}

// RetentionConfig says how long each kind of record is kept. A zero age
// keeps that kind forever.
type RetentionConfig struct {
	// Messages: messages in a final status, by creation time. The SIM
	// bindings of contacts left without messages go with them.
	Messages time.Duration
	// Events: the event log (the audit trail behind webhooks).
	Events time.Duration
	// Deliveries: webhook deliveries done or given up.
	Deliveries time.Duration
	// UnmatchedReports: status reports that matched no part.
	UnmatchedReports time.Duration
	// Interval between pruning passes (default 10m).
	Interval time.Duration
	// Batch: records deleted per transaction (default 500).
	Batch int
	// Logger (nil discards) and Registerer (nil: no metrics) as elsewhere.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Retention prunes a RetentionStore on a schedule: one pass at Run's start
// and then every Interval. A pass deletes in batches of Batch records,
// yielding to other writers between batches, until nothing is left to
// delete or ctx ends.
//
// Retention is safe for concurrent use; Run runs in the caller's goroutine
// and returns when ctx ends.
type Retention struct {
	cfg    RetentionConfig
	st     RetentionStore
	log    *slog.Logger
	pruned *prometheus.CounterVec
	errs   prometheus.Counter
}

// Pruned says how many records one pass deleted, by kind.
type Pruned struct {
	Messages, Events, Deliveries, UnmatchedReports, Sticky int
}

// NewRetention returns a Retention over st. It registers
// simgate_retention_pruned_total{kind} and simgate_retention_errors_total.
func NewRetention(cfg RetentionConfig, st RetentionStore) (*Retention, error) {
	if st == nil {
		return nil, errors.New("retention: nil store")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Minute
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for _, d := range []struct {
		f string
		v time.Duration
	}{{"messages", cfg.Messages}, {"events", cfg.Events}, {"deliveries", cfg.Deliveries}, {"unmatched_reports", cfg.UnmatchedReports}} {
		if d.v < 0 {
			return nil, Invalid("retention."+d.f, "must not be negative (0 keeps forever)")
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Retention{
		cfg: cfg, st: st, log: log,
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simgate_retention_pruned_total",
			Help: "Records deleted by retention, by kind (messages, events, deliveries, unmatched_reports, sticky).",
		}, []string{"kind"}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "simgate_retention_errors_total",
			Help: "Retention passes that stopped on a store error.",
		}),
	}
	for _, k := range []string{"messages", "events", "deliveries", "unmatched_reports", "sticky"} {
		r.pruned.WithLabelValues(k)
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(r.pruned); err != nil {
			return nil, fmt.Errorf("retention: metrics: %w", err)
		}
		if err := cfg.Registerer.Register(r.errs); err != nil {
			return nil, fmt.Errorf("retention: metrics: %w", err)
		}
	}
	return r, nil
}

// Run prunes once now and then every Interval until ctx ends; it returns nil
// then. Store errors are logged and counted; the next pass tries again.
func (r *Retention) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		p, err := r.Prune(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.errs.Inc()
			r.log.Error("retention pass", "err", err)
		} else if p != (Pruned{}) {
			r.log.Info("retention pass", "messages", p.Messages, "events", p.Events, "deliveries", p.Deliveries, "unmatched_reports", p.UnmatchedReports, "sticky", p.Sticky)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Prune runs one pass: every kind with a retention, in batches, until
// nothing older than its retention is left. It stops at the first error.
func (r *Retention) Prune(ctx context.Context) (Pruned, error) {
	var p Pruned
	now := r.cfg.Now()
	kinds := []struct {
		name string
		age  time.Duration
		fn   func(context.Context, time.Time, int) (int, error)
		n    *int
	}{
		{"events", r.cfg.Events, r.st.PruneEvents, &p.Events},
		{"deliveries", r.cfg.Deliveries, r.st.PruneDeliveries, &p.Deliveries},
		{"unmatched_reports", r.cfg.UnmatchedReports, r.st.PruneUnmatchedReports, &p.UnmatchedReports},
		{"messages", r.cfg.Messages, r.st.PruneMessages, &p.Messages},
		{"sticky", r.cfg.Messages, func(ctx context.Context, _ time.Time, limit int) (int, error) { return r.st.PruneSticky(ctx, limit) }, &p.Sticky},
	}
	for _, k := range kinds {
		if k.age <= 0 {
			continue
		}
		before := now.Add(-k.age)
		for {
			if err := ctx.Err(); err != nil {
				return p, err
			}
			n, err := k.fn(ctx, before, r.cfg.Batch)
			*k.n += n
			r.pruned.WithLabelValues(k.name).Add(float64(n))
			if err != nil {
				return p, fmt.Errorf("prune %s: %w", k.name, err)
			}
			if n < r.cfg.Batch {
				break
			}
		}
	}
	return p, nil
}
