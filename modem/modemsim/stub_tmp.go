package modemsim

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"time"
)

type session struct {
	m    *Modem
	out  *pipeBuf
	line []byte
}

func (s *session) silent() bool { return false }
func (s *session) reset()       { s.line = nil }
func (s *session) feed(b []byte) {
	for _, c := range b {
		if c == '\r' {
			s.out.Write([]byte("\r\nOK\r\n"))
		}
	}
}
func (m *Modem) bootNoise()    {}
func (m *Modem) flushPending() {}
func itoa(i int) string        { return strconv.Itoa(i) }

// InjectSMS delivers text from the outside world to the modem with MSISDN
// toMSISDN, split into concatenated parts when long.
func (n *Network) InjectSMS(toMSISDN, from, text string) error { return nil }

// InjectPDU delivers a raw SMS-DELIVER TPDU to the modem with MSISDN toMSISDN.
func (n *Network) InjectPDU(toMSISDN string, tpdu []byte) error { return nil }

// ServeOptions configures Serve.
type ServeOptions struct {
	Modems        int
	LinkDir       string
	Control       string
	Latency       time.Duration
	Jitter        time.Duration
	DeliveryDelay time.Duration
	Echo          bool
	BootNoise     bool
	URCInAnswers  bool
	Logger        *slog.Logger
}

// Serve runs the standalone simulator until ctx ends.
func Serve(ctx context.Context, opts ServeOptions, out io.Writer) error {
	<-ctx.Done()
	return nil
}
