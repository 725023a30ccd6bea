package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"go.etcd.io/bbolt"
	bbolterrors "go.etcd.io/bbolt/errors"

	"github.com/simgate/simgate/gateway"
)

// The queue bucket ("q") holds, for every outbound message with a part to
// send or in flight, its gateway.QueueEntry (what scheduling needs: no body,
// no PDUs) in a compact binary form, about 40 bytes, under the message's
// key form idKey(id) (16 bytes for a ULID, as in the message buckets). It
// is one of the message's derived entries (messageEntries), so it is
// written, changed and removed in the transaction that writes the message,
// and a message that no longer needs a queue leaves it. QueueEntries
// streams it, so the LocalQueue is rebuilt at start-up without decoding a
// single message. Schema 9 and before kept the same values in "queue"
// under the 26-character id string; the migration to 10 moves them
// (moveQueue).
//
// Value: version (1) | flags (1) | priority (zigzag varint) | pending
// (uvarint) | [send_at] [next_attempt_at] [expires_at] (zigzag varint Unix
// nanoseconds, each present when its flag is set) | contact | from | modem
// | [window start | end | time zone] (each string uvarint length | bytes).
const queueEntryV1 = 1

// Flags of a queue entry.
const (
	qfSubmitted = 1 << iota
	qfInFlight
	qfSendAt
	qfNextAttempt
	qfExpires
	qfWindow
)

func encodeQueueEntry(e gateway.QueueEntry) []byte {
	b := make([]byte, 0, 48+len(e.Contact)+len(e.From)+len(e.Modem))
	var flags byte
	if e.Submitted {
		flags |= qfSubmitted
	}
	if e.InFlight {
		flags |= qfInFlight
	}
	if !e.SendAt.IsZero() {
		flags |= qfSendAt
	}
	if !e.NextAttemptAt.IsZero() {
		flags |= qfNextAttempt
	}
	if !e.ExpiresAt.IsZero() {
		flags |= qfExpires
	}
	if !e.TextingWindow.IsZero() {
		flags |= qfWindow
	}
	b = append(b, queueEntryV1, flags)
	b = binary.AppendVarint(b, int64(e.Priority))
	b = binary.AppendUvarint(b, uint64(max(e.Pending, 0)))
	for _, t := range []time.Time{e.SendAt, e.NextAttemptAt, e.ExpiresAt} {
		if !t.IsZero() {
			b = binary.AppendVarint(b, t.UnixNano())
		}
	}
	b = appendString(b, e.Contact)
	b = appendString(b, e.From)
	b = appendString(b, e.Modem)
	if flags&qfWindow != 0 {
		b = appendString(b, e.TextingWindow.Start)
		b = appendString(b, e.TextingWindow.End)
		b = appendString(b, e.TextingWindow.TimeZone)
	}
	return b
}

// appendString (record.go) writes uvarint length | bytes.

var errQueueEntry = errors.New("malformed queue entry")

// entryDecoder decodes queue entries for one walk. It interns the short
// strings that repeat from entry to entry (From, Modem, the sticky SIM's
// modem, texting windows), so a walk over a million entries allocates each
// name once instead of once per entry; it keeps at most maxInterned.
type entryDecoder struct {
	names map[string]string
}

const maxInterned = 4096

func (d *entryDecoder) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := d.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.names != nil && len(d.names) < maxInterned {
		d.names[s] = s
	}
	return s
}

// decodeQueueEntry decodes the entry stored under key k (idKey form).
func decodeQueueEntry(k, v []byte) (gateway.QueueEntry, error) {
	e, _, err := (&entryDecoder{}).decode(k, v)
	return e, err
}

