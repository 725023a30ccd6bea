package gateway

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrDestinationRefused is wrapped by a *DestinationError: the number is
// outside the destinations the gateway may text.
var ErrDestinationRefused = errors.New("destination refused")

// DestinationError says why a number may not be texted (without the number).
type DestinationError struct {
	Reason string
}

func (e *DestinationError) Error() string { return "destination refused: " + e.Reason }

// Unwrap makes errors.Is(err, ErrDestinationRefused) true.
func (e *DestinationError) Unwrap() error { return ErrDestinationRefused }

// HighCostPrefixes are E.164 prefixes refused with premium-rate numbers
// unless Destinations.AllowPremium: ITU-T E.164 codes whose numbers are
// charged far above a mobile's and are the usual targets of SMS pumping and
// international revenue share fraud. phonenumbers' metadata classifies the
// national premium-rate ranges (+1 900, +44 9x and 871-873, +49 900,
// +33 89x, +34 80x ...) itself.
var HighCostPrefixes = []struct{ Prefix, Reason string }{
	{"+979", "an International Premium Rate Service number (+979)"},
	{"+870", "an Inmarsat satellite number (+870)"},
	{"+881", "a global satellite (GMSS) number (+881)"},
	{"+882", "an international network number (+882)"},
	{"+883", "an international network number (+883)"},
}

// Destinations is the policy of which numbers may be texted, checked when a
// message is accepted. The zero value refuses premium-rate and high-cost
// numbers only.
//
// A number matching AllowPrefixes is allowed whatever else says. Otherwise
// it is refused if it matches DenyPrefixes; if AllowCountries is set and its
// region is not listed; if its region is in DenyCountries; or, unless
// AllowPremium, if it is a premium-rate number or matches HighCostPrefixes.
// Regions are ISO 3166-1 alpha-2 codes ("US"), "001" for non-geographic
// codes; a number phonenumbers cannot place has its country code's main
// region (+1: "US").
type Destinations struct {
	AllowCountries []string `json:"allow_countries,omitempty"`
	DenyCountries  []string `json:"deny_countries,omitempty"`
	AllowPrefixes  []string `json:"allow_prefixes,omitempty"`
	DenyPrefixes   []string `json:"deny_prefixes,omitempty"`
	AllowPremium   bool     `json:"allow_premium,omitempty"`
}

var (
	regionRE = regexp.MustCompile(`^([A-Z]{2}|001)$`)
	prefixRE = regexp.MustCompile(`^\+[0-9]{1,15}$`)
)

// Validate names the first wrong entry of each list ("deny_prefixes[1]").
func (p *Destinations) Validate() error {
	var errs []error
	for _, l := range []struct {
		name string
		vals []string
		re   *regexp.Regexp
		want string
	}{
		{"allow_countries", p.AllowCountries, regionRE, `a region code such as "US" (or "001")`},
		{"deny_countries", p.DenyCountries, regionRE, `a region code such as "US" (or "001")`},
		{"allow_prefixes", p.AllowPrefixes, prefixRE, `an E.164 prefix such as "+1555"`},
		{"deny_prefixes", p.DenyPrefixes, prefixRE, `an E.164 prefix such as "+1900"`},
	} {
		for i, v := range l.vals {
			if !l.re.MatchString(v) {
				errs = append(errs, fmt.Errorf("%s[%d]: %q is not %s", l.name, i, v, l.want))
			}
		}
	}
	return errors.Join(errs...)
}

// Check returns nil if the E.164 number may be texted, or a
// *DestinationError saying why not.
func (p *Destinations) Check(e164 string) error {
	if p == nil {
		return nil
	}
	for _, a := range p.AllowPrefixes {
		if strings.HasPrefix(e164, a) {
			return nil
		}
	}
	for _, d := range p.DenyPrefixes {
		if strings.HasPrefix(e164, d) {
			return &DestinationError{Reason: "numbers starting " + d + " are refused by the gateway's destination list"}
		}
	}
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return &DestinationError{Reason: "the number cannot be placed in a country"}
	}
	region := phonenumbers.GetRegionCodeForNumber(num)
	if region == "" {
		region = phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode()))
	}
	if len(p.AllowCountries) > 0 && !slices.Contains(p.AllowCountries, region) {
		return &DestinationError{Reason: "numbers in " + region + " are not among the countries the gateway may text"}
	}
	if slices.Contains(p.DenyCountries, region) {
		return &DestinationError{Reason: "numbers in " + region + " are refused by the gateway's destination list"}
	}
	if p.AllowPremium {
		return nil
	}
	if phonenumbers.GetNumberType(num) == phonenumbers.PREMIUM_RATE {
		return &DestinationError{Reason: "the number is a premium-rate number"}
	}
	for _, h := range HighCostPrefixes {
		if strings.HasPrefix(e164, h.Prefix) {
			return &DestinationError{Reason: "the number is " + h.Reason}
		}
	}
	return nil
}
