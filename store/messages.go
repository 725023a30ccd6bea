package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

// Listing limits of ListMessages: gateway's, their one home.
const (
	DefaultLimit = gateway.DefaultPageLimit
	MaxLimit     = gateway.MaxPageLimit
)

// entry is one derived key of a message: an index entry, optionally counted
// under count in the counts bucket.
type entry struct {
	bucket []byte
	key    []byte
	val    []byte
	count  []byte // counter key, nil when not counted
}

// countKey names the counter of value v in index bucket b.
func countKey(b []byte, v string) []byte {
	k := make([]byte, 0, len(b)+1+len(v))
	k = append(k, b...)
	k = append(k, 0)
	return append(k, v...)
}

// messageEntries derives every index entry of m. Index changes of an update
// are the difference between the entries of the old and the new message.
func messageEntries(m *gateway.Message) []entry {
	es := make([]entry, 0, 8+len(m.Parts))
	add := func(b, p, ns []byte, v string) {
		es = append(es, entry{bucket: b, key: msgIxKey(p, m.CreatedAt, m.ID), count: countKey(ns, v)})
	}
	// ix_t's value is the direction code: a direction filter walks ix_t
	// and skips the other direction without reading its messages.
	es = append(es, entry{bucket: bIxTime, key: msgIxKey(nil, m.CreatedAt, m.ID), val: dirValue(m.Direction), count: countKey(nsTime, "")})
	add(bIxStatus, statusPrefix(m.Status), nsStatus, string(m.Status))
	// Direction: counted, not indexed (see above).
	es = append(es, entry{count: countKey(nsDir, string(m.Direction))})
	if m.Contact != "" {
		// Not counted: a contact's conversation is always the most
		// selective listing, and per-contact counters would add a random
		// page write per message to every commit.
		es = append(es, entry{bucket: bIxContact, key: msgIxKey(prefix(m.Contact), m.CreatedAt, m.ID)})
	}
	if m.Modem != "" {
		add(bIxModem, prefix(m.Modem), nsModem, m.Modem)
	}
	if m.Agent != "" {
		add(bIxAgent, prefix(m.Agent), nsAgent, m.Agent)
	}
	for _, p := range m.Parts {
		if p.Modem == "" || p.MR < 0 || p.SubmittedAt.IsZero() {
			continue
		}
		es = append(es, entry{bucket: bIxMR, key: mrKey(p.Modem, p.MR, p.SubmittedAt, m.ID), val: binary.BigEndian.AppendUint16(nil, uint16(p.Seq))})
	}
	if m.IdempotencyKey != "" {
		es = append(es, entry{bucket: bIxIdem, key: []byte(m.IdempotencyKey), val: []byte(m.ID)})
	}
	if q, ok := gateway.EntryOf(m); ok {
		es = append(es, entry{bucket: bQueue, key: messageKey(m.ID), val: encodeQueueEntry(q)})
	}
	return es
}

// dirValue is the ix_t value of direction d: its record code, or 0 and
// the direction for one without a code.
func dirValue(d gateway.Direction) []byte {
	return appendEnum(nil, directionCodes, string(d))
}

// mrKey is prefix(modem) | mr (4 bytes) | submittedAt | idKey(id).
func mrKey(modem string, mr int, at time.Time, id string) []byte {
	return msgIxKey(binary.BigEndian.AppendUint32(prefix(modem), uint32(mr)), at, id)
}

func addCount(tx *bbolt.Tx, key []byte, delta int64) error {
	b := tx.Bucket(bCounts)
	var n int64
	if v := b.Get(key); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n += delta
	if n <= 0 {
		return b.Delete(key)
	}
	return b.Put(key, u64(uint64(n)))
}

