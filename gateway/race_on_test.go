//go:build race

package gateway_test

// raceEnabled: the race detector makes each store transaction several
// times slower; the largest tests queue fewer messages under it.
const raceEnabled = true
