package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/simgate/simgate/gateway"
)

var _ gateway.Queue = (*Queue)(nil)

// QueueConfig configures a Queue.
type QueueConfig struct {
	// Node names this node; unique among the nodes sharing the database.
	Node string
	// LeaseTTL is how long a claim that has not started submitting, and a
	// node that stopped renewing its lease, hold their work (default 30s).
	// A node renews its lease every LeaseTTL/3.
	LeaseTTL time.Duration
	// OnUnknown hears the messages the reaper made unknown (their node
	// died while a part was submitting): the caller emits message.unknown.
	OnUnknown func([]*gateway.Message)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger (nil discards).
	Logger *slog.Logger
}

// Queue is gateway.Queue over PostgreSQL, shared by several nodes (see
// doc.go, "The queue"). NewQueue starts the node's lease renewal, the
// reaper of dead nodes and the LISTEN loop; Close stops them.
type Queue struct {
	db      *DB
	cfg     QueueConfig
	log     *slog.Logger
	channel string // NOTIFY channel of this schema

	mu   sync.Mutex
	wake map[string]chan struct{}
	mine map[string]string // modems that claimed through this node → their groups
	// versions holds, for each claim of this node that goes on, the row
	// version its last transition wrote (Submitting's one-statement path).
	versions map[string]int64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewQueue registers node cfg.Node and starts its background work.
func (db *DB) NewQueue(ctx context.Context, cfg QueueConfig) (*Queue, error) {
	if cfg.Node == "" {
		return nil, gateway.Invalid("node", "required")
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	q := &Queue{db: db, cfg: cfg, log: cfg.Logger, channel: "simgate_queue_" + db.schema,
		wake: map[string]chan struct{}{}, mine: map[string]string{}, versions: map[string]int64{}}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	if err := q.heartbeat(ctx); err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	q.cancel = cancel
	q.wg.Add(3)
	go q.leaseLoop(bg)
	go q.reapLoop(bg)
	go q.listenLoop(bg)
	return q, nil
}

// Close stops the node's background work (its lease then lapses unless
// another Queue of the same node renews it).
func (q *Queue) Close() error {
	q.cancel()
	q.wg.Wait()
	return nil
}

func (q *Queue) now() time.Time { return q.cfg.Now() }

func (q *Queue) ttl() int64 { return int64(q.cfg.LeaseTTL) }

// heartbeat renews this node's lease and clears the gone mark of its modems.
func (q *Queue) heartbeat(ctx context.Context) error {
	until := nanos(q.now()) + q.ttl()
	return q.db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO queue_nodes (node, until_ns) VALUES ($1, $2)
			ON CONFLICT (node) DO UPDATE SET until_ns = excluded.until_ns`, q.cfg.Node, until); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE queue_modems SET gone = false, reason = '' WHERE node = $1 AND gone`, q.cfg.Node)
		return err
	})
}

// leaseLoop renews the lease every LeaseTTL/3. It does nothing else: a
// reap may wait for the locks of a frozen node (until the server ends its
// idle transaction), and this node's own lease must not lapse meanwhile.
func (q *Queue) leaseLoop(ctx context.Context) {
	defer q.wg.Done()
	q.every(ctx, func() {
		if err := q.heartbeat(ctx); err != nil && ctx.Err() == nil {
			q.log.Warn("queue: renew node lease", "err", err)
		}
	})
}

// reapLoop reaps dead nodes every LeaseTTL/3.
func (q *Queue) reapLoop(ctx context.Context) {
	defer q.wg.Done()
	q.every(ctx, func() {
		if _, err := q.Reap(ctx); err != nil && ctx.Err() == nil {
			q.log.Warn("queue: reap dead nodes", "err", err)
		}
	})
}

