package web_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/api/web"
	"github.com/simgate/simgate/gateway/account"
	"github.com/simgate/simgate/gateway/campaign"
)

// campaignEnv is a running campaign with two texters, each given contacts.
type campaignEnv struct {
	*env
	org      campaign.Actor
	cp       *campaign.Campaign
	ana, ben account.User
}

func newCampaignEnv(t *testing.T, hours *campaign.Hours) *campaignEnv {
	t.Helper()
	e := newEnv(t, web.Config{}, false)
	ctx := context.Background()
	mk := func(login string, role account.Role) account.User {
		u, err := e.accounts.Create(ctx, account.NewUser{Login: login, Name: strings.ToUpper(login[:1]) + login[1:], Role: role, Password: login + "-password"})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	org := mk("olu", account.RoleOrganiser)
	ce := &campaignEnv{env: e, org: campaign.Actor{ID: org.ID, Name: org.Name, Organiser: true}, ana: mk("ana", account.RoleTexter), ben: mk("ben", account.RoleTexter)}
	var err error
	ce.cp, err = e.camps.Create(ctx, ce.org, campaign.Spec{Title: "Vote", OrgName: "Helpers", Hours: hours,
		Script: "Hi {firstName}, {texterFirstName} from Helpers here. Reply STOP to opt out."})
	if err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("firstName,lastName,cell\n")
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&csv, "P%d,Q,+1555400000%d\n", i, i)
	}
	if _, err := e.camps.Import(ctx, ce.org, ce.cp.ID, strings.NewReader(csv.String()), campaign.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []account.User{ce.ana, ce.ben} {
		if _, err := e.camps.Assign(ctx, ce.org, ce.cp.ID, u.ID, 3); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.camps.SetState(ctx, ce.org, ce.cp.ID, campaign.StateActive); err != nil {
		t.Fatal(err)
	}
	return ce
}

// A texter sees and acts on their own contacts only, and no organiser page.
func TestTexterSeesOnlyOwnContacts(t *testing.T) {
	ce := newCampaignEnv(t, nil)
	ana := ce.browser()
	ana.login("ana", "ana-password")
	base := "/app/c/" + ce.cp.ID
	code, body, _ := ana.get(base + "/send")
	if code != http.StatusOK || !strings.Contains(body, "Hi P1, Ana from Helpers here.") {
		t.Fatalf("ana's first contact: %d\n%s", code, body)
	}
	// Contacts 4-6 are Ben's: Ana can neither read nor send them.
	if code, body, _ := ana.get(base + "/replies?contact=4"); code != http.StatusForbidden || strings.Contains(body, "P4 Q") {
		t.Errorf("ana opens ben's conversation: %d", code)
	}
	if code, _, _ := ana.get(base + "/replies/4/thread"); code != http.StatusForbidden {
		t.Errorf("ana reads ben's thread: %d", code)
	}
	for _, act := range []string{"/send/4", "/replies/4/reply", "/replies/4/optout", "/replies/4/close", "/replies/4/answer"} {
		if code, _, _ := ana.post(base+act, url.Values{"body": {"hi"}}); code != http.StatusOK && code != http.StatusForbidden {
			t.Errorf("ana POST %s: %d", act, code)
		}
	}
	ct, err := ce.camps.Contact(context.Background(), ce.org, ce.cp.ID, 4)
	if err != nil || ct.Status != campaign.StatusNeedsMessage || ct.OptedOut || ct.FirstMessageID != "" {
		t.Fatalf("ben's contact changed by ana: %+v %v", ct, err)
	}
	for _, p := range []string{"/app/campaigns", "/app/campaigns/" + ce.cp.ID, "/app/campaigns/" + ce.cp.ID + "/export/contacts.csv", "/app/campaigns/" + ce.cp.ID + "/review"} {
		if code, _, _ := ana.get(p); code != http.StatusForbidden {
			t.Errorf("texter GET %s: %d", p, code)
		}
	}
	// Her own send works, once, however often it is posted.
	for range 3 {
		code, body, _ := ana.do("POST", base+"/send/1", url.Values{}, map[string]string{"HX-Request": "true", "X-CSRF-Token": ana.csrf})
		if code != http.StatusOK || strings.Contains(body, "<html") {
			t.Fatalf("send (htmx): %d\n%s", code, body)
		}
	}
	n := 0
	err = ce.camps.Messages(context.Background(), ce.org, ce.cp.ID, func(m *campaign.Message) error {
		if m.ContactID == 1 {
			n++
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Fatalf("contact 1 has %d messages (%v), want 1", n, err)
	}
	// The organiser pages refuse texters; a texter's pages refuse organisers.
	olu := ce.browser()
	olu.login("olu", "olu-password")
	if code, _, _ := olu.get(base + "/send"); code != http.StatusForbidden {
		t.Errorf("organiser on the texter's send page: %d", code)
	}
}

// Contacts outside their texting hours are not offered; the page says when they open.
func TestSendPageOutsideHours(t *testing.T) {
	now := time.Now().UTC()
	start := now.Add(2 * time.Hour)
	if start.Day() != now.Day() { // keep the window inside today
		start = now.Add(-4 * time.Hour)
	}
	end := start.Add(time.Hour)
	hours := &campaign.Hours{Start: start.Format("15:04"), End: end.Format("15:04"), TimeZone: "UTC"}
	ce := newCampaignEnv(t, hours)
	ana := ce.browser()
	ana.login("ana", "ana-password")
	code, body, _ := ana.get("/app/c/" + ce.cp.ID + "/send")
	body = html.UnescapeString(body)
	if code != http.StatusOK || strings.Contains(body, `id="send-button"`) || !strings.Contains(body, "3 of your contacts are outside their texting hours; the first opens") {
		t.Fatalf("outside hours: %d\n%s", code, body)
	}
	if code, body, _ := ana.do("POST", "/app/c/"+ce.cp.ID+"/send/1", url.Values{}, map[string]string{"HX-Request": "true", "X-CSRF-Token": ana.csrf}); code != http.StatusOK || !strings.Contains(body, "outside their texting hours") {
		t.Fatalf("forced send outside hours: %d\n%s", code, body)
	}
	if ct, _ := ce.camps.Contact(context.Background(), ce.org, ce.cp.ID, 1); ct.FirstMessageID != "" {
		t.Fatal("a contact outside their hours was sent")
	}
}

// The script preview renders real contacts and flags missing wording.
func TestScriptPreview(t *testing.T) {
	ce := newCampaignEnv(t, nil)
	olu := ce.browser()
	olu.login("olu", "olu-password")
	code, body, _ := olu.do("POST", "/app/campaigns/"+ce.cp.ID+"/preview", url.Values{"script": {"Hi {firstName} 😀"}, "org_name": {"Helpers"}},
		map[string]string{"HX-Request": "true", "X-CSRF-Token": olu.csrf})
	body = html.UnescapeString(body)
	if code != http.StatusOK || !strings.Contains(body, "To P1 Q") || !strings.Contains(body, "UCS-2") ||
		!strings.Contains(body, `does not name the organisation "Helpers"`) {
		t.Fatalf("preview: %d\n%s", code, body)
	}
	code, body, _ = olu.do("POST", "/app/campaigns/"+ce.cp.ID+"/preview", url.Values{"script": {"Hi {nope}"}, "org_name": {"Helpers"}},
		map[string]string{"HX-Request": "true", "X-CSRF-Token": olu.csrf})
	if code != http.StatusOK || !strings.Contains(body, `class="error"`) {
		t.Fatalf("unknown field: %d\n%s", code, body)
	}
}

func TestSurveyAndCannedFormats(t *testing.T) {
	text := "? q1 Will you vote?\n- Yes | Great! | q2\n- No\n? q2 Bring a friend?\n- Yes | Thanks\n"
	sv, err := web.ParseSurvey(text)
	if err != nil || len(sv.Questions) != 2 || sv.Questions[0].Options[0].Next != "q2" || sv.Questions[0].Options[0].Reply != "Great!" {
		t.Fatalf("ParseSurvey: %+v %v", sv, err)
	}
	if got := web.FormatSurvey(sv); got != "? q1 Will you vote?\n- Yes | Great! | q2\n- No\n? q2 Bring a friend?\n- Yes | Thanks\n" {
		t.Fatalf("FormatSurvey round trip: %q", got)
	}
	for _, bad := range []string{"- Yes", "? q1", "just text", "? q1 Q\n- a | b | c | d"} {
		if _, err := web.ParseSurvey(bad); err == nil {
			t.Errorf("ParseSurvey(%q): no error", bad)
		}
	}
	cn, err := web.ParseCanned("Where | At the school\nWhere | Or the library\n")
	if err != nil || len(cn) != 2 || cn[0].ID == cn[1].ID {
		t.Fatalf("ParseCanned: %+v %v", cn, err)
	}
	if _, err := web.ParseCanned("no separator"); err == nil {
		t.Error("ParseCanned without |: no error")
	}
}

// The organiser's texter forms: assign (bad counts refused beside the
// form), release unsent contacts, move one texter's contacts to another.
func TestAssignReleaseReassign(t *testing.T) {
	ce := newCampaignEnv(t, nil)
	olu := ce.browser()
	olu.login("olu", "olu-password")
	path := "/app/campaigns/" + ce.cp.ID + "/texters"
	counts := func() map[string]int {
		m := map[string]int{}
		cs, err := ce.camps.Contacts(context.Background(), ce.org, ce.cp.ID, campaign.ContactFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			m[c.Texter]++
		}
		return m
	}
	code, body, _ := olu.post(path, url.Values{"texter": {ce.ana.ID}, "count": {"zero"}, "action": {"assign"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="assign-error"`) {
		t.Fatalf("bad count: %d", code)
	}
	if code, _, _ := olu.post(path, url.Values{"texter": {"usr_nobody"}, "count": {"1"}, "action": {"assign"}}); code != http.StatusUnprocessableEntity {
		t.Fatalf("unknown texter: %d", code)
	}
	if code, body, _ := olu.post(path, url.Values{"texter": {ce.ben.ID}, "action": {"release"}}); code != http.StatusOK || !strings.Contains(body, "Released 3 unsent contacts of Ben.") {
		t.Fatalf("release: %d\n%s", code, body)
	}
	if got := counts(); got[ce.ben.ID] != 0 || got[""] != 3 || got[ce.ana.ID] != 3 {
		t.Fatalf("after release: %v", got)
	}
	if code, body, _ := olu.post(path, url.Values{"texter": {ce.ben.ID}, "count": {"2"}, "action": {"assign"}}); code != http.StatusOK || !strings.Contains(body, "Gave Ben 2 contacts.") {
		t.Fatalf("assign: %d", code)
	}
	if code, body, _ := olu.post(path, url.Values{"texter": {ce.ana.ID}, "to": {ce.ben.ID}, "action": {"reassign"}}); code != http.StatusOK || !strings.Contains(body, "Moved 3 contacts from Ana to Ben.") {
		t.Fatalf("reassign: %d", code)
	}
	if got := counts(); got[ce.ben.ID] != 5 || got[ce.ana.ID] != 0 || got[""] != 1 {
		t.Fatalf("after reassign: %v", got)
	}
}

// A malformed CSV is refused beside the file field and imports nothing.
func TestImportMalformedFile(t *testing.T) {
	ce := newCampaignEnv(t, nil)
	olu := ce.browser()
	olu.login("olu", "olu-password")
	var buf strings.Builder
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("csrf", olu.csrf)
	fw, _ := mw.CreateFormFile("file", "bad.csv")
	_, _ = fw.Write([]byte("firstName,cell\nAna,\"+15554000099\n"))
	_ = mw.Close()
	req, _ := http.NewRequest("POST", ce.srv.URL+"/app/campaigns/"+ce.cp.ID+"/import", strings.NewReader(buf.String()))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("HX-Request", "true")
	resp, err := olu.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	body := html.UnescapeString(string(raw))
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="file-error"`) || !strings.Contains(body, "The file is malformed at line") || !strings.Contains(body, "Nothing was imported.") {
		t.Fatalf("malformed file: %d\n%s", resp.StatusCode, body)
	}
	if cs, _ := ce.camps.Contacts(context.Background(), ce.org, ce.cp.ID, campaign.ContactFilter{}); len(cs) != 6 {
		t.Fatalf("%d contacts after a refused import, want the 6 from before", len(cs))
	}
}
