//go:build !linux

package store

import "go.etcd.io/bbolt"

// releaseTx is a no-op where madvise is not used (see the Linux version).
func (db *DB) releaseTx(*bbolt.Tx) {}
