# Helpers shared by the .ci check scripts. Source it after setting:
#   check_name   the script's name, for messages
#   watch_pids   (optional, may change later) processes that must stay alive while waiting

fail() { echo "$check_name: $*" >&2; exit 1; }

# stop_pids PID...: SIGTERM each running PID, wait up to 5 s, then SIGKILL.
stop_pids() {
	local pid
	for pid in "$@"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}

# free_port FIRST: the first port from FIRST on that nothing listens on (127.0.0.1).
free_port() {
	local p
	for ((p = $1; p < $1 + 100; p++)); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# wait_for SECONDS WHAT COMMAND...: poll COMMAND every 0.5 s until it succeeds; fail
# after SECONDS, or as soon as a process in $watch_pids has exited.
wait_for() {
	local secs=$1 what=$2 pid
	local deadline=$((SECONDS + secs))
	shift 2
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || fail "timed out after ${secs}s waiting for $what"
		for pid in ${watch_pids:-}; do
			kill -0 "$pid" 2>/dev/null || fail "process $pid exited while waiting for $what"
		done
		sleep 0.5
	done
}
