// Package store keeps simgate's state in one bbolt file. DB implements
// gateway.Store (messages, inbound fragments, sticky contacts, budgets,
// opt-outs, events), gateway.KeyStore, gateway.WebhookStore and
// account.Store (the web app's users and sessions) and campaign.Store
// (P2P campaigns, their contacts, messages and evidence).
//
// # Opening
//
// Open takes bbolt's exclusive file lock (flock) and waits at most
// Options.Timeout (default 1s) for it: a second process, or a second Open of
// the same file in this process, gets an error wrapping
// gateway.ErrStoreLocked instead of hanging. The file is mode 0600. Open
// then applies the pending schema migrations (see migrate.go), each in one
// transaction with the version it reaches, or, for the move of every
// message into the schema-9 layout and of every queue entry under its
// short key (schema 10), in batches of 4096 records that an interrupted
// Open resumes (older binaries refuse the file meanwhile). It refuses a
// file whose schema version is newer than the binary's.
//
// # Layout
//
// All integers are big-endian so that byte order is numeric order. Times
// are 8 bytes: Unix nanoseconds with the sign bit flipped (the zero
// time.Time is 0). An index value v is written prefix(v) = 2-byte length | v,
// so that one value's keys never run into another's; a message status is
// its one-byte record code (0x00 | prefix(status) for a status without
// one). A message id in a key, idKey(id), is its 16 bytes when it is a
// canonical ULID (what the gateway makes), else its bytes and a marker
// (keys.go); message keys are thus 16 bytes and a queued message's index
// entries 25 to 40.
//
//	meta                 "schema" → version (8 bytes); "probe" → time of the last Writable;
//	                     "outbox" → sequence of the last event turned into deliveries
//	msg                  idKey(id) → message record (format byte, then fields; record.go)
//	ix_t                 createdAt | idKey(id) → direction code    all messages by time
//	ix_s                 status code (1) | createdAt | idKey(id)   by status
//	ix_c                 prefix(contact) | createdAt | idKey(id)   (set when Contact != "")
//	ix_m                 prefix(modem) | createdAt | idKey(id)     (set when Modem != "")
//	ix_a                 prefix(agent) | createdAt | idKey(id)     (set when Agent != "")
//	ix_r                 prefix(modem) | mr (4) | submittedAt | idKey(id) → seq (2)   one per submitted part
//	ix_idempotency       idempotency key → id
//	q                    idKey(id) → gateway.QueueEntry, binary (queue.go)   only messages
//	                     with a part to send or in flight; QueueEntries streams it at
//	                     start-up ("queue", keyed by the id string, before schema 10)
//	counts               namespace | 0x00 | value → number of messages (8), namespaces
//	                     ix_time (""), ix_status, ix_direction, ix_modem, ix_agent;
//	                     "deliveries_pending", "unmatched_reports", "events" → count
//	unmatched_reports    received | sequence (8) → status report JSON
//	fragments            prefix(set key) | seq (2) → fragment JSON
//	sticky               contact → gateway.Sticky JSON (Modem first, SIM: the SIM's ID, Moves)
//	budgets              modem → gateway.BudgetUsage JSON
//	sims                 SIM ID (ICCID, or "imsi:" IMSI) → gateway.SIM JSON: the SIM
//	                     inventory; RebindSIM rewrites the sticky bindings of a
//	                     moved SIM in one transaction (a scan of sticky)
//	optouts              number → gateway.OptOut JSON
//	events               id (ULID, so time order) → gateway.Event JSON;
//	                     PruneEvents (by age) and TrimEvents (by number) bound it
//	event_log            sequence (8, commit order) → event id: the webhook outbox,
//	                     read after meta "outbox" (see outbox.go)
//	api_keys             id → gateway.APIKey JSON
//	ix_api_key_hash      SHA-256 hash → id
//	webhooks             id → webhook JSON (secret included)
//	deliveries           id → gateway.Delivery JSON
//	ix_delivery_pending  nextAttempt | id → webhook id   only deliveries neither done nor failed
//	ix_delivery_webhook  prefix(webhook id) | createdAt | id → ""
//	users                user id → account.User JSON (argon2id hash included)
//	ix_user_login        login → user id
//	sessions             SHA-256 of the session token → account.Session JSON
//	ix_session_user      prefix(user id) | token hash → ""
//	cmp_campaigns        campaign id → campaign.Campaign JSON          (campaign.Store, campaigns.go)
//	cmp_texters          texter id → campaign.Texter JSON
//	cmp_imports          prefix(campaign) | import id → campaign.ImportReport JSON
//	cmp_rejects          prefix(campaign) | prefix(import) | line (8) → campaign.Reject JSON
//	cmp_contacts         prefix(campaign) | contact id (8) → campaign.Contact JSON
//	cmp_ix_cell          prefix(campaign) | cell → contact id (8)     one contact per cell
//	cmp_ix_cell_campaign prefix(cell) | campaign → contact id (8)     a number in every campaign
//	cmp_ix_texter        prefix(campaign) | prefix(texter) | prefix(status) | contact id → ""
//	cmp_ix_status        prefix(campaign) | prefix(status) | contact id → ""
//	cmp_ix_unassigned    prefix(campaign) | contact id → ""   no texter, needs_message, not opted out
//	cmp_messages         prefix(campaign) | message id (ULID) → campaign.Message JSON
//	cmp_ix_message_id    message id → campaign id
//	cmp_ix_message_contact prefix(campaign) | contact id | message id → ""
//	cmp_latest           cell → the campaign and contact that last texted it
//	cmp_events           prefix(campaign) | contact id (0 = campaign) | at | event id → campaign.Event JSON
//	cmp_inbox            at | message id → campaign.InboxItem JSON   inbound no campaign claimed
//
// Message records are binary (format 1, record.go): a format byte, a bit
// mask of the fields present, then those fields as varints and
// length-prefixed strings, times relative to CreatedAt, enums as small
// codes, the id left to the key (a realistic 1-3 part message is about 550
// bytes, most of it PDUs, against 1.1 KB as JSON; see BenchmarkEncodeMessage).
// Records written as JSON by earlier binaries start with '{' and are still
// read; a write stores format 1. The other records are JSON.
//
// Every index entry of a message is derived from the message by one
// function (messageEntries); CreateMessage writes them, UpdateMessage
// removes the entries of the old message that the new one lacks and adds
// the new ones, in the same transaction, and keeps the counts in step.
// ListMessages walks the contact's index if the filter names one, else the
// index of the filter field with the smallest count, between the
// Since/Until bounds, and checks the other fields on the message.
// The queue bucket is a derived entry too: a message that gets nothing
// left to send (or a terminal status) loses it in the same transaction.
// QueueEntries walks it a chunk (4096 entries) per read transaction in a
// goroutine of its own, one chunk ahead of its caller's function, which
// runs outside any transaction. It looks up each contact's sticky SIM in
// the chunk's transaction, with one cursor, reading only the modem from
// the start of the JSON record (json.Marshal writes it first) unless the
// record needs encoding/json, and interns the names that repeat (From,
// Modem, the sticky modem, texting windows). It gives the mapped pages
// back after each chunk: a read fault maps the neighbouring pages of the
// file too (the kernel's fault-around, 64 KiB), so a walk that never gave
// them back would make most of the file resident.
// Direction is counted but has no index of its own (nearly every message
// is outbound, and the inbound ones are "received"): a direction filter
// walks ix_t and skips the other direction by the entry's value, without
// reading its messages.
// ActiveMessages seeks over the terminal statuses of ix_s and reads
// only the non-terminal ones, so start-up cost does not grow with the
// number of delivered messages (nor with sent ones once their report window
// ended: they become unconfirmed, a terminal status); it gives the mapped
// pages back every 16384 messages, so a large backlog is never resident in
// memory at once. Cursors are opaque base64url strings holding
// the (time, id) position of a page's last message; decodeCursor rejects
// anything else with a *gateway.ValidationError for field "cursor".
//
// # Retention
//
// PruneMessages, PruneEvents, PruneDeliveries and PruneUnmatchedReports
// (gateway.RetentionStore, driven by gateway.Retention) each delete one
// bounded batch per transaction, oldest first, with every index entry and
// counter of each record: messages through the final statuses of ix_s
// (never queued, sending or sent ones), deliveries through
// ix_delivery_webhook (never pending ones), events through event_log (never
// past the outbox cursor); PruneSticky drops the bindings of contacts
// left without any message in ix_c. Freed pages are reused by bbolt but the file does
// not shrink; Compact (simgate store compact, daemon stopped) rewrites it.
//
// # Concurrency and durability
//
// Every method is safe for concurrent use. Reads run in bbolt read
// transactions, concurrently with each other and with the writer. Every
// write goes through one committer goroutine (started by Open, stopped by
// Close after it has committed what was queued) that runs all queued writes
// in one transaction and fsyncs once: a write method returns only once its
// transaction is on disk, and concurrent writers share the fsync (group
// commit). A write that fails its own checks (ErrExists, ErrNotFound, the
// caller's UpdateMessage function returning an error) writes nothing and
// does not disturb the others in its batch; a write whose bbolt operation
// fails aborts the batch, which is retried without it. Hence UpdateMessage's
// function may run more than once and must be a pure function of the
// message it is given.
//
// The committer remembers when a commit last succeeded and the error of the
// last one that failed. Ready (readiness probes) uses that instead of
// writing: it fails while the last commit failed or the file system has
// less than Options.MinFree available, and commits a probe of its own
// (Writable) only when no commit succeeded within Options.ProbeInterval.
//
// # Errors
//
// Errors wrap the gateway sentinels: gateway.ErrNotFound, gateway.ErrExists,
// gateway.ErrStoreLocked, gateway.ErrClosed (after Close),
// gateway.ErrStorageFull (a commit failed with ENOSPC or EDQUOT, or Ready
// found less than MinFree available). Bad input (a
// malformed cursor, a missing id) is a *gateway.ValidationError. Other
// failures (I/O, corrupt records) are counted in
// simgate_store_errors_total{op} on the Options.Registerer.
package store
