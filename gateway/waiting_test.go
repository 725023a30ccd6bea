package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

// A message behind a paused sticky SIM says why it waits, and the paused
// modem is not shown usable.
func TestWaitingReason(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, testConfig(), nil, "a", "b")
	h.start()
	first := h.submit(gateway.SendRequest{To: "+12025550180", Body: "hello"})
	sent := h.waitStatus(first.ID, gateway.StatusSent)
	sim := sent.Modem
	if r := h.d.Waiting(ctx, sent); r != "" {
		t.Fatalf("a sent message waits: %q", r)
	}
	if v, _ := h.d.Modem(sim); !v.Usable {
		t.Fatalf("%s not usable before the pause: %+v", sim, v)
	}
	if err := h.d.Pause(sim, "operator", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if v, _ := h.d.Modem(sim); v.Usable || !v.Paused {
		t.Fatalf("paused %s shows usable=%v paused=%v", sim, v.Usable, v.Paused)
	}
	second := h.submit(gateway.SendRequest{To: "+12025550180", Body: "are you there?"})
	r := h.d.Waiting(ctx, h.st.Message(t, second.ID))
	if !strings.Contains(r, "modem "+sim) || !strings.Contains(r, "paused") || !strings.Contains(r, "contact's SIM") {
		t.Fatalf("waiting reason %q, want the paused sticky SIM named", r)
	}
	later := h.submit(gateway.SendRequest{To: "+12025550181", Body: "tomorrow", SendAt: time.Now().Add(time.Hour)})
	if r := h.d.Waiting(ctx, h.st.Message(t, later.ID)); !strings.HasPrefix(r, "scheduled") {
		t.Fatalf("scheduled message: %q", r)
	}
	night := h.submit(gateway.SendRequest{To: "+12025550182", Body: "x", TextingWindow: &gateway.TextingWindow{
		Start: time.Now().UTC().Add(2 * time.Hour).Format("15:04"), End: time.Now().UTC().Add(3 * time.Hour).Format("15:04"), TimeZone: "UTC"}})
	if r := h.d.Waiting(ctx, h.st.Message(t, night.ID)); !strings.Contains(r, "texting window") {
		t.Fatalf("windowed message: %q", r)
	}
	other := map[string]string{"a": "b", "b": "a"}[sim]
	h.d.Pause(other, "maintenance", time.Time{})
	fresh := h.submit(gateway.SendRequest{To: "+12025550183", Body: "x"})
	if r := h.d.Waiting(ctx, h.st.Message(t, fresh.ID)); !strings.HasPrefix(r, "no modem can send it now") {
		t.Fatalf("every modem paused: %q", r)
	}
	h.d.Resume(sim)
	if v, _ := h.d.Modem(sim); !v.Usable {
		t.Fatalf("%s not usable after resume", sim)
	}
	h.waitStatus(second.ID, gateway.StatusSent)
}
