// Package queuetest is the conformance suite of gateway.Queue: one set of
// behaviour cases that every implementation must pass — the LocalQueue of a
// single host (run by the gateway tests over the in-memory and the bbolt
// store) and the queue several nodes share over PostgreSQL (run by the
// store/postgres tests). A case that fails on one of them is a bug on that
// side: the two are one model, not two truths.
//
// The suite speaks only through gateway.Queue and a narrow store. What a
// queue learns from outside the interface is the fleet it serves: which
// modems exist, their groups, and which of them are gone. A Fleet holds
// that; a LocalQueue reads it as its gateway.ModemDirectory, a PostgreSQL
// queue has its modems registered by the harness (Harness.Open).
//
// Cases that only make sense with several nodes (leases lapsing, reaping a
// dead node, wake-ups across nodes) stay with the PostgreSQL tests.
package queuetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/simgate/simgate/gateway"
)

// T0 is the suite's starting time (messages are created around it).
var T0 = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)

// Store is what the suite needs of the store under the queue.
type Store interface {
	CreateMessage(ctx context.Context, m *gateway.Message) error
	GetMessage(ctx context.Context, id string) (*gateway.Message, error)
	Sticky(ctx context.Context, contact string) (gateway.Sticky, error)
	SetSticky(ctx context.Context, contact string, s gateway.Sticky) error
}

// Backend is one node's queue over its store.
type Backend struct {
	Queue gateway.Queue
	Store Store
}

// Harness opens queues of one implementation for the suite.
type Harness struct {
	// Open returns a queue over a new, empty store, serving the modems of
	// f and reading the time from f.Now. Recover has not been called. It
	// is closed when t ends.
	Open func(t *testing.T, f *Fleet) *Backend
	// Restart stops b's queue, as a crash would, and returns a new queue of
	// the same node over the same store (Recover not called).
	Restart func(t *testing.T, f *Fleet, b *Backend) *Backend
}

// Fleet is the modems a queue serves and the suite's clock. It implements
// gateway.ModemDirectory (for a LocalQueue). Safe for concurrent use.
type Fleet struct {
	mu     sync.Mutex
	now    time.Time
	groups map[string][]string // modem → its groups
	gone   map[string]bool
}

var _ gateway.ModemDirectory = (*Fleet)(nil)

// NewFleet returns a fleet of the modems named (each followed by its
// groups after a colon: "a:g1,g2"), its clock at T0.
func NewFleet(modems ...string) *Fleet {
	f := &Fleet{now: T0, groups: map[string][]string{}, gone: map[string]bool{}}
	for _, m := range modems {
		name, groups := m, []string(nil)
		for i := range m {
			if m[i] == ':' {
				name = m[:i]
				groups = splitComma(m[i+1:])
				break
			}
		}
		f.groups[name] = groups
	}
	return f
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// Now is the fleet's clock.
func (f *Fleet) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }

// Advance moves the clock on by d.
func (f *Fleet) Advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }

// Modems names the fleet's modems, sorted.
func (f *Fleet) Modems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for m := range f.groups {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// SetGone marks modem gone (unusable past the sticky timeout) or back.
func (f *Fleet) SetGone(modem string, gone bool) {
	f.mu.Lock()
	f.gone[modem] = gone
	f.mu.Unlock()
}

// Gone implements gateway.ModemDirectory.
func (f *Fleet) Gone(name string, _ time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, known := f.groups[name]
	return f.gone[name] || !known
}

// InGroup implements gateway.ModemDirectory.
func (f *Fleet) InGroup(name, group string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.groups[name], group)
}

// IsModem implements gateway.ModemDirectory.
func (f *Fleet) IsModem(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.groups[name]
	return ok
}

// OtherUsable implements gateway.ModemDirectory: a modem of the fleet
// other than name that is not gone.
func (f *Fleet) OtherUsable(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for m := range f.groups {
		if m != name && !f.gone[m] {
			return true
		}
	}
	return false
}

// Request is the claim request of modem with its groups, budget left for
// new contacts, at the fleet's time.
func (f *Fleet) Request(modem string) gateway.ClaimRequest {
	f.mu.Lock()
	groups := slices.Clone(f.groups[modem])
	now := f.now
	f.mu.Unlock()
	return gateway.ClaimRequest{Modem: modem, Groups: groups, PartsLeft: 100, NewContacts: true, Now: now}
}

// Test is one conformance case.
type Test struct {
	Name string
	Fn   func(t *testing.T, h Harness)
}

// Tests lists every case of the suite.
var Tests = []Test{
	{"EachMessageClaimedOnce", testEachOnce},
	{"PriorityThenAge", testOrder},
	{"StickyContactStaysOnItsSIM", testSticky},
	{"NewContactBoundByClaim", testProvisional},
	{"ReleaseUndoesBinding", testReleaseUndo},
	{"NewContactBudgetAndDraining", testBudget},
	{"PartsLeftSkipsLongMessages", testPartsLeft},
	{"FromNamesModem", testFromModem},
	{"FromGroup", testFromGroup},
	{"FromGroupOutsideStickySIM", testFromGroupSticky},
	{"RetryAvoidsFailingSIM", testRetryAvoid},
	{"RetryAvoidAloneWaitsBackoff", testRetryAvoidAlone},
	{"RetryStickyStays", testRetrySticky},
	{"RetryLaterPartsSameSIM", testRetryPartial},
	{"ReleaseNotBefore", testReleaseNotBefore},
	{"SendAtAndBackoff", testSendAt},
	{"TextingWindowClosed", testWindow},
	{"RebindGoneSIMRecordsMove", testRebind},
	{"RebindKeepsHalfSentMessage", testRebindPartial},
	{"CancelLosesClaim", testCancel},
	{"ExpireWaiting", testExpire},
	{"RecoverAfterCrash", testRecover},
	{"StatsCountsWaiting", testStats},
}

