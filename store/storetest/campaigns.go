package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/campaign"
)

var campaignTests = []Test{
	{"CampaignCRUD", campaignTest(testCampaignCRUD)},
	{"ContactsAndIndexes", campaignTest(testCampaignContacts)},
	{"AssignAndRollback", campaignTest(testCampaignAssign)},
	{"ImportsAndRejects", campaignTest(testCampaignImports)},
	{"Conversation", campaignTest(testCampaignConversation)},
}

// CampaignBackend is a backend that keeps P2P campaigns.
type CampaignBackend interface {
	Backend
	campaign.Store
}

// campaignHarness opens CampaignBackends.
type campaignHarness struct {
	Open   func(t *testing.T) CampaignBackend
	Reopen func(t *testing.T, b CampaignBackend) CampaignBackend
}

// campaignTest runs fn on a backend that implements campaign.Store and
// skips, saying so, on one that does not yet (every backend must: this is
// a skip while store/postgres catches up, not an opt-out).
func campaignTest(fn func(t *testing.T, h campaignHarness)) func(t *testing.T, h Harness) {
	return func(t *testing.T, h Harness) {
		as := func(t *testing.T, b Backend) CampaignBackend {
			cb, ok := b.(CampaignBackend)
			if !ok {
				t.Skipf("%T does not implement campaign.Store yet", b)
			}
			return cb
		}
		fn(t, campaignHarness{
			Open:   func(t *testing.T) CampaignBackend { return as(t, h.Open(t)) },
			Reopen: func(t *testing.T, b CampaignBackend) CampaignBackend { return as(t, h.Reopen(t, b)) },
		})
	}
}

// NewCampaign returns a draft campaign created at T0+i seconds.
func NewCampaign(i int) *campaign.Campaign {
	at := T0.Add(time.Duration(i) * time.Second)
	return &campaign.Campaign{
		ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), Title: fmt.Sprintf("c%d", i),
		State: campaign.StateDraft, NextContactID: 1, CreatedAt: at, UpdatedAt: at,
		Hours: campaign.Hours{Start: "09:00", End: "21:00", TimeZone: "UTC"},
	}
}

// NewContact returns contact id of campaign cid with cell +1555000NNNN
// (AddContacts numbers the contacts it stores).
func NewContact(cid string, id int64, cell int) *campaign.Contact {
	return &campaign.Contact{CampaignID: cid, ID: id, Cell: fmt.Sprintf("+1555000%04d", cell), FirstName: fmt.Sprintf("n%d", id),
		Status: campaign.StatusNeedsMessage, Fields: map[string]string{"k": "v"}, UpdatedAt: T0}
}

