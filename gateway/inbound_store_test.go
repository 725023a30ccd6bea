package gateway_test

import (
	"path/filepath"
	"testing"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store"
)

// inbOpenStore returns the store the inbound tests run against: a real
// bbolt store.DB in t.TempDir() (NoSync: the tests do not simulate power
// loss; restarts are simulated by a new Inbox on the same DB).
func inbOpenStore(t *testing.T) gateway.Store {
	t.Helper()
	return inbOpenStoreAt(t, filepath.Join(t.TempDir(), "simgate.db"))
}

// inbOpenStoreAt opens (or reopens) the store at path; it is closed at the
// end of the test unless closed before.
func inbOpenStoreAt(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
