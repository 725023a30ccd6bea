package modem

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/warthog618/modem/at"

	"github.com/simgate/simgate/gateway"
)

// lines splits a transcript of information lines as the AT layer hands them over.
func lines(s string) []string {
	return strings.Split(strings.TrimSpace(s), "\n")
}

func TestParseCMGS(t *testing.T) {
	tests := []struct {
		name string
		in   string
		mr   int
		ok   bool
	}{
		{"plain", "+CMGS: 42", 42, true},
		{"urc first", "+CMTI: \"SM\",3\n+CMGS: 7", 7, true},
		{"echoed pdu and noise", "0001000B91\n^RSSI: 12\n+CMGS: 255", 255, true},
		{"with scts", "+CMGS: 3,\"24/01/01,10:00:00+00\"", 3, true},
		{"out of range", "+CMGS: 256", 0, false},
		{"missing", "^RSSI: 12", 0, false},
		{"garbage", "+CMGS: x", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mr, ok := parseCMGS(lines(tt.in))
			if mr != tt.mr || ok != tt.ok {
				t.Fatalf("parseCMGS(%q) = %d, %v; want %d, %v", tt.in, mr, ok, tt.mr, tt.ok)
			}
		})
	}
}

func TestParseCSQ(t *testing.T) {
	tests := []struct {
		in   string
		rssi int
		ok   bool
	}{
		{"+CSQ: 17,99", 17, true},
		{"+CREG: 1\n+CSQ: 31,0", 31, true},
		{"+CSQ: 99,99", 99, true},
		{"+CSQ: 120,99", 99, true},
		{"+CSQ: ,99", 0, false},
		{"OK", 0, false},
	}
	for _, tt := range tests {
		rssi, ok := parseCSQ(lines(tt.in))
		if rssi != tt.rssi || ok != tt.ok {
			t.Errorf("parseCSQ(%q) = %d, %v; want %d, %v", tt.in, rssi, ok, tt.rssi, tt.ok)
		}
	}
}

func TestParseCREG(t *testing.T) {
	tests := []struct {
		name string
		in   string
		stat gateway.RegStatus
		ok   bool
	}{
		{"answer n=0", "+CREG: 0,1", gateway.RegHome, true},
		{"answer n=2 with lac", `+CREG: 2,5,"00C3","1A2B",7`, gateway.RegRoaming, true},
		{"urc before answer", "+CREG: 2\n+CREG: 1,1", gateway.RegHome, true},
		{"urc after answer", "+CREG: 1,3\n+CREG: 1", gateway.RegDenied, true},
		{"urc with lac only", `+CREG: 5,"00C3","1A2B"`, gateway.RegRoaming, true},
		{"bad stat", "+CREG: 0,9", 0, false},
		{"none", "+CGREG: 0,1", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stat, ok := parseCREG(lines(tt.in))
			if stat != tt.stat || ok != tt.ok {
				t.Fatalf("parseCREG(%q) = %v, %v; want %v, %v", tt.in, stat, ok, tt.stat, tt.ok)
			}
		})
	}
}

func TestParseCOPS(t *testing.T) {
	tests := []struct {
		in string
		op string
		ok bool
	}{
		{`+COPS: 0,0,"Sim Telecom",7`, "Sim Telecom", true},
		{`+COPS: 0`, "", true},
		{`+CMTI: "SM",1` + "\n" + `+COPS: 1,2,"00101"`, "00101", true},
		{`+COPS: 0,0,"A, B"`, "A, B", true},
		{`+COPS: x`, "", false},
	}
	for _, tt := range tests {
		op, ok := parseCOPS(lines(tt.in))
		if op != tt.op || ok != tt.ok {
			t.Errorf("parseCOPS(%q) = %q, %v; want %q, %v", tt.in, op, ok, tt.op, tt.ok)
		}
	}
}

func TestParseCPMS(t *testing.T) {
	tests := []struct {
		in          string
		used, total int
		ok          bool
	}{
		{`+CPMS: "SM",3,30,"SM",3,30,"SM",3,30`, 3, 30, true},
		{`+CPMS: 30,30,30,30,30,30`, 30, 30, true},
		{`+CPMS: ("SM","ME"),("SM","ME"),("SM","ME")`, 0, 0, false},
		{`+CPMS: "SM",31,30`, 0, 0, false},
		{`+CPMS: "SM",13,20,"SM",13,20`, 13, 20, true},  // two memories (Wavecom)
		{`+CPMS: SM,3,30,SM,3,30,SM,3,30`, 3, 30, true}, // names unquoted
		{`+CPMS: "ME",0,25,"ME",0,25,"SM",0,20,"SR",0,5`, 0, 25, true},
	}
	for _, tt := range tests {
		u, n, ok := parseCPMS(lines(tt.in))
		if u != tt.used || n != tt.total || ok != tt.ok {
			t.Errorf("parseCPMS(%q) = %d, %d, %v; want %d, %d, %v", tt.in, u, n, ok, tt.used, tt.total, tt.ok)
		}
	}
}

