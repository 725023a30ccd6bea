package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
	"github.com/simgate/simgate/gateway/campaign"
	"github.com/simgate/simgate/store"
	"github.com/simgate/simgate/store/postgres"
	"github.com/simgate/simgate/store/postgres/pgtest"
	"github.com/simgate/simgate/store/storetest"
)

// seedEveryArea stores records of every kind simgate store copy moves,
// half of the events handed on by the outbox.
func seedEveryArea(t *testing.T, db interface {
	copyStore
	storetest.Backend
}) {
	t.Helper()
	ctx := context.Background()
	storetest.SeedRetention(t, db) // messages of every status, deliveries, reports, events
	m := storetest.NewMessage(100)
	m.IdempotencyKey = "owner:copy"
	m.Parts[0].Modem, m.Parts[0].MR, m.Parts[0].SubmittedAt, m.Parts[0].State = "sim1", 42, storetest.T0, gateway.PartSubmitted
	storetest.MustCreate(t, db, m)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := db.AddFragment(ctx, "+15550001|7|2|sim1", gateway.Fragment{Seq: 1, Total: 2, TPDU: []byte{1, 2}, Received: storetest.T0})
	must(err)
	must(db.SetSticky(ctx, "+15550001", gateway.Sticky{Modem: "sim1", Since: storetest.T0}))
	must(db.SetSticky(ctx, "+15550001", gateway.Sticky{Modem: "sim2", Since: storetest.T0.Add(time.Hour)}))
	must(db.SaveBudget(ctx, "sim1", gateway.BudgetUsage{Day: "2026-11-26", Parts: 3, Hold: &gateway.ModemHold{Paused: true, Reason: "operator"}}))
	must(db.SaveSIM(ctx, gateway.SIM{ID: "8901260000000000019", ICCID: "8901260000000000019", IMSI: "310260000000001",
		FirstSeen: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC), LastSeen: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), Modem: "sim1", LastModem: "sim1",
		Counters: gateway.SIMCounters{Sent: 3}, Budget: gateway.BudgetUsage{Day: "2026-11-26", Parts: 3},
		Balance: []gateway.BalanceReading{{Amount: 1.5, At: time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC), Modem: "sim1"}}}))
	must(db.AddOptOut(ctx, gateway.OptOut{Number: "+15550009", Source: "sms", Keyword: "STOP"}))
	must(db.CreateKey(ctx, gateway.APIKey{ID: "k1", Hash: []byte("h1"), Owner: "alice", Scopes: []string{"send"}, CreatedAt: storetest.T0}))
	must(db.PutWebhook(ctx, gateway.Webhook{ID: "wh1", URL: "https://example.com/h", Secret: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0", Source: "api"}))
	must(db.CreateUser(ctx, account.User{ID: "usr_1", Login: "ana", Name: "Ana", Role: account.RoleTexter, PasswordHash: "$argon2id$x", CreatedAt: storetest.T0}))
	must(db.CreateSession(ctx, account.Session{Hash: []byte("sess"), UserID: "usr_1", CSRF: "c", CreatedAt: storetest.T0, ExpiresAt: storetest.T0.Add(time.Hour)}))
	if evs, pos, err := db.NextEvents(ctx, 1000); err == nil && len(evs) > 0 { // SeedRetention's, if not handed on
		must(db.AdvanceEvents(ctx, pos, nil))
	}
	for i := range 4 {
		must(db.AppendEvent(ctx, gateway.Event{Type: gateway.EventModemUp, Modem: "sim1", Time: storetest.T0.Add(time.Duration(i) * time.Second)}))
	}
	seedCampaigns(t, db)
	evs, pos, err := db.NextEvents(ctx, 2)
	must(err)
	if len(evs) != 2 {
		t.Fatalf("seeded %d events", len(evs))
	}
	must(db.AdvanceEvents(ctx, pos, nil))
}

func TestStoreCopyRoundTrip(t *testing.T) {
	ctx := context.Background()
	dsn, schema := pgtest.Schema(t)
	dir := t.TempDir()
	src, err := store.Open(filepath.Join(dir, "src.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seedEveryArea(t, src)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("COPY_DSN", dsn)
	cfg := filepath.Join(dir, "simgate.yaml")
	yaml := fmt.Sprintf("store:\n  path: %s\n  postgres: {dsn_env: COPY_DSN, schema: %s}\n", filepath.Join(dir, "src.db"), schema)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, error) {
		var out, errb bytes.Buffer
		err := cmdStoreCopy(ctx, args, &out, &errb)
		return out.String(), errb.String(), err
	}
	out, progress, err := run("-config", cfg, "-to", "postgres")
	if err != nil {
		t.Fatalf("copy to postgres: %v\n%s", err, progress)
	}
	if !strings.Contains(out, "agree") || !strings.Contains(progress, "check messages") || strings.Contains(progress, "DIFFERENT") {
		t.Errorf("output %q, progress:\n%s", out, progress)
	}
	if strings.Contains(progress, "c2VjcmV0") {
		t.Error("the progress shows a webhook secret")
	}
	// Into a database that is not empty any more: refused.
	if _, _, err := run("-config", cfg, "-to", "postgres"); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("second copy into the same schema: %v", err)
	}

	// What the daemon reads works on the copy.
	pg, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := pg.MessageByIdempotencyKey(ctx, "owner:copy"); err != nil || m.Parts[0].MR != 42 {
		t.Errorf("message by idempotency key: %+v, %v", m, err)
	}
	if id, _, err := pg.PartByMR(ctx, "sim1", 42, time.Time{}); err != nil || id == "" {
		t.Errorf("PartByMR on the copy: %q, %v", id, err)
	}
	if k, err := pg.KeyByHash(ctx, []byte("h1")); err != nil || k.Owner != "alice" {
		t.Errorf("key: %+v, %v", k, err)
	}
	if s, err := pg.Sticky(ctx, "+15550001"); err != nil || s.Modem != "sim2" || len(s.Moves) != 1 {
		t.Errorf("sticky: %+v, %v", s, err)
	}
	// The outbox goes on after the two events handed on before.
	evs, _, err := pg.NextEvents(ctx, 100)
	if err != nil || len(evs) != 2 {
		t.Errorf("events left for the outbox: %d, %v; want 2 of the last 4", len(evs), err)
	}
	if err := pg.Close(); err != nil {
		t.Fatal(err)
	}

	// And back into a new bbolt file.
	back := filepath.Join(dir, "back.db")
	if _, progress, err := run("-config", cfg, "-to", "bbolt", "-store", back); err != nil {
		t.Fatalf("copy to bbolt: %v\n%s", err, progress)
	}
	if _, _, err := run("-config", cfg, "-to", "bbolt", "-store", back); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("copy over an existing file: %v", err)
	}
	a, err := store.Open(filepath.Join(dir, "src.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := store.Open(back, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, area := range copyAreas() {
		da, err := digestArea(ctx, area, a)
		if err != nil {
			t.Fatal(err)
		}
		db, err := digestArea(ctx, area, b)
		if err != nil {
			t.Fatal(err)
		}
		if da != db || da.n == 0 {
			t.Errorf("%s: original %+v, after the round trip %+v", area.name, da, db)
		}
	}
}

// A change to the copy is caught by the check.
func TestStoreCopyCheckCatchesADifference(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, err := store.Open(filepath.Join(dir, "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := store.Open(filepath.Join(dir, "b.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	seedEveryArea(t, a)
	var progress bytes.Buffer
	if err := copyStores(ctx, a, b, &progress); err != nil {
		t.Fatalf("copy: %v\n%s", err, progress.String())
	}
	if err := a.AddOptOut(ctx, gateway.OptOut{Number: "+15550010", Source: "api"}); err != nil {
		t.Fatal(err)
	}
	for _, area := range copyAreas() {
		da, _ := digestArea(ctx, area, a)
		db, _ := digestArea(ctx, area, b)
		if (da != db) != (area.name == "opt-outs") {
			t.Errorf("%s: %+v vs %+v", area.name, da, db)
		}
	}
	c, err := store.Open(filepath.Join(dir, "c.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.AddOptOut(ctx, gateway.OptOut{Number: "+1555", Source: "api"}); err != nil {
		t.Fatal(err)
	}
	if err := copyStores(ctx, a, c, &progress); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("copy into a store with data: %v", err)
	}
}

// seedCampaigns stores a record of every campaign area: a texter, a
// campaign with an import and a reject, contacts, messages (the
// latest-texted index), events and an inbox item.
func seedCampaigns(t *testing.T, db copyStore) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.PutTexter(ctx, campaign.Texter{ID: "usr_1", Name: "Ana"}))
	// The newer campaign first: the latest-texted index then points at the
	// older one, which the copy (oldest campaign first) must keep.
	for _, i := range []int{1, 0} {
		c := storetest.NewCampaign(i)
		must(db.CreateCampaign(ctx, c))
		rep := &campaign.ImportReport{ID: fmt.Sprintf("imp%d", i), CampaignID: c.ID, State: "done", Rows: 3, StartedAt: storetest.T0}
		must(db.PutImport(ctx, rep))
		must(db.AddRejects(ctx, c.ID, rep.ID, []campaign.Reject{{Line: 3, Reason: campaign.RejectInvalidNumber, Cell: "12"}}))
		cts := []*campaign.Contact{
			{Cell: "+15551110001", FirstName: "A", Status: campaign.StatusNeedsMessage},
			{Cell: "+15551110002", FirstName: "B", Status: campaign.StatusNeedsMessage},
		}
		_, err := db.AddContacts(ctx, c.ID, 1, cts)
		must(err)
		_, err = db.AssignContacts(ctx, c.ID, "usr_1", 1, 0)
		must(err)
		at := storetest.T0.Add(time.Duration(10-i) * time.Minute)
		m := &campaign.Message{ID: fmt.Sprintf("msg%d", i), CampaignID: c.ID, ContactID: 1, Direction: string(gateway.Outbound),
			Contact: "+15551110001", Status: "queued", Body: "hi", Parts: 1, CreatedAt: at}
		_, err = db.RecordSend(ctx, m, func(ct *campaign.Contact) error { ct.Status = campaign.StatusMessaged; return nil },
			[]campaign.Event{{ID: fmt.Sprintf("ev%d", i), CampaignID: c.ID, ContactID: 1, Type: campaign.EventType("sent"), Actor: "usr_1", At: at}})
		must(err)
		must(db.AppendEvents(ctx, []campaign.Event{{ID: fmt.Sprintf("st%d", i), CampaignID: c.ID, Type: campaign.EventType("state"), Actor: "usr_1", At: at}}))
	}
	must(db.AddInbox(ctx, campaign.InboxItem{MessageID: "in1", Contact: "+15551119999", Body: "who?", At: storetest.T0}))
}
