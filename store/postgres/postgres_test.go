package postgres

import (
	"context"
	"testing"

	"github.com/simgate/simgate/store/postgres/pgtest"
	"github.com/simgate/simgate/store/storetest"
)

var ctx = context.Background()

// openTest opens a store in a new schema of the test server.
func openTest(t testing.TB) *DB {
	t.Helper()
	dsn, schema := pgtest.Schema(t)
	return openSchema(t, dsn, schema)
}

// openSchema opens the store in schema, closed when t ends.
func openSchema(t testing.TB, dsn, schema string) *DB {
	t.Helper()
	db, err := Open(ctx, dsn, Options{Schema: schema, MaxConns: 8})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestConformance runs the store conformance suite (store/storetest) on PostgreSQL.
func TestConformance(t *testing.T) {
	pgtest.Require(t)
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) storetest.Backend { return openTest(t) },
		Reopen: func(t *testing.T, b storetest.Backend) storetest.Backend {
			db := b.(*DB)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			return openSchema(t, pgtest.DSN(), db.Schema())
		},
	})
}