// every runs fn every LeaseTTL/3 until ctx ends.
func (q *Queue) every(ctx context.Context, fn func()) {
	t := time.NewTicker(q.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}

// listenLoop LISTENs on the schema's channel and wakes the modems named in
// notifications ("" wakes every modem of this node).
func (q *Queue) listenLoop(ctx context.Context) {
	defer q.wg.Done()
	for ctx.Err() == nil {
		if err := q.listen(ctx); err != nil && ctx.Err() == nil {
			q.log.Warn("queue: listen", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (q *Queue) listen(ctx context.Context) error {
	c, err := q.db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := c.Hijack() // a LISTENing session is not returned to the pool
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{q.channel}.Sanitize()); err != nil {
		return err
	}
	q.pokeAll() // what was notified while not listening
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload == "" {
			q.pokeAll()
		} else {
			q.poke(n.Payload)
		}
	}
}

// Wake returns the channel that receives when a message may have become
// claimable by modem.
func (q *Queue) Wake(modem string) <-chan struct{} { return q.wakeChan(modem) }

func (q *Queue) wakeChan(modem string) chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	c, ok := q.wake[modem]
	if !ok {
		c = make(chan struct{}, 1)
		q.wake[modem] = c
	}
	return c
}

func (q *Queue) poke(modem string) {
	select {
	case q.wakeChan(modem) <- struct{}{}:
	default:
	}
}

func (q *Queue) pokeAll() {
	q.mu.Lock()
	cs := make([]chan struct{}, 0, len(q.wake))
	for _, c := range q.wake {
		cs = append(cs, c)
	}
	q.mu.Unlock()
	for _, c := range cs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// notify sends a wake-up for modem ("" = every modem) when tx commits.
func (q *Queue) notify(ctx context.Context, tx pgx.Tx, modem string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, q.channel, modem)
	return err
}

// Enqueue wakes the workers of every node: the message is already stored.
func (q *Queue) Enqueue(ctx context.Context, m *gateway.Message) error {
	if m == nil || !queueColumns(m).waiting {
		return nil
	}
	return q.db.exec(ctx, `SELECT pg_notify($1, '')`, q.channel)
}

// claimSQL selects and locks, skipping past what other claims hold, the
// best message $1 (groups $4) may claim now (see gateway.Queue): highest
// priority, then oldest, over the queue index. e is the contact's binding
// as the queue sees it — a live provisional binding by another claim, else
// the sticky one — and kind says how $1 may take the message:
//
//	pin    earlier parts went out through $1
//	own    the contact is bound to $1
//	new    the contact is unbound: $1 binds it ($5: budget and not
//	       draining; a From naming $1 needs only the budget, $6)
//	other  From rules the contact's SIM out: $1 texts it, the binding stays
//	move   the contact's SIM is gone: $1 takes the contact over ($5)
//
// $7 are ids this claim already passed over (a closed texting window, a
// binding taken meanwhile).
const claimSQL = `SELECT m.id, m.data, m.version, e.modem, e.provisional,
	CASE WHEN m.q_pin = $1 THEN 'pin' WHEN e.modem = $1 THEN 'own' WHEN e.modem = '' THEN 'new'
		WHEN NOT e.eligible THEN 'other' ELSE 'move' END
FROM messages m
CROSS JOIN LATERAL (
	SELECT coalesce(b.modem, s.modem, '') AS modem, b.modem IS NOT NULL AS provisional, coalesce(g.gone, false) AS gone,
		(m.q_from = '' OR m.q_from = coalesce(b.modem, s.modem) OR m.q_from = ANY(coalesce(g.groups, '{}'))) AS eligible
	FROM (SELECT 1) one
	LEFT JOIN queue_bindings b ON b.contact = m.contact AND b.until_ns >= $2 AND b.message_id <> m.id
	LEFT JOIN sticky s ON s.contact = m.contact
	LEFT JOIN queue_modems g ON g.modem = coalesce(b.modem, s.modem)) e
WHERE m.q_waiting AND m.q_ready_ns <= $2 AND (m.q_node = '' OR m.q_until_ns < $2)
	AND m.q_parts <= $3 AND (m.q_expires_ns = 0 OR m.q_expires_ns > $2)
	AND m.id <> ALL($7)
	AND (m.q_pin = $1 OR (m.q_pin = '' AND (m.q_from = '' OR m.q_from = $1 OR m.q_from = ANY($4)) AND (
		e.modem = $1
		OR (e.modem = '' AND ($5 OR (m.q_from = $1 AND $6)))
		OR (e.modem <> '' AND NOT e.eligible)
		OR (e.modem <> '' AND e.gone AND $5))))
	AND NOT (m.q_avoid = $1 AND m.q_avoid_until_ns > $2 AND e.modem <> $1)
ORDER BY m.q_priority DESC, m.created_ns, m.id
LIMIT 1
FOR UPDATE OF m SKIP LOCKED`

// claimTx begins a claim's transaction, its commit asynchronous, in one
// round trip.
var claimTx = pgx.TxOptions{BeginQuery: "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL synchronous_commit = off"}

// maxPassOver bounds the candidates one Claim passes over before it says
// there is nothing (the next Claim goes on from there).
const maxPassOver = 32

// Claim returns the next message r.Modem may send, assigned to it under a
// lease of this node, or (nil, nil). The candidate is chosen and locked by
// one statement (FOR UPDATE SKIP LOCKED over the queue index, so nodes
// claiming at once never wait for each other or take the same message) and
// assigned in the same transaction; one whose texting window is closed is
// put back until its window opens, and the next is taken.
func (q *Queue) Claim(ctx context.Context, r gateway.ClaimRequest) (*gateway.Claim, error) {
	now := r.Now
	if now.IsZero() {
		now = q.now()
	}
	if err := q.register(ctx, r.Modem, r.Groups); err != nil {
		return nil, err
	}
	newOK := r.NewContacts && !r.Draining
	groups := append([]string{}, r.Groups...)
	var (
		c       *gateway.Claim
		claimed int64 // the row version the claim wrote
	)
	// A claim need not wait for its commit to reach the disk: if the server
	// loses it, the message is queued again and nothing was sent, since
	// Submitting, which commits synchronously before any PDU is written,
	// flushes the claim with it (the log is written in order).
	err := q.db.writeTx(ctx, claimTx, func(ctx context.Context, tx pgx.Tx) error {
		c = nil
		passed := []string{}
		for len(passed) < maxPassOver {
			var (
				id, bound, kind string
				raw             []byte
				version         int64
				provisional     bool
			)
			err := tx.QueryRow(ctx, claimSQL, r.Modem, nanos(now), r.PartsLeft, groups, newOK, r.NewContacts, passed).
				Scan(&id, &raw, &version, &bound, &provisional, &kind)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			passed = append(passed, id)
			m, err := decodeMessage(raw)
			if err != nil {
				return err
			}
			if w := m.TextingWindow; w != nil && !w.Open(now) {
				next := w.NextOpen(now)
				if next.IsZero() {
					next = now.Add(time.Hour)
				}
				if _, err := tx.Exec(ctx, `UPDATE messages SET q_ready_ns = $2 WHERE id = $1`, id, nanos(next)); err != nil {
					return err
				}
				continue
			}
			old := m.Clone()
			claim := &gateway.Claim{Modem: r.Modem, SIM: r.SIM}
			switch kind {
			case "pin":
				claim.NewContact = bound != "" && bound != r.Modem
			case "own":
				// Its contact is this modem's (or another claim of this
				// modem bound it already).
			case "other":
				claim.NewContact = true // From rules the contact's SIM out; the binding stays
			case "new", "move":
				// A new contact for this modem: bind it provisionally.
				tag, err := tx.Exec(ctx, `INSERT INTO queue_bindings (contact, modem, message_id, until_ns) VALUES ($1, $2, $3, $4)
					ON CONFLICT (contact) DO UPDATE SET modem = excluded.modem, message_id = excluded.message_id, until_ns = excluded.until_ns
					WHERE queue_bindings.until_ns < $5 OR queue_bindings.message_id = excluded.message_id`,
					m.Contact, r.Modem, m.ID, nanos(now)+q.ttl(), nanos(now))
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					continue // another SIM bound the contact meanwhile
				}
				claim.NewContact = true
				if kind == "move" && !provisional {
					claim.MovedFrom = bound
				}
			}
			for i := range m.Parts {
				if p := &m.Parts[i]; p.State == gateway.PartQueued || p.State == gateway.PartAssigned {
					p.State, p.Modem, p.UpdatedAt = gateway.PartAssigned, r.Modem, now
				}
			}
			m.Modem, m.Status, m.UpdatedAt = r.Modem, gateway.RollUp(m.Parts), now
			until := nanos(now) + q.ttl()
			epoch, v, err := q.storeV(ctx, tx, m, old, version, q.cfg.Node, until, true, qextra{})
			if err != nil {
				return err
			}
			claimed = v
			claim.Message = m
			claim.Lease = gateway.Lease{Node: q.cfg.Node, Epoch: uint64(epoch), Until: time.Unix(0, until)}
			c = claim
			return nil
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim: %w", err)
	}
	if c != nil {
		q.track(c.Message.ID, claimed)
	}
	return c, nil
}

// register records that modem, in groups, claims through this node (it
// stops being gone).
func (q *Queue) register(ctx context.Context, modem string, groups []string) error {
	key := strings.Join(groups, "\x00")
	q.mu.Lock()
	known, ok := q.mine[modem]
	q.mu.Unlock()
	if ok && known == key {
		return nil
	}
	if groups == nil {
		groups = []string{}
	}
	err := q.db.exec(ctx, `INSERT INTO queue_modems (modem, node, groups) VALUES ($1, $2, $3)
		ON CONFLICT (modem) DO UPDATE SET node = excluded.node, groups = excluded.groups, gone = false, reason = ''`, modem, q.cfg.Node, groups)
	if err != nil {
		return fmt.Errorf("postgres: register modem %s: %w", modem, err)
	}
	q.mu.Lock()
	q.mine[modem] = key
	q.mu.Unlock()
	return nil
}

// qextra are the queue columns a transition sets beyond those derived from
// the message.
type qextra struct {
	readyNS    int64  // q_ready_ns instead of the derived one (0: derived)
	avoid      bool   // set q_avoid and q_avoid_until_ns
	avoidModem string // the modem a retry avoids
	avoidUntil int64
}

// store writes m over old (read at version, its row locked by tx) with its
// claim columns: node and until, the epoch bumped when claim, and x. It
// returns the message's epoch. Both statements go in one round trip.
func (q *Queue) store(ctx context.Context, tx pgx.Tx, m, old *gateway.Message, version int64, node string, until int64, claim bool, x qextra) (epoch int64, err error) {
	epoch, _, err = q.storeV(ctx, tx, m, old, version, node, until, claim, x)
	return epoch, err
}

// storeV is store also returning the row's new version.
func (q *Queue) storeV(ctx context.Context, tx pgx.Tx, m, old *gateway.Message, version int64, node string, until int64, claim bool, x qextra) (epoch, newVersion int64, err error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return 0, 0, err
	}
	bump := int64(0)
	if claim {
		bump = 1
	}
	args := updateMessageArgs(m.ID, version, m, raw, old)
	if x.readyNS > 0 {
		args[15] = x.readyNS // q_ready_ns
	}
	args = append(args, node, until, bump, x.avoid, x.avoidModem, x.avoidUntil)
	err = tx.QueryRow(ctx, queueUpdateSQL, args...).Scan(&epoch, &newVersion)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, fmt.Errorf("message %s changed under its row lock", m.ID)
	}
	if err != nil {
		return 0, 0, mapErr(err)
	}
	return epoch, newVersion, nil
}

// queueUpdateSQL is updateMessageSQL also setting the claim columns ($22
// node, $23 until, $24 epoch bump, $25-$27 avoid), so that a transition
// writes one row version, and returning the epoch and the new version (no
// row: the version did not match).
var queueUpdateSQL = func() string {
	s := updateMessageSQL
	for _, r := range [][2]string{
		{"WHERE id = $1 AND version = $2 RETURNING id)", `, q_node = $22, q_until_ns = $23, q_epoch = q_epoch + $24,
		q_avoid = CASE WHEN $25 THEN $26 ELSE q_avoid END,
		q_avoid_until_ns = CASE WHEN $25 THEN $27::bigint ELSE q_avoid_until_ns END
	WHERE id = $1 AND version = $2 RETURNING id, q_epoch, version)`},
		{"SELECT count(*) FROM u", "SELECT q_epoch, version FROM u"},
	} {
		if !strings.Contains(s, r[0]) {
			panic("postgres: updateMessageSQL changed; queueUpdateSQL needs " + r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	return s
}()

// track records the row version c's last transition wrote while c goes
// on, and forgets it when c ends (version 0).
func (q *Queue) track(id string, version int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if version == 0 {
		delete(q.versions, id)
	} else {
		q.versions[id] = version
	}
}

// held locks c's message and checks that c's lease is still its current
// one (node and epoch, and unless inFlight, not lapsed).
func (q *Queue) held(ctx context.Context, tx pgx.Tx, c *gateway.Claim, inFlight bool) (*gateway.Message, int64, error) {
	var (
		raw          []byte
		version      int64
		node         string
		epoch, until int64
	)
	err := tx.QueryRow(ctx, `SELECT data, version, q_node, q_epoch, q_until_ns FROM messages WHERE id = $1 FOR UPDATE`, c.Message.ID).
		Scan(&raw, &version, &node, &epoch, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, reject(gateway.ErrClaimLost)
	}
	if err != nil {
		return nil, 0, err
	}
	if node != c.Lease.Node || uint64(epoch) != c.Lease.Epoch || (!inFlight && until < nanos(q.now())) {
		return nil, 0, reject(gateway.ErrClaimLost)
	}
	m, err := decodeMessage(raw)
	return m, version, err
}

// transition runs fn on c's message under c's lease and stores the result;
// keep says whether the claim goes on (and its lease until when).
func (q *Queue) transition(ctx context.Context, c *gateway.Claim, inFlight bool,
	fn func(ctx context.Context, tx pgx.Tx, m *gateway.Message, x *qextra) (keep bool, until int64, err error)) (*gateway.Message, error) {
	var (
		out  *gateway.Message
		next int64 // the row version written while the claim goes on
	)
	err := q.db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		next = 0
		m, version, err := q.held(ctx, tx, c, inFlight)
		if err != nil {
			return err
		}
		old := m.Clone()
		var x qextra
		keep, until, err := fn(ctx, tx, m, &x)
		if err != nil {
			return err
		}
		node := ""
		if keep {
			node = c.Lease.Node
		} else {
			until = 0
		}
		_, v, err := q.storeV(ctx, tx, m, old, version, node, until, false, x)
		if err != nil {
			return err
		}
		if keep {
			next = v
		}
		out = m
		return nil
	})
	q.track(c.Message.ID, next) // forgotten when the claim ends or failed
	if err != nil {
		return nil, err
	}
	c.Message = out
	return out, nil
}

// Submitting marks part seq submitting. From now on the claim holds until
// its node dies (the PDU may be on the wire): a lapsed node's submitting
// parts become unknown, never resent.
//
// It is the last step before the modem's next PDU, so it takes one
// statement when it can: the row is written only if it is still the
// version this claim's last transition wrote and the lease still holds
// (node, epoch, not lapsed), which is all the full transition checks.
// Anything else (another writer touched the row, the claim was lost) takes
// the full transition, which decides.
func (q *Queue) Submitting(ctx context.Context, c *gateway.Claim, seq int) error {
	now := q.now()
	mark := func(m *gateway.Message) bool {
		i := seq - 1
		if m.Status.Terminal() || i < 0 || i >= len(m.Parts) || m.Parts[i].State != gateway.PartAssigned {
			return false
		}
		p := &m.Parts[i]
		p.State, p.Modem, p.UpdatedAt = gateway.PartSubmitting, c.Modem, now
		p.Attempts++
		m.Status, m.UpdatedAt = gateway.RollUp(m.Parts), now
		return true
	}
	if ok, err := q.submittingFast(ctx, c, now, mark); ok || err != nil {
		return err
	}
	_, err := q.transition(ctx, c, false, func(_ context.Context, _ pgx.Tx, m *gateway.Message, _ *qextra) (bool, int64, error) {
		if !mark(m) {
			return false, 0, reject(gateway.ErrClaimLost)
		}
		return true, math.MaxInt64, nil
	})
	return err
}

// submittingSQL writes Submitting's change in one statement, if the row is
// as this claim last wrote it and its lease holds.
const submittingSQL = `UPDATE messages SET status = $3, modem = $4, data = $5, version = version + 1,
	q_waiting = $6, q_ready_ns = $7, q_parts = $8, q_pin = $9, q_until_ns = $10
	WHERE id = $1 AND version = $2 AND q_node = $11 AND q_epoch = $12 AND q_until_ns >= $13
	RETURNING version`

// submittingFast is Submitting's one-statement path; false (with a nil
// error) leaves the decision to the full transition.
func (q *Queue) submittingFast(ctx context.Context, c *gateway.Claim, now time.Time, mark func(*gateway.Message) bool) (bool, error) {
	q.mu.Lock()
	version, ok := q.versions[c.Message.ID]
	q.mu.Unlock()
	if !ok || c.Message == nil {
		return false, nil
	}
	m := c.Message.Clone()
	if !mark(m) || !slices.Equal(mrRows(c.Message), mrRows(m)) {
		return false, nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return false, err
	}
	leave, err := q.db.enter(ctx)
	if err != nil {
		return false, err
	}
	defer leave()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.db.writeTimeout)
	defer cancel()
	qc := queueColumns(m)
	var next int64
	err = q.db.pool.QueryRow(wctx, submittingSQL, m.ID, version, string(m.Status), nullable(m.Modem), raw,
		qc.waiting, qc.readyNS, qc.parts, qc.pin, int64(math.MaxInt64),
		c.Lease.Node, int64(c.Lease.Epoch), nanos(now)).Scan(&next)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		// Not known to be written: the full transition reads the row
		// again and decides.
		return false, nil
	}
	q.track(m.ID, next)
	c.Message = m
	return true, nil
}