func getCount(tx *bbolt.Tx, key []byte) int64 {
	if v := tx.Bucket(bCounts).Get(key); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

// applyEntries removes the entries of old that new lacks and adds those of
// new that old lacks (either may be nil), keeping the counters in step.
func applyEntries(tx *bbolt.Tx, old, new []entry) error {
	seen := make(map[string]int, len(old))
	id := func(e entry) string {
		if e.bucket == nil {
			return "\x00" + string(e.count) // a counter without an index entry
		}
		return string(e.bucket) + "\x00" + string(e.key)
	}
	for i, e := range old {
		seen[id(e)] = i
	}
	keep := make([]bool, len(old))
	for _, e := range new {
		id := id(e)
		if i, ok := seen[id]; ok {
			keep[i] = true
			if bytes.Equal(old[i].val, e.val) {
				continue
			}
		} else if e.count != nil {
			if err := addCount(tx, e.count, 1); err != nil {
				return err
			}
		}
		if e.bucket == nil {
			continue
		}
		if err := writeBucket(tx, e.bucket).Put(e.key, e.val); err != nil {
			return err
		}
	}
	for i, e := range old {
		if keep[i] {
			continue
		}
		if e.bucket != nil {
			if err := tx.Bucket(e.bucket).Delete(e.key); err != nil {
				return err
			}
		}
		if e.count != nil {
			if err := addCount(tx, e.count, -1); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendMostly are the buckets whose keys mostly arrive in increasing order
// (ULIDs, creation times): their pages are filled before they split, which
// halves the pages written and the file size compared with bbolt's default
// of splitting at half full.
var appendMostly = map[string]bool{string(bMessages): true, string(bIxTime): true, string(bIxStatus): true, string(bIxAgent): true, string(bIxModem): true, string(bQueue): true}

// writeBucket returns bucket name of tx for writing.
func writeBucket(tx *bbolt.Tx, name []byte) *bbolt.Bucket {
	b := tx.Bucket(name)
	if appendMostly[string(name)] {
		b.FillPercent = 0.9
	}
	return b
}

// putNew stores a new message and its entries; the caller has checked that
// neither its id nor its idempotency key is taken.
func putNew(tx *bbolt.Tx, id string, raw []byte, es []entry) error {
	if err := writeBucket(tx, bMessages).Put(messageKey(id), raw); err != nil {
		return err
	}
	return applyEntries(tx, nil, es)
}

// createFn returns the write function storing m (already encoded as raw).
func createFn(m *gateway.Message, raw []byte, es []entry) func(tx *bbolt.Tx) error {
	id := messageKey(m.ID)
	return func(tx *bbolt.Tx) error {
		if tx.Bucket(bMessages).Get(id) != nil {
			return reject(fmt.Errorf("store: message %s: %w", m.ID, gateway.ErrExists))
		}
		if m.IdempotencyKey != "" {
			if other := tx.Bucket(bIxIdem).Get([]byte(m.IdempotencyKey)); other != nil {
				return reject(fmt.Errorf("store: idempotency key used by message %s: %w", other, gateway.ErrExists))
			}
		}
		return putNew(tx, m.ID, raw, es)
	}
}

// prepare fills in a new message's id and times and encodes it, outside
// the write transaction (the committer is serial; the callers are not).
func prepare(m *gateway.Message) ([]byte, []entry, error) {
	if m == nil {
		return nil, nil, gateway.Invalid("message", "missing")
	}
	if m.ID == "" {
		m.ID = gateway.NewID(time.Now())
	}
	if len(m.ID) > maxIDLen {
		return nil, nil, gateway.Invalid("id", "longer than %d bytes", maxIDLen)
	}
	now := time.Now().UTC()
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	raw, err := encodeMessage(m)
	if err != nil {
		return nil, nil, fmt.Errorf("encode message: %w", err)
	}
	return raw, messageEntries(m), nil
}

// CreateMessage stores m durably: when it returns nil, m has been fsynced
// (group-committed with concurrent callers). A missing ID is filled with a
// new ULID and zero CreatedAt/UpdatedAt with the current time. If m.ID or
// m.IdempotencyKey is already stored it returns an error wrapping
// gateway.ErrExists and stores nothing.
func (db *DB) CreateMessage(ctx context.Context, m *gateway.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	raw, es, err := prepare(m)
	if err != nil {
		return err
	}
	return db.fail("create_message", db.update(ctx, createFn(m, raw, es)))
}

// GetMessage returns the message with id, or an error wrapping gateway.ErrNotFound.
func (db *DB) GetMessage(ctx context.Context, id string) (*gateway.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var m *gateway.Message
	err := db.view(func(tx *bbolt.Tx) error {
		var err error
		m, err = getMessage(tx, id)
		return err
	})
	return m, db.fail("get_message", err)
}

func getMessage(tx *bbolt.Tx, id string) (*gateway.Message, error) {
	raw := tx.Bucket(bMessages).Get(messageKey(id))
	if raw == nil {
		return nil, fmt.Errorf("store: message %s: %w", id, gateway.ErrNotFound)
	}
	return decodeMessage(id, raw)
}

// MessageByIdempotencyKey returns the message created with key, or an error
// wrapping gateway.ErrNotFound.
func (db *DB) MessageByIdempotencyKey(ctx context.Context, key string) (*gateway.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var m *gateway.Message
	err := db.view(func(tx *bbolt.Tx) error {
		id := tx.Bucket(bIxIdem).Get([]byte(key))
		if id == nil {
			return fmt.Errorf("store: idempotency key: %w", gateway.ErrNotFound)
		}
		var err error
		m, err = getMessage(tx, string(id))
		return err
	})
	return m, db.fail("message_by_idempotency_key", err)
}

// UpdateMessage reads the message id, calls fn on a copy and, if fn returns
// nil, stores the result and moves every index entry that changed (stale
// entries removed, new ones added), all in one committed, fsynced
// transaction; it returns the stored message. fn's error is returned as is
// and nothing is written. If fn leaves UpdatedAt unchanged it is set to now.
//
// fn runs inside the group committer: it must not block, must not call the
// store, and must be a pure function of the message it is given, because it
// may run more than once (when another write in the same batch fails, the
// batch is retried without it). Only the result returned to the caller counts.
// fn may not change the message's ID.
func (db *DB) UpdateMessage(ctx context.Context, id string, fn func(*gateway.Message) error) (*gateway.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *gateway.Message
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		out = nil
		old, err := getMessage(tx, id)
		if err != nil {
			return reject(err)
		}
		m := old.Clone()
		if err := fn(m); err != nil {
			return reject(err)
		}
		if m.ID != old.ID {
			return reject(fmt.Errorf("store: update message %s: the id cannot change", id))
		}
		if m.UpdatedAt.Equal(old.UpdatedAt) {
			m.UpdatedAt = time.Now().UTC()
		}
		if m.IdempotencyKey != old.IdempotencyKey && m.IdempotencyKey != "" {
			if other := tx.Bucket(bIxIdem).Get([]byte(m.IdempotencyKey)); other != nil && string(other) != id {
				return reject(fmt.Errorf("store: idempotency key used by message %s: %w", other, gateway.ErrExists))
			}
		}
		raw, err := encodeMessage(m)
		if err != nil {
			return reject(fmt.Errorf("encode message: %w", err))
		}
		if err := writeBucket(tx, bMessages).Put(messageKey(id), raw); err != nil {
			return err
		}
		if err := applyEntries(tx, messageEntries(old), messageEntries(m)); err != nil {
			return err
		}
		out = m
		return nil
	})
	if err != nil {
		return nil, db.fail("update_message", err)
	}
	return out, nil
}

// ListMessages lists the messages matching f, newest first (oldest first if
// f.Ascending), a page at a time. It walks the index of the most selective
// filter field (the contact's if set, else the agent, modem, status or
// direction with the smallest stored count; the time index when none is
// set) within the
// Since/Until range and checks the other fields on each message. A malformed
// cursor, or one from a listing in the other order, gives a
// *gateway.ValidationError for field "cursor".
func (db *DB) ListMessages(ctx context.Context, f gateway.MessageFilter) (gateway.MessagePage, error) {
	var page gateway.MessagePage
	if err := ctx.Err(); err != nil {
		return page, err
	}
	limit := gateway.PageLimit(f.Limit)
	var cur *cursor
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor)
		if err != nil {
			return page, err
		}
		if c.asc != f.Ascending {
			return page, gateway.Invalid("cursor", "belongs to a listing in the other order")
		}
		cur = &c
	}
	err := db.view(func(tx *bbolt.Tx) error {
		b, p, dir, ok := pickIndex(tx, f)
		if !ok {
			return nil
		}
		lo, hi := bound(p, 0), bound(p, math.MaxUint64)
		if !f.Since.IsZero() {
			lo = bound(p, timeBits(f.Since))
		}
		if !f.Until.IsZero() {
			hi = bound(p, timeBits(f.Until))
		}
		var ck []byte
		if cur != nil {
			ck = idKey(bound(p, cur.bits), cur.id)
		}
		msgs := tx.Bucket(bMessages)
		c := tx.Bucket(b).Cursor()
		var k, v []byte
		step := c.Next
		inRange := func(k []byte) bool { return bytes.Compare(k, hi) < 0 }
		if f.Ascending {
			start := lo
			if ck != nil && bytes.Compare(ck, start) > 0 {
				start = ck
			}
			k, v = c.Seek(start)
			if ck != nil && bytes.Equal(k, ck) {
				k, v = c.Next()
			}
		} else {
			step = c.Prev
			inRange = func(k []byte) bool { return bytes.Compare(k, lo) >= 0 }
			end := hi // exclusive
			if ck != nil && bytes.Compare(ck, end) < 0 {
				end = ck
			}
			k, v = c.Seek(end)
			if k == nil {
				k, v = c.Last()
			}
			for k != nil && bytes.Compare(k, end) >= 0 {
				k, v = c.Prev()
			}
		}
		var lastKey []byte
		var scanned int64
		defer func() { db.scanned.Add(scanned) }()
		for ; k != nil && bytes.HasPrefix(k, p) && inRange(k); k, v = step() {
			scanned++
			if err := ctx.Err(); err != nil {
				return err
			}
			if dir != nil && !bytes.Equal(v, dir) {
				continue // the other direction (ix_t)
			}
			_, id, ok := splitMsgIx(k, len(p))
			if !ok {
				continue
			}
			raw := msgs.Get(k[len(p)+8:])
			if raw == nil {
				db.log.Warn("store: index entry without message", "index", string(b), "id", id)
				continue
			}
			m, err := decodeMessage(id, raw)
			if err != nil {
				return err
			}
			if !f.Matches(m) {
				continue
			}
			if len(page.Messages) == limit {
				bits, id, _ := splitMsgIx(lastKey, len(p))
				page.Next = encodeCursor(cursor{asc: f.Ascending, bits: bits, id: id})
				return nil
			}
			page.Messages = append(page.Messages, m)
			lastKey = append(lastKey[:0], k...)
		}
		return nil
	})
	if err != nil {
		return gateway.MessagePage{}, db.fail("list_messages", err)
	}
	return page, nil
}

