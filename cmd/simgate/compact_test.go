package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store"
)

// TestStoreCompactCLI: simgate store compact refuses while the store is
// held, and compacts it once the holder is gone.
func TestStoreCompactCLI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simgate.db")
	db, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	m := &gateway.Message{Direction: gateway.Outbound, Contact: "+12025550123", Body: "keep me", Status: gateway.StatusQueued}
	if err := db.CreateMessage(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI("store", "compact", "-store", path, "-timeout", "50ms"); code != 1 || !strings.Contains(stderr, "stop the daemon first") {
		t.Errorf("compact while held: exit %d %q", code, stderr)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI("store", "compact", "-store", path)
	if code != 0 || !strings.Contains(out, path+": ") || !strings.Contains(out, "→") {
		t.Fatalf("compact: exit %d %q %q", code, out, stderr)
	}
	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, err := db.GetMessage(context.Background(), m.ID); err != nil || got.Body != "keep me" {
		t.Errorf("message after compaction: %v, %v", got, err)
	}
	if code, _, _ := runCLI("store"); code != 2 {
		t.Errorf("store without a subcommand: exit %d, want 2", code)
	}
}
