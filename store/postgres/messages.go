package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"

	"github.com/simgate/simgate/gateway"
)

// Listing limits of ListMessages (the same as the bbolt store's).
const (
	DefaultLimit = gateway.DefaultPageLimit
	MaxLimit     = gateway.MaxPageLimit
)

// allStatuses lists every message status (ActiveMessages selects the
// non-terminal ones).
var allStatuses = []gateway.Status{
	gateway.StatusQueued, gateway.StatusSending, gateway.StatusSent, gateway.StatusDelivered,
	gateway.StatusFailed, gateway.StatusUnknown, gateway.StatusCancelled, gateway.StatusExpired,
	gateway.StatusReceived,
}

// nullable returns nil for "" (stored as NULL), else s.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullBytes returns nil for "" (stored as NULL), else s as bytes.
func nullBytes(s string) any {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// mrRow is one row of part_mrs: a submitted part.
type mrRow struct {
	modem string
	mr    int32
	ns    int64
	seq   int32
}

// mrRows derives the part_mrs rows of m (one per submitted part).
func mrRows(m *gateway.Message) []mrRow {
	var out []mrRow
	for _, p := range m.Parts {
		if p.Modem == "" || p.MR < 0 || p.SubmittedAt.IsZero() {
			continue
		}
		out = append(out, mrRow{p.Modem, int32(p.MR), nanos(p.SubmittedAt), int32(p.Seq)})
	}
	return out
}

// mrArrays splits rows into the column arrays unnest takes.
func mrArrays(rows []mrRow) (modems []string, mrs []int32, ns []int64, seqs []int32) {
	modems, mrs, ns, seqs = []string{}, []int32{}, []int64{}, []int32{}
	for _, r := range rows {
		modems, mrs, ns, seqs = append(modems, r.modem), append(mrs, r.mr), append(ns, r.ns), append(seqs, r.seq)
	}
	return
}

// prepare fills in a new message's id and times and encodes it.
func prepare(m *gateway.Message) ([]byte, error) {
	if m == nil {
		return nil, gateway.Invalid("message", "missing")
	}
	if m.ID == "" {
		m.ID = ulid.Make().String()
	}
	if len(m.ID) > maxIDLen {
		return nil, gateway.Invalid("id", "longer than %d bytes", maxIDLen)
	}
	now := time.Now().UTC()
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return raw, nil
}

// insertMessageSQL stores a message and its part_mrs rows in one statement.
const insertMessageSQL = `WITH m AS (
	INSERT INTO messages (id, created_ns, direction, status, contact, modem, agent, idem_key, data,
		q_waiting, q_ready_ns, q_expires_ns, q_priority, q_parts, q_from, q_pin)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $14, $15, $16, $17, $18, $19, $20) RETURNING id)
INSERT INTO part_mrs (modem, mr, submitted_ns, message_id, seq)
SELECT u.modem, u.mr, u.ns, m.id, u.seq FROM m, unnest($10::text[], $11::int[], $12::bigint[], $13::int[]) AS u(modem, mr, ns, seq)`

func insertMessageArgs(m *gateway.Message, raw []byte) []any {
	modems, mrs, ns, seqs := mrArrays(mrRows(m))
	q := queueColumns(m)
	return []any{m.ID, nanos(m.CreatedAt), string(m.Direction), string(m.Status), nullable(m.Contact), nullable(m.Modem),
		nullable(m.Agent), nullBytes(m.IdempotencyKey), raw, modems, mrs, ns, seqs,
		q.waiting, q.readyNS, q.expiresNS, q.priority, q.parts, q.from, q.pin}
}

// queueCols are the queue's columns of a message (derived from it).
type queueCols struct {
	waiting            bool
	readyNS, expiresNS int64
	priority, parts    int
	from, pin          string
}

// queueColumns derives the queue's columns of m: it waits while it is
// outbound, not final and has a part queued or assigned; it is pinned to
// the modem its earlier parts went out on.
func queueColumns(m *gateway.Message) queueCols {
	q := queueCols{priority: m.Priority, from: m.From, readyNS: max(nanos(m.SendAt), nanos(m.NextAttemptAt), 0)}
	if !m.ExpiresAt.IsZero() {
		q.expiresNS = nanos(m.ExpiresAt)
	}
	for _, p := range m.Parts {
		switch p.State {
		case gateway.PartQueued, gateway.PartAssigned:
			q.parts++
		case gateway.PartSubmitting, gateway.PartSubmitted, gateway.PartDelivered, gateway.PartUnknown:
			if q.pin == "" {
				q.pin = p.Modem
			}
		}
	}
	q.waiting = m.Direction == gateway.Outbound && !m.Status.Terminal() && q.parts > 0
	return q
}

// existsErr says which of m's unique values is taken.
func existsErr(m *gateway.Message, err error) error {
	if !isUnique(err) && !errors.Is(err, gateway.ErrExists) {
		return err
	}
	if strings.Contains(err.Error(), "idem_key") {
		return fmt.Errorf("postgres: idempotency key used by another message: %w", gateway.ErrExists)
	}
	return fmt.Errorf("postgres: message %s: %w", m.ID, gateway.ErrExists)
}

// CreateMessage stores m durably: when it returns nil, m is committed. A
// missing ID is filled with a new ULID and zero CreatedAt/UpdatedAt with the
// current time. If m.ID or m.IdempotencyKey is already stored (by any node)
// it returns an error wrapping gateway.ErrExists and stores nothing.
func (db *DB) CreateMessage(ctx context.Context, m *gateway.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	raw, err := prepare(m)
	if err != nil {
		return err
	}
	err = db.exec(ctx, insertMessageSQL, insertMessageArgs(m, raw)...)
	return db.fail("create_message", existsErr(m, err))
}

// exec runs one statement as its own transaction (one round trip), with
// write's context rules.
func (db *DB) exec(ctx context.Context, sql string, args ...any) error {
	_, err := db.execN(ctx, sql, args...)
	return err
}

// execN is exec returning the number of rows the statement affected.
func (db *DB) execN(ctx context.Context, sql string, args ...any) (int64, error) {
	leave, err := db.enter(ctx)
	if err != nil {
		return 0, err
	}
	defer leave()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), db.writeTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		tag, err := db.pool.Exec(wctx, sql, args...)
		if attempt < 5 && retryable(err) {
			continue
		}
		return tag.RowsAffected(), mapErr(err)
	}
}