// Submitted records +CMGS success for part seq; the first part submitted
// makes the claim's provisional binding durable (with a recorded move).
func (q *Queue) Submitted(ctx context.Context, c *gateway.Claim, seq, mr int, at time.Time) (*gateway.Message, error) {
	return q.transition(ctx, c, true, func(ctx context.Context, tx pgx.Tx, m *gateway.Message, x *qextra) (bool, int64, error) {
		i := seq - 1
		if i < 0 || i >= len(m.Parts) {
			return false, 0, reject(gateway.ErrNotFound)
		}
		p := &m.Parts[i]
		p.State, p.MR, p.SubmittedAt, p.UpdatedAt = gateway.PartSubmitted, mr, at, at
		p.ErrorCode, p.ErrorClass, p.Error = 0, "", ""
		m.NextAttemptAt = time.Time{}
		m.Status, m.UpdatedAt = gateway.RollUp(m.Parts), at
		if err := q.persistBinding(ctx, tx, c, m, at); err != nil {
			return false, 0, err
		}
		return pendingParts(m) > 0, math.MaxInt64, nil // later parts go out on this SIM
	})
}

// persistBinding makes the claim's provisional binding of m's contact
// durable in the sticky table (recording the move from an earlier SIM).
func (q *Queue) persistBinding(ctx context.Context, tx pgx.Tx, c *gateway.Claim, m *gateway.Message, at time.Time) error {
	tag, err := tx.Exec(ctx, `DELETE FROM queue_bindings WHERE contact = $1 AND modem = $2`, m.Contact, c.Modem)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	var old gateway.Sticky
	err = getJSON(ctx, tx, &old, `SELECT data FROM sticky WHERE contact = $1 FOR UPDATE`, m.Contact)
	found := err == nil
	if err != nil && !notFound(err) {
		return err
	}
	s := gateway.Sticky{Modem: c.Modem, SIM: c.SIM, Since: at}
	if found {
		if old.Modem == c.Modem && old.SIM == c.SIM {
			return nil
		}
		if old.Modem == c.Modem {
			s.Since, s.Moves = old.Since, old.Moves // the same SIM, now known
		}
	}
	if found && old.Modem != c.Modem {
		reason := "rebound"
		if c.MovedFrom != "" {
			reason = "modem " + c.MovedFrom + " unavailable"
		}
		s.Moves = append(old.Moves, gateway.StickyMove{From: old.Modem, To: c.Modem, At: at, Reason: reason})
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO sticky (contact, modem, sim, data) VALUES ($1, $2, $4, $3)
		ON CONFLICT (contact) DO UPDATE SET modem = excluded.modem, sim = excluded.sim, data = excluded.data`, m.Contact, c.Modem, raw, c.SIM)
	return err
}

// dropBinding forgets the claim's provisional binding (nothing went out).
func dropBinding(ctx context.Context, tx pgx.Tx, m *gateway.Message) error {
	if submittedAny(m) {
		return nil
	}
	_, err := tx.Exec(ctx, `DELETE FROM queue_bindings WHERE contact = $1 AND message_id = $2`, m.Contact, m.ID)
	return err
}

// Retry puts part seq and the other assigned parts back, not before at;
// with avoid, another SIM may take it at once (see gateway.Queue).
func (q *Queue) Retry(ctx context.Context, c *gateway.Claim, seq int, f gateway.Failure, at time.Time, avoid bool) (*gateway.Message, error) {
	now := q.now()
	return q.transition(ctx, c, true, func(ctx context.Context, tx pgx.Tx, m *gateway.Message, x *qextra) (bool, int64, error) {
		i := seq - 1
		if i < 0 || i >= len(m.Parts) {
			return false, 0, reject(gateway.ErrNotFound)
		}
		p := &m.Parts[i]
		p.State, p.ErrorCode, p.ErrorClass, p.Error = gateway.PartQueued, f.Code, f.Class, f.Error
		for j := range m.Parts {
			if m.Parts[j].State == gateway.PartAssigned {
				m.Parts[j].State = gateway.PartQueued
			}
		}
		m.NextAttemptAt = at
		m.Status, m.UpdatedAt = gateway.RollUp(m.Parts), now
		if err := dropBinding(ctx, tx, m); err != nil {
			return false, 0, err
		}
		if avoid && queueColumns(m).pin == "" && m.From != c.Modem {
			// Not bound to this SIM by earlier parts or From: unless its
			// contact is, prefer another SIM; while another is usable, the
			// backoff holds the message from this SIM only.
			var (
				bound string
				other bool
			)
			if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT modem FROM sticky WHERE contact = $1), ''),
				EXISTS (SELECT 1 FROM queue_modems g JOIN queue_nodes n ON n.node = g.node
					WHERE g.modem <> $2 AND NOT g.gone AND n.until_ns >= $3)`, m.Contact, c.Modem, nanos(now)).Scan(&bound, &other); err != nil {
				return false, 0, err
			}
			if bound != c.Modem {
				x.avoid, x.avoidModem, x.avoidUntil = true, c.Modem, nanos(at)
				if other {
					x.readyNS = max(nanos(now), nanos(m.SendAt), 1)
				}
			}
		}
		return false, 0, q.notify(ctx, tx, "")
	})
}

