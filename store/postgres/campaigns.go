package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/campaign"
)

var _ campaign.Store = (*DB)(nil)

// P2P campaigns (migrations/0004_campaigns.sql): each record is the bbolt
// store's JSON; the index columns beside it are derived from it.

// eachJSON calls fn with every row's one JSON column decoded into a T,
// streaming (one statement: one snapshot).
func eachJSON[T any](ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, fn func(T) error, sql string, args ...any) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			raw []byte
			v   T
		)
		if err := rows.Scan(&raw); err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("decode %T: %w", v, err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return rows.Err()
}

// encode marshals a record; a failure is the write's own (nothing written).
func encode(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, reject(fmt.Errorf("encode %T: %w", v, err))
	}
	return raw, nil
}

// CreateCampaign implements campaign.CampaignStore.
func (db *DB) CreateCampaign(ctx context.Context, c *campaign.Campaign) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	err = db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO cmp_campaigns (id, created_ns, data) VALUES ($1, $2, $3)`, c.ID, nanos(c.CreatedAt), raw)
		return err
	})
	if isExists(err) {
		err = fmt.Errorf("postgres: campaign %s: %w", c.ID, gateway.ErrExists)
	}
	return db.fail("create_campaign", err)
}

// Campaign implements campaign.CampaignStore.
func (db *DB) Campaign(ctx context.Context, id string) (*campaign.Campaign, error) {
	var c campaign.Campaign
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return getJSON(ctx, q, &c, `SELECT data FROM cmp_campaigns WHERE id = $1`, id)
	})
	if notFound(err) {
		return nil, errNotFound("campaign")
	}
	if err != nil {
		return nil, db.fail("campaign", err)
	}
	return &c, nil
}

// Campaigns implements campaign.CampaignStore.
func (db *DB) Campaigns(ctx context.Context) ([]*campaign.Campaign, error) {
	var out []*campaign.Campaign
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return eachJSON(ctx, q, func(c campaign.Campaign) error {
			out = append(out, &c)
			return nil
		}, `SELECT data FROM cmp_campaigns ORDER BY created_ns, id`)
	})
	if err != nil {
		return nil, db.fail("campaigns", err)
	}
	return out, nil
}

// UpdateCampaign implements campaign.CampaignStore.
func (db *DB) UpdateCampaign(ctx context.Context, id string, fn func(*campaign.Campaign) error) (*campaign.Campaign, error) {
	var out *campaign.Campaign
	err := db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var c campaign.Campaign
		err := getJSON(ctx, tx, &c, `SELECT data FROM cmp_campaigns WHERE id = $1 FOR UPDATE`, id)
		if notFound(err) {
			return reject(errNotFound("campaign"))
		}
		if err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return reject(err)
		}
		c.ID = id
		raw, err := encode(&c)
		if err != nil {
			return err
		}
		out = &c
		_, err = tx.Exec(ctx, `UPDATE cmp_campaigns SET created_ns = $2, data = $3 WHERE id = $1`, id, nanos(c.CreatedAt), raw)
		return err
	})
	if err != nil {
		return nil, db.fail("update_campaign", err)
	}
	return out, nil
}

// PutTexter implements campaign.CampaignStore.
func (db *DB) PutTexter(ctx context.Context, t campaign.Texter) error {
	raw, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return db.fail("put_texter", db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO cmp_texters (id, data) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET data = excluded.data`, t.ID, raw)
		return err
	}))
}

// Texter implements campaign.CampaignStore.
func (db *DB) Texter(ctx context.Context, id string) (campaign.Texter, error) {
	var t campaign.Texter
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return getJSON(ctx, q, &t, `SELECT data FROM cmp_texters WHERE id = $1`, id)
	})
	if notFound(err) {
		return t, errNotFound("texter")
	}
	return t, db.fail("texter", err)
}

