package gateway

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// maxNumberInput bounds what NormalizeNumber will look at; anything longer is
// not a phone number and is refused before the parser sees it.
const maxNumberInput = 64

// NormalizeNumber parses raw (any common notation: "+1 (202) 555-0123",
// "202.555.0123", "00442079460000" ...) with defaultRegion (ISO 3166-1
// alpha-2, e.g. "US"; used only when raw has no international prefix) and
// returns it in E.164 ("+12025550123").
//
// Any failure is a *ValidationError for field "to" whose Reason says what is
// wrong without internals: empty, not a phone number, no country code and no
// default region, too short, too long, an extension, or not a valid number
// for its region.
//
// Validity is checked against libphonenumber's metadata, with one exception:
// the North American area code 555 is accepted although no real number uses
// it, because it is the conventional range for examples, the simulator and
// tests (a send to it simply fails at the network).
func NormalizeNumber(raw, defaultRegion string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", Invalid("to", "is required")
	}
	if len(s) > maxNumberInput || !utf8.ValidString(s) {
		return "", Invalid("to", "is not a phone number")
	}
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		switch {
		case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
			if region == "" || !strings.HasPrefix(s, "+") {
				return "", Invalid("to", "has no valid country code (write it as +<country code><number>)")
			}
			return "", Invalid("to", "has an unknown country code")
		case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
			return "", Invalid("to", "is too short to be a phone number")
		case errors.Is(err, phonenumbers.ErrNumTooLong):
			return "", Invalid("to", "is too long to be a phone number")
		default:
			return "", Invalid("to", "is not a phone number")
		}
	}
	if num.GetExtension() != "" {
		return "", Invalid("to", "must not have an extension")
	}
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.IS_POSSIBLE:
	case phonenumbers.TOO_SHORT, phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return "", Invalid("to", "is too short for its country (include the area code)")
	case phonenumbers.TOO_LONG:
		return "", Invalid("to", "is too long for its country")
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "", Invalid("to", "has an unknown country code")
	default:
		return "", Invalid("to", "has an invalid length for its country")
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	if !phonenumbers.IsValidNumber(num) && !fictionalNANP(e164) {
		if r := phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode())); r != "" && r != "ZZ" {
			return "", Invalid("to", "is not a valid number for region %s", r)
		}
		return "", Invalid("to", "is not a valid phone number")
	}
	if len(e164) > 16 { // "+" and at most 15 digits (ITU-T E.164)
		return "", Invalid("to", "is too long to be a phone number")
	}
	return e164, nil
}

// fictionalNANP reports whether e164 is in the North American area code 555,
// reserved for fiction and examples (+1 555 XXX XXXX).
func fictionalNANP(e164 string) bool {
	return len(e164) == 12 && strings.HasPrefix(e164, "+1555")
}

// IsPhoneNumber reports whether s looks like a phone number (an optional
// leading "+", then 2 to 15 digits, possibly separated by spaces, dashes, dots
// or parentheses) rather than an alphanumeric sender name such as "MyBank".
// It does not validate the number: use NormalizeNumber for that.
func IsPhoneNumber(s string) bool {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "+")
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return false
		}
	}
	return digits >= 2 && digits <= 15
}

// MaskNumber hides the middle of a number for logs at Info and above:
// "+15551234567" becomes "+1555***4567". Short inputs keep less: 6 to 9
// characters keep two at each end ("+1***89"), shorter ones become "***".
// The empty string stays empty. It works on any sender, alphanumeric too.
func MaskNumber(e164 string) string {
	r := []rune(e164)
	switch n := len(r); {
	case n == 0:
		return ""
	case n >= 10:
		return string(r[:5]) + "***" + string(r[n-4:])
	case n >= 6:
		return string(r[:2]) + "***" + string(r[n-2:])
	default:
		return "***"
	}
}
