// Package web is the web app the daemon serves under /app/: server-rendered
// html/template pages with htmx (vendored in static/, embedded in the
// binary: no CDN, nothing built on the user's machine) for organisers and
// texters: the operations view (modems, opt-outs) and the People page;
// with Deps.Campaigns, the campaign pages over gateway/campaign's Service —
// organisers' under /app/campaigns (list with live progress, editor with
// script preview, CSV import and its report, assignment, state, review,
// exports), texters' under /app/c (first messages one contact at a time,
// replies polled every second). A texter's user ID is their texter ID.
//
// It owns the browser side of accounts: the login form, session cookies
// (HttpOnly, SameSite=Lax, Secure when the request came over TLS or
// Config.SecureCookies is set), CSRF protection (every POST carries the
// session's token in the X-CSRF-Token header or a csrf form field, and a
// cross-site Origin or Sec-Fetch-Site is refused), login attempts limited
// per client address and per login (golang.org/x/time/rate), and roles
// enforced on every route on the server. The accounts themselves are
// gateway/account's.
//
// Pages send a strict Content-Security-Policy (scripts and styles from
// 'self' only, no inline code), so templates hold no inline script or style.
//
// # Concurrency
//
// App's handler is safe for concurrent use; its only mutable state is the
// login limiter (a mutex-guarded map, bounded).
//
// # Errors
//
// Pages show errors as HTML, not problem documents: a
// *gateway.ValidationError is shown beside the field it names, with status
// 422; gateway.ErrNotFound is a 404 page; anything else is logged and shown
// as a 500 page without internals.
package web
