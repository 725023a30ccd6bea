package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/campaign"
)

var _ campaign.Store = (*DB)(nil)

// Buckets of the P2P campaigns (see doc.go).
var (
	bCampaigns   = []byte("cmp_campaigns")
	bCmpTexters  = []byte("cmp_texters")
	bCmpImports  = []byte("cmp_imports")
	bCmpRejects  = []byte("cmp_rejects")
	bCmpContacts = []byte("cmp_contacts")
	bCmpIxCell   = []byte("cmp_ix_cell")
	bCmpIxCellC  = []byte("cmp_ix_cell_campaign")
	bCmpIxTexter = []byte("cmp_ix_texter")
	bCmpIxStatus = []byte("cmp_ix_status")
	bCmpIxFree   = []byte("cmp_ix_unassigned")
	bCmpMessages = []byte("cmp_messages")
	bCmpIxMsgID  = []byte("cmp_ix_message_id")
	bCmpIxMsgCt  = []byte("cmp_ix_message_contact")
	bCmpLatest   = []byte("cmp_latest")
	bCmpEvents   = []byte("cmp_events")
	bCmpInbox    = []byte("cmp_inbox")

	campaignBuckets = [][]byte{bCampaigns, bCmpTexters, bCmpImports, bCmpRejects, bCmpContacts, bCmpIxCell,
		bCmpIxCellC, bCmpIxTexter, bCmpIxStatus, bCmpIxFree, bCmpMessages, bCmpIxMsgID, bCmpIxMsgCt,
		bCmpLatest, bCmpEvents, bCmpInbox}
)

func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func id8(id int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(id)) }

func putJSON(tx *bbolt.Tx, b, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", b, err)
	}
	return tx.Bucket(b).Put(key, raw)
}

func notFound(what string) error { return fmt.Errorf("store: %s: %w", what, gateway.ErrNotFound) }

// CreateCampaign implements campaign.CampaignStore.
func (db *DB) CreateCampaign(ctx context.Context, c *campaign.Campaign) error {
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bCampaigns).Get([]byte(c.ID)) != nil {
			return reject(fmt.Errorf("store: campaign %s: %w", c.ID, gateway.ErrExists))
		}
		return putJSON(tx, bCampaigns, []byte(c.ID), c)
	})
	return db.fail("create_campaign", err)
}

// Campaign implements campaign.CampaignStore.
func (db *DB) Campaign(ctx context.Context, id string) (*campaign.Campaign, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var c campaign.Campaign
	err := db.view(func(tx *bbolt.Tx) error {
		ok, err := getJSON(tx, bCampaigns, []byte(id), &c)
		if err == nil && !ok {
			err = notFound("campaign")
		}
		return err
	})
	if err != nil {
		return nil, db.fail("campaign", err)
	}
	return &c, nil
}

// Campaigns implements campaign.CampaignStore.
func (db *DB) Campaigns(ctx context.Context) ([]*campaign.Campaign, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*campaign.Campaign
	err := db.view(func(tx *bbolt.Tx) error {
		return forEachJSON(tx, bCampaigns, func(_ []byte, c campaign.Campaign) error {
			out = append(out, &c)
			return nil
		})
	})
	if err != nil {
		return nil, db.fail("campaigns", err)
	}
	slices.SortFunc(out, func(a, b *campaign.Campaign) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// UpdateCampaign implements campaign.CampaignStore.
func (db *DB) UpdateCampaign(ctx context.Context, id string, fn func(*campaign.Campaign) error) (*campaign.Campaign, error) {
	var out *campaign.Campaign
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		var c campaign.Campaign
		ok, err := getJSON(tx, bCampaigns, []byte(id), &c)
		if err != nil {
			return err
		}
		if !ok {
			return reject(notFound("campaign"))
		}
		if err := fn(&c); err != nil {
			return reject(err)
		}
		c.ID = id
		out = &c
		return putJSON(tx, bCampaigns, []byte(id), &c)
	})
	if err != nil {
		return nil, db.fail("update_campaign", err)
	}
	return out, nil
}

