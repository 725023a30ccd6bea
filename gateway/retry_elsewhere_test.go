package gateway_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

// TestTemporaryFailureGoesElsewhereAtOnce: a part that failed temporarily
// on one SIM (a modem that stopped answering: no prompt) and may go out
// of another is not held back by the retry backoff, which only keeps it
// from the SIM that failed it.
func TestTemporaryFailureGoesElsewhereAtOnce(t *testing.T) {
	cfg := testConfig()
	cfg.RetryBase, cfg.RetryMax = time.Hour, time.Hour // a held retry would never come in this test
	h := newHarness(t, cfg, nil, "a", "b")
	var first atomic.Bool // the first send of all meets a modem that stopped answering
	noPrompt := func(int, []byte) error {
		if first.CompareAndSwap(false, true) {
			return &gateway.SendError{Temporary: true, Err: errors.New("no prompt within 5s: deadline exceeded")}
		}
		return nil
	}
	h.devs["a"].SetAnswer(noPrompt)
	h.devs["b"].SetAnswer(noPrompt)
	h.start()
	m := h.submit(gateway.SendRequest{To: "+12025550101", Body: "x"})
	got := h.waitStatus(m.ID, gateway.StatusSent)
	if got.Parts[0].Attempts != 2 || h.devs["a"].Attempts() != 1 || h.devs["b"].Attempts() != 1 {
		t.Fatalf("attempts: part %d, a %d, b %d", got.Parts[0].Attempts, h.devs["a"].Attempts(), h.devs["b"].Attempts())
	}
}
