package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// ModemDirectory is what a LocalQueue asks of the modems it serves (the
// Dispatcher's fleet implements it). Its methods are called with the
// queue's lock held and must not call back into the queue.
type ModemDirectory interface {
	// Gone reports whether modem name has been unusable or absent for
	// longer than Config.StickyTimeout (its contacts may move).
	Gone(name string, now time.Time) bool
	// InGroup reports whether modem name is in group.
	InGroup(name, group string) bool
	// IsModem reports whether name is a modem (not a group).
	IsModem(name string) bool
	// OtherUsable reports whether a modem other than name could send now.
	OtherUsable(name string) bool
}

// QueueStore is what a LocalQueue needs of the store.
type QueueStore interface {
	UpdateMessage(ctx context.Context, id string, fn func(*Message) error) (*Message, error)
	// QueueEntries calls fn with the QueueEntry of every outbound message
	// that has a part to send or in flight (EntryOf), oldest first, its
	// Sticky filled in; fn may call the store. Recover reads the queue
	// through it, never the messages themselves.
	QueueEntries(ctx context.Context, fn func(QueueEntry) error) error
	Sticky(ctx context.Context, contact string) (Sticky, error)
	SetSticky(ctx context.Context, contact string, s Sticky) error
}

// LocalQueueConfig configures a LocalQueue.
type LocalQueueConfig struct {
	// StickyTimeout is only used to word the reason of a recorded move.
	StickyTimeout time.Duration
	// StoreRetry is how long a message waits when the store failed to
	// assign it (default 30 s).
	StoreRetry time.Duration
	Logger     *slog.Logger
	// Now is the clock (tests); nil = time.Now.
	Now func() time.Time
}

// LocalQueue is the Queue of a single host: the store (bbolt) holds the
// messages; the queue keeps in memory only what ordering needs — for each
// waiting message its id, contact, priority, order, times, texting window
// and binding: about 80 bytes a message (79 measured with 100,000 queued,
// BenchmarkQueueMemory: a 48-byte item in a pointer-free block, its 8-byte
// slot in the id index, its 4-byte ref in a heap, its contact's 12-byte
// binding slot, each table at most 4/5 full; queuemem.go) — and reads the
// message itself (PDUs included) when a worker claims it. A mutex
// serialises claims; a channel per modem wakes idle workers.
//
// Whether a bound SIM is gone is the fleet's live view (ModemDirectory);
// Rebind moves the gone SIM's waiting messages to the shared queues at once.
//
// Lock order: LocalQueue.mu, then whatever ModemDirectory locks.
type LocalQueue struct {
	st  QueueStore
	dir ModemDirectory
	cfg LocalQueueConfig
	log *slog.Logger

	mu         sync.Mutex
	names      nameTable
	windows    windowTable
	items      itemArena            // every item (queuemem.go)
	byID       idIndex              // every item, by id
	odd        map[ulid.ULID]string // ids that are not ULIDs (tests, imports), by their stand-in
	overflow   map[itemRef]uint32   // window ids of items whose window field says windowOverflow
	ready      map[qkey]*readyQueue
	delayed    delayQueue
	bound      bindTable // contact → SIM, for the contacts of the messages here
	wakes      map[string]chan struct{}
	seq        uint32
	epoch      uint64
	expireNext int64 // unix nanos: no item expires before this (0: none expires)
}

var _ Queue = (*LocalQueue)(nil)

// NewLocalQueue returns an empty LocalQueue over st; Recover fills it.
func NewLocalQueue(st QueueStore, dir ModemDirectory, cfg LocalQueueConfig) *LocalQueue {
	q := &LocalQueue{
		st: st, dir: dir, cfg: cfg, log: cfg.Logger,
		ready: map[qkey]*readyQueue{},
		wakes: map[string]chan struct{}{},
	}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	if q.cfg.Now == nil {
		q.cfg.Now = time.Now
	}
	if q.cfg.StoreRetry <= 0 {
		q.cfg.StoreRetry = 30 * time.Second
	}
	return q
}

// Where an item is.
const (
	inNone uint8 = iota
	inReady
	inDelayed
	inFlight
	inFree // a free slot of the itemArena
)

// Item flags.
const (
	flagExplicit uint8 = 1 << iota // From names the pinned modem
	flagPartial                    // some parts went out through the pinned SIM
)

// item is a message waiting to be sent, as lean as possible (48 bytes, in
// the queue's itemArena): 1,000,000 of them must fit in well under 150 MB
// with everything else. Bodies and PDUs stay in the store. Names are
// indexes into the queue's nameTable. When it waits for a time (send_at, a
// retry's backoff, a closed window) the time is in its delayQueue entry.
// A free slot of the arena has where == inFree and idx linking the free
// list; seq, unique to each enqueue, tells a reused slot's item from the
// one a Claim took.
type item struct {
	id      ulid.ULID
	contact uint64 // contactKey of Message.Contact
	expires uint32 // expirySecs of Message.ExpiresAt; 0 = never
	idx     int32  // position in its heap
	seq     uint32 // FIFO among equal priorities
	window  uint16 // windowTable index; 0 = none, windowOverflow: see q.overflow
	from    uint16 // SendRequest.From (0 = any)
	pinned  uint16 // modem the message must go through (0 = shared)
	avoid   uint16 // modem that just failed it with a temporary error
	prio    int8
	parts   uint8 // parts still to send
	where   uint8
	flags   uint8
}

// expiryEpoch is the second item.expires counts from (2020-01-01 UTC).
const expiryEpoch = 1577836800

