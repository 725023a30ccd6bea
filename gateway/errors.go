package gateway

import (
	"errors"
	"fmt"
)

// Sentinel errors. Adapters wrap them with context; callers match them with errors.Is.
var (
	// ErrNotFound: the thing asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a thing with the same identity is already stored.
	ErrExists = errors.New("already exists")
	// ErrOptedOut: the recipient has opted out (STOP) and may not be texted.
	ErrOptedOut = errors.New("recipient has opted out")
	// ErrNotCancellable: the message has already left the queue.
	ErrNotCancellable = errors.New("message can no longer be cancelled")
	// ErrIdempotencyMismatch: an Idempotency-Key was reused with another request.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
	// ErrInFlight: a request with the same Idempotency-Key is still being processed.
	ErrInFlight = errors.New("a request with this idempotency key is in flight")
	// ErrNoModem: no modem (or no modem of the requested name or group) exists.
	ErrNoModem = errors.New("no such modem")
	// ErrClosed: the component has been closed.
	ErrClosed = errors.New("closed")
	// ErrStoreLocked: another process holds the database.
	ErrStoreLocked = errors.New("store is locked by another process")
	// ErrStorageFull: the store cannot write because its disk (or quota)
	// is full.
	ErrStorageFull = errors.New("storage full")
)

// ValidationError says which input field is wrong and why.
type ValidationError struct {
	Field  string // JSON name of the field, e.g. "to"
	Reason string // human readable, no internals
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Invalid returns a *ValidationError for field.
func Invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// SendError is what a Device returns when a part could not be submitted.
// Temporary says a retry (perhaps on another modem) may succeed; Ambiguous
// says the PDU went out but its answer never came, so the part may or may not
// have been sent and must not be resent blindly.
type SendError struct {
	CMS       int  // +CMS ERROR code, 0 when there was none
	CME       int  // +CME ERROR code, 0 when there was none
	Temporary bool // a retry may help
	Ambiguous bool // the PDU was written; outcome unknown
	Err       error
}

func (e *SendError) Error() string {
	var s string
	switch {
	case e.CMS != 0:
		s = fmt.Sprintf("+CMS ERROR: %d", e.CMS)
	case e.CME != 0:
		s = fmt.Sprintf("+CME ERROR: %d", e.CME)
	default:
		s = "send failed"
	}
	if e.Ambiguous {
		s += " (outcome unknown)"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *SendError) Unwrap() error { return e.Err }

// Class is a bounded label for metrics and the API: "ambiguous", "cms_<code>",
// "cme_<code>", "timeout" or "other".
func (e *SendError) Class() string {
	switch {
	case e.Ambiguous:
		return "ambiguous"
	case e.CMS != 0:
		return fmt.Sprintf("cms_%d", e.CMS)
	case e.CME != 0:
		return fmt.Sprintf("cme_%d", e.CME)
	case e.Temporary:
		return "temporary"
	default:
		return "other"
	}
}

// CMSError returns the *SendError for a +CMS ERROR code, classified by CMSTemporary.
func CMSError(code int) *SendError {
	return &SendError{CMS: code, Temporary: CMSTemporary(code)}
}

// CMSTemporary reports whether a +CMS ERROR code is worth retrying
// (3GPP TS 27.005 §3.2.5 and field experience): network states that pass and
// problems of one modem or SIM that another modem may not have are
// temporary; a bad PDU or destination is not.
// 500 is treated as temporary; a burst of 500s on one SIM pauses it instead.
func CMSTemporary(code int) bool {
	switch code {
	case 38, // network out of order
		41,                 // temporary failure
		42,                 // congestion
		47,                 // resources unavailable
		310,                // SIM not inserted (modem-side; another modem may work)
		311,                // SIM PIN required
		314,                // SIM busy
		320,                // memory failure
		322,                // memory full
		330,                // SMSC address unknown
		331,                // no network service
		332,                // network timeout
		340,                // no +CNMA expected
		500,                // unknown error
		512, 513, 514, 515, // vendor: please wait / busy
		535: // Quectel: protocol stack busy
		return true
	}
	return false
}
