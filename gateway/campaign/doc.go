// Package campaign is simgate's peer-to-peer campaign domain: campaigns
// (draft → active ⇄ paused → archived), their contacts imported from CSV,
// scripts with merge fields, survey trees, canned responses and tags,
// texters and their assignments, first messages sent one contact per call,
// replies routed to the texter who holds the conversation (or to the
// organisation inbox), survey answers with their history, opt-outs,
// exports and progress statistics, and an event for every act (who, when,
// what) as evidence.
//
// It builds on package gateway and imports no adapter: persistence is the
// Store interface declared here (store.DB implements it in bbolt,
// store/postgres in PostgreSQL; store/storetest is their shared
// conformance suite), sending goes through a Sender (gateway.Dispatcher's
// Submit: sticky SIMs, pacing, budgets and the opt-out re-check all apply),
// and inbound messages and opt-outs reach the Service as a gateway.Notifier
// subscribed to gateway.Events (cmd/simgate wires it). Notifications are
// handed over from memory, so at start-up Recover files what a crash may
// have kept from Notify (inbound messages no campaign filed, opt-outs not
// yet applied).
//
// # Concurrency
//
// Service is safe for concurrent use: every state change is one Store
// update function (read-modify-write in one transaction), so two texters
// racing for a contact, or a client repeating a send, cannot double a
// first message: SendFirst submits with an idempotency key derived from
// (campaign, contact, step) and records the result idempotently. Import
// runs one at a time per campaign (ErrImportRunning otherwise). Notify
// handles gateway events in the order they are emitted.
//
// # Errors
//
// Methods return gateway.ErrNotFound, gateway.ErrOptedOut and
// *gateway.ValidationError as gateway does, and this package's ErrState,
// ErrNotAssigned, ErrForbidden, ErrImportRunning, ErrOpenReplies,
// ErrContactClosed, *ComplianceError (a campaign that may not start),
// *HoursError (outside the contact's texting hours, with when they open),
// *FormatError (a malformed CSV file, with line and column) and
// *MissingFieldError (a merge value the script needs is blank).
package campaign