// expirySecs is t as item.expires holds it: whole seconds since
// expiryEpoch, rounded down, so that a message counts as expired up to a
// second early, never late (1 before the epoch, the largest value after
// 2156).
func expirySecs(t time.Time) uint32 {
	s := t.Unix() - expiryEpoch
	switch {
	case s < 1:
		return 1
	case s > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(s)
}

// expiresAt is when it expires, in unix nanos (0: never).
func (it *item) expiresAt() int64 {
	if it.expires == 0 {
		return 0
	}
	return (int64(it.expires) + expiryEpoch) * int64(time.Second)
}

// binding is a contact's SIM as this queue knows it, and how many of the
// queue's messages (waiting or claimed) are for that contact.
type binding struct {
	modem uint16 // 0: none known
	refs  uint16
}

// contactKey packs an E.164 number into 64 bits (its digits, with the count
// of digits on top so that leading zeros count); anything else is hashed.
func contactKey(s string) uint64 {
	if len(s) >= 2 && len(s) <= 17 && s[0] == '+' {
		var v uint64
		ok := true
		for _, c := range s[1:] {
			if c < '0' || c > '9' {
				ok = false
				break
			}
			v = v*10 + uint64(c-'0')
		}
		if ok {
			return uint64(len(s)-1)<<56 | v
		}
	}
	h := uint64(14695981039346656037) // FNV-1a
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h | 1<<63
}

// nameTable interns modem and group names as small numbers (0 = "").
type nameTable struct {
	ids   map[string]uint16
	names []string
}

func (t *nameTable) id(s string) uint16 {
	if s == "" {
		return 0
	}
	if id, ok := t.ids[s]; ok {
		return id
	}
	if t.ids == nil {
		t.ids = map[string]uint16{}
		t.names = []string{""}
	}
	if len(t.names) >= 1<<16-1 {
		panic("gateway: more than 65534 modem and group names")
	}
	id := uint16(len(t.names))
	t.ids[s] = id
	t.names = append(t.names, s)
	return id
}

func (t *nameTable) name(id uint16) string {
	if id == 0 {
		return ""
	}
	return t.names[id]
}

// windowTable interns texting windows (a campaign's messages share one).
type windowTable struct {
	ids  map[TextingWindow]uint32
	list []window
}

// windowOverflow in item.window: the item's window id is too large for the
// field and is in LocalQueue.overflow (only after 65,534 distinct windows).
const windowOverflow = math.MaxUint16

func (t *windowTable) id(w *TextingWindow) uint32 {
	if w == nil || w.IsZero() {
		return 0
	}
	if id, ok := t.ids[*w]; ok {
		return id
	}
	c, err := w.compile()
	if err != nil {
		return 0 // Submit refuses invalid windows; an old record is sent any time
	}
	if t.ids == nil {
		t.ids = map[TextingWindow]uint32{}
		t.list = []window{{}}
	}
	id := uint32(len(t.list))
	t.ids[*w] = id
	t.list = append(t.list, c)
	return id
}

func (t *windowTable) get(id uint32) window {
	if id == 0 {
		return window{}
	}
	return t.list[id]
}

// qkey names a ready queue: a modem's own, a group's, or the shared one.
type qkey struct {
	kind uint8
	name uint16
}

const (
	qShared uint8 = iota
	qModem
	qGroup
)

// keyLocked is the ready queue it belongs in.
func (q *LocalQueue) keyLocked(it *item) qkey {
	switch {
	case it.pinned != 0:
		return qkey{qModem, it.pinned}
	case it.from == 0:
		return qkey{qShared, 0}
	case it.flags&flagExplicit != 0 || q.dir.IsModem(q.names.name(it.from)):
		return qkey{qModem, it.from}
	}
	return qkey{qGroup, it.from}
}

// readyQueue holds items that may go now, highest priority first, then
// oldest (readyLess).
type readyQueue []itemRef

func (h readyQueue) Len() int { return len(h) }

// readyLess orders a ready queue: highest priority first, then oldest.
func readyLess(x, y *item) bool {
	if x.prio != y.prio {
		return x.prio > y.prio
	}
	return x.seq < y.seq
}

func (h readyQueue) less(a *itemArena, i, j int) bool { return readyLess(a.at(h[i]), a.at(h[j])) }

func (h readyQueue) swap(a *itemArena, i, j int) {
	h[i], h[j] = h[j], h[i]
	a.at(h[i]).idx, a.at(h[j]).idx = int32(i), int32(j)
}

func (h readyQueue) up(a *itemArena, j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(a, j, i) {
			break
		}
		h.swap(a, i, j)
		j = i
	}
}

func (h readyQueue) down(a *itemArena, i0 int) bool {
	i, n := i0, len(h)
	for {
		j := 2*i + 1
		if j >= n || j < 0 {
			break
		}
		if j2 := j + 1; j2 < n && h.less(a, j2, j) {
			j = j2
		}
		if !h.less(a, j, i) {
			break
		}
		h.swap(a, i, j)
		i = j
	}
	return i > i0
}

func (h *readyQueue) push(a *itemArena, r itemRef) {
	a.at(r).idx = int32(len(*h))
	*h = append(*h, r)
	h.up(a, len(*h)-1)
}

// remove takes out the entry at i and returns it.
func (h *readyQueue) remove(a *itemArena, i int) itemRef {
	old := *h
	n := len(old) - 1
	if n != i {
		old.swap(a, i, n)
		if !old[:n].down(a, i) {
			old[:n].up(a, i)
		}
	}
	r := old[n]
	*h = old[:n]
	return r
}

func (h *readyQueue) pop(a *itemArena) itemRef { return h.remove(a, 0) }

// delayQueue holds items not yet due, soonest first, each with its time.
type delayQueue []delayed

// delayed is an item not due before at() (unix nanos, kept in two halves
// so that an entry is 12 bytes, not 16).
type delayed struct {
	hi int32
	lo uint32
	it itemRef
}

func newDelayed(at int64, r itemRef) delayed {
	return delayed{hi: int32(at >> 32), lo: uint32(at), it: r}
}

func (d delayed) at() int64 { return int64(d.hi)<<32 | int64(d.lo) }

func (h delayQueue) Len() int { return len(h) }

func (h delayQueue) swap(a *itemArena, i, j int) {
	h[i], h[j] = h[j], h[i]
	a.at(h[i].it).idx, a.at(h[j].it).idx = int32(i), int32(j)
}

func (h delayQueue) up(a *itemArena, j int) {
	for j > 0 {
		i := (j - 1) / 2
		if h[i].at() <= h[j].at() {
			break
		}
		h.swap(a, i, j)
		j = i
	}
}

func (h delayQueue) down(a *itemArena, i0 int) bool {
	i, n := i0, len(h)
	for {
		j := 2*i + 1
		if j >= n || j < 0 {
			break
		}
		if j2 := j + 1; j2 < n && h[j2].at() < h[j].at() {
			j = j2
		}
		if h[j].at() >= h[i].at() {
			break
		}
		h.swap(a, i, j)
		i = j
	}
	return i > i0
}

