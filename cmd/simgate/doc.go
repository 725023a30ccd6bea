// Command simgate is a self-hosted SMS gateway driving USB GSM modems.
//
//	simgate serve -config /etc/simgate/simgate.yaml   the daemon
//	simgate demo                                      everything on simulated modems
//	simgate sim -modems 4 -link-dir /tmp/sim          the standalone simulator
//	simgate keys create|list|revoke                   API keys (daemon stopped)
//	simgate send|messages|modems|conversations|optouts|webhooks
//	                                                  clients of a running daemon
//	simgate backup -config FILE -o out.db             a consistent copy of the store
//	simgate version
//
// # What it owns
//
// Flags and subcommands, the configuration (config.go: DefaultConfig, then
// one strict YAML file, then secrets from the environment or 0600 files,
// then Validate), the logger, the Prometheus registry, and the order in
// which the gateway starts and stops (serve.go): store → events → webhook
// deliverer → dispatcher → inbox → modems → dispatcher.Run → API and
// /metrics; and on SIGINT/SIGTERM, bounded by shutdown_timeout: API
// Shutdown → dispatcher Close (in-flight AT commands finish) → its loop and
// the inbox stop → modems close → events flushed to the webhook outbox and
// the deliverer stops → store closes. SIGHUP reloads modems, pacing,
// groups, webhooks and the log level and logs what else needs a restart.
// Under systemd it speaks sd_notify (STATUS= with the count while the
// dispatcher loads the queue, READY once it is loaded, STOPPING, and
// WATCHDOG only after a health check: store writable, dispatcher answering).
//
// # Concurrency
//
// serve's goroutine owns the daemon: it alone reloads and stops. The
// daemon's modem map is guarded by its mutex (discovery adds to it from its
// own goroutine). Every goroutine the daemon starts goes through its
// lifecycle (lifecycle.go), named; start pushes a named cleanup step after
// each part comes up, and stop runs them in reverse within
// shutdown_timeout, waits for every goroutine and joins the errors.
//
// # Errors
//
// A subcommand returns an error; run prints it once and exits 1 (2 for a
// bad command line). Configuration errors name the field or the line.
// The store file is held by one process: keys and offline backup refuse
// plainly while the daemon runs (backup then goes through the daemon's
// admin endpoint).
package main
