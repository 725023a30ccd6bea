package storetest

import (
	"context"
	"fmt"
	"io"
	"sort"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
)

// Backend is everything a simgate store implements: the gateway's store
// interfaces and the operations cmd/simgate calls on a store directly.
type Backend interface {
	gateway.Store
	gateway.KeyStore
	gateway.WebhookStore
	gateway.RetentionStore
	account.Store
	gateway.EventOutbox
	EventLog
	// UnmatchedReports returns up to limit (default 100) kept unmatched
	// status reports, oldest first, and how many are kept in all.
	UnmatchedReports(ctx context.Context, limit int) ([]gateway.StatusReport, int, error)
	// Writable commits a tiny write, proving the store accepts writes (readiness).
	Writable(ctx context.Context) error
	// Close releases the store; every later call returns an error wrapping gateway.ErrClosed.
	io.Closer
}

// EventLog reads and bounds the stored events.
type EventLog interface {
	// Events lists stored events in ID (time) order, strictly after the ID
	// after ("" = from the oldest), at most limit (default 100, max 1000).
	Events(ctx context.Context, after string, limit int) ([]gateway.Event, error)
	// TrimEvents deletes the oldest events until at most keep are left.
	TrimEvents(ctx context.Context, keep int) (int, error)
	// CountEvents returns how many events are stored.
	CountEvents(ctx context.Context) (int, error)
}

// Harness opens stores of one backend for the suite.
type Harness struct {
	// Open returns a new, empty store. It closes it (and removes what it
	// created) when t ends.
	Open func(t *testing.T) Backend
	// Reopen closes b and opens the same data again, as a restart would. The
	// result is closed when t ends.
	Reopen func(t *testing.T, b Backend) Backend
}

// Test is one conformance test.
type Test struct {
	Name string
	Fn   func(t *testing.T, h Harness)
}

// areas lists every area of the suite, each a file of this package.
var areas = []struct {
	name  string
	tests []Test
}{
	{"messages", messageTests},
	{"queue", queueTests},
	{"inbound", inboundTests},
	{"contacts", contactTests},
	{"optouts", optOutTests},
	{"events", eventTests},
	{"keys", keyTests},
	{"webhooks", webhookTests},
	{"lifecycle", lifecycleTests},
	{"retention", retentionTests},
	{"campaigns", campaignTests},
	{"accounts", accountTests},
	{"sims", simTests},
}

// Run runs the whole suite against the backend h opens.
func Run(t *testing.T, h Harness) {
	if h.Open == nil || h.Reopen == nil {
		t.Fatal("storetest: Harness needs Open and Reopen")
	}
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) {
			for _, tt := range a.tests {
				t.Run(tt.Name, func(t *testing.T) { tt.Fn(t, h) })
			}
		})
	}
}

// Listing limits every backend applies to ListMessages (see gateway.MessageFilter).
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

var ctx = context.Background()

// T0 is the base of the suite's times.
var T0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// NewMessage returns an outbound queued message created at T0+i seconds,
// with one part, a contact among ten and an agent among three.
func NewMessage(i int) *gateway.Message {
	at := T0.Add(time.Duration(i) * time.Second)
	pdu := make([]byte, 160)
	for j := range pdu {
		pdu[j] = byte(i + j)
	}
	return &gateway.Message{
		ID:        ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(),
		Direction: gateway.Outbound,
		Contact:   fmt.Sprintf("+1555000%04d", i%10),
		Body:      "hello",
		Agent:     fmt.Sprintf("agent%d", i%3),
		Status:    gateway.StatusQueued,
		Segments:  1,
		Parts:     []gateway.Part{{Seq: 1, PDU: pdu, State: gateway.PartQueued, MR: -1, ReportStatus: -1}},
		CreatedAt: at,
		UpdatedAt: at,
	}
}

// MustCreate stores m or fails the test.
func MustCreate(t testing.TB, s gateway.MessageStore, m *gateway.Message) {
	t.Helper()
	if err := s.CreateMessage(ctx, m); err != nil {
		t.Fatalf("CreateMessage %s: %v", m.ID, err)
	}
}

// IDs returns the ids of ms in order.
func IDs(ms []*gateway.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// ListAll pages through f and returns every id listed, checking that pages
// respect the limit and that a cursor never comes with an empty page.
func ListAll(t testing.TB, s gateway.MessageStore, f gateway.MessageFilter) []string {
	t.Helper()
	var out []string
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		p, err := s.ListMessages(ctx, f)
		if err != nil {
			t.Fatalf("ListMessages(%+v): %v", f, err)
		}
		if f.Limit > 0 && len(p.Messages) > f.Limit {
			t.Fatalf("page of %d > limit %d", len(p.Messages), f.Limit)
		}
		out = append(out, IDs(p.Messages)...)
		if p.Next == "" {
			return out
		}
		if len(p.Messages) == 0 {
			t.Fatal("empty page with a next cursor")
		}
		f.Cursor = p.Next
	}
}

// Matches reports whether m passes f (the brute-force model of ListMessages).
func Matches(f gateway.MessageFilter, m *gateway.Message) bool {
	switch {
	case f.Direction != "" && m.Direction != f.Direction,
		f.Status != "" && m.Status != f.Status,
		f.Contact != "" && m.Contact != f.Contact,
		f.Modem != "" && m.Modem != f.Modem,
		f.Agent != "" && m.Agent != f.Agent,
		!f.Since.IsZero() && m.CreatedAt.Before(f.Since),
		!f.Until.IsZero() && !m.CreatedAt.Before(f.Until):
		return false
	}
	return true
}

// expectIDs returns the ids of the messages of all that f lists, in
// ListMessages order: newest first by (CreatedAt, ID), or oldest first.
func expectIDs(f gateway.MessageFilter, all []*gateway.Message) []string {
	var out []*gateway.Message
	for _, m := range all {
		if Matches(f, m) {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.After(b.CreatedAt) != f.Ascending
		}
		return (a.ID > b.ID) != f.Ascending
	})
	return IDs(out)
}
