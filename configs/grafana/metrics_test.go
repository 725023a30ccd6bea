package grafana_test

// fixedMetric is one entry of the metric names fixed in the team brief: the dashboard and
// the alert rules are written against exactly these.
type fixedMetric struct {
	typ    string   // counter, gauge or histogram
	labels []string // label names, sorted
}

// fixedMetrics is the contract between simgate's /metrics and configs/grafana,
// configs/prometheus. Change it only together with the code that exports the metric.
var fixedMetrics = map[string]fixedMetric{
	// modem layer (gateway collector over ModemView)
	"simgate_modem_up":                 {"gauge", []string{"modem"}},
	"simgate_modem_info":               {"gauge", []string{"firmware", "manufacturer", "model", "modem"}},
	"simgate_modem_signal_dbm":         {"gauge", []string{"modem"}},
	"simgate_modem_registration_state": {"gauge", []string{"modem"}},
	"simgate_modem_paused":             {"gauge", []string{"modem"}},
	"simgate_modem_budget_remaining":   {"gauge", []string{"budget", "modem"}},
	"simgate_modem_at_timeouts_total":  {"counter", []string{"modem"}},
	"simgate_modem_resets_total":       {"counter", []string{"modem"}},
	// balance checks (gateway/balance)
	"simgate_modem_balance":        {"gauge", []string{"modem"}},
	"simgate_modem_balance_low":    {"gauge", []string{"modem"}},
	"simgate_balance_checks_total": {"counter", []string{"modem", "result"}},
	// carrier-block detector (gateway/blockwatch.go)
	"simgate_modem_block_suspected": {"gauge", []string{"modem"}},
	"simgate_modem_report_ratio":    {"gauge", []string{"modem"}},
	"simgate_modem_reply_ratio":     {"gauge", []string{"modem"}},
	"simgate_modem_replies_stopped": {"gauge", []string{"modem"}},
	"simgate_modem_health_score":    {"gauge", []string{"modem"}},
	// dispatcher
	"simgate_messages_accepted_total":        {"counter", nil},
	"simgate_parts_sent_total":               {"counter", []string{"modem"}},
	"simgate_parts_failed_total":             {"counter", []string{"modem", "reason"}},
	"simgate_parts_delivered_total":          {"counter", []string{"modem"}},
	"simgate_parts_unknown_total":            {"counter", []string{"modem"}},
	"simgate_send_duration_seconds":          {"histogram", []string{"modem"}},
	"simgate_queue_depth":                    {"gauge", []string{"state"}},
	"simgate_queue_oldest_age_seconds":       {"gauge", nil},
	"simgate_status_reports_unmatched_total": {"counter", nil},
	// inbound, events, webhooks
	"simgate_messages_received_total":  {"counter", []string{"modem"}},
	"simgate_optouts_total":            {"counter", []string{"action"}},
	"simgate_webhook_deliveries_total": {"counter", []string{"result"}},
	"simgate_webhook_pending":          {"gauge", nil},
	// api
	"simgate_http_requests_total":           {"counter", []string{"code", "method", "route"}},
	"simgate_http_request_duration_seconds": {"histogram", []string{"method", "route"}},
	// store
	"simgate_store_errors_total": {"counter", []string{"op"}},
	// cmd
	"simgate_build_info": {"gauge", []string{"goversion", "version"}},
}

// presentAfterDemoTraffic lists the metrics a scrape of the demo must contain once messages
// were sent through it and two contacts replied, one with STOP (.ci/prometheus-check.sh). The others are label vectors that
// only get a series when their event happens (a failure, an opt-out, a webhook delivery, a
// store error ...), so their absence from a healthy demo is no defect.
var presentAfterDemoTraffic = []string{
	"simgate_modem_up",
	"simgate_modem_info",
	"simgate_modem_signal_dbm",
	"simgate_modem_registration_state",
	"simgate_modem_paused",
	"simgate_modem_block_suspected",
	"simgate_modem_replies_stopped",
	"simgate_modem_at_timeouts_total",
	"simgate_modem_resets_total",
	"simgate_modem_budget_remaining",
	"simgate_messages_accepted_total",
	"simgate_parts_sent_total",
	"simgate_messages_received_total",
	"simgate_optouts_total",
	"simgate_send_duration_seconds",
	"simgate_queue_depth",
	"simgate_queue_oldest_age_seconds",
	"simgate_webhook_pending",
	"simgate_http_requests_total",
	"simgate_http_request_duration_seconds",
	"simgate_build_info",
}