func (h *delayQueue) push(a *itemArena, r itemRef, at int64) {
	a.at(r).idx = int32(len(*h))
	*h = append(*h, newDelayed(at, r))
	h.up(a, len(*h)-1)
}

// remove takes out the entry at i and returns it.
func (h *delayQueue) remove(a *itemArena, i int) delayed {
	old := *h
	n := len(old) - 1
	if n != i {
		old.swap(a, i, n)
		if !old[:n].down(a, i) {
			old[:n].up(a, i)
		}
	}
	d := old[n]
	*h = old[:n]
	return d
}

func (h *delayQueue) pop(a *itemArena) delayed { return h.remove(a, 0) }

// Wake returns modem's wake-up channel.
func (q *LocalQueue) Wake(modem string) <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.wakeChanLocked(modem)
}

func (q *LocalQueue) wakeChanLocked(modem string) chan struct{} {
	c := q.wakes[modem]
	if c == nil {
		c = make(chan struct{}, 1)
		q.wakes[modem] = c
	}
	return c
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// wakeForLocked wakes the workers that may claim from queue k.
func (q *LocalQueue) wakeForLocked(k qkey) {
	switch k.kind {
	case qModem:
		poke(q.wakeChanLocked(q.names.name(k.name)))
	case qShared:
		for _, c := range q.wakes {
			poke(c)
		}
	case qGroup:
		g := q.names.name(k.name)
		for n, c := range q.wakes {
			if q.dir.InGroup(n, g) {
				poke(c)
			}
		}
	}
}

// pushLocked puts r where it belongs: the delay queue if not due before
// at (unix nanos; 0: now), else its ready queue, and wakes who may claim it.
func (q *LocalQueue) pushLocked(r itemRef, at int64, now time.Time) {
	if k, ready := q.putLocked(r, at, now); ready {
		q.wakeForLocked(k)
	}
}

// putLocked is pushLocked without the wake-up: it reports whether r went
// to a ready queue, and which.
func (q *LocalQueue) putLocked(r itemRef, at int64, now time.Time) (qkey, bool) {
	it := q.items.at(r)
	if at > now.UnixNano() {
		it.where = inDelayed
		q.delayed.push(&q.items, r, at)
		return qkey{}, false
	}
	k := q.keyLocked(it)
	rq := q.ready[k]
	if rq == nil {
		rq = &readyQueue{}
		q.ready[k] = rq
	}
	it.where = inReady
	rq.push(&q.items, r)
	return k, true
}

// removeLocked takes r out of whatever heap holds it, and returns the
// time it was waiting for (0: none), for pushLocked to put it back.
func (q *LocalQueue) removeLocked(r itemRef) (at int64) {
	it := q.items.at(r)
	switch it.where {
	case inReady:
		if rq := q.ready[q.keyLocked(it)]; rq != nil && int(it.idx) < rq.Len() && (*rq)[it.idx] == r {
			rq.remove(&q.items, int(it.idx))
		}
	case inDelayed:
		if int(it.idx) < q.delayed.Len() && q.delayed[it.idx].it == r {
			at = q.delayed.remove(&q.items, int(it.idx)).at()
		}
	}
	it.where = inNone
	return at
}

// forgetLocked drops r, a live item, from the queue and frees its slot.
func (q *LocalQueue) forgetLocked(r itemRef) {
	q.removeLocked(r)
	it := q.items.at(r)
	if !q.byID.del(&q.items, r) {
		return
	}
	delete(q.odd, it.id)
	if it.window == windowOverflow {
		delete(q.overflow, r)
	}
	if b, ok := q.bound.get(it.contact); ok {
		if b.refs <= 1 {
			q.bound.del(it.contact)
		} else {
			b.refs--
			q.bound.put(it.contact, b)
		}
	}
	q.items.release(r)
}

// Enqueue indexes a stored message's pending parts, pinning it to its
// contact's SIM, the modem its From names or the modem that sent its first
// parts.
func (q *LocalQueue) Enqueue(ctx context.Context, msg *Message) error {
	e, ok := EntryOf(msg)
	if !ok {
		return nil
	}
	return q.enqueue(ctx, e, q.cfg.Now(), false)
}

// enqueue indexes e if it has parts to send. With haveSticky, e.Sticky is
// the contact's binding as the store knew it; otherwise it is read when
// the queue knows none.
func (q *LocalQueue) enqueue(ctx context.Context, e QueueEntry, now time.Time, haveSticky bool) error {
	if e.Pending == 0 {
		return nil
	}
	ck := contactKey(e.Contact)
	sticky := e.Sticky
	if !haveSticky {
		q.mu.Lock()
		_, known := q.bound.get(ck)
		q.mu.Unlock()
		sticky = ""
		if !known {
			s, err := q.st.Sticky(ctx, e.Contact)
			switch {
			case err == nil:
				sticky = s.Modem
			case errors.Is(err, ErrNotFound):
			default:
				// Queue it anyway (never strand an accepted message); the
				// binding is read again when it is sent.
				q.log.Error("read sticky binding", "id", e.ID, "err", err)
			}
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if k, ready := q.enqueueLocked(&e, ck, sticky, now); ready {
		q.wakeForLocked(k)
	}
	return nil
}

// enqueueLocked indexes e (with parts to send, contactKey ck, the contact's
// SIM as the store knew it sticky) unless the queue holds it already. It
// reports whether e went to a ready queue, and which, for the caller to
// wake its workers.
func (q *LocalQueue) enqueueLocked(e *QueueEntry, ck uint64, sticky string, now time.Time) (qkey, bool) {
	r, it := q.items.alloc()
	it.id = q.keyOfLocked(e.ID, true)
	if q.byID.add(&q.items, r) != 0 {
		q.items.release(r)
		return qkey{}, false
	}
	b := q.bound.upsert(ck)
	if b.modem == 0 && sticky != "" {
		b.modem = q.names.id(sticky)
	}
	b.refs++
	q.seq++
	it.contact = ck
	it.from = q.names.id(e.From)
	it.prio = int8(e.Priority)
	it.parts = uint8(min(e.Pending, 255))
	it.seq = q.seq
	if w := q.windows.id(&e.TextingWindow); w < windowOverflow {
		it.window = uint16(w)
	} else {
		it.window = windowOverflow
		if q.overflow == nil {
			q.overflow = map[itemRef]uint32{}
		}
		q.overflow[r] = w
	}
	ready := e.SendAt
	if e.NextAttemptAt.After(ready) {
		ready = e.NextAttemptAt
	}
	var at int64
	if !ready.IsZero() {
		at = ready.UnixNano()
	}
	if !e.ExpiresAt.IsZero() {
		it.expires = expirySecs(e.ExpiresAt)
		if x := it.expiresAt(); q.expireNext == 0 || x < q.expireNext {
			q.expireNext = x
		}
	}
	switch {
	case e.From != "" && q.dir.IsModem(e.From):
		it.pinned, it.flags = it.from, it.flags|flagExplicit
	case e.Submitted && e.Modem != "":
		// Later parts go out through the same SIM.
		it.pinned, it.flags = q.names.id(e.Modem), it.flags|flagPartial
	case b.modem != 0 && !q.dir.Gone(q.names.name(b.modem), now):
		if e.From == "" || q.dir.InGroup(q.names.name(b.modem), e.From) {
			it.pinned = b.modem
		}
	}
	return q.putLocked(r, at, now)
}

// keyOfLocked is the 16-byte key of message id: the ULID itself, or a
// stand-in (recorded when add is set) for an id that is not one.
func (q *LocalQueue) keyOfLocked(id string, add bool) ulid.ULID {
	if u, err := ulid.ParseStrict(id); err == nil {
		return u
	}
	sum := sha256.Sum256([]byte(id))
	var u ulid.ULID
	copy(u[:], sum[:])
	u[0] = 0xff // never a ULID of this millennium
	if add {
		if q.odd == nil {
			q.odd = map[ulid.ULID]string{}
		}
		q.odd[u] = id
	}
	return u
}

// idLocked is the message id of it.
func (q *LocalQueue) idLocked(it *item) string {
	if s, ok := q.odd[it.id]; ok {
		return s
	}
	return it.id.String()
}

// windowLocked is r's texting window.
func (q *LocalQueue) windowLocked(r itemRef, it *item) window {
	if it.window == windowOverflow {
		return q.windows.get(q.overflow[r])
	}
	return q.windows.get(uint32(it.window))
}

// promoteLocked moves the delayed items that are due to their ready queues.
func (q *LocalQueue) promoteLocked(now time.Time) {
	n := now.UnixNano()
	for q.delayed.Len() > 0 && q.delayed[0].at() <= n {
		r := q.delayed.pop(&q.items).it
		q.items.at(r).where = inNone
		q.pushLocked(r, 0, now)
	}
}

// NextDue is when the soonest delayed message becomes ready (zero: none
// waits). The Dispatcher's scheduler sleeps until then.
func (q *LocalQueue) NextDue() time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.delayed.Len() == 0 {
		return time.Time{}
	}
	return time.Unix(0, q.delayed[0].at())
}

// Promote moves the delayed messages due at now to the ready queues (and
// wakes their workers).
func (q *LocalQueue) Promote(now time.Time) {
	q.mu.Lock()
	q.promoteLocked(now)
	q.mu.Unlock()
}

// Claim takes the best message r.Modem may send and assigns it in the store.
func (q *LocalQueue) Claim(ctx context.Context, r ClaimRequest) (*Claim, error) {
	for {
		q.mu.Lock()
		q.promoteLocked(r.Now)
		c := q.takeLocked(r)
		q.mu.Unlock()
		if c == nil {
			return nil, nil
		}
		msg, err := q.assign(ctx, c, r.Now)
		switch {
		case errors.Is(err, errGone) || errors.Is(err, ErrNotFound):
			q.undo(c)
			q.end(c)
			continue
		case err != nil:
			q.undo(c)
			q.requeue(c, r.Now, r.Now.Add(q.cfg.StoreRetry))
			return nil, fmt.Errorf("claim %s: %w", c.state.id, err)
		}
		c.Message = msg
		return c, nil
	}
}

// Claim's local state.
type claimState struct {
	// it is the claimed item, while its slot holds the item with seq: once
	// the item is forgotten its slot may be handed to another message
	// (claimedLocked checks).
	it    itemRef
	seq   uint32
	id    string // the message id
	bound bool   // the claim bound the contact to the modem
	prev  uint16 // the contact's binding before (0: none)
}

// claimedLocked is c's item if the queue still holds it, or nil.
func (q *LocalQueue) claimedLocked(c *Claim) *item {
	return q.items.get(c.state.it, c.state.seq)
}

// takeLocked picks the best item r.Modem may send now, or nil. It looks at
// the modem's own queue, the shared queue and its groups' queues and takes
// the best head (priority, then age) the modem may send. Shared items whose
// contact is bound to another SIM that is not gone move to that SIM's
// queue; items whose texting window is closed wait in the delay queue until
// it opens; expired ones are left to Expire.
func (q *LocalQueue) takeLocked(r ClaimRequest) *Claim {
	now := r.Now
	mid := q.names.id(r.Modem)
	keys := make([]qkey, 0, 2+len(r.Groups))
	keys = append(keys, qkey{qModem, mid}, qkey{qShared, 0})
	for _, g := range r.Groups {
		keys = append(keys, qkey{qGroup, q.names.id(g)})
	}
	skip := make([]bool, len(keys))
	nowN := now.UnixNano()
	for {
		var best *readyQueue
		bi := -1
		for i, k := range keys {
			if skip[i] {
				continue
			}
			rq := q.ready[k]
			if rq == nil || rq.Len() == 0 {
				continue
			}
			if best == nil || readyLess(q.items.at((*rq)[0]), q.items.at((*best)[0])) {
				best, bi = rq, i
			}
		}
		if best == nil {
			return nil
		}
		hr := (*best)[0]
		h := q.items.at(hr)
		own := bi == 0
		if h.expires != 0 && h.expiresAt() <= nowN {
			// Expire takes it out (and records it) within a second;
			// until then it waits out of the way of those behind it.
			best.pop(&q.items)
			h.where = inNone
			q.pushLocked(hr, math.MaxInt64, now)
			continue
		}
		if w := q.windowLocked(hr, h); !w.open(now) {
			best.pop(&q.items)
			h.where = inNone
			q.pushLocked(hr, w.nextOpen(now).UnixNano(), now)
			continue
		}
		if int(h.parts) > r.PartsLeft {
			skip[bi] = true
			continue
		}
		bb, _ := q.bound.get(h.contact)
		b := bb.modem
		bound := b != 0
		bname := q.names.name(b)
		// The contact's SIM may send it unless From rules that SIM out.
		eligible := bound && (h.from == 0 || h.from == b || q.dir.InGroup(bname, q.names.name(h.from)))
		gone := bound && b != mid && q.dir.Gone(bname, now)
		if bound && b != mid && !own && eligible && !gone {
			// The contact has a SIM: send from it.
			best.pop(&q.items)
			h.where, h.pinned = inNone, b
			q.pushLocked(hr, 0, now)
			continue
		}
		newContact := !bound || (b != mid && eligible && gone)
		if newContact && (!r.NewContacts || (r.Draining && !own)) {
			skip[bi] = true
			continue
		}
		if !own && h.avoid == mid && q.dir.OtherUsable(r.Modem) {
			skip[bi] = true
			continue
		}
		best.pop(&q.items)
		h.where, h.pinned = inFlight, mid
		q.epoch++
		c := &Claim{Modem: r.Modem, SIM: r.SIM, Lease: Lease{Epoch: q.epoch}}
		c.state = claimState{it: hr, seq: h.seq, id: q.idLocked(h), prev: b}
		if newContact {
			if bound {
				c.MovedFrom = bname
			}
			bb.modem = mid
			q.bound.put(h.contact, bb)
			c.state.bound = true
		}
		// From may rule out the contact's own SIM: then the message is new
		// to this one, without moving the binding.
		c.NewContact = newContact || (bound && b != mid)
		return c
	}
}

// assign commits the claim: the message's pending parts become assigned.
func (q *LocalQueue) assign(ctx context.Context, c *Claim, now time.Time) (*Message, error) {
	return q.st.UpdateMessage(context.WithoutCancel(ctx), c.state.id, func(x *Message) error {
		if x.Status.Terminal() {
			return errGone
		}
		n := 0
		for i := range x.Parts {
			if p := &x.Parts[i]; p.State == PartQueued || p.State == PartAssigned {
				p.State, p.Modem, p.UpdatedAt = PartAssigned, c.Modem, now
				n++
			}
		}
		if n == 0 {
			return errGone
		}
		x.Modem, x.Status, x.UpdatedAt = c.Modem, RollUp(x.Parts), now
		return nil
	})
}

// undo forgets the binding c made if nothing of its message went out.
func (q *LocalQueue) undo(c *Claim) {
	if !c.state.bound {
		return
	}
	c.state.bound = false
	q.mu.Lock()
	defer q.mu.Unlock()
	it := q.claimedLocked(c)
	if it == nil {
		return
	}
	mid := q.names.id(c.Modem)
	if b, ok := q.bound.get(it.contact); ok && b.modem == mid {
		b.modem = c.state.prev
		q.bound.put(it.contact, b)
	}
	if it.flags&(flagExplicit|flagPartial) == 0 && it.pinned == mid {
		it.pinned = 0 // any SIM may take it again
	}
}

// requeue puts c's message back (if still ours), not before at.
func (q *LocalQueue) requeue(c *Claim, now, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	it := q.claimedLocked(c)
	if it == nil {
		return
	}
	q.removeLocked(c.state.it)
	var atN int64
	if at.After(now) {
		atN = at.UnixNano()
	}
	q.pushLocked(c.state.it, atN, now)
}

// held reports whether c still holds its message.
func (q *LocalQueue) held(c *Claim) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	it := q.claimedLocked(c)
	return it != nil && it.where == inFlight
}

// end forgets c's message (if still ours): the claim is over and nothing
// is left to send.
func (q *LocalQueue) end(c *Claim) {
	q.mu.Lock()
	if q.claimedLocked(c) != nil {
		q.forgetLocked(c.state.it)
	}
	q.mu.Unlock()
}

// Submitting marks part seq submitting.
func (q *LocalQueue) Submitting(ctx context.Context, c *Claim, seq int) error {
	if !q.held(c) {
		return ErrClaimLost
	}
	now := q.cfg.Now()
	i := seq - 1
	msg, err := q.st.UpdateMessage(context.WithoutCancel(ctx), c.state.id, func(x *Message) error {
		if x.Status.Terminal() || i < 0 || i >= len(x.Parts) || x.Parts[i].State != PartAssigned {
			return errGone
		}
		p := &x.Parts[i]
		p.State, p.Modem, p.UpdatedAt = PartSubmitting, c.Modem, now
		p.Attempts++
		x.Status, x.UpdatedAt = RollUp(x.Parts), now
		return nil
	})
	if errors.Is(err, errGone) || errors.Is(err, ErrNotFound) {
		q.undo(c)
		q.end(c)
		return ErrClaimLost
	}
	if err != nil {
		q.undo(c)
		q.requeue(c, now, now.Add(q.cfg.StoreRetry))
		return fmt.Errorf("mark submitting: %w", err)
	}
	c.Message = msg
	return nil
}

// Submitted records +CMGS success for part seq.
func (q *LocalQueue) Submitted(ctx context.Context, c *Claim, seq, mr int, at time.Time) (*Message, error) {
	i := seq - 1
	msg, err := q.st.UpdateMessage(context.WithoutCancel(ctx), c.state.id, func(x *Message) error {
		if i < 0 || i >= len(x.Parts) {
			return ErrNotFound
		}
		p := &x.Parts[i]
		p.State, p.MR, p.SubmittedAt, p.UpdatedAt = PartSubmitted, mr, at, at
		p.ErrorCode, p.ErrorClass, p.Error = 0, "", ""
		x.NextAttemptAt = time.Time{}
		x.Status, x.UpdatedAt = RollUp(x.Parts), at
		return nil
	})
	if err != nil {
		// The part went out but could not be recorded: it stays
		// "submitting" in the store (unknown after a restart), never resent.
		q.end(c)
		return nil, fmt.Errorf("record submitted: %w", err)
	}
	if c.state.bound {
		c.state.bound = false
		q.persistSticky(ctx, c, msg.Contact, at)
	}
	c.Message = msg
	if countPending(msg) == 0 {
		q.end(c)
	} else {
		q.mu.Lock()
		if it := q.claimedLocked(c); it != nil {
			it.flags |= flagPartial // the rest must follow through this SIM
		}
		q.mu.Unlock()
	}
	return msg, nil
}

// persistSticky durably binds the contact to c's modem, recording a move.
func (q *LocalQueue) persistSticky(ctx context.Context, c *Claim, contact string, now time.Time) {
	ctx = context.WithoutCancel(ctx)
	s := Sticky{Modem: c.Modem, SIM: c.SIM, Since: now}
	old, err := q.st.Sticky(ctx, contact)
	switch {
	case err == nil && old.Modem == c.Modem && old.SIM == c.SIM:
		return
	case err == nil && old.Modem == c.Modem:
		s.Since, s.Moves = old.Since, old.Moves // the same SIM, now known
	case err == nil:
		reason := "rebound"
		if c.MovedFrom != "" {
			reason = fmt.Sprintf("modem %s unavailable for more than %s", c.MovedFrom, q.cfg.StickyTimeout)
		}
		s.Moves = append(old.Moves, StickyMove{From: old.Modem, To: c.Modem, At: now, Reason: reason})
		q.log.Info("contact moved", "from", old.Modem, "to", c.Modem, "reason", reason)
	case !errors.Is(err, ErrNotFound):
		q.log.Error("read sticky", "err", err)
		return
	}
	if err := q.st.SetSticky(ctx, contact, s); err != nil {
		q.log.Error("save sticky", "modem", c.Modem, "err", err)
	}
}

// Retry puts the message back, not before at.
func (q *LocalQueue) Retry(ctx context.Context, c *Claim, seq int, f Failure, at time.Time, avoid bool) (*Message, error) {
	i := seq - 1
	now := q.cfg.Now()
	msg, err := q.st.UpdateMessage(context.WithoutCancel(ctx), c.state.id, func(x *Message) error {
		if i < 0 || i >= len(x.Parts) {
			return ErrNotFound
		}
		p := &x.Parts[i]
		p.State, p.ErrorCode, p.ErrorClass, p.Error = PartQueued, f.Code, f.Class, f.Error
		for j := range x.Parts {
			if x.Parts[j].State == PartAssigned {
				x.Parts[j].State = PartQueued
			}
		}
		x.NextAttemptAt = at
		x.Status, x.UpdatedAt = RollUp(x.Parts), now
		return nil
	})
	if err != nil {
		q.end(c) // left submitting in the store: unknown after a restart
		return nil, fmt.Errorf("record retry: %w", err)
	}
	partial := anySubmitted(msg)
	if !partial {
		q.undo(c)
	}
	q.mu.Lock()
	mid := q.names.id(c.Modem)
	it := q.claimedLocked(c)
	if it == nil {
		q.mu.Unlock()
		return msg, nil // no longer ours
	}
	it.parts = uint8(min(countPending(msg), 255))
	if partial {
		it.flags |= flagPartial
	}
	b, _ := q.bound.get(it.contact)
	switch {
	case partial || it.flags&flagExplicit != 0:
		it.pinned = mid
	case b.modem == mid:
		it.pinned = mid // sticky: the contact stays on its SIM
	default:
		it.pinned = 0
		if avoid {
			it.avoid = mid // prefer another SIM
			if q.dir.OtherUsable(c.Modem) {
				// The backoff is for this SIM (take skips it here while
				// another is usable): another SIM may send it at once.
				at = now
			}
		}
	}
	q.mu.Unlock()
	q.requeue(c, now, at)
	return msg, nil
}

// Fail records part seq (0: every assigned part) failed for good.
func (q *LocalQueue) Fail(ctx context.Context, c *Claim, seq int, f Failure) (*Message, error) {
	now := q.cfg.Now()
	i := seq - 1
	msg, err := q.st.UpdateMessage(context.WithoutCancel(ctx), c.state.id, func(x *Message) error {
		if i >= len(x.Parts) {
			return ErrNotFound
		}
		for j := range x.Parts {
			p := &x.Parts[j]
			if j == i || (i < 0 && (p.State == PartAssigned || p.State == PartQueued)) {
				p.State, p.ErrorCode, p.ErrorClass, p.Error, p.UpdatedAt = PartFailed, f.Code, f.Class, f.Error, now
			}
		}
		cancelPending(x, now, "not sent: an earlier part failed")
		x.ErrorCode, x.Error = f.Code, f.Error
		x.Status, x.UpdatedAt = RollUp(x.Parts), now
		return nil
	})
	if err != nil || !anySubmitted(msg) {
		q.undo(c)
	}
	q.end(c)
	if err != nil {
		return nil, fmt.Errorf("record failure: %w", err)
	}
	return msg, nil
}

// Unknown records part seq's fate unknown; the binding stays.
func (q *LocalQueue) Unknown(ctx context.Context, c *Claim, seq int, f Failure) (*Message, error) {
	now := q.cfg.Now()
	i := seq - 1
	msg, err := q.st.UpdateMessage(context.WithoutCancel(ctx), c.state.id, func(x *Message) error {
		if i < 0 || i >= len(x.Parts) {
			return ErrNotFound
		}
		p := &x.Parts[i]
		p.State, p.ErrorCode, p.ErrorClass, p.Error, p.UpdatedAt = PartUnknown, f.Code, f.Class, f.Error, now
		cancelPending(x, now, "not sent: an earlier part's fate is unknown")
		x.Status, x.UpdatedAt = RollUp(x.Parts), now
		return nil
	})
	if c.state.bound && c.Message != nil {
		// It may have gone out: keep the binding to be safe.
		c.state.bound = false
		q.persistSticky(ctx, c, c.Message.Contact, now)
	}
	q.end(c)
	if err != nil {
		return nil, fmt.Errorf("record unknown: %w", err)
	}
	return msg, nil
}

// Release gives the claim's assigned parts back.
func (q *LocalQueue) Release(ctx context.Context, c *Claim, notBefore time.Time) error {
	now := q.cfg.Now()
	if !q.held(c) {
		return ErrClaimLost
	}
	msg, err := q.st.UpdateMessage(context.WithoutCancel(ctx), c.state.id, func(x *Message) error {
		if x.Status.Terminal() {
			return errGone
		}
		for i := range x.Parts {
			if p := &x.Parts[i]; p.State == PartAssigned {
				p.State, p.UpdatedAt = PartQueued, now
			}
		}
		x.Status = RollUp(x.Parts)
		return nil
	})
	if errors.Is(err, errGone) || errors.Is(err, ErrNotFound) {
		q.undo(c)
		q.end(c)
		return ErrClaimLost
	}
	if msg == nil || !anySubmitted(msg) {
		q.undo(c)
	}
	if msg != nil {
		q.mu.Lock()
		if it := q.claimedLocked(c); it != nil {
			it.parts = uint8(min(countPending(msg), 255))
		}
		q.mu.Unlock()
	}
	q.requeue(c, now, notBefore)
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return nil
}

// Cancel cancels a message whose parts have not started to go out.
func (q *LocalQueue) Cancel(ctx context.Context, id string) (*Message, error) {
	now := q.cfg.Now()
	q.mu.Lock()
	r := q.byID.get(&q.items, q.keyOfLocked(id, false))
	var seq uint32
	queued := false
	if r != 0 {
		it := q.items.at(r)
		seq, queued = it.seq, it.where == inReady || it.where == inDelayed
	}
	var at int64
	if queued {
		at = q.removeLocked(r)
	}
	q.mu.Unlock()
	msg, err := q.st.UpdateMessage(ctx, id, func(m *Message) error {
		if m.Direction != Outbound || m.Status.Terminal() {
			return ErrNotCancellable
		}
		for _, p := range m.Parts {
			switch p.State {
			case PartQueued, PartAssigned:
			default:
				return ErrNotCancellable
			}
		}
		for i := range m.Parts {
			m.Parts[i].State = PartCancelled
			m.Parts[i].UpdatedAt = now
		}
		m.Status = RollUp(m.Parts)
		m.UpdatedAt = now
		return nil
	})
	q.mu.Lock()
	defer q.mu.Unlock()
	// Still the item taken out above (not forgotten, its slot not reused)?
	ours := queued && q.items.get(r, seq) != nil
	if err != nil {
		if ours {
			q.pushLocked(r, at, now) // still ours to send
		}
		if errors.Is(err, ErrNotCancellable) || errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("cancel: %w", err)
	}
	if ours {
		q.forgetLocked(r)
	}
	return msg, nil
}

// Expire marks the unsent parts of expired waiting messages expired.
func (q *LocalQueue) Expire(ctx context.Context, now time.Time) ([]*Message, error) {
	nowN := now.UnixNano()
	var ids []string
	q.mu.Lock()
	if q.expireNext != 0 && q.expireNext <= nowN {
		q.expireNext = 0
		var gone []itemRef
		q.items.each(func(r itemRef, it *item) {
			if it.expires == 0 || it.where == inFlight {
				return
			}
			if x := it.expiresAt(); x <= nowN {
				gone = append(gone, r)
			} else if q.expireNext == 0 || x < q.expireNext {
				q.expireNext = x
			}
		})
		for _, r := range gone {
			ids = append(ids, q.idLocked(q.items.at(r)))
			q.forgetLocked(r)
		}
	}
	q.mu.Unlock()
	var out []*Message
	var errs []error
	for _, id := range ids {
		msg, err := q.st.UpdateMessage(context.WithoutCancel(ctx), id, func(m *Message) error {
			if m.Status.Terminal() {
				return ErrNotCancellable
			}
			for i := range m.Parts {
				if p := &m.Parts[i]; p.State == PartQueued || p.State == PartAssigned {
					p.State, p.UpdatedAt = PartExpired, now
				}
			}
			m.Status, m.UpdatedAt = RollUp(m.Parts), now
			return nil
		})
		switch {
		case err == nil:
			out = append(out, msg)
		case !errors.Is(err, ErrNotCancellable) && !errors.Is(err, ErrNotFound):
			errs = append(errs, fmt.Errorf("expire %s: %w", id, err))
		}
	}
	return out, errors.Join(errs...)
}

// moveBindings binds the contacts bound to from to modem to, and moves
// their waiting messages (those whose From names from stay): the SIM they
// are bound to was found in to (or, to a parked stand-in, taken out).
// Half-sent messages (flagPartial) move too: they follow their SIM, so
// the sender number stays the same.
func (q *LocalQueue) moveBindings(from, to string, now time.Time) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	fid, ok := q.names.ids[from]
	if !ok || from == to {
		return 0
	}
	tid := q.names.id(to)
	q.bound.each(func(_ uint64, b *binding) {
		if b.modem == fid {
			b.modem = tid
		}
	})
	var move []itemRef
	q.items.each(func(r itemRef, it *item) {
		if it.pinned == fid && it.flags&flagExplicit == 0 && it.where != inFlight {
			move = append(move, r)
		}
	})
	for _, r := range move {
		at := q.removeLocked(r)
		it := q.items.at(r)
		it.pinned = tid
		if it.avoid == fid {
			it.avoid = 0
		}
		q.pushLocked(r, at, now)
	}
	if len(move) > 0 {
		q.log.Info("moving queue with its SIM", "from", from, "to", to, "messages", len(move))
	}
	return len(move)
}

