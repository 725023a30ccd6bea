package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/simgate/simgate/gateway"
)

// Compile-time checks that DB implements the gateway's store contracts.
var (
	_ gateway.Store        = (*DB)(nil)
	_ gateway.KeyStore     = (*DB)(nil)
	_ gateway.WebhookStore = (*DB)(nil)
)

// Options configure Open. The zero value is usable.
type Options struct {
	// Timeout is how long Open waits for the file lock held by another
	// process (or another DB in this process) before it fails with an error
	// wrapping gateway.ErrStoreLocked. Default 1s.
	Timeout time.Duration
	// NoSync skips fsync on commit. For benchmarks and bulk loads only:
	// with NoSync a crash can lose or corrupt committed data.
	NoSync bool
	// Logger receives open, migration and committer messages. nil discards.
	Logger *slog.Logger
	// Registerer receives simgate_store_errors_total. nil registers nothing.
	Registerer prometheus.Registerer
	// MaxBatchDelay is how long the group committer waits for more writers
	// to join a batch that is not full. Zero (the default) waits for nobody:
	// writers that arrive while a batch is being fsynced form the next batch,
	// which is what makes commits group under load without adding latency
	// when the store is idle.
	MaxBatchDelay time.Duration
	// ProbeInterval is how long a successful commit counts as proof that
	// the store takes writes (Ready); only when none is that recent does
	// Ready commit a probe of its own. Default 30s.
	ProbeInterval time.Duration
	// MinFree is the free space the store's file system must keep for
	// Ready to pass (default 64 MiB; negative: not checked). bbolt reuses
	// free pages inside its file, so small writes succeed for a while on a
	// full disk: the check sees it before a commit fails.
	MinFree int64
	// ReleaseInterval is how often, while writes go on, the committer gives
	// back the database pages mapped into memory (see ReleaseMapped), so that
	// the resident set does not grow with the file, and how long after the
	// last write it gives them back once more. Default 2s; negative never.
	ReleaseInterval time.Duration
}

// maxBatchOps bounds how many writes share one transaction.
const maxBatchOps = 1024

// DB is simgate's bbolt database. It implements gateway.Store,
// gateway.KeyStore and gateway.WebhookStore. All methods are safe for
// concurrent use.
type DB struct {
	bolt   *bbolt.DB
	path   string
	log    *slog.Logger
	delay  time.Duration
	errors *prometheus.CounterVec

	releaseEvery time.Duration

	writes chan *writeOp
	stop   chan struct{}
	wg     sync.WaitGroup

	closeMu sync.RWMutex // held for reading by writers while they enqueue
	closed  bool

	probeEvery time.Duration
	minFree    int64
	health     commitHealth
	probeMu    sync.Mutex // one Ready probe at a time; the others wait for its result

	// committer statistics (for benchmarks and debugging)
	batches, batchedOps atomic.Int64
	commitNanos         atomic.Int64
	// index keys read by ListMessages and ActiveMessages (tests check that
	// listings walk the selective index, not everything)
	scanned atomic.Int64
}

// allocSize is how much the file grows by at a time (bbolt.DB.AllocSize).
const allocSize = 4 << 20

// Open opens (creating if needed, mode 0600) the database at path, applies
// pending schema migrations in one transaction and starts the group
// committer. If another process holds the file, Open fails within
// opts.Timeout with an error wrapping gateway.ErrStoreLocked. A database
// written by a newer binary (a schema version this one does not know) is
// refused.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.ReleaseInterval == 0 {
		opts.ReleaseInterval = 2 * time.Second
	}
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = 30 * time.Second
	}
	if opts.MinFree == 0 {
		opts.MinFree = 64 << 20
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:      opts.Timeout,
		NoSync:       opts.NoSync,
		FreelistType: bbolt.FreelistMapType,
		// Map 1 GiB of address space up front (not memory: pages are
		// only touched as the file grows) so that writers rarely remap.
		InitialMmapSize: 1 << 30,
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("store: open %s: %w (waited %s)", path, gateway.ErrStoreLocked, opts.Timeout)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// The file grows by this much beyond what a commit needs (bbolt's
	// default, 16 MiB, is 170 bytes a message at 100,000 messages): a grow
	// is a truncate and an fsync, about one per 7,000 messages.
	bdb.AllocSize = allocSize
	// bbolt creates the file with the mode given, but an existing file keeps
	// its mode; tighten it (the database holds API key hashes and numbers).
	if err := os.Chmod(path, 0o600); err != nil {
		log.Warn("store: cannot set file mode", "path", path, "err", err)
	}
	from, to, err := migrate(bdb, log)
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if from != to {
		log.Info("store: schema migrated", "path", path, "from", from, "to", to)
	}
	db := &DB{
		bolt:         bdb,
		path:         path,
		log:          log,
		delay:        opts.MaxBatchDelay,
		releaseEvery: opts.ReleaseInterval,
		probeEvery:   opts.ProbeInterval,
		minFree:      opts.MinFree,
		errors:       newErrorCounter(opts.Registerer),
		writes:       make(chan *writeOp, maxBatchOps),
		stop:         make(chan struct{}),
	}
	db.wg.Add(1)
	go db.commitLoop()
	log.Debug("store: opened", "path", path, "schema", to)
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

// Close stops the committer after it has committed every write already
// queued, and closes the file. Calls after the first return nil.
func (db *DB) Close() error {
	db.closeMu.Lock()
	if db.closed {
		db.closeMu.Unlock()
		return nil
	}
	db.closed = true
	db.closeMu.Unlock()
	close(db.stop)
	db.wg.Wait()
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Backup writes a consistent copy of the database to w while the database
// stays online (a read transaction; writers are not blocked). The copy is a
// complete bbolt file that Open accepts. Writers are held up only if the
// file must grow past its current memory map while the copy is running
// (bbolt cannot remap under an open read transaction), so w should not be
// much slower than a disk; Close waits for a running Backup.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.view(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, db.fail("backup", fmt.Errorf("store: backup: %w", err))
	}
	return n, nil
}

