package modem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warthog618/modem/at"
	"go.bug.st/serial"
)

// tap sits between the serial port and the AT layer. It
//   - drops bytes no AT answer contains (controls other than CR, LF and
//     Ctrl-Z, and bytes >= 0x7F), so garbage after a reset cannot glue itself
//     to an "OK";
//   - records whether the Ctrl-Z terminated PDU of an AT+CMGS has been
//     written, which decides between a temporary and an ambiguous failure;
//   - follows the answer line by line so that it can end a command the AT
//     layer would otherwise wait on until its timeout: a "> " prompt that
//     does not come within its own deadline (expectPrompt), a final result a
//     firmware never sends after a known answer line (finishOn), and the
//     vendor final "COMMAND NOT SUPPORT" (Huawei) that is followed by an
//     "ERROR" the AT layer knows. It ends a command by adding a line of its
//     own to what the AT layer reads (a +CME ERROR carrying a mark, see
//     isMark), since the AT layer ends commands on lines only;
//   - logs raw traffic at Debug.
//
// A pump goroutine reads the port (and ends when the port is closed), so
// that an added line reaches the AT layer while the port is silent.
type tap struct {
	rw      io.ReadWriteCloser
	log     *slog.Logger
	pduSent atomic.Bool  // the PDU of an AT+CMGS has been written
	pduOut  atomic.Bool  // the PDU's write has begun (set before the write, so no answer to it precedes it)
	lastRx  atomic.Int64 // UnixNano of the last byte read

	rx     chan []byte // filtered chunks from the pump; closed on a read error
	added  chan []byte // lines added by a watch's timer
	rest   []byte      // unread part of the current chunk (Read's goroutine only)
	err    error       // the pump's read error, valid once rx is closed
	done   chan struct{}
	closer sync.Once

	mu   sync.Mutex
	line []byte // the line being received
	// cusdOpen: the line is a +CUSD answer inside its quoted text, cusdLen long
	cusdOpen bool
	cusdLen  int
	w        *watch // what the current command waits for, or nil
	last     byte   // the last byte scanned
	cmgs     string // the "+CMGS:" line read after the PDU's write began
}

// watch is what the tap looks for on behalf of the command in flight.
type watch struct {
	prompt     bool        // a "> " prompt is expected
	promptSeen bool        //
	promptT    *time.Timer // fires when the prompt did not come in time
	prefix     string      // an answer line that may come without a final result
	grace      time.Duration
	finalT     *time.Timer // runs from the prefix line until a final result
}

// Marks carried by the lines the tap adds (as "+CME ERROR: <mark>").
const (
	markNoPrompt = "simgate: no prompt"
	markNoFinal  = "simgate: no final result"
)

// isMark reports whether err is the tap's added line with that mark.
func isMark(err error, mark string) bool {
	var cme at.CMEError
	return errors.As(err, &cme) && string(cme) == mark
}

func markLine(mark string) []byte { return []byte("\r\n+CME ERROR: " + mark + "\r\n") }

func newTap(rw io.ReadWriteCloser, log *slog.Logger) *tap {
	t := &tap{
		rw:    rw,
		log:   log,
		rx:    make(chan []byte, 16),
		added: make(chan []byte, 4),
		done:  make(chan struct{}),
	}
	go t.pump()
	return t
}

