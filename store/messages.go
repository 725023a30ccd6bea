package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"go.etcd.io/bbolt"
	bbolterrors "go.etcd.io/bbolt/errors"

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
	add := func(b []byte, v string) {
		es = append(es, entry{bucket: b, key: ixKey(v, m.CreatedAt, m.ID), count: countKey(b, v)})
	}
	add(bIxTime, "")
	add(bIxStatus, string(m.Status))
	add(bIxDir, string(m.Direction))
	if m.Contact != "" {
		// Not counted: a contact's conversation is always the most
		// selective listing, and per-contact counters would add a random
		// page write per message to every commit.
		es = append(es, entry{bucket: bIxContact, key: ixKey(m.Contact, m.CreatedAt, m.ID)})
	}
	if m.Modem != "" {
		add(bIxModem, m.Modem)
	}
	if m.Agent != "" {
		add(bIxAgent, m.Agent)
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
		es = append(es, entry{bucket: bQueue, key: []byte(m.ID), val: encodeQueueEntry(q)})
	}
	return es
}

// mrKey is prefix(modem) | mr (4 bytes) | submittedAt | id.
func mrKey(modem string, mr int, at time.Time, id string) []byte {
	b := prefix(modem)
	b = binary.BigEndian.AppendUint32(b, uint32(mr))
	b = binary.BigEndian.AppendUint64(b, timeBits(at))
	return append(b, id...)
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
	for i, e := range old {
		seen[string(e.bucket)+"\x00"+string(e.key)] = i
	}
	keep := make([]bool, len(old))
	for _, e := range new {
		id := string(e.bucket) + "\x00" + string(e.key)
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
		if err := writeBucket(tx, e.bucket).Put(e.key, e.val); err != nil {
			return err
		}
	}
	for i, e := range old {
		if keep[i] {
			continue
		}
		if err := tx.Bucket(e.bucket).Delete(e.key); err != nil {
			return err
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
var appendMostly = map[string]bool{string(bMessages): true, string(bIxTime): true, string(bIxStatus): true, string(bIxDir): true, string(bQueue): true}

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
	if err := writeBucket(tx, bMessages).Put([]byte(id), raw); err != nil {
		return err
	}
	return applyEntries(tx, nil, es)
}

// createFn returns the write function storing m (already encoded as raw).
func createFn(m *gateway.Message, raw []byte, es []entry) func(tx *bbolt.Tx) error {
	id := []byte(m.ID)
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
	raw := tx.Bucket(bMessages).Get([]byte(id))
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
		if err := tx.Bucket(bMessages).Put([]byte(id), raw); err != nil {
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
		b, v, ok := pickIndex(tx, f)
		if !ok {
			return nil
		}
		p := prefix(v)
		lo, hi := bound(p, 0), bound(p, math.MaxUint64)
		if !f.Since.IsZero() {
			lo = bound(p, timeBits(f.Since))
		}
		if !f.Until.IsZero() {
			hi = bound(p, timeBits(f.Until))
		}
		var ck []byte
		if cur != nil {
			ck = append(bound(p, cur.bits), cur.id...)
		}
		msgs := tx.Bucket(bMessages)
		c := tx.Bucket(b).Cursor()
		var k []byte
		step := c.Next
		inRange := func(k []byte) bool { return bytes.Compare(k, hi) < 0 }
		if f.Ascending {
			start := lo
			if ck != nil && bytes.Compare(ck, start) > 0 {
				start = ck
			}
			k, _ = c.Seek(start)
			if ck != nil && bytes.Equal(k, ck) {
				k, _ = c.Next()
			}
		} else {
			step = c.Prev
			inRange = func(k []byte) bool { return bytes.Compare(k, lo) >= 0 }
			end := hi // exclusive
			if ck != nil && bytes.Compare(ck, end) < 0 {
				end = ck
			}
			k, _ = c.Seek(end)
			if k == nil {
				k, _ = c.Last()
			}
			for k != nil && bytes.Compare(k, end) >= 0 {
				k, _ = c.Prev()
			}
		}
		var lastKey []byte
		var scanned int64
		defer func() { db.scanned.Add(scanned) }()
		for ; k != nil && bytes.HasPrefix(k, p) && inRange(k); k, _ = step() {
			scanned++
			if err := ctx.Err(); err != nil {
				return err
			}
			_, id, ok := splitIx(k, len(p))
			if !ok {
				continue
			}
			raw := msgs.Get([]byte(id))
			if raw == nil {
				db.log.Warn("store: index entry without message", "index", string(b), "id", id)
				continue
			}
			m, err := decodeMessage(id, raw)
			if err != nil {
				return err
			}
			if !matches(f, m) {
				continue
			}
			if len(page.Messages) == limit {
				page.Next = encodeCursor(cursor{asc: f.Ascending, bits: binary.BigEndian.Uint64(lastKey[len(p):]), id: string(lastKey[len(p)+8:])})
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

// pickIndex chooses the index bucket and value to walk for f: the contact
// if set, else the filter field with the fewest stored messages. ok is false
// when a counted filter value has no messages at all (the page is empty).
func pickIndex(tx *bbolt.Tx, f gateway.MessageFilter) (b []byte, v string, ok bool) {
	type cand struct {
		b []byte
		v string
	}
	if f.Contact != "" {
		return bIxContact, f.Contact, true
	}
	var cs []cand
	if f.Agent != "" {
		cs = append(cs, cand{bIxAgent, f.Agent})
	}
	if f.Modem != "" {
		cs = append(cs, cand{bIxModem, f.Modem})
	}
	if f.Status != "" {
		cs = append(cs, cand{bIxStatus, string(f.Status)})
	}
	if f.Direction != "" {
		cs = append(cs, cand{bIxDir, string(f.Direction)})
	}
	if len(cs) == 0 {
		return bIxTime, "", true
	}
	best, bestN := cs[0], int64(math.MaxInt64)
	for _, c := range cs {
		n := getCount(tx, countKey(c.b, c.v))
		if n == 0 {
			return nil, "", false
		}
		if n < bestN {
			best, bestN = c, n
		}
	}
	return best.b, best.v, true
}

func matches(f gateway.MessageFilter, m *gateway.Message) bool {
	switch {
	case f.Direction != "" && m.Direction != f.Direction,
		f.Status != "" && m.Status != f.Status,
		f.Contact != "" && m.Contact != f.Contact,
		f.Modem != "" && m.Modem != f.Modem,
		f.Agent != "" && m.Agent != f.Agent,
		!f.Since.IsZero() && m.CreatedAt.Before(f.Since),
		!f.Until.IsZero() && !m.CreatedAt.Before(f.Until):
		return false
	}
	return true
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
			if len(k) < 2 {
				k, _ = c.Next()
				continue
			}
			plen := 2 + int(binary.BigEndian.Uint16(k))
			if len(k) < plen+8 {
				k, _ = c.Next()
				continue
			}
			if gateway.Status(k[2:plen]).Terminal() {
				next := nextPrefix(k[:plen])
				if next == nil {
					break
				}
				k, _ = c.Seek(next)
				continue
			}
			ids = append(ids, string(k[plen+8:]))
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
				raw := msgs.Get([]byte(id))
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
		id = string(k[len(p)+8:])
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
		p := countKey(bIxStatus, "")
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

// reindex rebuilds every message index and the counts bucket from the
// messages, deliveries and unmatched reports (a migration step).
func reindex(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bIxTime, bIxStatus, bIxContact, bIxModem, bIxAgent, bIxDir, bIxMR, bIxIdem, bCounts, bQueue} {
		if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bbolterrors.ErrBucketNotFound) {
			return fmt.Errorf("drop %s: %w", name, err)
		}
		if _, err := tx.CreateBucket(name); err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
	}
	c := tx.Bucket(bMessages).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		m, err := decodeMessage(string(k), v)
		if err != nil {
			return fmt.Errorf("message %s: %w", k, err)
		}
		if err := applyEntries(tx, nil, messageEntries(m)); err != nil {
			return err
		}
	}
	for b, key := range map[string][]byte{string(bIxPending): cntPending, string(bUnmatched): cntUnmatch, string(bEvents): cntEvents} {
		n := tx.Bucket([]byte(b)).Stats().KeyN
		if n > 0 {
			if err := tx.Bucket(bCounts).Put(key, u64(uint64(n))); err != nil {
				return err
			}
		}
	}
	return nil
}
