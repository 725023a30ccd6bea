package campaign_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/campaign"
	"github.com/simgate/simgate/store"
)

// The Service over the real bbolt store and the real Dispatcher (with no
// modem: what it accepts stays queued, which is all these tests look at).

var ctx = context.Background()

// clock is a settable clock.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time  { return time.Unix(0, c.t.Load()).UTC() }
func (c *clock) set(t time.Time) { c.t.Store(t.UnixNano()) }

// 10:00 in New York (the campaigns' zone): inside the window.
var morning = time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)

type fixture struct {
	db    *store.DB
	disp  *gateway.Dispatcher
	svc   *campaign.Service
	clock *clock
	org   campaign.Actor
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "simgate.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ck := &clock{}
	ck.set(morning)
	cfg := gateway.DefaultConfig()
	cfg.DefaultRegion = "US"
	cfg.Now = ck.now
	disp, err := gateway.NewDispatcher(cfg, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := campaign.New(campaign.Config{DefaultRegion: "US", Now: ck.now}, campaign.Deps{Store: db, Sender: disp, Messages: db, OptOuts: db})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, disp: disp, svc: svc, clock: ck, org: campaign.Actor{ID: "org", Name: "Organiser", Organiser: true}}
}

const script = "Hi {firstName|friend}, it's {texterFirstName} with Vote Org about {event}. Reply STOP to opt out"

func (f *fixture) campaign(t testing.TB, sp campaign.Spec) *campaign.Campaign {
	t.Helper()
	if sp.Title == "" {
		sp.Title = "GOTV"
	}
	if sp.OrgName == "" {
		sp.OrgName = "Vote Org"
	}
	c, err := f.svc.Create(ctx, f.org, sp)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) importCSV(t testing.TB, id, body string) *campaign.ImportReport {
	t.Helper()
	rep, err := f.svc.Import(ctx, f.org, id, strings.NewReader(body), campaign.ImportOptions{BatchSize: 100})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return rep
}

func (f *fixture) start(t testing.TB, id string) {
	t.Helper()
	if _, err := f.svc.SetState(ctx, f.org, id, campaign.StateActive); err != nil {
		t.Fatal(err)
	}
}

func cell(i int) string { return fmt.Sprintf("+1555%07d", i) }

