package gatewaytest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

// MemStore is an in-memory gateway.Store: messages, inbound fragments,
// sticky bindings, budgets, opt-outs and events, with the semantics the
// interfaces document (UpdateMessage's function may run twice, as in a
// retried batch). ListMessages filters but returns everything in one page.
type MemStore struct {
	mu        sync.Mutex
	msgs      map[string]*gateway.Message
	frags     map[string]map[int]gateway.Fragment
	sticky    map[string]gateway.Sticky
	budgets   map[string]gateway.BudgetUsage
	sims      map[string]gateway.SIM
	optouts   map[string]gateway.OptOut
	unmatched []gateway.StatusReport
	events    []gateway.Event
}

var (
	_ gateway.Store           = (*MemStore)(nil)
	_ gateway.DispatcherStore = (*MemStore)(nil)
	_ gateway.InboxStore      = (*MemStore)(nil)
)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{
		msgs:    map[string]*gateway.Message{},
		frags:   map[string]map[int]gateway.Fragment{},
		sticky:  map[string]gateway.Sticky{},
		budgets: map[string]gateway.BudgetUsage{},
		sims:    map[string]gateway.SIM{},
		optouts: map[string]gateway.OptOut{},
	}
}

// CreateMessage stores a copy of m; a used idempotency key is ErrExists.
func (s *MemStore) CreateMessage(_ context.Context, m *gateway.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.msgs[m.ID]; ok {
		return fmt.Errorf("message %s: %w", m.ID, gateway.ErrExists)
	}
	if m.IdempotencyKey != "" {
		for _, o := range s.msgs {
			if o.IdempotencyKey == m.IdempotencyKey {
				return fmt.Errorf("key: %w", gateway.ErrExists)
			}
		}
	}
	s.msgs[m.ID] = m.Clone()
	return nil
}

// GetMessage returns a copy of message id, or ErrNotFound.
func (s *MemStore) GetMessage(_ context.Context, id string) (*gateway.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgs[id]
	if !ok {
		return nil, fmt.Errorf("message %s: %w", id, gateway.ErrNotFound)
	}
	return m.Clone(), nil
}

// MessageByIdempotencyKey returns the message created with key, or ErrNotFound.
func (s *MemStore) MessageByIdempotencyKey(_ context.Context, key string) (*gateway.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.msgs {
		if o.IdempotencyKey == key {
			return o.Clone(), nil
		}
	}
	return nil, gateway.ErrNotFound
}

// UpdateMessage calls fn twice on fresh copies (a batch may retry it) and
// keeps the second result.
func (s *MemStore) UpdateMessage(_ context.Context, id string, fn func(*gateway.Message) error) (*gateway.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgs[id]
	if !ok {
		return nil, fmt.Errorf("message %s: %w", id, gateway.ErrNotFound)
	}
	if err := fn(m.Clone()); err != nil {
		return nil, err
	}
	c := m.Clone()
	if err := fn(c); err != nil {
		return nil, err
	}
	s.msgs[id] = c
	return c.Clone(), nil
}

// ListMessages filters by direction, status, contact, modem, agent and
// time, oldest first when Ascending; one page holds everything.
func (s *MemStore) ListMessages(_ context.Context, f gateway.MessageFilter) (gateway.MessagePage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*gateway.Message
	for _, m := range s.msgs {
		if !f.Matches(m) {
			continue
		}
		out = append(out, m.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return (out[i].ID < out[j].ID) == f.Ascending })
	return gateway.MessagePage{Messages: out}, nil
}

