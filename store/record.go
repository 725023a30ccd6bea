package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/simgate/simgate/gateway"
)

// The message record, format 1.
//
// A record is a format byte and then the fields. JSON records (format 0,
// written before format 1) start with '{' and are still read; every write
// stores format 1. The format byte lets a later encoding be introduced the
// same way.
//
// Format 1 is hand-written: a uvarint bit mask of the fields present,
// then those fields in bit order. Absent means the zero value (or, where
// noted, a value derived from another field), so a queued message stores
// little besides its body, contact and PDUs. Integers are zigzag varints,
// strings and byte slices a uvarint length then the bytes, enums a uvarint
// code from the tables below (0: an unknown value, written as a string
// after it), times the seconds as a zigzag varint and the nanoseconds as a
// uvarint: CreatedAt as Unix time, every other time relative to CreatedAt
// (a few bytes). RequestHash, hex in the message, is stored as its bytes.
// A part's PDU that gateway.EncodeSubmit makes again from the message is
// not stored (derivedPDUs).
// The message id is the record's key and is not repeated in it.
//
// A hand-written codec rather than a library (protobuf, msgpack, gob):
// gateway.Message carries no schema tags for one, gob repeats a type
// header per record, msgpack keeps the field names, and the ~200 lines
// here are the whole format, fuzzed and checked against the JSON form.
const (
	formatJSON    = '{'
	formatBinary1 = 0x01
)

// Field bits of a format-1 message.
const (
	fCreatedAt = 1 << iota // first: the other times are relative to it
	fDirection
	fContact
	fContactRaw
	fContactRawSame // ContactRaw == Contact (no payload)
	fModem
	fFrom
	fBody
	fAgent
	fEncoding
	fSegments
	fPriority
	fSendAt
	fExpiresAt
	fTextingWindow
	fMetadata
	fCallbackURL
	fAtLeastOnce  // flag
	fOptOutReply  // flag
	fStatusReport // flag
	fStatus
	fErrorCode
	fError
	fParts
	fIdempotencyKey
	fRequestHash    // as a string
	fRequestHashHex // lowercase hex, stored as bytes
	fAPIKeyID
	fUpdatedAt
	fNextAttemptAt
	fSentAt
	fPDURef     // the concatenation reference of derived PDUs (pPDUDerived)
	fMessageAll = 1<<iota - 1
)

// Field bits of a format-1 part.
const (
	pSeq = 1 << iota // absent: Seq is its position + 1
	pPDU             // absent: nil
	pState
	pModem
	pModemSame // Modem == the message's Modem (no payload)
	pMR        // absent: -1
	pAttempts
	pErrorCode
	pErrorClass
	pError
	pReportStatus // absent: -1
	pUpdatedAt
	pSubmittedAt
	pDeliveredAt
	pPDUDerived // PDU is what EncodeSubmit makes of the message (no payload)
	pPartAll    = 1<<iota - 1
)

// Enum tables: append only (a code, once written, means its value forever).
var (
	directionCodes = []string{string(gateway.Outbound), string(gateway.Inbound)}
	statusCodes    = []string{"queued", "sending", "sent", "delivered", "failed", "unknown", "cancelled", "expired", "unconfirmed", "received"}
	partStateCodes = []string{"queued", "assigned", "submitting", "submitted", "delivered", "failed", "unknown", "cancelled", "expired", "unconfirmed"}
	encodingCodes  = []string{gateway.EncodingGSM7, gateway.EncodingUCS2}
)

func encodeMessage(m *gateway.Message) ([]byte, error) {
	return appendMessage(make([]byte, 0, 256+len(m.Body)+len(m.Parts)*180), m), nil
}