// Rebind moves the waiting messages of gone modem's sticky contacts to
// the shared queues; messages whose From names it (flagExplicit), or
// whose earlier parts it sent (flagPartial), stay: the rest of a half-sent
// message must leave through the same SIM (the same sender number), or
// the recipient's phone could never reassemble it. Such a message waits
// for its SIM, follows it to another modem (moveBindings), or expires.
func (q *LocalQueue) Rebind(ctx context.Context, modem, reason string) (int, error) {
	now := q.cfg.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	mid, ok := q.names.ids[modem]
	if !ok {
		return 0, nil
	}
	rq := q.ready[qkey{qModem, mid}]
	if rq == nil || rq.Len() == 0 {
		return 0, nil
	}
	var keep, move []itemRef
	for _, r := range *rq {
		if q.items.at(r).flags&(flagExplicit|flagPartial) != 0 {
			keep = append(keep, r)
		} else {
			move = append(move, r)
		}
	}
	if len(move) == 0 {
		return 0, nil
	}
	*rq = (*rq)[:0]
	for _, r := range keep {
		rq.push(&q.items, r)
	}
	for _, r := range move {
		it := q.items.at(r)
		it.where, it.pinned = inNone, 0
		q.pushLocked(r, 0, now)
	}
	q.log.Info("moving queue of gone modem", "modem", modem, "messages", len(move), "reason", reason)
	return len(move), nil
}

