package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

// TestReadyDoesNotFsyncEachCall: a thousand readiness probes commit at
// most one probe of their own (before: one fsynced commit each, 25 MB
// written per 1,000 calls on the daemon).
func TestReadyDoesNotFsyncEachCall(t *testing.T) {
	db := openTest(t, "")
	before := db.batches.Load()
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if err := db.Ready(ctx); err != nil {
					t.Errorf("Ready: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := db.batches.Load() - before; n > 1 {
		t.Errorf("1000 Ready calls committed %d transactions, want at most 1", n)
	}
	// A real write proves writability as well as a probe.
	db2 := openTest(t, "")
	if err := db2.AddOptOut(ctx, gateway.OptOut{Number: "+15551234567", Source: "api", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	before = db2.batches.Load()
	if err := db2.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if n := db2.batches.Load() - before; n != 0 {
		t.Errorf("Ready right after a commit committed %d probes, want 0", n)
	}
}

// TestReadyProbesAgainWhenStale: with no commit within ProbeInterval,
// Ready commits a probe (so a disk that stopped taking writes is noticed).
func TestReadyProbesAgainWhenStale(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{ProbeInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before := db.batches.Load()
	for range 3 {
		if err := db.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := db.batches.Load() - before; n != 3 {
		t.Errorf("%d probes, want 3 (each call stale)", n)
	}
}

// TestReadyDiskFull: too little free space is not ready, as
// ErrStorageFull, before any commit fails (bbolt reuses free pages, so
// small writes still succeed then).
func TestReadyDiskFull(t *testing.T) {
	free, err := freeSpace(filepath.Join(t.TempDir(), "x"))
	if err != nil || free < 0 {
		t.Skipf("free space unknown on this system: %v", err)
	}
	db, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{MinFree: free + 1<<40})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Writable(ctx); err != nil {
		t.Fatalf("the write itself succeeds: %v", err)
	}
	if err := db.Ready(ctx); !errors.Is(err, gateway.ErrStorageFull) {
		t.Errorf("Ready = %v, want ErrStorageFull", err)
	}
}

// TestCommitHealth: a failed commit makes Ready fail until a later commit
// succeeds; ENOSPC is ErrStorageFull.
func TestCommitHealth(t *testing.T) {
	db := openTest(t, "")
	full := storageError(fmt.Errorf("write: %w", syscall.ENOSPC))
	if !errors.Is(full, gateway.ErrStorageFull) || !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("storageError = %v", full)
	}
	if err := storageError(errors.New("other")); errors.Is(err, gateway.ErrStorageFull) {
		t.Fatal("any error is storage full")
	}
	db.health.record(full) // what commit records when bbolt's commit fails
	if err := db.Ready(ctx); !errors.Is(err, gateway.ErrStorageFull) {
		t.Fatalf("Ready after a failed commit = %v", err)
	}
	if err := db.Writable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Ready(ctx); err != nil {
		t.Errorf("Ready after a good commit = %v", err)
	}
}
