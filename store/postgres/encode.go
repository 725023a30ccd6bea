package postgres

import (
	"math"
	"time"

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

// Cursors are gateway.PageCursor's wire form, as in the bbolt store, so
// that a cursor does not depend on the backend; the key is the position
// time in Unix nanoseconds with the sign bit flipped.

const maxIDLen = gateway.MaxIDLen

type cursor struct {
	asc bool
	ns  int64
	id  string
}

func encodeCursor(c cursor) string {
	return gateway.PageCursor{Asc: c.asc, Key: uint64(c.ns) ^ (1 << 63), ID: c.id}.Encode()
}

// decodeCursor parses a cursor made by encodeCursor (gateway.DecodePageCursor).
func decodeCursor(s string) (cursor, error) {
	c, err := gateway.DecodePageCursor(s)
	return cursor{asc: c.Asc, ns: int64(c.Key ^ (1 << 63)), id: c.ID}, err
}
