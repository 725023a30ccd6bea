package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

var messageTests = []Test{
	{"CRUD", testMessageCRUD},
	{"UpdateMovesIndexes", testUpdateMessageMovesIndexes},
	{"UpdateSetsUpdatedAt", testUpdateSetsUpdatedAt},
	{"ListFiltersAndPages", testListMessagesFiltersAndPages},
	{"ListMaxLimit", testListMessagesMaxLimit},
	{"ListBadCursor", testListMessagesBadCursor},
	{"Active", testActiveMessages},
	{"PartByMR", testPartByMR},
	{"UnmatchedReports", testUnmatchedReports},
	{"ConcurrentCreatesWithConflicts", testConcurrentCreatesWithConflicts},
	{"CancelledContextStoresNothing", testCancelledContextStoresNothing},
	{"ReopenKeepsEverything", testReopenKeepsEverything},
	{"IndexesMatchModel", testIndexesMatchModel},
	{"RecordFieldsRoundTrip", testRecordFieldsRoundTrip},
}

func testMessageCRUD(t *testing.T, h Harness) {
	db := h.Open(t)
	m := NewMessage(1)
	m.IdempotencyKey = "owner:k1"
	MustCreate(t, db, m)

	got, err := db.GetMessage(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Body != m.Body || !got.CreatedAt.Equal(m.CreatedAt) || len(got.Parts) != 1 || string(got.Parts[0].PDU) != string(m.Parts[0].PDU) {
		t.Errorf("GetMessage = %+v, want %+v", got, m)
	}
	byKey, err := db.MessageByIdempotencyKey(ctx, "owner:k1")
	if err != nil || byKey.ID != m.ID {
		t.Errorf("MessageByIdempotencyKey = %v, %v", byKey, err)
	}

	tests := []struct {
		name string
		m    *gateway.Message
		want error
	}{
		{"same id", func() *gateway.Message { c := NewMessage(2); c.ID = m.ID; return c }(), gateway.ErrExists},
		{"same idempotency key", func() *gateway.Message { c := NewMessage(3); c.IdempotencyKey = "owner:k1"; return c }(), gateway.ErrExists},
		{"other key", func() *gateway.Message { c := NewMessage(4); c.IdempotencyKey = "owner:k2"; return c }(), nil},
		{"no id given", func() *gateway.Message { c := NewMessage(5); c.ID = ""; c.CreatedAt = time.Time{}; return c }(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.CreateMessage(ctx, tt.m)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("CreateMessage: %v, want %v", err, tt.want)
			}
			got, gerr := db.GetMessage(ctx, tt.m.ID)
			if tt.want == nil {
				if gerr != nil || got.ID != tt.m.ID || got.CreatedAt.IsZero() {
					t.Errorf("stored message: %+v, %v", got, gerr)
				}
				return
			}
			// Nothing of the refused message is stored.
			if tt.m.ID == m.ID {
				if got.Body != m.Body || !got.CreatedAt.Equal(m.CreatedAt) {
					t.Errorf("original overwritten: %+v", got)
				}
			} else if !errors.Is(gerr, gateway.ErrNotFound) {
				t.Errorf("refused message stored: %v", gerr)
			}
		})
	}
	all := ListAll(t, db, gateway.MessageFilter{})
	if len(all) != 3 {
		t.Errorf("listed %d messages, want 3: %v", len(all), all)
	}
	if _, err := db.GetMessage(ctx, "nope"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("GetMessage missing: %v", err)
	}
	if _, err := db.MessageByIdempotencyKey(ctx, "nope"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("MessageByIdempotencyKey missing: %v", err)
	}
	if _, err := db.UpdateMessage(ctx, "nope", func(*gateway.Message) error { return nil }); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("UpdateMessage missing: %v", err)
	}
}