// decodeMessage reads a record of either format. id, the record's key,
// is the ID of a format-1 record (which does not repeat it).
func decodeMessage(id string, b []byte) (*gateway.Message, error) {
	if len(b) == 0 {
		return nil, errors.New("decode message: empty record")
	}
	switch b[0] {
	case formatJSON:
		var m gateway.Message
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("decode message: %w", err)
		}
		return &m, nil
	case formatBinary1:
		m, err := readMessage(id, b[1:])
		if err != nil {
			return nil, fmt.Errorf("decode message: %w", err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("decode message: unknown record format 0x%02x", b[0])
}

func appendMessage(b []byte, m *gateway.Message) []byte {
	var mask uint64
	set := func(bit uint64, ok bool) {
		if ok {
			mask |= bit
		}
	}
	set(fDirection, m.Direction != "")
	set(fContact, m.Contact != "")
	set(fContactRawSame, m.ContactRaw != "" && m.ContactRaw == m.Contact)
	set(fContactRaw, m.ContactRaw != "" && m.ContactRaw != m.Contact)
	set(fModem, m.Modem != "")
	set(fFrom, m.From != "")
	set(fBody, m.Body != "")
	set(fAgent, m.Agent != "")
	set(fEncoding, m.Encoding != "")
	set(fSegments, m.Segments != 0)
	set(fPriority, m.Priority != 0)
	set(fSendAt, !m.SendAt.IsZero())
	set(fExpiresAt, !m.ExpiresAt.IsZero())
	set(fTextingWindow, m.TextingWindow != nil)
	set(fMetadata, len(m.Metadata) > 0)
	set(fCallbackURL, m.CallbackURL != "")
	set(fAtLeastOnce, m.AtLeastOnce)
	set(fOptOutReply, m.OptOutReply)
	set(fStatusReport, m.StatusReport)
	set(fStatus, m.Status != "")
	set(fErrorCode, m.ErrorCode != 0)
	set(fError, m.Error != "")
	set(fParts, len(m.Parts) > 0)
	set(fIdempotencyKey, m.IdempotencyKey != "")
	hashHex := isLowerHex(m.RequestHash)
	set(fRequestHashHex, m.RequestHash != "" && hashHex)
	set(fRequestHash, m.RequestHash != "" && !hashHex)
	set(fAPIKeyID, m.APIKeyID != "")
	set(fCreatedAt, !m.CreatedAt.IsZero())
	set(fUpdatedAt, !m.UpdatedAt.IsZero())
	set(fNextAttemptAt, !m.NextAttemptAt.IsZero())
	set(fSentAt, !m.SentAt.IsZero())
	ref, derived := derivedPDUs(m)
	set(fPDURef, derived != nil)

	base := m.CreatedAt
	b = append(b, formatBinary1)
	b = binary.AppendUvarint(b, mask)
	if mask&fCreatedAt != 0 {
		b = appendTime(b, m.CreatedAt, time.Time{})
	}
	if mask&fDirection != 0 {
		b = appendEnum(b, directionCodes, string(m.Direction))
	}
	for _, f := range []struct {
		bit uint64
		s   string
	}{{fContact, m.Contact}, {fContactRaw, m.ContactRaw}, {fModem, m.Modem}, {fFrom, m.From}, {fBody, m.Body}, {fAgent, m.Agent}} {
		if mask&f.bit != 0 {
			b = appendString(b, f.s)
		}
	}
	if mask&fEncoding != 0 {
		b = appendEnum(b, encodingCodes, m.Encoding)
	}
	if mask&fSegments != 0 {
		b = binary.AppendVarint(b, int64(m.Segments))
	}
	if mask&fPriority != 0 {
		b = binary.AppendVarint(b, int64(m.Priority))
	}
	if mask&fSendAt != 0 {
		b = appendTime(b, m.SendAt, base)
	}
	if mask&fExpiresAt != 0 {
		b = appendTime(b, m.ExpiresAt, base)
	}
	if w := m.TextingWindow; w != nil {
		b = appendString(appendString(appendString(b, w.Start), w.End), w.TimeZone)
	}
	if mask&fMetadata != 0 {
		b = binary.AppendUvarint(b, uint64(len(m.Metadata)))
		for _, k := range slices.Sorted(maps.Keys(m.Metadata)) {
			b = appendString(appendString(b, k), m.Metadata[k])
		}
	}
	if mask&fCallbackURL != 0 {
		b = appendString(b, m.CallbackURL)
	}
	if mask&fStatus != 0 {
		b = appendEnum(b, statusCodes, string(m.Status))
	}
	if mask&fErrorCode != 0 {
		b = binary.AppendVarint(b, int64(m.ErrorCode))
	}
	if mask&fError != 0 {
		b = appendString(b, m.Error)
	}
	if mask&fParts != 0 {
		b = binary.AppendUvarint(b, uint64(len(m.Parts)))
		for i := range m.Parts {
			b = appendPart(b, &m.Parts[i], i, m.Modem, base, derived != nil && derived[i])
		}
	}
	if mask&fIdempotencyKey != 0 {
		b = appendString(b, m.IdempotencyKey)
	}
	if mask&fRequestHashHex != 0 {
		raw, _ := hex.DecodeString(m.RequestHash)
		b = appendString(b, string(raw))
	}
	if mask&fRequestHash != 0 {
		b = appendString(b, m.RequestHash)
	}
	if mask&fAPIKeyID != 0 {
		b = appendString(b, m.APIKeyID)
	}
	for _, f := range []struct {
		bit uint64
		t   time.Time
	}{{fUpdatedAt, m.UpdatedAt}, {fNextAttemptAt, m.NextAttemptAt}, {fSentAt, m.SentAt}} {
		if mask&f.bit != 0 {
			b = appendTime(b, f.t, base)
		}
	}
	if mask&fPDURef != 0 {
		b = binary.AppendUvarint(b, uint64(ref))
	}
	return b
}

// derivedPDUs reports which parts' PDUs gateway.EncodeSubmit makes again,
// byte for byte, from the message's contact, body and status report flag
// and the concatenation reference ref (nil if none does). Those PDUs are
// not stored: a queued 1-part message is 75 bytes smaller, and the record
// is read back by encoding again (about 5 µs, less than decoding the JSON
// record took). The PDUs the gateway makes (gateway.intake) are all
// derivable; TestDerivedPDUsStable pins EncodeSubmit's output so that a
// change of the SMS library cannot silently change stored messages.
func derivedPDUs(m *gateway.Message) (ref int, derived []bool) {
	if len(m.Parts) == 0 || m.Contact == "" || m.Body == "" || len(m.Parts) > gateway.MaxParts {
		return 0, nil
	}
	if len(m.Parts) > 1 {
		if ref = gateway.ConcatRef(m.Parts[0].PDU); ref == 0 {
			return 0, nil
		}
	}
	enc, err := gateway.EncodeSubmit(m.Contact, m.Body, m.StatusReport, ref)
	if err != nil || len(enc.PDUs) != len(m.Parts) {
		return 0, nil
	}
	for i := range m.Parts {
		if bytes.Equal(enc.PDUs[i], m.Parts[i].PDU) && m.Parts[i].PDU != nil {
			if derived == nil {
				derived = make([]bool, len(m.Parts))
			}
			derived[i] = true
		}
	}
	return ref, derived
}

func appendPart(b []byte, p *gateway.Part, i int, modem string, base time.Time, derived bool) []byte {
	var mask uint64
	set := func(bit uint64, ok bool) {
		if ok {
			mask |= bit
		}
	}
	set(pSeq, p.Seq != i+1)
	set(pPDUDerived, derived)
	set(pPDU, p.PDU != nil && !derived)
	set(pState, p.State != "")
	set(pModemSame, p.Modem != "" && p.Modem == modem)
	set(pModem, p.Modem != "" && p.Modem != modem)
	set(pMR, p.MR != -1)
	set(pAttempts, p.Attempts != 0)
	set(pErrorCode, p.ErrorCode != 0)
	set(pErrorClass, p.ErrorClass != "")
	set(pError, p.Error != "")
	set(pReportStatus, p.ReportStatus != -1)
	set(pUpdatedAt, !p.UpdatedAt.IsZero())
	set(pSubmittedAt, !p.SubmittedAt.IsZero())
	set(pDeliveredAt, !p.DeliveredAt.IsZero())
	b = binary.AppendUvarint(b, mask)
	if mask&pSeq != 0 {
		b = binary.AppendVarint(b, int64(p.Seq))
	}
	if mask&pPDU != 0 {
		b = appendString(b, string(p.PDU))
	}
	if mask&pState != 0 {
		b = appendEnum(b, partStateCodes, string(p.State))
	}
	if mask&pModem != 0 {
		b = appendString(b, p.Modem)
	}
	for _, f := range []struct {
		bit uint64
		n   int
	}{{pMR, p.MR}, {pAttempts, p.Attempts}, {pErrorCode, p.ErrorCode}} {
		if mask&f.bit != 0 {
			b = binary.AppendVarint(b, int64(f.n))
		}
	}
	if mask&pErrorClass != 0 {
		b = appendString(b, p.ErrorClass)
	}
	if mask&pError != 0 {
		b = appendString(b, p.Error)
	}
	if mask&pReportStatus != 0 {
		b = binary.AppendVarint(b, int64(p.ReportStatus))
	}
	for _, f := range []struct {
		bit uint64
		t   time.Time
	}{{pUpdatedAt, p.UpdatedAt}, {pSubmittedAt, p.SubmittedAt}, {pDeliveredAt, p.DeliveredAt}} {
		if mask&f.bit != 0 {
			b = appendTime(b, f.t, base)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendEnum writes v's code in table (index + 1), or 0 and v itself.
func appendEnum(b []byte, table []string, v string) []byte {
	if i := slices.Index(table, v); i >= 0 {
		return binary.AppendUvarint(b, uint64(i+1))
	}
	return appendString(binary.AppendUvarint(b, 0), v)
}

// appendTime writes t (not zero) relative to base: the difference in
// seconds, then t's nanoseconds.
func appendTime(b []byte, t, base time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix()-unixSec(base))
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// unixSec is base's Unix time, 0 for the zero time (the base of CreatedAt).
func unixSec(base time.Time) int64 {
	if base.IsZero() {
		return 0
	}
	return base.Unix()
}

func isLowerHex(s string) bool {
	if len(s) == 0 || len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// reader decodes a format-1 record; the first error sticks.
type reader struct {
	b   []byte
	err error
}

var errTruncated = errors.New("record truncated")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) int() int {
	v := r.varint()
	if int64(int(v)) != v {
		r.fail(errors.New("record: integer out of range"))
		return 0
	}
	return int(v)
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail(errTruncated)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string { return string(r.bytes()) }

func (r *reader) enum(table []string) string {
	c := r.uvarint()
	switch {
	case c == 0:
		return r.string()
	case c <= uint64(len(table)):
		return table[c-1]
	}
	r.fail(fmt.Errorf("record: unknown code %d", c))
	return ""
}

func (r *reader) time(base time.Time) time.Time {
	sec := r.varint()
	ns := r.uvarint()
	if ns >= 1e9 {
		r.fail(errors.New("record: nanoseconds out of range"))
		return time.Time{}
	}
	return time.Unix(unixSec(base)+sec, int64(ns)).UTC()
}

// count reads a collection size, bounded by the bytes left (each element
// takes at least min bytes) so that a corrupt record cannot make it allocate.
func (r *reader) count(min int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/min) {
		r.fail(errTruncated)
		return 0
	}
	return int(n)
}

func readMessage(id string, b []byte) (*gateway.Message, error) {
	r := &reader{b: b}
	mask := r.uvarint()
	if mask&^fMessageAll != 0 {
		return nil, fmt.Errorf("record: unknown fields %#x", mask&^fMessageAll)
	}
	m := &gateway.Message{ID: id}
	str := func(bit uint64, dst *string) {
		if mask&bit != 0 {
			*dst = r.string()
		}
	}
	num := func(bit uint64, dst *int) {
		if mask&bit != 0 {
			*dst = r.int()
		}
	}
	tm := func(bit uint64, dst *time.Time) {
		if mask&bit != 0 {
			*dst = r.time(m.CreatedAt)
		}
	}
	if mask&fCreatedAt != 0 {
		m.CreatedAt = r.time(time.Time{})
	}
	if mask&fDirection != 0 {
		m.Direction = gateway.Direction(r.enum(directionCodes))
	}
	str(fContact, &m.Contact)
	str(fContactRaw, &m.ContactRaw)
	if mask&fContactRawSame != 0 {
		m.ContactRaw = m.Contact
	}
	str(fModem, &m.Modem)
	str(fFrom, &m.From)
	str(fBody, &m.Body)
	str(fAgent, &m.Agent)
	if mask&fEncoding != 0 {
		m.Encoding = r.enum(encodingCodes)
	}
	num(fSegments, &m.Segments)
	num(fPriority, &m.Priority)
	tm(fSendAt, &m.SendAt)
	tm(fExpiresAt, &m.ExpiresAt)
	if mask&fTextingWindow != 0 {
		w := &gateway.TextingWindow{}
		w.Start = r.string()
		w.End = r.string()
		w.TimeZone = r.string()
		m.TextingWindow = w
	}
	if mask&fMetadata != 0 {
		n := r.count(2)
		if n > 0 { // an empty map is no metadata, as the encoder writes it
			m.Metadata = make(map[string]string, n)
		}
		for range n {
			k := r.string()
			m.Metadata[k] = r.string()
		}
	}
	str(fCallbackURL, &m.CallbackURL)
	m.AtLeastOnce = mask&fAtLeastOnce != 0
	m.OptOutReply = mask&fOptOutReply != 0
	m.StatusReport = mask&fStatusReport != 0
	if mask&fStatus != 0 {
		m.Status = gateway.Status(r.enum(statusCodes))
	}
	num(fErrorCode, &m.ErrorCode)
	str(fError, &m.Error)
	var derive []int // parts whose PDU EncodeSubmit gives back
	if mask&fParts != 0 {
		if n := r.count(1); n > 0 { // no parts is nil, as the encoder writes it
			m.Parts = make([]gateway.Part, n)
		}
		for i := range m.Parts {
			if readPart(r, &m.Parts[i], i, m) {
				derive = append(derive, i)
			}
		}
	}
	str(fIdempotencyKey, &m.IdempotencyKey)
	if mask&fRequestHashHex != 0 {
		m.RequestHash = hex.EncodeToString(r.bytes())
	}
	str(fRequestHash, &m.RequestHash)
	str(fAPIKeyID, &m.APIKeyID)
	tm(fUpdatedAt, &m.UpdatedAt)
	tm(fNextAttemptAt, &m.NextAttemptAt)
	tm(fSentAt, &m.SentAt)
	var ref int
	if mask&fPDURef != 0 {
		if ref = int(r.uvarint()); ref > 0xff {
			r.fail(fmt.Errorf("record: concatenation reference %d", ref))
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("record: %d bytes after the last field", len(r.b))
	}
	if derive != nil {
		if mask&fPDURef == 0 {
			return nil, errors.New("record: derived PDUs without a reference")
		}
		enc, err := gateway.EncodeSubmit(m.Contact, m.Body, m.StatusReport, ref)
		if err != nil {
			return nil, fmt.Errorf("record: derive PDUs: %w", err)
		}
		if len(enc.PDUs) != len(m.Parts) {
			return nil, fmt.Errorf("record: derive PDUs: %d parts, the message has %d", len(enc.PDUs), len(m.Parts))
		}
		for _, i := range derive {
			m.Parts[i].PDU = enc.PDUs[i]
		}
	}
	return m, nil
}

// readPart reads part i of m and reports whether its PDU is derived.
func readPart(r *reader, p *gateway.Part, i int, m *gateway.Message) bool {
	mask := r.uvarint()
	if mask&^pPartAll != 0 || mask&pPDU != 0 && mask&pPDUDerived != 0 {
		r.fail(fmt.Errorf("record: part %d: bad fields %#x", i+1, mask))
		return false
	}
	p.Seq, p.MR, p.ReportStatus = i+1, -1, -1
	num := func(bit uint64, dst *int) {
		if mask&bit != 0 {
			*dst = r.int()
		}
	}
	num(pSeq, &p.Seq)
	if mask&pPDU != 0 {
		p.PDU = append([]byte{}, r.bytes()...)
	}
	if mask&pState != 0 {
		p.State = gateway.PartState(r.enum(partStateCodes))
	}
	if mask&pModem != 0 {
		p.Modem = r.string()
	}
	if mask&pModemSame != 0 {
		p.Modem = m.Modem
	}
	num(pMR, &p.MR)
	num(pAttempts, &p.Attempts)
	num(pErrorCode, &p.ErrorCode)
	if mask&pErrorClass != 0 {
		p.ErrorClass = r.string()
	}
	if mask&pError != 0 {
		p.Error = r.string()
	}
	num(pReportStatus, &p.ReportStatus)
	for _, f := range []struct {
		bit uint64
		dst *time.Time
	}{{pUpdatedAt, &p.UpdatedAt}, {pSubmittedAt, &p.SubmittedAt}, {pDeliveredAt, &p.DeliveredAt}} {
		if mask&f.bit != 0 {
			*f.dst = r.time(m.CreatedAt)
		}
	}
	return mask&pPDUDerived != 0
}
