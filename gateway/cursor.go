package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"unicode/utf8"
)

// MaxIDLen is the longest message id a store accepts (and a cursor carries).
const MaxIDLen = 128

// PageCursor is the position a listing stopped at: the sort key (an 8-byte
// encoded time) and the id of the last item of the page. Every store uses
// the same wire form, so a cursor does not depend on the backend: base64url
// (no padding) of version byte 1, a flags byte (bit 0: ascending), the key,
// and the id.
type PageCursor struct {
	Asc bool
	Key uint64
	ID  string
}

const pageCursorVersion = 1

// Encode returns c's opaque wire form (MessagePage.Next).
func (c PageCursor) Encode() string {
	b := make([]byte, 0, 10+len(c.ID))
	b = append(b, pageCursorVersion, 0)
	if c.Asc {
		b[1] = 1
	}
	b = binary.BigEndian.AppendUint64(b, c.Key)
	b = append(b, c.ID...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodePageCursor parses a cursor made by Encode. Any other input gives a
// *ValidationError for field "cursor"; it never panics.
func DecodePageCursor(s string) (PageCursor, error) {
	bad := func(why string) (PageCursor, error) {
		return PageCursor{}, Invalid("cursor", "%s", why)
	}
	if len(s) > 4*(10+MaxIDLen) {
		return bad("too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return bad("not a cursor returned by this API")
	}
	if len(b) < 11 {
		return bad("truncated")
	}
	if b[0] != pageCursorVersion {
		return bad("unknown cursor version")
	}
	if b[1]&^1 != 0 {
		return bad("unknown cursor flags")
	}
	id := b[10:]
	if len(id) > MaxIDLen || !utf8.Valid(id) || bytes.IndexByte(id, 0) >= 0 {
		return bad("bad position")
	}
	return PageCursor{Asc: b[1] == 1, Key: binary.BigEndian.Uint64(b[2:10]), ID: string(id)}, nil
}
