package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// lifecycle is what the daemon started, so that it can be stopped in the
// reverse order: a stack of named cleanup steps, and the goroutines
// started through Go (each named, each waited for). Start pushes a step
// right after the part it undoes came up, so a partial start unwinds
// exactly what came up. (alertmanager's app lifecycle has the same shape.)
type lifecycle struct {
	mu      sync.Mutex
	steps   []cleanupStep
	running map[string]int // goroutines started by Go and not yet returned, by name
	idle    chan struct{}  // closed and replaced when running becomes empty
}

type cleanupStep struct {
	name string
	fn   func(ctx context.Context) error
}

func newLifecycle() *lifecycle {
	return &lifecycle{running: map[string]int{}}
}

// Push adds a cleanup step; Stop runs the steps last pushed first. fn
// should return once ctx is done, forcefully if it must.
func (l *lifecycle) Push(name string, fn func(ctx context.Context) error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.steps = append(l.steps, cleanupStep{name, fn})
}

// PushClose adds a step for a Close that takes no context: Stop waits for it
// until ctx is done, then reports it as still running and goes on.
func (l *lifecycle) PushClose(name string, closeFn func() error) {
	l.Push(name, func(ctx context.Context) error {
		done := make(chan error, 1)
		go func() { done <- closeFn() }()
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return fmt.Errorf("still closing when the shutdown timeout ended: %w", ctx.Err())
		}
	})
}

// Go runs fn in a goroutine named name, which Wait waits for.
func (l *lifecycle) Go(name string, fn func()) {
	l.mu.Lock()
	l.running[name]++
	l.mu.Unlock()
	go func() {
		defer l.done(name)
		fn()
	}()
}

func (l *lifecycle) done(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running[name]--; l.running[name] == 0 {
		delete(l.running, name)
	}
	if len(l.running) == 0 && l.idle != nil {
		close(l.idle)
		l.idle = nil
	}
}

// Wait waits until every goroutine started by Go has returned, or ctx is
// done; then it names those still running.
func (l *lifecycle) Wait(ctx context.Context) error {
	l.mu.Lock()
	if len(l.running) == 0 {
		l.mu.Unlock()
		return nil
	}
	if l.idle == nil {
		l.idle = make(chan struct{})
	}
	idle := l.idle
	l.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		names := slices.Sorted(maps.Keys(l.running))
		l.mu.Unlock()
		return fmt.Errorf("goroutines still running when the shutdown timeout ended: %s", strings.Join(names, ", "))
	}
}

// Stop runs the cleanup steps in reverse order of Push, every one of them
// even after one failed or ctx ended (each is then expected to return at
// once), and returns their errors joined, each prefixed with its step's name.
func (l *lifecycle) Stop(ctx context.Context) error {
	l.mu.Lock()
	steps := l.steps
	l.steps = nil
	l.mu.Unlock()
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		if err := steps[i].fn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", steps[i].name, err))
		}
	}
	return errors.Join(errs...)
}
