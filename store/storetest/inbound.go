package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

var inboundTests = []Test{
	{"Fragments", testFragments},
}

func testFragments(t *testing.T, h Harness) {
	db := h.Open(t)
	frag := func(seq int, at time.Duration) gateway.Fragment {
		return gateway.Fragment{Seq: seq, Total: 3, TPDU: []byte{byte(seq)}, Received: T0.Add(at)}
	}
	const key = "+15550001|42|3|modem1"
	steps := []struct {
		f    gateway.Fragment
		want []int
	}{
		{frag(2, 0), []int{2}},
		{frag(2, time.Second), []int{2}}, // duplicate
		{frag(1, 2*time.Second), []int{1, 2}},
	}
	for _, s := range steps {
		got, err := db.AddFragment(ctx, key, s.f)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int
		for _, f := range got {
			seqs = append(seqs, f.Seq)
		}
		if !slices.Equal(seqs, s.want) {
			t.Errorf("after seq %d: %v, want %v", s.f.Seq, seqs, s.want)
		}
	}
	if _, err := db.AddFragment(ctx, "other", frag(1, time.Hour)); err != nil {
		t.Fatal(err)
	}
	stale, err := db.StaleFragments(ctx, T0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 1 || len(stale[key]) != 2 || !stale[key][0].Received.Equal(T0.Add(2*time.Second)) {
		t.Errorf("StaleFragments = %v", stale)
	}

	// Survives a restart.
	db = h.Reopen(t, db)
	got, err := db.AddFragment(ctx, key, frag(3, 3*time.Second))
	if err != nil || len(got) != 3 || got[1].TPDU[0] != 2 {
		t.Fatalf("after reopen: %v, %v", got, err)
	}

	in := NewMessage(7)
	in.Direction, in.Status, in.Parts = gateway.Inbound, gateway.StatusReceived, nil
	if err := db.CompleteInbound(ctx, in, key); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetMessage(ctx, in.ID); err != nil {
		t.Errorf("completed message: %v", err)
	}
	stale, _ = db.StaleFragments(ctx, T0.Add(48*time.Hour))
	if _, ok := stale[key]; ok || len(stale["other"]) != 1 {
		t.Errorf("fragments after completion: %v", stale)
	}

	// A message that exists already: nothing happens, the fragments stay.
	if _, err := db.AddFragment(ctx, "k2", frag(1, 0)); err != nil {
		t.Fatal(err)
	}
	dup := NewMessage(8)
	dup.ID = in.ID
	if err := db.CompleteInbound(ctx, dup, "k2"); !errors.Is(err, gateway.ErrExists) {
		t.Errorf("CompleteInbound duplicate: %v", err)
	}
	stale, _ = db.StaleFragments(ctx, T0.Add(48*time.Hour))
	if len(stale["k2"]) != 1 {
		t.Errorf("fragments of a refused completion were deleted: %v", stale)
	}
	// A single-part message needs no key.
	single := NewMessage(9)
	single.Direction, single.Status, single.Parts = gateway.Inbound, gateway.StatusReceived, nil
	if err := db.CompleteInbound(ctx, single, ""); err != nil {
		t.Fatal(err)
	}
	inbound := ListAll(t, db, gateway.MessageFilter{Direction: gateway.Inbound, Ascending: true})
	if !slices.Equal(inbound, []string{in.ID, single.ID}) {
		t.Errorf("inbound list %v", inbound)
	}
	var ve *gateway.ValidationError
	if _, err := db.AddFragment(ctx, key, gateway.Fragment{Seq: -1}); !errors.As(err, &ve) {
		t.Errorf("negative seq: %v, want a ValidationError", err)
	}
}