func testUpdateMessageMovesIndexes(t *testing.T, h Harness) {
	sentAt := T0.Add(time.Hour)
	tests := []struct {
		name   string
		update func(m *gateway.Message)
		// filters that must find the message after the update, and ones that must not
		find, miss []gateway.MessageFilter
		mr         bool // PartByMR(modem2, 7) finds it
	}{
		{
			name: "queued to sending on a modem",
			update: func(m *gateway.Message) {
				m.Status, m.Modem = gateway.StatusSending, "modem1"
				m.Parts[0].State, m.Parts[0].Modem = gateway.PartSubmitting, "modem1"
			},
			find: []gateway.MessageFilter{{Status: gateway.StatusSending}, {Modem: "modem1"}, {Modem: "modem1", Status: gateway.StatusSending}},
			miss: []gateway.MessageFilter{{Status: gateway.StatusQueued}, {Modem: "modem2"}},
		},
		{
			name: "moved to another modem and submitted",
			update: func(m *gateway.Message) {
				m.Status, m.Modem = gateway.StatusSent, "modem2"
				m.Parts[0].State, m.Parts[0].Modem, m.Parts[0].MR, m.Parts[0].SubmittedAt = gateway.PartSubmitted, "modem2", 7, sentAt
			},
			find: []gateway.MessageFilter{{Status: gateway.StatusSent}, {Modem: "modem2"}},
			miss: []gateway.MessageFilter{{Status: gateway.StatusSending}, {Status: gateway.StatusQueued}, {Modem: "modem1"}},
			mr:   true,
		},
		{
			name: "contact and agent change",
			update: func(m *gateway.Message) {
				m.Contact, m.Agent = "+15559999999", "zed"
			},
			find: []gateway.MessageFilter{{Contact: "+15559999999"}, {Agent: "zed"}, {Agent: "zed", Status: gateway.StatusSent}},
			miss: []gateway.MessageFilter{{Contact: "+15550000001"}, {Agent: "agent1"}},
			mr:   true,
		},
		{
			name: "delivered",
			update: func(m *gateway.Message) {
				m.Status = gateway.StatusDelivered
				m.Parts[0].State = gateway.PartDelivered
			},
			find: []gateway.MessageFilter{{Status: gateway.StatusDelivered}, {Modem: "modem2"}, {Direction: gateway.Outbound}},
			miss: []gateway.MessageFilter{{Status: gateway.StatusSent}, {Direction: gateway.Inbound}},
			mr:   true,
		},
		{
			name: "modem cleared and mr removed",
			update: func(m *gateway.Message) {
				m.Modem = ""
				m.Parts[0].Modem, m.Parts[0].MR, m.Parts[0].SubmittedAt = "", -1, time.Time{}
			},
			find: []gateway.MessageFilter{{Status: gateway.StatusDelivered}},
			miss: []gateway.MessageFilter{{Modem: "modem2"}, {Modem: "modem1"}},
		},
	}
	db := h.Open(t)
	m := NewMessage(1)
	MustCreate(t, db, m)
	for i := 2; i < 6; i++ { // others, so that filters have something to skip
		MustCreate(t, db, NewMessage(i))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.UpdateMessage(ctx, m.ID, func(m *gateway.Message) error { tt.update(m); return nil })
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := db.GetMessage(ctx, m.ID)
			if stored.Status != got.Status || stored.Modem != got.Modem || stored.Contact != got.Contact {
				t.Errorf("returned %+v, stored %+v", got, stored)
			}
			for _, f := range tt.find {
				if !slices.Contains(ListAll(t, db, f), m.ID) {
					t.Errorf("not found with %+v", f)
				}
			}
			for _, f := range tt.miss {
				if slices.Contains(ListAll(t, db, f), m.ID) {
					t.Errorf("still found with %+v", f)
				}
			}
			id, seq, err := db.PartByMR(ctx, "modem2", 7, time.Time{})
			if tt.mr && (err != nil || id != m.ID || seq != 1) {
				t.Errorf("PartByMR = %q, %d, %v", id, seq, err)
			}
			if !tt.mr && !errors.Is(err, gateway.ErrNotFound) {
				t.Errorf("PartByMR after its part lost the mr: %q, %v", id, err)
			}
			counts, err := db.CountByStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := map[gateway.Status]int{gateway.StatusQueued: 4}
			want[got.Status]++
			if fmt.Sprint(counts) != fmt.Sprint(want) {
				t.Errorf("CountByStatus = %v, want %v", counts, want)
			}
		})
	}

	t.Run("fn error writes nothing", func(t *testing.T) {
		before, _ := db.GetMessage(ctx, m.ID)
		boom := errors.New("boom")
		_, err := db.UpdateMessage(ctx, m.ID, func(m *gateway.Message) error { m.Status = gateway.StatusFailed; return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
		after, _ := db.GetMessage(ctx, m.ID)
		if after.Status != before.Status || !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("message changed: %+v", after)
		}
	})
	t.Run("id cannot change", func(t *testing.T) {
		_, err := db.UpdateMessage(ctx, m.ID, func(m *gateway.Message) error { m.ID = "other"; return nil })
		if err == nil {
			t.Fatal("changed the id")
		}
		if _, err := db.GetMessage(ctx, "other"); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("stored under the new id: %v", err)
		}
	})
	t.Run("idempotency key taken", func(t *testing.T) {
		o := NewMessage(40)
		o.IdempotencyKey = "taken"
		MustCreate(t, db, o)
		_, err := db.UpdateMessage(ctx, m.ID, func(m *gateway.Message) error { m.IdempotencyKey = "taken"; return nil })
		if !errors.Is(err, gateway.ErrExists) {
			t.Errorf("UpdateMessage to a used idempotency key: %v, want ErrExists", err)
		}
		if got, _ := db.MessageByIdempotencyKey(ctx, "taken"); got == nil || got.ID != o.ID {
			t.Errorf("key now names %v", got)
		}
	})
}

