package gateway

import (
	"crypto/rand"
	"time"

	"github.com/oklog/ulid/v2"
)

// idEntropy draws ULID entropy from crypto/rand (ulid.Make and
// ulid.DefaultEntropy use math/rand seeded with the time, so IDs could be
// guessed). It is monotonic within a millisecond, which keeps IDs made in
// the same millisecond in the order they were made (the event outbox reads
// after a cursor of them): the first ID of a millisecond is 80 random bits,
// the next ones add a random increment to it.
var idEntropy = &ulid.LockedMonotonicReader{MonotonicReader: ulid.Monotonic(rand.Reader, 0)}

// NewID returns a new ULID for time t (messages, events, webhooks) with
// entropy from crypto/rand. It is safe for concurrent use.
func NewID(t time.Time) string {
	return ulid.MustNew(ulid.Timestamp(t), idEntropy).String()
}