// Run runs every case against h.
func Run(t *testing.T, h Harness) {
	for _, tc := range Tests {
		t.Run(tc.Name, func(t *testing.T) { tc.Fn(t, h) })
	}
}

var ctx = context.Background()

var seq struct {
	mu sync.Mutex
	n  int
}

// NewMessage returns a queued one-part outbound message to contact,
// created at the fleet's time plus a step that keeps messages of one test
// in creation order.
func NewMessage(f *Fleet, contact string) *gateway.Message {
	return NewMultipart(f, contact, 1)
}

// NewMultipart is NewMessage with parts parts.
func NewMultipart(f *Fleet, contact string, parts int) *gateway.Message {
	seq.mu.Lock()
	seq.n++
	n := seq.n
	seq.mu.Unlock()
	at := f.Now().Add(-time.Hour).Add(time.Duration(n) * time.Millisecond)
	m := &gateway.Message{
		ID:        ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(),
		Direction: gateway.Outbound,
		Contact:   contact,
		Body:      "hello",
		Status:    gateway.StatusQueued,
		Segments:  parts,
		CreatedAt: at,
		UpdatedAt: at,
	}
	for i := range parts {
		m.Parts = append(m.Parts, gateway.Part{Seq: i + 1, PDU: []byte{byte(n), byte(i), 1, 2, 3}, State: gateway.PartQueued, MR: -1, ReportStatus: -1})
	}
	return m
}

// add stores and enqueues m.
func add(t *testing.T, b *Backend, m *gateway.Message) *gateway.Message {
	t.Helper()
	if err := b.Store.CreateMessage(ctx, m); err != nil {
		t.Fatalf("CreateMessage: %v", err)
	}
	if err := b.Queue.Enqueue(ctx, m); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return m
}

// open opens a recovered queue serving f.
func open(t *testing.T, h Harness, f *Fleet) *Backend {
	t.Helper()
	b := h.Open(t, f)
	if _, err := b.Queue.Recover(ctx); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	return b
}

func claim(t *testing.T, b *Backend, r gateway.ClaimRequest) *gateway.Claim {
	t.Helper()
	c, err := b.Queue.Claim(ctx, r)
	if err != nil {
		t.Fatalf("Claim(%s): %v", r.Modem, err)
	}
	return c
}

// mustClaim claims as r.Modem and checks it got message id.
func mustClaim(t *testing.T, b *Backend, r gateway.ClaimRequest, id string) *gateway.Claim {
	t.Helper()
	c := claim(t, b, r)
	if c == nil {
		t.Fatalf("%s claimed nothing, want %s", r.Modem, id)
	}
	if c.Message.ID != id {
		t.Fatalf("%s claimed %s, want %s", r.Modem, c.Message.ID, id)
	}
	if c.Modem != r.Modem || c.Message.Modem != r.Modem {
		t.Fatalf("claim of %s: Modem %q, Message.Modem %q", r.Modem, c.Modem, c.Message.Modem)
	}
	for _, p := range c.Message.Parts {
		if p.State != gateway.PartAssigned && p.State != gateway.PartSubmitted {
			t.Fatalf("claimed part %d is %s", p.Seq, p.State)
		}
	}
	return c
}

// none checks that r.Modem claims nothing now.
func none(t *testing.T, b *Backend, r gateway.ClaimRequest) {
	t.Helper()
	if c := claim(t, b, r); c != nil {
		t.Fatalf("%s claimed %s (contact %s), want nothing", r.Modem, c.Message.ID, c.Message.Contact)
	}
}

// send submits every assigned part of c.
func send(t *testing.T, b *Backend, f *Fleet, c *gateway.Claim) *gateway.Message {
	t.Helper()
	var msg *gateway.Message
	for _, p := range c.Message.Parts {
		if p.State != gateway.PartAssigned {
			continue
		}
		if err := b.Queue.Submitting(ctx, c, p.Seq); err != nil {
			t.Fatalf("Submitting %d: %v", p.Seq, err)
		}
		m, err := b.Queue.Submitted(ctx, c, p.Seq, p.Seq, f.Now())
		if err != nil {
			t.Fatalf("Submitted %d: %v", p.Seq, err)
		}
		msg = m
	}
	return msg
}

func sticky(t *testing.T, b *Backend, contact string) gateway.Sticky {
	t.Helper()
	s, err := b.Store.Sticky(ctx, contact)
	if err != nil {
		t.Fatalf("Sticky(%s): %v", contact, err)
	}
	return s
}

func bind(t *testing.T, b *Backend, f *Fleet, contact, modem string) {
	t.Helper()
	if err := b.Store.SetSticky(ctx, contact, gateway.Sticky{Modem: modem, Since: f.Now().Add(-24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

func status(t *testing.T, b *Backend, id string) *gateway.Message {
	t.Helper()
	m, err := b.Store.GetMessage(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func contact(i int) string { return fmt.Sprintf("+1202555%04d", i) }