// Writable commits a tiny write transaction, proving the file is writable
// and the disk accepts fsyncs. Every call fsyncs: readiness probes use
// Ready, which does not.
func (db *DB) Writable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bMeta).Put(keyProbe, encTime(time.Now()))
	})
	if err != nil {
		return db.fail("writable", fmt.Errorf("store: writable: %w", err))
	}
	return nil
}

// Ready reports whether the store takes writes, cheaply enough for a
// readiness probe called every second: the most recent commit must have
// succeeded (a failed one is reported until a later one succeeds), the
// file system must have MinFree bytes available (else an error wrapping
// gateway.ErrStorageFull), and a commit must have succeeded within
// ProbeInterval; only when none has does Ready commit a probe itself
// (concurrent callers share it). So traffic proves writability for free,
// and an idle gateway fsyncs at most once per ProbeInterval for readiness.
func (db *DB) Ready(ctx context.Context) error {
	if err := db.checkFree(); err != nil {
		return err
	}
	if err := db.health.recentError(); err != nil {
		return fmt.Errorf("store: last commit failed: %w", err)
	}
	if db.health.okWithin(db.probeEvery) {
		return nil
	}
	db.probeMu.Lock()
	defer db.probeMu.Unlock()
	if db.health.okWithin(db.probeEvery) { // another caller probed meanwhile
		return nil
	}
	return db.Writable(ctx)
}

// checkFree fails, wrapping gateway.ErrStorageFull, when the store's file
// system has less than MinFree bytes available.
func (db *DB) checkFree() error {
	if db.minFree < 0 {
		return nil
	}
	free, err := freeSpace(db.path)
	if err != nil || free < 0 {
		return nil // unknown: the commits will tell
	}
	if free < db.minFree {
		return fmt.Errorf("store: %w: %d MiB free, below the %d MiB kept in reserve", gateway.ErrStorageFull, free>>20, db.minFree>>20)
	}
	return nil
}

// commitHealth remembers the outcome of the committer's transactions.
type commitHealth struct {
	mu      sync.Mutex
	lastOK  time.Time
	lastErr error
	errAt   time.Time
}

func (h *commitHealth) record(err error) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.lastOK = now
		return
	}
	h.lastErr, h.errAt = err, now
}

// recentError is the error of the last commit, unless a later one succeeded.
func (h *commitHealth) recentError() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lastErr != nil && !h.lastOK.After(h.errAt) {
		return h.lastErr
	}
	return nil
}

func (h *commitHealth) okWithin(d time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.lastOK.IsZero() && time.Since(h.lastOK) < d && !h.errAt.After(h.lastOK)
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

// view runs fn in a read transaction.
func (db *DB) view(fn func(tx *bbolt.Tx) error) error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return gateway.ErrClosed
	}
	return db.bolt.View(fn)
}

// Group commit.
//
// Every write goes through one committer goroutine. It takes the first
// queued write, then everything else already queued (up to maxBatchOps, or
// waiting up to MaxBatchDelay for more), runs them in order in one bbolt
// transaction and commits it with one fsync. Writers that arrive during the
// fsync form the next batch.
//
// A write function that returns a *rejected error has written nothing
// (it checks before it writes); its caller gets the inner error and the rest
// of the batch commits. Any other error (a bbolt write failing, a panic)
// poisons the transaction: it is rolled back, that caller gets the error and
// the remaining writes are run again in a new transaction. So a write
// function may run more than once and must have no effect outside tx.

