package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
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

// A node frozen inside a transaction holds its locks (here the event
// numbering lock every node's events wait for) only until the server ends
// its idle transaction: another node's event is stored meanwhile, and the
// frozen transaction is rolled back.
func TestIdleInTransactionReleasesLocks(t *testing.T) {
	dsn, schema := pgtest.Schema(t)
	other := openSchema(t, dsn, schema)
	frozen, err := Open(ctx, dsn, Options{Schema: schema, MaxConns: 2, IdleInTransaction: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer frozen.Close()
	tx, err := frozen.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // gives the connection back before Close, if the test fails
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, eventLockKey); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO events (id, at_ns, data, seq) VALUES ('frozen', 0, '{}', nextval('event_seq'))`); err != nil {
		t.Fatal(err)
	}
	// The holder does nothing more, as if SIGSTOPped.
	if err := other.AppendEvent(ctx, gateway.Event{Type: gateway.EventMessageSent, MessageID: "m1"}); err != nil {
		t.Fatalf("an event while another node holds the event lock idle: %v", err)
	}
	if err := tx.Commit(ctx); err == nil {
		t.Fatal("the frozen transaction committed after the server should have ended it")
	}
	evs, err := other.Events(ctx, "", 10)
	if err != nil || len(evs) != 1 || evs[0].MessageID != "m1" {
		t.Fatalf("events = %+v, %v; want only the other node's", evs, err)
	}
}
