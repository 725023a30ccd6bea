package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/simgate/simgate/gateway"
)

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

// attempt makes one attempt at del, records its outcome and returns the
// result ("" when ctx ended: the attempt is not counted).
func (d *Deliverer) attempt(ctx context.Context, del gateway.Delivery) string {
	now := d.cfg.Now().UTC()
	u, secret, ok := d.target(del)
	if !ok {
		return d.finish(ctx, del, now, "failed", 0, "webhook deleted", time.Time{})
	}
	if err := CheckURL(u); err != nil {
		return d.finish(ctx, del, now, "failed", 0, "url "+err.Error(), time.Time{})
	}
	body, err := json.Marshal(payload{Type: del.Event.Type, Timestamp: del.Event.Time.UTC(), Data: del.Event})
	if err != nil {
		return d.finish(ctx, del, now, "failed", 0, "payload: "+err.Error(), time.Time{})
	}
	status, err := d.post(ctx, u, secret, del.ID, now, body)
	if ctx.Err() != nil {
		return "" // shutting down: the attempt is not counted; it is retried at the next start
	}
	switch {
	case err == nil && status >= 200 && status < 300:
		return d.finish(ctx, del, now, "success", status, "", time.Time{})
	case errors.Is(err, ErrRefused):
		return d.finish(ctx, del, now, "refused", 0, errText(err), time.Time{})
	case err != nil && errors.Is(err, ErrBadSecret):
		return d.finish(ctx, del, now, "failed", 0, errText(err), time.Time{})
	default:
		msg := ""
		if err != nil {
			msg = errText(err)
		} else {
			msg = "HTTP " + strconv.Itoa(status)
		}
		// The breaker counts the failure even when this delivery is given up.
		d.finish(ctx, del, now, "retry", status, msg, time.Time{})
		return "retry"
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

// finish records an attempt and returns its result. result "retry" (and
// "circuit_open", an attempt refused without a request) schedules the next
// attempt, not before notBefore, or, past MaxAge/MaxAttempts, gives up
// ("failed").
func (d *Deliverer) finish(ctx context.Context, del gateway.Delivery, now time.Time, result string, status int, errMsg string, notBefore time.Time) string {
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
	case "retry", "circuit_open":
		if now.Sub(del.CreatedAt) >= d.cfg.MaxAge || (d.cfg.MaxAttempts > 0 && del.Attempts >= d.cfg.MaxAttempts) {
			del.Failed = true
			result = "failed"
		} else {
			del.NextAttempt = now.Add(d.backoff(del.Attempts))
			if del.NextAttempt.Before(notBefore) {
				del.NextAttempt = notBefore
			}
		}
	}
	d.results.WithLabelValues(result).Inc()
	log := d.log.With("delivery", del.ID, "webhook", hookLabel(del.WebhookID), "event", string(del.Event.Type), "attempt", del.Attempts)
	switch result {
	case "success":
		log.Debug("webhook delivered", "status", status)
	case "retry":
		log.Info("webhook attempt failed; will retry", "status", status, "err", errMsg, "next", del.NextAttempt)
	case "circuit_open":
		log.Debug("webhook attempt held back; circuit open", "next", del.NextAttempt)
	default:
		log.Warn("webhook delivery given up", "result", result, "status", status, "err", errMsg)
	}
	if err := d.st.UpdateDelivery(ctx, del); err != nil {
		d.log.Error("webhook: record attempt", "delivery", del.ID, "err", err)
	}
	return result
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