type writeOp struct {
	ctx  context.Context
	fn   func(tx *bbolt.Tx) error
	done chan error
}

// storageError marks a full disk or quota as gateway.ErrStorageFull.
func storageError(err error) error {
	if err != nil && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) && !errors.Is(err, gateway.ErrStorageFull) {
		return fmt.Errorf("%w: %w", gateway.ErrStorageFull, err)
	}
	return err
}

// rejected wraps an error returned by a write function that wrote nothing.
type rejected struct{ err error }

func (r *rejected) Error() string { return r.err.Error() }
func (r *rejected) Unwrap() error { return r.err }

// reject marks err as "nothing written": the batch may still commit.
func reject(err error) error { return &rejected{err: err} }

// update queues fn for the committer and waits until its batch is durable.
// It returns fn's error (unwrapped from rejected) or the commit's error.
func (db *DB) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	db.closeMu.RLock()
	if db.closed {
		db.closeMu.RUnlock()
		return gateway.ErrClosed
	}
	db.writes <- op
	db.closeMu.RUnlock()
	// Once queued, wait for the outcome even if ctx ends: the write is
	// either committed (nil) or not (an error); ctx is checked when the
	// write runs, before it writes anything.
	err := <-op.done
	var r *rejected
	if errors.As(err, &r) {
		return r.err
	}
	return err
}

func (db *DB) commitLoop() {
	defer db.wg.Done()
	batch := make([]*writeOp, 0, maxBatchOps)
	lastRelease := time.Now()
	release := func() {
		lastRelease = time.Now()
		if err := db.ReleaseMapped(); err != nil && !errors.Is(err, gateway.ErrClosed) {
			db.log.Warn("store: release mapped pages", "err", err)
		}
	}
	// idle fires releaseEvery after the last commit that was not followed
	// by a release: the pages the last writes touched are given back when
	// the writes stop too, not only while they go on.
	var idle <-chan time.Time
	for {
		select {
		case op := <-db.writes:
			batch = append(batch[:0], op)
		case <-idle:
			idle = nil
			release()
			continue
		case <-db.stop:
			// Close holds no writer any more (closed is set under the
			// lock), so what is queued now is all there will be.
			for {
				select {
				case op := <-db.writes:
					db.commit([]*writeOp{op})
				default:
					return
				}
			}
		}
		batch = db.gather(batch)
		db.commit(batch)
		clear(batch)
		switch {
		case db.releaseEvery <= 0:
		case time.Since(lastRelease) >= db.releaseEvery:
			idle = nil
			release()
		case idle == nil:
			idle = time.After(db.releaseEvery)
		}
	}
}

// gather appends queued writes to batch without waiting, then waits up to
// db.delay for more if the batch is not full.
func (db *DB) gather(batch []*writeOp) []*writeOp {
	for len(batch) < maxBatchOps {
		select {
		case op := <-db.writes:
			batch = append(batch, op)
			continue
		default:
		}
		break
	}
	if db.delay <= 0 || len(batch) >= maxBatchOps {
		return batch
	}
	t := time.NewTimer(db.delay)
	defer t.Stop()
	for len(batch) < maxBatchOps {
		select {
		case op := <-db.writes:
			batch = append(batch, op)
		case <-t.C:
			return batch
		}
	}
	return batch
}

// commit runs ops in one transaction, retrying without a poisoning op.
func (db *DB) commit(ops []*writeOp) {
	results := make([]error, len(ops))
	db.batches.Add(1)
	db.batchedOps.Add(int64(len(ops)))
	start := time.Now()
	defer func() { db.commitNanos.Add(int64(time.Since(start))) }()
	for len(ops) > 0 {
		bad := -1
		err := db.bolt.Update(func(tx *bbolt.Tx) error {
			for i, op := range ops {
				results[i] = nil
				if err := op.ctx.Err(); err != nil {
					results[i] = reject(err)
					continue
				}
				err := safeCall(op.fn, tx)
				var r *rejected
				if errors.As(err, &r) {
					results[i] = err
					continue
				}
				if err != nil {
					bad = i
					return err
				}
			}
			return nil
		})
		if bad < 0 {
			err = storageError(err)
			db.health.record(err)
		}
		if bad >= 0 {
			err = storageError(err)
			ops[bad].done <- err
			ops = append(ops[:bad:bad], ops[bad+1:]...)
			results = results[:len(ops)]
			db.log.Warn("store: write failed, retrying the rest of its batch", "err", err, "remaining", len(ops))
			continue
		}
		for i, op := range ops {
			if err != nil {
				op.done <- err
			} else {
				op.done <- results[i]
			}
		}
		return
	}
}

func safeCall(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: write panicked: %v", p)
		}
	}()
	return fn(tx)
}
