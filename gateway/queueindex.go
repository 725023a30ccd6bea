package gateway

import (
	"encoding/binary"

	"github.com/oklog/ulid/v2"
)

// idIndex finds a LocalQueue's items by message id. It is an open-addressing
// hash table of itemRefs (linear probing, backward-shift deletion, in
// shards that grow by half at 4/5 full: 5 to 8 bytes an item, where a
// map[ulid.ULID]*item takes about 50); the ids themselves are the items'
// own, in the queue's itemArena, so every method takes it.
type idIndex struct {
	shards [tableShards]idShard
	n      int
}

type idShard struct {
	slots []itemRef
	n     int
}

// idHash mixes the ULID's two halves (time and entropy, or a stand-in's
// hash) into a Fibonacci hash.
func idHash(id *ulid.ULID) uint64 {
	h := binary.LittleEndian.Uint64(id[:8]) ^ binary.LittleEndian.Uint64(id[8:])
	return h * 0x9E3779B97F4A7C15
}

// get returns the item with id, or 0.
func (x *idIndex) get(a *itemArena, id ulid.ULID) itemRef {
	h := idHash(&id)
	s := &x.shards[shardOf(h)]
	if s.n == 0 {
		return 0
	}
	size := len(s.slots)
	for i := homeOf(h, size); ; {
		r := s.slots[i]
		if r == 0 || a.at(r).id == id {
			return r
		}
		if i++; i == size {
			i = 0
		}
	}
}

// add indexes r under its item's id unless an item with that id is
// indexed already; it returns that item, or 0 when it added r. (One probe
// run for both the look-up and the insert.)
func (x *idIndex) add(a *itemArena, r itemRef) itemRef {
	id := &a.at(r).id
	h := idHash(id)
	s := &x.shards[shardOf(h)]
	if full(s.n, len(s.slots)) {
		s.grow(a)
	}
	size := len(s.slots)
	i := homeOf(h, size)
	for {
		o := s.slots[i]
		if o == 0 {
			break
		}
		if a.at(o).id == *id {
			return o
		}
		if i++; i == size {
			i = 0
		}
	}
	s.slots[i] = r
	s.n++
	x.n++
	return 0
}

func (s *idShard) grow(a *itemArena) {
	old := s.slots
	size := grownSlots(len(old))
	s.slots = make([]itemRef, size)
	for _, r := range old {
		if r == 0 {
			continue
		}
		i := homeOf(idHash(&a.at(r).id), size)
		for s.slots[i] != 0 {
			if i++; i == size {
				i = 0
			}
		}
		s.slots[i] = r
	}
}

// del removes r (this very slot) if the index holds it, and reports
// whether it did. The entries after it in its run move back (no
// tombstones), so lookups never slow down with deletions.
func (x *idIndex) del(a *itemArena, r itemRef) bool {
	h := idHash(&a.at(r).id)
	s := &x.shards[shardOf(h)]
	if s.n == 0 {
		return false
	}
	size := len(s.slots)
	i := homeOf(h, size)
	for s.slots[i] != r {
		if s.slots[i] == 0 {
			return false
		}
		if i++; i == size {
			i = 0
		}
	}
	x.n--
	if s.n--; s.n == 0 {
		*s = idShard{} // give an emptied shard's slots back
		return true
	}
	for j := i; ; {
		if j++; j == size {
			j = 0
		}
		o := s.slots[j]
		if o == 0 {
			break
		}
		if stays(i, j, homeOf(idHash(&a.at(o).id), size)) {
			continue
		}
		s.slots[i] = o
		i = j
	}
	s.slots[i] = 0
	return true
}

// len is the number of items held.
func (x *idIndex) len() int { return x.n }
