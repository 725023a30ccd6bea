package main

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLifecycleStopsInReverse: steps run last pushed first, every one even
// after a failure, and their errors come back joined, each named.
func TestLifecycleStopsInReverse(t *testing.T) {
	l := newLifecycle()
	var order []string
	step := func(name string, err error) {
		l.Push(name, func(context.Context) error { order = append(order, name); return err })
	}
	step("store", errors.New("sync failed"))
	step("modems", nil)
	step("dispatcher", errors.New("in-flight sends not recorded"))
	step("api", nil)
	err := l.Stop(context.Background())
	if want := []string{"api", "dispatcher", "modems", "store"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if err == nil || !strings.Contains(err.Error(), "dispatcher: in-flight sends not recorded") || !strings.Contains(err.Error(), "store: sync failed") {
		t.Errorf("error %v, want both failures named", err)
	}
	if err := l.Stop(context.Background()); err != nil {
		t.Errorf("a second Stop ran the steps again: %v", err)
	}
}

// TestLifecycleWaitsForGoroutines: Wait returns once every goroutine started
// with Go has returned, and at the deadline names those still running.
func TestLifecycleWaitsForGoroutines(t *testing.T) {
	l := newLifecycle()
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan string, 2)
	l.Go("loop", func() { <-ctx.Done(); returned <- "loop" })
	stuck := make(chan struct{})
	l.Go("stuck", func() { <-stuck; returned <- "stuck" })

	cancel()
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	err := l.Wait(short)
	if err == nil || !strings.Contains(err.Error(), "stuck") || strings.Contains(err.Error(), "loop") {
		t.Errorf("Wait at the deadline: %v, want it to name only the stuck goroutine", err)
	}
	if got := <-returned; got != "loop" {
		t.Fatalf("%s returned first", got)
	}
	close(stuck)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-returned:
	default:
		t.Error("Wait returned before the goroutine did")
	}
}

// TestLifecycleStopBounded: a Close that never returns holds the stop only
// until the deadline; the later steps still run.
func TestLifecycleStopBounded(t *testing.T) {
	l := newLifecycle()
	storeClosed := false
	l.Push("store", func(context.Context) error { storeClosed = true; return nil })
	never := make(chan struct{})
	defer close(never)
	l.PushClose("modems", func() error { <-never; return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := l.Stop(ctx)
	if err == nil || !strings.Contains(err.Error(), "modems: still closing") {
		t.Errorf("error %v", err)
	}
	if !storeClosed {
		t.Error("the store was not closed after a step hit the deadline")
	}
}

// TestServeLeavesNoGoroutine: once serve returns, no goroutine the daemon
// started is left (the API and metrics servers, the background loops,
// discovery, also the one a SIGHUP starts, the readiness report).
func TestServeLeavesNoGoroutine(t *testing.T) {
	g := startGateway(t, 2, 1, func(c *Config) {
		c.Metrics.Listen = freeAddr(t)
		c.Discovery.Enabled = true
		c.Discovery.Globs = []string{c.Modems[0].Port + "-none*"}
	}, func(o *serveOptions) { o.readyGrace = time.Hour })
	g.sighup(t, g.cfg)
	g.stop(t)
	// A goroutine that has just signalled its end may still be unwinding:
	// allow that a moment, not a goroutine that goes on.
	var left []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		left = left[:0]
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, s := range strings.Split(stacks, "\n\n") {
			if strings.Contains(s, "main.(*daemon)") || strings.Contains(s, "main.(*lifecycle)") || strings.Contains(s, "gateway.(*Dispatcher).Run") || strings.Contains(s, "gateway.(*Inbox).Run") {
				left = append(left, s)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, s := range left {
		t.Errorf("a daemon goroutine outlived serve:\n%s", s)
	}
}
