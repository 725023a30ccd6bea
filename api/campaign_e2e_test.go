package api_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/campaign"
	"github.com/simgate/simgate/modem"
	"github.com/simgate/simgate/modem/modemsim"
	"github.com/simgate/simgate/store"
)

// TestCampaignE2EOnSimulator is issue 8's "done means", through the API on
// the whole stack: the real Dispatcher, Inbox and Events over a bbolt store,
// the real modem driver and three simulated modems on PTYs.
//
//  1. A 1,000-row CSV with invalid, duplicate, already-opted-out and
//     field-missing rows gives an exact import report.
//  2. Three texters take dynamic batches; every first message is sent by a
//     per-contact call and reaches the network exactly once, with the
//     contact's merge values; repeating a call sends nothing.
//  3. Simulated replies: a survey answer, a STOP (the contact is closed in
//     every campaign, one confirmation goes out); a texter with an open
//     reply gets no new batch until it is handled.
//  4. A reply outside the contact's texting hours is held while later
//     messages go out.
//  5. The contacts export carries the answers in question[…] columns and
//     the right opt-out flags.
func TestCampaignE2EOnSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("PTYs and a simulated network")
	}
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "simgate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	events := gateway.NewEvents(db, nil, nil)
	t.Cleanup(func() { events.Close() })
	cfg := gateway.DefaultConfig()
	cfg.DefaultRegion = "US"
	cfg.Location = time.UTC
	cfg.Pacing = gateway.PacingConfig{MinInterval: 2 * time.Millisecond, Jitter: time.Millisecond, NewContactsPerDay: 10000}
	cfg.CloseTimeout = 10 * time.Second
	disp, err := gateway.NewDispatcher(cfg, db, events)
	if err != nil {
		t.Fatal(err)
	}
	inbox := gateway.NewInbox(gateway.InboxConfig{DefaultRegion: "US"}, db, disp, disp, events)

	network := modemsim.NewNetwork(modemsim.NetworkOptions{DeliveryDelay: 5 * time.Millisecond, ReportDelay: 5 * time.Millisecond})
	t.Cleanup(func() { network.Close() })
	sims := map[string]string{}
	for i := 1; i <= 3; i++ {
		name, number := fmt.Sprintf("sim%d", i), fmt.Sprintf("+1555000999%d", i)
		sims[name] = number
		sim := network.AddModem(modemsim.ModemConfig{Name: name, MSISDN: number})
		link := filepath.Join(dir, "tty-"+name)
		if _, err := sim.ServePTY(link); err != nil {
			t.Fatal(err)
		}
		dev, err := modem.Open(context.Background(), modem.Config{
			Name: name, Port: link, Globs: []string{link},
			CommandTimeout: 2 * time.Second, SendTimeout: 5 * time.Second,
			PollInterval: 200 * time.Millisecond, HealthInterval: 200 * time.Millisecond,
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		}, inbox, disp)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dev.Close() })
		disp.AddDevice(dev, gateway.ModemConfig{Name: name, Groups: []string{"field"}})
		eventually(t, name+" up", func() bool { return dev.Status().Usable() })
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- disp.Run(ctx) }()
	go func() { done <- inbox.Run(ctx) }()
	t.Cleanup(func() {
		if err := disp.Close(); err != nil {
			t.Errorf("dispatcher close: %v", err)
		}
		cancel()
		for range 2 {
			if err := <-done; err != nil && !errors.Is(err, gateway.ErrClosed) && !errors.Is(err, context.Canceled) {
				t.Errorf("run: %v", err)
			}
		}
	})

	e := attachServer(t, db, disp, api.Config{DefaultRegion: "US"})
	events.Subscribe(e.camp) // as cmd/simgate wires it
	texters := []string{"t1", "t2", "t3"}
	for _, tx := range texters {
		e.addKey(tx, tx, "send", "read")
		must(t, e.do("PUT", "/v1/campaigns/texters/"+tx, tx, map[string]any{"name": strings.ToUpper(tx) + " Texter"}), 200)
	}

	// 1. The campaign and its list.
	var c campaign.Campaign
	must(t, e.do("POST", "/v1/campaigns", "admin", map[string]any{
		"title": "GOTV", "org_name": "Vote Org", "modem_group": "field", "batch_size": 25, "fields": []string{"precinct"},
		"script": "Hi {firstName}, it's {texterFirstName} with Vote Org. Your polling place is {precinct}. Reply STOP to opt out",
		"survey": map[string]any{"questions": []map[string]any{{"id": "vote", "text": "Will you vote?", "options": []map[string]any{
			{"value": "yes", "reply": "Great, {firstName}! Polls close at 8pm."}, {"value": "no"}}}}},
	}), 201).decode(t, &c)
	base := "/v1/campaigns/" + c.ID
	for i := range 5 { // opted out before the import
		if err := db.AddOptOut(context.Background(), gateway.OptOut{Number: e2eCell(900 + i), Source: "api", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	b.WriteString("external_id,first_name,last_name,cell,precinct\n")
	var invalid, dupFile, missing []int
	name := map[string]string{} // cell → first name of the row imported
	for i := range 1000 {
		line, first, number, precinct := i+2, fmt.Sprintf("Ana%d", i), e2eCell(i), fmt.Sprintf("P-%d", i%7)
		switch {
		case i%97 == 13:
			number = "555-01" // not a number
			invalid = append(invalid, line)
		case i%89 == 17 && i > 17:
			number = e2eCell(i - 1) // the row before's number again
			dupFile = append(dupFile, line)
		case i%113 == 21:
			first = "" // {firstName} has no fallback
			missing = append(missing, line)
		}
		if !strings.HasPrefix(number, "555-") && first != "" && !(i%89 == 17 && i > 17) {
			name[number] = first
		}
		fmt.Fprintf(&b, "ext-%d,%s,Li,\"%s\",%s\n", i, first, number, precinct)
	}
	var rep campaign.ImportReport
	must(t, e.do("POST", base+"/contacts", "admin", b.String(), csvHdr()...), 201).decode(t, &rep)
	optedOut := 5
	if rep.Rows != 1000 || rep.InvalidNumber != len(invalid) || rep.DuplicateInFile != len(dupFile) || rep.MissingField != len(missing) ||
		rep.OptedOut != optedOut || rep.DuplicateInCampaign != 0 ||
		rep.Imported != 1000-len(invalid)-len(dupFile)-len(missing)-optedOut {
		t.Fatalf("report %+v (invalid %d, dup %d, missing %d)", rep, len(invalid), len(dupFile), len(missing))
	}
	r := must(t, e.do("GET", base+"/imports/"+rep.ID+"/rejects", "admin", nil), 200)
	recs, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil || len(recs) != 1+len(invalid)+len(dupFile)+len(missing) {
		t.Fatalf("rejects: %d rows, %v", len(recs), err)
	}
	must(t, e.do("POST", base+"/start", "admin", nil), 200)

	// A second campaign holds one of the numbers too (for STOP everywhere).
	var c2 campaign.Campaign
	must(t, e.do("POST", "/v1/campaigns", "admin", map[string]any{"title": "Volunteers", "org_name": "Vote Org",
		"script": "Vote Org: can you volunteer? Reply STOP to opt out"}), 201).decode(t, &c2)
	stopCell := ""

	// 2. Dynamic batches: each texter sends their batch one contact per call.
	sendBatch := func(tx string) []campaign.Contact {
		t.Helper()
		var as api.Assigned
		must(t, e.do("POST", base+"/batch", tx, nil), 200).decode(t, &as)
		if as.Assigned != 25 {
			t.Fatalf("%s batch: %d", tx, as.Assigned)
		}
		var q campaign.Queue
		must(t, e.do("GET", base+"/queue?limit=100", tx, nil), 200).decode(t, &q)
		if len(q.Items) != 25 {
			t.Fatalf("%s queue: %d", tx, len(q.Items))
		}
		var sent []campaign.Contact
		for _, it := range q.Items {
			want := fmt.Sprintf("Hi %s, it's %s with Vote Org. Your polling place is %s. Reply STOP to opt out",
				name[it.Contact.Cell], strings.ToUpper(tx), it.Contact.Fields["precinct"])
			if it.Message.Body != want || it.Message.Parts != 1 || it.Message.Encoding != "gsm7" {
				t.Fatalf("queue item %+v, want %q", it.Message, want)
			}
			var sr campaign.SendResult
			must(t, e.do("POST", fmt.Sprintf("%s/contacts/%d/send", base, it.Contact.ID), tx, nil), 201).decode(t, &sr)
			if sr.Message.Texter != tx || sr.Message.ScriptVersion != 1 {
				t.Fatalf("attribution %+v", sr.Message)
			}
			sent = append(sent, *it.Contact)
		}
		return sent
	}
	var mu sync.Mutex
	byTexter := map[string][]campaign.Contact{}
	var wg sync.WaitGroup
	for _, tx := range texters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := sendBatch(tx)
			mu.Lock()
			byTexter[tx] = s
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	firstTexts := func() map[string][]string {
		out := map[string][]string{}
		for _, s := range network.Submissions() {
			if strings.HasPrefix(s.Text, "Hi ") {
				out[s.To] = append(out[s.To], s.Text)
			}
		}
		return out
	}
	eventually(t, "75 first messages on the network", func() bool { return len(firstTexts()) == 75 })
	// A repeated call (a double click, a retry) sends nothing new.
	again := byTexter["t1"][0]
	var sr campaign.SendResult
	must(t, e.do("POST", fmt.Sprintf("%s/contacts/%d/send", base, again.ID), "t1", nil), 200).decode(t, &sr)
	if !sr.Repeated {
		t.Fatalf("repeat %+v", sr)
	}
	must(t, e.do("POST", fmt.Sprintf("%s/contacts/%d/send", base, again.ID), "t2", nil), 403)

	// 3. Replies: t1's first contact answers, t1's second says STOP, t2's first asks something.
	yes, stop, ask := byTexter["t1"][0], byTexter["t1"][1], byTexter["t2"][0]
	stopCell = stop.Cell
	var imp2 campaign.ImportReport
	must(t, e.do("POST", "/v1/campaigns/"+c2.ID+"/contacts", "admin", "cell\n"+stopCell+"\n", csvHdr()...), 201).decode(t, &imp2)
	simOf := func(cell string) string {
		for _, s := range network.Submissions() {
			if s.To == cell {
				return s.FromMSISDN
			}
		}
		t.Fatalf("no submission to %s", cell)
		return ""
	}
	for cell, text := range map[string]string{yes.Cell: "Yes I will", stop.Cell: "STOP", ask.Cell: "Where is it?"} {
		if err := network.InjectSMS(simOf(cell), cell, text); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "replies in the reply queues", func() bool {
		var l1, l2 api.ContactList
		must(t, e.do("GET", base+"/replies", "t1", nil), 200).decode(t, &l1)
		must(t, e.do("GET", base+"/replies", "t2", nil), 200).decode(t, &l2)
		return len(l1.Contacts) == 1 && l1.Contacts[0].ID == yes.ID && len(l2.Contacts) == 1 && l2.Contacts[0].ID == ask.ID
	})
	eventually(t, "STOP closes the contact in both campaigns", func() bool {
		var a, b campaign.Contact
		must(t, e.do("GET", fmt.Sprintf("%s/contacts/%d", base, stop.ID), "admin", nil), 200).decode(t, &a)
		must(t, e.do("GET", "/v1/campaigns/"+c2.ID+"/contacts/1", "admin", nil), 200).decode(t, &b)
		return a.OptedOut && a.Status == campaign.StatusOptedOut && b.OptedOut && b.Status == campaign.StatusOptedOut
	})
	p := must(t, e.do("POST", base+"/batch", "t1", nil), 409).problem(t)
	if p.Type != api.ProblemBase+api.ProblemOpenReplies {
		t.Fatalf("batch with an open reply: %+v", p)
	}
	var ans campaign.AnswerResult
	must(t, e.do("POST", fmt.Sprintf("%s/contacts/%d/answers", base, yes.ID), "t1", map[string]any{"question": "vote", "value": "yes"}), 200).decode(t, &ans)
	if ans.Reply != "Great, "+name[yes.Cell]+"! Polls close at 8pm." {
		t.Fatalf("suggested reply %q", ans.Reply)
	}
	must(t, e.do("POST", fmt.Sprintf("%s/contacts/%d/reply", base, yes.ID), "t1", map[string]any{"body": ans.Reply}), 201)
	must(t, e.do("POST", fmt.Sprintf("%s/contacts/%d/reply", base, ask.ID), "t2", map[string]any{"body": "At " + ask.Fields["precinct"]}), 201)
	for _, tx := range texters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := sendBatch(tx)
			mu.Lock()
			byTexter[tx] = append(byTexter[tx], s...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	eventually(t, "150 first messages on the network", func() bool { return len(firstTexts()) == 150 })
	for cell, texts := range firstTexts() {
		if len(texts) != 1 || !strings.HasPrefix(texts[0], "Hi "+name[cell]+", it's T") {
			t.Errorf("%s got %q", cell, texts)
		}
	}
	confirmations := 0
	for _, s := range network.Submissions() {
		if s.To == stop.Cell && s.Text == gateway.DefaultStopReply {
			confirmations++
		}
	}
	if confirmations != 1 {
		t.Errorf("%d STOP confirmations", confirmations)
	}

	// 4. Quiet hours: the campaign's window closes for now; t1's reply waits.
	now := time.Now().UTC()
	start, end := fmt.Sprintf("%02d:00", now.Hour()+2), fmt.Sprintf("%02d:00", now.Hour()+3)
	if now.Hour() > 20 {
		start, end = "01:00", "02:00"
	}
	must(t, e.do("PATCH", base, "admin", map[string]any{"hours": map[string]any{"start": start, "end": end, "time_zone": "UTC"}}), 200)
	held := byTexter["t1"][2]
	if err := network.InjectSMS(simOf(held.Cell), held.Cell, "Call me tomorrow"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the late reply", func() bool {
		var ct campaign.Contact
		must(t, e.do("GET", fmt.Sprintf("%s/contacts/%d", base, held.ID), "t1", nil), 200).decode(t, &ct)
		return ct.Status == campaign.StatusNeedsResponse
	})
	must(t, e.do("POST", fmt.Sprintf("%s/contacts/%d/send", base, byTexter["t1"][len(byTexter["t1"])-1].ID), "t1", nil), 200) // sent already: no window needed
	var hr campaign.SendResult
	must(t, e.do("POST", fmt.Sprintf("%s/contacts/%d/reply", base, held.ID), "t1", map[string]any{"body": "Will do, talk tomorrow"}), 201).decode(t, &hr)
	if !hr.Held || !hr.HeldUntil.After(now) {
		t.Fatalf("reply outside hours %+v", hr)
	}
	later := e.send("+15550004444", "an ordinary message sent after the held reply")
	eventually(t, "the later message delivered", func() bool {
		var v api.MessageView
		must(t, e.do("GET", "/v1/messages/"+later.ID, "read", nil), 200).decode(t, &v)
		return v.Status == gateway.StatusDelivered
	})
	var hv api.MessageView
	must(t, e.do("GET", "/v1/messages/"+hr.Message.ID, "read", nil), 200).decode(t, &hv)
	if hv.Status != gateway.StatusQueued {
		t.Errorf("held reply is %s", hv.Status)
	}
	for _, s := range network.Submissions() {
		if s.Text == "Will do, talk tomorrow" {
			t.Errorf("the held reply left at %s", s.At)
		}
	}

	// 5. Progress and the exports.
	eventually(t, "delivery reports counted", func() bool {
		var st campaign.Stats
		must(t, e.do("GET", base+"/stats", "admin", nil), 200).decode(t, &st)
		return st.Messages.Delivered >= 152 // 150 first messages and 2 replies
	})
	var st campaign.Stats
	must(t, e.do("GET", base+"/stats", "admin", nil), 200).decode(t, &st)
	if st.Replied != 4 || len(st.BySIM) == 0 || st.ByTexter["t1"].Sent < 51 || st.OptedOutAfterMessage != 1 {
		t.Errorf("stats %+v", st)
	}
	r = must(t, e.do("GET", base+"/export/contacts", "admin", nil), 200)
	recs, err = csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	if _, ok := col["question[Will you vote?]"]; !ok || len(recs) != 1+rep.Imported+rep.OptedOut {
		t.Fatalf("export header %v, %d rows", recs[0], len(recs)-1)
	}
	flags := map[string]string{}
	for _, rec := range recs[1:] {
		cell := strings.TrimPrefix(rec[col["cell"]], "'")
		flags[cell] = rec[col["opted_out"]] + "/" + rec[col["question[Will you vote?]"]] + "/" + rec[col["status"]]
	}
	if flags[yes.Cell] != "false/yes/conversing" || flags[stop.Cell] != "true//opted_out" || flags[e2eCell(900)] != "true//opted_out" || flags[ask.Cell] != "false//conversing" {
		t.Errorf("export flags: yes %s, stop %s, pre-opted %s, ask %s", flags[yes.Cell], flags[stop.Cell], flags[e2eCell(900)], flags[ask.Cell])
	}
	r = must(t, e.do("GET", base+"/export/messages", "admin", nil), 200)
	recs, err = csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil || len(recs) < 1+150+2+4 {
		t.Fatalf("messages export: %d rows %v", len(recs), err)
	}
	simNumbers := map[string]bool{}
	for _, rec := range recs[1:] {
		if rec[2] == "out" && rec[7] == "first" {
			simNumbers[strings.TrimPrefix(rec[3], "'")] = true
		}
	}
	for n := range simNumbers {
		if n != sims["sim1"] && n != sims["sim2"] && n != sims["sim3"] {
			t.Errorf("sim number %q in the export", n)
		}
	}
}

func e2eCell(i int) string { return fmt.Sprintf("+1555%07d", 1000000+i) }
