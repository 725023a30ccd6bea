package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
	"github.com/simgate/simgate/gateway/campaign"
	"github.com/simgate/simgate/store"
	"github.com/simgate/simgate/store/postgres"
)

// Store drivers.
const (
	driverBbolt    = "bbolt"
	driverPostgres = "postgres"
)

// PostgresConfig is store.postgres: the shared database of driver postgres.
// The connection string (it may hold a password) comes from the
// environment or a file, never from this file.
type PostgresConfig struct {
	// DSNEnv names the environment variable holding the connection string
	// (postgres://user@host:5432/db?sslmode=... or key=value form).
	DSNEnv string `yaml:"dsn_env"`
	// DSNFile is a file (mode 0600 or stricter) holding it.
	DSNFile string `yaml:"dsn_file"`
	// Schema holds simgate's tables (created at start). Default "simgate".
	Schema string `yaml:"schema"`
	// MaxConns bounds this node's connection pool. Default 16.
	MaxConns int `yaml:"max_conns"`
	// Node names this daemon among several sharing the database. Set, the
	// daemon uses the database's shared queue (store/postgres.Queue) and
	// other nodes may run beside it; unset, it is the only node and a second
	// daemon on the schema is refused.
	Node string `yaml:"node"`
	// Lease is how long a node's lease, and each claim it takes, last
	// without renewal (with node set): a node renews its lease every third
	// of it, and the other nodes reap a node silent for a whole lease (its
	// submitting parts become unknown, its queued work goes to their
	// modems). Default 30s.
	Lease Duration `yaml:"lease"`

	dsn string // resolved from DSNEnv or DSNFile
}

// The bounds of store.postgres.lease: renewed every third of it, a lease
// shorter than a second lapses under a passing stall; one longer than ten
// minutes leaves a dead node's contacts waiting that long.
const (
	defaultLease = 30 * time.Second
	minLease     = time.Second
	maxLease     = 10 * time.Minute
)

var schemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// validate checks store.*, naming the fields.
func (s StoreConfig) validate(bad func(field, format string, args ...any)) {
	switch s.Driver {
	case driverBbolt:
		if s.Path == "" {
			bad("store.path", "required")
		}
	case driverPostgres:
		p := s.Postgres
		if countSet(p.DSNEnv, p.DSNFile) != 1 {
			bad("store.postgres", "set one of dsn_env and dsn_file (the connection string is a secret: never in this file)")
		}
		if p.Schema != "" && !schemaRE.MatchString(p.Schema) {
			bad("store.postgres.schema", "%q is not a lower-case SQL identifier (letters, digits, _)", p.Schema)
		}
		if p.Node != "" && !nameRE.MatchString(p.Node) {
			bad("store.postgres.node", "%q is not a name (letters, digits, . _ -; up to 63)", p.Node)
		}
		if p.Lease != 0 && (p.Lease.D() < minLease || p.Lease.D() > maxLease) {
			bad("store.postgres.lease", "%s is not %s to %s", p.Lease, minLease, maxLease)
		}
		if p.MaxConns < 0 || p.MaxConns > 1000 {
			bad("store.postgres.max_conns", "must be 0 (default 16) to 1000")
		}
	default:
		bad("store.driver", "%q is not one of bbolt, postgres", s.Driver)
	}
	if s.OpenTimeout < 0 {
		bad("store.open_timeout", "must not be negative")
	}
}

// idleInTransaction is how long the server lets a daemon node's session
// sit idle inside a transaction before it ends it (0 for the CLI and a
// single daemon): a third of the lease, at most 5 s.
func (p PostgresConfig) idleInTransaction(daemon bool) time.Duration {
	if !daemon || p.Node == "" {
		return 0
	}
	lease := p.Lease.D()
	if lease <= 0 {
		lease = defaultLease
	}
	return min(lease/3, 5*time.Second)
}

