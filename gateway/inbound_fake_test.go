package gateway_test

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/simgate/simgate/gateway"
)

// inbMemStore is an in-memory gateway.Store for the inbound tests: just
// enough of the contract (messages, fragments, opt-outs, events) with the
// documented semantics.
type inbMemStore struct {
	mu      sync.Mutex
	msgs    map[string]*gateway.Message
	frags   map[string]map[int]gateway.Fragment
	optouts map[string]gateway.OptOut
	events  []gateway.Event
}

var _ gateway.Store = (*inbMemStore)(nil)

func newInbMemStore() *inbMemStore {
	return &inbMemStore{
		msgs:    map[string]*gateway.Message{},
		frags:   map[string]map[int]gateway.Fragment{},
		optouts: map[string]gateway.OptOut{},
	}
}

var errInbNotImpl = errors.New("not implemented in the inbound test store")

func (s *inbMemStore) CreateMessage(ctx context.Context, m *gateway.Message) error {
	return errInbNotImpl
}

func (s *inbMemStore) GetMessage(ctx context.Context, id string) (*gateway.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgs[id]
	if !ok {
		return nil, gateway.ErrNotFound
	}
	return m.Clone(), nil
}

func (s *inbMemStore) MessageByIdempotencyKey(ctx context.Context, key string) (*gateway.Message, error) {
	return nil, gateway.ErrNotFound
}

func (s *inbMemStore) UpdateMessage(ctx context.Context, id string, fn func(*gateway.Message) error) (*gateway.Message, error) {
	return nil, errInbNotImpl
}

func (s *inbMemStore) ListMessages(ctx context.Context, f gateway.MessageFilter) (gateway.MessagePage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*gateway.Message
	for _, m := range s.msgs {
		switch {
		case f.Direction != "" && m.Direction != f.Direction,
			f.Contact != "" && m.Contact != f.Contact,
			f.Modem != "" && m.Modem != f.Modem,
			!f.Since.IsZero() && m.CreatedAt.Before(f.Since),
			!f.Until.IsZero() && !m.CreatedAt.Before(f.Until):
			continue
		}
		out = append(out, m.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return gateway.MessagePage{Messages: out}, nil
}

func (s *inbMemStore) ActiveMessages(ctx context.Context, fn func(*gateway.Message) error) error {
	return nil
}

func (s *inbMemStore) PartByMR(ctx context.Context, modem string, mr int, since time.Time) (string, int, error) {
	return "", 0, gateway.ErrNotFound
}

func (s *inbMemStore) SaveUnmatchedReport(ctx context.Context, r gateway.StatusReport) error {
	return errInbNotImpl
}

func (s *inbMemStore) CountByStatus(ctx context.Context) (map[gateway.Status]int, error) {
	return nil, errInbNotImpl
}

func (s *inbMemStore) AddFragment(ctx context.Context, key string, f gateway.Fragment) ([]gateway.Fragment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.frags[key]
	if set == nil {
		set = map[int]gateway.Fragment{}
		s.frags[key] = set
	}
	if _, ok := set[f.Seq]; !ok {
		f.TPDU = append([]byte(nil), f.TPDU...)
		set[f.Seq] = f
	}
	return inbSorted(set), nil
}

func inbSorted(set map[int]gateway.Fragment) []gateway.Fragment {
	out := make([]gateway.Fragment, 0, len(set))
	for _, f := range set {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

func (s *inbMemStore) CompleteInbound(ctx context.Context, msg *gateway.Message, key string) error {
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

func (s *inbMemStore) StaleFragments(ctx context.Context, before time.Time) (map[string][]gateway.Fragment, error) {
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
			out[k] = inbSorted(set)
		}
	}
	return out, nil
}

func (s *inbMemStore) Sticky(ctx context.Context, contact string) (gateway.Sticky, error) {
	return gateway.Sticky{}, gateway.ErrNotFound
}

func (s *inbMemStore) SetSticky(ctx context.Context, contact string, st gateway.Sticky) error {
	return errInbNotImpl
}

func (s *inbMemStore) Budgets(ctx context.Context) (map[string]gateway.BudgetUsage, error) {
	return nil, nil
}

func (s *inbMemStore) SaveBudget(ctx context.Context, modem string, u gateway.BudgetUsage) error {
	return errInbNotImpl
}

func (s *inbMemStore) OptedOut(ctx context.Context, number string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.optouts[number]
	return ok, nil
}

func (s *inbMemStore) AddOptOut(ctx context.Context, o gateway.OptOut) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.optouts[o.Number] = o
	return nil
}

func (s *inbMemStore) RemoveOptOut(ctx context.Context, number string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.optouts[number]; !ok {
		return gateway.ErrNotFound
	}
	delete(s.optouts, number)
	return nil
}

func (s *inbMemStore) ListOptOuts(ctx context.Context, after string, limit int) ([]gateway.OptOut, error) {
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

func (s *inbMemStore) AppendEvent(ctx context.Context, e gateway.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	return nil
}