// GetMessage returns the message with id, or an error wrapping gateway.ErrNotFound.
func (db *DB) GetMessage(ctx context.Context, id string) (*gateway.Message, error) {
	var m *gateway.Message
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		var err error
		m, _, err = getMessage(ctx, q, `SELECT data, version FROM messages WHERE id = $1`, id)
		return err
	})
	if errors.Is(err, gateway.ErrNotFound) {
		err = fmt.Errorf("postgres: message %s: %w", id, gateway.ErrNotFound)
	}
	return m, db.fail("get_message", err)
}

func getMessage(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, sql string, arg any) (*gateway.Message, int64, error) {
	var (
		raw     []byte
		version int64
	)
	if err := q.QueryRow(ctx, sql, arg).Scan(&raw, &version); err != nil {
		return nil, 0, mapErr(err)
	}
	m, err := decodeMessage(raw)
	return m, version, err
}

func decodeMessage(raw []byte) (*gateway.Message, error) {
	var m gateway.Message
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	return &m, nil
}

// MessageByIdempotencyKey returns the message created with key, or an error
// wrapping gateway.ErrNotFound.
func (db *DB) MessageByIdempotencyKey(ctx context.Context, key string) (*gateway.Message, error) {
	var m *gateway.Message
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		var err error
		m, _, err = getMessage(ctx, q, `SELECT data, version FROM messages WHERE idem_key = $1`, []byte(key))
		return err
	})
	if errors.Is(err, gateway.ErrNotFound) {
		err = fmt.Errorf("postgres: idempotency key: %w", gateway.ErrNotFound)
	}
	return m, db.fail("message_by_idempotency_key", err)
}

