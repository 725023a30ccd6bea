package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/gateway"
)

// ProblemBase prefixes every problem type URI this API answers with
// ("https://simgate.dev/problems/opted-out"). The types are listed in
// openapi.yaml under components.schemas.Problem.
const ProblemBase = "https://simgate.dev/problems/"

// Problem type names (appended to ProblemBase).
const (
	ProblemValidation          = "validation"
	ProblemMalformed           = "malformed-request"
	ProblemOptedOut            = "opted-out"
	ProblemNotFound            = "not-found"
	ProblemNotCancellable      = "not-cancellable"
	ProblemIdempotencyMismatch = "idempotency-mismatch"
	ProblemInFlight            = "in-flight"
	ProblemNoModem             = "no-modem"
	ProblemConflict            = "conflict"
	ProblemUnauthorized        = "unauthorized"
	ProblemForbidden           = "forbidden"
	ProblemMethodNotAllowed    = "method-not-allowed"
	ProblemTooLarge            = "payload-too-large"
	ProblemUnsupportedMedia    = "unsupported-media-type"
	ProblemNotReady            = "not-ready"
	ProblemUnavailable         = "unavailable"
	ProblemInternal            = "internal"
	ProblemCancelled           = "cancelled"
	ProblemStorageFull         = "storage-full"
	ProblemDestinationRefused  = "destination-refused"
	ProblemUSSDTimeout         = "ussd-timeout"
	ProblemUSSDRejected        = "ussd-rejected"
)

// statusClientClosed is nginx's 499: the client closed the connection
// before the answer.
const statusClientClosed = 499

// Problem is an RFC 9457 problem document. Errors is an extension member
// listing the fields a validation problem is about.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
}

// FieldError names one wrong input field and says why.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// apiError is an error the API raises itself, already classified.
type apiError struct {
	status int
	kind   string // problem type name
	title  string
	detail string
	fields []FieldError
}

func (e *apiError) Error() string { return e.title + ": " + e.detail }

// badRequest is a 400 about malformed input; field may be "".
func badRequest(field, format string, args ...any) error {
	e := &apiError{status: http.StatusBadRequest, kind: ProblemMalformed, title: "Malformed request", detail: fmt.Sprintf(format, args...)}
	if field != "" {
		e.fields = []FieldError{{Field: field, Reason: e.detail}}
	}
	return e
}

// fieldErrors is a validation failure about several fields at once.
type fieldErrors []FieldError

func (f fieldErrors) Error() string {
	s := make([]string, len(f))
	for i, e := range f {
		s[i] = e.Field + ": " + e.Reason
	}
	return strings.Join(s, "; ")
}

// invalid is a 422 about one field.
func invalid(field, format string, args ...any) error {
	return gateway.Invalid(field, format, args...)
}

// sentinel maps a gateway sentinel error to its answer. It is the one
// error→status table of the API; everything not in it (and not an
// *apiError, *gateway.ValidationError or *echo.HTTPError) is a 500.
var sentinels = []struct {
	err    error
	status int
	kind   string
	title  string
	detail string
}{
	{gateway.ErrOptedOut, http.StatusUnprocessableEntity, ProblemOptedOut, "Recipient has opted out", "the recipient has opted out (STOP) and may not be texted"},
	{gateway.ErrIdempotencyMismatch, http.StatusUnprocessableEntity, ProblemIdempotencyMismatch, "Idempotency key reused", "the Idempotency-Key was already used with a different request body"},
	{gateway.ErrInFlight, http.StatusConflict, ProblemInFlight, "Request in flight", "a request with this Idempotency-Key is still being processed; retry later"},
	{gateway.ErrNotCancellable, http.StatusConflict, ProblemNotCancellable, "Not cancellable", "the message has already left the queue"},
	{gateway.ErrNoModem, http.StatusNotFound, ProblemNoModem, "No such modem", "no modem of that name exists"},
	{gateway.ErrNotFound, http.StatusNotFound, ProblemNotFound, "Not found", "the resource does not exist"},
	{gateway.ErrExists, http.StatusConflict, ProblemConflict, "Already exists", "a resource with the same identity already exists"},
	{gateway.ErrClosed, http.StatusServiceUnavailable, ProblemUnavailable, "Unavailable", "the gateway is shutting down"},
	{gateway.ErrStoreLocked, http.StatusServiceUnavailable, ProblemUnavailable, "Unavailable", "the store is unavailable"},
	{gateway.ErrUSSDTimeout, http.StatusGatewayTimeout, ProblemUSSDTimeout, "No USSD answer", "the network did not answer the USSD code in time; the session was cancelled"},
	{gateway.ErrUSSDBusy, http.StatusConflict, ProblemConflict, "USSD session running", "a USSD session is already running on this modem; retry later"},
	{gateway.ErrUSSDRejected, http.StatusUnprocessableEntity, ProblemUSSDRejected, "USSD code refused", "the modem or the network refused the USSD code"},
	{gateway.ErrUSSDUnavailable, http.StatusServiceUnavailable, ProblemUnavailable, "Unavailable", "the modem cannot run USSD now (not up or not registered)"},
	{gateway.ErrStorageFull, http.StatusInsufficientStorage, ProblemStorageFull, "Storage full", "the gateway's disk is full; nothing was stored"},
	// The client went away; nobody reads the answer, but it must not count as a 5xx.
	{context.Canceled, statusClientClosed, ProblemCancelled, "Client closed request", "the request was cancelled by the client"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, ProblemUnavailable, "Unavailable", "the gateway did not answer in time"},
}

