package gateway

// The LocalQueue's memory: its items live in large pointer-free blocks
// (itemArena) and everything that points at an item holds a 32-bit
// itemRef, so a million waiting messages are a few dozen allocations the
// garbage collector never has to scan, rather than a million small objects
// and several million pointers it walks every cycle. The hash tables
// (idIndex, bindTable) are split into shards that grow one at a time by
// half, so growing never holds two copies of a whole table.

// itemRef names an item in an itemArena; 0 is none.
type itemRef uint32

// arenaChunk is how many items a block of the arena holds (4096 × 48 bytes
// = 192 KiB).
const (
	arenaChunkBits = 12
	arenaChunk     = 1 << arenaChunkBits
)

// itemArena holds items in fixed blocks that never move. A freed slot goes
// on a free list (linked through its idx field, its where set to inFree)
// and is handed out again: a holder of an itemRef that may outlive its item
// (a Claim) must check the slot still holds its item (get with its seq).
type itemArena struct {
	chunks []*[arenaChunk]item
	used   uint32  // slots handed out at least once: refs 1..used
	free   itemRef // head of the free list (0: empty)
	n      int     // live items
}

// at is r's item (r must be live or on the free list).
func (a *itemArena) at(r itemRef) *item {
	i := uint32(r) - 1
	return &a.chunks[i>>arenaChunkBits][i&(arenaChunk-1)]
}

// get is r's item if r is live and holds the item with seq, or nil.
func (a *itemArena) get(r itemRef, seq uint32) *item {
	if r == 0 || uint32(r) > a.used {
		return nil
	}
	if it := a.at(r); it.where != inFree && it.seq == seq {
		return it
	}
	return nil
}

// alloc returns a zeroed live item and its ref.
func (a *itemArena) alloc() (itemRef, *item) {
	a.n++
	if r := a.free; r != 0 {
		it := a.at(r)
		a.free = itemRef(uint32(it.idx))
		*it = item{}
		return r, it
	}
	if a.used == uint32(len(a.chunks))*arenaChunk {
		if a.used >= 1<<32-arenaChunk {
			panic("gateway: more than 4 billion waiting messages")
		}
		a.chunks = append(a.chunks, new([arenaChunk]item))
	}
	a.used++
	r := itemRef(a.used)
	return r, a.at(r)
}

// release frees r's slot. When no item is left the blocks go back to the
// runtime (a drained campaign's queue holds nothing).
func (a *itemArena) release(r itemRef) {
	a.n--
	if a.n == 0 {
		*a = itemArena{}
		return
	}
	*a.at(r) = item{where: inFree, idx: int32(uint32(a.free))}
	a.free = r
}

// each calls fn for every live item, in no particular order; fn must not
// allocate or release items.
func (a *itemArena) each(fn func(itemRef, *item)) {
	for ci, c := range a.chunks {
		base := uint32(ci) * arenaChunk
		if base >= a.used {
			break
		}
		n := min(a.used-base, arenaChunk)
		for i := range n {
			if it := &c[i]; it.where != inFree {
				fn(itemRef(base+i+1), it)
			}
		}
	}
}

// Shared by the hash tables: a 64-bit hash picks a shard with its top
// bits and a slot in the shard with the 32 below them (a multiply-shift
// range reduction, so a shard may have any number of slots). A shard holds
// at most 4/5 of its slots and grows by half.
const (
	tableShardBits = 6
	tableShards    = 1 << tableShardBits
	tableMinSlots  = 8
)

func shardOf(h uint64) int { return int(h >> (64 - tableShardBits)) }

func homeOf(h uint64, slots int) int {
	return int((uint64(uint32(h>>(32-tableShardBits))) * uint64(slots)) >> 32)
}

// full reports whether a shard of slots slots holding n must grow before
// taking one more.
func full(n, slots int) bool { return (n+1)*5 > slots*4 }

// grownSlots is the size a shard of slots slots grows to.
func grownSlots(slots int) int { return max(slots+slots/2, tableMinSlots) }

// stays reports whether the entry at j, whose home slot is h, may stay
// where it is when slot i (before it in its run, cyclically) is emptied:
// it may if h lies cyclically in (i, j].
func stays(i, j, h int) bool {
	if i <= j {
		return i < h && h <= j
	}
	return i < h || h <= j
}

