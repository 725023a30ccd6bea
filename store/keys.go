package store

import (
	"encoding/binary"
	"math"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/simgate/simgate/gateway"
)

// Bucket names (see doc.go for what each holds).
var (
	bMeta       = []byte("meta")
	bMessages   = []byte("msg")
	bIxTime     = []byte("ix_t")
	bIxStatus   = []byte("ix_s")
	bIxContact  = []byte("ix_c")
	bIxModem    = []byte("ix_m")
	bIxAgent    = []byte("ix_a")
	bIxMR       = []byte("ix_r")
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
	bQueue      = []byte("q")
)

// The queue bucket of schemas 7 to 9, keyed by the id string, moved into
// bQueue by the migration to schema 10 (moveQueue).
var v9Queue = []byte("queue")

// The message buckets of schema 8 and before (string ids in every key,
// 2-byte-length status and direction values, ix_direction), moved into the
// ones above by the migration to schema 9 (moveMessages).
var (
	v8Messages = []byte("messages")
	v8IxTime   = []byte("ix_time")
	v8IxStatus = []byte("ix_status")
	v8IxDir    = []byte("ix_direction")
	v8Indexes  = [][]byte{v8IxTime, v8IxStatus, []byte("ix_contact"), []byte("ix_modem"), []byte("ix_agent"), v8IxDir, []byte("ix_mr")}
)

// Counter namespaces of the message indexes in bCounts: the schema-8
// bucket names, kept so that the counts carry over unchanged. Direction is
// counted although it has no index of its own any more.
var (
	nsStatus = v8IxStatus
	nsDir    = v8IxDir
	nsModem  = []byte("ix_modem")
	nsAgent  = []byte("ix_agent")
	nsTime   = v8IxTime
)

// Keys in bMeta and bCounts.
var (
	keySchema  = []byte("schema")
	keyProbe   = []byte("probe")
	keyOutbox  = []byte("outbox")
	keyMoving  = []byte("moving") // set while a batched migration runs (migrate.go)
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

// Message ids in keys. A canonical ULID (26 characters, what NewID makes)
// is written as its 16 bytes, in the same order; any other id as its bytes
// and a marker byte 0x01, or 0x02 0x02 if that would make it 16 bytes
// long. So an id key is 16 bytes exactly when it is a ULID. Among messages
// created at the same instant, ULID ids therefore need not sort with other
// ids as strings do; among ULIDs, and among other ids, they do.

// idKey appends the key form of id to b.
func idKey(b []byte, id string) []byte {
	if len(id) == ulid.EncodedSize && isULIDText(id) {
		u := ulid.MustParseStrict(id)
		return append(b, u[:]...)
	}
	if len(id) == 15 { // 16 bytes with one marker: a ULID's length
		return append(append(b, id...), 2, 2)
	}
	return append(append(b, id...), 1)
}

// parseIDKey is the id written by idKey as k; false for a key idKey never
// writes (a 15-byte id with the short marker, a ULID in its text form, the
// long marker on any other length), so that parsing and idKey agree both ways.
func parseIDKey(k []byte) (string, bool) {
	switch {
	case len(k) == 16:
		var u ulid.ULID
		copy(u[:], k)
		return u.String(), true
	case len(k) == 17 && k[16] == 2 && k[15] == 2:
		return string(k[:15]), true
	case len(k) >= 1 && k[len(k)-1] == 1:
		id := string(k[:len(k)-1])
		if len(id) == 15 || len(id) == ulid.EncodedSize && isULIDText(id) {
			return "", false
		}
		return id, true
	}
	return "", false
}

// isULIDText reports whether id is a ULID in its canonical text form
// (which idKey writes as its 16 bytes).
func isULIDText(id string) bool {
	u, err := ulid.ParseStrict(id)
	return err == nil && u.String() == id
}

// messageKey is the key of message id in bMessages.
func messageKey(id string) []byte { return idKey(make([]byte, 0, 16), id) }

// Status values in ix_s are one byte, the record's status code (record.go);
// a status without a code is 0x00 then prefix(status).
func statusPrefix(s gateway.Status) []byte {
	if i := slices.Index(statusCodes, string(s)); i >= 0 {
		return []byte{byte(i + 1)}
	}
	return append([]byte{0}, prefix(string(s))...)
}

// splitStatus returns the status of an ix_s key and its prefix length.
func splitStatus(k []byte) (gateway.Status, int, bool) {
	switch {
	case len(k) == 0:
		return "", 0, false
	case k[0] != 0:
		if int(k[0]) > len(statusCodes) {
			return "", 0, false
		}
		return gateway.Status(statusCodes[k[0]-1]), 1, true
	case len(k) < 3:
		return "", 0, false
	}
	plen := 3 + int(binary.BigEndian.Uint16(k[1:]))
	if len(k) < plen {
		return "", 0, false
	}
	return gateway.Status(k[3:plen]), plen, true
}

// msgIxKey is p | t | idKey(id): a message's entry in a value index
// (p = prefix(value), or a status prefix), or in ix_t (p empty).
func msgIxKey(p []byte, t time.Time, id string) []byte {
	b := make([]byte, 0, len(p)+8+17)
	b = append(b, p...)
	b = binary.BigEndian.AppendUint64(b, timeBits(t))
	return idKey(b, id)
}

// splitMsgIx splits a message index key with a prefix of plen bytes into
// its encoded time and id.
func splitMsgIx(k []byte, plen int) (uint64, string, bool) {
	if len(k) < plen+8 {
		return 0, "", false
	}
	id, ok := parseIDKey(k[plen+8:])
	return binary.BigEndian.Uint64(k[plen:]), id, ok
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