func testUpdateSetsUpdatedAt(t *testing.T, h Harness) {
	db := h.Open(t)
	m := NewMessage(1)
	MustCreate(t, db, m)
	got, err := db.UpdateMessage(ctx, m.ID, func(m *gateway.Message) error { m.Priority = 3; return nil })
	if err != nil || !got.UpdatedAt.After(m.UpdatedAt) || got.Priority != 3 {
		t.Errorf("UpdateMessage = %+v, %v", got, err)
	}
	at := T0.Add(time.Minute)
	got, _ = db.UpdateMessage(ctx, m.ID, func(m *gateway.Message) error { m.UpdatedAt = at; return nil })
	if !got.UpdatedAt.Equal(at) {
		t.Errorf("UpdatedAt set by fn overwritten: %v", got.UpdatedAt)
	}
}

func testListMessagesFiltersAndPages(t *testing.T, h Harness) {
	db := h.Open(t)
	statuses := []gateway.Status{gateway.StatusQueued, gateway.StatusSent, gateway.StatusDelivered, gateway.StatusFailed}
	var all []*gateway.Message
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 120 {
		m := NewMessage(i)
		m.Status = statuses[r.IntN(len(statuses))]
		if i%4 == 0 {
			m.Direction, m.Status = gateway.Inbound, gateway.StatusReceived
		}
		if i%2 == 0 {
			m.Modem = fmt.Sprintf("m%d", r.IntN(3))
		}
		if i%10 == 3 { // same CreatedAt as its neighbour: ties break by id
			m.CreatedAt = all[i-1].CreatedAt
		}
		MustCreate(t, db, m)
		all = append(all, m)
	}
	filters := []struct {
		name string
		f    gateway.MessageFilter
	}{
		{"all", gateway.MessageFilter{}},
		{"status", gateway.MessageFilter{Status: gateway.StatusSent}},
		{"direction", gateway.MessageFilter{Direction: gateway.Inbound}},
		{"contact", gateway.MessageFilter{Contact: "+15550000003"}},
		{"contact and status", gateway.MessageFilter{Contact: "+15550000003", Status: gateway.StatusQueued}},
		{"modem and agent", gateway.MessageFilter{Modem: "m1", Agent: "agent2"}},
		{"agent, direction, since", gateway.MessageFilter{Agent: "agent0", Direction: gateway.Outbound, Since: T0.Add(30 * time.Second)}},
		{"until", gateway.MessageFilter{Until: T0.Add(50 * time.Second)}},
		{"since and until", gateway.MessageFilter{Since: T0.Add(20 * time.Second), Until: T0.Add(80 * time.Second), Status: gateway.StatusDelivered}},
		{"no such contact", gateway.MessageFilter{Contact: "+19999"}},
		{"no such status with modem", gateway.MessageFilter{Modem: "m1", Status: gateway.StatusExpired}},
	}
	for _, tt := range filters {
		for _, asc := range []bool{false, true} {
			for _, limit := range []int{0, 1, 7, 500} {
				t.Run(fmt.Sprintf("%s/asc=%v/limit=%d", tt.name, asc, limit), func(t *testing.T) {
					f := tt.f
					f.Ascending, f.Limit = asc, limit
					got := ListAll(t, db, f)
					want := expectIDs(f, all)
					if !slices.Equal(got, want) {
						t.Errorf("got %d ids %v\nwant %d ids %v", len(got), got, len(want), want)
					}
				})
			}
		}
	}
	t.Run("default and max limit", func(t *testing.T) {
		p, err := db.ListMessages(ctx, gateway.MessageFilter{})
		if err != nil || len(p.Messages) != DefaultLimit || p.Next == "" {
			t.Errorf("default page: %d, %q, %v", len(p.Messages), p.Next, err)
		}
		p, err = db.ListMessages(ctx, gateway.MessageFilter{Limit: 10000})
		if err != nil || len(p.Messages) != len(all) || p.Next != "" {
			t.Errorf("large limit page: %d, %q, %v", len(p.Messages), p.Next, err)
		}
	})
}

