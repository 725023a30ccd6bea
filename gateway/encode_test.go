package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/tpdu"
)

// decodeParts unmarshals and reassembles TPDUs the way a handset would.
func decodeParts(t *testing.T, pdus [][]byte) (string, []*tpdu.TPDU) {
	t.Helper()
	var segs []*tpdu.TPDU
	for i, b := range pdus {
		p, err := sms.Unmarshal(b, sms.AsMO)
		if err != nil {
			t.Fatalf("part %d: unmarshal: %v", i+1, err)
		}
		segs = append(segs, p)
	}
	body, err := sms.Decode(segs)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return string(body), segs
}

func TestEncodeSubmit(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		encoding string
		parts    int
	}{
		{"short ascii", "Hi Ana, see you at 6?", EncodingGSM7, 1},
		{"160 gsm7 fits one", strings.Repeat("a", 160), EncodingGSM7, 1},
		{"161 gsm7 splits in two", strings.Repeat("a", 161), EncodingGSM7, 2},
		{"306 gsm7 is two parts of 153", strings.Repeat("b", 306), EncodingGSM7, 2},
		{"307 gsm7 is three", strings.Repeat("b", 307), EncodingGSM7, 3},
		{"extension chars count double: 80 euro signs fit", strings.Repeat("€", 80), EncodingGSM7, 1},
		{"extension chars count double: 81 do not", strings.Repeat("€", 81), EncodingGSM7, 2},
		{"á is not in GSM-7 so ucs2", "Olá! Ça va? ñ ü é", EncodingUCS2, 1},
		{"70 ucs2 fits one", strings.Repeat("ж", 70), EncodingUCS2, 1},
		{"71 ucs2 splits", strings.Repeat("ж", 71), EncodingUCS2, 2},
		{"134 ucs2 is two of 67", strings.Repeat("ж", 134), EncodingUCS2, 2},
		{"emoji forces ucs2", "see you 🙂", EncodingUCS2, 1},
		{"emoji across a part boundary", strings.Repeat("x", 66) + "🎉🎉" + strings.Repeat("y", 60), EncodingUCS2, 2},
		{"ten parts allowed", strings.Repeat("c", 153*10), EncodingGSM7, 10},
		{"ESC does not survive GSM-7 so ucs2", "a\x1bb", EncodingUCS2, 1},
		{"trailing CR survives", "line\r", EncodingGSM7, 1},
		{"trailing CR at the 8n-1 boundary", "abcdef\r", EncodingGSM7, 1},
		{"trailing CR at 159", strings.Repeat("a", 158) + "\r", EncodingGSM7, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := EncodeSubmit("+15551234567", tc.body, true, 42)
			if err != nil {
				t.Fatal(err)
			}
			if enc.Encoding != tc.encoding {
				t.Errorf("encoding = %s, want %s", enc.Encoding, tc.encoding)
			}
			if len(enc.PDUs) != tc.parts {
				t.Fatalf("parts = %d, want %d", len(enc.PDUs), tc.parts)
			}
			got, segs := decodeParts(t, enc.PDUs)
			if got != tc.body {
				t.Errorf("decoded %q, want %q", got, tc.body)
			}
			for i, s := range segs {
				if s.DA.Number() != "+15551234567" {
					t.Errorf("part %d DA = %q", i+1, s.DA.Number())
				}
				if !s.FirstOctet.SRR() {
					t.Errorf("part %d: TP-SRR not set", i+1)
				}
				if len(segs) > 1 {
					n, seq, ref, ok := s.ConcatInfo()
					if !ok || n != len(segs) || seq != i+1 || ref != 42 {
						t.Errorf("part %d concat = %d/%d ref %d ok %v", i+1, seq, n, ref, ok)
					}
				}
			}
		})
	}
}

func TestEncodeSubmitGSM7Accents(t *testing.T) {
	// é, ü, ñ, Ç, à are in the GSM 03.38 default alphabet.
	enc, err := EncodeSubmit("+4915112345678", "Ça va? é ü ñ à", false, 1)
	if err != nil {
		t.Fatal(err)
	}
	if enc.Encoding != EncodingGSM7 {
		t.Errorf("encoding = %s, want gsm7", enc.Encoding)
	}
	p, err := sms.Unmarshal(enc.PDUs[0], sms.AsMO)
	if err != nil {
		t.Fatal(err)
	}
	if p.FirstOctet.SRR() {
		t.Error("TP-SRR set though not asked for")
	}
}

func TestEncodeSubmitRefusesTooLong(t *testing.T) {
	_, err := EncodeSubmit("+15551234567", strings.Repeat("c", 153*10+1), true, 1)
	var ve *ValidationError
	if !asValidation(err, &ve) || ve.Field != "body" {
		t.Fatalf("err = %v, want validation error on body", err)
	}
	if _, err := EncodeSubmit("+15551234567", "", true, 1); !asValidation(err, &ve) {
		t.Fatalf("empty body: err = %v", err)
	}
	if _, err := EncodeSubmit("+15551234567", "bad \xff", true, 1); !asValidation(err, &ve) || ve.Field != "body" {
		t.Fatalf("invalid UTF-8: err = %v", err)
	}
}

