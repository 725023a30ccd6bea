package modemsim

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// ptyPort serves a modem on a pseudo-terminal. The simulator holds the
// master; clients open the slave (through the symlink) like a serial port.
// The slave is not kept open by the simulator: while no client has it open,
// reads on the master fail with EIO, output is dropped (as a UART drops what
// nobody reads) and the next open is seen as a reopen of the port.
type ptyPort struct {
	m      *Modem
	link   string
	tty    string
	master *os.File
	sess   *session
	out    *pipeBuf
	open   atomic.Bool
	noise  atomic.Bool // boot noise owed to the next opener (after a replug)
	done   chan struct{}
	once   sync.Once
}

// ServePTY serves the modem on a new pseudo-terminal in raw mode and points
// the symlink linkPath at its slave (replacing whatever was there). It
// returns the slave's path (/dev/pts/N). A modem has at most one PTY.
func (m *Modem) ServePTY(linkPath string) (ttyPath string, err error) {
	m.mu.Lock()
	busy := m.port != nil
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return "", ErrClosed
	}
	if busy {
		return "", fmt.Errorf("modemsim: %s is already served on a pty", m.cfg.Name)
	}
	p, err := m.newPTY(linkPath, false)
	if err != nil {
		return "", err
	}
	return p.tty, nil
}

func (m *Modem) newPTY(linkPath string, noise bool) (*ptyPort, error) {
	master, slave, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("modemsim: open pty: %w", err)
	}
	tty := slave.Name()
	master, err = pollable(master)
	if err != nil {
		slave.Close()
		return nil, fmt.Errorf("modemsim: pty master: %w", err)
	}
	if err := makeRaw(int(slave.Fd())); err != nil {
		master.Close()
		slave.Close()
		return nil, fmt.Errorf("modemsim: raw mode: %w", err)
	}
	slave.Close()
	if linkPath != "" {
		if err := os.Remove(linkPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			master.Close()
			return nil, fmt.Errorf("modemsim: replace link: %w", err)
		}
		if err := os.Symlink(tty, linkPath); err != nil {
			master.Close()
			return nil, fmt.Errorf("modemsim: link: %w", err)
		}
	}
	p := &ptyPort{m: m, link: linkPath, tty: tty, master: master, out: newPipeBuf(), done: make(chan struct{})}
	p.noise.Store(noise)
	m.net.mu.Lock()
	if m.net.closed {
		m.net.mu.Unlock()
		p.master.Close()
		p.removeLink()
		return nil, ErrClosed
	}
	m.net.wg.Add(2)
	m.net.mu.Unlock()
	p.sess = m.attach(p.out)
	m.mu.Lock()
	m.port = p
	m.lastLink = linkPath
	m.mu.Unlock()
	go p.readLoop()
	go p.writeLoop()
	return p, nil
}

func (p *ptyPort) removeLink() {
	if p.link == "" {
		return
	}
	if t, err := os.Readlink(p.link); err == nil && t == p.tty {
		os.Remove(p.link)
	}
}

func (p *ptyPort) readLoop() {
	defer p.m.net.wg.Done()
	buf := make([]byte, 1024)
	deadlines := true
	for {
		if deadlines {
			if err := p.master.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
				deadlines = false
			}
		}
		n, err := p.master.Read(buf)
		if n > 0 {
			p.opened()
			p.sess.feed(buf[:n])
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			p.opened() // no EIO: a client holds the slave open
		case errors.Is(err, syscall.EIO):
			if p.open.Swap(false) {
				p.sess.reset()
				p.out.discard()
			}
			select {
			case <-p.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		default:
			return
		}
	}
}

// opened notes that a client has the slave open; the first time after a
// close it counts as a reopen of the port.
func (p *ptyPort) opened() {
	if p.open.Swap(true) {
		return
	}
	p.sess.reset()
	p.m.onReopen()
	if p.noise.Swap(false) {
		p.m.mu.Lock()
		p.m.bootNoise()
		p.m.mu.Unlock()
	}
}

func (p *ptyPort) writeLoop() {
	defer p.m.net.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := p.out.Read(buf)
		if err != nil {
			return
		}
		if !p.open.Load() {
			continue
		}
		if _, err := p.master.Write(buf[:n]); err != nil && !errors.Is(err, syscall.EIO) {
			return
		}
	}
}

func (p *ptyPort) close() {
	p.once.Do(func() {
		close(p.done)
		p.out.Close()
		p.master.Close()
		p.removeLink()
		p.m.detach(p.sess)
	})
}

// Unplug simulates a USB drop: the PTY closes, the symlink is removed and
// in-process connections (Conn) end too; the modem's state (storage,
// settings, message reference) is kept. While unplugged the modem is off
// the network: messages to it are held until Replug.
func (m *Modem) Unplug() error {
	m.mu.Lock()
	p := m.port
	m.port = nil
	m.unplugged = true // powered off: the network holds its messages
	m.lastReg = 0
	var conns []*session
	for s := range m.sessions {
		if s.stop != nil {
			conns = append(conns, s)
		}
	}
	m.mu.Unlock()
	for _, s := range conns {
		s.stop()
		m.detach(s)
	}
	if p == nil {
		if len(conns) > 0 {
			return nil
		}
		return errors.New("modemsim: not plugged")
	}
	p.close()
	return nil
}

// Replug simulates the modem coming back on the bus: a new PTY (a different
// /dev/pts/N) behind the same symlink, and a reboot (echo back to its
// configured default, SIM PIN required again, hangs cleared). Boot noise,
// when enabled, greets the first client to open the new port. Messages the
// network held while the modem was away are delivered. ttyPath is empty
// when the modem was never served on a PTY.
func (m *Modem) Replug() (ttyPath string, err error) {
	m.mu.Lock()
	old := m.port
	m.port = nil
	link := m.lastLink
	m.mu.Unlock()
	if old != nil {
		old.close()
	}
	m.mu.Lock()
	m.unplugged = false
	m.faults.Hang = false
	m.faults.HangHard = false
	m.boot()
	noise := m.faults.BootNoise || m.faults.Garbage
	m.mu.Unlock()
	if link != "" {
		p, err := m.newPTY(link, noise)
		if err != nil {
			return "", err
		}
		ttyPath = p.tty
	}
	m.flushPending()
	return ttyPath, nil
}

// makeRaw puts a tty in raw mode like cfmakeraw(3): no echo, no CR/LF
// translation, 8 bits, byte-at-a-time reads.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// pollable re-opens the master as a non-blocking, poller-backed file so
// that read deadlines work and Close interrupts a blocked Read.
func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var fd int
	var derr error
	if err := sc.Control(func(raw uintptr) { fd, derr = unix.Dup(int(raw)) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), nil
}