// Recover applies the crash rules and indexes every active message. It
// reads the store's queue entries (QueueStore.QueueEntries), not the
// messages: only the few messages left in flight (a part assigned or
// submitting) are read whole, to apply the crash rules (recoverParts).
func (q *LocalQueue) Recover(ctx context.Context) ([]*Message, error) {
	now := q.cfg.Now()
	// Collect the in-flight ones and fix them after the walk (the walk
	// holds no transaction while fn runs, but the fixes are writes and
	// few); index all others as they stream by.
	// Entries are indexed in batches, one lock for each, and the workers
	// of the ready queues they went to are woken once a batch.
	var fix []string
	batch := make([]QueueEntry, 0, recoverBatch)
	var woken []qkey
	flush := func() {
		q.mu.Lock()
		woken = woken[:0]
		for i := range batch {
			e := &batch[i]
			if k, ready := q.enqueueLocked(e, contactKey(e.Contact), e.Sticky, now); ready && !slices.Contains(woken, k) {
				woken = append(woken, k)
			}
		}
		for _, k := range woken {
			q.wakeForLocked(k)
		}
		q.mu.Unlock()
		clear(batch)
		batch = batch[:0]
	}
	err := q.st.QueueEntries(ctx, func(e QueueEntry) error {
		switch {
		case e.InFlight:
			fix = append(fix, e.ID)
		case e.Pending > 0:
			if batch = append(batch, e); len(batch) == recoverBatch {
				flush()
			}
		}
		return nil
	})
	flush()
	if err != nil {
		return nil, fmt.Errorf("load queue entries: %w", err)
	}
	var unknown []*Message
	for _, id := range fix {
		var before []PartState
		fixed, err := q.st.UpdateMessage(ctx, id, func(m *Message) error {
			before = before[:0]
			for _, p := range m.Parts {
				before = append(before, p.State)
			}
			recoverParts(m, now)
			return nil
		})
		if errors.Is(err, ErrNotFound) {
			continue // pruned or removed since its entry was read
		}
		if err != nil {
			return nil, fmt.Errorf("recover %s: %w", id, err)
		}
		for i, p := range fixed.Parts {
			if p.State == PartUnknown && i < len(before) && before[i] == PartSubmitting {
				unknown = append(unknown, fixed)
				break
			}
		}
		if err := q.Enqueue(ctx, fixed); err != nil {
			return nil, fmt.Errorf("queue %s: %w", id, err)
		}
	}
	// Give the garbage of the walk back to the system now rather than hold
	// the peak until the scavenger gets to it.
	debug.FreeOSMemory()
	return unknown, nil
}

