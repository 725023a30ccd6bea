package gateway

import "time"

// QueueEntry is what a queue needs to know of a message to schedule it,
// and nothing else (no body, no PDUs): a store keeps one beside every
// outbound message that still has parts to send or a part in flight, in
// the same transaction as the message, so that a queue can be rebuilt at
// start-up without reading the messages (QueueStore.QueueEntries).
type QueueEntry struct {
	ID       string
	Contact  string
	From     string // Message.From: the modem or group asked for
	Modem    string // Message.Modem: the modem that sent (last assigned) it
	Priority int
	// SendAt, NextAttemptAt and ExpiresAt are the message's (zero: unset).
	SendAt        time.Time
	NextAttemptAt time.Time
	ExpiresAt     time.Time
	TextingWindow TextingWindow // zero: any time
	// Pending counts the parts still to send (queued or assigned).
	Pending int
	// Submitted: a part went out (submitted or delivered), so the others
	// follow through Modem.
	Submitted bool
	// InFlight: a part is assigned or submitting. At start-up the crash
	// rules must look at the whole message (recoverParts).
	InFlight bool
	// Sticky is the contact's SIM as the store knew it when it read the
	// entry ("": none). QueueEntries fills it; it is not stored.
	Sticky string
}

// EntryOf is m's queue entry; ok is false when m is not an outbound message
// with something left to do for a queue (no part to send, none in flight,
// or a terminal status).
func EntryOf(m *Message) (e QueueEntry, ok bool) {
	if m == nil || m.Direction != Outbound || m.Status.Terminal() {
		return QueueEntry{}, false
	}
	for _, p := range m.Parts {
		switch p.State {
		case PartQueued:
			e.Pending++
		case PartAssigned:
			e.Pending++
			e.InFlight = true
		case PartSubmitting:
			e.InFlight = true
		case PartSubmitted, PartDelivered:
			e.Submitted = true
		}
	}
	if e.Pending == 0 && !e.InFlight {
		return QueueEntry{}, false
	}
	e.ID, e.Contact, e.From, e.Modem, e.Priority = m.ID, m.Contact, m.From, m.Modem, m.Priority
	e.SendAt, e.NextAttemptAt, e.ExpiresAt = m.SendAt, m.NextAttemptAt, m.ExpiresAt
	if m.TextingWindow != nil {
		e.TextingWindow = *m.TextingWindow
	}
	return e, true
}
