//go:build !linux

package store

import "testing"

// dropCache is a no-op where posix_fadvise is not available.
func dropCache(b *testing.B, path string) { b.Log("cannot drop the page cache on this OS") }