// PutImport implements campaign.CampaignStore.
func (db *DB) PutImport(ctx context.Context, r *campaign.ImportReport) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return db.fail("put_import", db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO cmp_imports (campaign, id, started_ns, data) VALUES ($1, $2, $3, $4)
			ON CONFLICT (campaign, id) DO UPDATE SET started_ns = excluded.started_ns, data = excluded.data`,
			r.CampaignID, r.ID, nanos(r.StartedAt), raw)
		return err
	}))
}

// Import implements campaign.CampaignStore.
func (db *DB) Import(ctx context.Context, campaignID, id string) (*campaign.ImportReport, error) {
	var r campaign.ImportReport
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return getJSON(ctx, q, &r, `SELECT data FROM cmp_imports WHERE campaign = $1 AND id = $2`, campaignID, id)
	})
	if notFound(err) {
		return nil, errNotFound("import")
	}
	if err != nil {
		return nil, db.fail("import", err)
	}
	return &r, nil
}

// Imports implements campaign.CampaignStore.
func (db *DB) Imports(ctx context.Context, campaignID string) ([]*campaign.ImportReport, error) {
	var out []*campaign.ImportReport
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return eachJSON(ctx, q, func(r campaign.ImportReport) error {
			out = append(out, &r)
			return nil
		}, `SELECT data FROM cmp_imports WHERE campaign = $1 ORDER BY started_ns, id`, campaignID)
	})
	if err != nil {
		return nil, db.fail("imports", err)
	}
	return out, nil
}

// AddRejects implements campaign.CampaignStore.
func (db *DB) AddRejects(ctx context.Context, campaignID, importID string, rows []campaign.Reject) error {
	if len(rows) == 0 {
		return ctx.Err()
	}
	lines := make([]int64, len(rows))
	datas := make([]string, len(rows))
	for i, r := range rows {
		raw, err := json.Marshal(r)
		if err != nil {
			return err
		}
		lines[i], datas[i] = int64(r.Line), string(raw)
	}
	return db.fail("add_rejects", db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		// A line given twice keeps the last (as bbolt's Put does).
		_, err := tx.Exec(ctx, `INSERT INTO cmp_rejects (campaign, import, line, data)
			SELECT DISTINCT ON (line) $1, $2, line, data::json FROM unnest($3::bigint[], $4::text[]) WITH ORDINALITY AS r(line, data, n)
			ORDER BY line, n DESC
			ON CONFLICT (campaign, import, line) DO UPDATE SET data = excluded.data`, campaignID, importID, lines, datas)
		return err
	}))
}

// Rejects implements campaign.CampaignStore.
func (db *DB) Rejects(ctx context.Context, campaignID, importID string, fn func(campaign.Reject) error) error {
	return db.fail("rejects", db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return eachJSON(ctx, q, fn, `SELECT data FROM cmp_rejects WHERE campaign = $1 AND import = $2 ORDER BY line`, campaignID, importID)
	}))
}

// putContactSQL writes a contact and its derived columns.
const putContactSQL = `INSERT INTO cmp_contacts (campaign, id, cell, status, texter, opted_out, data)
	VALUES ($1, $2, $3, $4, $5, $6, $7)`

// AddContacts implements campaign.ContactStore. The unique index on
// (campaign, cell) decides duplicates, also against concurrent imports.
func (db *DB) AddContacts(ctx context.Context, campaignID string, first int64, contacts []*campaign.Contact) ([]int64, error) {
	dups := make([]int64, len(contacts))
	ids := make([]int64, len(contacts))
	err := db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		clear(dups)
		clear(ids)
		var taken int64
		err := tx.QueryRow(ctx, `SELECT id FROM cmp_contacts WHERE campaign = $1 AND id >= $2 AND id < $3 ORDER BY id LIMIT 1`,
			campaignID, first, first+int64(len(contacts))).Scan(&taken)
		if err == nil {
			return reject(fmt.Errorf("postgres: contact %d: %w", taken, gateway.ErrExists))
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		next := first
		for i, c := range contacts {
			n := *c
			n.CampaignID, n.ID = campaignID, next
			raw, err := encode(&n)
			if err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, putContactSQL+` ON CONFLICT (campaign, cell) DO NOTHING`,
				campaignID, next, n.Cell, string(n.Status), n.Texter, n.OptedOut, raw)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				ids[i] = next
				next++
				continue
			}
			if err := tx.QueryRow(ctx, `SELECT id FROM cmp_contacts WHERE campaign = $1 AND cell = $2`, campaignID, n.Cell).Scan(&dups[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, db.fail("add_contacts", err)
	}
	for i, c := range contacts {
		if dups[i] != 0 {
			c.ID = 0
			continue
		}
		c.CampaignID, c.ID = campaignID, ids[i]
	}
	return dups, nil
}

// DeleteContactsFrom implements campaign.ContactStore.
func (db *DB) DeleteContactsFrom(ctx context.Context, campaignID string, from int64, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	var n int
	err := db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM cmp_contacts WHERE campaign = $1 AND id IN (
			SELECT id FROM cmp_contacts WHERE campaign = $1 AND id >= $2 ORDER BY id LIMIT $3)`, campaignID, from, limit)
		n = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, db.fail("delete_contacts", err)
	}
	return n, nil
}

