package api

import (
	"fmt"
	"net/http"
	"syscall"
	"testing"

	"github.com/simgate/simgate/gateway"
)

// TestProblemStorageFull: a write refused by a full disk is a 507 problem,
// not a bare 500 whose cause is hidden.
func TestProblemStorageFull(t *testing.T) {
	err := fmt.Errorf("submit: store: %w", fmt.Errorf("%w: %w", gateway.ErrStorageFull, syscall.ENOSPC))
	p, internal := problemFor(err)
	if internal || p.Status != http.StatusInsufficientStorage || p.Type != ProblemBase+ProblemStorageFull {
		t.Errorf("problemFor(disk full) = %+v, internal %v", p, internal)
	}
}