// ActiveMessages calls fn for every outbound message not in a terminal status, oldest first.
func (s *MemStore) ActiveMessages(_ context.Context, fn func(*gateway.Message) error) error {
	s.mu.Lock()
	var ms []*gateway.Message
	for _, m := range s.msgs {
		if m.Direction == gateway.Outbound && !m.Status.Terminal() {
			ms = append(ms, m.Clone())
		}
	}
	s.mu.Unlock()
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	for _, m := range ms {
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// QueueEntries calls fn with the queue entry (gateway.EntryOf) of every
// message that has one, oldest first, its contact's sticky SIM filled in.
func (s *MemStore) QueueEntries(_ context.Context, fn func(gateway.QueueEntry) error) error {
	s.mu.Lock()
	var es []gateway.QueueEntry
	for _, m := range s.msgs {
		if e, ok := gateway.EntryOf(m); ok {
			e.Sticky = s.sticky[e.Contact].Modem
			es = append(es, e)
		}
	}
	s.mu.Unlock()
	sort.Slice(es, func(i, j int) bool { return es[i].ID < es[j].ID })
	for _, e := range es {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// PartByMR finds the part most recently submitted on modem with mr since since.
func (s *MemStore) PartByMR(_ context.Context, modem string, mr int, since time.Time) (string, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var id string
	var seq int
	var at time.Time
	for _, m := range s.msgs {
		for _, p := range m.Parts {
			if p.Modem == modem && p.MR == mr && !p.SubmittedAt.Before(since) && p.SubmittedAt.After(at) &&
				(p.State == gateway.PartSubmitted || p.State == gateway.PartDelivered || p.State == gateway.PartFailed) {
				id, seq, at = m.ID, p.Seq, p.SubmittedAt
			}
		}
	}
	if id == "" {
		return "", 0, gateway.ErrNotFound
	}
	return id, seq, nil
}

// SaveUnmatchedReport keeps r (see Unmatched).
func (s *MemStore) SaveUnmatchedReport(_ context.Context, r gateway.StatusReport) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unmatched = append(s.unmatched, r)
	return nil
}

// CountByStatus counts messages per status.
func (s *MemStore) CountByStatus(context.Context) (map[gateway.Status]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[gateway.Status]int{}
	for _, m := range s.msgs {
		out[m.Status]++
	}
	return out, nil
}

// AddFragment stores f under key (once per seq) and returns the set so far.
func (s *MemStore) AddFragment(_ context.Context, key string, f gateway.Fragment) ([]gateway.Fragment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.frags[key]
	if set == nil {
		set = map[int]gateway.Fragment{}
		s.frags[key] = set
	}
	if _, ok := set[f.Seq]; !ok {
		f.TPDU = slices.Clone(f.TPDU)
		set[f.Seq] = f
	}
	return sorted(set), nil
}

func sorted(set map[int]gateway.Fragment) []gateway.Fragment {
	out := make([]gateway.Fragment, 0, len(set))
	for _, f := range set {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// CompleteInbound stores msg and drops key's fragments; ErrExists if stored.
func (s *MemStore) CompleteInbound(_ context.Context, msg *gateway.Message, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.msgs[msg.ID]; ok {
		return gateway.ErrExists
	}
	s.msgs[msg.ID] = msg.Clone()
	if key != "" {
		delete(s.frags, key)
	}
	return nil
}

// StaleFragments returns the sets whose newest fragment is older than before.
func (s *MemStore) StaleFragments(_ context.Context, before time.Time) (map[string][]gateway.Fragment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]gateway.Fragment{}
	for k, set := range s.frags {
		var newest time.Time
		for _, f := range set {
			if f.Received.After(newest) {
				newest = f.Received
			}
		}
		if newest.Before(before) {
			out[k] = sorted(set)
		}
	}
	return out, nil
}

// Sticky returns contact's binding, or ErrNotFound.
func (s *MemStore) Sticky(_ context.Context, contact string) (gateway.Sticky, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.sticky[contact]
	if !ok {
		return gateway.Sticky{}, gateway.ErrNotFound
	}
	st.Moves = slices.Clone(st.Moves)
	return st, nil
}

// SetSticky binds contact to st.
func (s *MemStore) SetSticky(_ context.Context, contact string, st gateway.Sticky) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sticky[contact] = st
	return nil
}

// Budgets returns every modem's stored budget usage.
func (s *MemStore) Budgets(context.Context) (map[string]gateway.BudgetUsage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]gateway.BudgetUsage{}
	for k, v := range s.budgets {
		out[k] = v
	}
	return out, nil
}

// SaveBudget stores modem's budget usage.
func (s *MemStore) SaveBudget(_ context.Context, modem string, u gateway.BudgetUsage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.budgets[modem] = u
	return nil
}

// SIMs returns every stored SIM, by ID.
func (s *MemStore) SIMs(context.Context) ([]gateway.SIM, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]gateway.SIM, 0, len(s.sims))
	for _, v := range s.sims {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// SaveSIM stores sim.
func (s *MemStore) SaveSIM(_ context.Context, sim gateway.SIM) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sims[sim.ID] = sim
	return nil
}

// RebindSIM moves the bindings of sim (and the SIM-less ones of from) to to.
func (s *MemStore) RebindSIM(_ context.Context, sim, from, to string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c, st := range s.sticky {
		if (st.SIM == sim && st.Modem != to) || (from != "" && st.SIM == "" && st.Modem == from) {
			st.Modem, st.SIM = to, sim
			s.sticky[c] = st
			n++
		}
	}
	return n, nil
}

// OptedOut reports whether number is on the suppression list.
func (s *MemStore) OptedOut(_ context.Context, number string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.optouts[number]
	return ok, nil
}

// AddOptOut puts o on the suppression list.
func (s *MemStore) AddOptOut(_ context.Context, o gateway.OptOut) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.optouts[o.Number] = o
	return nil
}

// RemoveOptOut takes number off the list; ErrNotFound if it was not on it.
func (s *MemStore) RemoveOptOut(_ context.Context, number string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.optouts[number]; !ok {
		return gateway.ErrNotFound
	}
	delete(s.optouts, number)
	return nil
}

// ListOptOuts lists entries by number after after, at most limit (0: all).
func (s *MemStore) ListOptOuts(_ context.Context, after string, limit int) ([]gateway.OptOut, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []gateway.OptOut
	for n, o := range s.optouts {
		if n > after {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// AppendEvent keeps e (see Events).
func (s *MemStore) AppendEvent(_ context.Context, e gateway.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	return nil
}

// Message returns message id or fails the test.
func (s *MemStore) Message(t testing.TB, id string) *gateway.Message {
	t.Helper()
	m, err := s.GetMessage(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Unmatched returns the unmatched status reports saved so far.
func (s *MemStore) Unmatched() []gateway.StatusReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.unmatched)
}

// Events returns the events appended so far.
func (s *MemStore) Events() []gateway.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// Messages returns every stored message, by id.
func (s *MemStore) Messages() []*gateway.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*gateway.Message, 0, len(s.msgs))
	for _, m := range s.msgs {
		out = append(out, m.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