func testListMessagesMaxLimit(t *testing.T, h Harness) {
	db := h.Open(t)
	for i := range MaxLimit + 10 {
		m := NewMessage(i)
		m.Parts = nil
		MustCreate(t, db, m)
	}
	p, err := db.ListMessages(ctx, gateway.MessageFilter{Limit: 100000})
	if err != nil || len(p.Messages) != MaxLimit || p.Next == "" {
		t.Errorf("page: %d, next %q, %v; want %d and a cursor", len(p.Messages), p.Next, err, MaxLimit)
	}
}

func testListMessagesBadCursor(t *testing.T, h Harness) {
	db := h.Open(t)
	for i := range 5 {
		MustCreate(t, db, NewMessage(i))
	}
	p, err := db.ListMessages(ctx, gateway.MessageFilter{Limit: 2})
	if err != nil || p.Next == "" {
		t.Fatal(p, err)
	}
	for _, c := range []string{"x", "!!!!", "AAAA", p.Next[:4], "AQA", p.Next + "!", "'; DROP TABLE messages; --"} {
		_, err := db.ListMessages(ctx, gateway.MessageFilter{Cursor: c})
		var ve *gateway.ValidationError
		if !errors.As(err, &ve) || ve.Field != "cursor" {
			t.Errorf("cursor %q: %v, want a ValidationError on cursor", c, err)
		}
	}
	_, err = db.ListMessages(ctx, gateway.MessageFilter{Cursor: p.Next, Ascending: true})
	var ve *gateway.ValidationError
	if !errors.As(err, &ve) {
		t.Errorf("descending cursor used ascending: %v", err)
	}
}