// Contact implements campaign.ContactStore.
func (db *DB) Contact(ctx context.Context, campaignID string, id int64) (*campaign.Contact, error) {
	var c campaign.Contact
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return getJSON(ctx, q, &c, `SELECT data FROM cmp_contacts WHERE campaign = $1 AND id = $2`, campaignID, id)
	})
	if notFound(err) {
		return nil, errNotFound("contact")
	}
	if err != nil {
		return nil, db.fail("contact", err)
	}
	return &c, nil
}

// ContactByCell implements campaign.ContactStore.
func (db *DB) ContactByCell(ctx context.Context, campaignID, cell string) (*campaign.Contact, error) {
	var c campaign.Contact
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return getJSON(ctx, q, &c, `SELECT data FROM cmp_contacts WHERE campaign = $1 AND cell = $2`, campaignID, cell)
	})
	if notFound(err) {
		return nil, errNotFound("contact")
	}
	if err != nil {
		return nil, db.fail("contact_by_cell", err)
	}
	return &c, nil
}

// UpdateContact implements campaign.ContactStore.
func (db *DB) UpdateContact(ctx context.Context, campaignID string, id int64, fn func(*campaign.Contact) error) (*campaign.Contact, error) {
	var out *campaign.Contact
	err := db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		c, err := updateContactTx(ctx, tx, campaignID, id, fn)
		out = c
		return err
	})
	if err != nil {
		return nil, db.fail("update_contact", err)
	}
	return out, nil
}

// updateContactTx locks a contact, runs fn on a copy and stores it with
// its derived columns; identity and cell are fixed.
func updateContactTx(ctx context.Context, tx pgx.Tx, campaignID string, id int64, fn func(*campaign.Contact) error) (*campaign.Contact, error) {
	var old campaign.Contact
	err := getJSON(ctx, tx, &old, `SELECT data FROM cmp_contacts WHERE campaign = $1 AND id = $2 FOR UPDATE`, campaignID, id)
	if notFound(err) {
		return nil, reject(errNotFound("contact"))
	}
	if err != nil {
		return nil, err
	}
	c := old.Clone()
	if err := fn(c); err != nil {
		return nil, reject(err)
	}
	c.CampaignID, c.ID, c.Cell = campaignID, id, old.Cell
	raw, err := encode(c)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE cmp_contacts SET status = $3, texter = $4, opted_out = $5, data = $6 WHERE campaign = $1 AND id = $2`,
		campaignID, id, string(c.Status), c.Texter, c.OptedOut, raw); err != nil {
		return nil, err
	}
	return c, nil
}

// Contacts implements campaign.ContactStore.
func (db *DB) Contacts(ctx context.Context, campaignID string, f campaign.ContactFilter, fn func(*campaign.Contact) error) error {
	limit := int64(f.Limit)
	if limit <= 0 {
		limit = -1
	}
	return db.fail("contacts", db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return eachJSON(ctx, q, func(c campaign.Contact) error { return fn(&c) },
			`SELECT data FROM cmp_contacts WHERE campaign = $1 AND id > $2
			AND ($3 = '' OR texter = $3) AND ($4 = '' OR status = $4) AND (NOT $5 OR texter = '')
			ORDER BY id LIMIT CASE WHEN $6::bigint < 0 THEN NULL ELSE $6::bigint END`,
			campaignID, f.After, f.Texter, string(f.Status), f.Unassigned, limit)
	}))
}

// AssignContacts implements campaign.ContactStore. Rows another
// transaction has locked are skipped, so concurrent assigners (also on
// other nodes) get disjoint contacts.
func (db *DB) AssignContacts(ctx context.Context, campaignID, texter string, n int, before int64) ([]int64, error) {
	var ids []int64
	err := db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		ids = ids[:0]
		if n <= 0 {
			return nil
		}
		rows, err := tx.Query(ctx, `SELECT id FROM cmp_contacts
			WHERE campaign = $1 AND texter = '' AND status = 'needs_message' AND NOT opted_out AND ($2::bigint = 0 OR id < $2::bigint)
			ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED`, campaignID, before, n)
		if err != nil {
			return err
		}
		take, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, id := range take {
			if _, err := updateContactTx(ctx, tx, campaignID, id, func(c *campaign.Contact) error {
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
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		rows, err := q.Query(ctx, `SELECT campaign, id FROM cmp_contacts WHERE cell = $1`, cell)
		if err != nil {
			return err
		}
		var (
			cid string
			id  int64
		)
		_, err = pgx.ForEachRow(rows, []any{&cid, &id}, func() error {
			out[cid] = id
			return nil
		})
		return err
	})
	if err != nil {
		return nil, db.fail("campaigns_of_cell", err)
	}
	return out, nil
}

// CountContacts implements campaign.ContactStore.
func (db *DB) CountContacts(ctx context.Context, campaignID string) (campaign.ContactCounts, error) {
	cc := campaign.ContactCounts{ByStatus: map[campaign.Status]int{}, ByTexter: map[string]map[campaign.Status]int{}}
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		rows, err := q.Query(ctx, `SELECT status, texter, count(*),
			count(*) FILTER (WHERE texter = '' AND status = 'needs_message' AND NOT opted_out)
			FROM cmp_contacts WHERE campaign = $1 GROUP BY status, texter`, campaignID)
		if err != nil {
			return err
		}
		var (
			st, texter string
			n, free    int
		)
		_, err = pgx.ForEachRow(rows, []any{&st, &texter, &n, &free}, func() error {
			cc.Total += n
			cc.ByStatus[campaign.Status(st)] += n
			cc.Unassigned += free
			if texter != "" {
				m := cc.ByTexter[texter]
				if m == nil {
					m = map[campaign.Status]int{}
					cc.ByTexter[texter] = m
				}
				m[campaign.Status(st)] += n
			}
			return nil
		})
		return err
	})
	cc.OptedOut = cc.ByStatus[campaign.StatusOptedOut]
	return cc, db.fail("count_contacts", err)
}

// latestRef is a cmp_latest record (the bbolt store's JSON).
type latestRef struct {
	Campaign string    `json:"campaign"`
	Contact  int64     `json:"contact"`
	At       time.Time `json:"at"`
}

func putCampaignMessage(ctx context.Context, tx pgx.Tx, m *campaign.Message) error {
	raw, err := encode(m)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO cmp_messages (id, campaign, contact_id, data) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET campaign = excluded.campaign, contact_id = excluded.contact_id, data = excluded.data`,
		m.ID, m.CampaignID, m.ContactID, raw)
	return err
}

