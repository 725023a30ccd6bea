// Package webhook delivers gateway events to HTTP endpoints.
//
// Deliverer implements gateway.Notifier. For every event it stores one
// gateway.Delivery per subscribed webhook (and one for the message's
// callback_url, when the event carries one) in the gateway.WebhookStore before
// it returns, and wakes its worker. The worker (Run) posts due deliveries as
// JSON signed per Standard Webhooks (https://www.standardwebhooks.com):
// headers webhook-id (the delivery ID, stable across retries),
// webhook-timestamp (unix seconds of the attempt) and webhook-signature
// ("v1," + base64 HMAC-SHA256 of "id.timestamp.body" keyed with the
// base64-decoded secret after its "whsec_" prefix). A 2xx answer completes a
// delivery; anything else is retried with exponential backoff and jitter until
// MaxAge (default 3 days) or MaxAttempts, then marked failed. Every attempt is
// recorded on the delivery (LastAttempt, NextAttempt, LastStatus, LastError)
// so operators can see it; a receiver down for hours loses nothing, and a
// restart resumes from the store.
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
// Callback URLs: when an event's Data is a gateway.Message (or *Message, or a
// decoded JSON object) with a callback_url, the event is also delivered there
// (WebhookID "callback:" + URL), signed with Config.CallbackSecret, or
// unsigned when it is empty.
//
// Concurrency: Notify may be called from any goroutine. Run is the single
// worker loop; it sends up to Config.Concurrency deliveries at a time and
// returns when its context ends. Close releases idle connections.
//
// Metrics: simgate_webhook_deliveries_total{result} (success, retry, failed,
// refused) and simgate_webhook_pending.
package webhook