func TestParseCPMSList(t *testing.T) {
	tests := []struct {
		in   string
		want [][]string
	}{
		{`+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")`, [][]string{{"SM", "ME", "SR"}, {"SM", "ME"}, {"SM", "ME"}}},
		{`+CPMS: (("SM","BM","SR"),("SM"))`, [][]string{{"SM", "BM", "SR"}, {"SM"}}}, // Wavecom
		{`+CPMS: (SM,ME,MT,SR),(SM,ME,MT),(SM,ME,MT),(SM,ME)`, [][]string{{"SM", "ME", "MT", "SR"}, {"SM", "ME", "MT"}, {"SM", "ME", "MT"}, {"SM", "ME"}}},
		{`+CPMS: ("ME","SM","MT"),("ME","SM","MT"),("SM","MT")`, [][]string{{"ME", "SM", "MT"}, {"ME", "SM", "MT"}, {"SM", "MT"}}}, // Cinterion MC75i
		{`+CPMS: x`, nil},
	}
	for _, tt := range tests {
		if got := parseCPMSList(lines(tt.in)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseCPMSList(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseCPIN(t *testing.T) {
	for in, want := range map[string]string{
		"+CPIN: READY":                 "READY",
		"+CPIN: SIM PIN":               "SIM PIN",
		"^RSSI: 3\n+CPIN: \"SIM PUK\"": "SIM PUK",
	} {
		got, ok := parseCPIN(lines(in))
		if !ok || got != want {
			t.Errorf("parseCPIN(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := parseCPIN(lines("OK")); ok {
		t.Error("parseCPIN(OK) ok")
	}
}

func TestParseCMGL(t *testing.T) {
	in := `+CMGL: 1,0,,24
07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07
+CMTI: "SM",9
+CMGL: 4,1,"",3
+CREG: 1
0001AA
+CMGL: 5,0,,3
+CMGL: 6,3,,2
000102`
	got := parseCMGL(lines(in))
	if len(got) != 3 {
		t.Fatalf("got %d entries, want 3: %+v", len(got), got)
	}
	if got[0].Index != 1 || got[0].Stat != 0 || len(got[0].PDU) != 38 {
		t.Errorf("entry 0 = %+v", got[0])
	}
	if got[1].Index != 4 || got[1].Stat != 1 || !bytes.Equal(got[1].PDU, []byte{0, 1, 0xaa}) {
		t.Errorf("entry 1 (URC between header and pdu) = %+v", got[1])
	}
	if got[2].Index != 6 || got[2].Stat != 3 {
		t.Errorf("entry 2 = %+v (entry 5 has no pdu and must be skipped)", got[2])
	}
}

func TestParseCMGLLoose(t *testing.T) {
	in := `
^RSSI: 20

+CMGL: 1,0,,3,0001AA

+CMGL: 2, 1, "", 3
0001AB

+CMGL: 3,0,,
0001AC
+CMGL: 4,0,,3
OK`
	got := parseCMGL(lines(in))
	if len(got) != 3 {
		t.Fatalf("got %d entries, want 3: %+v", len(got), got)
	}
	for i, want := range []stored{{1, 0, []byte{0, 1, 0xaa}}, {2, 1, []byte{0, 1, 0xab}}, {3, 0, []byte{0, 1, 0xac}}} {
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want)
		}
	}
	if m, ok := parseCMGR(lines(`+CMGR: 0,"",3,0001AA`), 7); !ok || !bytes.Equal(m.PDU, []byte{0, 1, 0xaa}) {
		t.Errorf("parseCMGR with the pdu on the header line = %+v, %v", m, ok)
	}
}

func TestParseCMGR(t *testing.T) {
	m, ok := parseCMGR(lines("^RSSI: 9\n+CMGR: 0,,3\n0001AA"), 7)
	if !ok || m.Index != 7 || m.Stat != 0 || !bytes.Equal(m.PDU, []byte{0, 1, 0xaa}) {
		t.Fatalf("parseCMGR = %+v, %v", m, ok)
	}
	if _, ok := parseCMGR(lines("+CMGR: 0,,3"), 1); ok {
		t.Fatal("parseCMGR without a pdu line: ok")
	}
}

func TestParseIndex(t *testing.T) {
	tests := []struct {
		line, prefix string
		mem          string
		idx          int
		ok           bool
	}{
		{`+CMTI: "SM",3`, "+CMTI:", "SM", 3, true},
		{`+CMTI: "me",12`, "+CMTI:", "ME", 12, true},
		{`+CDSI: "SR",0`, "+CDSI:", "SR", 0, true},
		{`+CMTI: "SM"`, "+CMTI:", "", 0, false},
		{`+CMTI: "S,M",x`, "+CMTI:", "", 0, false},
	}
	for _, tt := range tests {
		mem, idx, ok := parseIndex(tt.line, tt.prefix)
		if mem != tt.mem || idx != tt.idx || ok != tt.ok {
			t.Errorf("parseIndex(%q) = %q, %d, %v", tt.line, mem, idx, ok)
		}
	}
}

func TestParseRouted(t *testing.T) {
	// +CDS with the SMSC address and with none; the length counts TPDU octets.
	got, ok := parseRouted([]string{"+CDS: 3", "0006AABBCC"[:2] + "06AABB"})
	if !ok || !bytes.Equal(got, []byte{0x06, 0xaa, 0xbb}) {
		t.Fatalf("parseRouted with smsc = %x, %v", got, ok)
	}
	got, ok = parseRouted([]string{"+CMT: ,2", "0400"})
	if !ok || !bytes.Equal(got, []byte{0x04, 0x00}) {
		t.Fatalf("parseRouted without smsc = %x, %v", got, ok)
	}
	if _, ok := parseRouted([]string{"+CDS: 9", "0006"}); ok {
		t.Fatal("length beyond pdu accepted")
	}
}

func TestParseIdentity(t *testing.T) {
	echo := "AT+CGSN\n^BOOT:1,2\n"
	if v, ok := parseDigits(lines(echo+"867530912345678"), 14, 17, false, "+CGSN:"); !ok || v != "867530912345678" {
		t.Errorf("IMEI = %q, %v", v, ok)
	}
	if v, ok := parseDigits(lines(`+CGSN: "867530912345678"`), 14, 17, false, "+CGSN:"); !ok || v != "867530912345678" {
		t.Errorf("IMEI with prefix = %q, %v", v, ok)
	}
	if v, ok := parseDigits(lines("+ICCID: 8944100000000000123F"), 18, 22, true, "+CCID:", "+ICCID:"); !ok || v != "8944100000000000123F" {
		t.Errorf("ICCID = %q, %v", v, ok)
	}
	if v, ok := parseText(lines("AT+CGMI\nRDY\nSMS Ready\nSIMCOM_Ltd"), "+CGMI:"); !ok || v != "SIMCOM_Ltd" {
		t.Errorf("manufacturer = %q, %v", v, ok)
	}
	if v, ok := parseText(lines("+CGMR: \"1.2.3\""), "+CGMR:"); !ok || v != "1.2.3" {
		t.Errorf("firmware = %q, %v", v, ok)
	}
	if v := parseCNUM(lines(`+CNUM: "Own","+15550001",145`)); v != "+15550001" {
		t.Errorf("CNUM = %q", v)
	}
	if v := parseCNUM(lines(`+CNUM: ,"abc",129`)); v != "" {
		t.Errorf("CNUM junk = %q", v)
	}
}

func TestSplitSMSCAndKind(t *testing.T) {
	tpdu, err := splitSMSC([]byte{0x07, 0x91, 1, 2, 3, 4, 5, 6, 0x04, 0x0b})
	if err != nil || !bytes.Equal(tpdu, []byte{0x04, 0x0b}) {
		t.Fatalf("splitSMSC = %x, %v", tpdu, err)
	}
	if _, err := splitSMSC([]byte{0x07, 0x91}); err == nil {
		t.Fatal("short pdu accepted")
	}
	if k, ok := pduKind([]byte{0x04}); !ok || k != gateway.KindDeliver {
		t.Error("deliver")
	}
	if k, ok := pduKind([]byte{0x06}); !ok || k != gateway.KindStatusReport {
		t.Error("status report")
	}
	if _, ok := pduKind([]byte{0x11}); ok {
		t.Error("submit taken as inbound")
	}
}

func TestClassifySend(t *testing.T) {
	tests := []struct {
		name      string
		lines     []string
		err       error
		written   bool
		mr        int
		cms       int
		temporary bool
		ambiguous bool
	}{
		{"ok", []string{"+CMGS: 12"}, nil, true, 12, 0, false, false},
		{"stale ok before prompt", []string{"+CMGS: 12"}, nil, false, 0, 0, true, false},
		{"ok without mr", nil, nil, true, 0, 0, false, true},
		{"cms temporary", nil, at.CMSError("500"), true, 0, 500, true, false},
		{"cms permanent", nil, at.CMSError("304"), true, 0, 304, false, false},
		{"timeout before pdu", nil, at.ErrDeadlineExceeded, false, 0, 0, true, false},
		{"timeout after pdu", nil, at.ErrDeadlineExceeded, true, 0, 0, false, true},
		{"port lost after pdu", nil, at.ErrClosed, true, 0, 0, false, true},
		{"port lost before pdu", nil, at.ErrClosed, false, 0, 0, true, false},
		{"error before pdu", nil, at.ErrError, false, 0, 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mr, err := classifySend(tt.lines, tt.err, tt.written)
			if mr != tt.mr {
				t.Errorf("mr = %d, want %d", mr, tt.mr)
			}
			if tt.err == nil && tt.mr != 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var se *gateway.SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, not a *SendError", err)
			}
			if se.CMS != tt.cms || se.Temporary != tt.temporary || se.Ambiguous != tt.ambiguous {
				t.Errorf("got %+v, want cms=%d temporary=%v ambiguous=%v", se, tt.cms, tt.temporary, tt.ambiguous)
			}
		})
	}
}

func TestTapFiltersGarbageAndSeesPDU(t *testing.T) {
	rw := &fakeRW{r: bytes.NewReader([]byte("\x00\xff\xfeOK\r\n\x80\x1a"))}
	tp := newTap(rw, discardLogger)
	buf := make([]byte, 64)
	n, _ := tp.Read(buf)
	if got := string(buf[:n]); got != "OK\r\n\x1a" {
		t.Fatalf("read %q", got)
	}
	tp.Write([]byte("AT+CMGS=5\r"))
	if tp.pduSent.Load() {
		t.Fatal("command line taken for the PDU")
	}
	tp.Write([]byte("0011\x1a"))
	if !tp.pduSent.Load() {
		t.Fatal("PDU write not seen")
	}
}

func TestTapJoinsMultilineCUSDButNotForever(t *testing.T) {
	read := func(in string) string {
		tp := newTap(&fakeRW{r: bytes.NewReader([]byte(in))}, discardLogger)
		var out []byte
		buf := make([]byte, 4096)
		for {
			n, err := tp.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				return string(out)
			}
		}
	}
	if got := read("\r\n+CUSD: 0,\"Dear customer,\r\nyour balance is 1.00\",15\r\nOK\r\n"); got != "\r\n+CUSD: 0,\"Dear customer,\\nyour balance is 1.00\",15\r\nOK\r\n" {
		t.Fatalf("joined: %q", got)
	}
	// a quote that never closes gives the lines back after maxCUSDLine
	long := "\r\n+CUSD: 0,\"" + strings.Repeat("x", maxCUSDLine) + "\r\nOK\r\n"
	if got := read(long); !strings.HasSuffix(got, "\r\nOK\r\n") {
		t.Fatalf("runaway quote swallowed the next lines: ...%q", got[len(got)-20:])
	}
}

type fakeRW struct {
	r *bytes.Reader
	w bytes.Buffer
}

func (f *fakeRW) Read(p []byte) (int, error)  { return f.r.Read(p) }
func (f *fakeRW) Write(p []byte) (int, error) { return f.w.Write(p) }
func (f *fakeRW) Close() error                { return nil }

// Fuzz tests: the parsers see whatever a modem (or a broken cable) sends.

func fuzzLines(f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
}

func FuzzParseCMGS(f *testing.F) {
	fuzzLines(f, "+CMGS: 42", "+CMGS: ", "+CMGS: 1,\"x\"", "+CMGS: 99999999999")
	f.Fuzz(func(t *testing.T, s string) {
		if mr, ok := parseCMGS(strings.Split(s, "\n")); ok && (mr < 0 || mr > 255) {
			t.Fatalf("mr %d out of range", mr)
		}
	})
}

func FuzzParseCSQ(f *testing.F) {
	fuzzLines(f, "+CSQ: 17,99", "+CSQ:", "+CSQ: ,")
	f.Fuzz(func(t *testing.T, s string) {
		if rssi, ok := parseCSQ(strings.Split(s, "\n")); ok && (rssi < 0 || rssi > 31 && rssi != 99) {
			t.Fatalf("rssi %d", rssi)
		}
	})
}

func FuzzParseCREG(f *testing.F) {
	fuzzLines(f, "+CREG: 0,1", `+CREG: 2,1,"00C3","1A2B"`, "+CREG: 1", `+CREG: ",`)
	f.Fuzz(func(t *testing.T, s string) {
		if st, ok := parseCREG(strings.Split(s, "\n")); ok && (st < 0 || st > 5) {
			t.Fatalf("stat %d", st)
		}
	})
}

func FuzzParseCOPS(f *testing.F) {
	fuzzLines(f, `+COPS: 0,0,"Op",7`, `+COPS: 0`, `+COPS: "`)
	f.Fuzz(func(t *testing.T, s string) {
		op, _ := parseCOPS(strings.Split(s, "\n"))
		for i := 0; i < len(op); i++ {
			if op[i] < 0x20 || op[i] >= 0x7f {
				t.Fatalf("unprintable operator %q", op)
			}
		}
	})
}

func FuzzParseCPMS(f *testing.F) {
	fuzzLines(f, `+CPMS: "SM",3,30,"SM",3,30`, "+CPMS: 1,2", `+CPMS: ""`)
	f.Fuzz(func(t *testing.T, s string) {
		if u, n, ok := parseCPMS(strings.Split(s, "\n")); ok && (u < 0 || u > n) {
			t.Fatalf("used %d total %d", u, n)
		}
	})
}

func FuzzParseCPIN(f *testing.F) {
	fuzzLines(f, "+CPIN: READY", "+CPIN: \"", "+CPIN:")
	f.Fuzz(func(t *testing.T, s string) { parseCPIN(strings.Split(s, "\n")) })
}

func FuzzParseCMGL(f *testing.F) {
	fuzzLines(f, "+CMGL: 1,0,,3\n0001AA", "+CMGL: 1,0,,3\n+CMGL: 2,1,,2\n0001", "+CMGL: ,\nZZ")
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range parseCMGL(strings.Split(s, "\n")) {
			if m.Index < 0 || len(m.PDU) == 0 {
				t.Fatalf("bad entry %+v", m)
			}
			splitSMSC(m.PDU)
		}
	})
}