// pickIndex chooses the index bucket and key prefix to walk for f: the
// contact's if set, else the filter field with the fewest stored messages.
// Direction has no index of its own: it walks ix_t and dir, the direction's
// ix_t value, is set for the walk to skip the other direction's entries. ok
// is false when a counted filter value has no messages at all (the page is
// empty).
func pickIndex(tx *bbolt.Tx, f gateway.MessageFilter) (b, p, dir []byte, ok bool) {
	type cand struct {
		b, p, dir []byte
		count     []byte
	}
	if f.Contact != "" {
		return bIxContact, prefix(f.Contact), nil, true
	}
	var cs []cand
	if f.Agent != "" {
		cs = append(cs, cand{b: bIxAgent, p: prefix(f.Agent), count: countKey(nsAgent, f.Agent)})
	}
	if f.Modem != "" {
		cs = append(cs, cand{b: bIxModem, p: prefix(f.Modem), count: countKey(nsModem, f.Modem)})
	}
	if f.Status != "" {
		cs = append(cs, cand{b: bIxStatus, p: statusPrefix(f.Status), count: countKey(nsStatus, string(f.Status))})
	}
	if f.Direction != "" {
		cs = append(cs, cand{b: bIxTime, dir: dirValue(f.Direction), count: countKey(nsDir, string(f.Direction))})
	}
	if len(cs) == 0 {
		return bIxTime, nil, nil, true
	}
	best, bestN := cs[0], int64(math.MaxInt64)
	for _, c := range cs {
		n := getCount(tx, c.count)
		if n == 0 {
			return nil, nil, nil, false
		}
		if c.dir != nil {
			// The walk reads every entry of ix_t, but only the direction's
			// messages: cheaper than reading as many messages, dearer than
			// walking an index of n entries.
			n = max(n, getCount(tx, countKey(nsTime, ""))/4)
		}
		if n < bestN {
			best, bestN = c, n
		}
	}
	return best.b, best.p, best.dir, true
}

