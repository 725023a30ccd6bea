#!/usr/bin/env bash
# The production path on simulated hardware: `simgate sim` serves two modems on PTYs,
# `simgate keys create` makes a key in a fresh store, `simgate serve` runs a config with a
# person-like pace (1 s between sends on a SIM, as real configs have seconds), and the
# messages sent through the API must all leave, one SIM after the other, while
# `simgate modems` / `simgate messages` talk to it. Then SIGHUP (reload) and SIGTERM
# (orderly shutdown in bounded time). Loopback only; bounded waits; the trap stops all.
set -euo pipefail

cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
sim_pid=""
serve_pid=""

check_name=serve-check
. .ci/lib.sh

cleanup() {
	local rc=$?
	stop_pids $serve_pid $sim_pid
	if ((rc != 0)); then
		echo "--- simgate serve log (last 40 lines)" >&2
		tail -n 40 "$tmp/serve.log" >&2 2>/dev/null || true
		echo "--- simgate sim log (last 10 lines)" >&2
		tail -n 10 "$tmp/sim.log" >&2 2>/dev/null || true
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n "${SIMGATE_BIN:-}" ]]; then
	cp "$SIMGATE_BIN" "$tmp/simgate"
else
	go build -o "$tmp/simgate" ./cmd/simgate
fi
sg="$tmp/simgate"

echo "+ simgate sim -modems 2 -link-dir $tmp/sim"
"$sg" sim -modems 2 -link-dir "$tmp/sim" -control none </dev/null >"$tmp/sim.log" 2>&1 &
sim_pid=$!
watch_pids=$sim_pid
links() { [[ -e "$tmp/sim/modem1" && -e "$tmp/sim/modem2" ]]; }
wait_for 20 "the simulator's ports" links

port=$(free_port 18480) || fail "no free port"
base="http://127.0.0.1:$port"
cat >"$tmp/simgate.yaml" <<YAML
listen: 127.0.0.1:$port
store:
  path: $tmp/simgate.db
default_region: US
log:
  level: info
  format: json
modems:
  - name: sim1
    port: $tmp/sim/modem1
  - name: sim2
    port: $tmp/sim/modem2
pacing:
  min_interval: 1s
  jitter: 0s
  per_minute: 30
  per_day: 1000
  new_contacts_per_day: 200
shutdown_timeout: 10s
YAML
echo "+ simgate serve -config FILE -check"
"$sg" serve -config "$tmp/simgate.yaml" -check
# A modem port that does not exist fails the check, naming it.
sed "s#$tmp/sim/modem2#$tmp/sim/no-such-modem#" "$tmp/simgate.yaml" >"$tmp/missing.yaml"
echo "+ simgate serve -config FILE -check (a modem port that does not exist)"
if out=$("$sg" serve -config "$tmp/missing.yaml" -check 2>&1); then
	fail "serve -check passed a missing modem port: $out"
fi
[[ "$out" == *"$tmp/sim/no-such-modem does not exist"* ]] || fail "serve -check did not name the missing port: $out"
echo "$out"
echo "+ simgate keys create -config FILE -owner ci -scopes admin"
"$sg" keys create -config "$tmp/simgate.yaml" -owner ci -scopes admin >"$tmp/key.txt"
key=$(grep -oE 'sg_[A-Za-z0-9_-]+' "$tmp/key.txt" | head -n 1)
[[ -n "$key" ]] || { cat "$tmp/key.txt"; fail "no key in the output of keys create"; }
export SIMGATE_KEY="$key" SIMGATE_ADDR="$base"

echo "+ simgate serve -config FILE (127.0.0.1:$port)"
"$sg" serve -config "$tmp/simgate.yaml" </dev/null >"$tmp/serve.log" 2>&1 &
serve_pid=$!
watch_pids="$sim_pid $serve_pid"
wait_for 30 "/readyz" curl -fsS -m 2 "$base/readyz"

# Six messages: three to one contact (sticky: one SIM, 1 s apart), three to others.
for to in +12025550140 +12025550140 +12025550140 +12025550141 +12025550142 +12025550143; do
	"$sg" send -to "$to" -body "serve check" >/dev/null
done
sent() { (($(curl -fsS -m 5 "$base/metrics" | awk '/^simgate_parts_sent_total/ { s += $NF } END { printf "%d", s }') >= 6)); }
wait_for 60 "6 parts sent at a 1 s pace" sent
"$sg" modems
"$sg" messages -limit 6
# The three messages to one contact went out through one SIM (sticky sender).
sims=$("$sg" messages -contact +12025550140 -json | grep -oE '"modem": ?"sim[12]"' | sort -u | wc -l)
((sims == 1)) || fail "messages to one contact went through $sims SIMs"

echo "+ kill -HUP (reload)"
kill -HUP "$serve_pid"
wait_for 10 "/readyz after SIGHUP" curl -fsS -m 2 "$base/readyz"
echo "+ kill -TERM (orderly shutdown)"
t0=$SECONDS
kill -TERM "$serve_pid"
rc=0
wait "$serve_pid" || rc=$?
serve_pid=""
watch_pids=$sim_pid
((rc == 0)) || fail "simgate serve exited with $rc after SIGTERM"
echo "serve-check: ok (shutdown took $((SECONDS - t0))s)"