// Fail records part seq (0: every assigned part) failed for good.
func (q *Queue) Fail(ctx context.Context, c *gateway.Claim, seq int, f gateway.Failure) (*gateway.Message, error) {
	now := q.now()
	return q.transition(ctx, c, true, func(ctx context.Context, tx pgx.Tx, m *gateway.Message, x *qextra) (bool, int64, error) {
		i := seq - 1
		if i >= len(m.Parts) {
			return false, 0, reject(gateway.ErrNotFound)
		}
		for j := range m.Parts {
			p := &m.Parts[j]
			if j == i || (i < 0 && (p.State == gateway.PartAssigned || p.State == gateway.PartQueued)) {
				p.State, p.ErrorCode, p.ErrorClass, p.Error, p.UpdatedAt = gateway.PartFailed, f.Code, f.Class, f.Error, now
			}
		}
		cancelParts(m, now, "not sent: an earlier part failed")
		m.ErrorCode, m.Error = f.Code, f.Error
		m.Status, m.UpdatedAt = gateway.RollUp(m.Parts), now
		return false, 0, dropBinding(ctx, tx, m)
	})
}

// Unknown records part seq's fate unknown; the binding is kept (it may
// have gone out).
func (q *Queue) Unknown(ctx context.Context, c *gateway.Claim, seq int, f gateway.Failure) (*gateway.Message, error) {
	now := q.now()
	return q.transition(ctx, c, true, func(ctx context.Context, tx pgx.Tx, m *gateway.Message, x *qextra) (bool, int64, error) {
		i := seq - 1
		if i < 0 || i >= len(m.Parts) {
			return false, 0, reject(gateway.ErrNotFound)
		}
		p := &m.Parts[i]
		p.State, p.ErrorCode, p.ErrorClass, p.Error, p.UpdatedAt = gateway.PartUnknown, f.Code, f.Class, f.Error, now
		cancelParts(m, now, "not sent: an earlier part's fate is unknown")
		m.Status, m.UpdatedAt = gateway.RollUp(m.Parts), now
		return false, 0, q.persistBinding(ctx, tx, c, m, now)
	})
}

