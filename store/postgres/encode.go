package postgres

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"math"
	"time"
	"unicode/utf8"

	"github.com/simgate/simgate/gateway"
)

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos is t as Unix nanoseconds for ordering columns: the zero time is
// the smallest value, times outside 1677-2262 are clamped (as in bbolt).
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	switch {
	case t.Before(minTime):
		return math.MinInt64 + 1
	case t.After(maxTime):
		return math.MaxInt64
	}
	if n := t.UnixNano(); n != math.MinInt64 {
		return n
	}
	return math.MinInt64 + 1
}

// Cursors have the bbolt store's format, so that a cursor does not depend
// on the backend: base64url (no padding) of version byte 1, a flags byte
// (bit 0: ascending), the 8-byte position time (Unix nanoseconds with the
// sign bit flipped) and the id of the last message of the page.

const (
	cursorVersion = 1
	maxIDLen      = 128
)

type cursor struct {
	asc bool
	ns  int64
	id  string
}

func encodeCursor(c cursor) string {
	b := make([]byte, 0, 10+len(c.id))
	b = append(b, cursorVersion, 0)
	if c.asc {
		b[1] = 1
	}
	b = binary.BigEndian.AppendUint64(b, uint64(c.ns)^(1<<63))
	b = append(b, c.id...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses a cursor made by encodeCursor; anything else gives a
// *gateway.ValidationError for field "cursor".
func decodeCursor(s string) (cursor, error) {
	bad := func(why string) (cursor, error) {
		return cursor{}, gateway.Invalid("cursor", "%s", why)
	}
	if len(s) > 4*(10+maxIDLen) {
		return bad("too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return bad("not a cursor returned by this API")
	}
	if len(b) < 11 {
		return bad("truncated")
	}
	if b[0] != cursorVersion {
		return bad("unknown cursor version")
	}
	if b[1]&^1 != 0 {
		return bad("unknown cursor flags")
	}
	id := b[10:]
	if len(id) > maxIDLen || !utf8.Valid(id) || bytes.IndexByte(id, 0) >= 0 {
		return bad("bad position")
	}
	return cursor{asc: b[1] == 1, ns: int64(binary.BigEndian.Uint64(b[2:10]) ^ (1 << 63)), id: string(id)}, nil
}
