package modem

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

// scripted is a modem that answers from a transcript in testdata/: lines
// "> AT..." are commands, the "< ..." lines after one are its answer. An
// unknown command is answered with ERROR. It lets the tests replay what
// real modems say, including quirks the simulator does not have.
type scripted struct {
	answers map[string][]string

	mu     sync.Mutex
	cond   *sync.Cond
	out    []byte
	in     []byte
	closed bool
	seen   []string
}

func loadTranscript(t *testing.T, name string) *scripted {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := &scripted{answers: map[string][]string{}}
	s.cond = sync.NewCond(&s.mu)
	var cmd string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "> "):
			cmd = strings.TrimPrefix(l, "> ")
			s.answers[cmd] = nil
		case strings.HasPrefix(l, "< "):
			s.answers[cmd] = append(s.answers[cmd], strings.TrimPrefix(l, "< "))
		}
	}
	return s
}

func (s *scripted) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.out) == 0 && !s.closed {
		s.cond.Wait()
	}
	if s.closed {
		return 0, io.EOF
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

func (s *scripted) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, io.ErrClosedPipe
	}
	for _, c := range p {
		if c != '\r' {
			s.in = append(s.in, c)
			continue
		}
		line := strings.TrimLeft(string(s.in), "\x1b\r\n")
		s.in = s.in[:0]
		if line == "" {
			continue
		}
		s.seen = append(s.seen, line)
		ans, ok := s.answers[line]
		if !ok {
			ans = []string{"ERROR"}
		}
		for _, a := range ans {
			s.out = append(s.out, "\r\n"+a+"\r\n"...)
		}
	}
	s.cond.Broadcast()
	return len(p), nil
}

func (s *scripted) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.cond.Broadcast()
	return nil
}

func (s *scripted) sent(cmd string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.seen {
		if c == cmd {
			return true
		}
	}
	return false
}

func TestTranscripts(t *testing.T) {
	tests := []struct {
		file     string
		info     gateway.ModemInfo
		rssi     int
		reg      gateway.RegStatus
		operator string
		sent     []string // commands that prove a fallback was taken
	}{
		{
			file: "quectel_ec25.txt",
			info: gateway.ModemInfo{Manufacturer: "Quectel", Model: "EC25", Firmware: "EC25EFAR06A06M4G",
				IMEI: "861234567890123", IMSI: "262011234567890", ICCID: "8949020000012345678F"},
			rssi: 23, reg: gateway.RegHome, operator: "Telekom.de",
			sent: []string{"AT+QCCID", "AT+CNMI=2,1,0,2,0"},
		},
		{
			file: "simcom_sim800.txt",
			info: gateway.ModemInfo{Manufacturer: "SIMCOM_Ltd", Model: "SIMCOM_SIM800L", Firmware: "Revision:1418B05SIM800L24",
				IMEI: "869012345678901", IMSI: "234150123456789", ICCID: "89441000301234567890", MSISDN: "+447700900123"},
			rssi: 14, reg: gateway.RegRoaming, operator: "vodafone UK",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m := loadTranscript(t, tt.file)
			op := func(path string, baud int) (io.ReadWriteCloser, error) { return m, nil }
			port := filepath.Join(t.TempDir(), "ttyUSB0")
			if err := os.WriteFile(port, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := fastConfig("t", port)
			d, err := open(context.Background(), cfg, &recorder{}, nil, op)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			eventually(t, 10*time.Second, "up", func() bool { return d.Status().Usable() })
			if got := d.Info(); got != tt.info {
				t.Errorf("Info() = %+v\nwant     %+v", got, tt.info)
			}
			st := d.Status()
			if st.RSSI != tt.rssi || st.Registration != tt.reg || st.Operator != tt.operator {
				t.Errorf("Status() = %+v", st)
			}
			for _, c := range tt.sent {
				if !m.sent(c) {
					t.Errorf("%s never sent", c)
				}
			}
		})
	}
}
