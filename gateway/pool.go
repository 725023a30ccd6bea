package gateway

import (
	"container/heap"
	"slices"
	"time"
)

// ModemConfig is how the gateway uses one modem.
type ModemConfig struct {
	Name   string        // must equal Device.Name()
	Groups []string      // groups the modem belongs to (SendRequest.From may name one)
	Pacing *PacingConfig // nil = Config.Pacing
}

// modemEntry is one modem in the pool. name and dev never change; wake,
// stop and done are channels; every other field is guarded by Dispatcher.mu.
type modemEntry struct {
	name   string
	groups []string
	dev    Device
	pacer  *pacer
	// customPacing: the modem's own pacing, not Config.Pacing.
	customPacing bool

	paused      bool
	pauseReason string
	pausedUntil time.Time
	draining    bool

	usable        bool       // last seen Status().Usable()
	state         ModemState // last seen state
	unusableSince time.Time  // when it stopped being usable; zero while usable

	counters Counters
	cms500   int // consecutive +CMS ERROR: 500
	sending  bool

	wake chan struct{} // buffered 1: something may have become takeable
	stop chan struct{} // closed by RemoveDevice
	done chan struct{} // closed when the worker returned
	runs bool          // a worker goroutine was started
}

func (m *modemEntry) inGroup(g string) bool { return slices.Contains(m.groups, g) }

func (m *modemEntry) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Where an item is.
const (
	inNone uint8 = iota
	inReady
	inDelayed
	inFlight
)

// item is a message waiting to be sent, as lean as possible: 100,000 of
// them must fit in a few tens of MB. Bodies and PDUs stay in the store.
type item struct {
	id       string
	contact  string
	from     string // SendRequest.From ("" = any)
	pinned   string // modem the message must go through ("" = shared)
	moveFrom string // contact's SIM is gone; rebind (recorded) on send
	avoid    string // modem that just failed it with a temporary error
	prio     int32
	parts    int16 // parts still to send
	explicit bool  // From names the pinned modem
	newBind  bool  // taken as a new contact of the sending SIM
	where    uint8
	idx      int32  // position in its heap
	seq      uint64 // FIFO among equal priorities
	readyAt  int64  // unix nanos: not before (send_at, retry backoff)
	expires  int64  // unix nanos; 0 = never
	created  int64  // unix nanos
	qkey     string // ready queue it sits in
}

// readyQueue holds items that may go now, highest priority first, then oldest.
type readyQueue []*item

func (q readyQueue) Len() int { return len(q) }
func (q readyQueue) Less(i, j int) bool {
	if q[i].prio != q[j].prio {
		return q[i].prio > q[j].prio
	}
	return q[i].seq < q[j].seq
}
func (q readyQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].idx, q[j].idx = int32(i), int32(j)
}
func (q *readyQueue) Push(x any) { it := x.(*item); it.idx = int32(len(*q)); *q = append(*q, it) }
func (q *readyQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return it
}

// delayQueue holds items not yet due, soonest first.
type delayQueue []*item

func (q delayQueue) Len() int           { return len(q) }
func (q delayQueue) Less(i, j int) bool { return q[i].readyAt < q[j].readyAt }
func (q delayQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].idx, q[j].idx = int32(i), int32(j)
}
func (q *delayQueue) Push(x any) { it := x.(*item); it.idx = int32(len(*q)); *q = append(*q, it) }
func (q *delayQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return it
}

// Queue keys: "m:<modem>" for a modem's own queue, "g:<group>" for a group,
// "" for messages any modem may send.
func modemKey(name string) string { return "m:" + name }

// sharedKeyLocked is the queue an unpinned item waits in.
func (d *Dispatcher) sharedKeyLocked(it *item) string {
	if it.from == "" {
		return ""
	}
	if _, ok := d.modems[it.from]; ok || it.explicit {
		return modemKey(it.from)
	}
	return "g:" + it.from
}

// pushLocked puts it where it belongs: the delay queue if not yet due, else
// the ready queue of its modem or the shared one, and wakes who may take it.
func (d *Dispatcher) pushLocked(it *item, now time.Time) {
	if it.readyAt > now.UnixNano() {
		it.where = inDelayed
		heap.Push(&d.delayed, it)
		if d.delayed[0] == it {
			select {
			case d.schedWake <- struct{}{}:
			default:
			}
		}
		return
	}
	key := d.sharedKeyLocked(it)
	if it.pinned != "" {
		key = modemKey(it.pinned)
	}
	q := d.queues[key]
	if q == nil {
		q = &readyQueue{}
		d.queues[key] = q
	}
	it.qkey = key
	it.where = inReady
	heap.Push(q, it)
	d.wakeForLocked(key)
}

// wakeForLocked wakes the idle workers that may take from queue key, in
// round-robin order so that load spreads over the pool.
func (d *Dispatcher) wakeForLocked(key string) {
	n := len(d.order)
	if n == 0 {
		return
	}
	start := d.rr % n
	d.rr++
	for i := range n {
		m := d.modems[d.order[(start+i)%n]]
		if m == nil || m.sending {
			continue
		}
		switch {
		case key == "":
		case key == modemKey(m.name):
		case len(key) > 2 && key[:2] == "g:" && m.inGroup(key[2:]):
		default:
			continue
		}
		m.poke()
	}
}

