// Package gatewaytest holds the test doubles of package gateway's
// interfaces, shared by every test that needs them: MemStore (an in-memory
// store with the documented semantics of the store interfaces), Device (a
// modem whose answers a test scripts) and Recorder (an Emitter that keeps
// what it hears), plus Eventually, a bounded poll.
//
// They are for unit tests of the gateway's logic; the real bbolt store and
// the modem simulator (modem/modemsim) remain what end-to-end tests use.
//
// Concurrency: every type is safe for concurrent use. Errors: MemStore
// returns errors wrapping the gateway sentinels (ErrNotFound, ErrExists).
package gatewaytest