// PutTexter implements campaign.CampaignStore.
func (db *DB) PutTexter(ctx context.Context, t campaign.Texter) error {
	err := db.update(ctx, func(tx *bbolt.Tx) error { return putJSON(tx, bCmpTexters, []byte(t.ID), t) })
	return db.fail("put_texter", err)
}

// Texter implements campaign.CampaignStore.
func (db *DB) Texter(ctx context.Context, id string) (campaign.Texter, error) {
	var t campaign.Texter
	err := db.view(func(tx *bbolt.Tx) error {
		ok, err := getJSON(tx, bCmpTexters, []byte(id), &t)
		if err == nil && !ok {
			err = notFound("texter")
		}
		return err
	})
	return t, db.fail("texter", err)
}

// PutImport implements campaign.CampaignStore.
func (db *DB) PutImport(ctx context.Context, r *campaign.ImportReport) error {
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		return putJSON(tx, bCmpImports, cat(prefix(r.CampaignID), []byte(r.ID)), r)
	})
	return db.fail("put_import", err)
}

// Import implements campaign.CampaignStore.
func (db *DB) Import(ctx context.Context, campaignID, id string) (*campaign.ImportReport, error) {
	var r campaign.ImportReport
	err := db.view(func(tx *bbolt.Tx) error {
		ok, err := getJSON(tx, bCmpImports, cat(prefix(campaignID), []byte(id)), &r)
		if err == nil && !ok {
			err = notFound("import")
		}
		return err
	})
	if err != nil {
		return nil, db.fail("import", err)
	}
	return &r, nil
}

// Imports implements campaign.CampaignStore.
func (db *DB) Imports(ctx context.Context, campaignID string) ([]*campaign.ImportReport, error) {
	var out []*campaign.ImportReport
	err := db.view(func(tx *bbolt.Tx) error {
		return scanPrefix(tx, bCmpImports, prefix(campaignID), func(_, v []byte) error {
			var r campaign.ImportReport
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode import: %w", err)
			}
			out = append(out, &r)
			return nil
		})
	})
	if err != nil {
		return nil, db.fail("imports", err)
	}
	slices.SortFunc(out, func(a, b *campaign.ImportReport) int { return a.StartedAt.Compare(b.StartedAt) })
	return out, nil
}

// scanPrefix calls fn for every key of bucket b starting with p, in order.
func scanPrefix(tx *bbolt.Tx, b, p []byte, fn func(k, v []byte) error) error {
	c := tx.Bucket(b).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func rejectKey(campaignID, importID string, line int) []byte {
	return cat(prefix(campaignID), prefix(importID), id8(int64(line)))
}

// AddRejects implements campaign.CampaignStore.
func (db *DB) AddRejects(ctx context.Context, campaignID, importID string, rows []campaign.Reject) error {
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		for _, r := range rows {
			if err := putJSON(tx, bCmpRejects, rejectKey(campaignID, importID, r.Line), r); err != nil {
				return err
			}
		}
		return nil
	})
	return db.fail("add_rejects", err)
}

// Rejects implements campaign.CampaignStore.
func (db *DB) Rejects(ctx context.Context, campaignID, importID string, fn func(campaign.Reject) error) error {
	err := db.view(func(tx *bbolt.Tx) error {
		return scanPrefix(tx, bCmpRejects, cat(prefix(campaignID), prefix(importID)), func(_, v []byte) error {
			var r campaign.Reject
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode reject: %w", err)
			}
			return fn(r)
		})
	})
	return db.fail("rejects", err)
}

