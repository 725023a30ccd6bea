//go:build linux

package store

import (
	"unsafe"

	"go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// releaseTx is ReleaseMapped inside a read transaction already open (a
// long scan calls it every few thousand records, so that its resident set
// stays flat however large the scan; a second read transaction opened from
// within the first could deadlock against a writer waiting to remap).
func (db *DB) releaseTx(tx *bbolt.Tx) {
	size := int(tx.Size())
	if size <= 0 {
		return
	}
	ps := unix.Getpagesize()
	size = (size + ps - 1) / ps * ps
	info := db.bolt.Info()
	base := *(*unsafe.Pointer)(unsafe.Pointer(&info.Data))
	_ = unix.Madvise(unsafe.Slice((*byte)(base), size), unix.MADV_DONTNEED)
}