// pump reads the port, filters what it read and hands it to Read.
func (t *tap) pump() {
	defer close(t.rx)
	buf := make([]byte, 1024)
	for {
		n, err := t.rw.Read(buf)
		if n > 0 {
			t.lastRx.Store(time.Now().UnixNano())
			if t.log.Enabled(context.Background(), slog.LevelDebug) {
				t.log.Debug("at rx", "data", string(buf[:n]))
			}
		}
		var out []byte
		for _, c := range buf[:n] {
			if c >= 0x20 && c < 0x7f || c == '\r' || c == '\n' || c == 0x1a {
				out = append(out, c)
			}
		}
		if len(out) > 0 {
			out = t.scan(out)
			select {
			case t.rx <- out:
			case <-t.done:
				return
			}
		}
		if err != nil {
			t.err = err
			return
		}
		if n == 0 {
			// a reader that returns 0, nil: do not spin
			select {
			case <-t.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

func (t *tap) Read(p []byte) (int, error) {
	if len(t.rest) == 0 {
		select {
		case b, ok := <-t.rx:
			if !ok {
				return 0, t.err
			}
			t.rest = b
		case b := <-t.added:
			t.rest = b
		}
	}
	n := copy(p, t.rest)
	t.rest = t.rest[n:]
	return n, nil
}

// maxLineTrack bounds the line the tap keeps to look at.
const maxLineTrack = 256

// maxCUSDLine bounds a +CUSD answer whose quoted text spans lines (USSD
// carries 182 characters, 728 hex digits in UCS-2).
const maxCUSDLine = 1024

// scan follows lines and the prompt in filtered input and returns what the
// AT layer reads: the input, with the line breaks inside the quoted text
// of a +CUSD answer written as `\n` (operators send multi-line answers,
// which the AT layer would cut after the first line), then any line the
// tap adds.
func (t *tap) scan(b []byte) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]byte, 0, len(b))
	var extra []byte
	for _, c := range b {
		switch {
		case (c == '\r' || c == '\n') && t.cusdOpen:
			if c == '\n' {
				out = append(out, '\\', 'n')
				t.cusdLen += 2
			}
			continue
		case c == '\r' || c == '\n':
			if len(t.line) > 0 {
				extra = append(extra, t.endLine(strings.TrimSpace(string(t.line)))...)
				t.line = t.line[:0]
			}
			t.cusdLen = 0
		case c == '>' && len(t.line) == 0:
			if w := t.w; w != nil && w.prompt && !w.promptSeen {
				w.promptSeen = true
				w.promptT.Stop()
				if t.last != '\n' && t.last != 0 {
					// A bare ">" right after the echoed command line, which
					// ends in CR only: the AT layer takes a prompt only at
					// the start of a line, which it ends at LF.
					out = append(out, '\n')
				}
			}
		default:
			if len(t.line) < maxLineTrack {
				t.line = append(t.line, c)
			}
			if bytes.HasPrefix(t.line, []byte("+CUSD:")) {
				t.cusdLen++
				if c == '"' {
					t.cusdOpen = !t.cusdOpen
				}
				if t.cusdLen > maxCUSDLine {
					t.cusdOpen = false // no closing quote: not a multi-line answer after all
				}
			}
		}
		out = append(out, c)
		t.last = c
	}
	return append(out, extra...)
}

// endLine looks at one complete line (t.mu held).
func (t *tap) endLine(l string) []byte {
	final := l == "OK" || strings.HasPrefix(l, "ERROR") || strings.HasPrefix(l, "+CME ERROR:") ||
		strings.HasPrefix(l, "+CMS ERROR:")
	if t.pduOut.Load() && strings.HasPrefix(l, "+CMGS:") {
		t.cmgs = l
	}
	if w := t.w; w != nil && w.prefix != "" {
		switch {
		case final:
			if w.finalT != nil {
				w.finalT.Stop()
				w.finalT = nil
			}
		case strings.HasPrefix(l, w.prefix) && w.finalT == nil && (!w.prompt || t.pduOut.Load()):
			// (after a prompt, only an answer to what followed it counts)
			w.finalT = time.AfterFunc(w.grace, func() { t.add(w, markNoFinal) })
		}
	}
	if l == "COMMAND NOT SUPPORT" {
		// Huawei's answer to a command it does not know, instead of ERROR.
		return []byte("\r\nERROR\r\n")
	}
	return nil
}

// add hands the AT layer a marked line if w is still the current watch.
func (t *tap) add(w *watch, mark string) {
	t.mu.Lock()
	cur := t.w == w
	if cur {
		if mark == markNoPrompt && w.promptSeen {
			cur = false
		}
	}
	t.mu.Unlock()
	if !cur {
		return
	}
	t.log.Debug("ending command", "reason", mark)
	select {
	case t.added <- markLine(mark):
	default:
	}
}

// expect arms a watch for the next command: a prompt due within promptIn
// (0: no prompt), and an answer line prefix after which a missing final
// result is taken as given once grace has passed ("": none). The returned
// func disarms it; call it when the command returned.
func (t *tap) expect(promptIn time.Duration, prefix string, grace time.Duration) (disarm func()) {
	w := &watch{prefix: prefix, grace: grace}
	t.mu.Lock()
	t.w = w
	if promptIn > 0 {
		w.prompt = true
		w.promptT = time.AfterFunc(promptIn, func() { t.add(w, markNoPrompt) })
	}
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if w.promptT != nil {
			w.promptT.Stop()
		}
		if w.finalT != nil {
			w.finalT.Stop()
		}
		if t.w == w {
			t.w = nil
		}
	}
}

func (t *tap) Write(p []byte) (int, error) {
	if t.log.Enabled(context.Background(), slog.LevelDebug) {
		t.log.Debug("at tx", "data", string(p))
	}
	pdu := len(p) > 1 && p[len(p)-1] == 0x1a && bytes.IndexByte(p, '\r') < 0
	if pdu {
		t.pduOut.Store(true)
	}
	n, err := t.rw.Write(p)
	if n > 0 && pdu {
		t.pduSent.Store(true)
	}
	return n, err
}

// startSend forgets the previous send's PDU and +CMGS line.
func (t *tap) startSend() {
	t.pduSent.Store(false)
	t.pduOut.Store(false)
	t.mu.Lock()
	t.cmgs = ""
	t.mu.Unlock()
}

// accepted returns the TP-MR of the "+CMGS: <mr>" line that answered the
// PDU of the current send, if one came: the network took the part, whatever
// else the modem answers (or fails to).
func (t *tap) accepted() (int, bool) {
	t.mu.Lock()
	l := t.cmgs
	t.mu.Unlock()
	if l == "" {
		return 0, false
	}
	return parseCMGS([]string{l})
}

func (t *tap) Close() error {
	var err error
	t.closer.Do(func() {
		close(t.done)
		err = t.rw.Close()
	})
	return err
}

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