// contactEntries derives a contact's index keys (value "" unless noted).
func contactEntries(c *campaign.Contact) [][2][]byte {
	p := prefix(c.CampaignID)
	id := id8(c.ID)
	es := [][2][]byte{
		{bCmpIxCell, cat(p, []byte(c.Cell))},
		{bCmpIxCellC, cat(prefix(c.Cell), []byte(c.CampaignID))},
		{bCmpIxStatus, cat(p, prefix(string(c.Status)), id)},
	}
	if c.Texter != "" {
		es = append(es, [2][]byte{bCmpIxTexter, cat(p, prefix(c.Texter), prefix(string(c.Status)), id)})
	} else if c.Status == campaign.StatusNeedsMessage && !c.OptedOut {
		es = append(es, [2][]byte{bCmpIxFree, cat(p, id)})
	}
	return es
}

// cellValued are the index buckets whose value is the contact ID.
func cellValued(b []byte) bool { return bytes.Equal(b, bCmpIxCell) || bytes.Equal(b, bCmpIxCellC) }

// putContact writes c and its index entries, removing old's (nil: new).
func putContact(tx *bbolt.Tx, old, c *campaign.Contact) error {
	if old != nil {
		keep := map[string]bool{}
		for _, e := range contactEntries(c) {
			keep[string(e[0])+"\x00"+string(e[1])] = true
		}
		for _, e := range contactEntries(old) {
			if !keep[string(e[0])+"\x00"+string(e[1])] {
				if err := tx.Bucket(e[0]).Delete(e[1]); err != nil {
					return err
				}
			}
		}
	}
	for _, e := range contactEntries(c) {
		var v []byte
		if cellValued(e[0]) {
			v = id8(c.ID)
		}
		if err := tx.Bucket(e[0]).Put(e[1], v); err != nil {
			return err
		}
	}
	return putJSON(tx, bCmpContacts, cat(prefix(c.CampaignID), id8(c.ID)), c)
}

func getContact(tx *bbolt.Tx, campaignID string, id int64) (*campaign.Contact, error) {
	var c campaign.Contact
	ok, err := getJSON(tx, bCmpContacts, cat(prefix(campaignID), id8(id)), &c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound("contact")
	}
	return &c, nil
}

// AddContacts implements campaign.ContactStore.
func (db *DB) AddContacts(ctx context.Context, campaignID string, first int64, contacts []*campaign.Contact) ([]int64, error) {
	dups := make([]int64, len(contacts))
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		clear(dups)
		p := prefix(campaignID)
		// Check before writing: a rejected write must leave nothing behind.
		for id := first; id < first+int64(len(contacts)); id++ {
			if tx.Bucket(bCmpContacts).Get(cat(p, id8(id))) != nil {
				return reject(fmt.Errorf("store: contact %d: %w", id, gateway.ErrExists))
			}
		}
		next := first
		for i, c := range contacts {
			// Earlier contacts of this batch are in the index already
			// (bbolt reads its own writes): duplicates within it too.
			if v := tx.Bucket(bCmpIxCell).Get(cat(p, []byte(c.Cell))); v != nil {
				dups[i] = int64(binary.BigEndian.Uint64(v))
				c.ID = 0
				continue
			}
			c.CampaignID, c.ID = campaignID, next
			next++
			if err := putContact(tx, nil, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, db.fail("add_contacts", err)
	}
	return dups, nil
}

// DeleteContactsFrom implements campaign.ContactStore.
func (db *DB) DeleteContactsFrom(ctx context.Context, campaignID string, from int64, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	n := 0
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		p := prefix(campaignID)
		var doomed []*campaign.Contact
		cur := tx.Bucket(bCmpContacts).Cursor()
		for k, v := cur.Seek(cat(p, id8(from))); k != nil && bytes.HasPrefix(k, p) && len(doomed) < limit; k, v = cur.Next() {
			var c campaign.Contact
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("decode contact: %w", err)
			}
			doomed = append(doomed, &c)
		}
		for _, c := range doomed {
			for _, e := range contactEntries(c) {
				if cellValued(e[0]) {
					// Only if it points at this contact (a rolled-back
					// duplicate never owned the entry).
					if v := tx.Bucket(e[0]).Get(e[1]); v == nil || int64(binary.BigEndian.Uint64(v)) != c.ID {
						continue
					}
				}
				if err := tx.Bucket(e[0]).Delete(e[1]); err != nil {
					return err
				}
			}
			if err := tx.Bucket(bCmpContacts).Delete(cat(p, id8(c.ID))); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, db.fail("delete_contacts", err)
	}
	return n, nil
}

