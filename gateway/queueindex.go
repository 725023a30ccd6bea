package gateway

import (
	"encoding/binary"

	"github.com/oklog/ulid/v2"
)

// idIndex finds a LocalQueue's items by message id. It is an open-addressing
// hash table (linear probing, a power of two of slots, at most 3/4 full) of
// item pointers: 8 to 16 bytes an item, where a map[ulid.ULID]*item takes
// about 50 (its 24-byte slots, control bytes and the room it keeps for
// growth), which at a million waiting messages is the difference between
// the queue fitting in 150 MB or not.
type idIndex struct {
	slots []*item
	n     int
	shift uint8 // 64 - log2(len(slots))
}

// slot is where id's probe sequence starts: the ULID's two halves (time and
// entropy, or a stand-in's hash) mixed, top bits of a Fibonacci hash.
func (x *idIndex) slot(id ulid.ULID) int {
	h := binary.LittleEndian.Uint64(id[:8]) ^ binary.LittleEndian.Uint64(id[8:])
	return int((h * 0x9E3779B97F4A7C15) >> x.shift)
}

// get returns the item with id, or nil.
func (x *idIndex) get(id ulid.ULID) *item {
	if x.n == 0 {
		return nil
	}
	mask := len(x.slots) - 1
	for i := x.slot(id); ; i = (i + 1) & mask {
		it := x.slots[i]
		if it == nil || it.id == id {
			return it
		}
	}
}

// put adds it, whose id the index does not hold.
func (x *idIndex) put(it *item) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	mask := len(x.slots) - 1
	i := x.slot(it.id)
	for x.slots[i] != nil {
		i = (i + 1) & mask
	}
	x.slots[i] = it
	x.n++
}

func (x *idIndex) grow() {
	old := x.slots
	size := max(len(old)*2, 64)
	x.slots = make([]*item, size)
	x.shift = uint8(64 - bitsOf(size))
	x.n = 0
	for _, it := range old {
		if it != nil {
			x.put(it)
		}
	}
}

func bitsOf(size int) int {
	n := 0
	for size > 1 {
		size >>= 1
		n++
	}
	return n
}

// del removes it (this very item) if the index holds it, and reports
// whether it did. The entries after it in its run move back (no
// tombstones), so lookups never slow down with deletions.
func (x *idIndex) del(it *item) bool {
	if x.n == 0 {
		return false
	}
	mask := len(x.slots) - 1
	i := x.slot(it.id)
	for x.slots[i] != it {
		if x.slots[i] == nil {
			return false
		}
		i = (i + 1) & mask
	}
	for j := i; ; {
		j = (j + 1) & mask
		o := x.slots[j]
		if o == nil {
			break
		}
		// o stays unless its home slot h lies cyclically outside (i, j].
		h := x.slot(o.id)
		if (i <= j && i < h && h <= j) || (i > j && (i < h || h <= j)) {
			continue
		}
		x.slots[i] = o
		i = j
	}
	x.slots[i] = nil
	x.n--
	return true
}

// len is the number of items held.
func (x *idIndex) len() int { return x.n }

// each calls fn for every item held (in no particular order); fn must not
// change the index.
func (x *idIndex) each(fn func(*item)) {
	for _, it := range x.slots {
		if it != nil {
			fn(it)
		}
	}
}
