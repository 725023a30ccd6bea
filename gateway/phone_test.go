package gateway

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestNormalizeNumber(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		region string
		want   string
		reason string // substring of the ValidationError reason when an error is expected
	}{
		{name: "e164", raw: "+12025550123", region: "US", want: "+12025550123"},
		{name: "us national punctuated", raw: "(202) 555-0123", region: "US", want: "+12025550123"},
		{name: "us dotted with spaces", raw: "  202.555.0123 ", region: "US", want: "+12025550123"},
		{name: "region lower case", raw: "2025550123", region: "us", want: "+12025550123"},
		{name: "international with other region", raw: "+49 151 12345678", region: "US", want: "+4915112345678"},
		{name: "german national", raw: "0151 12345678", region: "DE", want: "+4915112345678"},
		{name: "idd prefix", raw: "011 49 151 12345678", region: "US", want: "+4915112345678"},
		{name: "fictional 555 accepted", raw: "+15551234567", region: "US", want: "+15551234567"},
		{name: "fictional 555 national", raw: "555-123-4567", region: "US", want: "+15551234567"},
		{name: "e164 without region", raw: "+12025550123", region: "", want: "+12025550123"},
		{name: "empty", raw: "   ", region: "US", reason: "required"},
		{name: "letters", raw: "hello", region: "US", reason: "not a phone number"},
		{name: "alphanumeric sender", raw: "MyBank", region: "US", reason: "not a phone number"},
		{name: "no region no plus", raw: "2025550123", region: "", reason: "country code"},
		{name: "unknown country code", raw: "+999123456", region: "US", reason: "country code"},
		{name: "too short", raw: "12", region: "US", reason: "too short"},
		{name: "too short for country", raw: "+1555", region: "US", reason: "too short"},
		{name: "local only", raw: "555-0123", region: "US", reason: "too short"},
		{name: "too long for country", raw: "07700900123", region: "US", reason: "too long"},
		{name: "over 15 digits (fuzz find)", raw: "201000000A0AA0", region: "DE", reason: "too long"},
		{name: "extension", raw: "+1 202 555 0123 ext. 5", region: "US", reason: "extension"},
		{name: "invalid for region", raw: "+1 123 555 0123", region: "US", reason: "not a valid number for region US"},
		{name: "oversized input", raw: strings.Repeat("1", 200), region: "US", reason: "not a phone number"},
		{name: "invalid utf8", raw: "+1202\xff5550123", region: "US", reason: "not a phone number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeNumber(tt.raw, tt.region)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("NormalizeNumber(%q, %q) = error %v, want %s", tt.raw, tt.region, err, tt.want)
				}
				if got != tt.want {
					t.Fatalf("NormalizeNumber(%q, %q) = %q, want %q", tt.raw, tt.region, got, tt.want)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("NormalizeNumber(%q, %q) = %q, %v; want *ValidationError", tt.raw, tt.region, got, err)
			}
			if ve.Field != "to" {
				t.Errorf("field = %q, want to", ve.Field)
			}
			if !strings.Contains(ve.Reason, tt.reason) {
				t.Errorf("reason = %q, want it to mention %q", ve.Reason, tt.reason)
			}
			if got != "" {
				t.Errorf("got %q alongside an error", got)
			}
		})
	}
}

func TestIsPhoneNumber(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"+15551234567", true},
		{"15551234567", true},
		{"+1 (555) 123-4567", true},
		{"72345", true}, // short code
		{"MyBank", false},
		{"VERIFY", false},
		{"Bank 24", false},
		{"", false},
		{"+", false},
		{"1", false},
		{"+1234567890123456", false}, // 16 digits
		{"+١٢٣٤٥", false},            // non-ASCII digits
	}
	for _, tt := range tests {
		if got := IsPhoneNumber(tt.in); got != tt.want {
			t.Errorf("IsPhoneNumber(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestMaskNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+15551234567", "+1555***4567"},
		{"+4915112345678", "+4915***5678"},
		{"+12345689", "+1***89"},
		{"MyBank", "My***nk"},
		{"12345", "***"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := MaskNumber(tt.in); got != tt.want {
			t.Errorf("MaskNumber(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzNormalizeNumber(f *testing.F) {
	for _, s := range []string{"+12025550123", "(202) 555-0123", "0151 12345678", "MyBank", "", "+", "011 49 151", "+1 202 555 0123 ext. 5", "\xff"} {
		f.Add(s, "US")
	}
	f.Add("0151 12345678", "DE")
	f.Add("2025550123", "")
	f.Fuzz(func(t *testing.T, raw, region string) {
		got, err := NormalizeNumber(raw, region)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != "to" || ve.Reason == "" {
				t.Fatalf("NormalizeNumber(%q, %q): error %v is not a *ValidationError for to", raw, region, err)
			}
			return
		}
		if !strings.HasPrefix(got, "+") || len(got) < 3 || len(got) > 16 {
			t.Fatalf("NormalizeNumber(%q, %q) = %q: not E.164", raw, region, got)
		}
		for _, r := range got[1:] {
			if r < '0' || r > '9' {
				t.Fatalf("NormalizeNumber(%q, %q) = %q: not E.164", raw, region, got)
			}
		}
		// E.164 is a fixed point.
		again, err := NormalizeNumber(got, "")
		if err != nil || again != got {
			t.Fatalf("NormalizeNumber(%q) = %q, %v; want it unchanged", got, again, err)
		}
		if !IsPhoneNumber(got) {
			t.Fatalf("IsPhoneNumber(%q) = false for a normalised number", got)
		}
	})
}

func ExampleNormalizeNumber() {
	n, err := NormalizeNumber("(202) 555-0123", "US")
	fmt.Println(n, err)
	_, err = NormalizeNumber("555-0123", "US")
	fmt.Println(err)
	// Output:
	// +12025550123 <nil>
	// to: is too short for its country (include the area code)
}

func ExampleMaskNumber() {
	fmt.Println(MaskNumber("+15551234567"))
	// Output: +1555***4567
}