// Contact implements campaign.ContactStore.
func (db *DB) Contact(ctx context.Context, campaignID string, id int64) (*campaign.Contact, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var c *campaign.Contact
	err := db.view(func(tx *bbolt.Tx) error {
		var err error
		c, err = getContact(tx, campaignID, id)
		return err
	})
	if err != nil {
		return nil, db.fail("contact", err)
	}
	return c, nil
}

// ContactByCell implements campaign.ContactStore.
func (db *DB) ContactByCell(ctx context.Context, campaignID, cell string) (*campaign.Contact, error) {
	var c *campaign.Contact
	err := db.view(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bCmpIxCell).Get(cat(prefix(campaignID), []byte(cell)))
		if v == nil {
			return notFound("contact")
		}
		var err error
		c, err = getContact(tx, campaignID, int64(binary.BigEndian.Uint64(v)))
		return err
	})
	if err != nil {
		return nil, db.fail("contact_by_cell", err)
	}
	return c, nil
}

// UpdateContact implements campaign.ContactStore.
func (db *DB) UpdateContact(ctx context.Context, campaignID string, id int64, fn func(*campaign.Contact) error) (*campaign.Contact, error) {
	var out *campaign.Contact
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		c, err := updateContactTx(tx, campaignID, id, fn)
		out = c
		return err
	})
	if err != nil {
		return nil, db.fail("update_contact", err)
	}
	return out, nil
}

func updateContactTx(tx *bbolt.Tx, campaignID string, id int64, fn func(*campaign.Contact) error) (*campaign.Contact, error) {
	old, err := getContact(tx, campaignID, id)
	if err != nil {
		if errors.Is(err, gateway.ErrNotFound) {
			return nil, reject(err)
		}
		return nil, err
	}
	c := old.Clone()
	if err := fn(c); err != nil {
		return nil, reject(err)
	}
	c.CampaignID, c.ID, c.Cell = campaignID, id, old.Cell // identity and cell are fixed
	if err := putContact(tx, old, c); err != nil {
		return nil, err
	}
	return c, nil
}

// Contacts implements campaign.ContactStore.
func (db *DB) Contacts(ctx context.Context, campaignID string, f campaign.ContactFilter, fn func(*campaign.Contact) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := prefix(campaignID)
	n := 0
	emit := func(tx *bbolt.Tx, id int64) (bool, error) {
		if id <= f.After {
			return true, nil
		}
		c, err := getContact(tx, campaignID, id)
		if err != nil {
			return false, err
		}
		if (f.Status != "" && c.Status != f.Status) || (f.Texter != "" && c.Texter != f.Texter) || (f.Unassigned && c.Texter != "") {
			return true, nil
		}
		if err := fn(c); err != nil {
			return false, err
		}
		n++
		return f.Limit <= 0 || n < f.Limit, nil
	}
	err := db.view(func(tx *bbolt.Tx) error {
		var ids []int64
		switch {
		case f.Texter != "":
			tp := cat(p, prefix(f.Texter))
			if f.Status != "" {
				tp = cat(tp, prefix(string(f.Status)))
			}
			if err := scanPrefix(tx, bCmpIxTexter, tp, func(k, _ []byte) error {
				ids = append(ids, int64(binary.BigEndian.Uint64(k[len(k)-8:])))
				return nil
			}); err != nil {
				return err
			}
			slices.Sort(ids)
		case f.Status != "":
			sp := cat(p, prefix(string(f.Status)))
			cur := tx.Bucket(bCmpIxStatus).Cursor()
			for k, _ := cur.Seek(cat(sp, id8(f.After+1))); k != nil && bytes.HasPrefix(k, sp); k, _ = cur.Next() {
				more, err := emit(tx, int64(binary.BigEndian.Uint64(k[len(k)-8:])))
				if err != nil || !more {
					return err
				}
			}
			return nil
		default:
			cur := tx.Bucket(bCmpContacts).Cursor()
			seen := 0
			for k, v := cur.Seek(cat(p, id8(f.After+1))); k != nil && bytes.HasPrefix(k, p); k, v = cur.Next() {
				var c campaign.Contact
				if err := json.Unmarshal(v, &c); err != nil {
					return fmt.Errorf("decode contact: %w", err)
				}
				if seen++; seen%releaseEvery == 0 {
					db.releaseTx(tx)
				}
				if f.Unassigned && c.Texter != "" {
					continue
				}
				if err := fn(&c); err != nil {
					return err
				}
				n++
				if f.Limit > 0 && n >= f.Limit {
					return nil
				}
			}
			return nil
		}
		for _, id := range ids {
			more, err := emit(tx, id)
			if err != nil || !more {
				return err
			}
		}
		return nil
	})
	return db.fail("contacts", err)
}

