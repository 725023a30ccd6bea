// Package webhook delivers gateway events to HTTP endpoints.
//
// # The outbox
//
// Deliverer reads the stored events itself, after a durable cursor
// (gateway.EventOutbox): for each event committed after it, it makes one
// gateway.Delivery per subscribed webhook (and one for the callback_url of
// the outbound message the event is about) and stores them together with
// the new cursor in one transaction. An event stored before a crash is
// therefore delivered after the restart, exactly once. Notify (it
// implements gateway.Notifier) only wakes the reader; Config.PollInterval
// bounds the wait when nothing wakes it.
//
// # Delivering
//
// The scheduler (Run) posts due deliveries as JSON signed per Standard
// Webhooks (https://www.standardwebhooks.com): headers webhook-id (the
// delivery ID, stable across retries), webhook-timestamp (unix seconds of
// the attempt) and webhook-signature ("v1," + base64 HMAC-SHA256 of
// "id.timestamp.body" keyed with the base64-decoded secret after its
// "whsec_" prefix). A 2xx answer completes a delivery; anything else is
// retried with exponential backoff and jitter (gateway.Backoff) until MaxAge
// (default 3 days) or MaxAttempts, then marked failed. Every attempt is
// recorded on the delivery (LastAttempt, NextAttempt, LastStatus, LastError)
// so operators can see it; a receiver down for hours loses nothing, and a
// restart resumes from the store.
//
// # Endpoints
//
// Each endpoint (a webhook; for callbacks, the scheme and host of the URL)
// has at most Config.Concurrency attempts in flight (and all together at most
// MaxInFlight), and the store is asked for due deliveries skipping full
// endpoints, so an endpoint that never answers delays no other: no attempt
// waits for another to finish. Each endpoint has a circuit breaker: after
// BreakerThreshold consecutive failures its due deliveries are put back
// without a request until a cooldown ends, then one probe decides.
//
// The body is {"type": ..., "timestamp": RFC 3339, "data": <gateway.Event>}.
//
// SSRF: every connection, including each redirect hop, is made by one dialer
// that resolves the host itself and connects only to addresses it has
// checked; loopback, link-local, private, CGNAT, unspecified, multicast and
// reserved addresses are refused before any packet is sent, unless the
// operator allow-lists them (Config.Allow). IPv6 forms that carry an IPv4
// address (mapped, IPv4-compatible ::a.b.c.d, SIIT, NAT64, 6to4, Teredo) are
// judged by that address. A refused delivery fails at once (result
// "refused"). Environment proxies are never used.
//
// URL checks have one home here: CheckURL (form, length, and no numeric
// pseudo-host such as "2130706433", "127.1" or "0x7f.1", which inet_aton
// reads as 127.0.0.1 and Go's resolver would send to DNS and retry for
// days) and Guard.CheckURL (also an IP literal or localhost name the guard
// refuses), used by the API when a webhook or callback URL is registered,
// by the configuration's validation, and again when each delivery is made;
// the dialler refuses numeric pseudo-hosts too (a redirect can name one).
//
// Callback URLs: an event about an outbound message (message.sent,
// .delivered, .failed, .unknown, .expired, .unconfirmed) whose message has a callback_url
// is also delivered there (WebhookID "callback:" + URL), signed with
// Config.CallbackSecret, or unsigned when it is empty, through the same
// SSRF-checked dialer.
//
// Concurrency: Notify and Wake may be called from any goroutine and never
// block. Run runs the outbox reader and the scheduler and returns, once
// their attempts have stopped, when its context ends. Close releases idle
// connections.
//
// Metrics: simgate_webhook_deliveries_total{result} (success, retry, failed,
// refused, circuit_open) and simgate_webhook_pending.
package webhook
