package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

var simTests = []Test{
	{"SaveAndList", testSIMSaveAndList},
	{"RebindMovesBindingsWithTheirSIM", testRebindSIM},
}

func testSIMSaveAndList(t *testing.T, h Harness) {
	db := h.Open(t)
	if got, err := db.SIMs(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v, %v", got, err)
	}
	a := gateway.SIM{
		ID: "8901260000000000019", ICCID: "8901260000000000019", IMSI: "310260000000001", MSISDN: "+15550001001",
		FirstSeen: T0, LastSeen: T0.Add(time.Hour), Modem: "sim2", LastModem: "sim2",
		Counters: gateway.SIMCounters{Sent: 7, Failed: 1, Delivered: 5, Received: 2, Month: "2026-11", MonthParts: 7},
		Budget:   gateway.BudgetUsage{Day: "2026-11-26", Parts: 7, NewContacts: 3, Hold: &gateway.ModemHold{Paused: true, Reason: "low balance: 0.5"}},
		Balance:  []gateway.BalanceReading{{Amount: 12.34, At: T0, Modem: "sim1"}, {Amount: 0.5, At: T0.Add(time.Minute), Modem: "sim2"}},
		Moves:    []gateway.SIMMove{{From: "sim1", To: "sim2", At: T0.Add(30 * time.Second)}},
	}
	b := gateway.SIM{ID: "imsi:310260000000002", IMSI: "310260000000002", FirstSeen: T0, LastSeen: T0, LastModem: "sim1"}
	for _, s := range []gateway.SIM{b, a} {
		if err := db.SaveSIM(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SaveSIM(ctx, gateway.SIM{}); err == nil {
		t.Error("SaveSIM without an ID: no error")
	}
	a.Counters.Sent++ // a replaced, not added
	if err := db.SaveSIM(ctx, a); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		got, err := db.SIMs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !sameSIM(got[0], a) || !sameSIM(got[1], b) {
			t.Errorf("%s: SIMs = %+v\nwant %+v, %+v", when, got, a, b)
		}
	}
	check("saved")
	db = h.Reopen(t, db)
	check("after reopen")
}

// sameSIM compares two records, times by instant.
func sameSIM(x, y gateway.SIM) bool {
	norm := func(s gateway.SIM) gateway.SIM {
		s.FirstSeen, s.LastSeen = s.FirstSeen.UTC(), s.LastSeen.UTC()
		for i := range s.Balance {
			s.Balance[i].At = s.Balance[i].At.UTC()
		}
		for i := range s.Moves {
			s.Moves[i].At = s.Moves[i].At.UTC()
		}
		s.Budget.LastSend = s.Budget.LastSend.UTC()
		if s.Budget.Hold != nil {
			h := *s.Budget.Hold
			h.Until = h.Until.UTC()
			s.Budget.Hold = &h
		}
		return s
	}
	return reflect.DeepEqual(norm(x), norm(y))
}

func testRebindSIM(t *testing.T, h Harness) {
	db := h.Open(t)
	set := map[string]gateway.Sticky{
		"+1": {Modem: "a", SIM: "X", Since: T0},     // X's, in a
		"+2": {Modem: "a", Since: T0},               // a's from before the inventory
		"+3": {Modem: "b", SIM: "Y", Since: T0},     // another SIM's
		"+4": {Modem: "sim X", SIM: "X", Since: T0}, // X's, parked
		"+5": {Modem: "b", Since: T0},               // b's from before the inventory
		"+6": {Modem: "c", SIM: "X", Since: T0, Moves: []gateway.StickyMove{{From: "z", To: "c", At: T0, Reason: "rebound"}}},
	}
	for c, s := range set {
		if err := db.SetSticky(ctx, c, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.RebindSIM(ctx, "", "a", "b"); err == nil {
		t.Error("RebindSIM without a SIM: no error")
	}
	n, err := db.RebindSIM(ctx, "X", "a", "c")
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 { // +1, +2, +4 (+6 is in c already)
		t.Errorf("RebindSIM changed %d bindings, want 3", n)
	}
	want := map[string][2]string{
		"+1": {"c", "X"}, "+2": {"c", "X"}, "+3": {"b", "Y"}, "+4": {"c", "X"}, "+5": {"b", ""}, "+6": {"c", "X"},
	}
	check := func(when string) {
		t.Helper()
		for c, w := range want {
			got, err := db.Sticky(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if got.Modem != w[0] || got.SIM != w[1] {
				t.Errorf("%s: %s bound to %s/%s, want %s/%s", when, c, got.Modem, got.SIM, w[0], w[1])
			}
			if !got.Since.Equal(T0) {
				t.Errorf("%s: %s since %v, want %v", when, c, got.Since, T0)
			}
		}
		if got, _ := db.Sticky(ctx, "+6"); len(got.Moves) != 1 {
			t.Errorf("%s: +6 moves %+v: the history is kept", when, got.Moves)
		}
	}
	check("after rebind")
	// Without from, only the SIM's bindings move.
	if n, err := db.RebindSIM(ctx, "X", "", "d"); err != nil || n != 4 {
		t.Errorf("second RebindSIM: %d, %v; want 4", n, err)
	}
	for _, c := range []string{"+1", "+2", "+4", "+6"} {
		want[c] = [2]string{"d", "X"}
	}
	db = h.Reopen(t, db)
	check("after reopen")
}
