package modemsim

import (
	"io"
	"sync"
)

// maxBuffered bounds what a port buffers for a reader that does not read;
// beyond it output is dropped, as a UART drops bytes nobody reads.
const maxBuffered = 1 << 20

// pipeBuf is an unbounded (up to maxBuffered) byte queue: writes never
// block, reads block until data arrives or the queue is closed.
type pipeBuf struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte
	closed bool
}

func newPipeBuf() *pipeBuf {
	p := &pipeBuf{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *pipeBuf) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, io.ErrClosedPipe
	}
	if len(p.buf)+len(b) <= maxBuffered {
		p.buf = append(p.buf, b...)
	}
	p.cond.Broadcast()
	return len(b), nil
}

func (p *pipeBuf) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 && !p.closed {
		p.cond.Wait()
	}
	if len(p.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	if len(p.buf) == 0 {
		p.buf = nil
	}
	return n, nil
}

// discard drops everything buffered.
func (p *pipeBuf) discard() {
	p.mu.Lock()
	p.buf = nil
	p.mu.Unlock()
}

func (p *pipeBuf) Close() error {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	return nil
}

// pipeConn is the client end of an in-process port.
type pipeConn struct {
	in   *pipeBuf // client -> modem
	out  *pipeBuf // modem -> client
	once sync.Once
}

func newPipeConn() *pipeConn {
	return &pipeConn{in: newPipeBuf(), out: newPipeBuf()}
}

func (c *pipeConn) Read(b []byte) (int, error)  { return c.out.Read(b) }
func (c *pipeConn) Write(b []byte) (int, error) { return c.in.Write(b) }

func (c *pipeConn) Close() error {
	c.once.Do(func() {
		c.in.Close()
		c.out.Close()
	})
	return nil
}
