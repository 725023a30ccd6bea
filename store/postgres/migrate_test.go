package postgres

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store/postgres/pgtest"
	"github.com/simgate/simgate/store/storetest"
)

// Several nodes starting at once on an empty schema: one migrates, the
// others wait for its advisory lock and find nothing to do.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn, schema := pgtest.Schema(t)
	const nodes = 4
	dbs := make([]*DB, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = Open(ctx, dsn, Options{Schema: schema, MaxConns: 2})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { _ = dbs[i].Close() })
	}
	var versions []int
	rows, err := dbs[0].Pool().Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != SchemaVersion() || versions[0] != 1 {
		t.Errorf("schema_migrations = %v, want 1..%d once each", versions, SchemaVersion())
	}
	// All nodes work on the same data.
	m := storetest.NewMessage(1)
	storetest.MustCreate(t, dbs[1], m)
	if _, err := dbs[3].GetMessage(ctx, m.ID); err != nil {
		t.Errorf("node 3 does not see node 1's message: %v", err)
	}
}

func TestFutureSchemaRefused(t *testing.T) {
	dsn, schema := pgtest.Schema(t)
	db := openSchema(t, dsn, schema)
	if _, err := db.Pool().Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, 'from the future')`, SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, dsn, Options{Schema: schema})
	if !errors.Is(err, errFutureSchema) {
		t.Fatalf("Open of a newer schema: %v, want errFutureSchema", err)
	}
}

// A failing migration leaves nothing behind (one transaction).
func TestFailedMigrationRollsBack(t *testing.T) {
	dsn, schema := pgtest.Schema(t)
	// Make migration 1 fail half way: a table it creates exists already.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	id := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %s; CREATE TABLE %s.events (x int)`, id, id)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dsn, Options{Schema: schema}); err == nil || !strings.Contains(err.Error(), "0001_init.sql") {
		t.Fatalf("Open: %v, want the failing migration named", err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d tables left in the schema, want only the one made before", n)
	}
}

// Idempotency keys are unique across nodes: concurrent creates through
// separate pools with shared keys store one message per key.
func TestIdempotencyAcrossNodes(t *testing.T) {
	dsn, schema := pgtest.Schema(t)
	a, b := openSchema(t, dsn, schema), openSchema(t, dsn, schema)
	const n = 100
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := a
			if i%2 == 1 {
				node = b
			}
			m := storetest.NewMessage(i)
			m.IdempotencyKey = fmt.Sprintf("k%d", i/2) // one per node
			errs[i] = node.CreateMessage(ctx, m)
		}()
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, gateway.ErrExists):
			t.Errorf("unexpected: %v", err)
		}
	}
	if created != n/2 {
		t.Errorf("%d created, want %d", created, n/2)
	}
}

// A connection string that does not parse is refused without echoing it
// (it may hold a password).
func TestBadDSNNotEchoed(t *testing.T) {
	_, err := Open(ctx, "postgres://u:s3cret@[::1", Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open with a bad DSN: %v", err)
	}
}

// Concurrent updates of one message from two nodes are all applied (the
// optimistic write retries instead of losing one).
func TestConcurrentUpdatesAcrossNodes(t *testing.T) {
	dsn, schema := pgtest.Schema(t)
	a, b := openSchema(t, dsn, schema), openSchema(t, dsn, schema)
	m := storetest.NewMessage(1)
	storetest.MustCreate(t, a, m)
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := a
			if i%2 == 1 {
				node = b
			}
			if _, err := node.UpdateMessage(ctx, m.ID, func(m *gateway.Message) error { m.Parts[0].Attempts++; return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := b.GetMessage(ctx, m.ID)
	if err != nil || got.Parts[0].Attempts != n {
		t.Errorf("attempts = %d, %v; want %d", got.Parts[0].Attempts, err, n)
	}
}

// A second daemon on the same schema is refused while the first runs, and
// may start once it has stopped; CLI opens (not exclusive) are not refused.
func TestExclusiveRefusesASecondDaemon(t *testing.T) {
	dsn, schema := pgtest.Schema(t)
	first, err := Open(ctx, dsn, Options{Schema: schema, Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dsn, Options{Schema: schema, Exclusive: true}); !errors.Is(err, gateway.ErrStoreLocked) {
		t.Fatalf("second exclusive Open: %v, want ErrStoreLocked", err)
	}
	cli := openSchema(t, dsn, schema)
	if err := cli.Writable(ctx); err != nil {
		t.Errorf("a CLI open beside the daemon: %v", err)
	}
	other, err := Open(ctx, dsn, Options{Schema: schema + "_other", Exclusive: true})
	if err != nil {
		t.Errorf("exclusive Open of another schema: %v", err)
	} else {
		_ = other.Close()
		pgtest.Drop(t, schema+"_other")
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(ctx, dsn, Options{Schema: schema, Exclusive: true})
	if err != nil {
		t.Fatalf("exclusive Open after the first closed: %v", err)
	}
	_ = again.Close()
}
