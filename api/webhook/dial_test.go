package webhook

import (
	"errors"
	"net/netip"
	"testing"
)

func TestGuardCheck(t *testing.T) {
	g := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}}
	tests := []struct {
		addr   string
		reason string // "" = allowed
	}{
		{"127.0.0.1", "loopback"},
		{"127.8.9.10", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"10.0.0.1", "private"},
		{"172.16.5.4", "private"},
		{"192.168.1.1", "private"},
		{"fd00::1", "private"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"239.1.2.3", "multicast"},
		{"ff02::1", "link-local"},
		{"255.255.255.255", "broadcast"},
		{"64:ff9b::a00:1", "embedding a refused IPv4 address"},
		{"2002:7f00:1::", "embedding a refused IPv4 address"},
		{"10.9.1.2", ""}, // allow-listed
		{"93.184.215.14", ""},
		{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", ""},
		{"64:ff9b::5db8:d70e", ""},
	}
	for _, tt := range tests {
		err := g.Check(netip.MustParseAddr(tt.addr))
		if tt.reason == "" {
			if err != nil {
				t.Errorf("Check(%s) = %v, want allowed", tt.addr, err)
			}
			continue
		}
		var re *RefusedError
		if !errors.As(err, &re) || re.Reason != tt.reason || !errors.Is(err, ErrRefused) {
			t.Errorf("Check(%s) = %v, want refused as %s", tt.addr, err, tt.reason)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for _, u := range []string{"https://example.com/hook", "http://10.0.0.1:8080/x"} {
		if err := CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) = %v", u, err)
		}
	}
	for _, u := range []string{"", "example.com/hook", "ftp://example.com", "https://user:pw@example.com/", "http:///path", "://x"} {
		if err := CheckURL(u); err == nil {
			t.Errorf("CheckURL(%q) = nil, want an error", u)
		}
	}
}
