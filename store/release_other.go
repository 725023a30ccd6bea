//go:build !linux

package store

import "go.etcd.io/bbolt"

// ReleaseMapped is a no-op where madvise is not used.
func (db *DB) ReleaseMapped() error { return nil }

func releaseTxPages(*bbolt.Tx) {}
