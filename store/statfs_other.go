//go:build !(linux || darwin || freebsd)

package store

// freeSpace is unknown here (-1): Ready relies on the commits' outcomes.
func freeSpace(string) (int64, error) { return -1, nil }
