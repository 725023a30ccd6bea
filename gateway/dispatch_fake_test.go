package gateway

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

// memStore is an in-memory Store for the dispatcher's unit tests (the real
// bbolt store is exercised by the external tests in e2e_test.go).
type memStore struct {
	mu        sync.Mutex
	msgs      map[string]*Message
	sticky    map[string]Sticky
	budgets   map[string]BudgetUsage
	optouts   map[string]bool
	unmatched []StatusReport
	events    []Event
}

func newMemStore() *memStore {
	return &memStore{msgs: map[string]*Message{}, sticky: map[string]Sticky{}, budgets: map[string]BudgetUsage{}, optouts: map[string]bool{}}
}

func (s *memStore) CreateMessage(_ context.Context, m *Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.IdempotencyKey != "" {
		for _, o := range s.msgs {
			if o.IdempotencyKey == m.IdempotencyKey {
				return fmt.Errorf("key: %w", ErrExists)
			}
		}
	}
	s.msgs[m.ID] = m.Clone()
	return nil
}

func (s *memStore) GetMessage(_ context.Context, id string) (*Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgs[id]
	if !ok {
		return nil, ErrNotFound
	}
	return m.Clone(), nil
}

func (s *memStore) MessageByIdempotencyKey(_ context.Context, key string) (*Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.msgs {
		if o.IdempotencyKey == key {
			return o.Clone(), nil
		}
	}
	return nil, ErrNotFound
}

func (s *memStore) UpdateMessage(_ context.Context, id string, fn func(*Message) error) (*Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgs[id]
	if !ok {
		return nil, ErrNotFound
	}
	c := m.Clone()
	if err := fn(c); err != nil {
		return nil, err
	}
	// Batch may call fn twice: do it here too, on a fresh copy, and keep that.
	c = m.Clone()
	if err := fn(c); err != nil {
		return nil, err
	}
	s.msgs[id] = c
	return c.Clone(), nil
}

// ListMessages filters by direction, status, contact, modem, agent and
// time, oldest first when Ascending; one page holds everything (no cursor).
func (s *memStore) ListMessages(_ context.Context, f MessageFilter) (MessagePage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Message
	for _, m := range s.msgs {
		switch {
		case f.Direction != "" && m.Direction != f.Direction,
			f.Status != "" && m.Status != f.Status,
			f.Contact != "" && m.Contact != f.Contact,
			f.Modem != "" && m.Modem != f.Modem,
			f.Agent != "" && m.Agent != f.Agent,
			!f.Since.IsZero() && m.CreatedAt.Before(f.Since),
			!f.Until.IsZero() && !m.CreatedAt.Before(f.Until):
			continue
		}
		out = append(out, m.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return (out[i].ID < out[j].ID) == f.Ascending })
	return MessagePage{Messages: out}, nil
}

func (s *memStore) ActiveMessages(_ context.Context, fn func(*Message) error) error {
	s.mu.Lock()
	var ms []*Message
	for _, m := range s.msgs {
		if m.Direction == Outbound && !m.Status.Terminal() {
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

func (s *memStore) PartByMR(_ context.Context, modem string, mr int, since time.Time) (string, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var id string
	var seq int
	var at time.Time
	for _, m := range s.msgs {
		for _, p := range m.Parts {
			if p.Modem == modem && p.MR == mr && !p.SubmittedAt.Before(since) && p.SubmittedAt.After(at) &&
				(p.State == PartSubmitted || p.State == PartDelivered || p.State == PartFailed) {
				id, seq, at = m.ID, p.Seq, p.SubmittedAt
			}
		}
	}
	if id == "" {
		return "", 0, ErrNotFound
	}
	return id, seq, nil
}

func (s *memStore) SaveUnmatchedReport(_ context.Context, r StatusReport) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unmatched = append(s.unmatched, r)
	return nil
}

func (s *memStore) CountByStatus(context.Context) (map[Status]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[Status]int{}
	for _, m := range s.msgs {
		out[m.Status]++
	}
	return out, nil
}

func (s *memStore) AddFragment(context.Context, string, Fragment) ([]Fragment, error) {
	return nil, nil
}
func (s *memStore) CompleteInbound(context.Context, *Message, string) error { return nil }
func (s *memStore) StaleFragments(context.Context, time.Time) (map[string][]Fragment, error) {
	return nil, nil
}

func (s *memStore) Sticky(_ context.Context, c string) (Sticky, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.sticky[c]
	if !ok {
		return Sticky{}, ErrNotFound
	}
	st.Moves = slices.Clone(st.Moves)
	return st, nil
}

func (s *memStore) SetSticky(_ context.Context, c string, st Sticky) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sticky[c] = st
	return nil
}

func (s *memStore) Budgets(context.Context) (map[string]BudgetUsage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]BudgetUsage{}
	for k, v := range s.budgets {
		out[k] = v
	}
	return out, nil
}

