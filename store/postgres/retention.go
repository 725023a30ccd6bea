package postgres

import (
	"context"
	"time"

	"github.com/simgate/simgate/gateway"
)

var _ gateway.RetentionStore = (*DB)(nil)

// Retention: each Prune method deletes at most limit records (default and
// maximum pruneChunk) in one statement, oldest first, and returns how many
// it deleted; the caller repeats while the result equals the limit. Rows
// that refer to a deleted message (part_mrs) go with it (ON DELETE
// CASCADE). SKIP LOCKED lets two nodes prune at once without waiting for
// each other's batch.

func pruneLimit(limit int) int {
	if limit <= 0 || limit > pruneChunk {
		return pruneChunk
	}
	return limit
}

// PruneMessages deletes up to limit messages in a final status created
// before before, oldest first. Queued, sending and sent messages are never
// deleted.
func (db *DB) PruneMessages(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var final []string
	for _, s := range allStatuses {
		if s.Terminal() {
			final = append(final, string(s))
		}
	}
	n, err := db.execN(ctx, `DELETE FROM messages WHERE id IN (
		SELECT id FROM messages WHERE status = ANY($1) AND created_ns < $2 ORDER BY created_ns, id LIMIT $3 FOR UPDATE SKIP LOCKED)`,
		final, nanos(before), pruneLimit(limit))
	return int(n), db.fail("prune_messages", err)
}

// PruneDeliveries deletes up to limit webhook deliveries that are done or
// given up and were created before before. Pending deliveries are never
// deleted.
func (db *DB) PruneDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err := db.execN(ctx, `DELETE FROM deliveries WHERE id IN (
		SELECT id FROM deliveries WHERE NOT pending AND created_ns < $1 ORDER BY created_ns, id LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		nanos(before), pruneLimit(limit))
	return int(n), db.fail("prune_deliveries", err)
}

// PruneUnmatchedReports deletes up to limit kept unmatched status reports
// received before before, oldest first.
func (db *DB) PruneUnmatchedReports(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err := db.execN(ctx, `DELETE FROM unmatched_reports WHERE seq IN (
		SELECT seq FROM unmatched_reports WHERE received_ns < $1 ORDER BY received_ns, seq LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		nanos(before), pruneLimit(limit))
	return int(n), db.fail("prune_unmatched_reports", err)
}

// PruneSticky deletes up to limit SIM bindings of contacts that no stored
// message names.
func (db *DB) PruneSticky(ctx context.Context, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err := db.execN(ctx, `DELETE FROM sticky WHERE contact IN (
		SELECT s.contact FROM sticky s WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.contact = s.contact)
		ORDER BY s.contact LIMIT $1 FOR UPDATE SKIP LOCKED)`, pruneLimit(limit))
	return int(n), db.fail("prune_sticky", err)
}
