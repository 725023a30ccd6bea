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

// Only the Inbox's exempt context may reach an opted-out number; metadata
// sent by an API client cannot forge the exemption.
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
	reply, err := h.d.Submit(WithOptOutExempt(ctx), SendRequest{To: "+12025550142", Body: "You are unsubscribed.", Agent: OptOutAgent})
	if err != nil {
		t.Fatalf("exempt submit: %v", err)
	}
	if !IsOptOutExempt(reply) {
		t.Fatalf("reply not marked exempt: %v", reply.Metadata)
	}
	h.start()
	h.waitStatus(reply.ID, StatusSent)
}
