package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is wrapped by every error of a connection the SSRF guard
// refused; errors.Is(err, ErrRefused) holds through the HTTP client's wrapping.
var ErrRefused = errors.New("destination address not allowed")

// RefusedError says which address was refused and why.
type RefusedError struct {
	Addr   netip.Addr
	Reason string // "loopback", "private", "link-local" ...
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: %s is %s", ErrRefused, e.Addr, e.Reason)
}

// Unwrap makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Resolver looks up a host's addresses. *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Reserved ranges refused in addition to those netip classifies.
var refusedPrefixes = []struct {
	p      netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("192.0.2.0/24"), "reserved"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved"},
	{netip.MustParsePrefix("198.51.100.0/24"), "reserved"},
	{netip.MustParsePrefix("203.0.113.0/24"), "reserved"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("100::/64"), "reserved"},
	{netip.MustParsePrefix("2001:db8::/32"), "reserved"},
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Guard decides which addresses webhooks may connect to.
type Guard struct {
	Allow []netip.Prefix // allow-listed ranges that would otherwise be refused
}

// Check returns nil if a may be dialled, or a *RefusedError.
func (g Guard) Check(a netip.Addr) error {
	a = a.Unmap()
	if !a.IsValid() {
		return &RefusedError{Addr: a, Reason: "invalid"}
	}
	for _, p := range g.Allow {
		if p.Contains(a) {
			return nil
		}
	}
	if reason := classify(a); reason != "" {
		return &RefusedError{Addr: a, Reason: reason}
	}
	// IPv6 forms that embed an IPv4 address are judged by it.
	if a.Is6() {
		b := a.As16()
		var v4 netip.Addr
		switch {
		case nat64.Contains(a):
			v4 = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		case sixToFour.Contains(a):
			v4 = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
		}
		if v4.IsValid() {
			if err := g.Check(v4); err != nil {
				return &RefusedError{Addr: a, Reason: "embedding a refused IPv4 address"}
			}
		}
	}
	return nil
}

func classify(a netip.Addr) string {
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "link-local"
	case a.IsPrivate():
		return "private"
	case a.IsMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	for _, r := range refusedPrefixes {
		if r.p.Contains(a) {
			return r.reason
		}
	}
	return ""
}

// dialer connects only to addresses the guard allows. It resolves names
// itself and dials the checked address, so a DNS answer cannot change between
// check and connect; the net.Dialer's Control re-checks the socket address.
type dialer struct {
	guard    Guard
	resolver Resolver
	d        net.Dialer
}

func newDialer(g Guard, r Resolver, timeout time.Duration) *dialer {
	if r == nil {
		r = net.DefaultResolver
	}
	dl := &dialer{guard: g, resolver: r}
	dl.d = net.Dialer{
		Timeout:   timeout,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: unparseable socket address %q", ErrRefused, address)
			}
			return dl.guard.Check(ap.Addr())
		},
	}
	return dl
}

// DialContext is http.Transport.DialContext.
func (dl *dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("webhook: bad port %q", portStr)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = dl.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, a := range addrs {
		if err := dl.guard.Check(a); err != nil {
			errs = append(errs, err)
			continue
		}
		c, err := dl.d.DialContext(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("webhook: %s has no address", host)
	}
	return nil, errors.Join(errs...)
}

// CheckURL validates a webhook or callback URL's form (absolute http or
// https, a host, no user info). Addresses are checked at dial time, not here.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must be an http or https URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("must have a host")
	}
	if u.User != nil {
		return errors.New("must not contain credentials")
	}
	return nil
}
