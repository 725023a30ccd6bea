package gateway_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/gatewaytest"
)

// inbIdleDevice is a modem that never sends (the dispatcher is not run).
// TestInboxStopThroughDispatcher wires the Inbox to the real Dispatcher and
// bbolt store: a STOP queues one confirmation from the receiving SIM, and an
// agent's later send to the number is refused.
func TestInboxStopThroughDispatcher(t *testing.T) {
	const num = "+12025550123"
	ctx := context.Background()
	st := inbOpenStore(t)
	cfg := gateway.DefaultConfig()
	cfg.DefaultRegion = "US"
	d, err := gateway.NewDispatcher(cfg, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.AddDevice(gatewaytest.NewDevice("sim7"), gateway.ModemConfig{})
	in := gateway.NewInbox(gateway.InboxConfig{DefaultRegion: "US", Now: func() time.Time { return inbT0 }, Counter: d}, st, d, d, nil)

	// Before the STOP an agent may text the number.
	if _, err := d.Submit(ctx, gateway.SendRequest{To: num, Body: "Can you volunteer Saturday?", Agent: "ana"}); err != nil {
		t.Fatalf("send before STOP: %v", err)
	}
	stop := inbDeliver(t, num, "STOP", inbT0)[0]
	for i := 0; i < 2; i++ { // the second read is a re-read after a crash
		if err := in.HandlePDU(ctx, gateway.InboundPDU{Modem: "sim7", TPDU: stop, Received: inbT0}); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := st.OptedOut(ctx, num); err != nil || !out {
		t.Fatalf("opted out = %v, %v", out, err)
	}
	page, err := st.ListMessages(ctx, gateway.MessageFilter{Direction: gateway.Outbound, Contact: num, Agent: gateway.OptOutAgent, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 1 {
		t.Fatalf("%d confirmations queued, want 1", len(page.Messages))
	}
	c := page.Messages[0]
	if c.Body != gateway.DefaultStopReply || c.From != "sim7" || c.Status != gateway.StatusQueued {
		t.Fatalf("confirmation = %+v", c)
	}
	if _, err := d.Submit(ctx, gateway.SendRequest{To: "(202) 555-0123", Body: "one more thing", Agent: "ana"}); !errors.Is(err, gateway.ErrOptedOut) {
		t.Fatalf("send after STOP: err = %v, want ErrOptedOut", err)
	} // The STOP counts once as received on sim7 (the re-read is not a new message).
	if v, err := d.Modem("sim7"); err != nil || v.Counters.Received != 1 {
		t.Fatalf("sim7 counters = %+v, %v; want 1 received", v.Counters, err)
	}
}
