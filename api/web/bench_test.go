package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway/account"
	"github.com/simgate/simgate/gateway/campaign"
)

var nextContactRE = regexp.MustCompile(`data-contact="(\d+)"`)

// BenchmarkFirstMessages50Texters: 50 texters send first messages at once,
// each as the first-message screen does (an htmx POST whose answer is the
// next contact's card), through the real web app, campaign Service, bbolt
// store and Dispatcher on a simulated modem. It reports the time from the
// send to the next contact's card received (p50/p95/p99, ms) over b.N
// sends; the browser's swap of that card adds well under a millisecond.
//
//	go test -run '^$' -bench FirstMessages50Texters -benchtime 1000x ./api/web/
func BenchmarkFirstMessages50Texters(b *testing.B) {
	const texters = 50
	e := newEnv(b, webConfigForBench(), true)
	ctx := context.Background()
	org, err := e.accounts.Create(ctx, account.NewUser{Login: "olu", Name: "Olu", Role: account.RoleOrganiser, Password: "olu-password"})
	if err != nil {
		b.Fatal(err)
	}
	orgA := campaign.Actor{ID: org.ID, Name: org.Name, Organiser: true}
	cp, err := e.camps.Create(ctx, orgA, campaign.Spec{Title: "Bench", OrgName: "Helpers United",
		Script: "Hi {firstName}, this is {texterFirstName} with Helpers United. Will you vote? Reply STOP to opt out."})
	if err != nil {
		b.Fatal(err)
	}
	per := b.N/texters + 2 // every send has a next contact to show
	var csv strings.Builder
	csv.WriteString("firstName,lastName,cell\n")
	for i := 0; i < texters*per; i++ {
		fmt.Fprintf(&csv, "C%d,Person,+1555%07d\n", i, 1000000+i)
	}
	if rep, err := e.camps.Import(ctx, orgA, cp.ID, strings.NewReader(csv.String()), campaign.ImportOptions{}); err != nil || rep.Imported != texters*per {
		b.Fatalf("import: %v %+v", err, rep)
	}
	type texter struct {
		cookie, csrf string
		next         string
	}
	ts := make([]*texter, texters)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: texters}, Timeout: 30 * time.Second}
	for i := range ts {
		u, err := e.accounts.Create(ctx, account.NewUser{Login: fmt.Sprintf("t%02d", i), Name: fmt.Sprintf("Texter %d", i), Role: account.RoleTexter, Password: "texter-password"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.camps.Assign(ctx, orgA, cp.ID, u.ID, per); err != nil {
			b.Fatal(err)
		}
		tok, sess, err := e.accounts.Open(ctx, u.ID)
		if err != nil {
			b.Fatal(err)
		}
		ts[i] = &texter{cookie: "simgate_session=" + tok, csrf: sess.CSRF}
	}
	if _, err := e.camps.SetState(ctx, orgA, cp.ID, campaign.StateActive); err != nil {
		b.Fatal(err)
	}
	do := func(t *texter, method, path string) (string, error) {
		req, _ := http.NewRequest(method, e.srv.URL+path, nil)
		req.Header.Set("Cookie", t.cookie)
		req.Header.Set("X-CSRF-Token", t.csrf)
		req.Header.Set("HX-Request", "true")
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s %s: %d", method, path, resp.StatusCode)
		}
		return string(body), err
	}
	for _, t := range ts {
		page, err := do(t, "GET", "/app/c/"+cp.ID+"/send")
		if err != nil {
			b.Fatal(err)
		}
		t.next = nextContactRE.FindStringSubmatch(page)[1]
	}

	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	var wg sync.WaitGroup
	errs := make(chan error, texters)
	b.ResetTimer()
	for i, t := range ts {
		quota := b.N / texters // each texter's share of the b.N sends
		if i < b.N%texters {
			quota++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range quota {
				start := time.Now()
				card, err := do(t, "POST", "/app/c/"+cp.ID+"/send/"+t.next)
				d := time.Since(start)
				if err != nil {
					errs <- err
					return
				}
				if !strings.Contains(card, "Sent to") {
					errs <- fmt.Errorf("no send confirmation in %q", card)
					return
				}
				m := nextContactRE.FindStringSubmatch(card)
				if m == nil {
					errs <- fmt.Errorf("no next contact in %q", card)
					return
				}
				t.next = m[1]
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.95), "p95-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}
