// Package postgres keeps simgate's state in PostgreSQL, so that several
// simgate nodes can share one database. DB implements the same interfaces
// as the bbolt store (package store) with the same guarantees, checked by
// the same conformance suite (store/storetest): gateway.Store (messages,
// inbound fragments, sticky contacts, budgets and holds, opt-outs,
// events), gateway.KeyStore, gateway.WebhookStore, account.Store and
// campaign.Store (P2P campaigns, campaigns.go).
//
// # Opening
//
// Open connects with pgx (a pgxpool.Pool) and, on a connection of its own,
// applies the pending schema migrations (migrations/NNNN_*.sql, embedded)
// in one transaction that first takes a transaction-scoped advisory lock
// on (migrationLockKey, hash of the schema name): nodes that start at once
// migrate one after the other and the later ones find nothing to do; a
// failed migration leaves the previous version. A schema whose version is
// newer than the binary's is refused. Every table lives in one schema
// (Options.Schema, default "simgate"), set as the pool's search_path.
//
// # Layout
//
// One table per bbolt bucket family (see migrations/0001_init.sql). Each
// record is the same JSON as in bbolt (column data, type json), and the
// columns beside it are derived from the record for indexing and
// uniqueness: messages(id, created_ns, direction, status, contact, modem,
// agent, idem_key, version) with an index per listing filter, part_mrs
// (one row per submitted part, for PartByMR), fragments, sticky, budgets,
// optouts, events, api_keys, webhooks, deliveries (partial index on
// pending), users, sessions; the campaigns' cmp_* tables (migration 0004:
// campaigns, texters, imports, rejects, contacts with a unique index on
// (campaign, cell) and a partial index on the unassigned ones, messages,
// latest-texted, events, inbox). Ordering times are Unix nanoseconds (bigint)
// so that order and cursors are exact; identifiers compare bytewise
// (COLLATE "C"), so listings are ordered as in bbolt, and cursors have the
// bbolt store's format. Idempotency keys and fragment set keys are bytea
// (a client's key may hold bytes PostgreSQL's text refuses).
//
// # Concurrency and durability
//
// Every method is safe for concurrent use, also from several processes.
// A write method returns nil only once its transaction is committed (with
// the server's synchronous_commit, which is on by default: keep it on, or
// a 202 no longer means durable). Single-statement writes are one round
// trip; the others are one read-committed transaction that locks the rows
// it merges (SELECT ... FOR UPDATE). Uniqueness (message id, idempotency
// key, key hash, delivery id, login) is enforced by unique indexes, so it
// holds across nodes. UpdateMessage is optimistic: it reads the message
// and its version, runs fn, and writes only if the version is unchanged,
// else reads again and reruns fn; so fn must be a pure function of the
// message, as with bbolt's group commit. A write checks its context
// before it starts; once started it runs to its end even if the context
// ends (bounded by Options.WriteTimeout), so that its outcome is known.
// Serialization failures and deadlocks are retried.
//
// # The queue (several nodes)
//
// Queue (queue.go) implements gateway.Queue over the messages table, for
// nodes sharing one database; migration 0003 adds its columns. The message
// row is the truth: columns derived from the record say whether it waits
// (q_waiting, q_parts), when it is ready (q_ready_ns), its priority, From
// and the SIM its earlier parts used (q_pin); the claim columns hold the
// lease (q_node, q_epoch, q_until_ns); q_avoid holds the SIM a retry
// avoids until its backoff ends. Claim chooses and locks its candidate in
// one statement (FOR UPDATE SKIP LOCKED over the partial index
// messages_queue, in priority then age order, joined to the contact's
// provisional or sticky binding and that SIM's gone mark and groups),
// checks its texting window in Go and assigns it in the same transaction,
// bumping the epoch. The rules are the gateway.Queue's, the LocalQueue's
// too: both pass the conformance suite gateway/queuetest. Every later transition locks the row and checks node and epoch
// (and, before submitting, that the lease has not lapsed): a claim taken
// over by another node fails with gateway.ErrClaimLost and changes
// nothing. Once a part is submitting the claim holds until its node dies.
// Each node renews a row in queue_nodes every LeaseTTL/3 (default 30 s);
// every node reaps the nodes whose row lapsed (Reap): their submitting
// parts become unknown, their assigned ones queued, their modems gone, so
// that the contacts bound to those SIMs may be claimed by live ones (the
// move is recorded on the sticky binding when the new SIM submits). A
// reaped node that comes back renews its row again and its SIMs stop being
// gone. Renewing and reaping run on goroutines of their own: a reap may
// wait for a row a frozen node's open transaction holds, and the reaper's
// own lease must not lapse meanwhile. A node frozen (or cut off) inside a
// transaction would hold its locks until it wakes, the event numbering
// lock among them, stalling every node: daemon nodes therefore open with
// Options.IdleInTransaction (a third of the lease, at most 5 s), so the
// server rolls such a transaction back. Wake-ups go through LISTEN/NOTIFY
// on a channel per schema.
//
// cmd/simgate gives it to the Dispatcher (gateway.Config.Queue) when
// store.postgres.node names the daemon; without it a daemon is the only
// node (Options.Exclusive).
//
// # Errors
//
// Errors wrap the gateway sentinels: gateway.ErrNotFound,
// gateway.ErrExists (a unique index refused the row), gateway.ErrClosed
// (after Close). Bad input is a *gateway.ValidationError. Other failures
// (connection, server) are counted in simgate_store_errors_total{op} on
// Options.Registerer. Errors never quote the connection string.
package postgres
