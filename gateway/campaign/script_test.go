package campaign

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

func TestParseAndRender(t *testing.T) {
	known := map[string]bool{"event": true}
	ct := &Contact{FirstName: "Ana", Zip: "10001", Fields: map[string]string{"event": "the rally"}}
	tx := Texter{ID: "k1", Name: "Sam Lee"}
	for _, tc := range []struct {
		name, script, want, err string
	}{
		{"plain", "Hello", "Hello", ""},
		{"fields", "Hi {firstName}, {texterFirstName} here about {event} in {zip}", "Hi Ana, Sam here about the rally in 10001", ""},
		{"fallback used", "Hi {lastName|friend}!", "Hi friend!", ""},
		{"fallback unused", "Hi {firstName|friend}!", "Hi Ana!", ""},
		{"empty fallback", "Hi{lastName|}.", "Hi.", ""},
		{"braces", "{{literal}} {firstName}", "{literal} Ana", ""},
		{"missing value", "Hi {lastName}", "", "no value"},
		{"unknown field", "Hi {nickname}", "", "unknown merge field {nickname}"},
		{"unclosed", "Hi {firstName", "", "unclosed"},
		{"stray close", "Hi firstName}", "", "unmatched"},
		{"empty field", "Hi {}", "", "bad merge field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := ParseScript(tc.script, known)
			if err == nil {
				var body string
				body, err = sc.Render(Values(ct, tx))
				if err == nil && body != tc.want {
					t.Fatalf("got %q, want %q", body, tc.want)
				}
			}
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestRequiredFields(t *testing.T) {
	sc, err := ParseScript("{firstName} {lastName|x} {zip} {firstName}", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sc.Required(), ","); got != "firstName,zip" {
		t.Fatalf("required %q", got)
	}
}

func TestMeasureEncodingAndParts(t *testing.T) {
	r, err := Measure("Hi Ana, reply STOP to opt out")
	if err != nil || r.Encoding != gateway.EncodingGSM7 || r.Parts != 1 {
		t.Fatalf("%+v %v", r, err)
	}
	// A curly quote in a name makes it UCS-2: 70 characters a part, 67 when split.
	body := "Hi Ana’s family, " + strings.Repeat("x", 60)
	r, err = Measure(body)
	if err != nil || r.Encoding != gateway.EncodingUCS2 || r.Parts != 2 {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestCompliance(t *testing.T) {
	phrases := DefaultOptOutPhrases
	if err := CheckCompliance("Hi, it's Vote Org. Reply STOP to opt out", "Vote Org", phrases); err != nil {
		t.Fatal(err)
	}
	err := CheckCompliance("Hi there", "Vote Org", phrases)
	var ce *ComplianceError
	if !errors.As(err, &ce) || len(ce.Missing) != 2 {
		t.Fatalf("%v", err)
	}
	err = CheckCompliance("Hi from Vote Org", "", phrases)
	if !errors.As(err, &ce) || len(ce.Missing) != 2 || !strings.Contains(ce.Missing[0], "org_name") {
		t.Fatalf("%v", err)
	}
}

func TestWindow(t *testing.T) {
	h := Hours{Start: "09:00", End: "21:00", TimeZone: "America/New_York"}
	ny, _ := time.LoadLocation("America/New_York")
	la, _ := time.LoadLocation("America/Los_Angeles")
	for _, tc := range []struct {
		name  string
		now   time.Time
		zone  string
		open  bool
		opens time.Time
	}{
		{"inside", time.Date(2026, 12, 1, 12, 0, 0, 0, ny), "", true, time.Time{}},
		{"before", time.Date(2026, 12, 1, 8, 59, 0, 0, ny), "", false, time.Date(2026, 12, 1, 9, 0, 0, 0, ny)},
		{"at end", time.Date(2026, 12, 1, 21, 0, 0, 0, ny), "", false, time.Date(2026, 12, 2, 9, 0, 0, 0, ny)},
		{"contact zone", time.Date(2026, 12, 1, 22, 0, 0, 0, ny), "America/Los_Angeles", true, time.Time{}},
		{"contact zone early", time.Date(2026, 12, 1, 10, 0, 0, 0, ny), "America/Los_Angeles", false, time.Date(2026, 12, 1, 9, 0, 0, 0, la)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := windowAt(h, tc.zone, tc.now)
			if w.Open != tc.open || !w.Opens.Equal(tc.opens) {
				t.Fatalf("got %+v", w)
			}
		})
	}
	if err := (Hours{Start: "08:00", End: "20:00", TimeZone: "UTC"}).validate(DefaultHours); err == nil {
		t.Fatal("08:00 widens the default window")
	}
	if err := (Hours{Start: "10:00", End: "20:00", TimeZone: "Nowhere/City"}).validate(DefaultHours); err == nil {
		t.Fatal("unknown zone accepted")
	}
}

func TestZoneOf(t *testing.T) {
	for _, tc := range []struct{ cell, zip, want string }{
		{"+12025550123", "", "America/New_York"},
		{"+13105550100", "", "America/Los_Angeles"},
		{"+15555550100", "60601", "America/Chicago"},
		{"+15555550100", "", ""},
		{"+442079460000", "", "Europe/London"},
	} {
		if got := ZoneOf(tc.cell, tc.zip); got != tc.want {
			t.Errorf("ZoneOf(%s, %s) = %q, want %q", tc.cell, tc.zip, got, tc.want)
		}
	}
}

func TestStateMachine(t *testing.T) {
	ok := map[[2]State]bool{
		{StateDraft, StateActive}: true, {StateDraft, StateArchived}: true,
		{StateActive, StatePaused}: true, {StateActive, StateArchived}: true,
		{StatePaused, StateActive}: true, {StatePaused, StateArchived}: true,
	}
	all := []State{StateDraft, StateActive, StatePaused, StateArchived}
	for _, a := range all {
		for _, b := range all {
			if got := a.CanMove(b); got != ok[[2]State{a, b}] {
				t.Errorf("%s → %s: %v", a, b, got)
			}
		}
	}
}

func TestNeutralise(t *testing.T) {
	for in, want := range map[string]string{"=1+1": "'=1+1", "+15551234567": "'+15551234567", "-2": "'-2", "@SUM": "'@SUM", "\tx": "'\tx", "\rx": "'\rx", "Ana": "Ana", "": ""} {
		if got := Neutralise(in); got != want {
			t.Errorf("Neutralise(%q) = %q", in, got)
		}
	}
}
