package store

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/simgate/simgate/gateway"
)

// Bucket names (see doc.go for what each holds).
var (
	bMeta       = []byte("meta")
	bMessages   = []byte("messages")
	bIxTime     = []byte("ix_time")
	bIxStatus   = []byte("ix_status")
	bIxContact  = []byte("ix_contact")
	bIxModem    = []byte("ix_modem")
	bIxAgent    = []byte("ix_agent")
	bIxDir      = []byte("ix_direction")
	bIxMR       = []byte("ix_mr")
	bIxIdem     = []byte("ix_idempotency")
	bCounts     = []byte("counts")
	bUnmatched  = []byte("unmatched_reports")
	bFragments  = []byte("fragments")
	bSticky     = []byte("sticky")
	bBudgets    = []byte("budgets")
	bOptOuts    = []byte("optouts")
	bEvents     = []byte("events")
	bKeys       = []byte("api_keys")
	bIxKeyHash  = []byte("ix_api_key_hash")
	bWebhooks   = []byte("webhooks")
	bDeliveries = []byte("deliveries")
	bIxPending  = []byte("ix_delivery_pending")
	bIxHookDel  = []byte("ix_delivery_webhook")
	bEventLog   = []byte("event_log")
	bQueue      = []byte("queue")
)

// Keys in bMeta and bCounts.
var (
	keySchema  = []byte("schema")
	keyProbe   = []byte("probe")
	keyOutbox  = []byte("outbox")
	cntPending = []byte("deliveries_pending")
	cntUnmatch = []byte("unmatched_reports")
	cntEvents  = []byte("events")
)

// encTime encodes t as 8 big-endian bytes that sort like the times
// (Unix nanoseconds with the sign bit flipped, so times before 1970 sort
// first). The zero time encodes as all zeros: it sorts before every real time.
func encTime(t time.Time) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], timeBits(t))
	return b[:]
}

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

func timeBits(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	// UnixNano is only defined from 1677 to 2262; clamp outside that. The
	// smallest value is 1 so that no real time encodes like the zero time.
	switch {
	case t.Before(minTime):
		return 1
	case t.After(maxTime):
		return math.MaxUint64
	}
	if b := uint64(t.UnixNano()) ^ (1 << 63); b != 0 {
		return b
	}
	return 1
}

func decTime(b []byte) time.Time {
	u := binary.BigEndian.Uint64(b)
	if u == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(u^(1<<63))).UTC()
}

// prefix returns the index prefix for value v: a 2-byte big-endian length
// then v. Length-prefixing keeps one value's range from running into another
// ("+1555" is not a prefix range of "+15551").
func prefix(v string) []byte {
	if len(v) > math.MaxUint16 {
		v = v[:math.MaxUint16]
	}
	b := make([]byte, 2, 2+len(v)+8+26)
	binary.BigEndian.PutUint16(b, uint16(len(v)))
	return append(b, v...)
}

// ixKey is prefix(v) | time | id: one entry of a value index, ordered by
// time then id within the value.
func ixKey(v string, t time.Time, id string) []byte {
	b := prefix(v)
	b = binary.BigEndian.AppendUint64(b, timeBits(t))
	return append(b, id...)
}

// splitIx splits an index key of the given prefix length into its time and id.
func splitIx(k []byte, plen int) (time.Time, string, bool) {
	if len(k) < plen+8 {
		return time.Time{}, "", false
	}
	return decTime(k[plen : plen+8]), string(k[plen+8:]), true
}

// bound returns prefix(v) | bits as a range bound (no id).
func bound(p []byte, bits uint64) []byte {
	b := append([]byte(nil), p...)
	return binary.BigEndian.AppendUint64(b, bits)
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// Cursors: gateway.PageCursor's wire form, with the 8-byte encoded time
// of the last message of the page as its key. The next page continues
// strictly after that (time, id) position in whichever index the filter
// selects, so a cursor does not depend on the index chosen.

const maxIDLen = gateway.MaxIDLen

type cursor struct {
	asc  bool
	bits uint64 // encoded time
	id   string
}

func encodeCursor(c cursor) string {
	return gateway.PageCursor{Asc: c.asc, Key: c.bits, ID: c.id}.Encode()
}

// decodeCursor parses a cursor made by encodeCursor (gateway.DecodePageCursor).
func decodeCursor(s string) (cursor, error) {
	c, err := gateway.DecodePageCursor(s)
	return cursor{asc: c.Asc, bits: c.Key, id: c.ID}, err
}