// removeLocked takes it out of whatever queue holds it.
func (d *Dispatcher) removeLocked(it *item) {
	switch it.where {
	case inReady:
		if q := d.queues[it.qkey]; q != nil && int(it.idx) < q.Len() && (*q)[it.idx] == it {
			heap.Remove(q, int(it.idx))
		}
	case inDelayed:
		if int(it.idx) < d.delayed.Len() && d.delayed[it.idx] == it {
			heap.Remove(&d.delayed, int(it.idx))
		}
	}
	it.where = inNone
}

// goneLocked reports whether modem name has been unusable (or absent) for
// longer than StickyTimeout, so that its contacts may move.
func (d *Dispatcher) goneLocked(name string, now time.Time) bool {
	m := d.modems[name]
	if m == nil {
		since, ok := d.removed[name]
		if !ok {
			since = d.started
		}
		return now.Sub(since) > d.cfg.StickyTimeout
	}
	return !m.usable && !m.unusableSince.IsZero() && now.Sub(m.unusableSince) > d.cfg.StickyTimeout
}

// otherUsableLocked reports whether a modem other than m could send now.
func (d *Dispatcher) otherUsableLocked(m *modemEntry) bool {
	for _, o := range d.modems {
		if o != m && o.usable && !o.paused {
			return true
		}
	}
	return false
}

// takeLocked picks the next item modem m should send, or nil. It looks at
// m's own queue, the shared queue and m's groups' queues and takes the best
// head (priority, then age) m may send. Shared items whose contact is bound
// to another SIM that is not gone are moved to that SIM's queue.
func (d *Dispatcher) takeLocked(m *modemEntry, now time.Time) *item {
	keys := make([]string, 0, 2+len(m.groups))
	keys = append(keys, modemKey(m.name), "")
	for _, g := range m.groups {
		keys = append(keys, "g:"+g)
	}
	partsLeft := m.pacer.partsLeft(now)
	for {
		var best *readyQueue
		bi := -1
		for i, k := range keys {
			if k == "\x00" {
				continue
			}
			q := d.queues[k]
			if q == nil || q.Len() == 0 {
				continue
			}
			if best == nil || (readyQueue{(*q)[0], (*best)[0]}).Less(0, 1) {
				best, bi = q, i
			}
		}
		if best == nil {
			return nil
		}
		h := (*best)[0]
		own := bi == 0
		if int(h.parts) > partsLeft {
			keys[bi] = "\x00"
			continue
		}
		b, bound := d.bound[h.contact]
		// The contact's SIM may send it unless From rules that SIM out.
		eligible := bound && (h.from == "" || h.from == b || d.inGroupLocked(b, h.from))
		if bound && b != m.name && !own && eligible && !d.goneLocked(b, now) {
			// The contact has a SIM: send from it.
			heap.Pop(best)
			h.pinned = b
			d.pushLocked(h, now)
			continue
		}
		newContact := !bound || (b != m.name && eligible && d.goneLocked(b, now))
		if newContact && (m.pacer.newContactsLeft(now) <= 0 || (m.draining && !own)) {
			keys[bi] = "\x00"
			continue
		}
		if !own && h.avoid == m.name && d.otherUsableLocked(m) {
			keys[bi] = "\x00"
			continue
		}
		heap.Pop(best)
		h.where = inFlight
		h.qkey = ""
		h.newBind = newContact
		if bound && b != m.name && !newContact {
			// From asked for SIMs the contact is not bound to: send
			// without moving the binding, but it is new to this SIM.
			m.pacer.addNewContact(now)
		}
		if newContact {
			if bound && b != m.name {
				h.moveFrom = b
			}
			d.bound[h.contact] = m.name
			m.pacer.addNewContact(now)
		}
		h.pinned = m.name
		return h
	}
}

// queuedForLocked counts the parts waiting in modem name's own queue.
func (d *Dispatcher) queuedForLocked(name string) int {
	n := 0
	if q := d.queues[modemKey(name)]; q != nil {
		for _, it := range *q {
			n += int(it.parts)
		}
	}
	return n
}

// holdLocked is m's pause or drain as it is stored; nil when neither. d.mu held.
func (m *modemEntry) holdLocked() *ModemHold {
	if !m.paused && !m.draining {
		return nil
	}
	return &ModemHold{Paused: m.paused, Reason: m.pauseReason, Until: m.pausedUntil, Draining: m.draining}
}

// restoreHoldLocked applies a stored pause or drain. d.mu held.
func (m *modemEntry) restoreHoldLocked(h *ModemHold) {
	if h == nil {
		return
	}
	m.paused, m.pauseReason, m.pausedUntil, m.draining = h.Paused, h.Reason, h.Until, h.Draining
}