// Release gives the claim's assigned parts back, not claimable before notBefore.
func (q *Queue) Release(ctx context.Context, c *gateway.Claim, notBefore time.Time) error {
	now := q.now()
	_, err := q.transition(ctx, c, false, func(ctx context.Context, tx pgx.Tx, m *gateway.Message, x *qextra) (bool, int64, error) {
		if m.Status.Terminal() {
			return false, 0, reject(gateway.ErrClaimLost)
		}
		for i := range m.Parts {
			if p := &m.Parts[i]; p.State == gateway.PartAssigned {
				p.State, p.UpdatedAt = gateway.PartQueued, now
			}
		}
		m.Status = gateway.RollUp(m.Parts)
		if err := dropBinding(ctx, tx, m); err != nil {
			return false, 0, err
		}
		if notBefore.After(now) {
			x.readyNS = max(queueColumns(m).readyNS, nanos(notBefore))
		}
		return false, 0, q.notify(ctx, tx, "")
	})
	return err
}

// Cancel cancels a message none of whose parts is submitting or further;
// a claim holding it loses it.
func (q *Queue) Cancel(ctx context.Context, id string) (*gateway.Message, error) {
	now := q.now()
	var out *gateway.Message
	err := q.db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		m, version, err := getMessage(ctx, tx, `SELECT data, version FROM messages WHERE id = $1 FOR UPDATE`, id)
		if err != nil {
			if notFound(err) {
				return reject(errNotFound("message " + id))
			}
			return err
		}
		if m.Direction != gateway.Outbound || m.Status.Terminal() {
			return reject(gateway.ErrNotCancellable)
		}
		for _, p := range m.Parts {
			if p.State != gateway.PartQueued && p.State != gateway.PartAssigned {
				return reject(gateway.ErrNotCancellable)
			}
		}
		old := m.Clone()
		for i := range m.Parts {
			m.Parts[i].State, m.Parts[i].UpdatedAt = gateway.PartCancelled, now
		}
		m.Status, m.UpdatedAt = gateway.StatusCancelled, now
		if _, err := q.store(ctx, tx, m, old, version, "", 0, true, qextra{}); err != nil {
			return err
		}
		out = m
		return dropBinding(ctx, tx, m)
	})
	return out, err
}

