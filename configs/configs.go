// Package configs holds simgate's configuration files. It embeds demo.yaml,
// the configuration `simgate demo` runs with, so that `go run
// ./cmd/simgate demo` works from any directory. The other files here
// (simgate.example.yaml, grafana/, prometheus/) are read by people and by
// tests, not by the binary.
package configs

import _ "embed"

// Demo is demo.yaml.
//
//go:embed demo.yaml
var Demo []byte
