package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/gatewaytest"
)

// simIn is the SIM record the dispatcher shows for id, once it is in modem.
func simIn(t *testing.T, d *gateway.Dispatcher, id, modem string) gateway.SIMView {
	t.Helper()
	var v gateway.SIMView
	gatewaytest.Eventually(t, "SIM "+id+" in "+modem, func() bool {
		var err error
		v, err = d.SIM(id)
		return err == nil && v.Modem == modem && v.InModem == (modem != "")
	})
	return v
}

// TestSIMHistoryFollowsTheSIM: budgets, drain, counters, balance readings
// and sticky contacts belong to the SIM; moved into another modem it takes
// them along, and a SIM the inventory does not know starts fresh.
func TestSIMHistoryFollowsTheSIM(t *testing.T) {
	ctx := context.Background()
	st := gatewaytest.NewMemStore()
	// Bindings from before the inventory, by modem name.
	for _, c := range []string{"+12025550101", "+12025550102"} {
		if err := st.SetSticky(ctx, c, gateway.Sticky{Modem: "a", Since: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetSticky(ctx, "+12025550109", gateway.Sticky{Modem: "b", Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, testConfig(), st)
	h.add("a", nil).SetSIM("8901000000000000001")
	h.add("b", nil).SetSIM("8901000000000000002")
	h.start()
	simIn(t, h.d, "8901000000000000001", "a")
	simIn(t, h.d, "8901000000000000002", "b")
	if s, _ := st.Sticky(ctx, "+12025550101"); s.SIM != "8901000000000000001" || s.Modem != "a" {
		t.Fatalf("a's old binding not taken over by its SIM: %+v", s)
	}
	for _, c := range []string{"+12025550101", "+12025550102"} {
		if m := h.waitStatus(h.submit(gateway.SendRequest{To: c, Body: "hi"}).ID, gateway.StatusSent); m.Modem != "a" {
			t.Fatalf("%s sent through %s, want its sticky a", c, m.Modem)
		}
	}
	h.d.RecordBalance("a", 5.5, time.Now())
	if err := h.d.Drain("a"); err != nil {
		t.Fatal(err)
	}

	// X is taken out of a (a goes down) and put into b, whose own SIM is put aside.
	h.devs["a"].SetUsable(false)
	h.devs["b"].SetSIM("8901000000000000001")
	x := simIn(t, h.d, "8901000000000000001", "b")
	if x.Counters.Sent != 2 || x.Budget.Parts != 2 || x.BudgetView.UsedToday != 2 {
		t.Errorf("X in b: counters %+v, budget %+v / %+v; want 2 parts sent and used", x.Counters, x.Budget, x.BudgetView)
	}
	if len(x.Balance) != 1 || x.Balance[0].Amount != 5.5 || x.Balance[0].Modem != "a" {
		t.Errorf("X's balance history %+v, want the reading through a", x.Balance)
	}
	if !x.Draining {
		t.Error("X's drain stayed behind in a")
	}
	if len(x.Moves) != 1 || x.Moves[0].From != "a" || x.Moves[0].To != "b" {
		t.Errorf("X moves %+v", x.Moves)
	}
	if mv, _ := h.d.Modem("b"); mv.SIM != "8901000000000000001" || !mv.Draining || mv.Budget.UsedToday != 2 {
		t.Errorf("modem b: sim %q draining %v used %d", mv.SIM, mv.Draining, mv.Budget.UsedToday)
	}
	if z, _ := h.d.SIM("8901000000000000002"); z.Modem != "" || z.InModem || z.LastModem != "b" {
		t.Errorf("Z, put aside: %+v", z)
	}
	if s, _ := st.Sticky(ctx, "+12025550109"); s.SIM != "8901000000000000002" || s.Modem == "b" {
		t.Errorf("Z's contact still bound to b, which holds X now: %+v", s)
	}
	// X's contacts follow it (it drains: it takes no new contacts, but its own).
	if m := h.waitStatus(h.submit(gateway.SendRequest{To: "+12025550101", Body: "again"}).ID, gateway.StatusSent); m.Modem != "b" {
		t.Fatalf("X's contact sent through %s, want b (X is there now)", m.Modem)
	}
	if s, _ := st.Sticky(ctx, "+12025550101"); s.Modem != "b" || s.SIM != "8901000000000000001" || len(s.Moves) != 0 {
		t.Errorf("binding after the move: %+v", s)
	}

	// A SIM the inventory does not know, in a: fresh.
	h.devs["a"].SetSIM("8901000000000000003")
	h.devs["a"].SetUsable(true)
	w := simIn(t, h.d, "8901000000000000003", "a")
	if w.Counters != (gateway.SIMCounters{}) || w.Budget.Parts != 0 || w.Draining || len(w.Balance) != 0 || len(w.Moves) != 0 {
		t.Errorf("fresh SIM in a: %+v", w)
	}
	if mv, _ := h.d.Modem("a"); mv.Draining || mv.Budget.UsedToday != 0 {
		t.Errorf("modem a with a fresh SIM: draining %v, used %d", mv.Draining, mv.Budget.UsedToday)
	}
	if m := h.waitStatus(h.submit(gateway.SendRequest{To: "+12025550150", Body: "new"}).ID, gateway.StatusSent); m.Modem != "a" {
		t.Fatalf("a new contact went through %s; only a takes new contacts (b drains)", m.Modem)
	}
	if got := h.d.SIMs(); len(got) != 3 {
		t.Errorf("SIMs: %d records, want 3", len(got))
	}

	// A restart keeps it all.
	h.stop()
	h2 := newHarness(t, testConfig(), st)
	h2.add("a", nil).SetSIM("8901000000000000003")
	h2.add("b", nil).SetSIM("8901000000000000001")
	h2.start()
	x = simIn(t, h2.d, "8901000000000000001", "b")
	if x.Counters.Sent != 3 || x.Budget.Parts != 3 || !x.Draining || len(x.Balance) != 1 {
		t.Errorf("X after a restart: %+v", x)
	}
}

// TestSIMTakenOutParksItsContacts: a modem given another SIM while its own
// is in no modem does not text the old SIM's contacts; they wait for that
// SIM StickyTimeout and then move, as from a gone modem. Back in a modem
// before that, the SIM takes them along.
func TestSIMTakenOutParksItsContacts(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.StickyTimeout = 300 * time.Millisecond
	st := gatewaytest.NewMemStore()
	h := newHarness(t, cfg, st)
	h.add("a", nil).SetSIM("8901000000000000001")
	h.add("b", nil).SetSIM("8901000000000000002")
	h.start()
	simIn(t, h.d, "8901000000000000001", "a")
	for _, c := range []string{"+12025550201", "+12025550202"} {
		if err := st.SetSticky(ctx, c, gateway.Sticky{Modem: "a", SIM: "8901000000000000001", Since: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	// X is taken out of a, which gets a new SIM; X is in no modem.
	h.devs["a"].SetSIM("8901000000000000003")
	simIn(t, h.d, "8901000000000000003", "a")
	if x, _ := h.d.SIM("8901000000000000001"); x.InModem || x.Modem != "" {
		t.Fatalf("X still in a modem: %+v", x)
	}
	s, _ := st.Sticky(ctx, "+12025550201")
	if s.Modem == "a" || s.SIM != "8901000000000000001" || strings.Contains(s.Modem, "8901") {
		t.Fatalf("X's contact while X is out: %+v (not a, and no ICCID in the stand-in)", s)
	}
	// Its message waits StickyTimeout, then goes out of a SIM that is in.
	m := h.waitStatus(h.submit(gateway.SendRequest{To: "+12025550201", Body: "hi"}).ID, gateway.StatusSent)
	if m.Modem != "a" && m.Modem != "b" {
		t.Fatalf("sent through %q", m.Modem)
	}
	if s, _ := st.Sticky(ctx, "+12025550201"); s.Modem != m.Modem || len(s.Moves) != 1 {
		t.Errorf("binding after the wait: %+v", s)
	}
	// X comes back (into b, in place of Y): its other contact follows it.
	h.devs["b"].SetSIM("8901000000000000001")
	simIn(t, h.d, "8901000000000000001", "b")
	if s, _ := st.Sticky(ctx, "+12025550202"); s.Modem != "b" || s.SIM != "8901000000000000001" {
		t.Errorf("X's other contact after X came back in b: %+v", s)
	}
}