func testCampaignCRUD(t *testing.T, h campaignHarness) {
	db := h.Open(t)
	if _, err := db.Campaign(ctx, "nope"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("missing campaign: %v", err)
	}
	b, a := NewCampaign(2), NewCampaign(1)
	for _, c := range []*campaign.Campaign{b, a} {
		if err := db.CreateCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateCampaign(ctx, a); !errors.Is(err, gateway.ErrExists) {
		t.Errorf("duplicate campaign: %v", err)
	}
	list, err := db.Campaigns(ctx)
	if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("Campaigns: %v, %v", list, err)
	}
	boom := errors.New("boom")
	if _, err := db.UpdateCampaign(ctx, a.ID, func(c *campaign.Campaign) error { c.Title = "x"; return boom }); !errors.Is(err, boom) {
		t.Errorf("fn error: %v", err)
	}
	if _, err := db.UpdateCampaign(ctx, "nope", func(*campaign.Campaign) error { return nil }); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("update missing: %v", err)
	}
	got, err := db.UpdateCampaign(ctx, a.ID, func(c *campaign.Campaign) error {
		c.Title, c.Script, c.ScriptVersion = "renamed", "Hi {firstName}", 1
		c.Survey = campaign.Survey{Questions: []campaign.Question{{ID: "q1", Text: "Vote?", Options: []campaign.Option{{Value: "yes"}}}}}
		c.Importing = &campaign.ImportRef{ID: "imp", FirstID: 7, Started: T0}
		return nil
	})
	if err != nil || got.Title != "renamed" {
		t.Fatalf("update: %+v, %v", got, err)
	}
	db = h.Reopen(t, db)
	got, err = db.Campaign(ctx, a.ID)
	if err != nil || got.Title != "renamed" || got.Script != "Hi {firstName}" || len(got.Survey.Questions) != 1 ||
		got.Importing == nil || got.Importing.FirstID != 7 || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("after reopen: %+v, %v", got, err)
	}

	if _, err := db.Texter(ctx, "k1"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("missing texter: %v", err)
	}
	for _, n := range []string{"Sam", "Sam Lee"} {
		if err := db.PutTexter(ctx, campaign.Texter{ID: "k1", Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if tx, err := db.Texter(ctx, "k1"); err != nil || tx.Name != "Sam Lee" {
		t.Errorf("texter: %+v, %v", tx, err)
	}
}

func ids(cs []*campaign.Contact) []int64 {
	var out []int64
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func collect(t *testing.T, db CampaignBackend, cid string, f campaign.ContactFilter) []int64 {
	t.Helper()
	var out []*campaign.Contact
	if err := db.Contacts(ctx, cid, f, func(c *campaign.Contact) error { out = append(out, c); return nil }); err != nil {
		t.Fatal(err)
	}
	return ids(out)
}

func testCampaignContacts(t *testing.T, h campaignHarness) {
	db := h.Open(t)
	c1, c2 := NewCampaign(1), NewCampaign(2)
	for _, c := range []*campaign.Campaign{c1, c2} {
		if err := db.CreateCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// Cells 1..5, then 3 again (a duplicate in the batch) and, in a later
	// batch, 2 (already stored).
	batch := []*campaign.Contact{NewContact(c1.ID, 1, 1), NewContact(c1.ID, 2, 2), NewContact(c1.ID, 3, 3),
		NewContact(c1.ID, 4, 4), NewContact(c1.ID, 5, 3), NewContact(c1.ID, 6, 5)}
	dups, err := db.AddContacts(ctx, c1.ID, 1, batch)
	if err != nil || !slices.Equal(dups, []int64{0, 0, 0, 0, 3, 0}) || batch[5].ID != 5 || batch[5].CampaignID != c1.ID {
		t.Fatalf("AddContacts: %v, %v", dups, err)
	}
	dups, err = db.AddContacts(ctx, c1.ID, 6, []*campaign.Contact{NewContact(c1.ID, 0, 2), NewContact(c1.ID, 0, 8)})
	if err != nil || !slices.Equal(dups, []int64{2, 0}) {
		t.Fatalf("AddContacts again: %v, %v", dups, err)
	}
	if _, err := db.AddContacts(ctx, c1.ID, 6, []*campaign.Contact{NewContact(c1.ID, 0, 99)}); !errors.Is(err, gateway.ErrExists) {
		t.Errorf("AddContacts with a stored ID: %v", err)
	}
	if _, err := db.Contact(ctx, c1.ID, 7); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("a duplicate was stored: %v", err)
	}
	if _, err := db.ContactByCell(ctx, c1.ID, "+15550000099"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("a refused batch stored a contact: %v", err)
	}
	// The same cell in another campaign is no duplicate.
	if dups, err := db.AddContacts(ctx, c2.ID, 1, []*campaign.Contact{NewContact(c2.ID, 0, 3)}); err != nil || dups[0] != 0 {
		t.Fatalf("other campaign: %v, %v", dups, err)
	}
	got, err := db.Contact(ctx, c1.ID, 3)
	if err != nil || got.Cell != "+15550000003" || got.Fields["k"] != "v" || got.CampaignID != c1.ID {
		t.Errorf("Contact: %+v, %v", got, err)
	}
	if got, err := db.ContactByCell(ctx, c1.ID, "+15550000008"); err != nil || got.ID != 6 {
		t.Errorf("ContactByCell: %+v, %v", got, err)
	}
	if _, err := db.ContactByCell(ctx, c1.ID, "+19999"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("ContactByCell missing: %v", err)
	}
	refs, err := db.CampaignsOfCell(ctx, "+15550000003")
	if err != nil || len(refs) != 2 || refs[c1.ID] != 3 || refs[c2.ID] != 1 {
		t.Errorf("CampaignsOfCell: %v, %v", refs, err)
	}

	all := []int64{1, 2, 3, 4, 5, 6}
	if got := collect(t, db, c1.ID, campaign.ContactFilter{}); !slices.Equal(got, all) {
		t.Errorf("all: %v", got)
	}
	if got := collect(t, db, c1.ID, campaign.ContactFilter{After: 2, Limit: 2}); !slices.Equal(got, []int64{3, 4}) {
		t.Errorf("after/limit: %v", got)
	}
	// Statuses and texters move with updates; identity and cell do not.
	for _, u := range []struct {
		id     int64
		texter string
		st     campaign.Status
	}{{2, "t1", campaign.StatusMessaged}, {4, "t1", campaign.StatusNeedsMessage}, {5, "t2", campaign.StatusNeedsResponse}, {6, "", campaign.StatusOptedOut}} {
		got, err := db.UpdateContact(ctx, c1.ID, u.id, func(c *campaign.Contact) error {
			c.Texter, c.Status, c.Cell, c.ID = u.texter, u.st, "+1", 999
			c.OptedOut = u.st == campaign.StatusOptedOut
			return nil
		})
		if err != nil || got.ID != u.id || got.Cell == "+1" {
			t.Fatalf("UpdateContact %d: %+v, %v", u.id, got, err)
		}
	}
	boom := errors.New("boom")
	if _, err := db.UpdateContact(ctx, c1.ID, 1, func(c *campaign.Contact) error { c.Texter = "x"; return boom }); !errors.Is(err, boom) {
		t.Errorf("fn error: %v", err)
	}
	if _, err := db.UpdateContact(ctx, c1.ID, 77, func(*campaign.Contact) error { return nil }); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("update missing: %v", err)
	}
	db = h.Reopen(t, db)
	for _, tc := range []struct {
		name string
		f    campaign.ContactFilter
		want []int64
	}{
		{"texter", campaign.ContactFilter{Texter: "t1"}, []int64{2, 4}},
		{"texter+status", campaign.ContactFilter{Texter: "t1", Status: campaign.StatusNeedsMessage}, []int64{4}},
		{"status", campaign.ContactFilter{Status: campaign.StatusNeedsMessage}, []int64{1, 3, 4}},
		{"status after", campaign.ContactFilter{Status: campaign.StatusNeedsMessage, After: 1}, []int64{3, 4}},
		{"unassigned", campaign.ContactFilter{Unassigned: true}, []int64{1, 3, 6}},
		{"opted out", campaign.ContactFilter{Status: campaign.StatusOptedOut}, []int64{6}},
		{"limit", campaign.ContactFilter{Status: campaign.StatusNeedsMessage, Limit: 1}, []int64{1}},
	} {
		if got := collect(t, db, c1.ID, tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	cc, err := db.CountContacts(ctx, c1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Total != 6 || cc.ByStatus[campaign.StatusNeedsMessage] != 3 || cc.ByStatus[campaign.StatusOptedOut] != 1 || cc.OptedOut != 1 ||
		cc.ByTexter["t1"][campaign.StatusMessaged] != 1 || cc.ByTexter["t2"][campaign.StatusNeedsResponse] != 1 || cc.Unassigned != 2 {
		t.Errorf("CountContacts: %+v", cc)
	}
	stop := errors.New("stop")
	n := 0
	if err := db.Contacts(ctx, c1.ID, campaign.ContactFilter{}, func(*campaign.Contact) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("fn error stops the walk: %v after %d", err, n)
	}
}

func testCampaignAssign(t *testing.T, h campaignHarness) {
	db := h.Open(t)
	c := NewCampaign(1)
	if err := db.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	var batch []*campaign.Contact
	for i := int64(1); i <= 10; i++ {
		ct := NewContact(c.ID, i, int(i))
		if i == 2 {
			ct.OptedOut, ct.Status = true, campaign.StatusOptedOut
		}
		batch = append(batch, ct)
	}
	if _, err := db.AddContacts(ctx, c.ID, 1, batch); err != nil {
		t.Fatal(err)
	}
	got, err := db.AssignContacts(ctx, c.ID, "t1", 3, 0)
	if err != nil || !slices.Equal(got, []int64{1, 3, 4}) {
		t.Fatalf("assign: %v, %v", got, err)
	}
	got, err = db.AssignContacts(ctx, c.ID, "t2", 10, 8) // IDs below 8 only
	if err != nil || !slices.Equal(got, []int64{5, 6, 7}) {
		t.Fatalf("assign before 8: %v, %v", got, err)
	}
	if got := collect(t, db, c.ID, campaign.ContactFilter{Texter: "t1"}); !slices.Equal(got, []int64{1, 3, 4}) {
		t.Errorf("t1 has %v", got)
	}
	// Released contacts are assignable again.
	if _, err := db.UpdateContact(ctx, c.ID, 3, func(ct *campaign.Contact) error { ct.Texter = ""; return nil }); err != nil {
		t.Fatal(err)
	}
	got, err = db.AssignContacts(ctx, c.ID, "t3", 2, 0)
	if err != nil || !slices.Equal(got, []int64{3, 8}) {
		t.Fatalf("assign after release: %v, %v", got, err)
	}
	// Concurrent assigners never get the same contact.
	var more []*campaign.Contact
	for i := int64(11); i <= 60; i++ {
		more = append(more, NewContact(c.ID, i, int(i)))
	}
	if _, err := db.AddContacts(ctx, c.ID, 11, more); err != nil {
		t.Fatal(err)
	}
	res := make(chan []int64, 5)
	for w := range 5 {
		go func() {
			got, err := db.AssignContacts(ctx, c.ID, fmt.Sprintf("w%d", w), 11, 0)
			if err != nil {
				t.Error(err)
			}
			res <- got
		}()
	}
	seen := map[int64]bool{}
	total := 0
	for range 5 {
		for _, id := range <-res {
			if seen[id] {
				t.Errorf("contact %d assigned twice", id)
			}
			seen[id] = true
			total++
		}
	}
	if total != 52 { // 9, 10 and 11..60
		t.Errorf("assigned %d, want 52", total)
	}
	// Roll back contacts from 41: limit per call, then none left; their
	// cells are free again.
	n, err := db.DeleteContactsFrom(ctx, c.ID, 41, 15)
	if err != nil || n != 15 {
		t.Fatalf("delete: %d, %v", n, err)
	}
	for {
		n, err := db.DeleteContactsFrom(ctx, c.ID, 41, 15)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if got := collect(t, db, c.ID, campaign.ContactFilter{After: 39}); !slices.Equal(got, []int64{40}) {
		t.Errorf("after rollback: %v", got)
	}
	if _, err := db.ContactByCell(ctx, c.ID, "+15550000041"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("cell of a deleted contact: %v", err)
	}
	if refs, _ := db.CampaignsOfCell(ctx, "+15550000041"); len(refs) != 0 {
		t.Errorf("CampaignsOfCell of a deleted contact: %v", refs)
	}
	if dups, err := db.AddContacts(ctx, c.ID, 41, []*campaign.Contact{NewContact(c.ID, 0, 41)}); err != nil || dups[0] != 0 {
		t.Errorf("re-add after rollback: %v, %v", dups, err)
	}
	if cc, _ := db.CountContacts(ctx, c.ID); cc.Total != 41 {
		t.Errorf("count after rollback: %+v", cc)
	}
}

func testCampaignImports(t *testing.T, h campaignHarness) {
	db := h.Open(t)
	c := NewCampaign(1)
	if err := db.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Import(ctx, c.ID, "i1"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("missing import: %v", err)
	}
	r2 := &campaign.ImportReport{ID: "i2", CampaignID: c.ID, State: campaign.ImportRunning, StartedAt: T0.Add(time.Minute)}
	r1 := &campaign.ImportReport{ID: "i1", CampaignID: c.ID, State: campaign.ImportRunning, StartedAt: T0}
	for _, r := range []*campaign.ImportReport{r2, r1} {
		if err := db.PutImport(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	r1.State, r1.Rows, r1.Imported = campaign.ImportDone, 10, 7
	if err := db.PutImport(ctx, r1); err != nil {
		t.Fatal(err)
	}
	list, err := db.Imports(ctx, c.ID)
	if err != nil || len(list) != 2 || list[0].ID != "i1" || list[0].Imported != 7 || list[0].State != campaign.ImportDone || list[1].ID != "i2" {
		t.Fatalf("Imports: %+v, %v", list, err)
	}
	if l, _ := db.Imports(ctx, "other"); len(l) != 0 {
		t.Errorf("other campaign's imports: %v", l)
	}
	if err := db.AddRejects(ctx, c.ID, "i1", []campaign.Reject{{Line: 12, Reason: campaign.RejectInvalidNumber, Cell: "x"}, {Line: 3, Reason: campaign.RejectMissingField}}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddRejects(ctx, c.ID, "i1", []campaign.Reject{{Line: 100, Reason: campaign.RejectDuplicateInFile}}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddRejects(ctx, c.ID, "i2", []campaign.Reject{{Line: 5, Reason: campaign.RejectDuplicateInCampaign}}); err != nil {
		t.Fatal(err)
	}
	db = h.Reopen(t, db)
	var lines []int
	if err := db.Rejects(ctx, c.ID, "i1", func(r campaign.Reject) error { lines = append(lines, r.Line); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lines, []int{3, 12, 100}) {
		t.Errorf("rejects by line: %v", lines)
	}
}

func testCampaignConversation(t *testing.T, h campaignHarness) {
	db := h.Open(t)
	c1, c2 := NewCampaign(1), NewCampaign(2)
	for _, c := range []*campaign.Campaign{c1, c2} {
		if err := db.CreateCampaign(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddContacts(ctx, c.ID, 1, []*campaign.Contact{NewContact(c.ID, 0, 1), NewContact(c.ID, 0, 2)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, err := db.LatestTexted(ctx, "+15550000001"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("LatestTexted before any send: %v", err)
	}
	msg := func(i int, c *campaign.Campaign, contact int64, dir string) *campaign.Message {
		at := T0.Add(time.Duration(i) * time.Second)
		return &campaign.Message{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), CampaignID: c.ID, ContactID: contact,
			Direction: dir, Contact: fmt.Sprintf("+1555000%04d", contact), Status: "queued", Body: "hi", Parts: 1, CreatedAt: at, UpdatedAt: at}
	}
	m1 := msg(1, c1, 1, "out")
	ev := campaign.Event{ID: "sent:" + m1.ID, CampaignID: c1.ID, ContactID: 1, Type: campaign.EventSent, Actor: "t1", At: m1.CreatedAt, MessageID: m1.ID}
	for range 2 { // a repeat stores nothing twice
		got, err := db.RecordSend(ctx, m1, func(ct *campaign.Contact) error {
			ct.FirstMessageID, ct.Status = m1.ID, campaign.StatusMessaged
			return nil
		}, []campaign.Event{ev})
		if err != nil || got.Status != campaign.StatusMessaged || got.FirstMessageID != m1.ID {
			t.Fatalf("RecordSend: %+v, %v", got, err)
		}
	}
	boom := errors.New("boom")
	m9 := msg(9, c1, 2, "out")
	if _, err := db.RecordSend(ctx, m9, func(*campaign.Contact) error { return boom }, []campaign.Event{{ID: "x", CampaignID: c1.ID, ContactID: 2, At: T0}}); !errors.Is(err, boom) {
		t.Errorf("RecordSend fn error: %v", err)
	}
	if _, err := db.CampaignMessage(ctx, m9.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("a failed RecordSend stored its message: %v", err)
	}
	if cid, ct, at, err := db.LatestTexted(ctx, "+15550000001"); err != nil || cid != c1.ID || ct != 1 || !at.Equal(m1.CreatedAt) {
		t.Errorf("LatestTexted: %s %d %v %v", cid, ct, at, err)
	}
	// Campaign 2 texts the same number later: it becomes the latest. An
	// inbound message (no contact update) does not move the index.
	m2 := msg(2, c2, 1, "out")
	if _, err := db.RecordSend(ctx, m2, nil, nil); err != nil {
		t.Fatal(err)
	}
	in := msg(3, c1, 1, "in")
	if _, err := db.RecordSend(ctx, in, nil, []campaign.Event{{ID: "received:" + in.ID, CampaignID: c1.ID, ContactID: 1, Type: campaign.EventReceived, At: in.CreatedAt}}); err != nil {
		t.Fatal(err)
	}
	if cid, _, _, err := db.LatestTexted(ctx, "+15550000001"); err != nil || cid != c2.ID {
		t.Errorf("LatestTexted after the second campaign: %s %v", cid, err)
	}
	m4 := msg(4, c1, 2, "out")
	if _, err := db.RecordSend(ctx, m4, nil, nil); err != nil {
		t.Fatal(err)
	}
	got, err := db.UpdateCampaignMessage(ctx, m1.ID, func(m *campaign.Message) error { m.Status, m.Modem = "delivered", "sim1"; return nil })
	if err != nil || got.Status != "delivered" || got.CampaignID != c1.ID {
		t.Fatalf("UpdateCampaignMessage: %+v, %v", got, err)
	}
	if _, err := db.UpdateCampaignMessage(ctx, "nope", func(*campaign.Message) error { return nil }); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("update missing message: %v", err)
	}
	db = h.Reopen(t, db)
	if m, err := db.CampaignMessage(ctx, m1.ID); err != nil || m.Status != "delivered" || m.Modem != "sim1" {
		t.Errorf("CampaignMessage: %+v, %v", m, err)
	}
	list := func(c string, contact int64) []string {
		var out []string
		if err := db.CampaignMessages(ctx, c, contact, func(m *campaign.Message) error { out = append(out, m.ID); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := list(c1.ID, 0); !slices.Equal(got, []string{m1.ID, in.ID, m4.ID}) {
		t.Errorf("campaign 1 messages: %v", got)
	}
	if got := list(c1.ID, 1); !slices.Equal(got, []string{m1.ID, in.ID}) {
		t.Errorf("contact 1 messages: %v", got)
	}
	if got := list(c2.ID, 0); !slices.Equal(got, []string{m2.ID}) {
		t.Errorf("campaign 2 messages: %v", got)
	}

	own := campaign.Event{ID: "e0", CampaignID: c1.ID, Type: campaign.EventState, Actor: "org", At: T0}
	later := campaign.Event{ID: "e5", CampaignID: c1.ID, ContactID: 1, Type: campaign.EventAnswered, Actor: "t1", At: T0.Add(10 * time.Second), Question: "q1", Value: "yes"}
	if err := db.AppendEvents(ctx, []campaign.Event{later, own, ev}); err != nil {
		t.Fatal(err)
	}
	evs := func(contact int64) []string {
		var out []string
		if err := db.CampaignEvents(ctx, c1.ID, contact, func(e campaign.Event) error { out = append(out, e.ID); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := evs(1); !slices.Equal(got, []string{ev.ID, "received:" + in.ID, "e5"}) {
		t.Errorf("contact events: %v", got)
	}
	if got := evs(0); !slices.Equal(got, []string{"e0"}) {
		t.Errorf("campaign events: %v", got)
	}

	if l, err := db.Inbox(ctx, 10); err != nil || len(l) != 0 {
		t.Errorf("empty inbox: %v, %v", l, err)
	}
	for i, id := range []string{"a", "b", "b", "c"} {
		at := T0.Add(time.Duration(min(i, 1)) * time.Second)
		if id == "c" {
			at = T0.Add(2 * time.Second)
		}
		it := campaign.InboxItem{MessageID: id, Contact: "+1", Body: id, At: at}
		if err := db.AddInbox(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	l, err := db.Inbox(ctx, 2)
	if err != nil || len(l) != 2 || l[0].MessageID != "c" || l[1].MessageID != "b" {
		t.Errorf("inbox: %+v, %v", l, err)
	}
	if l, _ := db.Inbox(ctx, 10); len(l) != 3 {
		t.Errorf("inbox keeps a message once: %+v", l)
	}
}
