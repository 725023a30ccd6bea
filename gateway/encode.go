package gateway

import (
	"fmt"
	"unicode/utf8"

	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/gsm7"
	"github.com/warthog618/sms/encoding/gsm7/charset"
	"github.com/warthog618/sms/encoding/tpdu"
	"github.com/warthog618/sms/encoding/ucs2"
)

// warthog618/sms builds its default GSM-7 tables lazily without locking, so
// concurrent first uses race. Build them before any goroutine runs.
func init() {
	charset.DefaultEncoder()
	charset.DefaultExtEncoder()
	charset.DefaultDecoder()
	charset.DefaultExtDecoder()
}

// MaxParts is the most SMS parts one message may be split into. A body that
// needs more is refused (field "body"): 10 parts is 1,530 GSM-7 characters or
// 670 UCS-2 ones, well past what a person types into a P2P conversation, and
// long concatenations are the ones handsets lose parts of.
const MaxParts = 10

// Encoding names as reported in Message.Encoding.
const (
	EncodingGSM7 = "gsm7"
	EncodingUCS2 = "ucs2"
)

// Encoded is a body encoded once into SMS-SUBMIT TPDUs.
type Encoded struct {
	Encoding string   // EncodingGSM7 or EncodingUCS2
	PDUs     [][]byte // one TPDU per part, exactly as it goes to AT+CMGS (no SMSC prefix)
}

// concatRef is a constant reference for the concatenation header; a fresh
// one is drawn per message so handsets do not mix two long messages.
type concatRef int

func (c concatRef) Count() int { return int(c) }

// EncodeSubmit encodes body to the E.164 number to as SMS-SUBMIT TPDUs: GSM-7
// (with the extension table, whose characters cost two septets) when every
// character fits, otherwise UCS-2 written as UTF-16 so characters outside the
// BMP (emoji) survive as surrogate pairs that are never split across parts.
// Long bodies get an 8-bit concatenation header with reference ref (1..255)
// and are split into 153 GSM-7 septets or 67 UTF-16 units per part.
// statusReport sets TP-SRR on every part. TP-MR is 0: the modem assigns it.
func EncodeSubmit(to, body string, statusReport bool, ref int) (Encoded, error) {
	if body == "" {
		return Encoded{}, Invalid("body", "must not be empty")
	}
	if to == "" {
		return Encoded{}, Invalid("to", "must not be empty")
	}
	if !utf8.ValidString(body) {
		return Encoded{}, Invalid("body", "is not valid UTF-8")
	}
	ref = ref & 0xff
	if ref == 0 {
		ref = 1
	}
	opts := []sms.EncoderOption{sms.AsSubmit, sms.To(to), sms.WithDefaultCharset}
	if statusReport {
		opts = append(opts, sms.WithTemplateOption(srrOption{}))
	}
	msg := []byte(body)
	if !gsm7RoundTrips(body) {
		// Not (faithfully) GSM-7: UTF-16, given to the library as such.
		opts = append(opts, sms.AsUCS2)
		msg = ucs2.Encode([]rune(body))
	}
	e := sms.NewEncoder(opts...)
	e.ConcatRef = concatRef(ref)
	pdus, err := e.Encode(msg)
	if err != nil {
		return Encoded{}, fmt.Errorf("encode: %w", err)
	}
	if len(pdus) == 0 {
		return Encoded{}, Invalid("body", "must not be empty")
	}
	if len(pdus) > MaxParts {
		return Encoded{}, Invalid("body", "too long: needs %d SMS parts, at most %d", len(pdus), MaxParts)
	}
	out := Encoded{Encoding: EncodingGSM7, PDUs: make([][]byte, 0, len(pdus))}
	if a, _ := pdus[0].Alphabet(); a == tpdu.AlphaUCS2 {
		out.Encoding = EncodingUCS2
	}
	for i := range pdus {
		pdus[i].MR = 0
		b, err := pdus[i].MarshalBinary()
		if err != nil {
			return Encoded{}, fmt.Errorf("encode part %d: %w", i+1, err)
		}
		out.PDUs = append(out.PDUs, b)
	}
	return out, nil
}

// gsm7RoundTrips reports whether body survives GSM-7 (default alphabet and
// extension table) unchanged. Some characters encode but do not decode back
// (ESC itself, for one); those bodies go as UCS-2.
func gsm7RoundTrips(body string) bool {
	enc, err := gsm7.Encode([]byte(body))
	if err != nil {
		return false
	}
	dec, err := gsm7.Decode(enc)
	return err == nil && string(dec) == body
}

// srrOption sets TP-SRR (status report request) on the template TPDU.
type srrOption struct{}

func (srrOption) ApplyTPDUOption(t *tpdu.TPDU) error {
	t.FirstOctet |= tpdu.FoSRR
	return nil
}

// ConcatRef returns the concatenation reference of an SMS-SUBMIT TPDU made
// by EncodeSubmit (the ref given to it), or 0 if pdu is a single part or
// not an SMS-SUBMIT. With the message's number, body and status report
// flag it is all EncodeSubmit needs to make the same PDUs again.
func ConcatRef(pdu []byte) int {
	t := tpdu.TPDU{Direction: tpdu.MO}
	if err := t.UnmarshalBinary(pdu); err != nil || t.SmsType() != tpdu.SmsSubmit {
		return 0
	}
	if _, _, ref, ok := t.ConcatInfo(); ok {
		return ref
	}
	return 0
}
