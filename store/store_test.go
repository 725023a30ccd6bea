package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

var ctx = context.Background()

func openTest(t testing.TB, path string) *DB {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "simgate.db")
	}
	db, err := Open(path, Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// newMsg returns an outbound message created at t0+i seconds.
func newMsg(i int) *gateway.Message {
	at := t0.Add(time.Duration(i) * time.Second)
	pdu := make([]byte, 160)
	for j := range pdu {
		pdu[j] = byte(i + j)
	}
	return &gateway.Message{
		ID:        ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(),
		Direction: gateway.Outbound,
		Contact:   fmt.Sprintf("+1555000%04d", i%10),
		Body:      "hello",
		Agent:     fmt.Sprintf("agent%d", i%3),
		Status:    gateway.StatusQueued,
		Segments:  1,
		Parts:     []gateway.Part{{Seq: 1, PDU: pdu, State: gateway.PartQueued, MR: -1, ReportStatus: -1}},
		CreatedAt: at,
		UpdatedAt: at,
	}
}

func mustCreate(t testing.TB, db *DB, m *gateway.Message) {
	t.Helper()
	if err := db.CreateMessage(ctx, m); err != nil {
		t.Fatalf("CreateMessage %s: %v", m.ID, err)
	}
}

func ids(ms []*gateway.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// listAll pages through f with the given page size and returns every id.
func listAll(t *testing.T, db *DB, f gateway.MessageFilter) []string {
	t.Helper()
	var out []string
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		p, err := db.ListMessages(ctx, f)
		if err != nil {
			t.Fatalf("ListMessages(%+v): %v", f, err)
		}
		if f.Limit > 0 && len(p.Messages) > f.Limit {
			t.Fatalf("page of %d > limit %d", len(p.Messages), f.Limit)
		}
		out = append(out, ids(p.Messages)...)
		if p.Next == "" {
			return out
		}
		if len(p.Messages) == 0 {
			t.Fatal("empty page with a next cursor")
		}
		f.Cursor = p.Next
	}
}

func TestOpenSecondTimeLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simgate.db")
	db := openTest(t, path)
	_ = db
	_, err := Open(path, Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, gateway.ErrStoreLocked) {
		t.Fatalf("second Open in the same process: got %v, want ErrStoreLocked", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("file mode %o, want 600", mode)
	}
}

func TestCloseThenClosed(t *testing.T) {
	reg := prometheus.NewRegistry()
	db, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Writable(ctx); err != nil {
		t.Fatalf("Writable: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := db.GetMessage(ctx, "x"); !errors.Is(err, gateway.ErrClosed) {
		t.Errorf("GetMessage after Close: %v", err)
	}
	if err := db.CreateMessage(ctx, newMsg(1)); !errors.Is(err, gateway.ErrClosed) {
		t.Errorf("CreateMessage after Close: %v", err)
	}
	if err := db.Writable(ctx); !errors.Is(err, gateway.ErrClosed) {
		t.Errorf("Writable after Close: %v", err)
	}
	if n := testutil.ToFloat64(db.errors.WithLabelValues("create_message")); n != 1 {
		t.Errorf("simgate_store_errors_total{op=create_message} = %v, want 1", n)
	}
	if n, err := testutil.GatherAndCount(reg, "simgate_store_errors_total"); err != nil || n != 3 {
		t.Errorf("registered series: %d, %v; want 3", n, err)
	}
}

func TestMessageCRUD(t *testing.T) {
	db := openTest(t, "")
	m := newMsg(1)
	m.IdempotencyKey = "owner:k1"
	mustCreate(t, db, m)

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
		{"same id", func() *gateway.Message { c := newMsg(2); c.ID = m.ID; return c }(), gateway.ErrExists},
		{"same idempotency key", func() *gateway.Message { c := newMsg(3); c.IdempotencyKey = "owner:k1"; return c }(), gateway.ErrExists},
		{"other key", func() *gateway.Message { c := newMsg(4); c.IdempotencyKey = "owner:k2"; return c }(), nil},
		{"no id given", func() *gateway.Message { c := newMsg(5); c.ID = ""; c.CreatedAt = time.Time{}; return c }(), nil},
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
	all := listAll(t, db, gateway.MessageFilter{})
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

func TestUpdateMessageMovesIndexes(t *testing.T) {
	sentAt := t0.Add(time.Hour)
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
	db := openTest(t, "")
	m := newMsg(1)
	mustCreate(t, db, m)
	for i := 2; i < 6; i++ { // others, so that filters have something to skip
		mustCreate(t, db, newMsg(i))
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
				if !slices.Contains(listAll(t, db, f), m.ID) {
					t.Errorf("not found with %+v", f)
				}
			}
			for _, f := range tt.miss {
				if slices.Contains(listAll(t, db, f), m.ID) {
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
}

func TestListMessagesFiltersAndPages(t *testing.T) {
	db := openTest(t, "")
	statuses := []gateway.Status{gateway.StatusQueued, gateway.StatusSent, gateway.StatusDelivered, gateway.StatusFailed}
	var all []*gateway.Message
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 120 {
		m := newMsg(i)
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
		mustCreate(t, db, m)
		all = append(all, m)
	}
	// expected: brute force over all, newest first by (CreatedAt, ID)
	expect := func(f gateway.MessageFilter) []string {
		var out []*gateway.Message
		for _, m := range all {
			if matches(f, m) {
				out = append(out, m)
			}
		}
		sort.Slice(out, func(i, j int) bool {
			a, b := out[i], out[j]
			if !a.CreatedAt.Equal(b.CreatedAt) {
				return a.CreatedAt.After(b.CreatedAt) != f.Ascending
			}
			return (a.ID > b.ID) != f.Ascending
		})
		return ids(out)
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
		{"agent, direction, since", gateway.MessageFilter{Agent: "agent0", Direction: gateway.Outbound, Since: t0.Add(30 * time.Second)}},
		{"until", gateway.MessageFilter{Until: t0.Add(50 * time.Second)}},
		{"since and until", gateway.MessageFilter{Since: t0.Add(20 * time.Second), Until: t0.Add(80 * time.Second), Status: gateway.StatusDelivered}},
		{"no such contact", gateway.MessageFilter{Contact: "+19999"}},
		{"no such status with modem", gateway.MessageFilter{Modem: "m1", Status: gateway.StatusExpired}},
	}
	for _, tt := range filters {
		for _, asc := range []bool{false, true} {
			for _, limit := range []int{0, 1, 7, 500} {
				t.Run(fmt.Sprintf("%s/asc=%v/limit=%d", tt.name, asc, limit), func(t *testing.T) {
					f := tt.f
					f.Ascending, f.Limit = asc, limit
					got := listAll(t, db, f)
					want := expect(f)
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

func TestListMessagesMaxLimit(t *testing.T) {
	db := openTest(t, "")
	for i := range MaxLimit + 10 {
		m := newMsg(i)
		m.Parts = nil
		mustCreate(t, db, m)
	}
	p, err := db.ListMessages(ctx, gateway.MessageFilter{Limit: 100000})
	if err != nil || len(p.Messages) != MaxLimit || p.Next == "" {
		t.Errorf("page: %d, next %q, %v; want %d and a cursor", len(p.Messages), p.Next, err, MaxLimit)
	}
}

func TestListMessagesBadCursor(t *testing.T) {
	db := openTest(t, "")
	for i := range 5 {
		mustCreate(t, db, newMsg(i))
	}
	p, err := db.ListMessages(ctx, gateway.MessageFilter{Limit: 2})
	if err != nil || p.Next == "" {
		t.Fatal(p, err)
	}
	for _, c := range []string{"x", "!!!!", "AAAA", encodeCursor(cursor{id: ""})[:4], "AQA"} {
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

func TestActiveMessages(t *testing.T) {
	db := openTest(t, "")
	want := map[string]bool{}
	for i, st := range []gateway.Status{
		gateway.StatusQueued, gateway.StatusSending, gateway.StatusSent, gateway.StatusDelivered,
		gateway.StatusFailed, gateway.StatusUnknown, gateway.StatusCancelled, gateway.StatusExpired,
		gateway.StatusQueued, gateway.StatusDelivered,
	} {
		m := newMsg(i)
		m.Status = st
		mustCreate(t, db, m)
		if !st.Terminal() {
			want[m.ID] = true
		}
	}
	in := newMsg(50)
	in.Direction, in.Status = gateway.Inbound, gateway.StatusReceived
	mustCreate(t, db, in)

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

func TestPartByMR(t *testing.T) {
	db := openTest(t, "")
	// parts submitted on modem a with mr 5 at t0+1m, +10m (wrapped around),
	// and mr 5 on modem b; a two-part message with mr 6 and 7.
	mk := func(i int, modem string, at time.Duration, mrs ...int) *gateway.Message {
		m := newMsg(i)
		m.Parts = nil
		for j, mr := range mrs {
			m.Parts = append(m.Parts, gateway.Part{Seq: j + 1, State: gateway.PartSubmitted, Modem: modem, MR: mr, SubmittedAt: t0.Add(at)})
		}
		mustCreate(t, db, m)
		return m
	}
	old := mk(1, "a", time.Minute, 5)
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
		{"window excludes neither", "a", 5, t0, wrapped.ID, 1},
		{"window at the exact submit time", "a", 5, t0.Add(10 * time.Minute), wrapped.ID, 1},
		{"window after the newest", "a", 5, t0.Add(11 * time.Minute), "", 0},
		{"other modem", "b", 5, t0, other.ID, 1},
		{"second part", "a", 7, t0, multi.ID, 2},
		{"first part", "a", 6, t0, multi.ID, 1},
		{"unknown mr", "a", 8, time.Time{}, "", 0},
		{"unknown modem", "c", 5, time.Time{}, "", 0},
	}
	_ = old
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

func TestFragments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	db := openTest(t, path)
	frag := func(seq int, at time.Duration) gateway.Fragment {
		return gateway.Fragment{Seq: seq, Total: 3, TPDU: []byte{byte(seq)}, Received: t0.Add(at)}
	}
	const key = "+15550001|42|3|modem1"
	steps := []struct {
		f    gateway.Fragment
		want []int
	}{
		{frag(2, 0), []int{2}},
		{frag(2, time.Second), []int{2}}, // duplicate
		{frag(1, 2*time.Second), []int{1, 2}},
	}
	for _, s := range steps {
		got, err := db.AddFragment(ctx, key, s.f)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int
		for _, f := range got {
			seqs = append(seqs, f.Seq)
		}
		if !slices.Equal(seqs, s.want) {
			t.Errorf("after seq %d: %v, want %v", s.f.Seq, seqs, s.want)
		}
	}
	if _, err := db.AddFragment(ctx, "other", frag(1, time.Hour)); err != nil {
		t.Fatal(err)
	}
	stale, err := db.StaleFragments(ctx, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 1 || len(stale[key]) != 2 || !stale[key][0].Received.Equal(t0.Add(2*time.Second)) {
		t.Errorf("StaleFragments = %v", stale)
	}

	// Survives a restart.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTest(t, path)
	got, err := db.AddFragment(ctx, key, frag(3, 3*time.Second))
	if err != nil || len(got) != 3 || got[1].TPDU[0] != 2 {
		t.Fatalf("after reopen: %v, %v", got, err)
	}

	in := newMsg(7)
	in.Direction, in.Status, in.Parts = gateway.Inbound, gateway.StatusReceived, nil
	if err := db.CompleteInbound(ctx, in, key); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetMessage(ctx, in.ID); err != nil {
		t.Errorf("completed message: %v", err)
	}
	stale, _ = db.StaleFragments(ctx, t0.Add(48*time.Hour))
	if _, ok := stale[key]; ok || len(stale["other"]) != 1 {
		t.Errorf("fragments after completion: %v", stale)
	}

	// A message that exists already: nothing happens, the fragments stay.
	if _, err := db.AddFragment(ctx, "k2", frag(1, 0)); err != nil {
		t.Fatal(err)
	}
	dup := newMsg(8)
	dup.ID = in.ID
	if err := db.CompleteInbound(ctx, dup, "k2"); !errors.Is(err, gateway.ErrExists) {
		t.Errorf("CompleteInbound duplicate: %v", err)
	}
	stale, _ = db.StaleFragments(ctx, t0.Add(48*time.Hour))
	if len(stale["k2"]) != 1 {
		t.Errorf("fragments of a refused completion were deleted: %v", stale)
	}
	inbound := listAll(t, db, gateway.MessageFilter{Direction: gateway.Inbound})
	if !slices.Equal(inbound, []string{in.ID}) {
		t.Errorf("inbound list %v", inbound)
	}
}

func TestStickyAndBudgets(t *testing.T) {
	db := openTest(t, "")
	if _, err := db.Sticky(ctx, "+1"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Sticky missing: %v", err)
	}
	steps := []struct {
		set       gateway.Sticky
		wantMoves []string
	}{
		{gateway.Sticky{Modem: "a", Since: t0}, nil},
		{gateway.Sticky{Modem: "a", Since: t0.Add(time.Hour)}, nil},
		{gateway.Sticky{Modem: "b", Since: t0.Add(2 * time.Hour)}, []string{"a>b:rebound"}},
		{gateway.Sticky{Modem: "c", Since: t0.Add(3 * time.Hour), Moves: []gateway.StickyMove{{From: "b", To: "c", Reason: "gone"}}}, []string{"a>b:rebound", "b>c:gone"}},
		// the caller carried the history over and added its own move
		{gateway.Sticky{Modem: "d", Since: t0.Add(4 * time.Hour), Moves: []gateway.StickyMove{
			{From: "a", To: "b", At: t0.Add(2 * time.Hour), Reason: "rebound"}, {From: "b", To: "c", Reason: "gone"}, {From: "c", To: "d", Reason: "paused"},
		}}, []string{"a>b:rebound", "b>c:gone", "c>d:paused"}},
	}
	for i, s := range steps {
		if err := db.SetSticky(ctx, "+1", s.set); err != nil {
			t.Fatal(err)
		}
		got, err := db.Sticky(ctx, "+1")
		if err != nil {
			t.Fatal(err)
		}
		var moves []string
		for _, m := range got.Moves {
			moves = append(moves, m.From+">"+m.To+":"+m.Reason)
		}
		if got.Modem != s.set.Modem || !slices.Equal(moves, s.wantMoves) {
			t.Errorf("step %d: %+v, moves %v want %v", i, got, moves, s.wantMoves)
		}
	}

	u := gateway.BudgetUsage{Day: "2026-11-26", Parts: 10, NewContacts: 2, LastSend: t0}
	if err := db.SaveBudget(ctx, "a", u); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveBudget(ctx, "b", gateway.BudgetUsage{Day: "2026-11-26", Parts: 1}); err != nil {
		t.Fatal(err)
	}
	bs, err := db.Budgets(ctx)
	if err != nil || len(bs) != 2 || bs["a"].Parts != 10 || !bs["a"].LastSend.Equal(t0) {
		t.Errorf("Budgets = %v, %v", bs, err)
	}
}

func TestOptOuts(t *testing.T) {
	db := openTest(t, "")
	for _, n := range []string{"+3", "+1", "+2"} {
		if err := db.AddOptOut(ctx, gateway.OptOut{Number: n, Source: "sms", Keyword: "STOP"}); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := db.OptedOut(ctx, "+2"); !ok || err != nil {
		t.Errorf("OptedOut(+2) = %v, %v", ok, err)
	}
	if ok, _ := db.OptedOut(ctx, "+4"); ok {
		t.Error("OptedOut(+4)")
	}
	list := func(after string, limit int) []string {
		oos, err := db.ListOptOuts(ctx, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range oos {
			out = append(out, o.Number)
		}
		return out
	}
	if got := list("", 0); !slices.Equal(got, []string{"+1", "+2", "+3"}) {
		t.Errorf("list = %v", got)
	}
	if got := list("+1", 1); !slices.Equal(got, []string{"+2"}) {
		t.Errorf("list after +1 = %v", got)
	}
	if err := db.RemoveOptOut(ctx, "+2"); err != nil {
		t.Fatal(err)
	}
	if err := db.RemoveOptOut(ctx, "+2"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
	if ok, _ := db.OptedOut(ctx, "+2"); ok {
		t.Error("still opted out")
	}
}

func TestEvents(t *testing.T) {
	db := openTest(t, "")
	var evs []gateway.Event
	for i := range 10 {
		at := t0.Add(time.Duration(i) * time.Hour)
		e := gateway.Event{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), Type: gateway.EventMessageSent, Time: at, MessageID: "m", Data: map[string]any{"n": i}}
		if err := db.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if err := db.AppendEvent(ctx, evs[3]); !errors.Is(err, gateway.ErrExists) {
		t.Errorf("duplicate event: %v", err)
	}
	got, err := db.Events(ctx, evs[2].ID, 3)
	if err != nil || len(got) != 3 || got[0].ID != evs[3].ID || got[2].ID != evs[5].ID || got[0].Data.(map[string]any)["n"] != 3.0 {
		t.Errorf("Events = %+v, %v", got, err)
	}
	n, err := db.PruneEvents(ctx, t0.Add(4*time.Hour))
	if err != nil || n != 4 {
		t.Errorf("PruneEvents = %d, %v; want 4", n, err)
	}
	got, _ = db.Events(ctx, "", 0)
	if len(got) != 6 || got[0].ID != evs[4].ID {
		t.Errorf("after prune: %d events, first %v", len(got), got)
	}
	if err := db.AppendEvent(ctx, gateway.Event{Type: gateway.EventModemUp}); err != nil {
		t.Fatal(err)
	}
	got, _ = db.Events(ctx, evs[9].ID, 0)
	if len(got) != 1 || got[0].ID == "" || got[0].Time.IsZero() {
		t.Errorf("event without id: %+v", got)
	}
	if n, err := db.CountEvents(ctx); n != 7 || err != nil {
		t.Errorf("CountEvents = %d, %v; want 7", n, err)
	}
	n, err = db.TrimEvents(ctx, 2)
	if err != nil || n != 5 {
		t.Errorf("TrimEvents = %d, %v; want 5", n, err)
	}
	got, _ = db.Events(ctx, "", 0)
	if len(got) != 2 || got[0].ID != evs[9].ID {
		t.Errorf("after trim: %+v", got)
	}
	if n, _ := db.TrimEvents(ctx, 5); n != 0 {
		t.Errorf("TrimEvents below the cap deleted %d", n)
	}
	if n, _ := db.CountEvents(ctx); n != 2 {
		t.Errorf("CountEvents after trim = %d", n)
	}
}

func TestAPIKeys(t *testing.T) {
	db := openTest(t, "")
	k := gateway.APIKey{ID: "k1", Hash: []byte("hash1"), Owner: "alice", Scopes: []string{"send"}, CreatedAt: t0}
	if err := db.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	for _, dup := range []gateway.APIKey{{ID: "k1", Hash: []byte("other")}, {ID: "k2", Hash: []byte("hash1")}} {
		if err := db.CreateKey(ctx, dup); !errors.Is(err, gateway.ErrExists) {
			t.Errorf("CreateKey(%s): %v", dup.ID, err)
		}
	}
	got, err := db.KeyByHash(ctx, []byte("hash1"))
	if err != nil || got.Owner != "alice" || got.ID != "k1" {
		t.Errorf("KeyByHash = %+v, %v", got, err)
	}
	if _, err := db.KeyByHash(ctx, []byte("nope")); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("KeyByHash missing: %v", err)
	}
	if err := db.RevokeKey(ctx, "k1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeKey(ctx, "k9", t0); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("RevokeKey missing: %v", err)
	}
	keys, err := db.ListKeys(ctx)
	if err != nil || len(keys) != 1 || !keys[0].RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("ListKeys = %+v, %v", keys, err)
	}
}

func TestWebhooksAndDeliveries(t *testing.T) {
	db := openTest(t, "")
	w := gateway.Webhook{ID: "w1", URL: "https://example.com/h", Secret: "whsec_abc", Source: "api"}
	if err := db.PutWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := db.PutWebhook(ctx, gateway.Webhook{ID: "w2", URL: "https://example.com/2"}); err != nil {
		t.Fatal(err)
	}
	hooks, err := db.ListWebhooks(ctx)
	if err != nil || len(hooks) != 2 || hooks[0].Secret != "whsec_abc" {
		t.Fatalf("ListWebhooks = %+v, %v", hooks, err)
	}
	var ds []gateway.Delivery
	for i := range 5 {
		hook := "w1"
		if i == 4 {
			hook = "w2"
		}
		ds = append(ds, gateway.Delivery{ID: fmt.Sprintf("d%d", i), WebhookID: hook, Event: gateway.Event{ID: "e", Type: gateway.EventModemUp},
			NextAttempt: t0.Add(time.Duration(i) * time.Minute), CreatedAt: t0.Add(time.Duration(i) * time.Second)})
	}
	if err := db.EnqueueDeliveries(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if err := db.EnqueueDeliveries(ctx, []gateway.Delivery{{ID: "new", WebhookID: "w1"}, ds[0]}); !errors.Is(err, gateway.ErrExists) {
		t.Errorf("enqueue duplicate: %v", err)
	}
	pendingIs := func(want int) {
		t.Helper()
		if n, err := db.PendingDeliveries(ctx); err != nil || n != want {
			t.Errorf("PendingDeliveries = %d, %v; want %d", n, err, want)
		}
	}
	pendingIs(5) // "new" was not stored
	due, err := db.DueDeliveries(ctx, t0.Add(2*time.Minute), 0)
	if err != nil || !slices.Equal(delivIDs(due), []string{"d0", "d1", "d2"}) {
		t.Errorf("DueDeliveries = %v, %v", delivIDs(due), err)
	}
	// d0 retried later, d1 done, d2 failed.
	d0 := due[0]
	d0.Attempts, d0.NextAttempt, d0.LastStatus = 1, t0.Add(time.Hour), 503
	d1, d2 := due[1], due[2]
	d1.Done, d2.Failed = true, true
	for _, d := range []gateway.Delivery{d0, d1, d2} {
		if err := db.UpdateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.UpdateDelivery(ctx, gateway.Delivery{ID: "zz"}); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("UpdateDelivery missing: %v", err)
	}
	pendingIs(3)
	due, _ = db.DueDeliveries(ctx, t0.Add(2*time.Hour), 2)
	if !slices.Equal(delivIDs(due), []string{"d3", "d4"}) {
		t.Errorf("due after updates: %v", delivIDs(due))
	}
	due, _ = db.DueDeliveries(ctx, t0.Add(2*time.Hour), 10)
	if !slices.Equal(delivIDs(due), []string{"d3", "d4", "d0"}) {
		t.Errorf("due after updates: %v", delivIDs(due))
	}
	list, err := db.ListDeliveries(ctx, "w1", 0)
	if err != nil || !slices.Equal(delivIDs(list), []string{"d3", "d2", "d1", "d0"}) || list[3].LastStatus != 503 {
		t.Errorf("ListDeliveries = %v, %v", delivIDs(list), err)
	}
	if err := db.DeleteWebhook(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteWebhook(ctx, "w1"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	pendingIs(1) // d0 and d3 failed with their webhook
	list, _ = db.ListDeliveries(ctx, "w1", 0)
	if !list[0].Failed || list[0].LastError != "webhook deleted" {
		t.Errorf("pending delivery of a deleted webhook: %+v", list[0])
	}
}

func delivIDs(ds []gateway.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func TestUnmatchedReports(t *testing.T) {
	db := openTest(t, "")
	for i := range 3 {
		if err := db.SaveUnmatchedReport(ctx, gateway.StatusReport{Modem: "a", MR: i, Received: t0.Add(time.Duration(i))}); err != nil {
			t.Fatal(err)
		}
	}
	rs, n, err := db.UnmatchedReports(ctx, 2)
	if err != nil || n != 3 || len(rs) != 2 || rs[0].MR != 0 || rs[1].MR != 1 {
		t.Errorf("UnmatchedReports = %+v, %d, %v", rs, n, err)
	}
}

func TestBackupOpens(t *testing.T) {
	db := openTest(t, "")
	m := newMsg(1)
	mustCreate(t, db, m)
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.Backup(f)
	if err != nil || n == 0 {
		t.Fatalf("Backup = %d, %v", n, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, db, newMsg(2)) // after the backup: not in it
	b := openTest(t, path)
	got, err := b.GetMessage(ctx, m.ID)
	if err != nil || got.Body != m.Body {
		t.Fatalf("message in backup: %v, %v", got, err)
	}
	if all := listAll(t, b, gateway.MessageFilter{}); len(all) != 1 {
		t.Errorf("backup lists %v", all)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	db := openTest(t, path)
	var created []string
	var wg sync.WaitGroup
	var mu sync.Mutex
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				m := newMsg(g*100 + i)
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
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTest(t, path)
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

// Concurrent creates in one batch: the ones that conflict are refused, the
// others are committed.
func TestConcurrentCreatesWithConflicts(t *testing.T) {
	db := openTest(t, "")
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := newMsg(i)
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
	if all := listAll(t, db, gateway.MessageFilter{Limit: 500}); len(all) != 50 {
		t.Errorf("%d stored", len(all))
	}
}

// A write whose bbolt operation fails poisons its batch: the others are
// retried without it and committed.
func TestBatchSurvivesAFailingWrite(t *testing.T) {
	db := openTest(t, "")
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 7 {
				errs[i] = db.update(ctx, func(tx *bbolt.Tx) error {
					return tx.Bucket([]byte("messages")).Put(nil, []byte("x")) // empty key: bbolt refuses
				})
				return
			}
			errs[i] = db.CreateMessage(ctx, newMsg(i))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i == 7) != (err != nil) {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if all := listAll(t, db, gateway.MessageFilter{}); len(all) != 19 {
		t.Errorf("%d stored, want 19", len(all))
	}
}

func TestCancelledContextStoresNothing(t *testing.T) {
	db := openTest(t, "")
	c, cancel := context.WithCancel(ctx)
	cancel()
	m := newMsg(1)
	if err := db.CreateMessage(c, m); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateMessage: %v", err)
	}
	if _, err := db.GetMessage(ctx, m.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("stored anyway: %v", err)
	}
}

func TestUpdateSetsUpdatedAt(t *testing.T) {
	db := openTest(t, "")
	m := newMsg(1)
	mustCreate(t, db, m)
	got, err := db.UpdateMessage(ctx, m.ID, func(m *gateway.Message) error { m.Priority = 3; return nil })
	if err != nil || !got.UpdatedAt.After(m.UpdatedAt) || got.Priority != 3 {
		t.Errorf("UpdateMessage = %+v, %v", got, err)
	}
	at := t0.Add(time.Minute)
	got, _ = db.UpdateMessage(ctx, m.ID, func(m *gateway.Message) error { m.UpdatedAt = at; return nil })
	if !got.UpdatedAt.Equal(at) {
		t.Errorf("UpdatedAt set by fn overwritten: %v", got.UpdatedAt)
	}
}

// With MaxBatchDelay the committer waits for more writers; all commit.
func TestMaxBatchDelay(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "d.db"), Options{MaxBatchDelay: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.CreateMessage(ctx, newMsg(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if all := listAll(t, db, gateway.MessageFilter{Limit: 500}); len(all) != 100 {
		t.Errorf("%d stored", len(all))
	}
}

// Writes queued while a commit is in progress share the next transaction.
func TestGroupCommit(t *testing.T) {
	db := openTest(t, "")
	release := make(chan struct{})
	running := make(chan struct{})
	go func() {
		_ = db.update(ctx, func(*bbolt.Tx) error {
			close(running)
			<-release
			return nil
		})
	}()
	<-running
	before := db.batches.Load()
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.CreateMessage(ctx, newMsg(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(db.writes) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes queued", len(db.writes))
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if got := db.batches.Load() - before; got != 1 {
		t.Errorf("%d writes took %d commits, want 1", n, got)
	}
	if all := listAll(t, db, gateway.MessageFilter{Limit: 500}); len(all) != n {
		t.Errorf("%d stored", len(all))
	}
}

// Listings walk the most selective index and ActiveMessages reads only the
// non-terminal part of the status index.
func TestListingsUseSelectiveIndexes(t *testing.T) {
	db := openTest(t, "")
	for i := range 600 {
		m := newMsg(i)
		m.Agent, m.Status, m.Modem, m.Contact = "busy", gateway.StatusDelivered, "big", "+1000"
		switch {
		case i%100 == 0:
			m.Modem = "small" // 6 messages
		case i%150 == 1:
			m.Status = gateway.StatusQueued // 4 messages
		case i == 7:
			m.Contact = "+1999"
		}
		mustCreate(t, db, m)
	}
	tests := []struct {
		name       string
		f          gateway.MessageFilter
		want, scan int // scan: at most this many index keys read
	}{
		{"modem beats agent and status", gateway.MessageFilter{Agent: "busy", Modem: "small", Status: gateway.StatusDelivered}, 6, 6},
		{"status beats agent", gateway.MessageFilter{Agent: "busy", Status: gateway.StatusQueued}, 4, 4},
		{"contact first", gateway.MessageFilter{Contact: "+1999", Agent: "busy"}, 1, 1},
		{"unknown modem reads nothing", gateway.MessageFilter{Agent: "busy", Modem: "none"}, 0, 0},
		{"time range on one value", gateway.MessageFilter{Modem: "big", Since: t0.Add(590 * time.Second)}, 10, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := db.scanned.Load()
			tt.f.Limit = 500
			got := listAll(t, db, tt.f)
			if len(got) != tt.want {
				t.Errorf("%d messages, want %d", len(got), tt.want)
			}
			if n := db.scanned.Load() - before; n > int64(tt.scan) {
				t.Errorf("read %d index keys, want at most %d", n, tt.scan)
			}
		})
	}
	before := db.scanned.Load()
	n := 0
	if err := db.ActiveMessages(ctx, func(*gateway.Message) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	// the 4 queued keys, and the first "delivered" key, which it seeks past
	if scanned := db.scanned.Load() - before; n != 4 || scanned != 5 {
		t.Errorf("ActiveMessages: %d messages, %d index keys read; want 4 and 5", n, scanned)
	}
}
