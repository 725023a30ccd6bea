package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func listenNotify(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, path
}

func readDatagram(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 256)
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	conn, path := listenNotify(t)
	n := newNotifier(func(k string) string {
		if k == "NOTIFY_SOCKET" {
			return path
		}
		return ""
	})
	if err := n.Notify("READY=1"); err != nil {
		t.Fatal(err)
	}
	if got := readDatagram(t, conn); got != "READY=1" {
		t.Fatalf("got %q", got)
	}
	// Without NOTIFY_SOCKET nothing is sent and nothing fails.
	if err := newNotifier(func(string) string { return "" }).Notify("READY=1"); err != nil {
		t.Fatal(err)
	}
}

// TestWatchdogFedOnlyAfterHealthCheck: while the check fails no WATCHDOG=1
// is sent; the first datagram comes after a passing check.
func TestWatchdogFedOnlyAfterHealthCheck(t *testing.T) {
	conn, path := listenNotify(t)
	n := &notifier{socket: path}
	var checks, passed atomic.Int32
	check := func(context.Context) error {
		if checks.Add(1) <= 3 {
			return errors.New("store not writable")
		}
		passed.Add(1)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		runWatchdog(ctx, n, time.Millisecond, check, slog.New(slog.DiscardHandler))
		close(done)
	}()
	if got := readDatagram(t, conn); got != "WATCHDOG=1" {
		t.Fatalf("got %q", got)
	}
	if checks.Load() < 4 || passed.Load() < 1 {
		t.Fatalf("watchdog fed after %d checks, %d passed: want a pass after 3 failures", checks.Load(), passed.Load())
	}
	cancel()
	<-done
}

func TestWatchdogInterval(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	tests := []struct {
		usec, pid string
		want      time.Duration
	}{
		{"", "", 0},
		{"20000000", "", 10 * time.Second},
		{"20000000", pid, 10 * time.Second},
		{"20000000", "1", 0},
		{"junk", "", 0},
	}
	for _, tt := range tests {
		env := map[string]string{"WATCHDOG_USEC": tt.usec, "WATCHDOG_PID": tt.pid}
		if got := watchdogInterval(func(k string) string { return env[k] }); got != tt.want {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v, want %v", tt.usec, tt.pid, got, tt.want)
		}
	}
}