func TestEncodeSubmitDeterministic(t *testing.T) {
	body := strings.Repeat("Déjà vu 🙂 ", 20)
	a, err := EncodeSubmit("+15551234567", body, true, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := EncodeSubmit("+15551234567", body, true, 7)
	for i := range a.PDUs {
		if !bytes.Equal(a.PDUs[i], b.PDUs[i]) {
			t.Fatalf("part %d differs between encodes", i+1)
		}
	}
}

func FuzzEncodeSubmit(f *testing.F) {
	f.Add("hello", 3)
	f.Add(strings.Repeat("€🙂a", 60), 200)
	f.Fuzz(func(t *testing.T, body string, ref int) {
		enc, err := EncodeSubmit("+15551234567", body, true, ref)
		if err != nil {
			return
		}
		if len(enc.PDUs) == 0 || len(enc.PDUs) > MaxParts {
			t.Fatalf("%d parts", len(enc.PDUs))
		}
		var segs []*tpdu.TPDU
		for _, b := range enc.PDUs {
			if len(b) > 176 {
				t.Fatalf("TPDU of %d bytes", len(b))
			}
			p, err := sms.Unmarshal(b, sms.AsMO)
			if err != nil {
				t.Fatalf("unmarshal own PDU: %v", err)
			}
			segs = append(segs, p)
		}
		if !utf8.ValidString(body) {
			return
		}
		got, err := sms.Decode(segs)
		if err != nil || string(got) != body {
			t.Fatalf("round trip %q -> %q (%v)", body, got, err)
		}
	})
}

func asValidation(err error, ve **ValidationError) bool { return errors.As(err, ve) }

func ExampleEncodeSubmit() {
	enc, err := EncodeSubmit("+15551234567", "Polls are open until 8pm 🗳️", true, 7)
	if err != nil {
		panic(err)
	}
	fmt.Println(enc.Encoding, len(enc.PDUs))
	// Output: ucs2 1
}

func TestConcatRef(t *testing.T) {
	long, err := EncodeSubmit("+12025550123", strings.Repeat("long body ", 40), true, 77)
	if err != nil {
		t.Fatal(err)
	}
	short, err := EncodeSubmit("+12025550123", "hi", false, 77)
	if err != nil {
		t.Fatal(err)
	}
	ucs2, err := EncodeSubmit("+12025550123", strings.Repeat("👋 ", 40), false, 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		pdu  []byte
		want int
	}{
		{"first part", long.PDUs[0], 77},
		{"last part", long.PDUs[len(long.PDUs)-1], 77},
		{"ucs2 part", ucs2.PDUs[1], 200},
		{"single part", short.PDUs[0], 0},
		{"garbage", []byte{0x01, 0x02}, 0},
		{"empty", nil, 0},
	} {
		if got := ConcatRef(tt.pdu); got != tt.want {
			t.Errorf("%s: ConcatRef = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestEncodeSubmitRepeatable: the store keeps no PDU that EncodeSubmit
// makes again from the message (number, body, status report flag,
// reference), so the same inputs must give the same bytes every time, from
// any goroutine, and every part of a long message must carry the reference
// given (8 bits: ref&0xff, 0 taken as 1).
func TestEncodeSubmitRepeatable(t *testing.T) {
	cases := []struct {
		body string
		srr  bool
		ref  int
	}{
		{"hi", true, 5},
		{strings.Repeat("Polls open 7-8 {ID} [€] ", 8), false, 77},
		{strings.Repeat("Vote early 🗳️ bring ID 🪪 ", 9), true, 200},
		{strings.Repeat("x", 1530), false, 255},
	}
	first := make([]Encoded, len(cases))
	for i, c := range cases {
		enc, err := EncodeSubmit("+12025550123", c.body, c.srr, c.ref)
		if err != nil {
			t.Fatal(err)
		}
		first[i] = enc
		if len(enc.PDUs) > 1 {
			for j, p := range enc.PDUs {
				if got := ConcatRef(p); got != c.ref {
					t.Errorf("case %d part %d: reference %d, want %d", i, j+1, got, c.ref)
				}
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				for i, c := range cases {
					enc, err := EncodeSubmit("+12025550123", c.body, c.srr, c.ref)
					if err != nil || !reflect.DeepEqual(enc, first[i]) {
						select {
						case errs <- fmt.Sprintf("case %d: other bytes (%v)", i, err):
						default:
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for _, ref := range []int{0, 256} {
		enc, err := EncodeSubmit("+12025550123", cases[1].body, false, ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := ConcatRef(enc.PDUs[0]); got != 1 { // ref&0xff is 0, taken as 1
			t.Errorf("ref %d: reference %d, want 1", ref, got)
		}
	}
}
