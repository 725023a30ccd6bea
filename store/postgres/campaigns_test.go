package postgres

import (
	"sync"
	"testing"

	"github.com/simgate/simgate/gateway/campaign"
	"github.com/simgate/simgate/store/postgres/pgtest"
	"github.com/simgate/simgate/store/storetest"
)

// TestAssignContactsConcurrent: texters assigning at once through two
// handles on one schema (two nodes) never get the same contact, and
// together take all of them.
func TestAssignContactsConcurrent(t *testing.T) {
	pgtest.Require(t)
	dsn, schema := pgtest.Schema(t)
	a, b := openSchema(t, dsn, schema), openSchema(t, dsn, schema)
	c := storetest.NewCampaign(0)
	if err := a.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	const total = 200
	var cts []*campaign.Contact
	for i := range total {
		cts = append(cts, storetest.NewContact(c.ID, int64(i+1), i+1))
	}
	if _, err := a.AddContacts(ctx, c.ID, 1, cts); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		got  = map[int64]string{}
		wg   sync.WaitGroup
		errs = make(chan error, 16)
	)
	for w := range 16 {
		db := []*DB{a, b}[w%2]
		texter := string(rune('a' + w))
		wg.Go(func() {
			// Until none is left: an empty answer means every free contact
			// was locked by an assigner that takes it.
			for range total {
				ids, err := db.AssignContacts(ctx, c.ID, texter, 5, 0)
				if err != nil {
					errs <- err
					return
				}
				if len(ids) == 0 {
					return
				}
				mu.Lock()
				for _, id := range ids {
					if prev, dup := got[id]; dup {
						t.Errorf("contact %d assigned to %s and %s", id, prev, texter)
					}
					got[id] = texter
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(got) != total {
		t.Errorf("assigned %d contacts, want all %d", len(got), total)
	}
	cc, err := a.CountContacts(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Unassigned != 0 || cc.Total != total {
		t.Errorf("counts %+v, want %d contacts, none unassigned", cc, total)
	}
	for id, texter := range got {
		ct, err := b.Contact(ctx, c.ID, id)
		if err != nil || ct.Texter != texter {
			t.Fatalf("contact %d: %+v, %v; want texter %s", id, ct, err, texter)
		}
	}
}
