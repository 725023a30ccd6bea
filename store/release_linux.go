//go:build linux

package store

import (
	"unsafe"

	"go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// ReleaseMapped tells the kernel that the pages of the database file mapped
// into this process are not needed for now (madvise MADV_DONTNEED). They stay
// in the page cache and fault back in on the next read, so nothing is lost;
// the process's resident set stops counting a large scan (start-up's
// ActiveMessages, a backup) for as long as the pages are not touched again.
//
// The mapping is only stable while a read transaction is open (bbolt remaps
// under a lock that waits for readers), so the advice is given inside one.
func (db *DB) ReleaseMapped() error {
	return db.view(func(tx *bbolt.Tx) error {
		size := int(tx.Size())
		if size <= 0 {
			return nil
		}
		ps := unix.Getpagesize()
		size = (size + ps - 1) / ps * ps
		// Info().Data is the address of the mapping (not Go memory).
		info := db.bolt.Info()
		base := *(*unsafe.Pointer)(unsafe.Pointer(&info.Data))
		data := unsafe.Slice((*byte)(base), size)
		return unix.Madvise(data, unix.MADV_DONTNEED)
	})
}

// releaseTxPages is releaseTx for a transaction of a bbolt.DB that has no
// DB around it yet (a migration, run by Open): a long scan inside one
// transaction calls it every few thousand records.
func releaseTxPages(tx *bbolt.Tx) {
	size := int(tx.Size())
	if size <= 0 {
		return
	}
	ps := unix.Getpagesize()
	size = (size + ps - 1) / ps * ps
	info := tx.DB().Info()
	base := *(*unsafe.Pointer)(unsafe.Pointer(&info.Data))
	_ = unix.Madvise(unsafe.Slice((*byte)(base), size), unix.MADV_DONTNEED)
}
