// Package pgtest gives tests a PostgreSQL server to run against: the DSN
// from SIMGATE_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable) and a new schema
// per test, dropped when the test ends, so that packages and tests can run
// in parallel on one server and leave nothing behind.
//
// If the server does not answer, tests that ask for it are skipped with a
// message saying how to run them, except when CI=true: there a missing
// server fails the test (CI must not pass by skipping). Safe for
// concurrent use.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultDSN is the server the tests use unless SIMGATE_TEST_POSTGRES names another.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// DSN returns the test server's connection string.
func DSN() string {
	if s := os.Getenv("SIMGATE_TEST_POSTGRES"); s != "" {
		return s
	}
	return DefaultDSN
}

var (
	probeOnce sync.Once
	probeErr  error
)

// Available reports whether the test server answers (checked once per process).
func Available() error {
	probeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, DSN())
		if err != nil {
			probeErr = err
			return
		}
		defer conn.Close(ctx)
		probeErr = conn.Ping(ctx)
	})
	return probeErr
}

// Require skips t (fails it when CI=true) if the test server does not answer.
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		msg := fmt.Sprintf("PostgreSQL not reachable (%v); to run these tests start a server and set "+
			"SIMGATE_TEST_POSTGRES (default %s), or run bash .ci/run, which starts one", err, DefaultDSN)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// Schema returns the test server's DSN and the name of a schema no one
// uses yet; the schema (created by whoever opens a store in it) is dropped
// with everything in it when t ends.
func Schema(t testing.TB) (dsn, schema string) {
	t.Helper()
	Require(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = "simgate_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() { Drop(t, schema) })
	return DSN(), schema
}

// Drop removes schema and everything in it.
func Drop(t testing.TB, schema string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, DSN())
	if err != nil {
		t.Errorf("pgtest: drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("pgtest: drop schema %s: %v", schema, err)
	}
}
