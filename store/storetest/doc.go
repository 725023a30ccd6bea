// Package storetest is the store conformance suite: one set of tests that
// every simgate store backend must pass (bbolt in package store, PostgreSQL
// in store/postgres), so that the guarantees documented on the gateway's
// store interfaces hold whichever backend an install runs on.
//
// # Running it
//
// A backend's own test calls Run with a Harness that opens a new, empty
// store for each test and, for the restart checks, reopens the same data:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			Open:   func(t *testing.T) storetest.Backend { ... },
//			Reopen: func(t *testing.T, b storetest.Backend) storetest.Backend { ... },
//		})
//	}
//
// Each test runs as a subtest named area/test (for example
// "messages/CRUD"), so one area or test is selected with
// go test -run 'TestConformance/messages/CRUD'.
//
// # Adding an area
//
// An area is one file of this package (messages.go, inbound.go,
// contacts.go, events.go, keys.go, webhooks.go ...) holding tests of one
// store interface. To add one (campaigns, accounts, retention):
//
//  1. write the tests in a new file as functions func(t *testing.T, h Harness)
//     that get their store from h.Open(t) (never a backend's own type) and
//     assert only what the interface's doc comments promise;
//  2. list them in one var, e.g. var campaignTests = []Test{{"Create", testCampaignCreate}, ...};
//  3. add the area to the areas table in storetest.go.
//
// If the interface is new, add it to Backend and implement it in every
// backend (store and store/postgres) in the same change: the suite is what
// keeps the backends equal, so a backend cannot opt out of an area.
// Backend-specific behaviour (bbolt's file lock and group commit, migrations
// of old bbolt files, PostgreSQL's advisory locks) stays in that backend's
// own tests.
//
// # Rules
//
// Tests are deterministic (fixed times from T0, seeded randomness), never
// assert wall-clock durations, and never sleep to wait. Stores come from the
// harness, which closes them when the test ends; a test that closes a store
// itself must not use it afterwards except to check gateway.ErrClosed.
package storetest
