package webhook

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
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
		{"::127.0.0.1", "embedding a refused IPv4 address"}, // IPv4-compatible
		{"::10.1.2.3", "embedding a refused IPv4 address"},
		{"::ffff:0:127.0.0.1", "embedding a refused IPv4 address"}, // SIIT translated
		{"::ffff:7f00:1", "loopback"},                              // mapped, hex spelling
		{"64:ff9b:1::5db8:d70e", "local-use NAT64"},
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", "embedding a refused IPv4 address"}, // Teredo client 127.0.0.1
		{"2002:7f00:1::", "embedding a refused IPv4 address"},
		{"10.9.1.2", ""}, // allow-listed
		{"93.184.215.14", ""},
		{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", ""},
		{"64:ff9b::5db8:d70e", ""},
		{"::93.184.215.14", ""},
		{"2001:0:4136:e378:8000:63bf:a247:28f1", ""}, // Teredo client 93.184.215.14
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
	for _, u := range []string{"https://example.com/hook", "http://10.0.0.1:8080/x", "http://[2606:2800:21f::1]/", "https://a1.example.org/", "http://example.com./"} {
		if err := CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) = %v", u, err)
		}
	}
	for _, u := range []string{"", "example.com/hook", "ftp://example.com", "https://user:pw@example.com/", "http:///path", "://x",
		// numeric pseudo-hosts: inet_aton reads them as 127.0.0.1, Go's resolver asks DNS
		"http://2130706433/", "http://127.1/", "http://0x7f.1/", "http://0x7f000001/", "http://0177.0.0.1/", "http://127.0.0.01/",
		"http://127.0.0.1./", "http://10.0.0.1.:80/", "http://１２７.１/", "http://foo.123/", "http://[::ffff:bogus]/",
		"https://example.com/" + strings.Repeat("a", MaxURLLen)} {
		if err := CheckURL(u); err == nil {
			t.Errorf("CheckURL(%q) = nil, want an error", u)
		}
	}
}

// TestGuardCheckURL: an IP literal the guard refuses is refused at
// registration, not retried at delivery time.
func TestGuardCheckURL(t *testing.T) {
	g := Guard{}
	for _, u := range []string{"http://127.0.0.1/", "http://[::1]/", "http://[::127.0.0.1]/", "http://[::ffff:127.0.0.1]/",
		"http://169.254.169.254/latest", "http://10.0.0.1:8080/x", "http://localhost:8080/", "http://a.localhost/", "http://[fe80::1%25eth0]/"} {
		if err := g.CheckURL(u); err == nil {
			t.Errorf("CheckURL(%q) = nil, want refused", u)
		}
	}
	for _, u := range []string{"https://example.com/", "http://93.184.215.14/", "http://[2606:2800:21f::1]/"} {
		if err := g.CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) = %v", u, err)
		}
	}
	allow := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	for _, u := range []string{"http://127.0.0.1:9/", "http://localhost:9/"} {
		if err := allow.CheckURL(u); err != nil {
			t.Errorf("allow-listed CheckURL(%q) = %v", u, err)
		}
	}
}

// refusingResolver fails the test if the dialler asks it anything.
type refusingResolver struct{ t *testing.T }

func (r refusingResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.t.Errorf("resolver asked about %q", host)
	return nil, errors.New("no")
}

// TestDialRefusesNumericHosts: the dialler (which redirects reach too)
// refuses numeric pseudo-hosts and embedded loopback at once, as
// ErrRefused (a final failure), without asking DNS.
func TestDialRefusesNumericHosts(t *testing.T) {
	dl := newDialer(Guard{}, refusingResolver{t}, time.Second)
	for _, addr := range []string{"2130706433:80", "127.1:80", "0x7f.1:80", "0x7f000001:80", "[::127.0.0.1]:80", "[::ffff:127.0.0.1]:80", "127.0.0.1.:80"} {
		c, err := dl.DialContext(context.Background(), "tcp", addr)
		if err == nil {
			c.Close()
			t.Errorf("dial %s: connected", addr)
			continue
		}
		if !errors.Is(err, ErrRefused) {
			t.Errorf("dial %s: %v, want ErrRefused", addr, err)
		}
	}
}