// AssignContacts implements campaign.ContactStore.
func (db *DB) AssignContacts(ctx context.Context, campaignID, texter string, n int, before int64) ([]int64, error) {
	var ids []int64
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		ids = ids[:0]
		p := prefix(campaignID)
		var take []int64
		cur := tx.Bucket(bCmpIxFree).Cursor()
		for k, _ := cur.Seek(p); k != nil && bytes.HasPrefix(k, p) && len(take) < n; k, _ = cur.Next() {
			id := int64(binary.BigEndian.Uint64(k[len(k)-8:]))
			if before > 0 && id >= before {
				break
			}
			take = append(take, id)
		}
		for _, id := range take {
			if _, err := updateContactTx(tx, campaignID, id, func(c *campaign.Contact) error {
				c.Texter = texter
				return nil
			}); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, db.fail("assign_contacts", err)
	}
	return ids, nil
}

// CampaignsOfCell implements campaign.ContactStore.
func (db *DB) CampaignsOfCell(ctx context.Context, cell string) (map[string]int64, error) {
	out := map[string]int64{}
	err := db.view(func(tx *bbolt.Tx) error {
		p := prefix(cell)
		return scanPrefix(tx, bCmpIxCellC, p, func(k, v []byte) error {
			out[string(k[len(p):])] = int64(binary.BigEndian.Uint64(v))
			return nil
		})
	})
	if err != nil {
		return nil, db.fail("campaigns_of_cell", err)
	}
	return out, nil
}

// CountContacts implements campaign.ContactStore. It reads index keys only.
func (db *DB) CountContacts(ctx context.Context, campaignID string) (campaign.ContactCounts, error) {
	cc := campaign.ContactCounts{ByStatus: map[campaign.Status]int{}, ByTexter: map[string]map[campaign.Status]int{}}
	err := db.view(func(tx *bbolt.Tx) error {
		p := prefix(campaignID)
		if err := scanPrefix(tx, bCmpIxStatus, p, func(k, _ []byte) error {
			st, _ := splitPrefixed(k[len(p):])
			cc.ByStatus[campaign.Status(st)]++
			cc.Total++
			return nil
		}); err != nil {
			return err
		}
		if err := scanPrefix(tx, bCmpIxTexter, p, func(k, _ []byte) error {
			t, rest := splitPrefixed(k[len(p):])
			st, _ := splitPrefixed(rest)
			m := cc.ByTexter[t]
			if m == nil {
				m = map[campaign.Status]int{}
				cc.ByTexter[t] = m
			}
			m[campaign.Status(st)]++
			return nil
		}); err != nil {
			return err
		}
		return scanPrefix(tx, bCmpIxFree, p, func(_, _ []byte) error {
			cc.Unassigned++
			return nil
		})
	})
	cc.OptedOut = cc.ByStatus[campaign.StatusOptedOut]
	return cc, db.fail("count_contacts", err)
}

// splitPrefixed splits a prefix(v) | rest key into v and rest.
func splitPrefixed(b []byte) (string, []byte) {
	if len(b) < 2 {
		return "", nil
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return "", nil
	}
	return string(b[2 : 2+n]), b[2+n:]
}

