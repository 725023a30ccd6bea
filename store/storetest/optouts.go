package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/simgate/simgate/gateway"
)

var optOutTests = []Test{
	{"AddListRemove", testOptOuts},
}

func testOptOuts(t *testing.T, h Harness) {
	db := h.Open(t)
	for _, n := range []string{"+3", "+1", "+2"} {
		if err := db.AddOptOut(ctx, gateway.OptOut{Number: n, Source: "sms", Keyword: "STOP", Modem: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AddOptOut(ctx, gateway.OptOut{Number: "+3", Source: "api"}); err != nil { // replaces
		t.Fatal(err)
	}
	var ve *gateway.ValidationError
	if err := db.AddOptOut(ctx, gateway.OptOut{Source: "api"}); !errors.As(err, &ve) {
		t.Errorf("AddOptOut without a number: %v", err)
	}
	if ok, err := db.OptedOut(ctx, "+2"); !ok || err != nil {
		t.Errorf("OptedOut(+2) = %v, %v", ok, err)
	}
	if ok, _ := db.OptedOut(ctx, "+4"); ok {
		t.Error("OptedOut(+4)")
	}
	list := func(after string, limit int) []gateway.OptOut {
		oos, err := db.ListOptOuts(ctx, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		return oos
	}
	numbers := func(oos []gateway.OptOut) []string {
		var out []string
		for _, o := range oos {
			out = append(out, o.Number)
		}
		return out
	}
	all := list("", 0)
	if got := numbers(all); !slices.Equal(got, []string{"+1", "+2", "+3"}) {
		t.Errorf("list = %v", got)
	}
	if all[0].Keyword != "STOP" || all[0].Modem != "a" || all[0].At.IsZero() || all[2].Source != "api" {
		t.Errorf("entries = %+v", all)
	}
	if got := numbers(list("+1", 1)); !slices.Equal(got, []string{"+2"}) {
		t.Errorf("list after +1 = %v", got)
	}
	if err := db.RemoveOptOut(ctx, "+2"); err != nil {
		t.Fatal(err)
	}
	if err := db.RemoveOptOut(ctx, "+2"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
	if ok, _ := db.OptedOut(ctx, "+2"); ok {
		t.Error("still opted out")
	}
	db = h.Reopen(t, db)
	if got := numbers(list("", 0)); !slices.Equal(got, []string{"+1", "+3"}) {
		t.Errorf("after reopen = %v", got)
	}
}
