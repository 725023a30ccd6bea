package modemsim

import (
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"go.bug.st/serial"
)

// serialPort adapts go.bug.st/serial to io.ReadWriteCloser with reads that
// return on close.
type serialPort struct{ serial.Port }

func (p serialPort) Read(b []byte) (int, error) {
	for {
		n, err := p.Port.Read(b)
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// openSerial opens a tty the way the daemon does.
func openSerial(t testing.TB, path string) (io.ReadWriteCloser, error) {
	p, err := serial.Open(path, &serial.Mode{BaudRate: 115200})
	if err != nil {
		return nil, err
	}
	if err := p.SetReadTimeout(50 * time.Millisecond); err != nil {
		p.Close()
		return nil, err
	}
	return serialPort{p}, nil
}

// servePTY serves m on a PTY and opens it with go.bug.st/serial.
func servePTY(t testing.TB, m *Modem) io.ReadWriteCloser {
	t.Helper()
	link := filepath.Join(t.TempDir(), m.Name())
	if _, err := m.ServePTY(link); err != nil {
		t.Fatal(err)
	}
	p, err := openSerial(t, link)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var _ = errors.New