func TestImportReportIsExact(t *testing.T) {
	f := newFixture(t)
	c := f.campaign(t, campaign.Spec{Script: "Hi {firstName}, Vote Org here. Reply STOP to opt out"})
	for i := range 7 {
		if err := f.db.AddOptOut(ctx, gateway.OptOut{Number: cell(500 + i), Source: "api", At: morning}); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	b.WriteString("\ufeffFirst Name;last_name;Phone;zip;event\r\n")
	wantInvalid, wantDupFile, wantMissing := []int{}, []int{}, []int{}
	for i := 0; i < 1000; i++ {
		line := i + 2
		name, number := fmt.Sprintf("N%d", i), cell(i)
		switch {
		case i%100 == 7:
			number = "12" // too short
			wantInvalid = append(wantInvalid, line)
		case i%100 == 8:
			number = cell(i - 8) // repeats an earlier row
			wantDupFile = append(wantDupFile, line)
		case i%250 == 9:
			name = "" // the script needs {firstName}
			wantMissing = append(wantMissing, line)
		}
		fmt.Fprintf(&b, "%s;\"L;%d\";%s;10001;rally\r\n", name, i, number)
	}
	rep := f.importCSV(t, c.ID, b.String())
	// Opted out: cells 500..506 (506 - 0 is row 506, 507 is invalid): rows 500-506 minus row 507 invalid = 7.
	want := campaign.ImportReport{Rows: 1000, InvalidNumber: 10, DuplicateInFile: 10, MissingField: 4, OptedOut: 7}
	want.Imported = 1000 - 10 - 10 - 4 - 7
	if rep.State != campaign.ImportDone || rep.Rows != want.Rows || rep.Imported != want.Imported || rep.InvalidNumber != want.InvalidNumber ||
		rep.DuplicateInFile != want.DuplicateInFile || rep.MissingField != want.MissingField || rep.OptedOut != want.OptedOut || rep.DuplicateInCampaign != 0 {
		t.Fatalf("report %+v, want %+v", rep, want)
	}
	got := map[string][]int{}
	if err := f.svc.Rejects(ctx, f.org, c.ID, rep.ID, func(r campaign.Reject) error {
		got[r.Reason] = append(got[r.Reason], r.Line)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for reason, lines := range map[string][]int{campaign.RejectInvalidNumber: wantInvalid, campaign.RejectDuplicateInFile: wantDupFile, campaign.RejectMissingField: wantMissing} {
		if fmt.Sprint(got[reason]) != fmt.Sprint(lines) {
			t.Errorf("%s lines %v, want %v", reason, got[reason], lines)
		}
	}
	c, _ = f.svc.Campaign(ctx, c.ID)
	if c.Importing != nil || len(c.Fields) != 1 || c.Fields[0] != "event" {
		t.Errorf("campaign after import: %+v", c)
	}
	// A second file: three numbers the campaign has, one new.
	rep = f.importCSV(t, c.ID, "firstName,cell\nA,"+cell(1)+"\nB,"+cell(2)+"\nC,"+cell(3)+"\nD,"+cell(5000)+"\n")
	if rep.Imported != 1 || rep.DuplicateInCampaign != 3 || rep.Rows != 4 {
		t.Errorf("second import %+v", rep)
	}
	cs, err := f.svc.Contacts(ctx, f.org, c.ID, campaign.ContactFilter{Status: campaign.StatusOptedOut})
	if err != nil || len(cs) != 7 || !cs[0].OptedOut {
		t.Errorf("opted-out contacts: %d, %v", len(cs), err)
	}
}

func TestMalformedImportLeavesCampaignAsItWas(t *testing.T) {
	f := newFixture(t)
	c := f.campaign(t, campaign.Spec{})
	f.importCSV(t, c.ID, "cell\n"+cell(1)+"\n")
	var b strings.Builder
	b.WriteString("firstName,cell\n")
	for i := range 450 {
		fmt.Fprintf(&b, "N%d,%s\n", i, cell(100+i))
	}
	b.WriteString("Bad\"quote,+15550000000\n")
	_, err := f.svc.Import(ctx, f.org, c.ID, strings.NewReader(b.String()), campaign.ImportOptions{BatchSize: 100})
	var fe *campaign.FormatError
	if !errors.As(err, &fe) || fe.Line != 452 || fe.Column != 4 {
		t.Fatalf("error %v", err)
	}
	cs, err := f.svc.Contacts(ctx, f.org, c.ID, campaign.ContactFilter{})
	if err != nil || len(cs) != 1 {
		t.Fatalf("contacts after a failed import: %d, %v", len(cs), err)
	}
	c2, _ := f.svc.Campaign(ctx, c.ID)
	if c2.Importing != nil || c2.NextContactID != 2 {
		t.Errorf("campaign after a failed import: %+v", c2)
	}
	imps, _ := f.svc.Imports(ctx, f.org, c.ID)
	if len(imps) != 2 || imps[1].State != campaign.ImportFailed || imps[1].ErrorLine != 452 {
		t.Errorf("imports %+v", imps[1])
	}
	// The numbers of the failed import can be imported again.
	if rep := f.importCSV(t, c.ID, "cell\n"+cell(100)+"\n"); rep.Imported != 1 {
		t.Errorf("re-import %+v", rep)
	}
}

func TestComplianceRefusesStart(t *testing.T) {
	f := newFixture(t)
	c := f.campaign(t, campaign.Spec{Script: "Hi {firstName|there}!"})
	_, err := f.svc.SetState(ctx, f.org, c.ID, campaign.StateActive)
	var ce *campaign.ComplianceError
	if !errors.As(err, &ce) || len(ce.Missing) != 2 {
		t.Fatalf("start: %v", err)
	}
	if _, err := f.svc.Update(ctx, f.org, c.ID, campaign.Patch{Script: ptr("Vote Org: hi {firstName|there}! Reply STOP to opt out")}); err != nil {
		t.Fatal(err)
	}
	f.start(t, c.ID)
	if _, err := f.svc.Update(ctx, f.org, c.ID, campaign.Patch{Script: ptr("x")}); !errors.Is(err, campaign.ErrState) {
		t.Errorf("script change while active: %v", err)
	}
	if _, err := f.svc.Update(ctx, f.org, c.ID, campaign.Patch{Script: ptr("Hi {nickname}")}); err == nil {
		t.Error("unknown field accepted")
	}
	if _, err := f.svc.Create(ctx, campaign.Actor{ID: "t1"}, campaign.Spec{Title: "x"}); !errors.Is(err, campaign.ErrForbidden) {
		t.Errorf("texter creating a campaign: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func activeCampaign(t *testing.T, f *fixture, n, batch int) *campaign.Campaign {
	t.Helper()
	c := f.campaign(t, campaign.Spec{Script: script, BatchSize: batch, Fields: []string{"event"}})
	var b strings.Builder
	b.WriteString("firstName,cell,event\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "N%d,%s,rally\n", i, cell(i))
	}
	f.importCSV(t, c.ID, b.String())
	f.start(t, c.ID)
	return c
}

func TestSendFirstGoesOnce(t *testing.T) {
	f := newFixture(t)
	c := activeCampaign(t, f, 3, 10)
	tx := campaign.Actor{ID: "t1", Name: "Sam Lee"}
	if n, err := f.svc.NextBatch(ctx, tx, c.ID); err != nil || n != 3 {
		t.Fatalf("batch %d, %v", n, err)
	}
	q, err := f.svc.Queue(ctx, tx, c.ID, 10)
	if err != nil || len(q.Items) != 3 {
		t.Fatalf("queue %+v, %v", q, err)
	}
	if it := q.Items[0]; it.Message.Body != "Hi N1, it's Sam with Vote Org about rally. Reply STOP to opt out" || it.Message.Parts != 1 || it.Message.Encoding != "gsm7" {
		t.Fatalf("item %+v", it)
	}
	other := campaign.Actor{ID: "t2"}
	if _, err := f.svc.SendFirst(ctx, other, c.ID, 1); !errors.Is(err, campaign.ErrNotAssigned) {
		t.Errorf("another texter: %v", err)
	}
	var wg sync.WaitGroup
	var repeated atomic.Int32
	ids := make(chan string, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := f.svc.SendFirst(ctx, tx, c.ID, 1)
			if err != nil {
				t.Error(err)
				return
			}
			if res.Repeated {
				repeated.Add(1)
			}
			ids <- res.Message.ID
		}()
	}
	wg.Wait()
	close(ids)
	first := ""
	for id := range ids {
		if first == "" {
			first = id
		}
		if id != first {
			t.Fatalf("two messages: %s %s", first, id)
		}
	}
	page, err := f.db.ListMessages(ctx, gateway.MessageFilter{Contact: cell(1)})
	if err != nil || len(page.Messages) != 1 {
		t.Fatalf("gateway messages to the contact: %d, %v", len(page.Messages), err)
	}
	m := page.Messages[0]
	if m.Agent != "t1" || m.Metadata[campaign.MetaCampaign] != c.ID || m.Metadata[campaign.MetaContact] != "1" ||
		m.Metadata[campaign.MetaScriptVersion] != "1" || m.Metadata[campaign.MetaStep] != campaign.StepFirst || m.TextingWindow == nil {
		t.Errorf("attribution: agent %s metadata %v window %v", m.Agent, m.Metadata, m.TextingWindow)
	}
	if repeated.Load() == 0 {
		t.Error("no call saw Repeated")
	}
	ct, _ := f.svc.Contact(ctx, tx, c.ID, 1)
	if ct.Status != campaign.StatusMessaged || ct.FirstMessageID != first {
		t.Errorf("contact %+v", ct)
	}
	evs, _ := f.svc.Events(ctx, tx, c.ID, 1)
	sent := 0
	for _, e := range evs {
		if e.Type == campaign.EventSent {
			sent++
		}
	}
	if sent != 1 {
		t.Errorf("%d send events: %+v", sent, evs)
	}
}

func TestDynamicBatchesWaitForReplies(t *testing.T) {
	f := newFixture(t)
	c := activeCampaign(t, f, 12, 5)
	tx := campaign.Actor{ID: "t1", Name: "Sam"}
	if n, err := f.svc.NextBatch(ctx, tx, c.ID); err != nil || n != 5 {
		t.Fatalf("first batch %d %v", n, err)
	}
	if _, err := f.svc.NextBatch(ctx, tx, c.ID); !errors.Is(err, campaign.ErrHasUnsent) {
		t.Fatalf("second batch before sending: %v", err)
	}
	for id := int64(1); id <= 5; id++ {
		if _, err := f.svc.SendFirst(ctx, tx, c.ID, id); err != nil {
			t.Fatal(err)
		}
	}
	f.reply(t, cell(3), "who is this?")
	if _, err := f.svc.NextBatch(ctx, tx, c.ID); !errors.Is(err, campaign.ErrOpenReplies) {
		t.Fatalf("batch with an open reply: %v", err)
	}
	rs, _ := f.svc.Replies(ctx, tx, c.ID)
	if len(rs) != 1 || rs[0].ID != 3 {
		t.Fatalf("replies %v", rs)
	}
	if _, err := f.svc.Reply(ctx, tx, c.ID, 3, campaign.ReplyInput{Body: "Sam from Vote Org"}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.svc.NextBatch(ctx, tx, c.ID); err != nil || n != 5 {
		t.Fatalf("batch after handling: %d %v", n, err)
	}
	if n, err := f.svc.Release(ctx, tx, c.ID, ""); err != nil || n != 5 {
		t.Fatalf("release %d %v", n, err)
	}
	if n, err := f.svc.Assign(ctx, f.org, c.ID, "t2", 100); err != nil || n != 7 {
		t.Fatalf("static assign %d %v", n, err)
	}
	if n, err := f.svc.Reassign(ctx, f.org, c.ID, "t1", "t3", nil); err != nil || n != 5 {
		t.Fatalf("reassign %d %v", n, err)
	}
	if rs, _ := f.svc.Replies(ctx, campaign.Actor{ID: "t3"}, c.ID); len(rs) != 0 {
		t.Errorf("t3 replies %v", rs)
	}
	cs, _ := f.svc.Contacts(ctx, campaign.Actor{ID: "t3"}, c.ID, campaign.ContactFilter{})
	if len(cs) != 5 {
		t.Errorf("t3 has %d contacts", len(cs))
	}
}

// reply delivers an inbound message from number to the Service as the Inbox would.
func (f *fixture) reply(t testing.TB, number, body string) *gateway.Message {
	t.Helper()
	m := &gateway.Message{ID: fmt.Sprintf("in-%s-%d", number, time.Now().UnixNano()), Direction: gateway.Inbound, Status: gateway.StatusReceived,
		Contact: number, Body: body, Modem: "sim1", CreatedAt: f.clock.now(), UpdatedAt: f.clock.now()}
	f.svc.Notify(gateway.Event{Type: gateway.EventMessageReceived, MessageID: m.ID, Data: m})
	return m
}

func TestRepliesSurveyStopAndInbox(t *testing.T) {
	f := newFixture(t)
	c := f.campaign(t, campaign.Spec{Script: script, Fields: []string{"event"}, Tags: []string{"follow-up"}, Survey: campaign.Survey{Questions: []campaign.Question{
		{ID: "vote", Text: "Will you vote?", Options: []campaign.Option{{Value: "yes", Reply: "Great, {firstName}!", Next: "how"}, {Value: "no"}}},
		{ID: "how", Text: "How?", Options: []campaign.Option{{Value: "mail"}, {Value: "in person"}}},
	}}})
	f.importCSV(t, c.ID, "firstName,cell,event\nAna,"+cell(1)+",rally\nBo,"+cell(2)+",rally\n")
	f.start(t, c.ID)
	// A second campaign holds cell(2) too: a STOP closes it there as well.
	c2 := activeCampaign(t, f, 2, 10)
	tx := campaign.Actor{ID: "t1", Name: "Sam"}
	if _, err := f.svc.Assign(ctx, f.org, c.ID, "t1", 2); err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= 2; id++ {
		if _, err := f.svc.SendFirst(ctx, tx, c.ID, id); err != nil {
			t.Fatal(err)
		}
	}
	f.reply(t, cell(1), "yes I will")
	ct, _ := f.svc.Contact(ctx, tx, c.ID, 1)
	if ct.Status != campaign.StatusNeedsResponse {
		t.Fatalf("after reply: %s", ct.Status)
	}
	res, err := f.svc.Answer(ctx, tx, c.ID, 1, "vote", "yes")
	if err != nil || res.Reply != "Great, Ana!" || res.Next != "how" {
		t.Fatalf("answer %+v %v", res, err)
	}
	if _, err := f.svc.Answer(ctx, tx, c.ID, 1, "vote", "maybe"); err == nil {
		t.Error("an answer that is no option was accepted")
	}
	if _, err := f.svc.Answer(ctx, tx, c.ID, 1, "vote", "no"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Tag(ctx, tx, c.ID, 1, []string{"follow-up"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Tag(ctx, tx, c.ID, 1, []string{"vip"}, nil); err == nil {
		t.Error("unknown tag accepted")
	}
	evs, _ := f.svc.Events(ctx, tx, c.ID, 1)
	var hist []string
	for _, e := range evs {
		if e.Type == campaign.EventAnswered {
			hist = append(hist, e.Previous+">"+e.Value+":"+e.Actor)
		}
	}
	if strings.Join(hist, ",") != ">yes:t1,yes>no:t1" {
		t.Errorf("answer history %v", hist)
	}
	// STOP: the Inbox adds the opt-out and emits it; the Service closes the contact everywhere.
	f.reply(t, cell(2), "STOP")
	f.svc.Notify(gateway.Event{Type: gateway.EventOptOut, Data: gateway.OptOut{Number: cell(2), Keyword: "STOP", Source: "sms", At: morning}})
	for _, ref := range []struct {
		cid string
		id  int64
	}{{c.ID, 2}, {c2.ID, 2}} {
		ct, err := f.svc.Contact(ctx, f.org, ref.cid, ref.id)
		if err != nil || !ct.OptedOut || ct.Status != campaign.StatusOptedOut {
			t.Errorf("after STOP in %s: %+v %v", ref.cid, ct, err)
		}
	}
	if _, err := f.svc.Reply(ctx, tx, c.ID, 2, campaign.ReplyInput{Body: "sorry"}); !errors.Is(err, gateway.ErrOptedOut) {
		t.Errorf("reply to an opted-out contact: %v", err)
	}
	// Opt-out from the conversation, with the confirmation.
	if _, err := f.svc.OptOut(ctx, tx, c.ID, 1, true); err != nil {
		t.Fatal(err)
	}
	if out, _ := f.db.OptedOut(ctx, cell(1)); !out {
		t.Error("not on the suppression list")
	}
	page, _ := f.db.ListMessages(ctx, gateway.MessageFilter{Contact: cell(1)})
	if len(page.Messages) != 2 || page.Messages[0].Body != gateway.DefaultStopReply || !gateway.IsOptOutExempt(page.Messages[0]) {
		t.Errorf("confirmation: %d messages", len(page.Messages))
	}
	// A message from a number no campaign texted goes to the inbox.
	f.reply(t, cell(9999), "hello?")
	items, err := f.svc.Inbox(ctx, f.org, 10)
	if err != nil || len(items) != 1 || items[0].Contact != cell(9999) {
		t.Errorf("inbox %+v %v", items, err)
	}
	// Export: the answer under its question column, flags right, cells neutralised.
	var buf bytes.Buffer
	if _, err := f.svc.ExportContacts(ctx, f.org, c.ID, &buf, nil); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := strings.Join(recs[0], ",")
	if head != "id,external_id,first_name,last_name,cell,zip,event,status,opted_out,texter,tags,question[Will you vote?],question[How?]" {
		t.Fatalf("header %s", head)
	}
	if got := strings.Join(recs[1], ","); got != "1,,Ana,,'"+cell(1)+",,rally,opted_out,true,t1,follow-up,no," {
		t.Errorf("row 1: %s", got)
	}
	if got := recs[2][7] + "," + recs[2][8]; got != "opted_out,true" {
		t.Errorf("row 2: %v", recs[2])
	}
	st, err := f.svc.Stats(ctx, f.org, c.ID)
	if err != nil || st.Messages.Sent != 3 || st.Messages.Received != 2 || st.Replied != 2 || st.ReplyRate != 1 || st.OptOutRate != 1 {
		t.Errorf("stats %+v %v", st, err)
	}
}

func TestQuietHours(t *testing.T) {
	f := newFixture(t)
	c := activeCampaign(t, f, 3, 10)
	tx := campaign.Actor{ID: "t1", Name: "Sam"}
	if _, err := f.svc.Assign(ctx, f.org, c.ID, "t1", 3); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SendFirst(ctx, tx, c.ID, 1); err != nil {
		t.Fatal(err)
	}
	f.reply(t, cell(1), "tell me more")
	night := time.Date(2026, 12, 2, 3, 30, 0, 0, time.UTC) // 22:30 in New York
	f.clock.set(night)
	q, err := f.svc.Queue(ctx, tx, c.ID, 10)
	opens := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC) // 9:00 New York
	if err != nil || len(q.Items) != 0 || q.Waiting != 2 || !q.NextOpen.Equal(opens) {
		t.Fatalf("queue at night: %+v %v", q, err)
	}
	_, err = f.svc.SendFirst(ctx, tx, c.ID, 2)
	var he *campaign.HoursError
	if !errors.As(err, &he) || !he.Opens.Equal(opens) {
		t.Fatalf("send at night: %v", err)
	}
	res, err := f.svc.Reply(ctx, tx, c.ID, 1, campaign.ReplyInput{Body: "More tomorrow!"})
	if err != nil || !res.Held || !res.HeldUntil.Equal(opens) {
		t.Fatalf("reply at night: %+v %v", res, err)
	}
	gm, err := f.db.GetMessage(ctx, res.Message.ID)
	if err != nil || !gm.SendAt.Equal(opens) || gm.TextingWindow == nil || gm.TextingWindow.Open(night) {
		t.Errorf("held message %+v %v", gm, err)
	}
}

func TestRecoverFilesWhatNotifyMissed(t *testing.T) {
	f := newFixture(t)
	c := activeCampaign(t, f, 3, 10)
	tx := campaign.Actor{ID: "t1", Name: "Sam"}
	if _, err := f.svc.Assign(ctx, f.org, c.ID, "t1", 3); err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= 3; id++ {
		if _, err := f.svc.SendFirst(ctx, tx, c.ID, id); err != nil {
			t.Fatal(err)
		}
	}
	// The gateway stored a reply and an opt-out, then crashed before notifying.
	in := &gateway.Message{ID: "01JREPLYNOTNOTIFIED00000001", Direction: gateway.Inbound, Status: gateway.StatusReceived,
		Contact: cell(1), Body: "yes", Modem: "sim1", CreatedAt: morning.Add(time.Minute), UpdatedAt: morning.Add(time.Minute)}
	if err := f.db.CompleteInbound(ctx, in, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.db.AddOptOut(ctx, gateway.OptOut{Number: cell(2), Keyword: "STOP", Source: "sms", At: morning}); err != nil {
		t.Fatal(err)
	}
	filed, closed, err := f.svc.Recover(ctx, f.db, morning.Add(-time.Hour))
	if err != nil || filed != 1 || closed != 1 {
		t.Fatalf("recover: %d filed, %d closed, %v", filed, closed, err)
	}
	if ct, _ := f.svc.Contact(ctx, tx, c.ID, 1); ct.Status != campaign.StatusNeedsResponse {
		t.Errorf("contact 1: %s", ct.Status)
	}
	if ct, _ := f.svc.Contact(ctx, tx, c.ID, 2); !ct.OptedOut {
		t.Errorf("contact 2 not opted out")
	}
	// A texter answers; recovering again changes nothing.
	if _, err := f.svc.Reply(ctx, tx, c.ID, 1, campaign.ReplyInput{Body: "great"}); err != nil {
		t.Fatal(err)
	}
	filed, closed, err = f.svc.Recover(ctx, f.db, morning.Add(-time.Hour))
	if err != nil || filed != 0 || closed != 0 {
		t.Fatalf("second recover: %d filed, %d closed, %v", filed, closed, err)
	}
	if ct, _ := f.svc.Contact(ctx, tx, c.ID, 1); ct.Status != campaign.StatusConversing {
		t.Errorf("contact 1 after a second recover: %s", ct.Status)
	}
}

func TestRecoverRollsBackAnInterruptedImport(t *testing.T) {
	f := newFixture(t)
	c := f.campaign(t, campaign.Spec{})
	f.importCSV(t, c.ID, "cell\n"+cell(1)+"\n")
	// A crash mid-import: the campaign is marked, two contacts are staged.
	if _, err := f.db.UpdateCampaign(ctx, c.ID, func(c *campaign.Campaign) error {
		c.Importing = &campaign.ImportRef{ID: "crashed", FirstID: c.NextContactID, Started: morning}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.AddContacts(ctx, c.ID, 2, []*campaign.Contact{{Cell: cell(2), Status: campaign.StatusNeedsMessage}, {Cell: cell(3), Status: campaign.StatusNeedsMessage}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Recover(ctx, f.db, morning); err != nil {
		t.Fatal(err)
	}
	got, _ := f.svc.Campaign(ctx, c.ID)
	cc, _ := f.db.CountContacts(ctx, c.ID)
	if got.Importing != nil || got.NextContactID != 2 || cc.Total != 1 {
		t.Fatalf("after recover: %+v, %d contacts", got, cc.Total)
	}
	if rep := f.importCSV(t, c.ID, "cell\n"+cell(2)+"\n"); rep.Imported != 1 {
		t.Errorf("re-import %+v", rep)
	}
}
