package api_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/simgate/simgate/api"
)

func TestOptOuts(t *testing.T) {
	e := newEnv(t)
	var imp api.OptOutImport
	must(t, e.do("POST", "/v1/optouts", "admin", map[string]any{"numbers": []string{"(555) 000-0003", "+15550000001", "555.000.0002"}}), 200).decode(t, &imp)
	if imp.Added != 3 || imp.Numbers[0] != "+15550000003" || imp.Numbers[2] != "+15550000002" {
		t.Fatalf("import %+v", imp)
	}
	if out, _ := e.db.OptedOut(context.Background(), "+15550000002"); !out {
		t.Fatal("not on the list")
	}
	// A send to an imported number is refused at accept time.
	r := must(t, e.do("POST", "/v1/messages", "send", map[string]any{"to": "+15550000002", "body": "hi"}), 422)
	if p := r.problem(t); p.Type != api.ProblemBase+"opted-out" {
		t.Errorf("type %q", p.Type)
	}

	// One bad number refuses the whole import and is named by index.
	r = must(t, e.do("POST", "/v1/optouts", "admin", map[string]any{"numbers": []string{"+15550000009", "12", "+15550000008", "nope"}}), 422)
	p := r.problem(t)
	if len(p.Errors) != 2 || p.Errors[0].Field != "numbers[1]" || p.Errors[1].Field != "numbers[3]" {
		t.Errorf("errors %+v", p.Errors)
	}
	if out, _ := e.db.OptedOut(context.Background(), "+15550000009"); out {
		t.Error("partial import")
	}
	must(t, e.do("POST", "/v1/optouts", "admin", `{"numbers":[]}`), 422)
	must(t, e.do("POST", "/v1/optouts", "admin", `{"numbers":"+15550000009"}`), 400)

	// Pagination in number order.
	var got []string
	cursor := ""
	for range 5 {
		q := "/v1/optouts?limit=2"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		var pg api.OptOutPage
		must(t, e.do("GET", q, "read", nil), 200).decode(t, &pg)
		for _, o := range pg.Data {
			got = append(got, o.Number)
		}
		if cursor = pg.NextCursor; cursor == "" {
			break
		}
	}
	if fmt.Sprint(got) != "[+15550000001 +15550000002 +15550000003]" {
		t.Errorf("listed %v", got)
	}
	must(t, e.do("GET", "/v1/optouts?cursor=zzz", "read", nil), 422)

	must(t, e.do("DELETE", "/v1/optouts/"+url.PathEscape("(555) 000-0002"), "admin", nil), 204)
	if out, _ := e.db.OptedOut(context.Background(), "+15550000002"); out {
		t.Error("still on the list")
	}
	must(t, e.do("POST", "/v1/messages", "send", map[string]any{"to": "+15550000002", "body": "welcome back"}), 202)
	if got := fmt.Sprint(e.events.types()); got != "[optout.added optout.added optout.added optout.removed]" {
		t.Errorf("events %s", got)
	}
	must(t, e.do("DELETE", "/v1/optouts/+15550000002", "admin", nil), 404).problem(t)
	must(t, e.do("DELETE", "/v1/optouts/12", "admin", nil), 422).problem(t)
}
