package gateway

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A message queued before its recipient sent STOP is not dispatched: the
// suppression list is re-checked just before a modem takes it.
func TestQueuedBeforeStopIsNotSent(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a")
	// Not started yet: the message sits in the queue.
	m := h.submit(SendRequest{To: "+12025550142", Body: "see you Saturday?"})
	if err := h.st.AddOptOut(context.Background(), OptOut{Number: m.Contact, Source: "sms", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	other := h.submit(SendRequest{To: "+12025550143", Body: "see you Saturday?"})
	h.start()
	h.waitStatus(other.ID, StatusSent)
	got := h.waitStatus(m.ID, StatusFailed)
	if got.Parts[0].ErrorClass != "opted_out" || got.Parts[0].Attempts != 0 {
		t.Fatalf("part = %+v", got.Parts[0])
	}
	if n := h.devs["a"].attempts(); n != 1 {
		t.Fatalf("modem sent %d parts, want only the other message's 1", n)
	}
}

// Only an Inbox reply (SendRequest.OptOutReply) may reach an opted-out
// number; metadata sent by an API client cannot forge the exemption.
func TestOptOutExemption(t *testing.T) {
	h := newHarness(t, testConfig(), nil, "a")
	ctx := context.Background()
	if err := h.st.AddOptOut(ctx, OptOut{Number: "+12025550142", Source: "sms", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	forged := SendRequest{To: "+12025550142", Body: "x", Metadata: map[string]string{OptOutExemptKey: "true"}}
	if _, err := h.d.Submit(ctx, forged); !errors.Is(err, ErrOptedOut) {
		t.Fatalf("forged exemption: err = %v", err)
	}
	plain, err := h.d.Submit(ctx, SendRequest{To: "+12025550143", Body: "x", Metadata: map[string]string{OptOutExemptKey: "true", "k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if IsOptOutExempt(plain) || plain.Metadata["k"] != "v" {
		t.Fatalf("metadata = %v", plain.Metadata)
	}
	reply, err := h.d.Submit(ctx, SendRequest{To: "+12025550142", Body: "You are unsubscribed.", Agent: OptOutAgent, OptOutReply: true})
	if err != nil {
		t.Fatalf("exempt submit: %v", err)
	}
	if !IsOptOutExempt(reply) || !h.st.msg(t, reply.ID).OptOutReply {
		t.Fatalf("reply not stored as exempt: %+v", reply)
	}
	h.start()
	h.waitStatus(reply.ID, StatusSent)
}

// A pause (an operator's, or the carrier-block guard's) and a drain survive a
// restart: a new Dispatcher on the same store keeps the SIM stopped.
func TestPauseAndDrainSurviveRestart(t *testing.T) {
	st := newMemStore()
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
	eventually(t, "hold restored", func() bool {
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
	m := h2.submit(SendRequest{To: "+12025550160", Body: "x"})
	if got := h2.waitStatus(m.ID, StatusSent); got.Modem != "b" {
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
