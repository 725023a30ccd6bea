package gateway_test

import (
	"path/filepath"
	"testing"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/gatewaytest"
	"github.com/simgate/simgate/gateway/queuetest"
	"github.com/simgate/simgate/store"
)

// localStore is what a LocalQueue and the conformance suite need of a store.
type localStore interface {
	gateway.QueueStore
	queuetest.Store
}

func localHarness(open func(t *testing.T) localStore) queuetest.Harness {
	newQueue := func(st localStore, f *queuetest.Fleet) *gateway.LocalQueue {
		return gateway.NewLocalQueue(st, f, gateway.LocalQueueConfig{Now: f.Now})
	}
	return queuetest.Harness{
		Open: func(t *testing.T, f *queuetest.Fleet) *queuetest.Backend {
			st := open(t)
			return &queuetest.Backend{Queue: newQueue(st, f), Store: st}
		},
		Restart: func(t *testing.T, f *queuetest.Fleet, b *queuetest.Backend) *queuetest.Backend {
			st := b.Store.(localStore)
			return &queuetest.Backend{Queue: newQueue(st, f), Store: st}
		},
	}
}

// TestLocalQueueConformance runs the queue conformance suite
// (gateway/queuetest) on a LocalQueue over the in-memory test store and
// over bbolt.
func TestLocalQueueConformance(t *testing.T) {
	t.Run("memstore", func(t *testing.T) {
		queuetest.Run(t, localHarness(func(*testing.T) localStore { return gatewaytest.NewMemStore() }))
	})
	t.Run("bbolt", func(t *testing.T) {
		queuetest.Run(t, localHarness(func(t *testing.T) localStore {
			db, err := store.Open(filepath.Join(t.TempDir(), "simgate.db"), store.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}))
	})
}
