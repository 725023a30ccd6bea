package store

import (
	"bytes"
	"cmp"
	"errors"
	"math"
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
