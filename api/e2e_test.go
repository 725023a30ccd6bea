package api_test

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/modem"
	"github.com/simgate/simgate/modem/modemsim"
	"github.com/simgate/simgate/store"
)

// TestE2EThroughSimulatedModem drives the whole stack through the API: the
// real Dispatcher and Inbox over a real store, the real modem driver and a
// simulated modem on a PTY. A message posted is sent and delivered (status
// report) as GET shows; a reply shows up in the conversation; a STOP from
// the contact makes the next POST a 422 opted-out.
func TestE2EThroughSimulatedModem(t *testing.T) {
	if testing.Short() {
		t.Skip("PTYs and a simulated network")
	}
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "simgate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := gateway.DefaultConfig()
	cfg.DefaultRegion = "US"
	cfg.Location = time.UTC
	cfg.Pacing = gateway.PacingConfig{MinInterval: 5 * time.Millisecond, Jitter: time.Millisecond, NewContactsPerDay: 1000}
	cfg.CloseTimeout = 10 * time.Second
	disp, err := gateway.NewDispatcher(cfg, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	inbox := gateway.NewInbox(gateway.InboxConfig{DefaultRegion: "US"}, db, disp, disp, nil)

	network := modemsim.NewNetwork(modemsim.NetworkOptions{DeliveryDelay: 10 * time.Millisecond, ReportDelay: 10 * time.Millisecond})
	t.Cleanup(func() { network.Close() })
	const simNumber = "+15550009999"
	sim := network.AddModem(modemsim.ModemConfig{Name: "sim1", MSISDN: simNumber})
	link := filepath.Join(dir, "tty-sim1")
	if _, err := sim.ServePTY(link); err != nil {
		t.Fatal(err)
	}
	dev, err := modem.Open(context.Background(), modem.Config{
		Name: "sim1", Port: link, Globs: []string{link},
		CommandTimeout: 2 * time.Second, SendTimeout: 5 * time.Second,
		PollInterval: 300 * time.Millisecond, HealthInterval: 200 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	}, inbox, disp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	disp.AddDevice(dev, gateway.ModemConfig{Name: "sim1"})
	eventually(t, "modem up", func() bool { return dev.Status().Usable() })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- disp.Run(ctx) }()
	go func() { done <- inbox.Run(ctx) }()
	t.Cleanup(func() {
		if err := disp.Close(); err != nil {
			t.Errorf("dispatcher close: %v", err)
		}
		cancel()
		for range 2 {
			if err := <-done; err != nil && !errors.Is(err, gateway.ErrClosed) && !errors.Is(err, context.Canceled) {
				t.Errorf("run: %v", err)
			}
		}
	})

	e := attachServer(t, db, disp, api.Config{DefaultRegion: "US"})
	const contact = "+15551112222"

	// Out: accepted, sent through sim1, delivered.
	m := e.send("(555) 111-2222", "Polls are open until 8pm.")
	var v api.MessageView
	eventually(t, "message delivered", func() bool {
		must(t, e.do("GET", "/v1/messages/"+m.ID, "read", nil), 200).decode(t, &v)
		return v.Status == gateway.StatusDelivered
	})
	if v.Modem != "sim1" || len(v.Parts) != 1 || v.Parts[0].MR == nil || v.Parts[0].SubmittedAt == nil || v.Parts[0].DeliveredAt == nil {
		t.Errorf("delivered message %+v", v)
	}
	if subs := network.Submissions(); len(subs) != 1 || subs[0].To != contact {
		t.Errorf("network saw %+v", subs)
	}

	// In: a reply lands in the conversation, after the message it answers.
	if err := network.InjectSMS(simNumber, contact, "Thanks, on my way"); err != nil {
		t.Fatal(err)
	}
	var conv api.ConversationPage
	eventually(t, "reply in the conversation", func() bool {
		must(t, e.do("GET", "/v1/conversations/"+url.PathEscape(contact), "read", nil), 200).decode(t, &conv)
		return len(conv.Data) == 2
	})
	if conv.Data[0].ID != m.ID || conv.Data[1].Direction != gateway.Inbound || conv.Data[1].Body != "Thanks, on my way" || conv.Data[1].Modem != "sim1" {
		t.Errorf("conversation %+v", conv.Data)
	}
	var in api.MessagePage
	must(t, e.do("GET", "/v1/messages?direction=in&contact="+url.QueryEscape(contact), "read", nil), 200).decode(t, &in)
	if len(in.Data) != 1 || in.Data[0].Status != gateway.StatusReceived {
		t.Errorf("inbound list %+v", in.Data)
	}

	// STOP: the next send is refused at accept time.
	if err := network.InjectSMS(simNumber, contact, " stop "); err != nil {
		t.Fatal(err)
	}
	eventually(t, "opt-out listed", func() bool {
		var pg api.OptOutPage
		must(t, e.do("GET", "/v1/optouts", "read", nil), 200).decode(t, &pg)
		return len(pg.Data) == 1 && pg.Data[0].Number == contact
	})
	r := must(t, e.do("POST", "/v1/messages", "send", map[string]any{"to": contact, "body": "One more thing"}), 422)
	if p := r.problem(t); p.Type != api.ProblemBase+api.ProblemOptedOut {
		t.Errorf("type %q", p.Type)
	}
	var mv api.ModemView
	must(t, e.do("GET", "/v1/modems/sim1", "read", nil), 200).decode(t, &mv)
	if !mv.Usable || mv.Counters.Sent < 1 {
		t.Errorf("modem %+v", mv)
	}
}

// eventually polls cond until it holds or 60 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
