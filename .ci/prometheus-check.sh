#!/usr/bin/env bash
# Prometheus and Grafana checks against the real daemon:
#   1. promtool check rules / test rules on configs/prometheus, promtool check config
#   2. every dashboard query through promtool (configs/grafana TestDashboardQueriesPromtool)
#   3. the demo (`simgate demo`, simulated modems) on loopback; messages sent through its API
#   4. promtool check metrics on its real /metrics, and the scrape compared with the fixed
#      metric names, types and labels (TestScrapeMatchesFixedMetrics)
#   5. a real Prometheus server on loopback scraping the demo every second, with the alert
#      rules loaded; the dashboard's queries asked through its HTTP API
#      (TestDashboardAgainstPrometheus): the main panels must answer non-empty.
# Everything listens on 127.0.0.1 only; every wait is bounded; the trap stops what it started.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
tmp=$(mktemp -d)
demo_pid=""
prom_pid=""

check_name=prometheus-check
. .ci/lib.sh

cleanup() {
	local rc=$?
	stop_pids $prom_pid $demo_pid
	if ((rc != 0)); then
		echo "--- demo log (last 60 lines)" >&2
		tail -n 60 "$tmp/demo.log" >&2 2>/dev/null || true
		echo "--- prometheus log (last 30 lines)" >&2
		tail -n 30 "$tmp/prometheus.log" >&2 2>/dev/null || true
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "+ promtool check rules configs/prometheus/alerts.yml"
promtool check rules configs/prometheus/alerts.yml
echo "+ promtool test rules configs/prometheus/alerts_test.yml"
promtool test rules configs/prometheus/alerts_test.yml
echo "+ promtool check config configs/prometheus/prometheus.yml"
promtool check config configs/prometheus/prometheus.yml
echo "+ promtool check rules <every dashboard query>"
SIMGATE_DASHBOARD_RULES="$tmp/dashboard-rules.yml" \
	go test -count=1 -run '^(TestDashboardQueriesPromtool|TestQueriesUseOnlyFixedMetrics|TestDashboardStructure)$' -v ./configs/grafana |
	grep -E '^(=== RUN|--- |ok|FAIL|PASS)|SUCCESS|rules found' || true
promtool check rules "$tmp/dashboard-rules.yml"

# --- the demo -------------------------------------------------------------------------
if [[ -n "${SIMGATE_BIN:-}" ]]; then
	cp "$SIMGATE_BIN" "$tmp/simgate" # a prebuilt binary (.ci/run builds one)
else
	go build -o "$tmp/simgate" ./cmd/simgate
fi
port=$(free_port 18080) || fail "no free port"
base="http://127.0.0.1:$port"
echo "+ simgate demo -listen 127.0.0.1:$port"
"$tmp/simgate" demo -listen "127.0.0.1:$port" </dev/null >"$tmp/demo.log" 2>&1 &
demo_pid=$!
watch_pids=$demo_pid
wait_for 60 "the demo's /healthz" curl -fsS -m 2 "$base/healthz"
wait_for 30 "the demo's /readyz (a modem up)" curl -fsS -m 2 "$base/readyz"
# The demo prints its key (export SIMGATE_KEY=...) and the simulator's control endpoint
# (curl ... http://127.0.0.1:N/sms) with its ready-to-paste examples.
wait_for 10 "the demo key in its output" grep -qE '^ *export SIMGATE_KEY=[^ ]+' "$tmp/demo.log"
key=$(sed -n 's/^ *export SIMGATE_KEY=\([^ ]*\).*/\1/p' "$tmp/demo.log" | head -n 1)
control=$(grep -oE 'http://127\.0\.0\.1:[0-9]+/sms' "$tmp/demo.log" | head -n 1 | sed 's#/sms$##')
[[ -n "$key" && -n "$control" ]] || fail "no key or control endpoint in the demo's output"

send() { # send TO BODY
	curl -fsS -m 5 -X POST "$base/v1/messages" \
		-H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
		-d "{\"to\":\"$1\",\"body\":\"$2\"}" >/dev/null
}

metric_sum() { # metric_sum NAME: sum of the series of NAME on /metrics (0 if none)
	curl -fsS -m 5 "$base/metrics" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%d\n", s }'
}
sent_at_least() { (($(metric_sum simgate_parts_sent_total) >= $1)); }

# --- a real Prometheus server ---------------------------------------------------------
pport=$(free_port 19090) || fail "no free port"
mkdir -p "$tmp/prom"
cp configs/prometheus/alerts.yml "$tmp/prom/alerts.yml"
cat >"$tmp/prom/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $tmp/prom/alerts.yml
scrape_configs:
  - job_name: simgate
    static_configs:
      - targets: ["127.0.0.1:$port"]
YAML
promtool check config "$tmp/prom/prometheus.yml" >/dev/null
echo "+ prometheus --web.listen-address=127.0.0.1:$pport (scraping 127.0.0.1:$port every 1s)"
prometheus --config.file="$tmp/prom/prometheus.yml" --storage.tsdb.path="$tmp/prom/data" \
	--web.listen-address="127.0.0.1:$pport" --log.level=warn </dev/null >"$tmp/prometheus.log" 2>&1 &
prom_pid=$!
prom="http://127.0.0.1:$pport"
wait_for 60 "Prometheus ready" curl -fsS -m 2 "$prom/-/ready"
scraped() { curl -fsS -m 2 "$prom/api/v1/query" --data-urlencode 'query=up{job="simgate"} == 1' | grep -q '"value"'; }
wait_for 30 "Prometheus' first scrape of the demo" scraped

# Traffic after the first scrape, so counters move between scrapes.
before=$(metric_sum simgate_parts_sent_total)
for i in 0 1 2 3 4 5 6 7; do send "+1202555010$i" "prometheus check $i"; done
echo "sent 8 messages; parts sent before: $before"
wait_for 90 "8 more parts sent" sent_at_least $((before + 8))
echo "parts sent now: $(metric_sum simgate_parts_sent_total)"
# Two contacts reply through the simulated network, one of them with STOP.
curl -fsS -m 5 -d '{"from": "+12025550100", "text": "Yes, count me in"}' "$control/sms" >/dev/null
curl -fsS -m 5 -d '{"from": "+12025550101", "text": "STOP"}' "$control/sms" >/dev/null
received() { (($(metric_sum simgate_messages_received_total) >= 2)); }
opted_out() { (($(metric_sum simgate_optouts_total) >= 1)); }
wait_for 60 "2 inbound messages received" received
wait_for 30 "1 opt-out counted" opted_out

# --- /metrics -------------------------------------------------------------------------
curl -fsS -m 5 "$base/metrics" >"$tmp/metrics.txt"
echo "+ promtool check metrics < /metrics ($(grep -c '^simgate_' "$tmp/metrics.txt") simgate series)"
promtool check metrics <"$tmp/metrics.txt" || fail "promtool check metrics found problems"
echo "+ go test ./configs/grafana -run TestScrapeMatchesFixedMetrics (real scrape)"
failed=""
# On failure go on to the Prometheus queries (they tell more), and fail at the end.
SIMGATE_METRICS_FILE="$tmp/metrics.txt" go test -count=1 -run '^TestScrapeMatchesFixedMetrics$' -v ./configs/grafana ||
	failed="$failed TestScrapeMatchesFixedMetrics"

# rate() needs the increase inside its window: wait until Prometheus sees throughput.
moving() { curl -fsS -m 2 "$prom/api/v1/query" --data-urlencode 'query=sum(rate(simgate_parts_sent_total[1m])) > 0' | grep -q '"value"'; }
wait_for 30 "Prometheus to see parts being sent" moving
echo "+ go test ./configs/grafana -run TestDashboardAgainstPrometheus ($prom)"
SIMGATE_PROMETHEUS_URL="$prom" go test -count=1 -run '^TestDashboardAgainstPrometheus$' -v ./configs/grafana ||
	failed="$failed TestDashboardAgainstPrometheus"
[[ -z "$failed" ]] || fail "failed:$failed"
echo "prometheus-check: ok"
