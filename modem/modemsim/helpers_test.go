package modemsim

import (
	"io"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const waitFor = 5 * time.Second

// client talks to a modem port and collects what it answers.
type client struct {
	t    testing.TB
	rw   io.ReadWriter
	mu   sync.Mutex
	buf  string
	all  string // everything received, never consumed
	more chan struct{}
	done chan struct{}
}

func newClient(t testing.TB, rw io.ReadWriteCloser) *client {
	c := &client{t: t, rw: rw, more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		b := make([]byte, 4096)
		for {
			n, err := rw.Read(b)
			if n > 0 {
				c.mu.Lock()
				c.buf += string(b[:n])
				c.all += string(b[:n])
				c.mu.Unlock()
				select {
				case c.more <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		rw.Close()
		<-c.done
	})
	return c
}

var finalRE = regexp.MustCompile(`(?m)(\r\n(OK|ERROR|\+CM[ES] ERROR: [^\r]*)\r\n|\r\n> )`)

// until waits for re to match the collected output and consumes it.
func (c *client) until(re *regexp.Regexp) string {
	c.t.Helper()
	deadline := time.After(waitFor)
	for {
		c.mu.Lock()
		loc := re.FindStringIndex(c.buf)
		if loc != nil {
			out := c.buf[:loc[1]]
			c.buf = c.buf[loc[1]:]
			c.mu.Unlock()
			return out
		}
		got := c.buf
		c.mu.Unlock()
		select {
		case <-c.more:
		case <-deadline:
			c.t.Fatalf("timeout waiting for %v; have %q", re, got)
		}
	}
}

// matches waits until re matched count times in everything received and
// returns the matches.
func (c *client) matches(re *regexp.Regexp, count int) []string {
	c.t.Helper()
	deadline := time.After(waitFor)
	for {
		c.mu.Lock()
		got := re.FindAllString(c.all, -1)
		all := c.all
		c.mu.Unlock()
		if len(got) >= count {
			return got
		}
		select {
		case <-c.more:
		case <-deadline:
			c.t.Fatalf("timeout waiting for %d x %v; have %q", count, re, all)
		}
	}
}

// cmd sends a command line and returns everything up to the final result.
func (c *client) cmd(line string) string {
	c.t.Helper()
	c.send(line + "\r")
	return c.until(finalRE)
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := c.rw.Write([]byte(s)); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// pending returns what arrived and was not consumed yet.
func (c *client) pending() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noLeaks checks that the goroutine count returns to base after the test.
func noLeaks(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(waitFor)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutines: %d > %d\n%s", runtime.NumGoroutine(), base, buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// newNet makes a network closed at the end of the test.
func newNet(t testing.TB, opts NetworkOptions) *Network {
	n := NewNetwork(opts)
	t.Cleanup(func() { n.Close() })
	return n
}

func mustContain(t testing.TB, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Fatalf("answer %q lacks %q", got, w)
		}
	}
}

var reNumeric = regexpMust(`[04]\r`)

func regexpMust(s string) *regexp.Regexp { return regexp.MustCompile(s) }