// Expire marks the pending parts of waiting messages whose ExpiresAt is at
// or before now expired (skipping messages a live claim holds).
func (q *Queue) Expire(ctx context.Context, now time.Time) ([]*gateway.Message, error) {
	var out []*gateway.Message
	err := q.db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		out = nil
		rows, err := tx.Query(ctx, `SELECT data, version FROM messages WHERE q_waiting AND q_expires_ns <> 0 AND q_expires_ns <= $1
			AND (q_node = '' OR q_until_ns < $1) ORDER BY created_ns LIMIT 500 FOR UPDATE SKIP LOCKED`, nanos(now))
		if err != nil {
			return err
		}
		type row struct {
			m       *gateway.Message
			version int64
		}
		var rs []row
		for rows.Next() {
			var (
				raw     []byte
				version int64
			)
			if err := rows.Scan(&raw, &version); err != nil {
				rows.Close()
				return err
			}
			m, err := decodeMessage(raw)
			if err != nil {
				rows.Close()
				return err
			}
			rs = append(rs, row{m, version})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range rs {
			old := r.m.Clone()
			for i := range r.m.Parts {
				if p := &r.m.Parts[i]; p.State == gateway.PartQueued || p.State == gateway.PartAssigned {
					p.State, p.UpdatedAt, p.Error = gateway.PartExpired, now, "validity ran out before it could be sent"
				}
			}
			r.m.Status, r.m.UpdatedAt = gateway.RollUp(r.m.Parts), now
			if _, err := q.store(ctx, tx, r.m, old, r.version, "", 0, true, qextra{}); err != nil {
				return err
			}
			out = append(out, r.m)
		}
		return nil
	})
	return out, err
}

