package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

// testIndexesMatchModel applies random creates and updates and then checks
// every listing, ActiveMessages, CountByStatus and PartByMR against a brute
// force over an in-memory copy of the messages, before and after a reopen.
func testIndexesMatchModel(t *testing.T, h Harness) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			db := h.Open(t)
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
						p.Modem, p.MR, p.SubmittedAt = m.Modem, r.IntN(4), T0.Add(time.Duration(r.IntN(100))*time.Second)
					} else {
						p.Modem, p.MR, p.SubmittedAt = "", -1, time.Time{}
					}
				}
			}
			for i := range 300 {
				if len(order) == 0 || r.IntN(3) == 0 {
					m := NewMessage(i)
					m.CreatedAt = T0.Add(time.Duration(r.IntN(50)) * time.Second)
					m.Parts = append(m.Parts, gateway.Part{Seq: 2, MR: -1})
					if r.IntN(5) == 0 {
						m.Direction, m.Status = gateway.Inbound, gateway.StatusReceived
					} else {
						mutate(m)
					}
					MustCreate(t, db, m)
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
			all := func() []*gateway.Message {
				out := make([]*gateway.Message, 0, len(model))
				for _, m := range model {
					out = append(out, m)
				}
				return out
			}()
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
						f.Since = T0.Add(time.Duration(r.IntN(50)) * time.Second)
					}
					if got, want := ListAll(t, db, f), expectIDs(f, all); !slices.Equal(got, want) {
						t.Fatalf("filter %+v:\n got %v\nwant %v", f, got, want)
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
				// PartByMR: the newest part per (modem, mr), ties to the greater id
				type mk struct {
					modem string
					mr    int
				}
				type found struct {
					at  time.Time
					id  string
					seq int
				}
				newest := map[mk]found{}
				for id, m := range model {
					for _, p := range m.Parts {
						if p.Modem == "" || p.MR < 0 {
							continue
						}
						k := mk{p.Modem, p.MR}
						n, ok := newest[k]
						if !ok || p.SubmittedAt.After(n.at) || (p.SubmittedAt.Equal(n.at) && id > n.id) {
							newest[k] = found{p.SubmittedAt, id, p.Seq}
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
			db = h.Reopen(t, db)
			t.Run("reopened", check)
		})
	}
}