// decode decodes the entry stored under key k, and returns its contact's
// bytes (part of v) as well.
func (d *entryDecoder) decode(k, v []byte) (e gateway.QueueEntry, contact []byte, err error) {
	id, ok := parseIDKey(k)
	if !ok {
		return e, nil, fmt.Errorf("store: queue entry %x: malformed key", k)
	}
	e.ID = id
	if len(v) < 2 || v[0] != queueEntryV1 {
		return e, nil, fmt.Errorf("store: queue entry %s: %w", id, errQueueEntry)
	}
	flags := v[1]
	r := reader{b: v[2:]} // record.go's: the first error sticks
	e.Submitted, e.InFlight = flags&qfSubmitted != 0, flags&qfInFlight != 0
	e.Priority = int(r.varint())
	e.Pending = int(min(r.uvarint(), 1<<16))
	if flags&qfSendAt != 0 {
		e.SendAt = time.Unix(0, r.varint()).UTC()
	}
	if flags&qfNextAttempt != 0 {
		e.NextAttemptAt = time.Unix(0, r.varint()).UTC()
	}
	if flags&qfExpires != 0 {
		e.ExpiresAt = time.Unix(0, r.varint()).UTC()
	}
	contact = r.bytes()
	e.Contact = string(contact)
	e.From, e.Modem = d.intern(r.bytes()), d.intern(r.bytes())
	if flags&qfWindow != 0 {
		e.TextingWindow = gateway.TextingWindow{Start: d.intern(r.bytes()), End: d.intern(r.bytes()), TimeZone: d.intern(r.bytes())}
	}
	if r.err != nil || len(r.b) != 0 {
		return e, nil, fmt.Errorf("store: queue entry %s: %w", id, errQueueEntry)
	}
	return e, contact, nil
}

