package webhook

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/simgate/simgate/gateway"
)

// Endpoints.
//
// Every delivery belongs to an endpoint (a lane): its webhook, or for a
// callback the scheme and host of its URL. Each lane has at most
// Config.Concurrency attempts in flight and its own circuit breaker; the
// scheduler asks the store for due deliveries skipping those of full lanes
// and those already in flight, so one endpoint's backlog never hides
// another's deliveries, and no attempt waits for any other to finish.

// lane is one endpoint's in-flight count and circuit breaker.
type lane struct {
	inFlight  int
	failures  int       // consecutive failed attempts
	opens     int       // consecutive openings; 0 = closed
	openUntil time.Time // while opens > 0: open before it, half-open after
}

// open reports whether the circuit refuses attempts at now.
func (l *lane) open(now time.Time) bool { return l.opens > 0 && now.Before(l.openUntil) }

// limit is how many attempts the lane may have in flight at now: one probe
// while half-open.
func (l *lane) limit(now time.Time, concurrency int) int {
	if l.opens > 0 && !l.open(now) {
		return 1
	}
	return concurrency
}

// laneKey names the endpoint of a delivery.
func laneKey(webhookID string) string {
	cb, ok := strings.CutPrefix(webhookID, CallbackPrefix)
	if !ok {
		return webhookID
	}
	u, err := url.Parse(cb)
	if err != nil {
		return webhookID
	}
	return CallbackPrefix + u.Scheme + "://" + u.Host
}

// laneLocked returns the lane of key, creating it; d.mu is held.
func (d *Deliverer) laneLocked(key string) *lane {
	l := d.lanes[key]
	if l == nil {
		l = &lane{}
		d.lanes[key] = l
	}
	return l
}

// schedule is the delivery loop: it starts attempts at due deliveries as
// lanes have room, until ctx ends. Attempts run in goroutines tracked by wg.
func (d *Deliverer) schedule(ctx context.Context, wg *sync.WaitGroup) {
	for {
		if err := d.startDue(ctx, wg); err != nil && ctx.Err() == nil {
			d.log.Error("webhook: delivery round", "err", err)
		}
		if n, err := d.st.PendingDeliveries(ctx); err == nil {
			d.pending.Set(float64(n))
		}
		if !d.sleep(ctx, d.wake) {
			return
		}
	}
}

// startDue starts an attempt at every due delivery whose lane has room,
// within MaxInFlight.
func (d *Deliverer) startDue(ctx context.Context, wg *sync.WaitGroup) error {
	if err := d.refreshHooks(ctx); err != nil {
		return err
	}
	for ctx.Err() == nil {
		d.mu.Lock()
		free := d.cfg.MaxInFlight - d.total
		d.mu.Unlock()
		if free <= 0 {
			return nil
		}
		now := d.cfg.Now().UTC()
		// The store's read transaction may begin before an attempt that
		// ends now is committed: skip what ended since this pass began.
		d.mu.Lock()
		d.pass++
		for id, p := range d.ended {
			if p < d.pass {
				delete(d.ended, id) // committed before this pass's snapshot
			}
		}
		d.mu.Unlock()
		// Room per lane for this round: a lane is skipped once the
		// deliveries picked for it fill it.
		picked := map[string]int{}
		due, err := d.st.DueDeliveries(ctx, now, min(free, d.cfg.Batch), func(id, webhookID string) bool {
			key := laneKey(webhookID)
			d.mu.Lock()
			defer d.mu.Unlock()
			if _, ended := d.ended[id]; d.inFlight[id] || ended {
				return true
			}
			l := d.lanes[key]
			busy, limit := picked[key], d.cfg.Concurrency
			if l != nil {
				busy += l.inFlight
				limit = l.limit(now, d.cfg.Concurrency)
			}
			if busy >= limit {
				return true
			}
			picked[key]++
			return false
		})
		if err != nil {
			return err
		}
		for _, del := range due {
			d.start(ctx, wg, del, now)
		}
		if len(due) < min(free, d.cfg.Batch) {
			return nil
		}
	}
	return nil
}

// start runs one attempt at del in a new goroutine: a request, or, while
// its lane's circuit is open, putting it back without one.
func (d *Deliverer) start(ctx context.Context, wg *sync.WaitGroup, del gateway.Delivery, now time.Time) {
	key := laneKey(del.WebhookID)
	d.mu.Lock()
	l := d.laneLocked(key)
	open, until := l.open(now), l.openUntil
	l.inFlight++
	d.inFlight[del.ID] = true
	d.total++
	d.mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		result := ""
		if open {
			d.finish(ctx, del, now, "circuit_open", 0, "circuit open: the endpoint keeps failing", until)
		} else {
			result = d.attempt(ctx, del)
		}
		d.done(key, del.ID, result)
		d.Wake()
	}()
}

// done records the end of an attempt on its lane: result "success" closes
// the circuit, "retry" counts a failure and may open it ("" and permanent
// results leave the breaker alone).
func (d *Deliverer) done(key, id, result string) {
	now := d.cfg.Now().UTC()
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.inFlight, id)
	d.ended[id] = d.pass
	d.total--
	l := d.laneLocked(key)
	l.inFlight--
	switch result {
	case "success":
		if l.opens > 0 {
			d.log.Info("webhook endpoint answers again; circuit closed", "webhook", hookLabel(key))
		}
		l.failures, l.opens = 0, 0
	case "retry":
		l.failures++
		halfOpen := l.opens > 0 && !l.open(now)
		if halfOpen || (l.opens == 0 && l.failures >= d.cfg.BreakerThreshold) {
			l.opens++
			wait := gateway.Backoff{Base: d.cfg.BreakerBase, Max: d.cfg.BreakerMax}.Delay(l.opens)
			l.openUntil = now.Add(wait)
			d.log.Warn("webhook endpoint keeps failing; circuit open", "webhook", hookLabel(key), "failures", l.failures, "for", wait.String())
		}
	}
	if l.inFlight == 0 && l.failures == 0 && l.opens == 0 {
		delete(d.lanes, key) // nothing to remember (callback hosts come and go)
	}
}
