#!/usr/bin/env bash
# Checks systemd/simgate.service: `systemd-analyze verify` and the sandbox exposure score
# from `systemd-analyze security --offline=yes` (must be <= MAX_EXPOSURE, default 2.0).
# Needs systemd-analyze (Debian package systemd); works without systemd as PID 1.
set -euo pipefail

cd "$(dirname "$0")/.."
unit=systemd/simgate.service
max_exposure=${MAX_EXPOSURE:-2.0}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# verify checks that ExecStart's binary exists and is executable. The unit names the
# installed path /usr/local/bin/simgate, which CI does not touch: verify a copy whose
# ExecStart points at a freshly built binary instead (everything else byte-identical).
grep -q '^ExecStart=/usr/local/bin/simgate serve -config /etc/simgate/simgate.yaml$' "$unit" ||
	{ echo "systemd-check: $unit: unexpected ExecStart" >&2; exit 1; }
if [[ -n "${SIMGATE_BIN:-}" && -x "${SIMGATE_BIN}" ]]; then
	cp "$SIMGATE_BIN" "$tmp/simgate"
else
	go build -o "$tmp/simgate" ./cmd/simgate
fi
sed "s#/usr/local/bin/simgate#$tmp/simgate#" "$unit" >"$tmp/simgate.service"
echo "+ systemd-analyze verify $unit (ExecStart -> built binary)"
out=$(systemd-analyze verify --man=no "$tmp/simgate.service" 2>&1) || { echo "$out" >&2; exit 1; }
# verify reports some problems (unknown keys, bad values) as warnings with exit 0.
if [[ -n "$out" ]]; then
	echo "$out" >&2
	echo "systemd-check: systemd-analyze verify printed warnings" >&2
	exit 1
fi

echo "+ systemd-analyze security --offline=yes $unit"
sec=$(systemd-analyze security --offline=yes "$unit" 2>&1) || { echo "$sec" >&2; exit 1; }
echo "$sec" | grep -v '^✓' || true
score=$(echo "$sec" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [[ -z "$score" ]]; then
	echo "systemd-check: no 'Overall exposure level' line" >&2
	exit 1
fi
if ! awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s + 0 <= m + 0) }'; then
	echo "systemd-check: exposure $score > $max_exposure" >&2
	exit 1
fi
echo "systemd-check: verify clean, exposure $score <= $max_exposure"

# The sysusers file must parse (dry run against a throwaway root).
if command -v systemd-sysusers >/dev/null; then
	mkdir -p "$tmp/root/etc"
	cp /etc/passwd /etc/group "$tmp/root/etc/"
	systemd-sysusers --dry-run --root="$tmp/root" "$PWD/systemd/simgate.sysusers" >/dev/null 2>&1
	echo "systemd-check: simgate.sysusers ok"
fi