// problemFor classifies err. internal reports whether err is unexpected
// (a 500 whose cause must be logged and not shown).
func problemFor(err error) (p Problem, internal bool) {
	var (
		ae *apiError
		ve *gateway.ValidationError
		de *gateway.DestinationError
		fe fieldErrors
		he *echo.HTTPError
	)
	switch {
	case errors.As(err, &ae):
		return Problem{Type: ProblemBase + ae.kind, Title: ae.title, Status: ae.status, Detail: ae.detail, Errors: ae.fields}, false
	case errors.As(err, &fe):
		return Problem{Type: ProblemBase + ProblemValidation, Title: "Invalid request", Status: http.StatusUnprocessableEntity,
			Detail: fe.Error(), Errors: fe}, false
	case errors.As(err, &de):
		return Problem{Type: ProblemBase + ProblemDestinationRefused, Title: "Destination refused", Status: http.StatusUnprocessableEntity,
			Detail: "to: " + de.Reason, Errors: []FieldError{{Field: "to", Reason: de.Reason}}}, false
	case errors.As(err, &ve):
		return Problem{Type: ProblemBase + ProblemValidation, Title: "Invalid request", Status: http.StatusUnprocessableEntity,
			Detail: ve.Error(), Errors: []FieldError{{Field: ve.Field, Reason: ve.Reason}}}, false
	}
	if p, ok := campaignProblem(err); ok {
		return p, false
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return Problem{Type: ProblemBase + s.kind, Title: s.title, Status: s.status, Detail: s.detail}, false
		}
	}
	if errors.As(err, &he) && he.Code >= 400 && he.Code < 500 {
		return echoProblem(he), false
	}
	return Problem{Type: ProblemBase + ProblemInternal, Title: "Internal error", Status: http.StatusInternalServerError,
		Detail: "internal error"}, true
}

// echoProblem translates Echo's own errors (routing, 405 ...).
func echoProblem(he *echo.HTTPError) Problem {
	p := Problem{Status: he.Code, Title: http.StatusText(he.Code)}
	switch he.Code {
	case http.StatusNotFound:
		p.Type, p.Title, p.Detail = ProblemBase+ProblemNotFound, "Not found", "no such route"
	case http.StatusMethodNotAllowed:
		p.Type, p.Detail = ProblemBase+ProblemMethodNotAllowed, "the method is not allowed on this route (see the Allow header)"
	case http.StatusRequestEntityTooLarge:
		p.Type, p.Detail = ProblemBase+ProblemTooLarge, "the request body is too large"
	case http.StatusUnsupportedMediaType:
		p.Type, p.Detail = ProblemBase+ProblemUnsupportedMedia, "the request body must be application/json"
	case http.StatusUnauthorized:
		p.Type, p.Detail = ProblemBase+ProblemUnauthorized, "a valid API key is required"
	case http.StatusForbidden:
		p.Type, p.Detail = ProblemBase+ProblemForbidden, "the API key lacks the scope this route needs"
	case http.StatusBadRequest:
		p.Type, p.Detail = ProblemBase+ProblemMalformed, "malformed request"
	default:
		p.Type = "about:blank"
		if p.Title == "" {
			p.Title = "Error"
		}
	}
	return p
}

// handleError is the Echo HTTPErrorHandler: every error answer of the API
// leaves through it as application/problem+json.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p, internal := problemFor(err)
	if internal {
		// The cause may contain anything; log it, never show it. Requests'
		// bodies and numbers are not in err (handlers wrap with fixed text).
		s.log.Error("internal error", "method", c.Request().Method, "route", routeOf(c), "err", err)
	}
	if p.Status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="simgate"`)
	}
	var re *retryError
	if errors.As(err, &re) {
		c.Response().Header().Set("Retry-After", retryAfterSeconds(re.after))
	}
	writeProblem(c, p)
}

func writeProblem(c echo.Context, p Problem) {
	b, err := json.Marshal(p)
	if err != nil { // cannot happen: Problem has only strings and ints
		b = []byte(`{"type":"` + ProblemBase + ProblemInternal + `","title":"Internal error","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(p.Status)
		return
	}
	_ = c.Blob(p.Status, "application/problem+json", b)
}