// Campaign messages: cmp_messages holds prefix(campaign) | message ID (a
// ULID, so time order) → JSON; cmp_ix_message_id maps the message ID to its
// campaign; cmp_ix_message_contact is prefix(campaign) | contact | ID.

// releaseEvery is how many records a long scan reads between giving back
// the mapped pages it touched (releaseTx).
const releaseEvery = 20000

func msgKey(campaignID, id string) []byte { return cat(prefix(campaignID), []byte(id)) }

type latestRef struct {
	Campaign string    `json:"campaign"`
	Contact  int64     `json:"contact"`
	At       time.Time `json:"at"`
}

func putCampaignMessage(tx *bbolt.Tx, m *campaign.Message) error {
	if err := putJSON(tx, bCmpMessages, msgKey(m.CampaignID, m.ID), m); err != nil {
		return err
	}
	if err := tx.Bucket(bCmpIxMsgID).Put([]byte(m.ID), []byte(m.CampaignID)); err != nil {
		return err
	}
	return tx.Bucket(bCmpIxMsgCt).Put(cat(prefix(m.CampaignID), id8(m.ContactID), []byte(m.ID)), nil)
}

func eventKey(e campaign.Event) []byte {
	return cat(prefix(e.CampaignID), id8(e.ContactID), encTime(e.At), []byte(e.ID))
}

func appendEventsTx(tx *bbolt.Tx, events []campaign.Event) error {
	b := tx.Bucket(bCmpEvents)
	for _, e := range events {
		k := eventKey(e)
		if b.Get(k) != nil {
			continue
		}
		if err := putJSON(tx, bCmpEvents, k, e); err != nil {
			return err
		}
	}
	return nil
}

// RecordSend implements campaign.ConversationStore.
func (db *DB) RecordSend(ctx context.Context, m *campaign.Message, fn func(*campaign.Contact) error, events []campaign.Event) (*campaign.Contact, error) {
	var out *campaign.Contact
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		out = nil
		if fn != nil {
			c, err := updateContactTx(tx, m.CampaignID, m.ContactID, fn)
			if err != nil {
				return err
			}
			out = c
		}
		if err := putCampaignMessage(tx, m); err != nil {
			return err
		}
		if m.Direction == string(gateway.Outbound) {
			if err := putJSON(tx, bCmpLatest, []byte(m.Contact), latestRef{Campaign: m.CampaignID, Contact: m.ContactID, At: m.CreatedAt}); err != nil {
				return err
			}
		}
		return appendEventsTx(tx, events)
	})
	if err != nil {
		return nil, db.fail("record_send", err)
	}
	return out, nil
}

// UpdateCampaignMessage implements campaign.ConversationStore.
func (db *DB) UpdateCampaignMessage(ctx context.Context, id string, fn func(*campaign.Message) error) (*campaign.Message, error) {
	var out *campaign.Message
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		cid := tx.Bucket(bCmpIxMsgID).Get([]byte(id))
		if cid == nil {
			return reject(notFound("campaign message"))
		}
		var m campaign.Message
		if _, err := getJSON(tx, bCmpMessages, msgKey(string(cid), id), &m); err != nil {
			return err
		}
		if err := fn(&m); err != nil {
			return reject(err)
		}
		m.ID, m.CampaignID = id, string(cid)
		out = &m
		return putJSON(tx, bCmpMessages, msgKey(m.CampaignID, id), &m)
	})
	if err != nil {
		return nil, db.fail("update_campaign_message", err)
	}
	return out, nil
}

// CampaignMessage implements campaign.ConversationStore.
func (db *DB) CampaignMessage(ctx context.Context, id string) (*campaign.Message, error) {
	var m campaign.Message
	err := db.view(func(tx *bbolt.Tx) error {
		cid := tx.Bucket(bCmpIxMsgID).Get([]byte(id))
		if cid == nil {
			return notFound("campaign message")
		}
		ok, err := getJSON(tx, bCmpMessages, msgKey(string(cid), id), &m)
		if err == nil && !ok {
			err = notFound("campaign message")
		}
		return err
	})
	if err != nil {
		return nil, db.fail("campaign_message", err)
	}
	return &m, nil
}

