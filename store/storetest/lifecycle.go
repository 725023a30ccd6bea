package storetest

import (
	"errors"
	"testing"

	"github.com/simgate/simgate/gateway"
)

var lifecycleTests = []Test{
	{"WritableThenClosed", testWritableThenClosed},
}

func testWritableThenClosed(t *testing.T, h Harness) {
	db := h.Open(t)
	if err := db.Writable(ctx); err != nil {
		t.Fatalf("Writable: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := db.GetMessage(ctx, "x"); !errors.Is(err, gateway.ErrClosed) {
		t.Errorf("GetMessage after Close: %v", err)
	}
	if err := db.CreateMessage(ctx, NewMessage(1)); !errors.Is(err, gateway.ErrClosed) {
		t.Errorf("CreateMessage after Close: %v", err)
	}
	if err := db.Writable(ctx); !errors.Is(err, gateway.ErrClosed) {
		t.Errorf("Writable after Close: %v", err)
	}
	if _, err := db.OptedOut(ctx, "+1"); !errors.Is(err, gateway.ErrClosed) {
		t.Errorf("OptedOut after Close: %v", err)
	}
}
