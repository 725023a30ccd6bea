package api_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
)

func TestPostMessageAccepts(t *testing.T) {
	e := newEnv(t)
	r := must(t, e.do("POST", "/v1/messages", "send", map[string]any{
		"to": "(555) 123-4567", "body": "Hi Sam, can you make it Tuesday?", "priority": 3,
		"metadata": map[string]string{"campaign": "gotv"}, "validity": "2h", "status_report": false,
	}), 202)
	var v api.MessageView
	r.decode(t, &v)
	if v.ID == "" || v.Status != gateway.StatusQueued || v.Direction != gateway.Outbound {
		t.Fatalf("view %+v", v)
	}
	if v.Contact != "+15551234567" || v.ContactRaw != "(555) 123-4567" {
		t.Errorf("contact %q raw %q", v.Contact, v.ContactRaw)
	}
	if v.Agent != "alice" {
		t.Errorf("agent %q, want the key's owner alice", v.Agent)
	}
	if v.Encoding != "gsm7" || v.Segments != 1 || len(v.Parts) != 1 || v.Parts[0].State != gateway.PartQueued {
		t.Errorf("encoding %q segments %d parts %+v", v.Encoding, v.Segments, v.Parts)
	}
	if v.Priority != 3 || v.Metadata["campaign"] != "gotv" || v.StatusReport || v.ExpiresAt == nil {
		t.Errorf("fields not kept: %+v", v)
	}
	if loc := r.Header.Get("Location"); loc != "/v1/messages/"+v.ID {
		t.Errorf("Location %q", loc)
	}
	stored, err := e.db.GetMessage(context.Background(), v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.APIKeyID == "" || stored.Agent != "alice" || stored.RequestHash == "" {
		t.Errorf("stored evidence missing: key %q agent %q hash %q", stored.APIKeyID, stored.Agent, stored.RequestHash)
	}

	// Explicit agent (an admin key may name anyone), a group as from,
	// validity in seconds, UCS-2.
	must(t, e.do("POST", "/v1/messages", "admin", map[string]any{
		"to": "+15551234568", "body": "héllo 👋", "agent": "carol", "from": "field", "validity": 3600,
		"send_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}), 202).decode(t, &v)
	if v.Agent != "carol" || v.From != "field" || v.Encoding != "ucs2" || v.SendAt == nil {
		t.Errorf("view %+v", v)
	}

	// A texting window is kept and shown.
	must(t, e.do("POST", "/v1/messages", "send", map[string]any{
		"to": "+15551234569", "body": "hi", "texting_window": map[string]string{"start": "09:00", "end": "20:30", "time_zone": "America/Denver"},
	}), 202).decode(t, &v)
	if w := v.TextingWindow; w == nil || *w != (gateway.TextingWindow{Start: "09:00", End: "20:30", TimeZone: "America/Denver"}) {
		t.Errorf("texting window %+v", v.TextingWindow)
	}
}

func TestPostMessageRefusals(t *testing.T) {
	e := newEnv(t)
	if err := e.db.AddOptOut(context.Background(), gateway.OptOut{Number: "+15559990000", Source: "sms", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	big := `{"to":"+15551234567","body":"` + strings.Repeat("x", 70<<10) + `"}`
	cases := []struct {
		name   string
		body   any
		hdr    []string
		status int
		typ    string
		field  string
	}{
		{"opted out", `{"to":"(555) 999-0000","body":"hi"}`, nil, 422, "opted-out", ""},
		{"premium rate", `{"to":"+1 900 555 0123","body":"hi"}`, nil, 422, "destination-refused", "to"},
		{"satellite", `{"to":"+881612345678","body":"hi"}`, nil, 422, "destination-refused", "to"},
		{"bad number", `{"to":"12","body":"hi"}`, nil, 422, "validation", "to"},
		{"no to", `{"body":"hi"}`, nil, 422, "validation", "to"},
		{"empty body", `{"to":"+15551234567","body":""}`, nil, 422, "validation", "body"},
		{"unknown from", `{"to":"+15551234567","body":"hi","from":"nope"}`, nil, 422, "validation", "from"},
		{"priority range", `{"to":"+15551234567","body":"hi","priority":11}`, nil, 422, "validation", "priority"},
		{"send_at format", `{"to":"+15551234567","body":"hi","send_at":"tomorrow"}`, nil, 422, "validation", "send_at"},
		{"validity bad duration", `{"to":"+15551234567","body":"hi","validity":"forever"}`, nil, 422, "validation", "validity"},
		{"validity too long", `{"to":"+15551234567","body":"hi","validity":"800h"}`, nil, 422, "validation", "validity"},
		{"validity negative seconds", `{"to":"+15551234567","body":"hi","validity":-5}`, nil, 422, "validation", "validity"},
		{"validity wrong type", `{"to":"+15551234567","body":"hi","validity":true}`, nil, 400, "malformed-request", "validity"},
		{"validity fraction", `{"to":"+15551234567","body":"hi","validity":1.5}`, nil, 400, "malformed-request", "validity"},
		{"metadata reserved", `{"to":"+15551234567","body":"hi","metadata":{"simgate.optout_exempt":"true"}}`, nil, 422, "validation", "metadata"},
		{"metadata too many", map[string]any{"to": "+15551234567", "body": "hi", "metadata": manyKeys(21)}, nil, 422, "validation", "metadata"},
		{"window start", `{"to":"+15551234567","body":"hi","texting_window":{"start":"9am","end":"21:00","time_zone":"UTC"}}`, nil, 422, "validation", "texting_window.start"},
		{"window zone", `{"to":"+15551234567","body":"hi","texting_window":{"start":"09:00","end":"21:00","time_zone":"Moon/Base"}}`, nil, 422, "validation", "texting_window.time_zone"},
		{"window unknown field", `{"to":"+15551234567","body":"hi","texting_window":{"start":"09:00","end":"21:00","tz":"UTC"}}`, nil, 400, "malformed-request", "tz"},
		{"callback not http", `{"to":"+15551234567","body":"hi","callback_url":"ftp://x"}`, nil, 422, "validation", "callback_url"},
		{"too many parts", map[string]any{"to": "+15551234567", "body": strings.Repeat("é€", 700)}, nil, 422, "validation", "body"},
		{"wrong type", `{"to":15551234567,"body":"hi"}`, nil, 400, "malformed-request", "to"},
		{"wrong type nested", `{"to":"+15551234567","body":"hi","metadata":{"a":1}}`, nil, 400, "malformed-request", "metadata"},
		{"unknown field", `{"to":"+15551234567","body":"hi","colour":"red"}`, nil, 400, "malformed-request", "colour"},
		{"field name in other case", `{"TO":"+15551234567","body":"hi"}`, nil, 400, "malformed-request", "TO"},
		{"field name capitalised", `{"to":"+15551234567","Body":"hi"}`, nil, 400, "malformed-request", "Body"},
		{"duplicate field", `{"to":"+15551234567","body":"hi","to":"+15557654321"}`, nil, 400, "malformed-request", "to"},
		{"duplicate field escaped", `{"to":"+15551234567","body":"hi","b\u006fdy":"ho"}`, nil, 400, "malformed-request", "body"},
		{"duplicate metadata key", `{"to":"+15551234567","body":"hi","metadata":{"k":"a","k":"b"}}`, nil, 400, "malformed-request", "metadata.k"},
		{"nested too deep", `{"to":"+15551234567","body":"hi","metadata":{"k":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}}`, nil, 400, "malformed-request", ""},
		{"syntax", `{"to":"+15551234567",`, nil, 400, "malformed-request", ""},
		{"trailing data", `{"to":"+15551234567","body":"hi"}{}`, nil, 400, "malformed-request", ""},
		{"array", `[{"to":"+15551234567","body":"hi"}]`, nil, 400, "malformed-request", ""},
		{"null", `null`, nil, 400, "malformed-request", ""},
		{"empty", ``, nil, 400, "malformed-request", ""},
		{"too large", big, nil, 413, "payload-too-large", ""},
		{"form", `to=1`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported-media-type", ""},
		{"idempotency key with space", `{"to":"+15551234567","body":"hi"}`, []string{"Idempotency-Key", "a b"}, 422, "validation", "Idempotency-Key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := must(t, e.do("POST", "/v1/messages", "send", c.body, c.hdr...), c.status)
			p := r.problem(t)
			if p.Type != api.ProblemBase+c.typ {
				t.Errorf("type %q, want %q", p.Type, c.typ)
			}
			if c.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != c.field) {
				t.Errorf("errors %+v, want field %q", p.Errors, c.field)
			}
		})
	}
	page, err := e.db.ListMessages(context.Background(), gateway.MessageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 0 {
		t.Errorf("%d messages stored by refused requests", len(page.Messages))
	}
}

func manyKeys(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("k%d", i)] = "v"
	}
	return m
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"to": "+15551234567", "body": "once only"}
	var first, again api.MessageView
	must(t, e.do("POST", "/v1/messages", "send", body, "Idempotency-Key", "k-1"), 202).decode(t, &first)

	t.Run("same key same body", func(t *testing.T) {
		// Other spacing and key order are the same request.
		must(t, e.do("POST", "/v1/messages", "send", ` { "body" : "once only", "to":"+15551234567" }`, "Idempotency-Key", "k-1"), 202).decode(t, &again)
		if again.ID != first.ID || again.Status != first.Status || again.Body != first.Body {
			t.Fatalf("repeat got %+v, first %+v", again, first)
		}
		// Validity written as seconds or as a duration is the same request.
		var a, b api.MessageView
		must(t, e.do("POST", "/v1/messages", "send", `{"to":"+15551234567","body":"v","validity":3600}`, "Idempotency-Key", "k-v"), 202).decode(t, &a)
		must(t, e.do("POST", "/v1/messages", "send", `{"to":"+15551234567","body":"v","validity":"1h","metadata":{}}`, "Idempotency-Key", "k-v"), 202).decode(t, &b)
		if a.ID != b.ID {
			t.Errorf("equivalent bodies are different requests: %s, %s", a.ID, b.ID)
		}
	})
	t.Run("same key other body", func(t *testing.T) {
		r := must(t, e.do("POST", "/v1/messages", "send", map[string]any{"to": "+15551234567", "body": "twice"}, "Idempotency-Key", "k-1"), 422)
		if p := r.problem(t); p.Type != api.ProblemBase+"idempotency-mismatch" {
			t.Errorf("type %q", p.Type)
		}
	})
	t.Run("other owner same key", func(t *testing.T) {
		var v api.MessageView
		must(t, e.do("POST", "/v1/messages", "other", body, "Idempotency-Key", "k-1"), 202).decode(t, &v)
		if v.ID == first.ID {
			t.Error("keys are not scoped by owner")
		}
	})
	t.Run("in flight", func(t *testing.T) {
		entered, release := e.sender.hold()
		var wg sync.WaitGroup
		var r1 resp
		wg.Add(1)
		go func() {
			defer wg.Done()
			r1 = e.do("POST", "/v1/messages", "send", body, "Idempotency-Key", "k-2")
		}()
		<-entered
		r2 := must(t, e.do("POST", "/v1/messages", "send", body, "Idempotency-Key", "k-2"), 409)
		if p := r2.problem(t); p.Type != api.ProblemBase+"in-flight" {
			t.Errorf("type %q", p.Type)
		}
		close(release)
		wg.Wait()
		must(t, r1, 202)
		var v1, v3 api.MessageView
		r1.decode(t, &v1)
		must(t, e.do("POST", "/v1/messages", "send", body, "Idempotency-Key", "k-2"), 202).decode(t, &v3)
		if v1.ID != v3.ID {
			t.Errorf("after the first finished: %s, want %s", v3.ID, v1.ID)
		}
	})
	page, err := e.db.ListMessages(context.Background(), gateway.MessageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 4 {
		t.Errorf("%d messages stored, want 4 (k-1 alice, k-v, k-1 bob, k-2)", len(page.Messages))
	}
}

func TestGetAndCancelMessage(t *testing.T) {
	e := newEnv(t)
	m := e.send("+15551234567", "cancel me")
	var v api.MessageView
	must(t, e.do("GET", "/v1/messages/"+m.ID, "read", nil), 200).decode(t, &v)
	if v.ID != m.ID || v.Body != "cancel me" || len(v.Parts) != 1 {
		t.Fatalf("get %+v", v)
	}
	must(t, e.do("POST", "/v1/messages/"+m.ID+"/cancel", "send", nil), 200).decode(t, &v)
	if v.Status != gateway.StatusCancelled || v.Parts[0].State != gateway.PartCancelled {
		t.Fatalf("after cancel %+v", v)
	}
	r := must(t, e.do("POST", "/v1/messages/"+m.ID+"/cancel", "send", nil), 409)
	if p := r.problem(t); p.Type != api.ProblemBase+"not-cancellable" {
		t.Errorf("type %q", p.Type)
	}
	for _, path := range []string{"/v1/messages/01HZZZZZZZZZZZZZZZZZZZZZZZ", "/v1/messages/" + strings.Repeat("x", 100)} {
		if p := must(t, e.do("GET", path, "read", nil), 404).problem(t); p.Type != api.ProblemBase+"not-found" {
			t.Errorf("type %q", p.Type)
		}
	}
	must(t, e.do("POST", "/v1/messages/01HZZZZZZZZZZZZZZZZZZZZZZZ/cancel", "send", nil), 404)
}

// TestOwnerScoping: a send key acts for its owner only. It cannot name
// another agent, nor cancel (and so read back) another owner's message;
// an admin key may do both.
func TestOwnerScoping(t *testing.T) {
	e := newEnv(t)
	// "other" is bob's send+read key; "send" is alice's.
	r := must(t, e.do("POST", "/v1/messages", "send", map[string]any{"to": "+15551234567", "body": "hi", "agent": "bob"}), 403)
	if p := r.problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "agent" {
		t.Errorf("problem %+v, want one naming agent", p)
	}
	var v api.MessageView
	must(t, e.do("POST", "/v1/messages", "send", map[string]any{"to": "+15551234567", "body": "hi", "agent": "alice"}), 202).decode(t, &v)
	if v.Agent != "alice" {
		t.Errorf("agent %q", v.Agent)
	}
	r = must(t, e.do("POST", "/v1/messages/"+v.ID+"/cancel", "other", nil), 404)
	if strings.Contains(string(r.Body), "+15551234567") || strings.Contains(string(r.Body), `"hi"`) {
		t.Errorf("another owner's cancel leaks the message: %s", r.Body)
	}
	if m, err := e.db.GetMessage(context.Background(), v.ID); err != nil || m.Status != gateway.StatusQueued {
		t.Fatalf("after bob's cancel: %v, %v; want it still queued", m, err)
	}
	must(t, e.do("POST", "/v1/messages/"+v.ID+"/cancel", "send", nil), 200)

	// An admin names bob as the agent; bob's key may cancel it, alice's may not; admin may.
	must(t, e.do("POST", "/v1/messages", "admin", map[string]any{"to": "+15551234568", "body": "x", "agent": "bob"}), 202).decode(t, &v)
	must(t, e.do("POST", "/v1/messages/"+v.ID+"/cancel", "send", nil), 404)
	must(t, e.do("POST", "/v1/messages/"+v.ID+"/cancel", "other", nil), 200)
	must(t, e.do("POST", "/v1/messages", "admin", map[string]any{"to": "+15551234568", "body": "y"}), 202).decode(t, &v)
	must(t, e.do("POST", "/v1/messages/"+v.ID+"/cancel", "admin", nil), 200)
}

func TestListMessagesPaginates(t *testing.T) {
	e := newEnv(t)
	want := map[string]bool{}
	for i := range 7 {
		want[e.send(fmt.Sprintf("+1555123456%d", i%2), fmt.Sprintf("m%d", i)).ID] = true
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	var last string
	for {
		q := "/v1/messages?limit=3&direction=out"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		var pg api.MessagePage
		must(t, e.do("GET", q, "read", nil), 200).decode(t, &pg)
		pages++
		for _, m := range pg.Data {
			if seen[m.ID] {
				t.Fatalf("%s twice", m.ID)
			}
			if last != "" && m.ID > last {
				t.Errorf("not newest first: %s after %s", m.ID, last)
			}
			seen[m.ID], last = true, m.ID
		}
		if pg.NextCursor == "" {
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		cursor = pg.NextCursor
	}
	if pages != 3 || len(seen) != 7 {
		t.Errorf("%d pages, %d messages; want 3 pages, 7 messages", pages, len(seen))
	}

	filters := []struct {
		q    string
		want int
	}{
		{"contact=" + url.QueryEscape("(555) 123-4561"), 3},
		{"contact=" + url.QueryEscape("+15551234560"), 4},
		{"direction=in", 0},
		{"status=queued", 7},
		{"status=sent", 0},
		{"agent=alice", 7},
		{"agent=bob", 0},
		{"modem=sim1", 0},
		{"since=" + url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)), 7},
		{"until=" + url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)), 0},
	}
	for _, f := range filters {
		var pg api.MessagePage
		must(t, e.do("GET", "/v1/messages?"+f.q, "read", nil), 200).decode(t, &pg)
		if len(pg.Data) != f.want {
			t.Errorf("%s: %d messages, want %d", f.q, len(pg.Data), f.want)
		}
	}
	for _, q := range []string{"direction=sideways", "status=lost", "limit=0", "limit=501", "limit=x", "cursor=garbage", "since=yesterday", "contact=%01"} {
		r := must(t, e.do("GET", "/v1/messages?"+q, "read", nil), 422)
		if p := r.problem(t); p.Type != api.ProblemBase+"validation" || len(p.Errors) == 0 {
			t.Errorf("%s: %+v", q, p)
		}
	}
}

func TestConversation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	out1 := e.send("+15551230001", "hello")
	in := &gateway.Message{ID: "01J00000000000000000000000", Direction: gateway.Inbound, Contact: "+15551230001", Body: "hi back",
		Modem: "sim1", Status: gateway.StatusReceived, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	// The inbound message is stored with a later ULID than out1 so it sorts after it.
	in.ID = nextID(out1.ID)
	if err := e.db.CompleteInbound(ctx, in, ""); err != nil {
		t.Fatal(err)
	}
	out2 := e.send("+15551230001", "great")
	e.send("+15551230002", "someone else")

	var got []string
	cursor := ""
	for range 5 {
		q := "/v1/conversations/" + url.PathEscape("+15551230001") + "?limit=2"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		var pg api.ConversationPage
		must(t, e.do("GET", q, "read", nil), 200).decode(t, &pg)
		if pg.Contact != "+15551230001" {
			t.Errorf("contact %q", pg.Contact)
		}
		for _, m := range pg.Data {
			got = append(got, m.ID)
		}
		if cursor = pg.NextCursor; cursor == "" {
			break
		}
	}
	want := []string{out1.ID, in.ID, out2.ID}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("conversation %v, want %v (oldest first, both directions)", got, want)
	}
	// National notation finds the same conversation.
	var pg api.ConversationPage
	must(t, e.do("GET", "/v1/conversations/"+url.PathEscape("(555) 123-0001"), "read", nil), 200).decode(t, &pg)
	if len(pg.Data) != 3 {
		t.Errorf("%d messages by national notation", len(pg.Data))
	}
	must(t, e.do("GET", "/v1/conversations/%01%02", "read", nil), 422)
	must(t, e.do("GET", "/v1/conversations/+15551230001?cursor=nope", "read", nil), 422)
}

// nextID returns a ULID-shaped id that sorts just after id.
func nextID(id string) string {
	b := []byte(id)
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	for i := len(b) - 1; i >= 0; i-- {
		j := strings.IndexByte(alphabet, b[i])
		if j < len(alphabet)-1 {
			b[i] = alphabet[j+1]
			return string(b)
		}
		b[i] = '0'
	}
	return string(b)
}

// A queued message says why it waits: both modems are paused.
func TestMessageSaysWhyItWaits(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"sim1", "sim2"} {
		must(t, e.do("POST", "/v1/modems/"+n+"/pause", "admin", map[string]any{"reason": "carrier complaint"}), 200)
	}
	var v api.MessageView
	must(t, e.do("POST", "/v1/messages", "send", `{"to":"+15551234567","body":"hi"}`), 202).decode(t, &v)
	must(t, e.do("GET", "/v1/messages/"+v.ID, "read", nil), 200).decode(t, &v)
	if !strings.Contains(v.Waiting, "paused") || !strings.Contains(v.Waiting, "sim1") {
		t.Fatalf("waiting = %q, want the paused modems named", v.Waiting)
	}
}
