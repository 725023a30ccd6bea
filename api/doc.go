// Package api is simgate's HTTP API, built on Echo: the routes under /v1
// (messages, conversations, modems, opt-outs, webhooks), the online backup
// (GET /admin/backup, admin scope, streamed with the write deadline moved
// ahead at each write), /healthz, /readyz and /openapi.yaml, API-key authentication with scopes, the request and
// response types, and the one table that maps errors to HTTP statuses.
//
// # What it owns
//
// The API turns HTTP into calls on the gateway through small interfaces it
// declares itself: Sender (Submit, Cancel) and Fleet (modems, pause, resume,
// drain), both implemented by gateway.Dispatcher, and the store interfaces
// of package gateway. It owns input decoding (strict JSON: one object,
// member names matched exactly, a name twice in any object, unknown fields
// and trailing data refused, bodies bounded by Config.BodyLimit), the Idempotency-Key rules of POST /v1/messages (keys
// scoped by the API key's owner; the body's canonical SHA-256 is the
// request hash; a repeat while the first is in flight is refused from an
// in-memory set), cursor pagination, API keys (GenerateKey, ValidScope,
// HashKey: "sg_" + base64url(32 random bytes), stored only as SHA-256) and
// the OpenAPI 3.1 description in openapi.yaml, embedded and served.
//
// # Authentication
//
// Every /v1 route needs "Authorization: Bearer <key>". The key is hashed and
// looked up (gateway.KeyStore.KeyByHash); an unknown, malformed or revoked
// key is a 401 with WWW-Authenticate: Bearer. Scopes: send (POST messages,
// cancel), read (GET messages, conversations, modems, opt-outs), admin
// (pause/resume/drain, opt-out import and removal, webhooks, API keys under
// /v1/keys, the backup); admin implies send and read. A missing scope is a
// 403. A send key acts for its owner: "agent" may only name the owner (403
// otherwise) and cancel finds only the owner's messages (404 for
// another's); an admin key may do both. A key's LastUsed is recorded at
// most once a minute (KeyStore.TouchKey). A request body with no
// Content-Type is read as JSON; any other type than application/json (or
// application/*+json) is a 415.
//
// # Limits
//
// Config.Limits (limits.go): a token bucket per API key over every
// authenticated route (golang.org/x/time/rate; 429 rate-limited with
// Retry-After), a daily quota of accepted messages per key (429
// quota-exceeded, Retry-After until midnight; counted in memory), a cap on
// the gateway's queue depth (503 queue-full; Deps.QueueLen, read at most
// every 250 ms) and a default validity for messages that set none.
// simgate_api_refused_total{reason} counts the refusals.
//
// # Errors
//
// Every error answer is an RFC 9457 application/problem+json document written
// by Server.handleError, the Echo HTTPErrorHandler. problemFor classifies an
// error: *gateway.ValidationError → 422 validation (with an "errors" member
// naming each field); the gateway sentinels through the sentinels table
// (ErrOptedOut 422 opted-out, ErrNotFound 404, ErrNotCancellable 409,
// ErrIdempotencyMismatch 422, ErrInFlight 409, ErrNoModem 404 ...); Echo's
// routing errors (404, 405) by status; malformed bodies 400, too large 413,
// wrong media type 415, no key 401, missing scope 403. Anything else is a
// 500 "internal error" whose cause is logged at Error and never shown. Problem
// type URIs are ProblemBase + a name ("https://simgate.dev/problems/opted-out").
//
// # Logging and metrics
//
// Each request is logged at Info with method, route template, status,
// latency and API key id only: no numbers, bodies or keys.
// simgate_http_requests_total{route,method,code} and
// simgate_http_request_duration_seconds{route,method} use the Echo route
// template ("unmatched" when no route matched).
//
// # Concurrency
//
// Server's handler is safe for concurrent use. Serve runs one http.Server
// on the listener it is given and shuts it down gracefully, bounded by
// Config.ShutdownTimeout, when its context ends.
package api
