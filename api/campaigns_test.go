package api_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/campaign"
)

// addKey stores a key for owner with scopes under name.
func (e *env) addKey(name, owner string, scopes ...string) {
	e.t.Helper()
	secret, k, err := api.GenerateKey(owner, scopes, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.CreateKey(context.Background(), k); err != nil {
		e.t.Fatal(err)
	}
	e.keys[name] = secret
}

func csvHdr() []string { return []string{"Content-Type", "text/csv"} }

// TestCampaignRoutes walks a campaign through every /v1/campaigns route,
// each with an answer that works and one that is refused, all checked
// against openapi.yaml.
func TestCampaignRoutes(t *testing.T) {
	e := newEnv(t)
	e.addKey("t1", "t1", "send", "read")
	e.addKey("t2", "t2", "send", "read")

	must(t, e.do("POST", "/v1/campaigns", "admin", map[string]any{"title": ""}), 422)
	must(t, e.do("POST", "/v1/campaigns", "t1", map[string]any{"title": "x"}), 403)
	var c campaign.Campaign
	must(t, e.do("POST", "/v1/campaigns", "admin", map[string]any{
		"title": "GOTV", "org_name": "Vote Org", "script": "Hi {firstName|friend}, {texterFirstName} here about {event}.",
		"fields": []string{"event"}, "tags": []string{"follow-up"}, "batch_size": 2,
		"survey": map[string]any{"questions": []map[string]any{{"id": "vote", "text": "Will you vote?", "options": []map[string]any{
			{"value": "yes", "reply": "Great {firstName}!"}, {"value": "no"}}}}},
		"canned": []map[string]any{{"id": "thanks", "title": "Thanks", "body": "Thanks {firstName|friend}!"}},
	}), 201).decode(t, &c)
	base := "/v1/campaigns/" + c.ID

	must(t, e.do("GET", "/v1/campaigns", "read", nil), 200)
	must(t, e.do("GET", "/v1/campaigns", "", nil), 401)
	must(t, e.do("GET", base, "read", nil), 200)
	must(t, e.do("GET", "/v1/campaigns/nope", "read", nil), 404)
	must(t, e.do("PATCH", base, "admin", map[string]any{"script": "Hi {nickname}"}), 422)
	// Not compliant: no org name in the message, no opt-out wording.
	p := must(t, e.do("POST", base+"/start", "admin", nil), 422).problem(t)
	if p.Type != api.ProblemBase+"not-compliant" || len(p.Errors) != 2 {
		t.Fatalf("start problem %+v", p)
	}
	must(t, e.do("PATCH", base, "admin", map[string]any{"script": "Hi {firstName|friend}, {texterFirstName} with Vote Org about {event}. Reply STOP to opt out"}), 200)
	must(t, e.do("PUT", "/v1/campaigns/texters/t1", "t1", map[string]any{"name": "Sam Lee"}), 200)
	must(t, e.do("PUT", "/v1/campaigns/texters/t2", "t1", map[string]any{"name": "Not me"}), 403)

	// Import: a malformed file changes nothing; a good one is reported.
	must(t, e.do("POST", base+"/contacts", "admin", "firstName,cell\nAna,+15550001001\n", "Content-Type", "application/json"), 415)
	p = must(t, e.do("POST", base+"/contacts", "admin", "firstName,cell\n\"Ana,+15550001001\n", csvHdr()...), 422).problem(t)
	if p.Type != api.ProblemBase+"malformed-csv" || len(p.Errors) != 1 || !strings.HasPrefix(p.Errors[0].Field, "line 2") {
		t.Fatalf("malformed problem %+v", p)
	}
	file := "firstName;cell;event\r\nAna;+15550001001;rally\r\nBo;+15550001002;rally\r\nCy;12;rally\r\nDee;+15550001001;rally\r\nEd;+15550001005;rally\r\n"
	var rep campaign.ImportReport
	must(t, e.do("POST", base+"/contacts", "admin", file, csvHdr()...), 201).decode(t, &rep)
	if rep.Rows != 5 || rep.Imported != 3 || rep.InvalidNumber != 1 || rep.DuplicateInFile != 1 {
		t.Fatalf("report %+v", rep)
	}
	must(t, e.do("GET", base+"/imports", "admin", nil), 200)
	must(t, e.do("GET", "/v1/campaigns/nope/imports", "admin", nil), 404)
	must(t, e.do("GET", base+"/imports/"+rep.ID, "admin", nil), 200)
	must(t, e.do("GET", base+"/imports/nope", "admin", nil), 404)
	r := must(t, e.do("GET", base+"/imports/"+rep.ID+"/rejects", "admin", nil), 200)
	recs, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil || len(recs) != 3 || recs[1][0] != "4" || recs[1][1] != "invalid_number" || recs[2][0] != "5" || recs[2][1] != "duplicate_in_file" {
		t.Fatalf("rejects %q %v", r.Body, err)
	}
	must(t, e.do("GET", base+"/imports/nope/rejects", "admin", nil), 404)

	must(t, e.do("POST", base+"/start", "admin", nil), 200)
	must(t, e.do("POST", base+"/pause", "admin", nil), 200)
	must(t, e.do("POST", base+"/resume", "admin", nil), 200)
	must(t, e.do("POST", "/v1/campaigns/nope/resume", "admin", nil), 404)
	must(t, e.do("POST", "/v1/campaigns/nope/pause", "admin", nil), 404)

	// Assignment: t1 dynamic (batch of 2), t2 static.
	var as api.Assigned
	must(t, e.do("POST", base+"/batch", "t1", nil), 200).decode(t, &as)
	if as.Assigned != 2 {
		t.Fatalf("batch %+v", as)
	}
	must(t, e.do("POST", base+"/batch", "t1", nil), 409)
	must(t, e.do("POST", base+"/assignments", "admin", map[string]any{"texter": "t2", "count": 0}), 422)
	must(t, e.do("POST", base+"/assignments", "admin", map[string]any{"texter": "t2", "count": 5}), 200).decode(t, &as)
	if as.Assigned != 1 {
		t.Fatalf("static %+v", as)
	}
	must(t, e.do("GET", base+"/contacts?status=bogus", "admin", nil), 422)
	var cl api.ContactList
	must(t, e.do("GET", base+"/contacts", "t1", nil), 200).decode(t, &cl)
	if len(cl.Contacts) != 2 {
		t.Fatalf("t1 sees %d contacts", len(cl.Contacts))
	}
	must(t, e.do("GET", base+"/contacts/1", "t1", nil), 200)
	must(t, e.do("GET", base+"/contacts/3", "t1", nil), 403)
	must(t, e.do("GET", base+"/queue?limit=0", "t1", nil), 400)
	var q campaign.Queue
	must(t, e.do("GET", base+"/queue", "t1", nil), 200).decode(t, &q)
	if len(q.Items) != 2 || q.Items[0].Message.Body != "Hi Ana, Sam with Vote Org about rally. Reply STOP to opt out" || q.Items[0].Message.Parts != 1 {
		t.Fatalf("queue %+v", q)
	}
	must(t, e.do("POST", base+"/contacts/3/send", "t1", nil), 403)
	var sr campaign.SendResult
	must(t, e.do("POST", base+"/contacts/1/send", "t1", nil), 201).decode(t, &sr)
	first := sr.Message.ID
	must(t, e.do("POST", base+"/contacts/1/send", "t1", nil), 200).decode(t, &sr)
	if !sr.Repeated || sr.Message.ID != first {
		t.Fatalf("repeat %+v", sr)
	}
	must(t, e.do("POST", base+"/contacts/2/send", "t1", nil), 201)

	// A reply arrives (as the Inbox reports it).
	in := &gateway.Message{ID: "in-1", Direction: gateway.Inbound, Status: gateway.StatusReceived, Contact: "+15550001001", Body: "yes!", Modem: "sim1", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	e.camp.Notify(gateway.Event{Type: gateway.EventMessageReceived, MessageID: in.ID, Data: in})
	must(t, e.do("GET", base+"/replies", "t1", nil), 200).decode(t, &cl)
	if len(cl.Contacts) != 1 || cl.Contacts[0].ID != 1 {
		t.Fatalf("replies %+v", cl)
	}
	must(t, e.do("GET", "/v1/campaigns/nope/replies", "t1", nil), 404)
	must(t, e.do("POST", base+"/batch", "t1", nil), 409)
	must(t, e.do("POST", base+"/contacts/1/reply", "t1", map[string]any{"body": ""}), 422)
	must(t, e.do("POST", base+"/contacts/1/reply", "t1", map[string]any{"canned_id": "thanks"}, "Idempotency-Key", "r1"), 201).decode(t, &sr)
	if sr.Message.Body != "Thanks Ana!" {
		t.Fatalf("canned reply %+v", sr.Message)
	}
	must(t, e.do("POST", base+"/contacts/1/answers", "t1", map[string]any{"question": "vote", "value": "maybe"}), 422)
	must(t, e.do("POST", base+"/contacts/1/answers", "t1", map[string]any{"question": "vote", "value": "yes"}), 200)
	must(t, e.do("POST", base+"/contacts/1/tags", "t1", map[string]any{"add": []string{"vip"}}), 422)
	must(t, e.do("POST", base+"/contacts/1/tags", "t1", map[string]any{"add": []string{"follow-up"}}), 200)
	must(t, e.do("GET", base+"/contacts/1/conversation", "t1", nil), 200)
	must(t, e.do("GET", base+"/contacts/9/conversation", "t1", nil), 404)
	must(t, e.do("GET", base+"/contacts/1/events", "t1", nil), 200)
	must(t, e.do("GET", base+"/contacts/3/events", "t1", nil), 403)
	must(t, e.do("POST", base+"/contacts/x/close", "t1", nil), 400)
	must(t, e.do("POST", base+"/contacts/1/close", "t1", nil), 200)
	must(t, e.do("POST", base+"/contacts/9/optout", "t1", nil), 404)
	must(t, e.do("POST", base+"/contacts/2/optout", "t1", map[string]any{"confirm": false}), 200)
	must(t, e.do("POST", base+"/release", "t1", map[string]any{"texter": "t2"}), 403)
	must(t, e.do("POST", base+"/release", "t2", nil), 200).decode(t, &as)
	if as.Assigned != 1 {
		t.Fatalf("release %+v", as)
	}
	must(t, e.do("POST", base+"/reassign", "admin", map[string]any{"from": "t1"}), 422)
	must(t, e.do("POST", base+"/reassign", "admin", map[string]any{"from": "t1", "to": "t2"}), 200).decode(t, &as)
	if as.Assigned != 2 {
		t.Fatalf("reassign %+v", as)
	}

	var st campaign.Stats
	must(t, e.do("GET", base+"/stats", "admin", nil), 200).decode(t, &st)
	if st.Messages.Sent != 3 || st.Messages.Received != 1 || st.Contacts.OptedOut != 1 {
		t.Fatalf("stats %+v", st)
	}
	must(t, e.do("GET", base+"/stats", "t1", nil), 403)
	must(t, e.do("GET", base+"/events", "admin", nil), 200)
	must(t, e.do("GET", base+"/events", "t1", nil), 403)
	must(t, e.do("GET", "/v1/campaigns/inbox", "admin", nil), 200)
	must(t, e.do("GET", "/v1/campaigns/inbox", "t1", nil), 403)

	r = must(t, e.do("GET", base+"/export/contacts", "admin", nil), 200)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("export content type %q", ct)
	}
	recs, err = csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil || len(recs) != 4 || recs[0][len(recs[0])-1] != "question[Will you vote?]" || recs[1][len(recs[1])-1] != "yes" || recs[2][8] != "true" {
		t.Fatalf("contacts export %q %v", r.Body, err)
	}
	must(t, e.do("GET", "/v1/campaigns/nope/export/contacts", "admin", nil), 404)
	r = must(t, e.do("GET", base+"/export/messages", "admin", nil), 200)
	if n := strings.Count(string(r.Body), "\n"); n != 5 {
		t.Errorf("messages export has %d lines: %s", n, r.Body)
	}
	must(t, e.do("GET", base+"/export/messages", "t1", nil), 403)
	must(t, e.do("POST", base+"/archive", "admin", nil), 200)
	must(t, e.do("POST", base+"/archive", "t1", nil), 403)
	must(t, e.do("POST", base+"/start", "admin", nil), 409)
	must(t, e.do("PATCH", base, "admin", map[string]any{"title": "again"}), 409)
	must(t, e.do("POST", base+"/contacts", "admin", "cell\n+15550001009\n", csvHdr()...), 409)
	_ = fmt.Sprint
	_ = http.StatusOK
}
