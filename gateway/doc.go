// Package gateway is simgate's domain: messages and their parts, the states a
// part goes through, modems as the gateway sees them, the pool that decides
// which SIM sends what, pacing, retries, inbound reassembly, opt-outs and the
// events that leave the gateway.
//
// gateway imports no adapter. It declares the small interfaces it needs of
// its adapters (Store and its parts, Device, Notifier) and the adapters
// (store, modem, api) import gateway, never each other. cmd/simgate wires them.
//
// Errors: the sentinels in errors.go (ErrNotFound, ErrOptedOut, ...) are
// matched with errors.Is; a failed send is a *SendError, matched with
// errors.As, which says whether a retry may help and whether the outcome of
// the send is unknown (Ambiguous).
package gateway
