package gateway

import (
	"errors"
	"strings"
	"testing"
)

func TestDestinations(t *testing.T) {
	def := &Destinations{}
	custom := &Destinations{
		AllowCountries: []string{"US", "CA", "GB", "001"},
		DenyCountries:  []string{"CA"},
		AllowPrefixes:  []string{"+1900555"},
		DenyPrefixes:   []string{"+1212"},
	}
	premium := &Destinations{AllowPremium: true}
	tests := []struct {
		name   string
		p      *Destinations
		number string
		reason string // "" = allowed
	}{
		{"US mobile", def, "+14155550123", ""},
		{"US 900 premium", def, "+19005550123", "premium-rate"},
		{"UK 09 premium", def, "+449098790000", "premium-rate"},
		{"UK 0871 service", def, "+448712345678", "premium-rate"},
		{"DE 0900 premium", def, "+499001123456", "premium-rate"},
		{"FR 089 premium", def, "+33891234567", "premium-rate"},
		{"ES 803 premium", def, "+34803123456", "premium-rate"},
		{"IPRS +979", def, "+97912345678", "International Premium Rate"},
		{"Inmarsat", def, "+870772123456", "Inmarsat"},
		{"GMSS satellite", def, "+881612345678", "satellite"},
		{"international network", def, "+882345678901", "international network"},
		{"DE mobile", def, "+4915112345678", ""},
		{"premium allowed", premium, "+19005550123", ""},
		{"satellite allowed", premium, "+881612345678", ""},
		{"fictional 555 still allowed", def, "+15551234567", ""},
		{"allow prefix beats premium", custom, "+19005550123", ""},
		{"premium outside the allowed prefix", custom, "+19005560123", "premium-rate"},
		{"deny prefix", custom, "+12125551234", "starting +1212"},
		{"country not allowed", custom, "+4915112345678", "DE are not among"},
		{"country denied", custom, "+16135550123", "CA are refused"},
		{"GB allowed", custom, "+447400123456", ""},
		{"Guernsey is not GB", custom, "+447911123456", "GG are not among"},
		{"non-geographic allowed but premium", custom, "+97912345678", "International Premium Rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Check(tt.number)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want allowed", tt.number, err)
				}
				return
			}
			var de *DestinationError
			if !errors.As(err, &de) || !errors.Is(err, ErrDestinationRefused) || !strings.Contains(de.Reason, tt.reason) {
				t.Fatalf("Check(%s) = %v, want refused: %q", tt.number, err, tt.reason)
			}
			if strings.Contains(de.Reason, tt.number) {
				t.Errorf("the reason repeats the number: %q", de.Reason)
			}
		})
	}
	if err := (*Destinations)(nil).Check("+19005550123"); err != nil {
		t.Errorf("nil policy: %v", err)
	}
	bad := &Destinations{AllowCountries: []string{"usa"}, DenyPrefixes: []string{"1900"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "allow_countries[0]") || !strings.Contains(err.Error(), "deny_prefixes[0]") {
		t.Errorf("Validate = %v", err)
	}
}

// FuzzDestinations: any normalised number is allowed or refused with a
// *DestinationError, never a panic, and the reason never repeats it.
func FuzzDestinations(f *testing.F) {
	for _, s := range []string{"+19005550123", "+14155550123", "+881612345678", "+97912345678", "+1", "+", "", "+4915112345678", "+00000"} {
		f.Add(s)
	}
	policies := []*Destinations{{}, {AllowPremium: true}, {AllowCountries: []string{"US", "001"}, DenyPrefixes: []string{"+1212"}, AllowPrefixes: []string{"+1900555"}}}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := NormalizeNumber(raw, "US")
		if err != nil {
			n = raw // Check must also survive what NormalizeNumber would refuse
		}
		for _, p := range policies {
			err := p.Check(n)
			if err == nil {
				continue
			}
			var de *DestinationError
			if !errors.As(err, &de) || !errors.Is(err, ErrDestinationRefused) {
				t.Fatalf("Check(%q) = %v, not a DestinationError", n, err)
			}
			if len(n) > 4 && strings.Contains(de.Reason, n) {
				t.Fatalf("reason %q repeats the number", de.Reason)
			}
		}
	})
}
