package gateway

import (
	"encoding/binary"

	"github.com/oklog/ulid/v2"
)

// idIndex finds a LocalQueue's items by message id. It is an open-addressing
// hash table (linear probing, backward-shift deletion, in shards that grow
// by half at 4/5 full: 10 to 15 bytes an item, where a map[ulid.ULID]*item
// takes about 50). A slot holds an itemRef and the 32 bits of the id's
// hash that place it in its shard: a probe looks at an item (in the
// queue's itemArena, so every method takes it) only when those match, and
// growing or deleting never does, which at start-up, with a million ids
// to index, is most of the cost.
type idIndex struct {
	shards [tableShards]idShard
	n      int
}

type idShard struct {
	slots []idSlot
	n     int
}

// idSlot is a slot of the index: tag<<32 | ref (0: empty).
type idSlot uint64

func (s idSlot) ref() itemRef { return itemRef(uint32(s)) }
func (s idSlot) tag() uint32  { return uint32(s >> 32) }

// idTag is the part of an id's hash that a slot keeps (homeOf's bits).
func idTag(h uint64) uint32 { return uint32(h >> (32 - tableShardBits)) }

func tagHome(tag uint32, slots int) int { return int((uint64(tag) * uint64(slots)) >> 32) }

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
	size, tag := len(s.slots), idTag(h)
	for i := tagHome(tag, size); ; {
		o := s.slots[i]
		if o == 0 {
			return 0
		}
		if o.tag() == tag && a.at(o.ref()).id == id {
			return o.ref()
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
		s.grow()
	}
	size, tag := len(s.slots), idTag(h)
	i := tagHome(tag, size)
	for {
		o := s.slots[i]
		if o == 0 {
			break
		}
		if o.tag() == tag && a.at(o.ref()).id == *id {
			return o.ref()
		}
		if i++; i == size {
			i = 0
		}
	}
	s.slots[i] = idSlot(tag)<<32 | idSlot(r)
	s.n++
	x.n++
	return 0
}

func (s *idShard) grow() {
	old := s.slots
	size := grownSlots(len(old))
	s.slots = make([]idSlot, size)
	for _, o := range old {
		if o == 0 {
			continue
		}
		i := tagHome(o.tag(), size)
		for s.slots[i] != 0 {
			if i++; i == size {
				i = 0
			}
		}
		s.slots[i] = o
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
	i := tagHome(idTag(h), size)
	for s.slots[i].ref() != r {
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
		if stays(i, j, tagHome(o.tag(), size)) {
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
