package postgres

import (
	"testing"

	"github.com/simgate/simgate/gateway/queuetest"
	"github.com/simgate/simgate/store/postgres/pgtest"
)

// TestQueueConformance runs the queue conformance suite (gateway/queuetest),
// which the LocalQueue passes too, on the shared queue: one node, its
// fleet's modems registered as the node's.
func TestQueueConformance(t *testing.T) {
	pgtest.Require(t)
	newQueue := func(t *testing.T, db *DB, f *queuetest.Fleet) *Queue {
		q, err := db.NewQueue(ctx, QueueConfig{Node: "n1", Now: f.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = q.Close() })
		for _, m := range f.Modems() {
			if err := q.register(ctx, m, f.Request(m).Groups); err != nil {
				t.Fatal(err)
			}
		}
		return q
	}
	queuetest.Run(t, queuetest.Harness{
		Open: func(t *testing.T, f *queuetest.Fleet) *queuetest.Backend {
			dsn, schema := pgtest.Schema(t)
			db := openSchema(t, dsn, schema)
			return &queuetest.Backend{Queue: newQueue(t, db, f), Store: db}
		},
		Restart: func(t *testing.T, f *queuetest.Fleet, b *queuetest.Backend) *queuetest.Backend {
			_ = b.Queue.(*Queue).Close()
			db := b.Store.(*DB)
			return &queuetest.Backend{Queue: newQueue(t, db, f), Store: db}
		},
	})
}