func testActiveMessages(t *testing.T, h Harness) {
	db := h.Open(t)
	want := map[string]bool{}
	for i, st := range []gateway.Status{
		gateway.StatusQueued, gateway.StatusSending, gateway.StatusSent, gateway.StatusDelivered,
		gateway.StatusFailed, gateway.StatusUnknown, gateway.StatusCancelled, gateway.StatusExpired,
		gateway.StatusQueued, gateway.StatusDelivered,
	} {
		m := NewMessage(i)
		m.Status = st
		MustCreate(t, db, m)
		if !st.Terminal() {
			want[m.ID] = true
		}
	}
	in := NewMessage(50)
	in.Direction, in.Status = gateway.Inbound, gateway.StatusReceived
	MustCreate(t, db, in)

	got := map[string]bool{}
	err := db.ActiveMessages(ctx, func(m *gateway.Message) error {
		if got[m.ID] {
			t.Errorf("%s seen twice", m.ID)
		}
		got[m.ID] = true
		// fn may write to the store: move it on, as start-up recovery does.
		_, err := db.UpdateMessage(ctx, m.ID, func(m *gateway.Message) error {
			if m.Status == gateway.StatusQueued {
				m.Status = gateway.StatusSending
			} else {
				m.Status = gateway.StatusUnknown
			}
			return nil
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ActiveMessages saw %v, want %v", got, want)
	}
	boom := errors.New("stop")
	n := 0
	err = db.ActiveMessages(ctx, func(*gateway.Message) error { n++; return boom })
	if !errors.Is(err, boom) || n != 1 {
		t.Errorf("fn error: %v after %d calls", err, n)
	}
}

func testPartByMR(t *testing.T, h Harness) {
	db := h.Open(t)
	// parts submitted on modem a with mr 5 at T0+1m, +10m (wrapped around),
	// and mr 5 on modem b; a two-part message with mr 6 and 7.
	mk := func(i int, modem string, at time.Duration, mrs ...int) *gateway.Message {
		m := NewMessage(i)
		m.Parts = nil
		for j, mr := range mrs {
			m.Parts = append(m.Parts, gateway.Part{Seq: j + 1, State: gateway.PartSubmitted, Modem: modem, MR: mr, SubmittedAt: T0.Add(at)})
		}
		MustCreate(t, db, m)
		return m
	}
	mk(1, "a", time.Minute, 5)
	wrapped := mk(2, "a", 10*time.Minute, 5)
	other := mk(3, "b", 11*time.Minute, 5)
	multi := mk(4, "a", 12*time.Minute, 6, 7)
	mk(5, "aa", 13*time.Minute, 5) // a modem whose name extends "a"

	tests := []struct {
		name    string
		modem   string
		mr      int
		since   time.Time
		wantID  string
		wantSeq int
	}{
		{"newest wins after wraparound", "a", 5, time.Time{}, wrapped.ID, 1},
		{"window excludes neither", "a", 5, T0, wrapped.ID, 1},
		{"window at the exact submit time", "a", 5, T0.Add(10 * time.Minute), wrapped.ID, 1},
		{"window after the newest", "a", 5, T0.Add(11 * time.Minute), "", 0},
		{"other modem", "b", 5, T0, other.ID, 1},
		{"second part", "a", 7, T0, multi.ID, 2},
		{"first part", "a", 6, T0, multi.ID, 1},
		{"unknown mr", "a", 8, time.Time{}, "", 0},
		{"unknown modem", "c", 5, time.Time{}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, seq, err := db.PartByMR(ctx, tt.modem, tt.mr, tt.since)
			if tt.wantID == "" {
				if !errors.Is(err, gateway.ErrNotFound) {
					t.Errorf("got %q, %v; want ErrNotFound", id, err)
				}
				return
			}
			if err != nil || id != tt.wantID || seq != tt.wantSeq {
				t.Errorf("got %q/%d, %v; want %q/%d", id, seq, err, tt.wantID, tt.wantSeq)
			}
		})
	}
}

func testUnmatchedReports(t *testing.T, h Harness) {
	db := h.Open(t)
	for i := range 3 {
		if err := db.SaveUnmatchedReport(ctx, gateway.StatusReport{Modem: "a", MR: i, Received: T0.Add(time.Duration(i))}); err != nil {
			t.Fatal(err)
		}
	}
	rs, n, err := db.UnmatchedReports(ctx, 2)
	if err != nil || n != 3 || len(rs) != 2 || rs[0].MR != 0 || rs[1].MR != 1 {
		t.Errorf("UnmatchedReports = %+v, %d, %v", rs, n, err)
	}
	db = h.Reopen(t, db)
	if _, n, err := db.UnmatchedReports(ctx, 0); n != 3 || err != nil {
		t.Errorf("after reopen: %d, %v", n, err)
	}
}

// Concurrent creates with shared idempotency keys: exactly one per key is
// stored, the others are refused with ErrExists.
func testConcurrentCreatesWithConflicts(t *testing.T, h Harness) {
	db := h.Open(t)
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := NewMessage(i)
			m.IdempotencyKey = fmt.Sprintf("k%d", i%50) // four callers per key
			errs[i] = db.CreateMessage(ctx, m)
		}()
	}
	wg.Wait()
	ok, exists := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, gateway.ErrExists):
			exists++
		default:
			t.Errorf("unexpected: %v", err)
		}
	}
	if ok != 50 || exists != 150 {
		t.Errorf("%d created, %d refused; want 50 and 150", ok, exists)
	}
	if all := ListAll(t, db, gateway.MessageFilter{Limit: 500}); len(all) != 50 {
		t.Errorf("%d stored", len(all))
	}
}

func testCancelledContextStoresNothing(t *testing.T, h Harness) {
	db := h.Open(t)
	c, cancel := context.WithCancel(ctx)
	cancel()
	m := NewMessage(1)
	if err := db.CreateMessage(c, m); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateMessage: %v", err)
	}
	if _, err := db.GetMessage(ctx, m.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("stored anyway: %v", err)
	}
}

// What CreateMessage acknowledged is there after a restart.
func testReopenKeepsEverything(t *testing.T, h Harness) {
	db := h.Open(t)
	var created []string
	var wg sync.WaitGroup
	var mu sync.Mutex
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				m := NewMessage(g*100 + i)
				if err := db.CreateMessage(ctx, m); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				created = append(created, m.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	db = h.Reopen(t, db)
	for _, id := range created {
		if _, err := db.GetMessage(ctx, id); err != nil {
			t.Errorf("%s after reopen: %v", id, err)
		}
	}
	counts, _ := db.CountByStatus(ctx)
	if counts[gateway.StatusQueued] != len(created) {
		t.Errorf("queued count %d, want %d", counts[gateway.StatusQueued], len(created))
	}
}