// updateMessageSQL writes an updated message if nobody else has since it
// was read (version), moving its part_mrs rows: rows the new message lacks
// are deleted, new ones inserted (the two sets are disjoint).
const updateMessageSQL = `WITH u AS (
	UPDATE messages SET direction = $3, status = $4, contact = $5, modem = $6, agent = $7, idem_key = $8, data = $9, version = version + 1,
		q_waiting = $15, q_ready_ns = $16, q_expires_ns = $17, q_priority = $18, q_parts = $19, q_from = $20, q_pin = $21
	WHERE id = $1 AND version = $2 RETURNING id),
d AS (
	DELETE FROM part_mrs p USING u WHERE p.message_id = u.id AND $14
	AND (p.modem, p.mr, p.submitted_ns, p.seq) NOT IN (SELECT * FROM unnest($10::text[], $11::int[], $12::bigint[], $13::int[]))),
i AS (
	INSERT INTO part_mrs (modem, mr, submitted_ns, message_id, seq)
	SELECT n.modem, n.mr, n.ns, u.id, n.seq FROM u, unnest($10::text[], $11::int[], $12::bigint[], $13::int[]) AS n(modem, mr, ns, seq)
	WHERE $14
	ON CONFLICT DO NOTHING)
SELECT count(*) FROM u`

// UpdateMessage reads the message id, calls fn on a copy and, if fn returns
// nil, stores the result (and moves its index rows) in one committed write;
// it returns the stored message. fn's error is returned as is and nothing
// is written. If fn leaves UpdatedAt unchanged it is set to now.
//
// The write is optimistic: it succeeds only if no other writer (on any
// node) changed the message since it was read; otherwise the message is
// read again and fn runs again. So fn must not block, must not call the
// store, and must be a pure function of the message it is given. fn may
// not change the message's ID.
func (db *DB) UpdateMessage(ctx context.Context, id string, fn func(*gateway.Message) error) (*gateway.Message, error) {
	leave, err := db.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), db.writeTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := wctx.Err(); err != nil {
				return nil, db.fail("update_message", err)
			}
		}
		old, version, err := getMessage(wctx, db.pool, `SELECT data, version FROM messages WHERE id = $1`, id)
		if errors.Is(err, gateway.ErrNotFound) {
			return nil, fmt.Errorf("postgres: message %s: %w", id, gateway.ErrNotFound)
		}
		if err != nil {
			return nil, db.fail("update_message", err)
		}
		m := old.Clone()
		if err := fn(m); err != nil {
			return nil, err
		}
		if m.ID != old.ID {
			return nil, fmt.Errorf("postgres: update message %s: the id cannot change", id)
		}
		if m.UpdatedAt.Equal(old.UpdatedAt) {
			m.UpdatedAt = time.Now().UTC()
		}
		raw, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("encode message: %w", err)
		}
		var n int
		err = db.pool.QueryRow(wctx, updateMessageSQL, updateMessageArgs(id, version, m, raw, old)...).Scan(&n)
		if err != nil {
			return nil, db.fail("update_message", existsErr(m, mapErr(err)))
		}
		if n == 1 {
			return m, nil
		}
		// Someone else updated it meanwhile: read it again.
	}
}

// updateMessageArgs are the arguments of updateMessageSQL storing m (raw)
// over old, read at version.
func updateMessageArgs(id string, version int64, m *gateway.Message, raw []byte, old *gateway.Message) []any {
	newRows := mrRows(m)
	changed := !slices.Equal(mrRows(old), newRows)
	modems, mrs, ns, seqs := mrArrays(newRows)
	q := queueColumns(m)
	return []any{id, version, string(m.Direction), string(m.Status), nullable(m.Contact),
		nullable(m.Modem), nullable(m.Agent), nullBytes(m.IdempotencyKey), raw, modems, mrs, ns, seqs, changed,
		q.waiting, q.readyNS, q.expiresNS, q.priority, q.parts, q.from, q.pin}
}