// activeChunk is how many messages ActiveMessages loads per read transaction.
const activeChunk = 256

// releaseAfter is how many messages ActiveMessages loads between two
// releases of the mapped pages.
const releaseAfter = 16384

// ActiveMessages calls fn for every outbound message whose status is not
// terminal, oldest first within each status. It reads the ids of the
// non-terminal entries of the status index in one read transaction (terminal
// statuses are skipped with a seek, never walked), then loads the messages in
// chunks and calls fn outside any transaction, so fn may call the store. A
// message that has become terminal or disappeared by the time its chunk is
// loaded is skipped; each message is seen at most once. fn's error stops the
// walk and is returned.
func (db *DB) ActiveMessages(ctx context.Context, fn func(*gateway.Message) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var ids []string
	err := db.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bIxStatus).Cursor()
		var visited int64
		defer func() { db.scanned.Add(visited) }()
		for k, _ := c.First(); k != nil; {
			visited++
			st, plen, ok := splitStatus(k)
			if !ok {
				k, _ = c.Next()
				continue
			}
			if st.Terminal() {
				next := nextPrefix(k[:plen])
				if next == nil {
					break
				}
				k, _ = c.Seek(next)
				continue
			}
			if _, id, ok := splitMsgIx(k, plen); ok {
				ids = append(ids, id)
			}
			k, _ = c.Next()
		}
		return nil
	})
	if err != nil {
		return db.fail("active_messages", err)
	}
	loaded := 0
	for len(ids) > 0 {
		n := min(len(ids), activeChunk)
		chunk := ids[:n]
		ids = ids[n:]
		ms := make([]*gateway.Message, 0, n)
		err := db.view(func(tx *bbolt.Tx) error {
			msgs := tx.Bucket(bMessages)
			for _, id := range chunk {
				raw := msgs.Get(messageKey(id))
				if raw == nil {
					continue
				}
				m, err := decodeMessage(id, raw)
				if err != nil {
					return err
				}
				if m.Direction == gateway.Outbound && !m.Status.Terminal() {
					ms = append(ms, m)
				}
			}
			return nil
		})
		if err != nil {
			return db.fail("active_messages", err)
		}
		for _, m := range ms {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(m); err != nil {
				return err
			}
		}
		// Give back the pages read so far every releaseAfter messages, so
		// that a large backlog is never resident all at once.
		if loaded += n; loaded >= releaseAfter {
			loaded = 0
			if err := db.ReleaseMapped(); err != nil {
				db.log.Warn("release mapped pages", "err", err)
			}
		}
	}
	// The scan touched every active message's pages: give them back.
	if err := db.ReleaseMapped(); err != nil {
		db.log.Warn("release mapped pages", "err", err)
	}
	return nil
}

