package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
	bbolterrors "go.etcd.io/bbolt/errors"

	"github.com/simgate/simgate/gateway"
)

// The queue bucket holds, for every outbound message with a part to send or
// in flight, its gateway.QueueEntry (what scheduling needs: no body, no
// PDUs) in a compact binary form, about 40 bytes beside the 26-byte id. It
// is one of the message's derived entries (messageEntries), so it is
// written, changed and removed in the transaction that writes the message,
// and a message that no longer needs a queue leaves it. QueueEntries
// streams it, so the LocalQueue is rebuilt at start-up without decoding a
// single message.
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

// decodeQueueEntry decodes the entry of message id.
func decodeQueueEntry(id, v []byte) (gateway.QueueEntry, error) {
	e := gateway.QueueEntry{ID: string(id)}
	if len(v) < 2 || v[0] != queueEntryV1 {
		return e, fmt.Errorf("store: queue entry %s: %w", id, errQueueEntry)
	}
	flags := v[1]
	r := v[2:]
	bad := false
	varint := func() int64 {
		x, n := binary.Varint(r)
		if n <= 0 {
			bad = true
			return 0
		}
		r = r[n:]
		return x
	}
	uvarint := func() uint64 {
		x, n := binary.Uvarint(r)
		if n <= 0 {
			bad = true
			return 0
		}
		r = r[n:]
		return x
	}
	str := func() string {
		n := uvarint()
		if bad || n > uint64(len(r)) {
			bad = true
			return ""
		}
		s := string(r[:n])
		r = r[n:]
		return s
	}
	e.Submitted, e.InFlight = flags&qfSubmitted != 0, flags&qfInFlight != 0
	e.Priority = int(varint())
	e.Pending = int(min(uvarint(), 1<<16))
	for _, f := range []struct {
		flag byte
		t    *time.Time
	}{{qfSendAt, &e.SendAt}, {qfNextAttempt, &e.NextAttemptAt}, {qfExpires, &e.ExpiresAt}} {
		if flags&f.flag != 0 {
			*f.t = time.Unix(0, varint()).UTC()
		}
	}
	e.Contact, e.From, e.Modem = str(), str(), str()
	if flags&qfWindow != 0 {
		e.TextingWindow = gateway.TextingWindow{Start: str(), End: str(), TimeZone: str()}
	}
	if bad || len(r) != 0 {
		return e, fmt.Errorf("store: queue entry %s: %w", id, errQueueEntry)
	}
	return e, nil
}

// queueChunk is how many entries QueueEntries reads per read transaction.
var queueChunk = 4096

// QueueEntries calls fn with the queue entry of every outbound message that
// has a part to send or in flight, in id order (for ULIDs, creation order),
// each with its contact's sticky SIM (gateway.QueueEntry.Sticky). It reads
// a chunk at a time in a read transaction and calls fn outside it, so fn
// may call the store; after each chunk it gives the mapped pages back
// (ReleaseMapped), so a backlog of a million is never resident at once. A
// message written while the walk goes on is seen as it was when its chunk
// was read, or not at all if it was created behind the walk's position.
// fn's error stops the walk and is returned.
func (db *DB) QueueEntries(ctx context.Context, fn func(gateway.QueueEntry) error) error {
	var after []byte
	chunk := make([]gateway.QueueEntry, 0, queueChunk)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk = chunk[:0]
		err := db.view(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bQueue).Cursor()
			var k, v []byte
			if after == nil {
				k, v = c.First()
			} else if k, v = c.Seek(after); bytes.Equal(k, after) {
				k, v = c.Next()
			}
			sticky := tx.Bucket(bSticky)
			for ; k != nil && len(chunk) < queueChunk; k, v = c.Next() {
				e, err := decodeQueueEntry(k, v)
				if err != nil {
					return err
				}
				if raw := sticky.Get([]byte(e.Contact)); raw != nil {
					var s struct {
						Modem string `json:"modem"`
					}
					if err := json.Unmarshal(raw, &s); err != nil {
						return fmt.Errorf("decode sticky %q: %w", e.Contact, err)
					}
					e.Sticky = s.Modem
				}
				chunk = append(chunk, e)
				after = append(after[:0], k...)
			}
			return nil
		})
		if err != nil {
			return db.fail("queue_entries", err)
		}
		db.scanned.Add(int64(len(chunk)))
		if err := db.ReleaseMapped(); err != nil {
			db.log.Warn("release mapped pages", "err", err)
		}
		for _, e := range chunk {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(chunk) < queueChunk {
			return nil
		}
	}
}

// fillQueue (a migration, 6 → 7) rebuilds the queue bucket from the
// active messages, found through the non-terminal statuses of ix_status
// (the message buckets of schema 8 and before: 8 → 9 moves them).
func fillQueue(tx *bbolt.Tx) error {
	if err := tx.DeleteBucket(bQueue); err != nil && !errors.Is(err, bbolterrors.ErrBucketNotFound) {
		return fmt.Errorf("drop %s: %w", bQueue, err)
	}
	qb, err := tx.CreateBucket(bQueue)
	if err != nil {
		return fmt.Errorf("create %s: %w", bQueue, err)
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