// ListMessages lists the messages matching f, newest first (oldest first if
// f.Ascending), a page at a time, ordered by (CreatedAt, ID). A malformed
// cursor, or one from a listing in the other order, gives a
// *gateway.ValidationError for field "cursor".
func (db *DB) ListMessages(ctx context.Context, f gateway.MessageFilter) (gateway.MessagePage, error) {
	var page gateway.MessagePage
	if err := ctx.Err(); err != nil {
		return page, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	var cur *cursor
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor)
		if err != nil {
			return page, err
		}
		if c.asc != f.Ascending {
			return page, gateway.Invalid("cursor", "belongs to a listing in the other order")
		}
		cur = &c
	}
	var (
		where []string
		args  []any
	)
	cond := func(sql string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(sql, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Direction != "" {
		cond("direction = ?", string(f.Direction))
	}
	if f.Status != "" {
		cond("status = ?", string(f.Status))
	}
	if f.Contact != "" {
		cond("contact = ?", f.Contact)
	}
	if f.Modem != "" {
		cond("modem = ?", f.Modem)
	}
	if f.Agent != "" {
		cond("agent = ?", f.Agent)
	}
	if !f.Since.IsZero() {
		cond("created_ns >= ?", nanos(f.Since))
	}
	if !f.Until.IsZero() {
		cond("created_ns < ?", nanos(f.Until))
	}
	order := "DESC"
	if f.Ascending {
		order = "ASC"
	}
	if cur != nil {
		args = append(args, cur.ns, cur.id)
		op := "<"
		if f.Ascending {
			op = ">"
		}
		where = append(where, fmt.Sprintf("(created_ns, id) %s ($%d, $%d)", op, len(args)-1, len(args)))
	}
	sql := "SELECT id, created_ns, data FROM messages"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limit+1)
	sql += fmt.Sprintf(" ORDER BY created_ns %s, id %s LIMIT $%d", order, order, len(args))
	var lastNS int64
	var lastID string
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id  string
				ns  int64
				raw []byte
			)
			if err := rows.Scan(&id, &ns, &raw); err != nil {
				return err
			}
			if len(page.Messages) == limit {
				page.Next = encodeCursor(cursor{asc: f.Ascending, ns: lastNS, id: lastID})
				break
			}
			m, err := decodeMessage(raw)
			if err != nil {
				return err
			}
			page.Messages = append(page.Messages, m)
			lastNS, lastID = ns, id
		}
		return rows.Err()
	})
	if err != nil {
		return gateway.MessagePage{}, db.fail("list_messages", err)
	}
	return page, nil
}

// activeChunk is how many messages ActiveMessages loads per query.
const activeChunk = 256

// ActiveMessages calls fn for every outbound message whose status is not
// terminal, oldest first within each status. It reads the ids first (one
// query over the status index), then loads the messages in chunks and
// calls fn outside any query, so fn may call the store. A message that has
// become terminal or disappeared by the time its chunk is loaded is
// skipped; each message is seen at most once. fn's error stops the walk.
func (db *DB) ActiveMessages(ctx context.Context, fn func(*gateway.Message) error) error {
	var active []string
	for _, s := range allStatuses {
		if !s.Terminal() {
			active = append(active, string(s))
		}
	}
	var ids []string
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		rows, err := q.Query(ctx, `SELECT id FROM messages WHERE status = ANY($1) AND direction = $2 ORDER BY status, created_ns, id`,
			active, string(gateway.Outbound))
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return db.fail("active_messages", err)
	}
	for len(ids) > 0 {
		n := min(len(ids), activeChunk)
		chunk := ids[:n]
		ids = ids[n:]
		byID := make(map[string]*gateway.Message, n)
		err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
			rows, err := q.Query(ctx, `SELECT data FROM messages WHERE id = ANY($1)`, chunk)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var raw []byte
				if err := rows.Scan(&raw); err != nil {
					return err
				}
				m, err := decodeMessage(raw)
				if err != nil {
					return err
				}
				if m.Direction == gateway.Outbound && !m.Status.Terminal() {
					byID[m.ID] = m
				}
			}
			return rows.Err()
		})
		if err != nil {
			return db.fail("active_messages", err)
		}
		for _, id := range chunk {
			m, ok := byID[id]
			if !ok {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(m); err != nil {
				return err
			}
		}
	}
	return nil
}

