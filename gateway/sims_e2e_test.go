package gateway_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/balance"
)

// rigUSSD runs USSD codes on the rig's drivers.
type rigUSSD struct{ r *rig }

func (u rigUSSD) RunUSSD(ctx context.Context, modem, code string) (gateway.USSDReply, error) {
	dev := u.r.devs[modem]
	if dev == nil {
		return gateway.USSDReply{}, gateway.ErrNoModem
	}
	return dev.USSD(ctx, code)
}

// waitSIM waits until the inventory shows SIM id in modem and returns it.
func (r *rig) waitSIM(id, modem string) gateway.SIMView {
	r.t.Helper()
	var v gateway.SIMView
	waitFor(r.t, "SIM "+id+" in "+modem, 30*time.Second, func() bool {
		var err error
		v, err = r.d.SIM(id)
		return err == nil && v.Modem == modem && v.InModem
	})
	return v
}

// TestE2ESIMSwappedKeepsHistory: a SIM with sent history, sticky contacts,
// budget used and a balance reading is moved to another simulated modem
// (the operator takes that modem's SIM out first). The gateway shows the
// same SIM record under the new modem: its contacts stick to it there
// (the network sees them sent from the SIM's number), its budget goes on
// from where it was and its balance history continues. A fresh SIM put
// into the old modem starts fresh.
func TestE2ESIMSwappedKeepsHistory(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 2, e2eConfig(), nil, nil)
	checker, err := balance.New([]balance.Check{
		{Modem: "sim1", Code: "*100#", Every: time.Hour, Amount: regexp.MustCompile(`balance is ([0-9.]+)`)},
		{Modem: "sim2", Code: "*100#", Every: time.Hour, Amount: regexp.MustCompile(`balance is ([0-9.]+)`)},
	}, rigUSSD{r}, r.d, balance.Options{History: r.d})
	if err != nil {
		t.Fatal(err)
	}
	_, _, x := r.sims["sim1"].Info() // the SIM that moves
	_, _, z := r.sims["sim2"].Info() // the one taken out of sim2
	numberX := r.sims["sim1"].MSISDN()
	r.start()
	r.waitSIM(x, "sim1")
	r.waitSIM(z, "sim2")

	// History on X: three contacts texted from it, a balance reading.
	if err := r.d.Pause("sim2", "test: make sim1 take the contacts", time.Time{}); err != nil {
		t.Fatal(err)
	}
	contacts := []string{number(700), number(701), number(702)}
	for _, c := range contacts {
		if m := r.waitStatus(r.submit(gateway.SendRequest{To: c, Body: "first"}).ID, gateway.StatusSent, gateway.StatusDelivered); m.Modem != "sim1" {
			t.Fatalf("%s went through %s", c, m.Modem)
		}
	}
	if err := r.d.Resume("sim2"); err != nil {
		t.Fatal(err)
	}
	if res, err := checker.CheckNow(ctx, "sim1"); err != nil || res.Amount != 12.34 {
		t.Fatalf("balance on sim1: %+v, %v", res, err)
	}
	before := r.waitSIM(x, "sim1")
	if before.Counters.Sent != 3 || before.Budget.Parts != 3 || before.Budget.NewContacts != 3 || len(before.Balance) != 1 {
		t.Fatalf("X before the move: %+v", before)
	}

	// The operator takes Z out of sim2, moves X from sim1 to sim2 and puts
	// a new card into sim1.
	if _, err := r.sims["sim2"].TakeSIM(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.net.MoveSIM("sim1", "sim2"); err != nil {
		t.Fatal(err)
	}
	w := r.net.NewSIM()
	if err := r.sims["sim1"].InsertSIM(w); err != nil {
		t.Fatal(err)
	}

	after := r.waitSIM(x, "sim2")
	// (a status report may still come in between: delivered only grows)
	if after.Counters.Sent != 3 || after.Counters.Delivered < before.Counters.Delivered {
		t.Errorf("X's counters after the move %+v, want %+v", after.Counters, before.Counters)
	}
	if after.Budget.Parts != 3 || after.Budget.NewContacts != 3 || after.BudgetView.UsedToday != 3 || after.BudgetView.NewContactsToday != 3 {
		t.Errorf("X's budget was reset by the move: %+v / %+v", after.Budget, after.BudgetView)
	}
	if len(after.Balance) != 1 || after.Balance[0].Amount != 12.34 || after.Balance[0].Modem != "sim1" {
		t.Errorf("X's balance history %+v", after.Balance)
	}
	if !after.FirstSeen.Equal(before.FirstSeen) || len(after.Moves) != 1 || after.Moves[0].From != "sim1" || after.Moves[0].To != "sim2" {
		t.Errorf("X's record: first seen %v (was %v), moves %+v", after.FirstSeen, before.FirstSeen, after.Moves)
	}
	if mv, _ := r.d.Modem("sim2"); mv.SIM != x || mv.Info.ICCID != x {
		t.Errorf("modem sim2 shows SIM %q (ICCID %q), want %s", mv.SIM, mv.Info.ICCID, x)
	}
	fresh := r.waitSIM(w.ICCID, "sim1")
	if fresh.Counters != (gateway.SIMCounters{}) || fresh.Budget.Parts != 0 || len(fresh.Balance) != 0 || len(fresh.Moves) != 0 {
		t.Errorf("the fresh SIM in sim1 has history: %+v", fresh)
	}
	if mv, _ := r.d.Modem("sim1"); mv.Budget.UsedToday != 0 || mv.Budget.NewContactsToday != 0 {
		t.Errorf("sim1 with a fresh SIM: budget %+v", mv.Budget)
	}
	if zr, _ := r.d.SIM(z); zr.InModem || zr.LastModem != "sim2" {
		t.Errorf("Z, taken out: %+v", zr)
	}
	waitFor(t, "sim1 and sim2 usable", 30*time.Second, func() bool {
		a, _ := r.d.Modem("sim1")
		b, _ := r.d.Modem("sim2")
		return a.Usable && b.Usable
	})

	// X's contacts stick to X, now in sim2, and its budget goes on.
	seen := len(r.net.Submissions())
	for _, c := range contacts {
		if m := r.waitStatus(r.submit(gateway.SendRequest{To: c, Body: "again"}).ID, gateway.StatusSent, gateway.StatusDelivered); m.Modem != "sim2" {
			t.Errorf("%s (X's contact) went through %s, want sim2 where X is", c, m.Modem)
		}
		s, err := r.db.Sticky(ctx, c)
		if err != nil || s.Modem != "sim2" || s.SIM != x {
			t.Errorf("%s bound to %+v, %v", c, s, err)
		}
	}
	for _, s := range r.net.Submissions()[seen:] {
		if s.FromMSISDN != numberX {
			t.Errorf("the network saw %s's message from %s, want X's number", s.To, s.FromMSISDN)
		}
	}
	if res, err := checker.CheckNow(ctx, "sim2"); err != nil || !res.Known {
		t.Fatalf("balance on sim2: %+v, %v", res, err)
	}
	x2 := r.waitSIM(x, "sim2")
	if x2.Counters.Sent != 6 || x2.Budget.Parts != 6 || x2.Budget.NewContacts != 3 {
		t.Errorf("X after three more sends: counters %+v, budget %+v; want 6 parts, still 3 new contacts", x2.Counters, x2.Budget)
	}
	if len(x2.Balance) != 2 || x2.Balance[1].Modem != "sim2" {
		t.Errorf("X's balance history did not continue in sim2: %+v", x2.Balance)
	}
	if got, _ := r.d.SIM(w.ICCID); len(got.Balance) != 0 || got.Counters.Sent != 0 {
		t.Errorf("the fresh SIM took X's history: %+v", got)
	}
	// The inventory lists all three SIMs.
	var ids []string
	for _, s := range r.d.SIMs() {
		ids = append(ids, s.ID)
	}
	if len(ids) != 3 || !strings.Contains(strings.Join(ids, ","), x) {
		t.Errorf("SIMs %v", ids)
	}
}