func appendEventsTx(ctx context.Context, tx pgx.Tx, events []campaign.Event) error {
	for _, e := range events {
		raw, err := encode(e)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO cmp_events (campaign, contact_id, at_ns, id, data) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT DO NOTHING`, e.CampaignID, e.ContactID, nanos(e.At), e.ID, raw); err != nil {
			return err
		}
	}
	return nil
}

// RecordSend implements campaign.ConversationStore: the contact update,
// the message, the latest-texted index and the events in one transaction
// (the contact's row lock orders concurrent first messages to it).
func (db *DB) RecordSend(ctx context.Context, m *campaign.Message, fn func(*campaign.Contact) error, events []campaign.Event) (*campaign.Contact, error) {
	var out *campaign.Contact
	err := db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		out = nil
		if fn != nil {
			c, err := updateContactTx(ctx, tx, m.CampaignID, m.ContactID, fn)
			if err != nil {
				return err
			}
			out = c
		}
		if err := putCampaignMessage(ctx, tx, m); err != nil {
			return err
		}
		if m.Direction == string(gateway.Outbound) {
			raw, err := encode(latestRef{Campaign: m.CampaignID, Contact: m.ContactID, At: m.CreatedAt})
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO cmp_latest (cell, data) VALUES ($1, $2)
				ON CONFLICT (cell) DO UPDATE SET data = excluded.data`, m.Contact, raw); err != nil {
				return err
			}
		}
		return appendEventsTx(ctx, tx, events)
	})
	if err != nil {
		return nil, db.fail("record_send", err)
	}
	return out, nil
}

