package api_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
)

// TestSIMs: the inventory as stored is listed and read by ID, with the
// live state of the modem a SIM is in; an unknown ID is a 404 problem.
func TestSIMs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, s := range []gateway.SIM{
		{ID: "8901260000000000019", ICCID: "8901260000000000019", IMSI: "310260000000001", MSISDN: "+15550001001",
			FirstSeen: at, LastSeen: at, Modem: "sim1", LastModem: "sim1",
			Counters: gateway.SIMCounters{Sent: 4, Delivered: 3}, Budget: gateway.BudgetUsage{Day: time.Now().Format(time.DateOnly), Parts: 4},
			Balance: []gateway.BalanceReading{{Amount: 9.5, At: at, Modem: "sim2"}}, Moves: []gateway.SIMMove{{From: "sim2", To: "sim1", At: at}}},
		{ID: "imsi:310260000000002", IMSI: "310260000000002", FirstSeen: at, LastSeen: at, LastModem: "sim2"},
	} {
		if err := e.db.SaveSIM(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.disp.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
	})
	var list api.SIMList
	deadline := time.Now().Add(20 * time.Second)
	for len(list.Data) < 2 && time.Now().Before(deadline) { // Run loads the inventory
		must(t, e.do("GET", "/v1/sims", "read", nil), 200).decode(t, &list)
		time.Sleep(10 * time.Millisecond)
	}
	if len(list.Data) != 2 || list.Data[0].ID != "8901260000000000019" || list.Data[1].ID != "imsi:310260000000002" {
		t.Fatalf("sims %+v", list.Data)
	}
	x := list.Data[0]
	if !x.InModem || x.Modem != "sim1" || x.Counters.Sent != 4 || x.BudgetView.UsedToday != 4 || len(x.Balance) != 1 || !x.Usable {
		t.Errorf("sim in sim1: %+v", x)
	}
	if y := list.Data[1]; y.InModem || y.Modem != "" || y.Usable || len(y.Balance) != 0 {
		t.Errorf("sim in no modem: %+v", y)
	}
	var one api.SIMView
	must(t, e.do("GET", "/v1/sims/imsi:310260000000002", "read", nil), 200).decode(t, &one)
	if one.IMSI != "310260000000002" || one.LastModem != "sim2" {
		t.Errorf("one sim %+v", one)
	}
	var m api.ModemView
	must(t, e.do("GET", "/v1/modems/sim1", "read", nil), 200).decode(t, &m)
	if m.SIM != "8901260000000000019" {
		t.Errorf("modem sim1 shows SIM %q", m.SIM)
	}
	if p := must(t, e.do("GET", "/v1/sims/8900000000000000000", "read", nil), 404).problem(t); p.Status != 404 {
		t.Errorf("unknown SIM: %+v", p)
	}
	must(t, e.do("GET", "/v1/sims", "", nil), 401)
}
