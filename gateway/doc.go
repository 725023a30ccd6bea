// Package gateway is simgate's domain: messages and their parts, the states a
// part goes through, modems as the gateway sees them, the queue that decides
// which SIM sends what, pacing, retries, inbound reassembly, opt-outs and the
// events that leave the gateway.
//
// gateway imports no adapter. It declares the small interfaces it needs of
// its adapters, each where it is used (DispatcherStore, InboxStore,
// QueueStore, Device, Notifier ...), and the adapters (store, modem, api)
// import gateway, never each other. cmd/simgate wires them.
//
// # The outbound engine
//
// Dispatcher is the front of five parts, each owning its state: intake
// (intake.go: Submit validates, encodes, stores, queues), the Queue
// (queue.go: the contract; localqueue.go: the single-host LocalQueue), the
// fleet (fleet.go: modems, pauses, drains, pacing, budgets, counters), one
// worker per modem (worker.go: the send loop) and the report matcher
// (reports.go). Waiting (waiting.go) says why a queued message has not left.
// The fleet also keeps the SIM inventory (sims.go): what belongs to a SIM
// (budgets, pause or drain, counters, balance readings, sticky contacts,
// the carrier-block watch's record)
// rather than to the modem it is in, and follows it when it moves
// (Dispatcher.SIMs, Store.RebindSIM).
//
// # Concurrency
//
// Every exported method is safe for concurrent use. The locks, and who may
// hold which while taking another:
//
//   - LocalQueue.mu guards the in-memory index (items, heaps, bindings,
//     wake channels). While holding it the queue calls the ModemDirectory
//     (the fleet), so the order is LocalQueue.mu, then fleet.mu; the fleet
//     never calls the queue with its lock held (it wakes workers after
//     unlocking). Store calls are made without the queue's lock.
//   - fleet.mu guards every modem's mutable state; it is never held across
//     a device, store or emitter call (Device.Status and Info are read
//     outside it).
//   - reports.mu guards only the reports that overtook their part's record.
//   - Dispatcher.mu guards its lifecycle (running, closed, the run context).
//
// Goroutines: Run starts one worker per modem (and one per modem added
// later) and the scheduler; a worker starts short-lived goroutines to claim
// its next message while a send is on the wire and to record the last
// part's outcome; all are counted in one WaitGroup that Run waits for before
// it returns, so Close (bounded by Config.CloseTimeout) returns only once
// every in-flight AT+CMGS exchange has been recorded. Inbox.Run and
// Events (one goroutine per notifier) stop with their context and Close.
//
// # Errors
//
// The sentinels in errors.go (ErrNotFound, ErrOptedOut, ...) are matched
// with errors.Is; a failed send is a *SendError, matched with errors.As,
// which says whether a retry may help and whether the outcome of the send is
// unknown (Ambiguous). A Queue transition on a claim that lost its message
// fails with ErrClaimLost. Bad input is a *ValidationError naming the field.
package gateway
