package gateway_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/gatewaytest"
)

// A message queued before its recipient sent STOP is not dispatched: the
// suppression list is re-checked just before a modem takes it.
func TestQueuedBeforeStopIsNotSent(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a")
	// Not started yet: the message sits in the queue.
	m := h.submit(gateway.SendRequest{To: "+12025550142", Body: "see you Saturday?"})
	if err := h.st.AddOptOut(context.Background(), gateway.OptOut{Number: m.Contact, Source: "sms", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	other := h.submit(gateway.SendRequest{To: "+12025550143", Body: "see you Saturday?"})
	h.start()
	h.waitStatus(other.ID, gateway.StatusSent)
	got := h.waitStatus(m.ID, gateway.StatusFailed)
	if got.Parts[0].ErrorClass != "opted_out" || got.Parts[0].Attempts != 0 {
		t.Fatalf("part = %+v", got.Parts[0])
	}
	if n := h.devs["a"].Attempts(); n != 1 {
		t.Fatalf("modem sent %d parts, want only the other message's 1", n)
	}
}

// Only an Inbox reply (SendRequest.OptOutReply) may reach an opted-out
// number; metadata sent by an API client cannot forge the exemption.
func TestOptOutExemption(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a")
	ctx := context.Background()
	if err := h.st.AddOptOut(ctx, gateway.OptOut{Number: "+12025550142", Source: "sms", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	forged := gateway.SendRequest{To: "+12025550142", Body: "x", Metadata: map[string]string{gateway.OptOutExemptKey: "true"}}
	if _, err := h.d.Submit(ctx, forged); !errors.Is(err, gateway.ErrOptedOut) {
		t.Fatalf("forged exemption: err = %v", err)
	}
	plain, err := h.d.Submit(ctx, gateway.SendRequest{To: "+12025550143", Body: "x", Metadata: map[string]string{gateway.OptOutExemptKey: "true", "k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if gateway.IsOptOutExempt(plain) || plain.Metadata["k"] != "v" {
		t.Fatalf("metadata = %v", plain.Metadata)
	}
	reply, err := h.d.Submit(ctx, gateway.SendRequest{To: "+12025550142", Body: "You are unsubscribed.", Agent: gateway.OptOutAgent, OptOutReply: true})
	if err != nil {
		t.Fatalf("exempt submit: %v", err)
	}
	if !gateway.IsOptOutExempt(reply) || !h.st.Message(t, reply.ID).OptOutReply {
		t.Fatalf("reply not stored as exempt: %+v", reply)
	}
	h.start()
	h.waitStatus(reply.ID, gateway.StatusSent)
}

// A pause (an operator's, or the carrier-block guard's) and a drain survive a
// restart: a new Dispatcher on the same store keeps the SIM stopped.
func TestPauseAndDrainSurviveRestart(t *testing.T) {
	st := gatewaytest.NewMemStore()
	h := newHarness(t, testConfig(), st, "a", "b")
	h.start()
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := h.d.Pause("a", "carrier block suspected", until); err != nil {
		t.Fatal(err)
	}
	if err := h.d.Drain("b"); err != nil {
		t.Fatal(err)
	}
	h.stop()

	h2 := newHarness(t, testConfig(), st, "a", "b")
	h2.start()
	gatewaytest.Eventually(t, "hold restored", func() bool {
		v, _ := h2.d.Modem("a")
		return v.Paused
	})
	va, _ := h2.d.Modem("a")
	vb, _ := h2.d.Modem("b")
	if va.PauseReason != "carrier block suspected" || !va.PausedUntil.Equal(until) || !vb.Draining || vb.Paused {
		t.Fatalf("a %+v b %+v", va, vb)
	}
	if err := h2.d.Resume("b"); err != nil { // b takes new contacts again; a stays paused
		t.Fatal(err)
	}
	m := h2.submit(gateway.SendRequest{To: "+12025550160", Body: "x"})
	if got := h2.waitStatus(m.ID, gateway.StatusSent); got.Modem != "b" {
		t.Fatalf("sent by %s", got.Modem)
	}
	if err := h2.d.Resume("a"); err != nil {
		t.Fatal(err)
	}
	h2.stop()

	h3 := newHarness(t, testConfig(), st, "a")
	h3.start()
	if v, _ := h3.d.Modem("a"); v.Paused {
		t.Fatalf("resumed modem paused again after restart: %+v", v)
	}
}
