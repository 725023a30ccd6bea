package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

var webhookTests = []Test{
	{"WebhooksAndDeliveries", testWebhooksAndDeliveries},
}

func delivIDs(ds []gateway.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func testWebhooksAndDeliveries(t *testing.T, h Harness) {
	db := h.Open(t)
	w := gateway.Webhook{ID: "w1", URL: "https://example.com/h", Secret: "whsec_abc", Source: "api", Events: []gateway.EventType{gateway.EventMessageSent}}
	if err := db.PutWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := db.PutWebhook(ctx, gateway.Webhook{ID: "w2", URL: "https://example.com/2"}); err != nil {
		t.Fatal(err)
	}
	hooks, err := db.ListWebhooks(ctx)
	if err != nil || len(hooks) != 2 || hooks[0].ID != "w1" || hooks[0].Secret != "whsec_abc" || hooks[0].URL != w.URL ||
		!slices.Equal(hooks[0].Events, w.Events) || hooks[0].Source != "api" || hooks[1].CreatedAt.IsZero() {
		t.Fatalf("ListWebhooks = %+v, %v", hooks, err)
	}
	var ds []gateway.Delivery
	for i := range 5 {
		hook := "w1"
		if i == 4 {
			hook = "w2"
		}
		ds = append(ds, gateway.Delivery{ID: fmt.Sprintf("d%d", i), WebhookID: hook, Event: gateway.Event{ID: "e", Type: gateway.EventModemUp},
			NextAttempt: T0.Add(time.Duration(i) * time.Minute), CreatedAt: T0.Add(time.Duration(i) * time.Second)})
	}
	if err := db.EnqueueDeliveries(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if err := db.EnqueueDeliveries(ctx, []gateway.Delivery{{ID: "new", WebhookID: "w1"}, ds[0]}); !errors.Is(err, gateway.ErrExists) {
		t.Errorf("enqueue duplicate: %v", err)
	}
	pendingIs := func(want int) {
		t.Helper()
		if n, err := db.PendingDeliveries(ctx); err != nil || n != want {
			t.Errorf("PendingDeliveries = %d, %v; want %d", n, err, want)
		}
	}
	pendingIs(5) // "new" was not stored
	due, err := db.DueDeliveries(ctx, T0.Add(2*time.Minute), 0, nil)
	if err != nil || !slices.Equal(delivIDs(due), []string{"d0", "d1", "d2"}) {
		t.Fatalf("DueDeliveries = %v, %v", delivIDs(due), err)
	}
	if due[0].Event.Type != gateway.EventModemUp || due[0].WebhookID != "w1" || !due[0].CreatedAt.Equal(T0) {
		t.Errorf("delivery read back as %+v", due[0])
	}
	// d0 retried later, d1 done, d2 failed.
	d0 := due[0]
	d0.Attempts, d0.NextAttempt, d0.LastStatus, d0.LastAttempt, d0.LastError = 1, T0.Add(time.Hour), 503, T0.Add(time.Minute), "503 Service Unavailable"
	d1, d2 := due[1], due[2]
	d1.Done, d2.Failed = true, true
	for _, d := range []gateway.Delivery{d0, d1, d2} {
		if err := db.UpdateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.UpdateDelivery(ctx, gateway.Delivery{ID: "zz"}); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("UpdateDelivery missing: %v", err)
	}
	pendingIs(3)
	due, _ = db.DueDeliveries(ctx, T0.Add(2*time.Hour), 2, nil)
	if !slices.Equal(delivIDs(due), []string{"d3", "d4"}) {
		t.Errorf("due after updates: %v", delivIDs(due))
	}
	due, _ = db.DueDeliveries(ctx, T0.Add(2*time.Hour), 10, nil)
	if !slices.Equal(delivIDs(due), []string{"d3", "d4", "d0"}) {
		t.Errorf("due after updates: %v", delivIDs(due))
	}
	db = h.Reopen(t, db)
	list, err := db.ListDeliveries(ctx, "w1", 0)
	if err != nil || !slices.Equal(delivIDs(list), []string{"d3", "d2", "d1", "d0"}) {
		t.Fatalf("ListDeliveries = %v, %v", delivIDs(list), err)
	}
	if d := list[3]; d.LastStatus != 503 || d.Attempts != 1 || !d.LastAttempt.Equal(T0.Add(time.Minute)) || d.LastError == "" || !d.NextAttempt.Equal(T0.Add(time.Hour)) {
		t.Errorf("updated delivery read back as %+v", d)
	}
	if list, _ := db.ListDeliveries(ctx, "w1", 2); !slices.Equal(delivIDs(list), []string{"d3", "d2"}) {
		t.Errorf("ListDeliveries limit 2 = %v", delivIDs(list))
	}
	if err := db.DeleteWebhook(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteWebhook(ctx, "w1"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	pendingIs(1) // d0 and d3 failed with their webhook
	list, _ = db.ListDeliveries(ctx, "w1", 0)
	if !list[0].Failed || list[0].LastError != "webhook deleted" {
		t.Errorf("pending delivery of a deleted webhook: %+v", list[0])
	}
	if hooks, _ := db.ListWebhooks(ctx); len(hooks) != 1 || hooks[0].ID != "w2" {
		t.Errorf("webhooks after delete: %+v", hooks)
	}
	if err := db.PutWebhook(ctx, gateway.Webhook{ID: "w2", URL: "https://example.com/changed"}); err != nil { // replaces
		t.Fatal(err)
	}
	if hooks, _ := db.ListWebhooks(ctx); len(hooks) != 1 || hooks[0].URL != "https://example.com/changed" {
		t.Errorf("webhook after replace: %+v", hooks)
	}
}
