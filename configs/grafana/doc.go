// Package grafana holds simgate's Grafana dashboard (simgate.json) and its provisioning
// files. It has no code: its tests check that every query of the dashboard and of the
// Prometheus alert rules in ../prometheus names only metrics and labels that simgate
// exports (the fixed list in metrics_test.go), that the queries parse (promtool), and,
// given a real /metrics scrape (SIMGATE_METRICS_FILE), that the daemon exports exactly
// those names, types and labels.
package grafana
