package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/simgate/simgate/gateway"
)

// compactTxSize bounds the data one compaction transaction copies.
const compactTxSize = 64 << 20

// CompactResult says what Compact did.
type CompactResult struct {
	Before, After int64 // file sizes in bytes
}

// Compact rewrites the database file at path without its free pages: pruning
// frees pages inside the file for reuse, but only a rewrite gives the space
// back to the disk. It takes the file's lock (waiting at most timeout; a file
// held by a running daemon gives an error wrapping gateway.ErrStoreLocked and
// is left alone), copies every bucket, key and sequence into path +
// ".compact" with bbolt.Compact (pages filled), checks that every bucket has
// as many keys as before, fsyncs it and renames it over path while still
// holding the lock. On any error path is left as it was.
//
// A file whose schema is older is migrated first, so every record of the
// copy is in the current format (message records in format 1). A file
// whose schema is newer than this binary is refused. Compact is for a
// stopped daemon (simgate store compact); it must not run while this process
// has path open.
func Compact(path string, timeout time.Duration) (CompactResult, error) {
	var res CompactResult
	if timeout <= 0 {
		timeout = time.Second
	}
	st, err := os.Stat(path)
	if err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	res.Before = st.Size()
	src, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return res, fmt.Errorf("store: compact %s: %w (waited %s)", path, gateway.ErrStoreLocked, timeout)
		}
		return res, fmt.Errorf("store: compact: open %s: %w", path, err)
	}
	defer src.Close()
	if err := src.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if meta == nil {
			return nil
		}
		if v := meta.Get(keySchema); len(v) == 8 && binary.BigEndian.Uint64(v) > uint64(SchemaVersion) {
			return fmt.Errorf("%w: file has version %d, this binary knows up to %d", errFutureSchema, binary.BigEndian.Uint64(v), SchemaVersion)
		}
		return nil
	}); err != nil {
		return res, fmt.Errorf("store: compact %s: %w", path, err)
	}
	// Bring the file to this binary's schema first (the migration to 9
	// rewrites every message record in format 1), so that the copy is
	// entirely in the current format.
	if _, _, err := migrate(src, slog.New(slog.DiscardHandler)); err != nil {
		return res, fmt.Errorf("store: compact %s: %w", path, err)
	}

	tmp := path + ".compact"
	_ = os.Remove(tmp) // left by an interrupted run
	dst, err := bbolt.Open(tmp, 0o600, &bbolt.Options{NoSync: true, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return res, fmt.Errorf("store: compact: create %s: %w", tmp, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = dst.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := bbolt.Compact(dst, src, compactTxSize); err != nil {
		return res, fmt.Errorf("store: compact: copy: %w", err)
	}
	if err := sameKeys(src, dst); err != nil {
		return res, fmt.Errorf("store: compact: the copy differs, left alone: %w", err)
	}
	if err := dst.Sync(); err != nil {
		return res, fmt.Errorf("store: compact: sync: %w", err)
	}
	if err := dst.Close(); err != nil {
		return res, fmt.Errorf("store: compact: close copy: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return res, fmt.Errorf("store: compact: replace %s: %w", path, err)
	}
	ok = true
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // make the rename durable
		_ = d.Close()
	}
	if st, err := os.Stat(path); err == nil {
		res.After = st.Size()
	}
	return res, nil
}

// sameKeys checks that every top-level bucket of a has as many keys as in b
// (and b no other bucket).
func sameKeys(a, b *bbolt.DB) error {
	count := func(db *bbolt.DB) (map[string]int, error) {
		out := map[string]int{}
		err := db.View(func(tx *bbolt.Tx) error {
			return tx.ForEach(func(name []byte, bk *bbolt.Bucket) error {
				out[string(name)] = bk.Stats().KeyN
				return nil
			})
		})
		return out, err
	}
	ca, err := count(a)
	if err != nil {
		return err
	}
	cb, err := count(b)
	if err != nil {
		return err
	}
	if len(ca) != len(cb) {
		return fmt.Errorf("%d buckets, copy has %d", len(ca), len(cb))
	}
	for name, n := range ca {
		if cb[name] != n {
			return fmt.Errorf("bucket %s: %d keys, copy has %d", name, n, cb[name])
		}
	}
	return nil
}
