package gateway_test

import (
	"testing"

	"github.com/simgate/simgate/gateway"
)

// inbOpenStore returns the store the inbound tests run against.
func inbOpenStore(t *testing.T) gateway.Store {
	t.Helper()
	return newInbMemStore()
}