// recoverBatch is how many queue entries Recover indexes under one lock.
const recoverBatch = 256

// Stats counts the waiting messages and the parts bound to each modem.
func (q *LocalQueue) Stats(ctx context.Context) (QueueStats, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := QueueStats{PartsFor: map[string]int{}}
	var oldest ulid.ULID
	q.items.each(func(_ itemRef, it *item) {
		if it.where == inFlight {
			return
		}
		s.Messages++
		if oldest == (ulid.ULID{}) || it.id.Compare(oldest) < 0 {
			oldest = it.id
		}
	})
	for k, rq := range q.ready {
		if k.kind != qModem {
			continue
		}
		n := 0
		for _, r := range *rq {
			n += int(q.items.at(r).parts)
		}
		if n > 0 {
			s.PartsFor[q.names.name(k.name)] = n
		}
	}
	if oldest != (ulid.ULID{}) {
		s.Oldest = ulid.Time(oldest.Time())
	}
	return s, nil
}

// PartsFor counts the parts waiting in modem's own queue.
func (q *LocalQueue) PartsFor(modem string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	mid, ok := q.names.ids[modem]
	if !ok {
		return 0
	}
	n := 0
	if rq := q.ready[qkey{qModem, mid}]; rq != nil {
		for _, r := range *rq {
			n += int(q.items.at(r).parts)
		}
	}
	return n
}

