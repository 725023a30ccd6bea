//go:build linux || darwin || freebsd

package store

import (
	"path/filepath"

	"golang.org/x/sys/unix"
)

// freeSpace returns the bytes available to this process on the file
// system holding path.
func freeSpace(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(path), &st); err != nil {
		return -1, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil //nolint:unconvert // the field types differ by OS
}
