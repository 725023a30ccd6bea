package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
)

// Compile-time checks that DB implements the gateway's store contracts.
var (
	_ gateway.Store        = (*DB)(nil)
	_ gateway.KeyStore     = (*DB)(nil)
	_ gateway.WebhookStore = (*DB)(nil)
	_ account.Store        = (*DB)(nil)
)

// DefaultSchema is the schema simgate's tables live in unless Options.Schema says otherwise.
const DefaultSchema = "simgate"

// Options configure Open. The zero value is usable.
type Options struct {
	// Schema holds simgate's tables (created if missing). Default "simgate".
	Schema string
	// MaxConns bounds the connection pool. Default 16.
	MaxConns int32
	// ConnectTimeout bounds connecting and migrating in Open. Default 10s.
	ConnectTimeout time.Duration
	// WriteTimeout bounds one write transaction once it has started. A
	// write runs to its end even if the caller's context ends meanwhile
	// (as in the bbolt store: the outcome of a started write is always
	// known), but never longer than this. Default 30s.
	WriteTimeout time.Duration
	// IdleInTransaction, when set, has the server end a session of this
	// pool that stays idle inside a transaction longer than this
	// (idle_in_transaction_session_timeout), rolling it back: a node
	// frozen or cut off in the middle of a transaction then holds its row
	// and advisory locks (the event numbering lock, a message the reaper
	// must take over) no longer than this, instead of stalling every node
	// until it wakes. The node sees its transaction fail. 0: the server's
	// setting (off by default).
	IdleInTransaction time.Duration
	// Logger receives open and migration messages. nil discards.
	Logger *slog.Logger
	// Registerer receives simgate_store_errors_total. nil registers nothing.
	Registerer prometheus.Registerer
	// Exclusive makes Open take a session advisory lock on the schema and
	// hold it until Close, so that a second daemon on the same schema is
	// refused (ErrStoreLocked) instead of sending the same queue twice:
	// the daemon's queue is still per node, and several nodes on one
	// database are not supported yet. The CLI's short-lived commands open
	// without it.
	Exclusive bool
}

// DB is simgate's PostgreSQL store. All methods are safe for concurrent
// use, also from several processes sharing one database.
type DB struct {
	pool         *pgxpool.Pool
	schema       string
	log          *slog.Logger
	errors       *prometheus.CounterVec
	writeTimeout time.Duration

	closeMu sync.RWMutex // held for reading by every call while it runs
	closed  bool
	lock    *pgxpool.Conn // holds the Exclusive lock; nil without it

	readyMu  sync.Mutex // one Ready probe at a time
	readyAt  time.Time
	readyErr error
}

// Open connects to the database named by dsn (a libpq connection string
// or postgres:// URL), applies pending schema migrations in one transaction
// under an advisory lock, and returns the store. A database migrated by a
// newer binary is refused.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	if opts.Schema == "" {
		opts.Schema = DefaultSchema
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 16
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included: do not wrap it.
		return nil, errors.New("postgres: cannot parse the connection string (DSN)")
	}
	cfg.MaxConns = opts.MaxConns
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	if opts.IdleInTransaction > 0 {
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = fmt.Sprint(max(opts.IdleInTransaction.Milliseconds(), 1))
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "simgate"
	}
	octx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	// Migrate on a connection of its own, before the pool's connections
	// (whose search_path names the schema) are used.
	conn, err := pgx.ConnectConfig(octx, cfg.ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("postgres: connect %s: %w", where, err)
	}
	from, to, err := migrate(octx, conn, opts.Schema)
	_ = conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("postgres: %s schema %s: %w", where, opts.Schema, err)
	}
	if from != to {
		log.Info("postgres: schema migrated", "database", where, "schema", opts.Schema, "from", from, "to", to)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: pool %s: %w", where, err)
	}
	db := &DB{
		pool:         pool,
		schema:       opts.Schema,
		log:          log,
		errors:       newErrorCounter(opts.Registerer),
		writeTimeout: opts.WriteTimeout,
	}
	if opts.Exclusive {
		if err := db.lockSchema(octx, where); err != nil {
			pool.Close()
			return nil, err
		}
	}
	log.Debug("postgres: opened", "database", where, "schema", opts.Schema, "version", to)
	return db, nil
}

func newErrorCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "simgate_store_errors_total",
		Help: "Store operations that failed for a reason other than not found / already exists.",
	}, []string{"op"})
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
	}
	return c
}

// Schema returns the schema the store's tables are in.
func (db *DB) Schema() string { return db.schema }

// Pool returns the connection pool (for the queue and for tests).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Close waits for running calls and closes the pool. Calls after the first
// return nil; every other method then returns an error wrapping
// gateway.ErrClosed.
func (db *DB) Close() error {
	db.closeMu.Lock()
	defer db.closeMu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	if db.lock != nil {
		// Closing the session releases its advisory lock.
		_ = db.lock.Hijack().Close(context.Background())
		db.lock = nil
	}
	db.pool.Close()
	return nil
}