// Len is the number of messages waiting (not claimed).
func (q *LocalQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	q.items.each(func(_ itemRef, it *item) {
		if it.where != inFlight {
			n++
		}
	})
	return n
}

// recoverParts applies the crash rules to m (pure: safe to call twice).
func recoverParts(m *Message, now time.Time) {
	for i := range m.Parts {
		p := &m.Parts[i]
		switch p.State {
		case PartSubmitting:
			if m.AtLeastOnce {
				p.State = PartQueued
			} else {
				p.State = PartUnknown
				p.ErrorClass = "ambiguous"
				p.Error = "gateway stopped while the part was being submitted"
			}
			p.UpdatedAt = now
		case PartAssigned:
			p.State = PartQueued
			p.UpdatedAt = now
		}
	}
	if RollUp(m.Parts) == StatusUnknown {
		cancelPending(m, now, "not sent: an earlier part's fate is unknown")
	}
	m.Status = RollUp(m.Parts)
	m.UpdatedAt = now
}

// cancelPending marks parts that were never submitted cancelled (the
// message failed or became unknown, so they will not go out).
func cancelPending(m *Message, now time.Time, why string) {
	for i := range m.Parts {
		p := &m.Parts[i]
		if p.State == PartQueued || p.State == PartAssigned {
			p.State = PartCancelled
			p.Error = why
			p.UpdatedAt = now
		}
	}
}

func countPending(m *Message) int {
	n := 0
	for _, p := range m.Parts {
		if p.State == PartQueued || p.State == PartAssigned {
			n++
		}
	}
	return n
}

func anySubmitted(m *Message) bool {
	for _, p := range m.Parts {
		if p.State == PartSubmitted || p.State == PartDelivered {
			return true
		}
	}
	return false
}

// poke wakes modem's worker.
func (q *LocalQueue) poke(modem string) {
	q.mu.Lock()
	c := q.wakeChanLocked(modem)
	q.mu.Unlock()
	poke(c)
}

// RebindGone calls Rebind for every modem that has messages of its own
// waiting and that the ModemDirectory says is gone.
func (q *LocalQueue) RebindGone(ctx context.Context, now time.Time) {
	q.mu.Lock()
	var gone []string
	for k, rq := range q.ready {
		if k.kind == qModem && rq.Len() > 0 {
			if n := q.names.name(k.name); q.dir.Gone(n, now) {
				gone = append(gone, n)
			}
		}
	}
	q.mu.Unlock()
	for _, n := range gone {
		q.Rebind(ctx, n, "modem gone")
	}
}
