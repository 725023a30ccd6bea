package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

// TestIndexesMatchModel applies random creates and updates and then checks
// every listing, ActiveMessages, CountByStatus and PartByMR against a brute
// force over an in-memory copy of the messages, before and after a reopen.
func TestIndexesMatchModel(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			path := t.TempDir() + "/m.db"
			db := openTest(t, path)
			r := rand.New(rand.NewPCG(seed, 99))
			statuses := []gateway.Status{gateway.StatusQueued, gateway.StatusSending, gateway.StatusSent, gateway.StatusDelivered, gateway.StatusFailed, gateway.StatusUnknown, gateway.StatusCancelled}
			modems := []string{"", "a", "b", "ab"}
			model := map[string]*gateway.Message{}
			var order []string
			mutate := func(m *gateway.Message) {
				m.Status = statuses[r.IntN(len(statuses))]
				m.Modem = modems[r.IntN(len(modems))]
				if r.IntN(4) == 0 {
					m.Contact = fmt.Sprintf("+1%d", r.IntN(5))
				}
				if r.IntN(4) == 0 {
					m.Agent = fmt.Sprintf("ag%d", r.IntN(3))
				}
				for i := range m.Parts {
					p := &m.Parts[i]
					if m.Modem != "" && r.IntN(2) == 0 {
						p.Modem, p.MR, p.SubmittedAt = m.Modem, r.IntN(4), t0.Add(time.Duration(r.IntN(100))*time.Second)
					} else {
						p.Modem, p.MR, p.SubmittedAt = "", -1, time.Time{}
					}
				}
			}
			for i := range 300 {
				if len(order) == 0 || r.IntN(3) == 0 {
					m := newMsg(i)
					m.CreatedAt = t0.Add(time.Duration(r.IntN(50)) * time.Second)
					m.Parts = append(m.Parts, gateway.Part{Seq: 2, MR: -1})
					if r.IntN(5) == 0 {
						m.Direction, m.Status = gateway.Inbound, gateway.StatusReceived
					} else {
						mutate(m)
					}
					mustCreate(t, db, m)
					model[m.ID] = m.Clone()
					order = append(order, m.ID)
					continue
				}
				id := order[r.IntN(len(order))]
				if model[id].Direction == gateway.Inbound {
					continue
				}
				got, err := db.UpdateMessage(ctx, id, func(m *gateway.Message) error { mutate(m); return nil })
				if err != nil {
					t.Fatal(err)
				}
				model[id] = got
			}
			check := func(t *testing.T) {
				// listings
				for range 60 {
					f := gateway.MessageFilter{Ascending: r.IntN(2) == 0, Limit: 1 + r.IntN(20)}
					if r.IntN(2) == 0 {
						f.Status = statuses[r.IntN(len(statuses))]
					}
					if r.IntN(3) == 0 {
						f.Modem = modems[1+r.IntN(3)]
					}
					if r.IntN(3) == 0 {
						f.Contact = fmt.Sprintf("+1%d", r.IntN(5))
					}
					if r.IntN(4) == 0 {
						f.Agent = fmt.Sprintf("ag%d", r.IntN(3))
					}
					if r.IntN(4) == 0 {
						f.Direction = gateway.Inbound
					}
					if r.IntN(3) == 0 {
						f.Since = t0.Add(time.Duration(r.IntN(50)) * time.Second)
					}
					var want []*gateway.Message
					for _, m := range model {
						if matches(f, m) {
							want = append(want, m)
						}
					}
					sort.Slice(want, func(i, j int) bool {
						a, b := want[i], want[j]
						if !a.CreatedAt.Equal(b.CreatedAt) {
							return a.CreatedAt.After(b.CreatedAt) != f.Ascending
						}
						return (a.ID > b.ID) != f.Ascending
					})
					if got := listAll(t, db, f); !slices.Equal(got, ids(want)) {
						t.Fatalf("filter %+v:\n got %v\nwant %v", f, got, ids(want))
					}
				}
				// active messages and counts
				var active []string
				counts := map[gateway.Status]int{}
				for id, m := range model {
					counts[m.Status]++
					if m.Direction == gateway.Outbound && !m.Status.Terminal() {
						active = append(active, id)
					}
				}
				var seen []string
				if err := db.ActiveMessages(ctx, func(m *gateway.Message) error { seen = append(seen, m.ID); return nil }); err != nil {
					t.Fatal(err)
				}
				slices.Sort(active)
				slices.Sort(seen)
				if !slices.Equal(seen, active) {
					t.Errorf("ActiveMessages %v, want %v", seen, active)
				}
				gotCounts, _ := db.CountByStatus(ctx)
				if fmt.Sprint(gotCounts) != fmt.Sprint(counts) {
					t.Errorf("CountByStatus %v, want %v", gotCounts, counts)
				}
				// PartByMR: the newest part per (modem, mr)
				type mk struct {
					modem string
					mr    int
				}
				newest := map[mk]struct {
					at  time.Time
					id  string
					seq int
				}{}
				for id, m := range model {
					for _, p := range m.Parts {
						if p.Modem == "" || p.MR < 0 {
							continue
						}
						k := mk{p.Modem, p.MR}
						n, ok := newest[k]
						if !ok || p.SubmittedAt.After(n.at) || (p.SubmittedAt.Equal(n.at) && id > n.id) {
							newest[k] = struct {
								at  time.Time
								id  string
								seq int
							}{p.SubmittedAt, id, p.Seq}
						}
					}
				}
				for _, modem := range modems[1:] {
					for mr := range 4 {
						id, seq, err := db.PartByMR(ctx, modem, mr, time.Time{})
						n, ok := newest[mk{modem, mr}]
						if ok != (err == nil) || id != n.id || seq != n.seq {
							t.Errorf("PartByMR(%s, %d) = %s/%d, %v; want %+v", modem, mr, id, seq, err, n)
						}
					}
				}
			}
			t.Run("live", check)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db = openTest(t, path)
			t.Run("reopened", check)
		})
	}
}
