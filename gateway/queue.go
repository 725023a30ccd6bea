package gateway

import (
	"context"
	"errors"
	"time"
)

// ErrClaimLost: the claim no longer holds its message — it was cancelled or
// expired meanwhile, or (with several nodes) the claim's lease lapsed and
// another claim took the message. The worker drops the claim, writes no PDU
// for it, and claims again.
var ErrClaimLost = errors.New("claim lost")

// Queue decides which SIM sends which message. The worker of each modem,
// when its pacing allows it to send, asks the queue for its next message
// (free workers pull; nobody pushes), and reports each step of the send
// back. One implementation serves one host (the bbolt store with an
// in-memory index, LocalQueue); another serves several hosts over
// PostgreSQL. Both have the same semantics, written down here.
//
// # What a worker may claim
//
// A message is ready when it has a part in state queued, its SendAt and
// NextAttemptAt have passed, its TextingWindow (if any) is open now, and it
// is neither cancelled nor expired. Among the ready messages a modem may
// claim, the queue answers with the highest Priority, then the oldest
// (CreatedAt, then id; a retried message keeps its place by creation).
//
// A modem M may claim a ready message when, in this order of preference:
//
//  1. it is bound to M: later parts of a message whose earlier parts M
//     submitted; a From that names M; a contact whose sticky binding
//     (ContactStore.Sticky) is M and whose From (if any) is "" or a group M
//     is in. These are M's own messages.
//  2. it is unbound: its contact has no sticky binding, or the binding's SIM
//     is gone (see Rebind), or From names a group the bound SIM is not in;
//     and From is "" or a group M is in. Claiming it binds the contact to M
//     (a new contact for M), so only while ClaimRequest.NewContacts is true
//     and ClaimRequest.Draining is not (a From naming M may still bind a new
//     contact to a draining M).
//
// A message whose contact is bound to another SIM that is not gone is never
// claimed by M, however long it waits: the contact's SIM sends it (sticky
// sender). All parts of a message leave through one SIM.
//
// A message is also skipped when it has more pending parts than
// ClaimRequest.PartsLeft, and — while another modem is usable — when M is the
// Avoid modem recorded by Retry (a temporary failure on M prefers another SIM;
// the shared queue lets M take it again once the retry's backoff ends).
//
// # One committed transaction per transition
//
// Every method that changes a part commits it before it returns:
//
//	Claim       queued → assigned (every pending part), Message.Modem = M,
//	            the contact bound to M (provisionally, see below)
//	Submitting  assigned → submitting, Attempts+1   (before the PDU is written)
//	Submitted   submitting → submitted, MR recorded
//	Retry       submitting → queued (other assigned parts → queued),
//	            NextAttemptAt set
//	Fail        submitting (or, with seq 0, every assigned part) → failed;
//	            the rest → cancelled
//	Unknown     submitting → unknown; the rest → cancelled
//	Release     assigned → queued (the worker will not send them now)
//
// and rolls Message.Status up (RollUp). The store, not the worker's memory,
// decides whether a part still needs sending: every transition checks the
// part's state (and, with several nodes, the claim's lease) first, so a stale
// claim can never send twice. A part found submitting when its node starts
// again is unknown (Recover), never resent blindly, unless the message asked
// for at-least-once.
//
// # Bindings
//
// A claim of an unbound message binds its contact to M at once (so that a
// second message to the same contact waits for M rather than going out
// through another SIM), but the binding is provisional: it is made durable
// (ContactStore.SetSticky, with a StickyMove when the contact had another
// SIM) when the first part is submitted — or when a part's fate becomes
// unknown, since it may have gone out. Release, Retry and Fail of a claim
// that submitted nothing undo it. Claim.NewContact says the claim made a
// binding; the worker counts it against M's new-contact budget.
//
// # Leases and fencing
//
// A claim holds its message under a lease (Claim.Lease). Every transition
// checks that the lease is still the message's current one and renews it;
// one that is not fails with ErrClaimLost and changes nothing. A lease that
// lapses (the worker or its node died, or was frozen) returns the claim's
// assigned parts to queued, so another worker may claim them; a part already
// submitting stays submitting until its node's Recover (or, with several
// nodes, the node's own lease on its modems lapsing) makes it unknown.
// On one host the lease is the process's life: a LocalQueue never takes a
// claim back while its worker runs, and Recover at the next start re-queues
// what was assigned.
//
// # Wake-ups
//
// Wake(M) is a channel that receives when a message may have become
// claimable by M (a new message, a retry or release, a rebinding, a window
// or SendAt passing). It is buffered and may fire spuriously; a worker with
// nothing to claim waits on it (and on its own timer, as a backstop) before
// claiming again.
//
// Every method is safe for concurrent use; one worker per modem calls
// Claim. Methods that take a ctx stop waiting for it, but a transition whose
// commit has started is recorded even if the caller has gone.
type Queue interface {
	// Enqueue makes a message just stored by Store.CreateMessage (or found
	// active at start-up) claimable. The message is already durable; a
	// queue that reads the store on every Claim (PostgreSQL) only needs to
	// wake the workers. Enqueueing a message twice, or one with no queued
	// part, does nothing.
	Enqueue(ctx context.Context, m *Message) error

	// Claim returns the next message r.Modem may send, assigned to it and
	// read in full from the store (PDUs included), or (nil, nil) when there
	// is none. See the type's documentation for the order and the rules.
	Claim(ctx context.Context, r ClaimRequest) (*Claim, error)

	// Submitting marks part seq (1-based) of c's message submitting, the
	// last step before its PDU is written to the modem.
	Submitting(ctx context.Context, c *Claim, seq int) error
	// Submitted records that the modem answered +CMGS with message
	// reference mr for part seq at at, and returns the message as stored.
	// The claim ends with the message's last pending part.
	Submitted(ctx context.Context, c *Claim, seq, mr int, at time.Time) (*Message, error)
	// Retry puts part seq (and any other assigned part) back in the queue,
	// not before at, recording f on the part (NextAttemptAt = at); the
	// claim ends. With avoid, the message prefers another modem than
	// c.Modem next time, unless it is bound to c.Modem (sticky contact,
	// From, or earlier parts sent); and while another modem is usable the
	// backoff holds it from c.Modem only: another modem may claim it at once.
	Retry(ctx context.Context, c *Claim, seq int, f Failure, at time.Time, avoid bool) (*Message, error)
	// Fail records part seq failed for good with f (seq 0: before any part
	// was tried, e.g. the contact opted out meanwhile: every assigned part
	// fails), cancels the message's other pending parts, and ends the claim.
	Fail(ctx context.Context, c *Claim, seq int, f Failure) (*Message, error)
	// Unknown records part seq's fate unknown (the PDU may have gone out),
	// cancels the other pending parts, keeps the binding, ends the claim.
	Unknown(ctx context.Context, c *Claim, seq int, f Failure) (*Message, error)
	// Release gives the claim's assigned parts back, not claimable before
	// notBefore (zero: at once): the worker will not send them now (its
	// modem was paused or went down, the texting window closed, it is
	// shutting down). The claim ends.
	Release(ctx context.Context, c *Claim, notBefore time.Time) error

	// Cancel cancels a message none of whose parts is submitting or
	// further (ErrNotCancellable otherwise; ErrNotFound if there is no such
	// message). A claim holding it loses it (ErrClaimLost at its next
	// transition).
	Cancel(ctx context.Context, id string) (*Message, error)
	// Expire marks the pending parts of ready or waiting messages whose
	// ExpiresAt is at or before now expired and returns those messages (the
	// caller emits message.expired). Claim never returns an expired message.
	Expire(ctx context.Context, now time.Time) ([]*Message, error)
	// Rebind tells the queue that modem is gone (unusable for longer than
	// Config.StickyTimeout, removed, or its node's lease lapsed): the
	// messages bound to it through its sticky contacts become unbound and
	// any eligible modem may claim them as new contacts (the move from
	// modem, with reason, is recorded on the sticky binding when the new
	// SIM submits). Messages whose From names modem, or whose earlier parts
	// it sent, stay bound to it. Rebind is idempotent; the modem stops being
	// gone when it claims again. It returns how many messages it unbound.
	Rebind(ctx context.Context, modem, reason string) (int, error)
	// Wake returns the channel that receives when a message may have
	// become claimable by modem (see the type's documentation).
	Wake(modem string) <-chan struct{}

	// Recover applies the crash rules to the messages this node left in
	// flight, once at start before any Claim: a part left submitting
	// becomes unknown (or queued, if the message asked for at-least-once),
	// one left assigned becomes queued. It returns the messages that became
	// unknown (the caller emits message.unknown and counts them). A
	// LocalQueue also builds its index of the active messages here.
	Recover(ctx context.Context) ([]*Message, error)
	// Stats counts what is waiting (queued, not claimed).
	Stats(ctx context.Context) (QueueStats, error)
}

