package postgres

import (
	"context"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simgate/simgate/gateway"
)

// stickyChunk is how many contacts QueueEntries looks up per query.
const stickyChunk = 1000

// QueueEntries calls fn with the queue entry (gateway.EntryOf) of every
// outbound message that has a part to send or in flight, oldest first,
// with its contact's sticky SIM. PostgreSQL keeps no separate entry: they
// are derived from the active messages (ActiveMessages) and the sticky
// table, all read before fn is first called. (A node of a shared queue
// never calls it: only a LocalQueue over this store does.)
func (db *DB) QueueEntries(ctx context.Context, fn func(gateway.QueueEntry) error) error {
	var es []gateway.QueueEntry
	err := db.ActiveMessages(ctx, func(m *gateway.Message) error {
		if e, ok := gateway.EntryOf(m); ok {
			es = append(es, e)
		}
		return nil
	})
	if err != nil {
		return err
	}
	contacts := make([]string, 0, len(es))
	for _, e := range es {
		contacts = append(contacts, e.Contact)
	}
	slices.Sort(contacts)
	contacts = slices.Compact(contacts)
	modems := map[string]string{}
	for len(contacts) > 0 {
		n := min(len(contacts), stickyChunk)
		chunk := contacts[:n]
		contacts = contacts[n:]
		err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
			rows, err := q.Query(ctx, `SELECT contact, modem FROM sticky WHERE contact = ANY($1)`, chunk)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var c, m string
				if err := rows.Scan(&c, &m); err != nil {
					return err
				}
				modems[c] = m
			}
			return rows.Err()
		})
		if err != nil {
			return db.fail("queue_entries", err)
		}
	}
	slices.SortFunc(es, func(a, b gateway.QueueEntry) int { return strings.Compare(a.ID, b.ID) })
	for _, e := range es {
		if err := ctx.Err(); err != nil {
			return err
		}
		e.Sticky = modems[e.Contact]
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}
