package store

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/simgate/simgate/gateway"
)

func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(cursor{asc: true, bits: timeBits(t0), id: "01JDQ3ZK8H0000000000000000"}))
	f.Add(encodeCursor(cursor{bits: 0, id: "x"}))
	f.Add("")
	f.Add("AQA")
	f.Add("AQEAAAAAAAAAAAA")
	f.Add("////")
	f.Add("===")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			var ve *gateway.ValidationError
			if !errors.As(err, &ve) || ve.Field != "cursor" {
				t.Fatalf("error %v is not a cursor ValidationError", err)
			}
			return
		}
		// A cursor that decodes re-encodes to itself and decodes the same.
		again, err := decodeCursor(encodeCursor(c))
		if err != nil || again != c {
			t.Fatalf("round trip of %q: %+v vs %+v, %v", s, c, again, err)
		}
	})
}

// FuzzIndexKeys checks that index keys keep their order and split back.
func FuzzIndexKeys(f *testing.F) {
	f.Add("+15550001", int64(0), "01JDQ3ZK8H0000000000000000", "+1555000", int64(1), "b")
	f.Add("", int64(-1), "", "a", int64(1<<62), "a")
	f.Add("x", int64(math.MinInt64), "a", "x", int64(math.MinInt64+1), "a")
	f.Fuzz(func(t *testing.T, v1 string, n1 int64, id1, v2 string, n2 int64, id2 string) {
		t1, t2 := time.Unix(0, n1), time.Unix(0, n2)
		k1 := ixKey(v1, t1, id1)
		gt, gid, ok := splitIx(k1, len(prefix(v1)))
		if !ok || gid != id1 || (n1 != math.MinInt64 && !gt.Equal(t1)) {
			t.Fatalf("split(%q) = %v %q %v", k1, gt, gid, ok)
		}
		if v1 != v2 || len(v1) > 0xFFFF {
			return
		}
		// same value: key order is (time, id) order
		k2 := ixKey(v2, t2, id2)
		want := t1.Compare(t2)
		if n1 == math.MinInt64 || n2 == math.MinInt64 { // clamped to MinInt64+1
			want = cmp.Compare(max(n1, math.MinInt64+1), max(n2, math.MinInt64+1))
		}
		if want == 0 {
			want = compareStrings(id1, id2)
		}
		if got := compareBytes(k1, k2); got != want {
			t.Fatalf("order of %v/%q vs %v/%q: %d, want %d", t1, id1, t2, id2, got, want)
		}
	})
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareBytes(a, b []byte) int { return compareStrings(string(a), string(b)) }

// FuzzIDKey checks that every id survives its key form, that the key is 16
// bytes exactly for a canonical ULID, and that ULID keys sort as the ids.
func FuzzIDKey(f *testing.F) {
	f.Add("01JDQ3ZK8H0000000000000000", "01JDQ3ZK8H0000000000000001")
	f.Add("0123456789abcde", "m1")
	f.Add("01jdq3zk8h0000000000000000", "x\x01")
	f.Add("x\x02\x02", "")
	f.Add("81JDQ3ZK8H0000000000000000", "0123456789abcdef")
	f.Fuzz(func(t *testing.T, a, b string) {
		ka, kb := idKey(nil, a), idKey(nil, b)
		for _, c := range []struct {
			id string
			k  []byte
		}{{a, ka}, {b, kb}} {
			got, ok := parseIDKey(c.k)
			if !ok || got != c.id {
				t.Fatalf("id %q: key %x parses as %q, %v", c.id, c.k, got, ok)
			}
			u, err := ulid.ParseStrict(c.id)
			isULID := err == nil && u.String() == c.id
			if (len(c.k) == 16) != isULID {
				t.Fatalf("id %q (ULID %v): key of %d bytes", c.id, isULID, len(c.k))
			}
		}
		if len(ka) == 16 && len(kb) == 16 && cmp.Compare(a, b) != bytes.Compare(ka, kb) {
			t.Fatalf("ULIDs %q, %q: keys sort otherwise", a, b)
		}
	})
}

// FuzzDecodeQueueEntry: a queue entry decodes without panicking, and one
// that decodes encodes back to the same bytes under the same key.
func FuzzDecodeQueueEntry(f *testing.F) {
	e, _ := gateway.EntryOf(newMsg(1))
	f.Add(messageKey(e.ID), encodeQueueEntry(e))
	e.From, e.Modem, e.Priority, e.Submitted = "g1", "m1", -3, true
	e.SendAt, e.NextAttemptAt, e.ExpiresAt = t0, t0.Add(time.Minute), t0.Add(time.Hour)
	e.TextingWindow = gateway.TextingWindow{Start: "09:00", End: "21:00", TimeZone: "America/Chicago"}
	f.Add(messageKey("odd-1"), encodeQueueEntry(e))
	f.Add([]byte("x\x01"), []byte{queueEntryV1, 0xff})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		d := &entryDecoder{names: map[string]string{}}
		e, contact, err := d.decode(k, v)
		if err != nil {
			return
		}
		if string(contact) != e.Contact {
			t.Fatalf("contact bytes %q, entry %q", contact, e.Contact)
		}
		if !bytes.Equal(messageKey(e.ID), k) {
			t.Fatalf("key %x decodes as id %q, whose key is %x", k, e.ID, messageKey(e.ID))
		}
		again := encodeQueueEntry(e)
		e2, _, err := d.decode(k, again)
		if err != nil || !sameEntry(e, e2) {
			t.Fatalf("%x: decode → encode → decode: %+v vs %+v, %v", v, e, e2, err)
		}
	})
}

// FuzzStickyModem: the walk's reading of a sticky record's modem agrees
// with encoding/json whenever json accepts the record and it names the
// modem once; the fast path always agrees with a record json.Marshal wrote.
func FuzzStickyModem(f *testing.F) {
	for _, s := range []gateway.Sticky{{Modem: "m1", Since: t0}, {Modem: "m<ä>", SIM: "8901", Moves: []gateway.StickyMove{{From: "a", To: "b", At: t0, Reason: "rebound"}}}} {
		raw, _ := json.Marshal(s)
		f.Add(raw, s.Modem)
	}
	f.Add([]byte(`{"modem":"a\"b"}`), "")
	f.Add([]byte(`{"modem":"a","Modem":"b"}`), "")
	f.Add([]byte(`{"modem":"\xff"}`), "\xff")
	f.Fuzz(func(t *testing.T, raw []byte, modem string) {
		d := &entryDecoder{names: map[string]string{}}
		got, err := d.stickyModem(raw)
		var s gateway.Sticky
		var fields map[string]json.RawMessage
		if json.Unmarshal(raw, &s) == nil && json.Unmarshal(raw, &fields) == nil {
			n := 0
			for k := range fields {
				if strings.EqualFold(k, "modem") {
					n++
				}
			}
			if n == 1 && (err != nil || got != s.Modem) {
				t.Fatalf("%q: modem %q, %v; encoding/json reads %q", raw, got, err, s.Modem)
			}
		}
		raw, err = json.Marshal(gateway.Sticky{Modem: modem, SIM: string(raw), Since: t0})
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		if got, err := d.stickyModem(raw); err != nil || got != s.Modem {
			t.Fatalf("%s: modem %q, %v; want %q", raw, got, err, s.Modem)
		}
	})
}
