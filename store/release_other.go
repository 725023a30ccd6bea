//go:build !linux

package store

// ReleaseMapped is a no-op where madvise is not used.
func (db *DB) ReleaseMapped() error { return nil }
