package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/simgate/simgate/gateway"
)

var eventTests = []Test{
	{"AppendListPruneTrim", testEvents},
}

func testEvents(t *testing.T, h Harness) {
	db := h.Open(t)
	var evs []gateway.Event
	for i := range 10 {
		at := T0.Add(time.Duration(i) * time.Hour)
		e := gateway.Event{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), Type: gateway.EventMessageSent, Time: at, MessageID: "m", Modem: "a", Data: gateway.MessageSentData{Segments: i}}
		if err := db.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if err := db.AppendEvent(ctx, evs[3]); !errors.Is(err, gateway.ErrExists) {
		t.Errorf("duplicate event: %v", err)
	}
	got, err := db.Events(ctx, evs[2].ID, 3)
	if err != nil || len(got) != 3 || got[0].ID != evs[3].ID || got[2].ID != evs[5].ID {
		t.Fatalf("Events = %+v, %v", got, err)
	}
	if e := got[0]; e.Data != (gateway.MessageSentData{Segments: 3}) || e.Type != gateway.EventMessageSent || e.MessageID != "m" || e.Modem != "a" || !e.Time.Equal(evs[3].Time) {
		t.Errorf("event read back as %+v", e)
	}
	handOn(t, db) // only events the outbox has handed on are pruned
	n, err := db.PruneEvents(ctx, T0.Add(4*time.Hour), 0)
	if err != nil || n != 4 {
		t.Errorf("PruneEvents = %d, %v; want 4", n, err)
	}
	got, _ = db.Events(ctx, "", 0)
	if len(got) != 6 || got[0].ID != evs[4].ID {
		t.Errorf("after prune: %d events, first %v", len(got), got)
	}
	if err := db.AppendEvent(ctx, gateway.Event{Type: gateway.EventModemUp}); err != nil {
		t.Fatal(err)
	}
	got, _ = db.Events(ctx, evs[9].ID, 0)
	if len(got) != 1 || got[0].ID == "" || got[0].Time.IsZero() {
		t.Errorf("event without id: %+v", got)
	}
	if n, err := db.CountEvents(ctx); n != 7 || err != nil {
		t.Errorf("CountEvents = %d, %v; want 7", n, err)
	}
	handOn(t, db)
	n, err = db.TrimEvents(ctx, 2)
	if err != nil || n != 5 {
		t.Errorf("TrimEvents = %d, %v; want 5", n, err)
	}
	got, _ = db.Events(ctx, "", 0)
	if len(got) != 2 || got[0].ID != evs[9].ID {
		t.Errorf("after trim: %+v", got)
	}
	if n, _ := db.TrimEvents(ctx, 5); n != 0 {
		t.Errorf("TrimEvents below the cap deleted %d", n)
	}
	db = h.Reopen(t, db)
	if n, _ := db.CountEvents(ctx); n != 2 {
		t.Errorf("CountEvents after trim and reopen = %d", n)
	}
}
