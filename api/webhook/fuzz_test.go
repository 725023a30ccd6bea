package webhook

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/idna"
)

// FuzzVerify: arbitrary headers and bodies never panic and never verify
// unless the signature is the one Sign produces.
func FuzzVerify(f *testing.F) {
	f.Add(vecSecret, vecID, "1614265330", vecSig, vecBody)
	f.Add("whsec_", "", "", "", "")
	f.Add("whsec_@@", "id", "-1", "v1,,, v1", "{}")
	f.Add(vecSecret, vecID, "99999999999999999999", "v1,"+vecSig, vecBody)
	f.Fuzz(func(t *testing.T, secret, id, ts, sig, body string) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		now := time.Unix(vecTS, 0)
		err := verifyAt(secret, h, []byte(body), 5*time.Minute, now)
		if err == nil {
			want, serr := Sign(secret, h.Get(HeaderID), timeFrom(t, h.Get(HeaderTimestamp)), []byte(body))
			if serr != nil || !containsField(h.Get(HeaderSignature), want) {
				t.Fatalf("verified a signature Sign did not produce: %q", sig)
			}
		}
	})
}

func timeFrom(t *testing.T, s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("verified an unparseable timestamp %q", s)
	}
	return time.Unix(n, 0)
}

func containsField(s, want string) bool {
	for i := 0; i+len(want) <= len(s); i++ {
		if s[i:i+len(want)] == want && (i == 0 || s[i-1] == ' ') && (i+len(want) == len(s) || s[i+len(want)] == ' ' || s[i+len(want)] == '\t') {
			return true
		}
	}
	return false
}

// FuzzCheckURL: never panics; an accepted URL is http(s) with a host.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://example.com/h", "http://[::1]:80/", "http://user@host/", "javascript:alert(1)", "http://%zz",
		"http://2130706433/", "http://0x7f.1/", "http://１２７.１/", "http://127.0.0.1./", "http://[::127.0.0.1]/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckURL(s) != nil {
			return
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
			t.Fatalf("%q accepted: %v", s, err)
		}
		host := u.Hostname()
		if _, err := netip.ParseAddr(host); err != nil {
			if a, err := idna.Lookup.ToASCII(host); err == nil {
				host = a
			}
			last := host[strings.LastIndexByte(strings.TrimSuffix(host, "."), '.')+1:]
			if last = strings.TrimSuffix(last, "."); last != "" && strings.Trim(last, "0123456789") == "" {
				t.Fatalf("%q accepted with the numeric host %q", s, host)
			}
		}
		if err := (Guard{}).CheckURL(s); err != nil && !strings.HasPrefix(err.Error(), "must not point to") {
			t.Fatalf("%q: CheckURL accepts, Guard.CheckURL says %v", s, err)
		}
	})
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	d := &Deliverer{cfg: Config{BackoffBase: 10 * time.Second, BackoffMax: time.Hour}}
	prevMax := time.Duration(0)
	for n := 1; n <= 30; n++ {
		want := 10 * time.Second << (n - 1)
		if n > 9 || want > time.Hour {
			want = time.Hour
		}
		for i := 0; i < 50; i++ {
			got := d.backoff(n)
			if got > want || got < want-want/5 {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, got, want-want/5, want)
			}
		}
		if want < prevMax {
			t.Fatalf("backoff shrank at %d", n)
		}
		prevMax = want
	}
}
