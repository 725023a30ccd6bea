package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/campaign"
)

// copyBatch is how many campaign records go in one write of the copy.
const copyBatch = 1000

// campaignAreas are the P2P campaigns' records (campaign.Store), copied
// through the interface both backends implement. A campaign's messages are
// held in memory while they are copied.
func campaignAreas() []copyArea {
	return []copyArea{
		{
			name: "texters",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				var all []campaign.Texter
				if err := src.ForEachTexter(ctx, func(t campaign.Texter) error { all = append(all, t); return nil }); err != nil {
					return err
				}
				for _, t := range all {
					if err := dst.PutTexter(ctx, t); err != nil {
						return err
					}
					tick()
				}
				return nil
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				return s.ForEachTexter(ctx, func(t campaign.Texter) error { return add(t) })
			},
		},
		{
			name: "campaigns",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				return eachCampaign(ctx, src, func(c *campaign.Campaign) error {
					if err := dst.CreateCampaign(ctx, c); err != nil {
						return err
					}
					tick()
					rs, err := src.Imports(ctx, c.ID)
					if err != nil {
						return err
					}
					for _, r := range rs {
						if err := dst.PutImport(ctx, r); err != nil {
							return err
						}
						var rows []campaign.Reject
						if err := src.Rejects(ctx, c.ID, r.ID, func(j campaign.Reject) error { rows = append(rows, j); return nil }); err != nil {
							return err
						}
						for b := range slices.Chunk(rows, copyBatch) {
							if err := dst.AddRejects(ctx, c.ID, r.ID, b); err != nil {
								return err
							}
						}
					}
					return nil
				})
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				return eachCampaign(ctx, s, func(c *campaign.Campaign) error {
					if err := add(c); err != nil {
						return err
					}
					rs, err := s.Imports(ctx, c.ID)
					if err != nil {
						return err
					}
					for _, r := range rs {
						if err := add(r); err != nil {
							return err
						}
						if err := s.Rejects(ctx, c.ID, r.ID, func(j campaign.Reject) error { return add(j) }); err != nil {
							return err
						}
					}
					return nil
				})
			},
		},
		{
			name: "campaign contacts",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				return eachCampaign(ctx, src, func(c *campaign.Campaign) error {
					var after int64
					for {
						var page []*campaign.Contact
						if err := src.Contacts(ctx, c.ID, campaign.ContactFilter{After: after, Limit: copyBatch}, func(ct *campaign.Contact) error {
							page = append(page, ct)
							return nil
						}); err != nil {
							return err
						}
						if len(page) == 0 {
							return nil
						}
						after = page[len(page)-1].ID
						// AddContacts numbers a run of consecutive IDs: one call per run.
						for len(page) > 0 {
							n := 1
							for n < len(page) && page[n].ID == page[0].ID+int64(n) {
								n++
							}
							dups, err := dst.AddContacts(ctx, c.ID, page[0].ID, page[:n])
							if err != nil {
								return err
							}
							for i, d := range dups {
								if d != 0 {
									return fmt.Errorf("campaign %s: contact %d: the target holds its cell already", c.ID, page[i].ID)
								}
								tick()
							}
							page = page[n:]
						}
					}
				})
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				return eachCampaign(ctx, s, func(c *campaign.Campaign) error {
					var all []*campaign.Contact
					if err := s.Contacts(ctx, c.ID, campaign.ContactFilter{}, func(ct *campaign.Contact) error { all = append(all, ct); return nil }); err != nil {
						return err
					}
					for _, ct := range all {
						if err := add(ct); err != nil {
							return err
						}
					}
					return nil
				})
			},
		},
		{
			name: "campaign messages",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				latest := map[string]latestRec{}
				var redo []*campaign.Message // those the latest-texted index points at, recorded last
				err := eachCampaign(ctx, src, func(c *campaign.Campaign) error {
					msgs, err := campaignMessages(ctx, src, c.ID)
					if err != nil {
						return err
					}
					for _, m := range msgs {
						if _, err := dst.RecordSend(ctx, m, nil, nil); err != nil {
							return err
						}
						tick()
						if m.Direction != string(gateway.Outbound) {
							continue
						}
						l, seen := latest[m.Contact]
						if !seen {
							if l, err = latestOf(ctx, src, m.Contact); err != nil {
								return err
							}
							latest[m.Contact] = l
						}
						if l.Campaign == m.CampaignID && l.Contact == m.ContactID && l.At.Equal(m.CreatedAt) {
							redo = append(redo, m)
						}
					}
					return nil
				})
				if err != nil {
					return err
				}
				for _, m := range redo {
					if _, err := dst.RecordSend(ctx, m, nil, nil); err != nil {
						return err
					}
				}
				return nil
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				cells := map[string]bool{}
				err := eachCampaign(ctx, s, func(c *campaign.Campaign) error {
					msgs, err := campaignMessages(ctx, s, c.ID)
					if err != nil {
						return err
					}
					for _, m := range msgs {
						if m.Direction == string(gateway.Outbound) {
							cells[m.Contact] = true
						}
						if err := add(m); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					return err
				}
				for _, cell := range slices.Sorted(mapKeys(cells)) {
					l, err := latestOf(ctx, s, cell)
					if err != nil {
						return err
					}
					if err := add(l); err != nil {
						return err
					}
				}
				return nil
			},
		},
		{
			name: "campaign events",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				return eachContactEvents(ctx, src, func(evs []campaign.Event) error {
					for b := range slices.Chunk(evs, copyBatch) {
						if err := dst.AppendEvents(ctx, b); err != nil {
							return err
						}
						for range b {
							tick()
						}
					}
					return nil
				})
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				return eachContactEvents(ctx, s, func(evs []campaign.Event) error {
					for _, e := range evs {
						if err := add(e); err != nil {
							return err
						}
					}
					return nil
				})
			},
		},
		{
			name: "campaign inbox",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				items, err := src.Inbox(ctx, math.MaxInt32)
				if err != nil {
					return err
				}
				for _, it := range items {
					if err := dst.AddInbox(ctx, it); err != nil {
						return err
					}
					tick()
				}
				return nil
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				items, err := s.Inbox(ctx, math.MaxInt32)
				if err != nil {
					return err
				}
				for _, it := range items {
					if err := add(it); err != nil {
						return err
					}
				}
				return nil
			},
		},
	}
}