// stickyModem returns the Modem of a sticky record (gateway.Sticky as
// JSON), interned. json.Marshal writes Modem first, so the name is read
// straight from the record's start when it needs no unescaping (stickyHead);
// any other record goes through encoding/json. The rest of the record (the
// SIM, the move history) is not looked at: Sticky reads it.
func (d *entryDecoder) stickyModem(raw []byte) (string, error) {
	if m, ok := stickyModemFast(raw); ok {
		return d.intern(m), nil
	}
	var s struct {
		Modem string `json:"modem"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return d.intern([]byte(s.Modem)), nil
}

var stickyHead = []byte(`{"modem":"`)

// stickyModemFast returns the modem of a record that starts {"modem":"NAME"
// followed by ',' or '}', NAME valid UTF-8 with no escape or control
// character (what json.Marshal writes for such a name); ok is false for
// anything else.
func stickyModemFast(raw []byte) (modem []byte, ok bool) {
	rest, ok := bytes.CutPrefix(raw, stickyHead)
	if !ok {
		return nil, false
	}
	for i, c := range rest {
		switch {
		case c == '"':
			if i+1 >= len(rest) || (rest[i+1] != ',' && rest[i+1] != '}') || !utf8.Valid(rest[:i]) {
				return nil, false
			}
			return rest[:i:i], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// queueChunk is how many entries QueueEntries reads per read transaction.
var queueChunk = 4096

// QueueEntries calls fn with the queue entry of every outbound message that
// has a part to send or in flight, in key order (for ULIDs, creation
// order), each with its contact's sticky SIM (gateway.QueueEntry.Sticky).
//
// A reader goroutine reads a chunk at a time in a read transaction, one
// chunk ahead of fn (so reading and fn's work use two cores), and fn is
// called outside any transaction, so it may call the store. After each
// chunk the reader gives the mapped pages back (ReleaseMapped), so a
// backlog of a million is never resident at once. At most two chunks are
// held: the one fn works on and the next. A message written while the walk
// goes on is seen as it was when its chunk was read (which may be before
// fn wrote it, for the chunk after fn's), or not at all if it was created
// behind the walk's position. fn's error stops the walk and is returned.
func (db *DB) QueueEntries(ctx context.Context, fn func(gateway.QueueEntry) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	type chunk struct {
		es  []gateway.QueueEntry
		err error
	}
	full := make(chan chunk, 1)
	free := make(chan []gateway.QueueEntry, 2)
	free <- make([]gateway.QueueEntry, 0, queueChunk)
	free <- make([]gateway.QueueEntry, 0, queueChunk)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer close(full)
		d := &entryDecoder{names: map[string]string{}}
		var after []byte
		for {
			var es []gateway.QueueEntry
			select {
			case es = <-free:
			case <-stop:
				return
			}
			select {
			case <-stop: // fn failed while this goroutine waited
				return
			default:
			}
			var err error
			if err = ctx.Err(); err == nil {
				es, after, err = db.readQueueChunk(d, es, after)
			}
			select {
			case full <- chunk{es, err}:
			case <-stop:
				return
			}
			if err != nil || len(es) < queueChunk {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()
	for c := range full {
		if c.err != nil {
			return c.err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, e := range c.es {
			if err := fn(e); err != nil {
				return err
			}
		}
		clear(c.es) // do not keep the strings alive until the buffer is refilled
		free <- c.es[:0]
	}
	return nil
}

// readQueueChunk appends to es the entries after key after (from the first
// if nil), at most queueChunk of them, in one read transaction, and
// returns them with the last key read.
func (db *DB) readQueueChunk(d *entryDecoder, es []gateway.QueueEntry, after []byte) ([]gateway.QueueEntry, []byte, error) {
	err := db.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bQueue).Cursor()
		var k, v []byte
		if after == nil {
			k, v = c.First()
		} else if k, v = c.Seek(after); bytes.Equal(k, after) {
			k, v = c.Next()
		}
		// One cursor for every sticky lookup: Bucket.Get makes a new one
		// (and its search stack) per call.
		sc := tx.Bucket(bSticky).Cursor()
		noSticky := true
		if k, _ := sc.First(); k != nil {
			noSticky = false
		}
		for ; k != nil && len(es) < queueChunk; k, v = c.Next() {
			e, contact, err := d.decode(k, v)
			if err != nil {
				return err
			}
			if !noSticky && len(contact) > 0 {
				if sk, sv := sc.Seek(contact); bytes.Equal(sk, contact) {
					if e.Sticky, err = d.stickyModem(sv); err != nil {
						return fmt.Errorf("decode the sticky binding of the contact of %s: %w", e.ID, err)
					}
				}
			}
			es = append(es, e)
			after = append(after[:0], k...)
		}
		return nil
	})
	if err != nil {
		return es, after, db.fail("queue_entries", err)
	}
	db.scanned.Add(int64(len(es)))
	if err := db.ReleaseMapped(); err != nil {
		db.log.Warn("release mapped pages", "err", err)
	}
	return es, after, nil
}

// fillQueue (a migration, 6 → 7) rebuilds the schema-9 queue bucket from the
// active messages, found through the non-terminal statuses of ix_status
// (the message buckets of schema 8 and before: 8 → 9 moves them).
func fillQueue(tx *bbolt.Tx) error {
	if err := tx.DeleteBucket(v9Queue); err != nil && !errors.Is(err, bbolterrors.ErrBucketNotFound) {
		return fmt.Errorf("drop %s: %w", v9Queue, err)
	}
	qb, err := tx.CreateBucket(v9Queue)
	if err != nil {
		return fmt.Errorf("create %s: %w", v9Queue, err)
	}
	qb.FillPercent = 0.9
	msgs := tx.Bucket(v8Messages)
	c := tx.Bucket(v8IxStatus).Cursor()
	n := 0
	for k, _ := c.First(); k != nil; {
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
		id := k[plen+8:]
		if n++; n%releaseAfter == 0 {
			// A million-message backlog would otherwise leave the whole
			// file mapped in (see ReleaseMapped). k stays valid: the pages
			// fault back in from the page cache.
			releaseTxPages(tx)
		}
		if raw := msgs.Get(id); raw != nil {
			m, err := decodeMessage(string(id), raw)
			if err != nil {
				return fmt.Errorf("message %s: %w", id, err)
			}
			if e, ok := gateway.EntryOf(m); ok {
				if err := qb.Put(bytes.Clone(id), encodeQueueEntry(e)); err != nil {
					return err
				}
			}
		}
		k, _ = c.Next()
	}
	return nil
}

// moveQueue (9 → 10) moves up to moveBatch queue entries from the schema-9
// bucket (keyed by the id string) into bQueue under idKey(id); the last
// batch drops the old bucket. An entry already in bQueue is kept (8 → 9
// writes one for every message it moves, derived from the same message).
// Entries leave the old bucket in the transaction that moves them, so an
// interrupted migration resumes with exactly those not moved yet.
func moveQueue(tx *bbolt.Tx) (bool, error) {
	if err := createBuckets(tx, [][]byte{bQueue}); err != nil {
		return false, err
	}
	if old := tx.Bucket(v9Queue); old != nil {
		releaseTxPages(tx) // see moveMessages
		nb := writeBucket(tx, bQueue)
		var keys [][]byte
		c := old.Cursor()
		for k, v := c.First(); k != nil && len(keys) < moveBatch; k, v = c.Next() {
			k = bytes.Clone(k)
			if nk := idKey(nil, string(k)); nb.Get(nk) == nil {
				if err := nb.Put(nk, bytes.Clone(v)); err != nil {
					return false, err
				}
			}
			keys = append(keys, k)
		}
		for _, k := range keys {
			if err := old.Delete(k); err != nil {
				return false, err
			}
		}
		if len(keys) == moveBatch {
			return false, nil
		}
		if err := tx.DeleteBucket(v9Queue); err != nil {
			return false, fmt.Errorf("drop %s: %w", v9Queue, err)
		}
	}
	return true, nil
}