func FuzzParseCMGR(f *testing.F) {
	fuzzLines(f, "+CMGR: 0,,3\n0001AA", "+CMGR: 0\n", "+CMGR: 1,\"\",2\n00")
	f.Fuzz(func(t *testing.T, s string) {
		if m, ok := parseCMGR(strings.Split(s, "\n"), 1); ok {
			if tpdu, err := splitSMSC(m.PDU); err == nil {
				pduKind(tpdu)
			}
		}
	})
}

func FuzzParseURC(f *testing.F) {
	fuzzLines(f, `+CMTI: "SM",3`, `+CDSI: "SR",1`, "+CDS: 3\n0006AABB", "+CMT: ,2\n0400", "+CREG: 1", "^RSSI: 5")
	f.Fuzz(func(t *testing.T, s string) {
		ls := strings.Split(s, "\n")
		parseIndex(ls[0], "+CMTI:")
		parseIndex(ls[0], "+CDSI:")
		parseCREGLine(ls[0], "+CREG:")
		if tpdu, ok := parseRouted(ls); ok && len(tpdu) == 0 {
			t.Fatal("empty routed tpdu")
		}
	})
}

func FuzzParseIdentity(f *testing.F) {
	fuzzLines(f, "867530912345678", "+CGSN: 1", "AT+CGMI\nSIMCOM", `+CNUM: "a","+1",145`, "+ICCID: 89F")
	f.Fuzz(func(t *testing.T, s string) {
		ls := strings.Split(s, "\n")
		parseDigits(ls, 14, 17, false, "+CGSN:")
		parseDigits(ls, 18, 22, true, "+CCID:", "+ICCID:")
		parseText(ls, "+CGMI:")
		parseCNUM(ls)
		errCode(s)
	})
}
