package gateway

// Internal helpers the external tests (package gateway_test) use.
var DecodeParts = decodeParts