// CampaignMessages implements campaign.ConversationStore.
func (db *DB) CampaignMessages(ctx context.Context, campaignID string, contactID int64, fn func(*campaign.Message) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := db.view(func(tx *bbolt.Tx) error {
		p := prefix(campaignID)
		if contactID == 0 {
			n := 0
			return scanPrefix(tx, bCmpMessages, p, func(_, v []byte) error {
				var m campaign.Message
				if err := json.Unmarshal(v, &m); err != nil {
					return fmt.Errorf("decode campaign message: %w", err)
				}
				if n++; n%releaseEvery == 0 {
					db.releaseTx(tx)
				}
				return fn(&m)
			})
		}
		cp := cat(p, id8(contactID))
		return scanPrefix(tx, bCmpIxMsgCt, cp, func(k, _ []byte) error {
			var m campaign.Message
			if _, err := getJSON(tx, bCmpMessages, msgKey(campaignID, string(k[len(cp):])), &m); err != nil {
				return err
			}
			return fn(&m)
		})
	})
	return db.fail("campaign_messages", err)
}

// LatestTexted implements campaign.ConversationStore.
func (db *DB) LatestTexted(ctx context.Context, cell string) (string, int64, time.Time, error) {
	var r latestRef
	err := db.view(func(tx *bbolt.Tx) error {
		ok, err := getJSON(tx, bCmpLatest, []byte(cell), &r)
		if err == nil && !ok {
			err = notFound("latest campaign")
		}
		return err
	})
	return r.Campaign, r.Contact, r.At, db.fail("latest_texted", err)
}

// AppendEvents implements campaign.ConversationStore.
func (db *DB) AppendEvents(ctx context.Context, events []campaign.Event) error {
	if len(events) == 0 {
		return nil
	}
	err := db.update(ctx, func(tx *bbolt.Tx) error { return appendEventsTx(tx, events) })
	return db.fail("append_campaign_events", err)
}

// CampaignEvents implements campaign.ConversationStore.
func (db *DB) CampaignEvents(ctx context.Context, campaignID string, contactID int64, fn func(campaign.Event) error) error {
	err := db.view(func(tx *bbolt.Tx) error {
		return scanPrefix(tx, bCmpEvents, cat(prefix(campaignID), id8(contactID)), func(_, v []byte) error {
			var e campaign.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode campaign event: %w", err)
			}
			return fn(e)
		})
	})
	return db.fail("campaign_events", err)
}

// AddInbox implements campaign.ConversationStore.
func (db *DB) AddInbox(ctx context.Context, it campaign.InboxItem) error {
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		return putJSON(tx, bCmpInbox, cat(encTime(it.At), []byte(it.MessageID)), it)
	})
	return db.fail("add_inbox", err)
}

// Inbox implements campaign.ConversationStore.
func (db *DB) Inbox(ctx context.Context, limit int) ([]campaign.InboxItem, error) {
	var out []campaign.InboxItem
	err := db.view(func(tx *bbolt.Tx) error {
		cur := tx.Bucket(bCmpInbox).Cursor()
		for k, v := cur.Last(); k != nil && len(out) < limit; k, v = cur.Prev() {
			var it campaign.InboxItem
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("decode inbox item: %w", err)
			}
			out = append(out, it)
		}
		return nil
	})
	return out, db.fail("inbox", err)
}

// ForEachTexter calls fn for every texter, by ID (for simgate store copy).
func (db *DB) ForEachTexter(ctx context.Context, fn func(campaign.Texter) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := db.view(func(tx *bbolt.Tx) error {
		return forEachJSON(tx, bCmpTexters, func(_ []byte, t campaign.Texter) error { return fn(t) })
	})
	return db.fail("texters", err)
}
