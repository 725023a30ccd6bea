package gatewaytest

import (
	"context"

	"github.com/simgate/simgate/gateway"
)

// HoldWalk is a DispatcherStore whose queue walk (QueueEntries, which a
// Dispatcher's Run reads its queue through at start-up) stops after At
// entries have been handed on, closing Paused, until Release is closed or
// the walk's context ends: the loading window made observable without a
// clock. Set DispatcherStore before the walk begins.
type HoldWalk struct {
	gateway.DispatcherStore
	At      int
	Paused  chan struct{}
	Release chan struct{}
}

// NewHoldWalk holds st's walk after at entries.
func NewHoldWalk(st gateway.DispatcherStore, at int) *HoldWalk {
	return &HoldWalk{DispatcherStore: st, At: at, Paused: make(chan struct{}), Release: make(chan struct{})}
}

// QueueEntries is the wrapped store's, held after At entries.
func (s *HoldWalk) QueueEntries(ctx context.Context, fn func(gateway.QueueEntry) error) error {
	n := 0
	return s.DispatcherStore.QueueEntries(ctx, func(e gateway.QueueEntry) error {
		if err := fn(e); err != nil {
			return err
		}
		if n++; n == s.At {
			close(s.Paused)
			select {
			case <-s.Release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
}