// UpdateCampaignMessage implements campaign.ConversationStore.
func (db *DB) UpdateCampaignMessage(ctx context.Context, id string, fn func(*campaign.Message) error) (*campaign.Message, error) {
	var out *campaign.Message
	err := db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var (
			m   campaign.Message
			cid string
			raw []byte
		)
		err := tx.QueryRow(ctx, `SELECT campaign, data FROM cmp_messages WHERE id = $1 FOR UPDATE`, id).Scan(&cid, &raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return reject(errNotFound("campaign message"))
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("decode campaign message: %w", err)
		}
		if err := fn(&m); err != nil {
			return reject(err)
		}
		m.ID, m.CampaignID = id, cid
		if raw, err = encode(&m); err != nil {
			return err
		}
		out = &m
		_, err = tx.Exec(ctx, `UPDATE cmp_messages SET contact_id = $2, data = $3 WHERE id = $1`, id, m.ContactID, raw)
		return err
	})
	if err != nil {
		return nil, db.fail("update_campaign_message", err)
	}
	return out, nil
}

// CampaignMessage implements campaign.ConversationStore.
func (db *DB) CampaignMessage(ctx context.Context, id string) (*campaign.Message, error) {
	var m campaign.Message
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return getJSON(ctx, q, &m, `SELECT data FROM cmp_messages WHERE id = $1`, id)
	})
	if notFound(err) {
		return nil, errNotFound("campaign message")
	}
	if err != nil {
		return nil, db.fail("campaign_message", err)
	}
	return &m, nil
}

// CampaignMessages implements campaign.ConversationStore.
func (db *DB) CampaignMessages(ctx context.Context, campaignID string, contactID int64, fn func(*campaign.Message) error) error {
	return db.fail("campaign_messages", db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		each := func(m campaign.Message) error { return fn(&m) }
		if contactID == 0 {
			return eachJSON(ctx, q, each, `SELECT data FROM cmp_messages WHERE campaign = $1 ORDER BY id`, campaignID)
		}
		return eachJSON(ctx, q, each, `SELECT data FROM cmp_messages WHERE campaign = $1 AND contact_id = $2 ORDER BY id`, campaignID, contactID)
	}))
}

// LatestTexted implements campaign.ConversationStore.
func (db *DB) LatestTexted(ctx context.Context, cell string) (string, int64, time.Time, error) {
	var r latestRef
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return getJSON(ctx, q, &r, `SELECT data FROM cmp_latest WHERE cell = $1`, cell)
	})
	if notFound(err) {
		return "", 0, time.Time{}, errNotFound("latest campaign")
	}
	return r.Campaign, r.Contact, r.At, db.fail("latest_texted", err)
}

// AppendEvents implements campaign.ConversationStore.
func (db *DB) AppendEvents(ctx context.Context, events []campaign.Event) error {
	if len(events) == 0 {
		return nil
	}
	return db.fail("append_campaign_events", db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		return appendEventsTx(ctx, tx, events)
	}))
}

// CampaignEvents implements campaign.ConversationStore.
func (db *DB) CampaignEvents(ctx context.Context, campaignID string, contactID int64, fn func(campaign.Event) error) error {
	return db.fail("campaign_events", db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return eachJSON(ctx, q, fn, `SELECT data FROM cmp_events WHERE campaign = $1 AND contact_id = $2 ORDER BY at_ns, id`, campaignID, contactID)
	}))
}

// AddInbox implements campaign.ConversationStore.
func (db *DB) AddInbox(ctx context.Context, it campaign.InboxItem) error {
	raw, err := json.Marshal(it)
	if err != nil {
		return err
	}
	return db.fail("add_inbox", db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO cmp_inbox (at_ns, message_id, data) VALUES ($1, $2, $3)
			ON CONFLICT (at_ns, message_id) DO UPDATE SET data = excluded.data`, nanos(it.At), it.MessageID, raw)
		return err
	}))
}

// Inbox implements campaign.ConversationStore.
func (db *DB) Inbox(ctx context.Context, limit int) ([]campaign.InboxItem, error) {
	var out []campaign.InboxItem
	if limit <= 0 {
		return out, ctx.Err()
	}
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return eachJSON(ctx, q, func(it campaign.InboxItem) error {
			out = append(out, it)
			return nil
		}, `SELECT data FROM cmp_inbox ORDER BY at_ns DESC, message_id DESC LIMIT $1`, limit)
	})
	return out, db.fail("inbox", err)
}

// ForEachTexter calls fn for every texter, by ID (for simgate store copy).
func (db *DB) ForEachTexter(ctx context.Context, fn func(campaign.Texter) error) error {
	return db.fail("texters", db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return eachJSON(ctx, q, fn, `SELECT data FROM cmp_texters ORDER BY id`)
	}))
}