// Rebind marks modem gone: the contacts bound to it may be claimed by
// other modems as new contacts (the move is recorded when one submits).
func (q *Queue) Rebind(ctx context.Context, modem, reason string) (int, error) {
	var n int
	err := q.db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO queue_modems (modem, node, gone, reason) VALUES ($1, '', true, $2)
			ON CONFLICT (modem) DO UPDATE SET node = '', gone = true, reason = excluded.reason`, modem, reason); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM messages m JOIN sticky s ON s.contact = m.contact
			WHERE m.q_waiting AND m.q_pin = '' AND s.modem = $1`, modem).Scan(&n); err != nil {
			return err
		}
		return q.notify(ctx, tx, "")
	})
	q.mu.Lock()
	delete(q.mine, modem)
	q.mu.Unlock()
	return n, err
}

// Recover applies the crash rules to this node's claims (at start, before
// any Claim): submitting parts become unknown (queued with at-least-once),
// assigned ones queued.
func (q *Queue) Recover(ctx context.Context) ([]*gateway.Message, error) {
	return q.recoverNode(ctx, q.cfg.Node, "gateway stopped while the part was being submitted")
}

// Reap finds the nodes whose lease lapsed and applies the crash rules to
// their claims, as their own Recover would: their submitting parts become
// unknown (never resent blindly), their assigned ones queued for any node,
// and their modems gone, so that the contacts bound to those SIMs move to
// live ones. It returns the messages it made unknown (also given to
// QueueConfig.OnUnknown). Every node reaps; SKIP LOCKED keeps two from
// reaping the same node.
func (q *Queue) Reap(ctx context.Context) ([]*gateway.Message, error) {
	var dead []string
	err := q.db.read(ctx, func(ctx context.Context, _ *pgxpool.Pool) error {
		rows, err := q.db.pool.Query(ctx, `SELECT node FROM queue_nodes WHERE until_ns < $1 AND node <> $2`, nanos(q.now()), q.cfg.Node)
		if err != nil {
			return err
		}
		dead, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, err
	}
	var all []*gateway.Message
	for _, node := range dead {
		ms, err := q.recoverNode(ctx, node, "node "+node+" stopped renewing its lease while the part was being submitted")
		if err != nil {
			return all, err
		}
		q.log.Warn("queue: reaped a dead node", "node", node, "unknown", len(ms))
		all = append(all, ms...)
	}
	if len(all) > 0 && q.cfg.OnUnknown != nil {
		q.cfg.OnUnknown(all)
	}
	return all, nil
}

// recoverNode applies the crash rules to node's claims in one transaction;
// for another node, only while its lease is still lapsed (it may have come
// back), and then its modems become gone and its lease row goes.
func (q *Queue) recoverNode(ctx context.Context, node, why string) ([]*gateway.Message, error) {
	now := q.now()
	var unknown []*gateway.Message
	err := q.db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		unknown = nil
		if node != q.cfg.Node {
			var n int
			err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM queue_nodes WHERE node = $1 AND until_ns < $2 FOR UPDATE SKIP LOCKED) x`,
				node, nanos(now)).Scan(&n)
			if err != nil || n == 0 {
				return err // it came back, or another node is reaping it
			}
		}
		rows, err := tx.Query(ctx, `SELECT data, version FROM messages WHERE q_node = $1 FOR UPDATE`, node)
		if err != nil {
			return err
		}
		type row struct {
			m       *gateway.Message
			version int64
		}
		var rs []row
		for rows.Next() {
			var (
				raw     []byte
				version int64
			)
			if err := rows.Scan(&raw, &version); err != nil {
				rows.Close()
				return err
			}
			m, err := decodeMessage(raw)
			if err != nil {
				rows.Close()
				return err
			}
			rs = append(rs, row{m, version})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range rs {
			m := r.m
			old := m.Clone()
			wasUnknown := false
			for i := range m.Parts {
				p := &m.Parts[i]
				switch p.State {
				case gateway.PartSubmitting:
					if m.AtLeastOnce {
						p.State = gateway.PartQueued
					} else {
						p.State, p.ErrorClass, p.Error = gateway.PartUnknown, "ambiguous", why
						wasUnknown = true
					}
					p.UpdatedAt = now
				case gateway.PartAssigned:
					p.State, p.UpdatedAt = gateway.PartQueued, now
				}
			}
			if gateway.RollUp(m.Parts) == gateway.StatusUnknown {
				cancelParts(m, now, "not sent: an earlier part's fate is unknown")
			}
			m.Status, m.UpdatedAt = gateway.RollUp(m.Parts), now
			if _, err := q.store(ctx, tx, m, old, r.version, "", 0, true, qextra{}); err != nil {
				return err
			}
			if !wasUnknown {
				if err := dropBinding(ctx, tx, m); err != nil {
					return err
				}
			}
			if wasUnknown {
				unknown = append(unknown, m)
			}
		}
		if node != q.cfg.Node {
			if _, err := tx.Exec(ctx, `UPDATE queue_modems SET gone = true, reason = $2 WHERE node = $1`, node, "node "+node+" lease lapsed"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM queue_nodes WHERE node = $1`, node); err != nil {
				return err
			}
		}
		return q.notify(ctx, tx, "")
	})
	return unknown, err
}

