package gateway_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/gatewaytest"
	"github.com/simgate/simgate/store"
)

// TestQueueLoadingSubmitAndCancel: a Dispatcher restarted over a real store
// holding 20,000 queued messages is held in the middle of loading its queue
// (5,000 entries read, the rest of their 4,096-entry chunk already read from
// the store, more not yet). Meanwhile messages are submitted and old and new
// ones cancelled — some already loaded, some whose entry was read before the
// cancel but not yet indexed, some not yet read. Loading says so with its
// count, and so does Waiting. Once loaded the queue holds every message that
// is still to send exactly once (no cancelled one comes back from a stale
// entry), and a modem drains it: every one is sent once, oldest first (the
// ones submitted while loading after every older one), no cancelled one is
// assigned or sent, nothing is lost.
func TestQueueLoadingSubmitAndCancel(t *testing.T) {
	const (
		pauseAt = 5_000
		chunk   = 4_096 // store.queueChunk: entries read per read transaction
		fresh   = 300
	)
	// The walk is held in its second chunk, with entries left to read
	// after it. Under -race the drain of 20,000 through bbolt takes
	// minutes on a loaded 2-core machine: 9,000 keep all three kinds of
	// entry (loaded, read but not indexed, not yet read).
	old := 20_000
	if raceEnabled {
		old = 9_000
	}
	ctx := context.Background()
	db, err := store.Open(filepath.Join(t.TempDir(), "simgate.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := gateway.DefaultConfig()
	cfg.DefaultRegion = "US"
	cfg.Pacing = gateway.PacingConfig{}
	cfg.Location = time.UTC

	// The first run: 20,000 messages accepted, none sent.
	d1, err := gateway.NewDispatcher(cfg, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, old)
	t0 := time.Now()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < old; i += 8 {
				m, err := d1.Submit(ctx, gateway.SendRequest{To: benchNumber(i), Body: "old " + strconv.Itoa(i)})
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = m.ID
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("seeded %d messages in %s", old, time.Since(t0).Round(time.Millisecond))
	bodyOf := map[string]string{}
	for i, id := range ids {
		bodyOf[id] = "old " + strconv.Itoa(i)
	}
	// The walk goes in id order: pos is a message's place in it.
	slices.Sort(ids)

	// The restart, held after 5,000 entries.
	ps := gatewaytest.NewHoldWalk(db, pauseAt)
	d, err := gateway.NewDispatcher(cfg, ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	dev := gatewaytest.NewDevice("m1")
	d.AddDevice(dev, gateway.ModemConfig{Name: "m1"})
	if err := d.Pause("m1", "until the queue is checked", time.Time{}); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		d.Close()
		<-done
	})
	select {
	case <-ps.Paused:
	case err := <-done:
		t.Fatalf("Run returned %v before loading", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the walk never reached 5,000 entries")
	}

	if loading, n := d.Loading(); !loading || n != pauseAt {
		t.Fatalf("Loading() = %v, %d; want true, %d", loading, n, pauseAt)
	}
	if got, want := d.LoadingStatus(), "queue loading: 5,000 messages so far"; got != want {
		t.Fatalf("LoadingStatus %q, want %q", got, want)
	}
	select {
	case <-d.Loaded():
		t.Fatal("Loaded closed while loading")
	default:
	}
	unread, err := db.GetMessage(ctx, ids[old-1])
	if err != nil {
		t.Fatal(err)
	}
	if w := d.Waiting(ctx, unread); !strings.Contains(w, "queue loading: 5,000 messages so far") {
		t.Errorf("Waiting while loading: %q", w)
	}

	// While loading: new messages, and cancels.
	var newIDs []string
	for i := range fresh {
		m, err := d.Submit(ctx, gateway.SendRequest{To: benchNumber(old + i), Body: "new " + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		newIDs = append(newIDs, m.ID)
		bodyOf[m.ID] = m.Body
	}
	// A message the walk has not handed out yet is cancelled at once; one
	// it has handed out (it may wait in the queue's own batch) once the
	// loading is over.
	cancelled := map[string]bool{}
	var later sync.WaitGroup
	var laterDone atomic.Int32
	cancelOne := func(pos int, id string) {
		t.Helper()
		cancelled[id] = true
		check := func(m *gateway.Message, err error) {
			if err != nil || m.Status != gateway.StatusCancelled {
				t.Errorf("cancel %s (%s) while loading: %v, %v", id, bodyOf[id], m, err)
			}
		}
		if pos >= 0 && pos < pauseAt {
			later.Add(1)
			go func() {
				defer later.Done()
				check(d.Cancel(ctx, id))
				laterDone.Add(1)
			}()
			return
		}
		check(d.Cancel(ctx, id))
	}
	// Handed out already, read but not yet handed out (the rest of the
	// chunk the walk is in), not read yet; then a spread; then new ones.
	for _, pos := range []int{0, pauseAt - 1, pauseAt, pauseAt + 1, chunk*2 - 1, chunk * 2, old - 1} {
		cancelOne(pos, ids[pos])
	}
	for pos := 7; pos < old; pos += 97 {
		if !cancelled[ids[pos]] {
			cancelOne(pos, ids[pos])
		}
	}
	for i := 0; i < fresh; i += 7 {
		cancelOne(-1, newIDs[i])
	}
	if t.Failed() {
		t.FailNow()
	}
	if n := laterDone.Load(); n != 0 {
		t.Errorf("%d cancels of messages the walk had handed out returned while it was held", n)
	}

	close(ps.Release)
	later.Wait()
	select {
	case <-d.Loaded():
	case err := <-done:
		t.Fatalf("Run returned %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the queue never loaded")
	}
	if loading, n := d.Loading(); loading || n < pauseAt {
		t.Errorf("after loading: Loading() = %v, %d", loading, n)
	}
	if s := d.LoadingStatus(); s != "" {
		t.Errorf("LoadingStatus after loading: %q", s)
	}
	want := old + fresh - len(cancelled)
	if got := d.QueueLen(); got != want {
		t.Fatalf("queue holds %d messages after loading, want %d (every message once, no cancelled one)", got, want)
	}

	// Drain through the modem: one modem sends strictly in queue order.
	if err := d.Resume(dev.Name()); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	deadline := time.Now().Add(5 * time.Minute)
	for dev.Attempts() < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("drained %d in %s", dev.Attempts(), time.Since(t0).Round(time.Millisecond))
	var wantOrder []string
	for _, id := range append(slices.Clone(ids), newIDs...) {
		if !cancelled[id] {
			wantOrder = append(wantOrder, bodyOf[id])
		}
	}
	var order []string // bodies, in the order sent
	for _, s := range dev.Sends() {
		body, _ := gateway.DecodeParts(t, [][]byte{s.PDU})
		order = append(order, body)
	}
	if len(order) != want {
		t.Fatalf("%d sends, want %d", len(order), want)
	}
	for i := range order {
		if order[i] != wantOrder[i] {
			t.Fatalf("send %d was %q, want %q (oldest first: those submitted while loading after every older one; each once; none cancelled)", i, order[i], wantOrder[i])
		}
	}
	// The store agrees: cancelled ones never assigned, the rest sent once.
	for id, body := range bodyOf {
		m, err := db.GetMessage(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		p := m.Parts[0]
		switch {
		case cancelled[id]:
			if m.Status != gateway.StatusCancelled || p.Modem != "" || p.Attempts != 0 {
				t.Errorf("cancelled %q: status %s, part modem %q, attempts %d", body, m.Status, p.Modem, p.Attempts)
			}
		case m.Status != gateway.StatusSent || p.Attempts != 1:
			t.Errorf("%q: status %s, attempts %d; want sent once", body, m.Status, p.Attempts)
		}
	}
	if n := d.QueueLen(); n != 0 {
		t.Errorf("queue holds %d after the drain", n)
	}
}

// TestQueueLoadingConcurrent: submits and cancels from several goroutines
// while the queue loads — before the walk is held, while it is, through the
// rest of the walk, the crash rules (two messages were left assigned) and
// after — over the memory store, whose walk hands out entries all read
// before it began. Then every message that is not cancelled is queued and
// sent once, and no cancelled one. Run it with -race.
func TestQueueLoadingConcurrent(t *testing.T) {
	const (
		old     = 3_000
		pauseAt = 1_000
		workers = 4
		each    = 60 // submits per worker; every third is cancelled, and as many old ones
	)
	ctx := context.Background()
	st := gatewaytest.NewMemStore()
	cfg := gateway.DefaultConfig()
	cfg.DefaultRegion = "US"
	cfg.Pacing = gateway.PacingConfig{}
	cfg.Location = time.UTC
	d1, err := gateway.NewDispatcher(cfg, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, old)
	for i := range old {
		m, err := d1.Submit(ctx, gateway.SendRequest{To: benchNumber(i), Body: "old " + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = m.ID
	}
	// Two left assigned by a crash: the crash rules queue them again.
	for _, id := range []string{ids[10], ids[2500]} {
		if _, err := st.UpdateMessage(ctx, id, func(m *gateway.Message) error {
			m.Parts[0].State, m.Parts[0].Modem, m.Modem = gateway.PartAssigned, "m1", "m1"
			m.Status = gateway.RollUp(m.Parts)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	ps := gatewaytest.NewHoldWalk(st, pauseAt)
	d, err := gateway.NewDispatcher(cfg, ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	dev := gatewaytest.NewDevice("m1")
	d.AddDevice(dev, gateway.ModemConfig{Name: "m1"})
	if err := d.Pause("m1", "until the workers are done", time.Time{}); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	t.Cleanup(func() {
		cancel()
		d.Close()
		<-done
	})

	var mu sync.Mutex
	cancelled := map[string]bool{}
	var wg sync.WaitGroup
	halfway := make(chan struct{}, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if i == each/2 {
					halfway <- struct{}{}
				}
				m, err := d.Submit(ctx, gateway.SendRequest{To: benchNumber(old + w*each + i), Body: fmt.Sprintf("new %d.%d", w, i)})
				if err != nil {
					t.Error(err)
					return
				}
				if i%3 != 0 {
					continue
				}
				cancel := []string{m.ID}
				if i > each/2 { // an old one may wait for the loading to end
					cancel = append(cancel, ids[(w*each+i)*7%old])
				}
				for _, id := range cancel {
					got, err := d.Cancel(ctx, id)
					if err != nil || got.Status != gateway.StatusCancelled {
						t.Errorf("cancel: %v, %v", got, err)
						return
					}
					mu.Lock()
					cancelled[id] = true
					mu.Unlock()
				}
			}
		}()
	}
	go func() { done <- d.Run(runCtx) }()
	<-ps.Paused
	for range workers {
		<-halfway
	}
	close(ps.Release)
	wg.Wait()
	<-d.Loaded()
	if t.Failed() {
		t.FailNow()
	}

	all, err := st.ListMessages(ctx, gateway.MessageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, m := range all.Messages {
		if !cancelled[m.ID] {
			want[m.Body] = true
		}
	}
	if got := d.QueueLen(); got != len(want) {
		t.Fatalf("queue holds %d, want %d", got, len(want))
	}
	if err := d.Resume("m1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for dev.Attempts() < len(want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	sent := map[string]int{}
	for _, s := range dev.Sends() {
		body, _ := gateway.DecodeParts(t, [][]byte{s.PDU})
		sent[body]++
	}
	for body := range want {
		if sent[body] != 1 {
			t.Errorf("%q sent %d times, want once", body, sent[body])
		}
	}
	if len(sent) != len(want) {
		t.Errorf("%d messages sent, want %d (a cancelled one went out)", len(sent), len(want))
	}
}
