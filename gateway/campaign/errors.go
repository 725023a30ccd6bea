package campaign

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/simgate/simgate/gateway"
)

// Errors the Service returns besides gateway's (ErrNotFound, ErrOptedOut,
// *gateway.ValidationError ...). Callers match them with errors.Is / As.
var (
	// ErrState: the campaign's state does not allow this (e.g. sending while paused).
	ErrState = errors.New("not allowed in the campaign's state")
	// ErrNotAssigned: the contact is not assigned to the acting texter.
	ErrNotAssigned = errors.New("the contact is not assigned to you")
	// ErrForbidden: only an organiser may do this.
	ErrForbidden = errors.New("only an organiser may do this")
	// ErrImportRunning: another import into the campaign is under way.
	ErrImportRunning = errors.New("an import into this campaign is under way")
	// ErrOpenReplies: a new dynamic batch waits until open replies are handled.
	ErrOpenReplies = errors.New("handle your open replies before asking for more contacts")
	// ErrContactClosed: the contact is closed or opted out; nothing more is sent.
	ErrContactClosed = errors.New("the contact is closed or opted out")
)

// Invalid is gateway.Invalid: a *gateway.ValidationError for field.
func Invalid(field, format string, args ...any) error {
	return gateway.Invalid(field, format, args...)
}

func prefixField(field string, err error) error {
	var ve *gateway.ValidationError
	if errors.As(err, &ve) {
		return &gateway.ValidationError{Field: field, Reason: ve.Reason}
	}
	return err
}

// ComplianceError says why a campaign may not start: what its first message lacks.
type ComplianceError struct {
	Missing []string // human-readable, one per missing element
}

func (e *ComplianceError) Error() string {
	return "the first message does not comply: " + strings.Join(e.Missing, "; ")
}

// HoursError: the contact is outside their texting window, which opens at Opens.
type HoursError struct {
	Opens time.Time
	Zone  string
}

func (e *HoursError) Error() string {
	return fmt.Sprintf("outside the contact's texting hours; they open at %s (%s)", e.Opens.Format(time.RFC3339), e.Zone)
}

// FormatError is a malformed CSV file: where and what.
type FormatError struct {
	Line, Column int
	Reason       string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Reason)
}
