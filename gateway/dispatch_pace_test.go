package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

// With real pacing between sends (not the 1ms of most tests), every modem
// keeps taking work after its first send.
func TestPacedModemsKeepSending(t *testing.T) {
	cfg := testConfig()
	cfg.Pacing = gateway.PacingConfig{MinInterval: 200 * time.Millisecond, Jitter: 100 * time.Millisecond, PerMinute: 120, PerDay: 1000, NewContactsPerDay: 200}
	h := newHarness(t, cfg, nil, "a", "b", "c")
	h.start()
	var ids []string
	for i := range 8 {
		ids = append(ids, h.submit(gateway.SendRequest{To: fmt.Sprintf("+1202555%04d", 100+i), Body: fmt.Sprintf("check %d", i)}).ID)
	}
	for _, id := range ids {
		h.waitStatus(id, gateway.StatusSent)
	}
}