// Stats counts the waiting messages nobody holds, and their parts per
// modem they are bound to.
func (q *Queue) Stats(ctx context.Context) (gateway.QueueStats, error) {
	st := gateway.QueueStats{PartsFor: map[string]int{}}
	now := nanos(q.now())
	err := q.db.read(ctx, func(ctx context.Context, _ *pgxpool.Pool) error {
		var oldest *int64
		if err := q.db.pool.QueryRow(ctx, `SELECT count(*), min(created_ns) FROM messages WHERE q_waiting AND (q_node = '' OR q_until_ns < $1)`, now).
			Scan(&st.Messages, &oldest); err != nil {
			return err
		}
		if oldest != nil {
			st.Oldest = time.Unix(0, *oldest).UTC()
		}
		rows, err := q.db.pool.Query(ctx, `SELECT coalesce(nullif(m.q_pin, ''), s.modem), sum(m.q_parts) FROM messages m
			LEFT JOIN sticky s ON s.contact = m.contact
			WHERE m.q_waiting AND (m.q_pin <> '' OR s.modem IS NOT NULL) GROUP BY 1`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				modem string
				n     int
			)
			if err := rows.Scan(&modem, &n); err != nil {
				return err
			}
			st.PartsFor[modem] = n
		}
		return rows.Err()
	})
	return st, err
}

func pendingParts(m *gateway.Message) int {
	n := 0
	for _, p := range m.Parts {
		if p.State == gateway.PartQueued || p.State == gateway.PartAssigned {
			n++
		}
	}
	return n
}

func submittedAny(m *gateway.Message) bool {
	for _, p := range m.Parts {
		if p.State == gateway.PartSubmitted || p.State == gateway.PartDelivered || p.State == gateway.PartSubmitting || p.State == gateway.PartUnknown {
			return true
		}
	}
	return false
}

// cancelParts marks parts never submitted cancelled.
func cancelParts(m *gateway.Message, now time.Time, why string) {
	for i := range m.Parts {
		if p := &m.Parts[i]; p.State == gateway.PartQueued || p.State == gateway.PartAssigned {
			p.State, p.Error, p.UpdatedAt = gateway.PartCancelled, why, now
		}
	}
}

// Poke wakes modem's worker on this node.
func (q *Queue) Poke(modem string) { q.poke(modem) }

var _ gateway.SharedQueue = (*Queue)(nil)
