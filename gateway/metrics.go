package gateway

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the dispatcher's counters plus a collector that reads modem
// state and queue depth at scrape time. Names and labels are a contract with
// the dashboard and alerts in configs/grafana and configs/prometheus (and
// .ci/prometheus-check.sh checks them): add, do not rename.
type metrics struct {
	accepted     prometheus.Counter
	sent         *prometheus.CounterVec
	failed       *prometheus.CounterVec
	delivered    *prometheus.CounterVec
	unknown      *prometheus.CounterVec
	sendDuration *prometheus.HistogramVec
	unmatched    prometheus.Counter
	unconfirmed  *prometheus.CounterVec
	// blockwatch.go
	reportRatio *prometheus.GaugeVec
	replyRatio  *prometheus.GaugeVec
}

func newMetrics(d *Dispatcher, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "simgate_messages_accepted_total", Help: "Outbound messages accepted and stored."}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simgate_parts_sent_total", Help: "Parts submitted (+CMGS answered)."}, []string{"modem"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simgate_parts_failed_total", Help: "Failed part sends and failure reports, by error class."}, []string{"modem", "reason"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simgate_parts_delivered_total", Help: "Parts a status report said were delivered."}, []string{"modem"}),
		unknown: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simgate_parts_unknown_total", Help: "Parts whose fate cannot be known (answer lost after the PDU went out, or a crash)."}, []string{"modem"}),
		sendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "simgate_send_duration_seconds", Help: "AT+CMGS round trip.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 6, 10, 20, 40, 90}}, []string{"modem"}),
		unmatched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "simgate_status_reports_unmatched_total", Help: "Status reports no part matched."}),
		unconfirmed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simgate_messages_unconfirmed_total", Help: "Messages whose status report did not come within the report window."}, []string{"modem"}),
		reportRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "simgate_modem_report_ratio", Help: "Fraction of the SIM's last settled parts (block_watch.window) whose status report came."}, []string{"modem"}),
		replyRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "simgate_modem_reply_ratio", Help: "Fraction of the SIM's last settled sends (block_watch.reply_window) whose contact answered within block_watch.reply_wait."}, []string{"modem"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.accepted, m.sent, m.failed, m.delivered, m.unknown, m.sendDuration, m.unmatched, m.unconfirmed, m.reportRatio, m.replyRatio, &collector{d: d}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

var (
	descUp   = prometheus.NewDesc("simgate_modem_up", "1 when the modem is up.", []string{"modem"}, nil)
	descInfo = prometheus.NewDesc("simgate_modem_info", "Modem identity.",
		[]string{"modem", "manufacturer", "model", "firmware"}, nil)
	descSignal   = prometheus.NewDesc("simgate_modem_signal_dbm", "Signal strength.", []string{"modem"}, nil)
	descReg      = prometheus.NewDesc("simgate_modem_registration_state", "+CREG stat 0..5.", []string{"modem"}, nil)
	descPaused   = prometheus.NewDesc("simgate_modem_paused", "1 when the modem is paused.", []string{"modem"}, nil)
	descHealth   = prometheus.NewDesc("simgate_modem_health_score", "SIM health 0..100 (README: SIM health).", []string{"modem"}, nil)
	descBlock    = prometheus.NewDesc("simgate_modem_block_suspected", "1 while the carrier-block detector holds the SIM paused.", []string{"modem"}, nil)
	descReplies  = prometheus.NewDesc("simgate_modem_replies_stopped", "1 while the carrier-block detector holds the SIM paused because its contacts' replies stopped.", []string{"modem"}, nil)
	descBudget   = prometheus.NewDesc("simgate_modem_budget_remaining", "What is left of a daily budget.", []string{"modem", "budget"}, nil)
	descTimeouts = prometheus.NewDesc("simgate_modem_at_timeouts_total", "AT command timeouts.", []string{"modem"}, nil)
	descResets   = prometheus.NewDesc("simgate_modem_resets_total", "Modem recoveries.", []string{"modem"}, nil)
	descDepth    = prometheus.NewDesc("simgate_queue_depth", "Outbound messages by status.", []string{"state"}, nil)
	descOldest   = prometheus.NewDesc("simgate_queue_oldest_age_seconds", "Age of the oldest queued message.", nil, nil)
	descLoading  = prometheus.NewDesc("simgate_queue_loading", "1 while the queue loads at start-up (nothing is sent yet).", nil, nil)
)

// collector reads modem state and the queue at scrape time.
type collector struct{ d *Dispatcher }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descInfo, descSignal, descReg, descPaused, descBlock, descReplies, descHealth, descBudget, descTimeouts, descResets, descDepth, descOldest, descLoading} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, v := range d.Modems() {
		n := v.Name
		gauge(descUp, b2f(v.Status.State == ModemUp), n)
		gauge(descInfo, 1, n, v.Info.Manufacturer, v.Info.Model, v.Info.Firmware)
		if dbm, ok := v.Status.SignalDBm(); ok {
			gauge(descSignal, float64(dbm), n)
		}
		gauge(descReg, float64(v.Status.Registration), n)
		gauge(descPaused, b2f(v.Paused), n)
		gauge(descHealth, float64(v.Health.Score), n)
		gauge(descBlock, b2f(v.Paused && strings.HasPrefix(v.PauseReason, BlockPauseReason)), n)
		gauge(descReplies, b2f(v.Paused && strings.HasPrefix(v.PauseReason, RepliesStoppedReason)), n)
		if v.Budget.LeftToday >= 0 {
			gauge(descBudget, float64(v.Budget.LeftToday), n, "parts_day")
		}
		if v.Budget.NewContactsLeft >= 0 {
			gauge(descBudget, float64(v.Budget.NewContactsLeft), n, "new_contacts_day")
		}
		ch <- prometheus.MustNewConstMetric(descTimeouts, prometheus.CounterValue, float64(v.Status.ATTimeouts), n)
		ch <- prometheus.MustNewConstMetric(descResets, prometheus.CounterValue, float64(v.Status.Resets), n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if counts, err := d.st.CountByStatus(ctx); err == nil {
		for _, s := range []Status{StatusQueued, StatusSending, StatusSent} {
			if _, ok := counts[s]; !ok {
				counts[s] = 0
			}
		}
		for s, n := range counts {
			gauge(descDepth, float64(n), string(s))
		}
	} else {
		d.log.Warn("queue depth", "err", err)
	}
	gauge(descOldest, d.oldestQueued().Seconds())
	loading, _ := d.Loading()
	gauge(descLoading, b2f(loading))
}

// oldestQueued is the age of the oldest message waiting in the queue.
func (d *Dispatcher) oldestQueued() time.Duration {
	st, err := d.q.Stats(context.Background())
	if err != nil || st.Oldest.IsZero() {
		return 0
	}
	return max(0, d.now().Sub(st.Oldest))
}
