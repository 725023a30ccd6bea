#!/usr/bin/env bash
# Runs every fuzz target of the module for a short time: FUZZTIME each (default 10s),
# discovered with `go test -list`. FUZZ_BUDGET (seconds, default 240) bounds the total:
# once it is spent, the remaining targets run for 2s each so that every one still runs.
set -euo pipefail

cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
budget=${FUZZ_BUDGET:-240}

list=$(mktemp)
trap 'rm -f "$list"' EXIT
# Output: target names, then "ok  <pkg> <time>" for each package.
# A package whose TestMain fails when no test runs still lists its targets (then FAIL):
# take them, and leave the failure to the fuzz run and to go test. A package that does
# not build lists nothing; go test reports it.
if ! go test -list '^Fuzz' ./... >"$list" 2>&1; then
	echo "fuzz: warning: go test -list failed in some package:"
	grep -vE '^(Fuzz|ok[[:space:]]|\?[[:space:]])' "$list" | head -n 20
fi
targets=()
pending=()
while read -r line; do
	case "$line" in
	Fuzz*) pending+=("$line") ;;
	ok* | FAIL*)
		pkg=$(awk '{print $2}' <<<"$line")
		if [[ -n "$pkg" && "$line" != *"[build failed]"* && "$line" != *"[setup failed]"* ]]; then
			for f in "${pending[@]+"${pending[@]}"}"; do targets+=("$pkg $f"); done
		fi
		pending=()
		;;
	esac
done <"$list"

echo "fuzz: ${#targets[@]} targets"
start=$SECONDS
n=0
failed=()
for t in "${targets[@]+"${targets[@]}"}"; do
	read -r pkg name <<<"$t"
	ft=$fuzztime
	if ((SECONDS - start > budget)); then ft=2s; fi
	n=$((n + 1))
	echo "+ go test -run '^\$' -fuzz '^$name\$' -fuzztime $ft $pkg"
	t0=$SECONDS
	# A failing fuzz run prints the failing input (saved under testdata/fuzz) and fails CI.
	# The Go fuzzer can report a bare "context deadline exceeded" with no
	# failing input when a worker is slow to stop on a loaded machine (a known
	# toolchain flake): run such a target once more; a real finding always
	# writes its input.
	rc=0
	go test -run '^$' -fuzz "^$name\$" -fuzztime "$ft" -parallel 2 "$pkg" >"$list" 2>&1 || rc=$?
	if ((rc != 0)) && grep -q 'context deadline exceeded' "$list" && ! grep -q 'Failing input written' "$list"; then
		echo "fuzz: $name: fuzzer timed out stopping, no failing input; running it again"
		rc=0
		go test -run '^$' -fuzz "^$name\$" -fuzztime "$ft" -parallel 2 "$pkg" >"$list" 2>&1 || rc=$?
	fi
	if ((rc != 0)); then
		cat "$list"
		echo "fuzz: $name in $pkg FAILED (the failing input is now under testdata/fuzz)" >&2
		failed+=("$name")
		continue
	fi
	tail -n 2 "$list"
	echo "fuzz: $name took $((SECONDS - t0))s"
done
echo "fuzz: $n targets in $((SECONDS - start))s"
if ((${#failed[@]})); then
	echo "fuzz: FAILED: ${failed[*]}" >&2
	exit 1
fi