// nextPrefix returns the smallest key greater than every key starting with
// p, or nil if there is none.
func nextPrefix(p []byte) []byte {
	n := append([]byte(nil), p...)
	for i := len(n) - 1; i >= 0; i-- {
		n[i]++
		if n[i] != 0 {
			return n[:i+1]
		}
	}
	return nil
}

// PartByMR finds the part most recently submitted on modem with message
// reference mr at or after since (message references wrap at 256, so older
// parts with the same mr are ignored by the window). It returns an error
// wrapping gateway.ErrNotFound when there is none.
func (db *DB) PartByMR(ctx context.Context, modem string, mr int, since time.Time) (string, int, error) {
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	var (
		id  string
		seq int
	)
	err := db.view(func(tx *bbolt.Tx) error {
		p := binary.BigEndian.AppendUint32(prefix(modem), uint32(mr))
		c := tx.Bucket(bIxMR).Cursor()
		var v []byte
		k, _ := c.Seek(nextPrefix(p))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		if k == nil || !bytes.HasPrefix(k, p) || len(k) < len(p)+8 {
			return fmt.Errorf("store: part on %s with mr %d: %w", modem, mr, gateway.ErrNotFound)
		}
		at := binary.BigEndian.Uint64(k[len(p):])
		if !since.IsZero() && at < timeBits(since) {
			return fmt.Errorf("store: part with mr %d since %s: %w", mr, since.Format(time.RFC3339), gateway.ErrNotFound)
		}
		var ok bool
		if _, id, ok = splitMsgIx(k, len(p)); !ok {
			return fmt.Errorf("store: part on %s with mr %d: bad index key", modem, mr)
		}
		if len(v) == 2 {
			seq = int(binary.BigEndian.Uint16(v))
		}
		return nil
	})
	if err != nil {
		return "", 0, db.fail("part_by_mr", err)
	}
	return id, seq, nil
}

