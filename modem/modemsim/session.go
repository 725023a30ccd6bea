package modemsim

import (
	"strings"
	"time"
)

// maxLine bounds a command line; longer input is discarded up to the next CR
// and answered with ERROR, as modems with a fixed input buffer do.
const maxLine = 2048

// session is one open of a modem's port: its own input state, writing to
// its own output queue. The modem's AT state is shared by all sessions.
type session struct {
	m        *Modem
	out      *pipeBuf
	line     []byte
	overflow bool
	prompt   *prompt
	after    func() // run after the current command line's final result
	noFinal  bool   // the current command line gets no final result (a quirk)
	// owedFinal: the last send's OK was held back (Faults.CMGSFinalLater);
	// it comes, after a URC, before the answer to the next command line.
	owedFinal bool
	stop      func() // closes the session's input (Network.Close)
}

// prompt is a pending AT+CMGS/AT+CMGW body after the "> " prompt.
type prompt struct {
	write  bool // CMGW (store) rather than CMGS (send)
	pdu    bool // PDU mode
	length int  // PDU mode: TPDU length announced
	da     string
	toda   int
	stat   int // CMGW: stat to store
	body   []byte
}

// reset drops partial input (the port was closed or reopened).
func (s *session) reset() {
	s.m.mu.Lock()
	s.line = nil
	s.prompt = nil
	s.overflow = false
	s.owedFinal = false
	s.m.mu.Unlock()
}

// feed processes bytes the client wrote.
func (s *session) feed(b []byte) {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	defer func() { m.fed += len(b) }()
	var echo []byte
	flushEcho := func() {
		if len(echo) > 0 {
			s.out.Write(echo)
			echo = echo[:0]
		}
	}
	for _, c := range b {
		if m.closed {
			return
		}
		if m.isHung() {
			s.prompt = nil
			s.hungByte(c)
			continue
		}
		if s.prompt != nil {
			if m.set.echo && c != 0x1A && c != 0x1B {
				echo = append(echo, c)
			}
			switch c {
			case 0x1B: // ESC: cancel, nothing sent
				flushEcho()
				s.prompt = nil
				s.final(nil)
			case 0x1A: // Ctrl-Z: submit
				flushEcho()
				p := s.prompt
				s.prompt = nil
				s.finishPrompt(p)
			case '\r':
				if !s.prompt.pdu {
					s.prompt.body = append(s.prompt.body, '\n')
					flushEcho()
					s.out.Write([]byte("\r\n> "))
				}
			case '\n':
			default:
				if len(s.prompt.body) < 4*maxLine {
					s.prompt.body = append(s.prompt.body, c)
				}
			}
			continue
		}
		if m.set.echo {
			echo = append(echo, c)
		}
		switch c {
		case '\r', '\n':
			line := string(s.line)
			over := s.overflow
			s.line = s.line[:0]
			s.overflow = false
			if over {
				flushEcho()
				s.final(errPlain)
				continue
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			flushEcho()
			s.execLine(line)
		case 0x08, 0x7F: // backspace
			if len(s.line) > 0 {
				s.line = s.line[:len(s.line)-1]
			}
		default:
			if c < 0x20 && c != '\t' {
				continue // stray control bytes (Ctrl-Z, ESC) outside a prompt
			}
			if len(s.line) >= maxLine {
				s.overflow = true
				continue
			}
			s.line = append(s.line, c)
			if len(s.line) == 2 && (s.line[0]|0x20) == 'a' && s.line[1] == '/' {
				// A/ repeats the last command line, no CR needed
				s.line = s.line[:0]
				flushEcho()
				if m.set.lastCmd != "" {
					s.execLine(m.set.lastCmd)
				} else {
					s.final(nil)
				}
			}
		}
	}
	flushEcho()
}

// hungByte watches a hung modem's input for AT+CFUN=1,1 (m.mu held).
func (s *session) hungByte(c byte) {
	m := s.m
	if c != '\r' && c != '\n' {
		if len(s.line) < maxLine {
			s.line = append(s.line, c)
		}
		return
	}
	line := strings.ToUpper(strings.ReplaceAll(string(s.line), " ", ""))
	s.line = s.line[:0]
	if m.faults.HangHard || !strings.Contains(line, "+CFUN=1,1") {
		return
	}
	m.faults.Hang = false
	m.hung = false
	s.final(nil)
	m.reboot()
}

// isHung reports whether the modem answers nothing now (m.mu held).
func (m *Modem) isHung() bool {
	return m.hung || m.faults.Hang || m.faults.HangHard
}

// reboot restarts the modem (AT+CFUN=1,1): settings back to defaults, SIM
// locked again, boot noise (m.mu held).
func (m *Modem) reboot() {
	m.boot()
	m.bootNoise()
	m.flushLocked()
}

// bootNoise writes vendor boot chatter and/or garbage to every session (m.mu held).
func (m *Modem) bootNoise() {
	var b []byte
	if m.faults.Garbage {
		b = append(b, garbage()...)
	}
	if m.faults.BootNoise {
		pin := "READY"
		switch m.pinState {
		case pinSIM:
			pin = "SIM PIN"
		case pinAbsent:
			pin = "NOT INSERTED"
		}
		for _, l := range []string{"RDY", "^BOOT:20952328,0,0,0,72", "+CFUN: 1", "+CPIN: " + pin, "Call Ready", "SMS Ready"} {
			b = append(b, "\r\n"+l+"\r\n"...)
		}
	}
	if len(b) == 0 {
		return
	}
	for s := range m.sessions {
		s.out.Write(b)
	}
}

// sleepLocked waits d with m.mu released; it returns false when the network
// closed meanwhile.
func (m *Modem) sleepLocked(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	m.mu.Unlock()
	defer m.mu.Lock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-m.net.ctx.Done():
		return false
	}
}