// exclusiveLockKey is the first key of the session advisory lock a daemon
// holds on its schema (Options.Exclusive); the second is a hash of the schema.
const exclusiveLockKey = 0x51_6e_6f_64 // "Qnod"

// lockSchema takes the Exclusive lock on a connection kept for it.
func (db *DB) lockSchema(ctx context.Context, where string) error {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", where, err)
	}
	var ok bool
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, exclusiveLockKey, db.schema).Scan(&ok); err != nil {
		c.Release()
		return fmt.Errorf("postgres: %s: lock schema %s: %w", where, db.schema, err)
	}
	if !ok {
		c.Release()
		return fmt.Errorf("postgres: %s schema %s is used by another simgate daemon (several nodes on one database are not supported yet): %w",
			where, db.schema, gateway.ErrStoreLocked)
	}
	db.lock = c
	return nil
}

// Writable commits a tiny write transaction, proving the database accepts
// writes (for readiness probes).
func (db *DB) Writable(ctx context.Context) error {
	return db.fail("writable", db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO probe (id, at) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET at = excluded.at`)
		return err
	}))
}

// fail counts err under op unless it is an expected outcome, and returns it.
func (db *DB) fail(op string, err error) error {
	if err == nil || errors.Is(err, gateway.ErrNotFound) || errors.Is(err, gateway.ErrExists) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ve *gateway.ValidationError
	if errors.As(err, &ve) {
		return err
	}
	db.errors.WithLabelValues(op).Inc()
	return err
}

// enter holds off Close while a call runs; it fails with ErrClosed after
// Close and with ctx's error if ctx has ended.
func (db *DB) enter(ctx context.Context) (leave func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	db.closeMu.RLock()
	if db.closed {
		db.closeMu.RUnlock()
		return nil, gateway.ErrClosed
	}
	return db.closeMu.RUnlock, nil
}

// read runs fn with the pool (reads outside a transaction, or in one fn starts).
func (db *DB) read(ctx context.Context, fn func(ctx context.Context, q *pgxpool.Pool) error) error {
	leave, err := db.enter(ctx)
	if err != nil {
		return err
	}
	defer leave()
	return mapErr(fn(ctx, db.pool))
}

// errRejected wraps an error a write function returns after deciding to
// write nothing; write rolls back and returns the inner error.
type rejected struct{ err error }

func (r *rejected) Error() string { return r.err.Error() }
func (r *rejected) Unwrap() error { return r.err }

// reject marks err as the write's own decision (not a database failure).
func reject(err error) error { return &rejected{err: err} }

// write runs fn in one read-committed transaction and commits it. ctx is
// checked before it starts; once started, the transaction runs to commit
// or rollback even if ctx ends (bounded by Options.WriteTimeout), so that
// a caller told nil knows the write is committed and one told an error
// knows it is not (but for a lost connection during COMMIT, which the
// error then says). A transaction that fails with a serialization failure
// or deadlock is retried (fn may run more than once).
func (db *DB) write(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return db.writeTx(ctx, pgx.TxOptions{}, fn)
}

// writeTx is write with the transaction begun by opts.
func (db *DB) writeTx(ctx context.Context, opts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) error) error {
	leave, err := db.enter(ctx)
	if err != nil {
		return err
	}
	defer leave()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), db.writeTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		err = pgx.BeginTxFunc(wctx, db.pool, opts, func(tx pgx.Tx) error { return fn(wctx, tx) })
		if attempt < 5 && retryable(err) {
			continue
		}
		var r *rejected
		if errors.As(err, &r) {
			return r.err
		}
		return mapErr(err)
	}
}

// retryable reports whether err is a serialization failure or deadlock.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// mapErr turns a unique violation into gateway.ErrExists and a closed pool
// into gateway.ErrClosed.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("postgres: %s: %w", pe.ConstraintName, gateway.ErrExists)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %w", gateway.ErrNotFound)
	}
	return err
}

// isUnique reports whether err is a unique violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// isExists reports whether err wraps gateway.ErrExists.
func isExists(err error) bool { return errors.Is(err, gateway.ErrExists) }

// DropSchema deletes schema and everything in it (for throwaway installs:
// the demo, tests). It is not an error if the schema does not exist.
func DropSchema(ctx context.Context, dsn, schema string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("postgres: drop schema %s: %w", schema, err)
	}
	return nil
}

// readyEvery is how long a successful Writable probe answers Ready.
const readyEvery = time.Second

// Ready reports whether the database takes writes, cheaply enough for a
// readiness probe called every second: it commits a probe (Writable) at
// most once per readyEvery and answers with that probe's result in
// between; concurrent callers share one probe.
func (db *DB) Ready(ctx context.Context) error {
	db.readyMu.Lock()
	defer db.readyMu.Unlock()
	if !db.readyAt.IsZero() && time.Since(db.readyAt) < readyEvery {
		return db.readyErr
	}
	db.readyErr = db.Writable(ctx)
	db.readyAt = time.Now()
	return db.readyErr
}
