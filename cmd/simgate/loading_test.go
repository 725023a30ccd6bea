package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/gatewaytest"
	"github.com/simgate/simgate/store"
)

// loadNumber is the k-th of many distinct valid US numbers.
func loadNumber(k int) string {
	return fmt.Sprintf("+1%d555%04d", []int{201, 202, 203, 205, 206, 207, 208, 209, 210, 212}[(k/10000)%10], k%10000)
}

// TestServeWhileQueueLoads: the daemon starts on a store holding 20,000
// queued messages (200 due, the rest scheduled a month ahead) and its queue's
// loading is held after 5,000 entries. Meanwhile the API answers: /readyz is
// 503 "queue loading: 5,000 messages so far", systemd hears STATUS= saying so
// and no READY=1, the log has no "simgate ready", a message not yet loaded
// says it waits for the queue; new messages are accepted and old and new
// ones cancelled (handed out by the walk already: those requests wait for
// the loading to end; read but not yet handed out; not yet read). Once
// loaded: READY=1, /readyz 200, "simgate ready"; the modems send every due
// message that was not cancelled exactly once, oldest first (those
// submitted while loading after the older ones), and no cancelled one.
func TestServeWhileQueueLoads(t *testing.T) {
	const (
		old     = 20_000
		dueEach = 100 // every 100th is due now
		pauseAt = 5_000
		chunk   = 4_096 // the store's QueueEntries chunk
		fresh   = 30
	)
	type seeded struct {
		id, body string
		due      bool
	}
	var seeds []seeded
	hold := gatewaytest.NewHoldWalk(nil, pauseAt)
	conn, sock := listenNotify(t)
	g := startGateway(t, 2, 2, func(c *Config) {
		c.API.RateLimit, c.API.DailyQuota = 0, 0
		db, err := store.Open(c.Store.Path, store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		gcfg := c.Gateway()
		d, err := gateway.NewDispatcher(gcfg, db, nil)
		if err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(30 * 24 * time.Hour)
		seeds = make([]seeded, old)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < old; i += 8 {
					req := gateway.SendRequest{To: loadNumber(i), Body: "old " + strconv.Itoa(i)}
					if i%dueEach != 0 {
						req.SendAt = later
					}
					m, err := d.Submit(context.Background(), req)
					if err != nil {
						t.Error(err)
						return
					}
					seeds[i] = seeded{m.ID, req.Body, i%dueEach == 0}
				}
			}()
		}
		wg.Wait()
	}, func(o *serveOptions) {
		o.notify = &notifier{socket: sock}
		o.dispatcherStore = func(st gateway.DispatcherStore) gateway.DispatcherStore {
			hold.DispatcherStore = st
			return hold
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	// The walk goes in id order.
	slices.SortFunc(seeds, func(a, b seeded) int { return strings.Compare(a.id, b.id) })
	select {
	case <-hold.Paused:
	case <-time.After(2 * time.Minute):
		t.Fatal("the queue's loading never reached 5,000 entries")
	}

	const loadingSays = "queue loading: 5,000 messages so far"
	var p struct {
		Type, Detail string
		Status       int
	}
	resp, err := testHTTP.Get(g.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("/readyz while loading: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := jsonUnmarshal(getRaw(t, g.base+"/readyz", ""), &p); err != nil || !strings.HasPrefix(p.Detail, loadingSays) || p.Status != 503 {
		t.Fatalf("/readyz while loading: %+v (%v), want detail %q", p, err, loadingSays)
	}
	for {
		got := readDatagram(t, conn)
		if strings.Contains(got, "READY=1") {
			t.Fatalf("READY=1 while loading: %q", got)
		}
		if strings.HasPrefix(got, "STATUS=") && strings.Contains(got, loadingSays) {
			break
		}
	}
	if strings.Contains(g.logs.String(), "simgate ready") {
		t.Fatal(`"simgate ready" logged while loading`)
	}
	type messageView struct{ ID, Status, Modem, Waiting string }
	var view messageView
	httpJSON(t, "GET", g.base+"/v1/messages/"+seeds[old-1].id, g.key, nil, &view)
	if !strings.Contains(view.Waiting, loadingSays) {
		t.Errorf("a message not yet loaded: waiting %q", view.Waiting)
	}

	// Accepted while loading, and cancels.
	var newOnes []seeded
	for i := range fresh {
		body := "new " + strconv.Itoa(i)
		view = messageView{}
		if code := httpJSON(t, "POST", g.base+"/v1/messages", g.key, map[string]string{"to": loadNumber(old + i), "body": body}, &view); code != http.StatusAccepted {
			t.Fatalf("submit while loading: %d", code)
		}
		newOnes = append(newOnes, seeded{view.ID, body, true})
	}
	// A message the walk has handed out already is cancelled once the
	// loading is over (the request waits), the others at once.
	cancelled := map[string]bool{}
	var later sync.WaitGroup
	cancel := func(s seeded, handed bool) {
		t.Helper()
		cancelled[s.id] = true
		do := func() {
			var v messageView
			if code := httpJSON(t, "POST", g.base+"/v1/messages/"+s.id+"/cancel", g.key, nil, &v); code != http.StatusOK || v.Status != "cancelled" {
				t.Errorf("cancel %q while loading: %d %+v", s.body, code, v)
			}
		}
		if handed {
			later.Add(1)
			go func() {
				defer later.Done()
				do()
			}()
			return
		}
		do()
	}
	// Due ones loaded already, read with the chunk the walk is in but not yet
	// indexed, not yet read; scheduled ones; new ones.
	n := map[string]int{}
	for pos, s := range seeds {
		zone := "unread"
		switch {
		case pos < pauseAt:
			zone = "loaded"
		case pos < chunk*2:
			zone = "read"
		}
		if s.due && n[zone] < 3 || !s.due && n["scheduled "+zone] < 1 {
			if s.due {
				n[zone]++
			} else {
				n["scheduled "+zone]++
			}
			cancel(s, pos < pauseAt)
		}
	}
	for i := 0; i < fresh; i += 5 {
		cancel(newOnes[i], false)
	}

	close(hold.Release)
	later.Wait()
	waitFor(t, "/readyz 200 after loading", 2*time.Minute, func() bool {
		return getStatus(t, g.base+"/readyz", "") == http.StatusOK
	})
	for {
		got := readDatagram(t, conn)
		if strings.HasPrefix(got, "READY=1\n") {
			break
		}
		if strings.Contains(got, "STATUS=ready") {
			t.Fatalf("ready before READY=1: %q", got)
		}
	}
	waitFor(t, `"simgate ready" in the log`, 30*time.Second, func() bool {
		return strings.Contains(g.logs.String(), "simgate ready")
	})
	if logs := g.logs.String(); !strings.Contains(logs, "queue loaded") || strings.Index(logs, "queue loaded") > strings.Index(logs, "simgate ready") {
		t.Errorf(`"simgate ready" before "queue loaded":\n%s`, logs)
	}

	// The due ones go out, each once; no cancelled one.
	want := map[string]bool{}
	for _, s := range append(seeds, newOnes...) {
		if s.due && !cancelled[s.id] {
			want[s.body] = true
		}
	}
	waitFor(t, "every due message sent", 3*time.Minute, func() bool {
		return len(g.sim.net.Submissions()) >= len(want)
	})
	sent := map[string]int{}
	for _, s := range g.sim.net.Submissions() {
		sent[s.Text]++
	}
	for body, k := range sent {
		switch {
		case !want[body]:
			t.Errorf("sent %q (%d times), which was cancelled or not due", body, k)
		case k != 1:
			t.Errorf("sent %q %d times", body, k)
		}
	}
	for body := range want {
		if sent[body] == 0 {
			t.Errorf("%q was not sent", body)
		}
	}
	// Oldest first: the queue hands messages out in its order, so once the
	// first message submitted while loading was claimed, the other modem
	// held at most two older ones not yet on the network (one about to go,
	// one claimed ahead).
	firstNew, oldAfter := false, 0
	for _, s := range g.sim.net.Submissions() { // in the network's order
		if strings.HasPrefix(s.Text, "new ") {
			firstNew = true
		} else if firstNew {
			oldAfter++
		}
	}
	if oldAfter > 2 {
		t.Errorf("%d older messages went out after the first one submitted while loading", oldAfter)
	}
	for id := range cancelled {
		view = messageView{}
		httpJSON(t, "GET", g.base+"/v1/messages/"+id, g.key, nil, &view)
		if view.Status != "cancelled" || view.Modem != "" {
			t.Errorf("cancelled message %s: status %s, modem %q", id, view.Status, view.Modem)
		}
	}
}