// QueueStats is what waits in a Queue.
type QueueStats struct {
	Messages int       // messages with a queued part, not claimed
	Oldest   time.Time // CreatedAt of the oldest of them; zero when none
	// PartsFor counts, per modem, the parts of the waiting messages bound
	// to it (its sticky contacts, From naming it, later parts).
	PartsFor map[string]int
}

// ClaimRequest is what a worker tells the queue when it asks for work.
type ClaimRequest struct {
	// Modem is the claiming modem; Groups the groups it is in.
	Modem  string
	Groups []string
	// SIM is the inventory ID of the SIM in Modem ("" unknown): a binding
	// the claim makes durable is to this SIM (Sticky.SIM).
	SIM string
	// PartsLeft is what is left of the modem's daily part budget; a
	// message with more pending parts than this is skipped.
	PartsLeft int
	// NewContacts: the modem has new-contact budget left, so it may take a
	// contact it is not bound to.
	NewContacts bool
	// Draining: the modem takes no new contacts except for messages whose
	// From names it (it is drained, or a healthier SIM should take the new
	// contacts: Config.PreferHealthy, healthpref.go).
	Draining bool
	// Now is the claim's time (the injectable clock): readiness, windows
	// and leases are judged by it.
	Now time.Time
}

// Claim is a message claimed by one modem: its pending parts are assigned
// to Modem and committed so before Claim returned.
type Claim struct {
	// Message is the message as stored after the claim, PDUs included.
	Message *Message
	// Modem is the modem that claimed it; SIM the SIM in it (ClaimRequest.SIM).
	Modem string
	SIM   string
	// NewContact: the contact is new to Modem, and the worker counts it
	// against Modem's new-contact budget. Either the claim bound the
	// contact to Modem (provisionally, until a part is submitted), or From
	// ruled out the contact's own SIM and Modem texts it without taking
	// the binding.
	NewContact bool
	// MovedFrom is the contact's earlier SIM when the claim moved the
	// contact off a gone one ("" otherwise).
	MovedFrom string
	// Lease is the claim's hold on the message.
	Lease Lease

	state claimState // LocalQueue's own
}

// Lease is a claim's hold on its message. Node and Epoch fence a claim that
// lost its lease: every transition checks them against the message's
// current lease.
type Lease struct {
	// Node is the node that holds the claim ("" on a single host).
	Node string
	// Epoch increases with every claim of the message; a transition with
	// an older epoch fails with ErrClaimLost.
	Epoch uint64
	// Until is when the lease lapses unless a transition renews it (zero:
	// for the life of the process, on a single host).
	Until time.Time
}

// Failure is why a part was not sent, as recorded on the part (ErrorCode,
// ErrorClass, Error).
type Failure struct {
	Code  int    // +CMS/+CME ERROR or TP-ST; 0 when there was none
	Class string // bounded: SendError.Class(), "opted_out", "report", ...
	Error string // human readable, no phone numbers or bodies
}
