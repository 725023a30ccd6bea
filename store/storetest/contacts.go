package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

var contactTests = []Test{
	{"StickyMoves", testStickyMoves},
	{"BudgetsAndHolds", testBudgetsAndHolds},
}

func testStickyMoves(t *testing.T, h Harness) {
	db := h.Open(t)
	if _, err := db.Sticky(ctx, "+1"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Sticky missing: %v", err)
	}
	steps := []struct {
		set       gateway.Sticky
		wantMoves []string
	}{
		{gateway.Sticky{Modem: "a", Since: T0}, nil},
		{gateway.Sticky{Modem: "a", Since: T0.Add(time.Hour)}, nil},
		{gateway.Sticky{Modem: "b", Since: T0.Add(2 * time.Hour)}, []string{"a>b:rebound"}},
		{gateway.Sticky{Modem: "c", Since: T0.Add(3 * time.Hour), Moves: []gateway.StickyMove{{From: "b", To: "c", Reason: "gone"}}}, []string{"a>b:rebound", "b>c:gone"}},
		// the caller carried the history over and added its own move
		{gateway.Sticky{Modem: "d", Since: T0.Add(4 * time.Hour), Moves: []gateway.StickyMove{
			{From: "a", To: "b", At: T0.Add(2 * time.Hour), Reason: "rebound"}, {From: "b", To: "c", Reason: "gone"}, {From: "c", To: "d", Reason: "paused"},
		}}, []string{"a>b:rebound", "b>c:gone", "c>d:paused"}},
	}
	for i, s := range steps {
		if err := db.SetSticky(ctx, "+1", s.set); err != nil {
			t.Fatal(err)
		}
		got, err := db.Sticky(ctx, "+1")
		if err != nil {
			t.Fatal(err)
		}
		var moves []string
		for _, m := range got.Moves {
			moves = append(moves, m.From+">"+m.To+":"+m.Reason)
		}
		if got.Modem != s.set.Modem || !got.Since.Equal(s.set.Since) || !slices.Equal(moves, s.wantMoves) {
			t.Errorf("step %d: %+v, moves %v want %v", i, got, moves, s.wantMoves)
		}
	}
	if err := db.SetSticky(ctx, "+2", gateway.Sticky{Modem: "a"}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Sticky(ctx, "+2"); err != nil || got.Since.IsZero() {
		t.Errorf("a zero Since is set: %+v, %v", got, err)
	}
	db = h.Reopen(t, db)
	if got, err := db.Sticky(ctx, "+1"); err != nil || got.Modem != "d" || len(got.Moves) != 3 {
		t.Errorf("after reopen: %+v, %v", got, err)
	}
}

func testBudgetsAndHolds(t *testing.T, h Harness) {
	db := h.Open(t)
	if bs, err := db.Budgets(ctx); err != nil || len(bs) != 0 {
		t.Errorf("Budgets of a new store = %v, %v", bs, err)
	}
	u := gateway.BudgetUsage{Day: "2026-11-26", Parts: 10, NewContacts: 2, LastSend: T0, WatchFrom: T0.Add(-time.Minute)}
	if err := db.SaveBudget(ctx, "a", u); err != nil {
		t.Fatal(err)
	}
	hold := &gateway.ModemHold{Paused: true, Reason: "carrier block", Until: T0.Add(time.Hour)}
	if err := db.SaveBudget(ctx, "b", gateway.BudgetUsage{Day: "2026-11-26", Parts: 1, Hold: hold}); err != nil {
		t.Fatal(err)
	}
	u.Parts = 11 // replaces
	if err := db.SaveBudget(ctx, "a", u); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		bs, err := db.Budgets(ctx)
		if err != nil || len(bs) != 2 || bs["a"].Parts != 11 || bs["a"].NewContacts != 2 || !bs["a"].LastSend.Equal(T0) || bs["a"].Hold != nil ||
			!bs["a"].WatchFrom.Equal(T0.Add(-time.Minute)) || !bs["b"].WatchFrom.IsZero() {
			t.Errorf("Budgets = %v, %v", bs, err)
		}
		if got := bs["b"].Hold; got == nil || !got.Paused || got.Reason != hold.Reason || !got.Until.Equal(hold.Until) {
			t.Errorf("hold of b = %+v, want %+v", got, hold)
		}
	}
	check()
	db = h.Reopen(t, db)
	check()
}
