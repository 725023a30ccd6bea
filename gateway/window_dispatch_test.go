package gateway_test

import (
	"sync"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/gatewaytest"
)

// offsetClock runs at the speed of the wall clock from a time the test
// sets (pacers need time to pass; windows need a chosen time of day).
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func newOffsetClock(at time.Time) *offsetClock {
	return &offsetClock{off: time.Until(at)}
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *offsetClock) Set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = time.Until(at)
}

var evening = time.Date(2026, 3, 3, 20, 59, 0, 0, time.UTC)

// A message whose texting window is closed is not claimed; it leaves when
// the window opens.
func TestWindowClosedIsNotClaimed(t *testing.T) {
	clock := newOffsetClock(evening.Add(6 * time.Minute)) // 21:05
	cfg := testConfig()
	cfg.Now = clock.Now
	h := newHarness(t, cfg, nil, "a")
	h.start()
	win := &gateway.TextingWindow{Start: "09:00", End: "21:00", TimeZone: "UTC"}
	held := h.submit(gateway.SendRequest{To: "+12025550170", Body: "too late tonight", TextingWindow: win})
	after := h.submit(gateway.SendRequest{To: "+12025550171", Body: "any time"})
	h.waitStatus(after.ID, gateway.StatusSent)
	if m := h.st.Message(t, held.ID); m.Status != gateway.StatusQueued || m.Parts[0].Attempts != 0 {
		t.Fatalf("windowed message %s after %d attempts, want queued and untried", m.Status, m.Parts[0].Attempts)
	}
	clock.Set(time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC))
	m := h.waitStatus(held.ID, gateway.StatusSent)
	if got := m.Parts[0].SubmittedAt.UTC(); got.Hour() != 9 {
		t.Fatalf("submitted at %s, want after 09:00", got)
	}
}

// One claimed inside the window (at 20:59, while the modem's previous send
// was on the wire) whose turn comes after 21:00 is checked again right
// before its PDU is written: it waits for the next morning.
func TestWindowCheckedBeforeThePDU(t *testing.T) {
	clock := newOffsetClock(evening)
	cfg := testConfig()
	cfg.Pacing = gateway.PacingConfig{} // eager: the next message is claimed during a send
	cfg.Now = clock.Now
	h := newHarness(t, cfg, nil, "a")
	win := &gateway.TextingWindow{Start: "09:00", End: "21:00", TimeZone: "UTC"}
	first := h.submit(gateway.SendRequest{To: "+12025550172", Body: "first"})
	late := h.submit(gateway.SendRequest{To: "+12025550173", Body: "second, claimed at 20:59", TextingWindow: win})
	dev := h.devs["a"]
	dev.SetAnswer(func(n int, _ []byte) error {
		if n != 0 {
			return nil
		}
		// While the first PDU is on the wire the worker claims the
		// second; the clock passes 21:00 before that one's turn.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if m, err := h.st.GetMessage(t.Context(), late.ID); err == nil && m.Parts[0].State == gateway.PartAssigned {
				break
			}
			time.Sleep(time.Millisecond)
		}
		clock.Set(evening.Add(6 * time.Minute))
		return nil
	})
	h.start()
	h.waitStatus(first.ID, gateway.StatusSent)
	gatewaytest.Eventually(t, "the late message back in the queue", func() bool {
		m := h.st.Message(t, late.ID)
		return m.Parts[0].State == gateway.PartQueued
	})
	if m := h.st.Message(t, late.ID); m.Parts[0].Attempts != 0 || len(dev.Sent()) != 1 {
		t.Fatalf("late message tried %d times, %d PDUs written", m.Parts[0].Attempts, len(dev.Sent()))
	}
	clock.Set(time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC))
	h.waitStatus(late.ID, gateway.StatusSent)
}

// A part whose status report never comes gets a final state when its
// report window ends: unconfirmed, with an event. One that asked for no
// report stays sent; a delivered one is untouched.
func TestReportWindowEndsUnconfirmed(t *testing.T) {
	start := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	clock := newOffsetClock(start)
	cfg := testConfig()
	cfg.Now = clock.Now
	h := newHarness(t, cfg, nil, "a")
	h.start()
	no := false
	silent := h.submit(gateway.SendRequest{To: "+12025550190", Body: "no report ever"})
	unasked := h.submit(gateway.SendRequest{To: "+12025550191", Body: "no report asked", StatusReport: &no})
	reported := h.submit(gateway.SendRequest{To: "+12025550192", Body: "reported"})
	for _, id := range []string{silent.ID, unasked.ID} {
		h.waitStatus(id, gateway.StatusSent)
	}
	r := h.waitStatus(reported.ID, gateway.StatusSent)
	if err := h.d.HandleReport(t.Context(), gateway.StatusReport{Modem: "a", MR: r.Parts[0].MR, Status: 0}); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(reported.ID, gateway.StatusDelivered)

	clock.Set(start.Add(cfg.ReportWindow + time.Hour))
	m := h.waitStatus(silent.ID, gateway.StatusUnconfirmed)
	if p := m.Parts[0]; p.State != gateway.PartUnconfirmed || p.ErrorClass != "no_report" {
		t.Fatalf("part %+v", p)
	}
	gatewaytest.Eventually(t, "message.unconfirmed", func() bool { return h.em.Count(gateway.EventMessageUnconfirmed) == 1 })
	if s := h.st.Message(t, unasked.ID).Status; s != gateway.StatusSent {
		t.Fatalf("message without a report request is %s", s)
	}
	if s := h.st.Message(t, reported.ID).Status; s != gateway.StatusDelivered {
		t.Fatalf("delivered message is %s", s)
	}
}