// SaveUnmatchedReport keeps a status report that matched no part, durably,
// and counts it (UnmatchedReportCount).
func (db *DB) SaveUnmatchedReport(ctx context.Context, r gateway.StatusReport) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.Received.IsZero() {
		r.Received = time.Now().UTC()
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return db.fail("save_unmatched_report", db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bUnmatched)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		k := binary.BigEndian.AppendUint64(encTime(r.Received), seq)
		if err := b.Put(k, raw); err != nil {
			return err
		}
		return addCount(tx, cntUnmatch, 1)
	}))
}

// UnmatchedReports returns up to limit (default 100) kept unmatched status
// reports, oldest first, and how many are kept in all.
func (db *DB) UnmatchedReports(ctx context.Context, limit int) ([]gateway.StatusReport, int, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if limit <= 0 {
		limit = 100
	}
	var (
		out []gateway.StatusReport
		n   int
	)
	err := db.view(func(tx *bbolt.Tx) error {
		n = int(getCount(tx, cntUnmatch))
		c := tx.Bucket(bUnmatched).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var r gateway.StatusReport
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode report: %w", err)
			}
			out = append(out, r)
		}
		return nil
	})
	return out, n, db.fail("unmatched_reports", err)
}

// CountByStatus counts messages per status from the stored counters (it
// does not scan messages).
func (db *DB) CountByStatus(ctx context.Context) (map[gateway.Status]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := map[gateway.Status]int{}
	err := db.view(func(tx *bbolt.Tx) error {
		p := countKey(nsStatus, "")
		c := tx.Bucket(bCounts).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if len(v) == 8 {
				out[gateway.Status(k[len(p):])] = int(binary.BigEndian.Uint64(v))
			}
		}
		return nil
	})
	if err != nil {
		return nil, db.fail("count_by_status", err)
	}
	return out, nil
}
