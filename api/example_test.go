package api_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/simgate/simgate/api"
)

// GenerateKey makes the secret shown once to the operator and the record
// the store keeps (only the secret's SHA-256).
func ExampleGenerateKey() {
	secret, k, err := api.GenerateKey("alice", []string{"send", "read"}, time.Now())
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.HasPrefix(secret, api.KeyPrefix), len(secret))
	fmt.Println(k.Owner, k.Scopes, len(k.Hash))
	fmt.Println(string(k.Hash) == string(api.HashKey(secret)))
	// Output:
	// true 46
	// alice [read send] 32
	// true
}