// PartByMR finds the part most recently submitted on modem with message
// reference mr at or after since. It returns an error wrapping
// gateway.ErrNotFound when there is none.
func (db *DB) PartByMR(ctx context.Context, modem string, mr int, since time.Time) (string, int, error) {
	var (
		id  string
		seq int32
		ns  int64
	)
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		return q.QueryRow(ctx, `SELECT message_id, seq, submitted_ns FROM part_mrs WHERE modem = $1 AND mr = $2
			ORDER BY submitted_ns DESC, message_id DESC, seq DESC LIMIT 1`, modem, mr).Scan(&id, &seq, &ns)
	})
	if errors.Is(err, gateway.ErrNotFound) || (err == nil && !since.IsZero() && ns < nanos(since)) {
		return "", 0, fmt.Errorf("postgres: part on %s with mr %d: %w", modem, mr, gateway.ErrNotFound)
	}
	if err != nil {
		return "", 0, db.fail("part_by_mr", err)
	}
	return id, int(seq), nil
}

// SaveUnmatchedReport keeps a status report that matched no part, durably.
func (db *DB) SaveUnmatchedReport(ctx context.Context, r gateway.StatusReport) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.Received.IsZero() {
		r.Received = time.Now().UTC()
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return db.fail("save_unmatched_report", db.exec(ctx,
		`INSERT INTO unmatched_reports (received_ns, data) VALUES ($1, $2)`, nanos(r.Received), raw))
}

// UnmatchedReports returns up to limit (default 100) kept unmatched status
// reports, oldest first, and how many are kept in all.
func (db *DB) UnmatchedReports(ctx context.Context, limit int) ([]gateway.StatusReport, int, error) {
	if limit <= 0 {
		limit = 100
	}
	var (
		out []gateway.StatusReport
		n   int
	)
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		if err := q.QueryRow(ctx, `SELECT count(*) FROM unmatched_reports`).Scan(&n); err != nil {
			return err
		}
		var err error
		out, err = queryJSON[gateway.StatusReport](ctx, q, `SELECT data FROM unmatched_reports ORDER BY received_ns, seq LIMIT $1`, limit)
		return err
	})
	if err != nil {
		return nil, 0, db.fail("unmatched_reports", err)
	}
	return out, n, nil
}

// CountByStatus counts messages per status (one aggregate over the status index).
func (db *DB) CountByStatus(ctx context.Context) (map[gateway.Status]int, error) {
	out := map[gateway.Status]int{}
	err := db.read(ctx, func(ctx context.Context, q *pgxpool.Pool) error {
		rows, err := q.Query(ctx, `SELECT status, count(*) FROM messages GROUP BY status`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				s string
				n int
			)
			if err := rows.Scan(&s, &n); err != nil {
				return err
			}
			out[gateway.Status(s)] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, db.fail("count_by_status", err)
	}
	return out, nil
}

// queryJSON decodes the one JSON column of every row of sql into a T.
func queryJSON[T any](ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) {
		var (
			raw []byte
			v   T
		)
		if err := r.Scan(&raw); err != nil {
			return v, err
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return v, fmt.Errorf("decode %T: %w", v, err)
		}
		return v, nil
	})
}