// resolve reads the connection string of driver postgres.
func (s *StoreConfig) resolve(getenv func(string) string, dir string) error {
	if s.Driver != driverPostgres || countSet(s.Postgres.DSNEnv, s.Postgres.DSNFile) != 1 {
		return nil // validate reports a bad combination
	}
	v, err := secret("store.postgres.dsn", s.Postgres.DSNEnv, s.Postgres.DSNFile, getenv, dir)
	s.Postgres.dsn = v
	return err
}

// storeDB is what the daemon and the CLI need of a store, whichever the driver.
type storeDB interface {
	gateway.Store
	api.KeyStore
	gateway.WebhookStore
	gateway.RetentionStore
	account.Store
	gateway.EventOutbox
	campaign.Store
	// Writable commits a probe; Ready answers a readiness probe cheaply.
	Writable(ctx context.Context) error
	Ready(ctx context.Context) error
	Close() error
}

// backuper returns db's online backup, or nil when its driver has none
// (PostgreSQL is backed up with pg_dump).
func backuper(db storeDB) api.Backuper {
	if b, ok := db.(*store.DB); ok {
		return b
	}
	return nil
}

var (
	_ storeDB = (*store.DB)(nil)
	_ storeDB = (*postgres.DB)(nil)
)

// openStore opens the configured store for a CLI command.
func openStore(ctx context.Context, s StoreConfig, log *slog.Logger, reg prometheus.Registerer) (storeDB, error) {
	return openStoreAs(ctx, s, log, reg, false)
}

// openStoreAs opens the configured store; a daemon's open of a PostgreSQL
// store is exclusive (a second daemon on the same schema is refused: the
// queue is still per node).
func openStoreAs(ctx context.Context, s StoreConfig, log *slog.Logger, reg prometheus.Registerer, daemon bool) (storeDB, error) {
	if s.Driver == driverPostgres {
		db, err := postgres.Open(ctx, s.Postgres.dsn, postgres.Options{
			Schema:         s.Postgres.Schema,
			MaxConns:       int32(s.Postgres.MaxConns),
			ConnectTimeout: max(s.OpenTimeout.D(), 0),
			Logger:         log,
			Registerer:     reg,
			Exclusive:      daemon && s.Postgres.Node == "",
			// A node of several: one frozen mid-transaction must not hold
			// the others' locks for longer than a third of its lease.
			IdleInTransaction: s.Postgres.idleInTransaction(daemon),
		})
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	db, err := store.Open(s.Path, store.Options{Timeout: s.OpenTimeout.D(), Logger: log, Registerer: reg})
	if errors.Is(err, gateway.ErrStoreLocked) {
		return nil, fmt.Errorf("%w (is another simgate running on %s?)", err, s.Path)
	}
	return db, err
}

// openSharedQueue returns the queue the nodes of a PostgreSQL store share
// when store.postgres.node names this one, else nil (the dispatcher then
// keeps its LocalQueue). The messages this node's reaper makes unknown (a
// dead node's submitting parts) are told to em as message.unknown, as a
// node's own restart tells them.
func openSharedQueue(ctx context.Context, s StoreConfig, db storeDB, em gateway.Emitter, log *slog.Logger) (*postgres.Queue, error) {
	pdb, ok := db.(*postgres.DB)
	if !ok || s.Postgres.Node == "" {
		return nil, nil
	}
	return pdb.NewQueue(ctx, postgres.QueueConfig{
		Node:     s.Postgres.Node,
		LeaseTTL: s.Postgres.Lease.D(),
		Logger:   log,
		OnUnknown: func(ms []*gateway.Message) {
			log.Warn("queue: a dead node's parts were being submitted; their fate is unknown", "messages", len(ms))
			for _, e := range gateway.UnknownEvents(ms, "its node stopped renewing its lease while a part was being submitted") {
				em.Emit(context.Background(), e)
			}
		},
	})
}

// describe names the store for messages: its file, or its PostgreSQL schema.
func (s StoreConfig) describe() string {
	if s.Driver == driverPostgres {
		schema := s.Postgres.Schema
		if schema == "" {
			schema = postgres.DefaultSchema
		}
		return "the PostgreSQL schema " + schema
	}
	return s.Path
}
