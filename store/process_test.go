package store

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

// The tests below run this test binary again as a second process
// (STORE_HELPER says what to do) to check behaviour across processes.

func helper(t *testing.T, mode, path string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "STORE_HELPER="+mode, "STORE_PATH="+path)
	return cmd
}

func TestHelperProcess(t *testing.T) {
	mode, path := os.Getenv("STORE_HELPER"), os.Getenv("STORE_PATH")
	if mode == "" {
		t.Skip("helper process only")
	}
	switch mode {
	case "open":
		db, err := Open(path, Options{Timeout: 100 * time.Millisecond})
		switch {
		case errors.Is(err, gateway.ErrStoreLocked):
			fmt.Println("locked")
		case err != nil:
			fmt.Println("error:", err)
		default:
			fmt.Println("opened")
			_ = db.Close()
		}
	case "create":
		// Create messages from 8 goroutines until killed; print each id once
		// CreateMessage has returned (i.e. once the store says it is durable).
		db, err := Open(path, Options{})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		var mu sync.Mutex
		for g := range 8 {
			go func() {
				for i := 0; ; i++ {
					m := newMsg(g*1_000_000 + i)
					m.ID = ""
					if err := db.CreateMessage(ctx, m); err != nil {
						fmt.Println("error:", err)
						os.Exit(1)
					}
					mu.Lock()
					fmt.Println(m.ID)
					mu.Unlock()
				}
			}()
		}
		select {}
	}
	os.Exit(0)
}

func TestOpenLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.db")
	db := openTest(t, path)
	out, err := helper(t, "open", path).Output()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	if string(out) != "locked\n" {
		t.Errorf("second process: %q, want locked", out)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	out, _ = helper(t, "open", path).Output()
	if string(out) != "opened\n" {
		t.Errorf("after Close: %q, want opened", out)
	}
}

// TestKilledWhileWriting kills a writing process with SIGKILL several times;
// every message whose CreateMessage returned must be there afterwards, the
// file must open, and the indexes must agree with the messages.
func TestKilledWhileWriting(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	path := filepath.Join(t.TempDir(), "k.db")
	acked := map[string]bool{}
	for round, stopAfter := range []int{1, 57, 400} {
		cmd := helper(t, "create", path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n := 0
		for n < stopAfter && sc.Scan() {
			line := sc.Text()
			if len(line) != 26 {
				t.Fatalf("round %d: helper said %q", round, line)
			}
			acked[line] = true
			n++
		}
		_ = cmd.Process.Kill()
		for sc.Scan() { // acknowledged before the kill landed
			if line := sc.Text(); len(line) == 26 {
				acked[line] = true
			}
		}
		_ = cmd.Wait()
		if n < stopAfter {
			t.Fatalf("round %d: helper stopped after %d", round, n)
		}

		db, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("round %d: open after kill: %v", round, err)
		}
		for id := range acked {
			if _, err := db.GetMessage(ctx, id); err != nil {
				t.Errorf("round %d: acknowledged %s lost: %v", round, id, err)
			}
		}
		var stored, indexed int
		_ = db.view(func(tx *bbolt.Tx) error {
			stored = tx.Bucket(bMessages).Stats().KeyN
			indexed = tx.Bucket(bIxStatus).Stats().KeyN
			return nil
		})
		counts, _ := db.CountByStatus(ctx)
		if stored < len(acked) || indexed != stored || counts[gateway.StatusQueued] != stored {
			t.Errorf("round %d: %d acked, %d stored, %d indexed, counts %v", round, len(acked), stored, indexed, counts)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
