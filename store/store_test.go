package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store/storetest"
)

var ctx = context.Background()

func openTest(t testing.TB, path string) *DB {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "simgate.db")
	}
	db, err := Open(path, Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// The suite's helpers, under the names this package's own tests use.
var (
	t0         = storetest.T0
	newMsg     = storetest.NewMessage
	mustCreate = func(t testing.TB, db *DB, m *gateway.Message) { t.Helper(); storetest.MustCreate(t, db, m) }
	listAll    = func(t testing.TB, db *DB, f gateway.MessageFilter) []string {
		t.Helper()
		return storetest.ListAll(t, db, f)
	}
)

// TestConformance runs the store conformance suite (store/storetest) on bbolt.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) storetest.Backend {
			return openTest(t, "")
		},
		Reopen: func(t *testing.T, b storetest.Backend) storetest.Backend {
			db := b.(*DB)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			return openTest(t, db.Path())
		},
	})
}

func TestOpenSecondTimeLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simgate.db")
	db := openTest(t, path)
	_ = db
	_, err := Open(path, Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, gateway.ErrStoreLocked) {
		t.Fatalf("second Open in the same process: got %v, want ErrStoreLocked", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("file mode %o, want 600", mode)
	}
}

// After Close, failures are counted under their operation (the behaviour
// itself is in the conformance suite).
func TestClosedCountsErrors(t *testing.T) {
	reg := prometheus.NewRegistry()
	db, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Writable(ctx); err != nil {
		t.Fatalf("Writable: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := db.GetMessage(ctx, "x"); !errors.Is(err, gateway.ErrClosed) {
		t.Errorf("GetMessage after Close: %v", err)
	}
	if err := db.CreateMessage(ctx, newMsg(1)); !errors.Is(err, gateway.ErrClosed) {
		t.Errorf("CreateMessage after Close: %v", err)
	}
	if err := db.Writable(ctx); !errors.Is(err, gateway.ErrClosed) {
		t.Errorf("Writable after Close: %v", err)
	}
	if n := testutil.ToFloat64(db.errors.WithLabelValues("create_message")); n != 1 {
		t.Errorf("simgate_store_errors_total{op=create_message} = %v, want 1", n)
	}
	if n, err := testutil.GatherAndCount(reg, "simgate_store_errors_total"); err != nil || n != 3 {
		t.Errorf("registered series: %d, %v; want 3", n, err)
	}
}

func TestBackupOpens(t *testing.T) {
	db := openTest(t, "")
	m := newMsg(1)
	mustCreate(t, db, m)
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.Backup(f)
	if err != nil || n == 0 {
		t.Fatalf("Backup = %d, %v", n, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, db, newMsg(2)) // after the backup: not in it
	b := openTest(t, path)
	got, err := b.GetMessage(ctx, m.ID)
	if err != nil || got.Body != m.Body {
		t.Fatalf("message in backup: %v, %v", got, err)
	}
	if all := listAll(t, b, gateway.MessageFilter{}); len(all) != 1 {
		t.Errorf("backup lists %v", all)
	}
}

// Concurrent creates in one batch: the ones that conflict are refused, the
// others are committed.
// A write whose bbolt operation fails poisons its batch: the others are
// retried without it and committed.
func TestBatchSurvivesAFailingWrite(t *testing.T) {
	db := openTest(t, "")
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 7 {
				errs[i] = db.update(ctx, func(tx *bbolt.Tx) error {
					return tx.Bucket([]byte("messages")).Put(nil, []byte("x")) // empty key: bbolt refuses
				})
				return
			}
			errs[i] = db.CreateMessage(ctx, newMsg(i))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i == 7) != (err != nil) {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if all := listAll(t, db, gateway.MessageFilter{}); len(all) != 19 {
		t.Errorf("%d stored, want 19", len(all))
	}
}

// With MaxBatchDelay the committer waits for more writers; all commit.
func TestMaxBatchDelay(t *testing.T) {
	// A delay far longer than the test: the first write's batch can only
	// be committed by filling up, that is by waiting for the writers that
	// come after it. Without the delay it would be committed alone.
	db, err := Open(filepath.Join(t.TempDir(), "d.db"), Options{MaxBatchDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before := db.batches.Load()
	var wg sync.WaitGroup
	write := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.CreateMessage(ctx, newMsg(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	write(0)
	// The committer has taken the first write and waits for company.
	deadline := time.Now().Add(10 * time.Second)
	for len(db.writes) > 0 || db.batches.Load() != before {
		if time.Now().After(deadline) || db.batches.Load() != before {
			t.Fatalf("the first write was committed alone (%d batches): MaxBatchDelay did not wait", db.batches.Load()-before)
		}
		time.Sleep(time.Millisecond)
	}
	for i := 1; i < maxBatchOps; i++ {
		write(i)
	}
	wg.Wait()
	if got := db.batches.Load() - before; got != 1 {
		t.Errorf("%d writes took %d batches, want 1 (they arrived within MaxBatchDelay)", maxBatchOps, got)
	}
	if n, err := db.CountByStatus(ctx); err != nil || n[gateway.StatusQueued] != maxBatchOps {
		t.Errorf("stored %v, %v; want %d queued", n, err, maxBatchOps)
	}
}

// Writes queued while a commit is in progress share the next transaction.
func TestGroupCommit(t *testing.T) {
	db := openTest(t, "")
	release := make(chan struct{})
	running := make(chan struct{})
	go func() {
		_ = db.update(ctx, func(*bbolt.Tx) error {
			close(running)
			<-release
			return nil
		})
	}()
	<-running
	before := db.batches.Load()
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.CreateMessage(ctx, newMsg(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(db.writes) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes queued", len(db.writes))
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if got := db.batches.Load() - before; got != 1 {
		t.Errorf("%d writes took %d commits, want 1", n, got)
	}
	if all := listAll(t, db, gateway.MessageFilter{Limit: 500}); len(all) != n {
		t.Errorf("%d stored", len(all))
	}
}

// Listings walk the most selective index and ActiveMessages reads only the
// non-terminal part of the status index.
func TestListingsUseSelectiveIndexes(t *testing.T) {
	db := openTest(t, "")
	for i := range 600 {
		m := newMsg(i)
		m.Agent, m.Status, m.Modem, m.Contact = "busy", gateway.StatusDelivered, "big", "+1000"
		switch {
		case i%100 == 0:
			m.Modem = "small" // 6 messages
		case i%150 == 1:
			m.Status = gateway.StatusQueued // 4 messages
		case i == 7:
			m.Contact = "+1999"
		}
		mustCreate(t, db, m)
	}
	tests := []struct {
		name       string
		f          gateway.MessageFilter
		want, scan int // scan: at most this many index keys read
	}{
		{"modem beats agent and status", gateway.MessageFilter{Agent: "busy", Modem: "small", Status: gateway.StatusDelivered}, 6, 6},
		{"status beats agent", gateway.MessageFilter{Agent: "busy", Status: gateway.StatusQueued}, 4, 4},
		{"contact first", gateway.MessageFilter{Contact: "+1999", Agent: "busy"}, 1, 1},
		{"unknown modem reads nothing", gateway.MessageFilter{Agent: "busy", Modem: "none"}, 0, 0},
		{"time range on one value", gateway.MessageFilter{Modem: "big", Since: t0.Add(590 * time.Second)}, 10, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := db.scanned.Load()
			tt.f.Limit = 500
			got := listAll(t, db, tt.f)
			if len(got) != tt.want {
				t.Errorf("%d messages, want %d", len(got), tt.want)
			}
			if n := db.scanned.Load() - before; n > int64(tt.scan) {
				t.Errorf("read %d index keys, want at most %d", n, tt.scan)
			}
		})
	}
	before := db.scanned.Load()
	n := 0
	if err := db.ActiveMessages(ctx, func(*gateway.Message) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	// the 4 queued keys, and the first "delivered" key, which it seeks past
	if scanned := db.scanned.Load() - before; n != 4 || scanned != 5 {
		t.Errorf("ActiveMessages: %d messages, %d index keys read; want 4 and 5", n, scanned)
	}
}