// bindTable is LocalQueue's contact → binding table: open addressing,
// linear probing, backward-shift deletion (no tombstones), keys in one
// slice and values in another, 12 bytes a slot, nothing for the collector
// to scan. Key 0 marks an empty slot: contactKey is never 0.
type bindTable struct {
	shards [tableShards]bindShard
	n      int
}

type bindShard struct {
	keys []uint64
	vals []binding
	n    int
}

func bindHash(k uint64) uint64 { return (k ^ k>>29) * 0x9E3779B97F4A7C15 }

// find is k's slot in s, or -1.
func (s *bindShard) find(k uint64, h uint64) int {
	if s.n == 0 {
		return -1
	}
	size := len(s.keys)
	for i := homeOf(h, size); ; {
		switch s.keys[i] {
		case k:
			return i
		case 0:
			return -1
		}
		if i++; i == size {
			i = 0
		}
	}
}

// get returns k's binding and whether the table holds k.
func (t *bindTable) get(k uint64) (binding, bool) {
	h := bindHash(k)
	s := &t.shards[shardOf(h)]
	if i := s.find(k, h); i >= 0 {
		return s.vals[i], true
	}
	return binding{}, false
}

// put sets k's binding, adding k if the table does not hold it.
func (t *bindTable) put(k uint64, b binding) {
	h := bindHash(k)
	s := &t.shards[shardOf(h)]
	if i := s.find(k, h); i >= 0 {
		s.vals[i] = b
		return
	}
	if full(s.n, len(s.keys)) {
		s.grow()
	}
	s.insert(k, h, b)
	t.n++
}

// upsert returns k's binding for the caller to change in place, adding k
// (with a zero binding) if the table does not hold it. The pointer is good
// until the table next changes.
func (t *bindTable) upsert(k uint64) *binding {
	h := bindHash(k)
	s := &t.shards[shardOf(h)]
	if i := s.find(k, h); i >= 0 {
		return &s.vals[i]
	}
	if full(s.n, len(s.keys)) {
		s.grow()
	}
	t.n++
	return &s.vals[s.insert(k, h, binding{})]
}

// insert adds k, which s does not hold and has room for.
func (s *bindShard) insert(k, h uint64, b binding) int {
	size := len(s.keys)
	i := homeOf(h, size)
	for s.keys[i] != 0 {
		if i++; i == size {
			i = 0
		}
	}
	s.keys[i], s.vals[i] = k, b
	s.n++
	return i
}

func (s *bindShard) grow() {
	oldK, oldV := s.keys, s.vals
	size := grownSlots(len(oldK))
	s.keys, s.vals, s.n = make([]uint64, size), make([]binding, size), 0
	for i, k := range oldK {
		if k != 0 {
			s.insert(k, bindHash(k), oldV[i])
		}
	}
}

// del removes k if the table holds it. The entries after it in its run
// move back, so that every probe run stays unbroken.
func (t *bindTable) del(k uint64) {
	h := bindHash(k)
	s := &t.shards[shardOf(h)]
	i := s.find(k, h)
	if i < 0 {
		return
	}
	t.n--
	if s.n--; s.n == 0 {
		*s = bindShard{} // give an emptied shard's slots back
		return
	}
	size := len(s.keys)
	for j := i; ; {
		if j++; j == size {
			j = 0
		}
		o := s.keys[j]
		if o == 0 {
			break
		}
		if stays(i, j, homeOf(bindHash(o), size)) {
			continue
		}
		s.keys[i], s.vals[i] = o, s.vals[j]
		i = j
	}
	s.keys[i], s.vals[i] = 0, binding{}
}

// len is the number of contacts held.
func (t *bindTable) len() int { return t.n }

// each calls fn with every binding held, which fn may change in place; fn
// must not add or remove keys.
func (t *bindTable) each(fn func(k uint64, b *binding)) {
	for si := range t.shards {
		s := &t.shards[si]
		for i, k := range s.keys {
			if k != 0 {
				fn(k, &s.vals[i])
			}
		}
	}
}