// eachCampaign calls fn for every campaign of s, oldest first.
func eachCampaign(ctx context.Context, s copyStore, fn func(*campaign.Campaign) error) error {
	cs, err := s.Campaigns(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := fn(c); err != nil {
			return fmt.Errorf("campaign %s: %w", c.ID, err)
		}
	}
	return nil
}

func campaignMessages(ctx context.Context, s copyStore, campaignID string) ([]*campaign.Message, error) {
	var out []*campaign.Message
	err := s.CampaignMessages(ctx, campaignID, 0, func(m *campaign.Message) error { out = append(out, m); return nil })
	return out, err
}

// eachContactEvents calls fn with the campaign's own events, then each
// contact's, of every campaign.
func eachContactEvents(ctx context.Context, s copyStore, fn func([]campaign.Event) error) error {
	return eachCampaign(ctx, s, func(c *campaign.Campaign) error {
		ids := []int64{0}
		if err := s.Contacts(ctx, c.ID, campaign.ContactFilter{}, func(ct *campaign.Contact) error { ids = append(ids, ct.ID); return nil }); err != nil {
			return err
		}
		for _, id := range ids {
			var evs []campaign.Event
			if err := s.CampaignEvents(ctx, c.ID, id, func(e campaign.Event) error { evs = append(evs, e); return nil }); err != nil {
				return err
			}
			if err := fn(evs); err != nil {
				return err
			}
		}
		return nil
	})
}

// latestRec is one entry of the latest-texted index.
type latestRec struct {
	Cell     string
	Campaign string
	Contact  int64
	At       time.Time
}

func latestOf(ctx context.Context, s copyStore, cell string) (latestRec, error) {
	cid, id, at, err := s.LatestTexted(ctx, cell)
	if errors.Is(err, gateway.ErrNotFound) {
		return latestRec{Cell: cell}, nil
	}
	return latestRec{Cell: cell, Campaign: cid, Contact: id, At: at}, err
}