func (s *memStore) SaveBudget(_ context.Context, modem string, u BudgetUsage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.budgets[modem] = u
	return nil
}

func (s *memStore) OptedOut(_ context.Context, n string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.optouts[n], nil
}
func (s *memStore) AddOptOut(_ context.Context, o OptOut) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.optouts[o.Number] = true
	return nil
}
func (s *memStore) RemoveOptOut(_ context.Context, n string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.optouts, n)
	return nil
}
func (s *memStore) ListOptOuts(context.Context, string, int) ([]OptOut, error) { return nil, nil }
func (s *memStore) AppendEvent(_ context.Context, e Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	return nil
}

func (s *memStore) msg(t *testing.T, id string) *Message {
	t.Helper()
	m, err := s.GetMessage(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var _ Store = (*memStore)(nil)

// fakeDevice is a modem whose answers a test scripts.
type fakeDevice struct {
	name    string
	latency time.Duration

	mu     sync.Mutex
	status ModemStatus
	mr     int
	sends  []fakeSend
	answer func(n int, pdu []byte) error // nil = success; n counts sends from 0
}

type fakeSend struct {
	At   time.Time
	End  time.Time
	PDU  []byte
	MR   int
	Fail bool
}

func newFakeDevice(name string) *fakeDevice {
	return &fakeDevice{name: name, status: ModemStatus{State: ModemUp, Registration: RegHome, RSSI: 20}}
}

func (f *fakeDevice) Name() string { return f.name }
func (f *fakeDevice) Info() ModemInfo {
	return ModemInfo{Manufacturer: "fake", Model: "F1", Firmware: "1.0", IMEI: "35" + f.name}
}
func (f *fakeDevice) Status() ModemStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}
func (f *fakeDevice) setUsable(ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ok {
		f.status.State = ModemUp
	} else {
		f.status.State = ModemDown
	}
}
func (f *fakeDevice) SendPDU(ctx context.Context, pdu []byte) (int, error) {
	start := time.Now()
	if f.latency > 0 {
		t := time.NewTimer(f.latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, &SendError{Ambiguous: true, Err: ctx.Err()}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.sends)
	var err error
	if f.answer != nil {
		err = f.answer(n, pdu)
	}
	s := fakeSend{At: start, End: time.Now(), PDU: append([]byte(nil), pdu...), Fail: err != nil}
	if err == nil {
		f.mr = (f.mr + 1) % 256
		s.MR = f.mr
	}
	f.sends = append(f.sends, s)
	return s.MR, err
}
func (f *fakeDevice) sent() []fakeSend {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeSend
	for _, s := range f.sends {
		if !s.Fail {
			out = append(out, s)
		}
	}
	return out
}
func (f *fakeDevice) attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sends)
}

// recEmitter records events.
type recEmitter struct {
	mu     sync.Mutex
	events []Event
}

func (r *recEmitter) Emit(_ context.Context, e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recEmitter) count(t EventType) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Type == t {
			n++
		}
	}
	return n
}

func (r *recEmitter) find(t EventType, modem string) (Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Type == t && (modem == "" || e.Modem == modem) {
			return e, true
		}
	}
	return Event{}, false
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
