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

	"golang.org/x/net/idna"
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
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215, local use
	sixToFour  = netip.MustParsePrefix("2002::/16")
	teredo     = netip.MustParsePrefix("2001::/32")
	// compat is the deprecated IPv4-compatible form ::a.b.c.d (RFC 4291
	// 2.5.5.1): some stacks still route it to the IPv4 address.
	compat = netip.MustParsePrefix("::/96")
	// translated is SIIT's ::ffff:0:a.b.c.d (RFC 2765).
	translated = netip.MustParsePrefix("::ffff:0:0:0/96")
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
		case nat64Local.Contains(a):
			return &RefusedError{Addr: a, Reason: "local-use NAT64"}
		case nat64.Contains(a), compat.Contains(a), translated.Contains(a):
			v4 = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		case sixToFour.Contains(a):
			v4 = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
		case teredo.Contains(a): // the client's address, inverted
			v4 = netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
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
	} else if err := checkHostName(host); err != nil {
		// A redirect can lead here too: refuse at once, never ask DNS
		// about "2130706433" and retry for days.
		return nil, fmt.Errorf("%w: host %s", ErrRefused, err)
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

// MaxURLLen bounds a webhook or callback URL.
const MaxURLLen = 2048

// CheckURL checks a webhook or callback URL's form: absolute http or https,
// at most MaxURLLen bytes, a host, no user info, and a host that is either
// an IP literal in canonical form or a name; a numeric pseudo-host that
// lenient resolvers read as an IPv4 address ("2130706433", "127.1",
// "0x7f.1", "0177.0.0.1") is refused. Its error says why, for a field
// reason ("must be an http or https URL"). Addresses are checked by
// Guard.CheckURL and at dial time.
func CheckURL(raw string) error {
	_, err := parseURL(raw)
	return err
}

// CheckURL is the package's CheckURL plus the guard's judgement of the
// host: an IP literal the guard refuses, or a localhost name while the
// guard refuses loopback, is refused as the dialler would refuse it.
// Names are not resolved here (their addresses may change); the dialler
// checks every address it connects to.
func (g Guard) CheckURL(raw string) error {
	host, err := parseURL(raw)
	if err != nil {
		return err
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if err := g.Check(a); err != nil {
			var re *RefusedError
			if errors.As(err, &re) {
				return fmt.Errorf("must not point to a %s address", re.Reason)
			}
			return errors.New("must not point to a refused address")
		}
		return nil
	}
	if h := strings.ToLower(host); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		if g.Check(netip.AddrFrom4([4]byte{127, 0, 0, 1})) != nil {
			return errors.New("must not point to a loopback address")
		}
	}
	return nil
}

// parseURL checks raw's form and returns its host (ASCII, no brackets).
func parseURL(raw string) (string, error) {
	if len(raw) > MaxURLLen {
		return "", fmt.Errorf("is longer than %d bytes", MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return "", errors.New("must be an absolute http or https URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("must be an http or https URL")
	}
	host := u.Hostname()
	if u.Host == "" || host == "" {
		return "", errors.New("must have a host")
	}
	if u.User != nil {
		return "", errors.New("must not contain credentials")
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host, nil
	}
	if strings.Contains(host, ":") { // brackets held something that is not an address
		return "", errors.New("has an IPv6 host that is not an address")
	}
	// The HTTP client connects to the IDNA form of the name ("１２７.１" is
	// "127.1"): judge that.
	ascii, err := idna.Lookup.ToASCII(host)
	if err != nil {
		return "", errors.New("has a host that is not a valid name")
	}
	if err := checkHostName(ascii); err != nil {
		return "", err
	}
	return ascii, nil
}

// checkHostName refuses a name that is not an IP literal but ends in a
// number: resolvers that follow inet_aton (glibc, browsers' URL parsers)
// read "2130706433", "127.1" or "0x7f.0.0.1" as 127.0.0.1, Go's resolver
// asks DNS about them. A real top-level domain is never numeric.
func checkHostName(host string) error {
	h := strings.TrimSuffix(host, ".")
	if a, err := netip.ParseAddr(h); err == nil && a.Is4() && h != host {
		return errors.New("is an IPv4 address with a trailing dot; write it without")
	}
	last := h[strings.LastIndexByte(h, '.')+1:]
	if last != "" && numericLabel(last) {
		return fmt.Errorf("has a numeric host %q that is not a dotted-quad IPv4 address (write the address as a.b.c.d)", truncate(host, 64))
	}
	return nil
}

// numericLabel reports whether l is a decimal, octal or 0x-hexadecimal number.
func numericLabel(l string) bool {
	if rest, ok := strings.CutPrefix(strings.ToLower(l), "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return strings.Trim(l, "0123456789") == ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
