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
# ExecStart points at an executable in a temporary directory (everything else identical).
grep -q '^ExecStart=/usr/local/bin/simgate serve -config /etc/simgate/simgate.yaml$' "$unit" ||
	{ echo "systemd-check: $unit: unexpected ExecStart" >&2; exit 1; }
printf '#!/bin/sh\nexit 0\n' >"$tmp/simgate"
chmod 0755 "$tmp/simgate"
sed "s#/usr/local/bin/simgate#$tmp/simgate#" "$unit" >"$tmp/simgate.service"
echo "+ systemd-analyze verify $unit (ExecStart -> a placeholder executable)"
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

# The unit's resource limits and restart limits (a leak or a crash loop must not take the
# host down with it). StartLimit* belong to [Unit]; the others to [Service].
for want in Unit:StartLimitIntervalSec Unit:StartLimitBurst Service:MemoryHigh Service:MemoryMax Service:TasksMax; do
	section=${want%%:*} key=${want#*:}
	if ! awk -v s="[$section]" -v k="$key" '
		/^\[/ { in_s = ($0 == s) }
		in_s && index($0, k "=") == 1 { found = 1 }
		END { exit !found }' "$unit"; then
		echo "systemd-check: $unit: [$section] has no $key=" >&2
		exit 1
	fi
done
echo "systemd-check: memory, task and restart limits set"

rules=${UDEV_RULES:-systemd/99-simgate.rules}
# ModemManager must leave the whole modem alone, not only its AT tty: every vendor (or
# serial) that gets a /dev/simgate name also has an ID_MM_DEVICE_IGNORE rule that matches
# the USB device and everything below it (no interface number, no tty-only match), placed
# before the rules that skip every non-tty event.
awk '
	/^[[:space:]]*#/ && cont == "" { next }
	{ line = cont $0; cont = "" }
	/\\$/ { sub(/\\$/, "", line); cont = line; next }
	/SUBSYSTEM!="tty"/ { tty_only = 1 }
	/ID_MM_DEVICE_IGNORE/ && !tty_only && line !~ /ID_USB_INTERFACE_NUM|SUBSYSTEM==|KERNEL==/ {
		if (match(line, /ATTRS\{idVendor\}=="[^"]*"/)) whole[substr(line, RSTART, RLENGTH)] = 1
	}
	/SYMLINK\+=/ && match(line, /ATTRS\{idVendor\}=="[^"]*"/) { named[substr(line, RSTART, RLENGTH)] = NR }
	END {
		for (v in named) if (!(v in whole)) { printf "%s:%d: %s gets a name but ModemManager is not kept off its whole device\n", FILENAME, named[v], v; bad = 1 }
		exit bad
	}' "$rules"
echo "systemd-check: ModemManager ignores the whole USB device of every named modem"

# The udev rule: `udevadm verify` exists from systemd 253 on; older ones lack a checker.
if udevadm verify --help >/dev/null 2>&1; then
	udevadm verify --resolve-names=never systemd/99-simgate.rules
	echo "systemd-check: 99-simgate.rules ok"
else
	# A plain syntax check instead: every rule is comma-separated KEY{attr}OP"value" pairs
	# (continuation lines joined), and every GOTO has its LABEL.
	awk '
		/^[[:space:]]*(#|$)/ && cont == "" { next }
		{ line = cont $0; cont = "" }
		/\\$/ { sub(/\\$/, "", line); cont = line; next }
		{
			rest = line
			while (rest != "") {
				sub(/^[[:space:]]*,?[[:space:]]*/, "", rest)
				if (rest == "") break
				if (!match(rest, /^[A-Z_]+(\{[^}]*\})?(==|!=|\+=|-=|:=|=)"[^"]*"/)) {
					printf "99-simgate.rules:%d: cannot parse: %s\n", NR, rest; bad = 1; break
				}
				tok = substr(rest, 1, RLENGTH); rest = substr(rest, RLENGTH + 1)
				if (tok ~ /^GOTO=/) { g = tok; gsub(/^GOTO="|"$/, "", g); gotos[g] = NR }
				if (tok ~ /^LABEL=/) { l = tok; gsub(/^LABEL="|"$/, "", l); labels[l] = 1 }
				n++
			}
		}
		END {
			for (g in gotos) if (!(g in labels)) { printf "99-simgate.rules:%d: GOTO %s has no LABEL\n", gotos[g], g; bad = 1 }
			if (n == 0) { print "99-simgate.rules: no rules"; bad = 1 }
			exit bad
		}' "${UDEV_RULES:-systemd/99-simgate.rules}"
	echo "systemd-check: 99-simgate.rules parses (udevadm verify needs systemd >= 253)"
fi
