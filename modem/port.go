package modem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.bug.st/serial"
)

// tap sits between the serial port and the AT layer. It
//   - drops bytes no AT answer contains (controls other than CR, LF and
//     Ctrl-Z, and bytes >= 0x7F), so garbage after a reset cannot glue itself
//     to an "OK";
//   - records whether the Ctrl-Z terminated PDU of an AT+CMGS has been
//     written, which decides between a temporary and an ambiguous failure;
//   - logs raw traffic at Debug.
type tap struct {
	rw      io.ReadWriteCloser
	log     *slog.Logger
	pduSent atomic.Bool
	lastRx  atomic.Int64 // UnixNano of the last byte read
}

func (t *tap) Read(p []byte) (int, error) {
	for {
		n, err := t.rw.Read(p)
		if n > 0 {
			t.lastRx.Store(time.Now().UnixNano())
		}
		if n > 0 && t.log.Enabled(context.Background(), slog.LevelDebug) {
			t.log.Debug("at rx", "data", string(p[:n]))
		}
		k := 0
		for _, c := range p[:n] {
			if c >= 0x20 && c < 0x7f || c == '\r' || c == '\n' || c == 0x1a {
				p[k] = c
				k++
			}
		}
		if k > 0 || err != nil || n == 0 {
			return k, err
		}
		// everything was garbage: read again rather than return 0, nil
	}
}

func (t *tap) Write(p []byte) (int, error) {
	if t.log.Enabled(context.Background(), slog.LevelDebug) {
		t.log.Debug("at tx", "data", string(p))
	}
	n, err := t.rw.Write(p)
	if n > 0 && len(p) > 1 && p[len(p)-1] == 0x1a && bytes.IndexByte(p, '\r') < 0 {
		t.pduSent.Store(true)
	}
	return n, err
}

func (t *tap) Close() error { return t.rw.Close() }

// opener opens a port path. Tests may replace it; the default is serial.
type opener func(path string, baud int) (io.ReadWriteCloser, error)

func openSerial(path string, baud int) (io.ReadWriteCloser, error) {
	p, err := serial.Open(path, &serial.Mode{
		BaudRate: baud,
		DataBits: 8,
		Parity:   serial.NoParity,
		StopBits: serial.OneStopBit,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return p, nil
}

// claims is the package-wide registry of ports held by a Device or a probe,
// keyed by the resolved device path, so that two Devices never open the same
// tty, even through different symlinks.
var claims = struct {
	sync.Mutex
	by map[string]string // resolved path -> owner
}{by: map[string]string{}}

// resolve returns the real path behind a symlink (e.g. /dev/serial/by-id/...).
func resolve(path string) string {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return r
	}
	return filepath.Clean(path)
}

// claim registers owner as the holder of path. It returns the resolved path
// and false if somebody else holds it.
func claim(path, owner string) (string, bool) {
	r := resolve(path)
	claims.Lock()
	defer claims.Unlock()
	if cur, ok := claims.by[r]; ok && cur != owner {
		return r, false
	}
	claims.by[r] = owner
	return r, true
}

// release frees a resolved path if owner holds it.
func release(resolved, owner string) {
	claims.Lock()
	defer claims.Unlock()
	if claims.by[resolved] == owner {
		delete(claims.by, resolved)
	}
}

// claimed reports whether any owner holds path.
func claimed(path string) bool {
	r := resolve(path)
	claims.Lock()
	defer claims.Unlock()
	_, ok := claims.by[r]
	return ok
}

var discardLogger = slog.New(slog.DiscardHandler)
