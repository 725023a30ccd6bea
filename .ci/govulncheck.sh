#!/usr/bin/env bash
# Known vulnerabilities: govulncheck against a local copy of the Go vulnerability database.
#
# The database is not fetched from vuln.go.dev: it is the Go module golang.org/x/vulndb
# (its data/osv/*.json, fetched through the module proxy like any dependency), turned into
# govulncheck's v1 database format by that module's own cmd/indexdb, and read with
# `govulncheck -db file://DIR`. The built database is cached by vulndb version under
# ${SIMGATE_CI_CACHE:-~/.cache/simgate-ci}/vulndb/, so a run with the newest version
# already built costs one module lookup and the scan (~10 s). With no network at all,
# the newest database built before is used (and said so).
#
# Policy (what fails CI):
#   - a vulnerability in a dependency module that our code calls (govulncheck finds a
#     call path) and that a newer version of the module fixes: upgrade it (go get MOD@FIXED);
#   - a called one that no release fixes, unless .ci/govulncheck-accepted lists its ID
#     with the reason it does not apply (read the advisory; say which symbol we avoid) and
#     a guard: a pattern for that use, which must not match our code (so the acceptance
#     ends by itself when the code starts using it).
# What is reported and does not fail:
#   - standard library advisories: they are fixed in a Go patch release, and CI can only
#     use the Go it has (`go version`; toolchains cannot be downloaded here). The list
#     says which of them our code calls: upgrade Go when that release can be installed;
#   - advisories in packages we import or modules we require whose vulnerable code we
#     do not call (govulncheck's "package" and "module" levels).
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"
cache=${SIMGATE_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/simgate-ci}/vulndb
accepted=.ci/govulncheck-accepted
mkdir -p "$cache"

# The newest vulndb through the module proxy (a pseudo-version: it has no tags).
db=""
if info=$(go mod download -json golang.org/x/vulndb@latest 2>"$cache/download.err"); then
	version=$(jq -r .Version <<<"$info")
	src=$(jq -r .Dir <<<"$info")
	db="$cache/$version"
	if [[ ! -f "$db/index/modules.json" ]]; then
		indexdb="$cache/indexdb-$version"
		if [[ ! -x "$indexdb" ]]; then
			echo "+ build golang.org/x/vulndb/cmd/indexdb@$version"
			(cd "$src" && go build -o "$indexdb" ./cmd/indexdb)
		fi
		echo "+ indexdb: $(find "$src/data/osv" -name '*.json' | wc -l) OSV entries -> $db"
		rm -rf "$db.tmp"
		"$indexdb" -vulns "$src/data/osv" -out "$db.tmp"
		mv "$db.tmp" "$db"
		# Keep the two newest databases (and no half-built one).
		ls -1dt "$cache"/v0.0.0-* 2>/dev/null | grep -v '\.tmp$' | tail -n +3 | xargs -r rm -rf
		find "$cache" -maxdepth 1 -name 'indexdb-*' ! -name "indexdb-$version" -delete
	fi
else
	db=$(ls -1t "$cache"/v0.0.0-*/index/modules.json 2>/dev/null | head -n 1 || true)
	db=${db%/index/modules.json}
	[[ -n "$db" ]] || { cat "$cache/download.err" >&2; echo "govulncheck: no vulndb: the module proxy cannot be reached and none is cached" >&2; exit 1; }
	echo "govulncheck: the module proxy cannot be reached; using the cached $(basename "$db")" >&2
fi
echo "+ govulncheck -db file://$db ./...   ($(govulncheck -version | grep Scanner), $(go version | cut -d' ' -f3), vulndb $(basename "$db"))"
govulncheck -db "file://$db" -format json ./... >"$cache/report.json"

# One line per advisory at its most precise level: called > package imported > module required.
rows=$(jq -r -s '
	(map(select(.osv)) | map({key: .osv.id, value: .osv.summary}) | from_entries) as $summary
	| [.[] | select(.finding) | .finding
	   | {id: .osv, fixed: (.fixed_version // ""), mod: .trace[0].module, ver: (.trace[0].version // ""),
	      level: (if .trace[0].function then 2 elif .trace[0].package then 1 else 0 end)}]
	| group_by([.id, .mod]) | map(max_by(.level)) | sort_by(-.level, .mod, .id)[]
	| [.id, (["module", "imported", "called"][.level]), .mod, .ver,
	   (if .fixed == "" then "-" else .fixed end), $summary[.id]] | @tsv' "$cache/report.json")

fail=0
printf '%-14s %-8s %-28s %-9s %-10s %s\n' ID LEVEL MODULE FOUND FIXED VERDICT
while IFS=$'\t' read -r id level mod ver fixed summary; do
	[[ -n "$id" ]] || continue
	verdict="ok: not called"
	if [[ "$mod" == stdlib ]]; then
		verdict="report: fixed in Go ${fixed#v}; CI has $(go env GOVERSION)"
		[[ "$level" == called ]] && verdict="report: CALLED; fixed in Go ${fixed#v}, upgrade Go when it can be installed"
	elif [[ "$level" == called && "$fixed" != - ]]; then
		verdict="FAIL: called, fixed in $fixed: go get $mod@$fixed"
		fail=1
	elif [[ "$level" == called ]]; then
		if entry=$(grep -E "^$id[[:space:]]" "$accepted" 2>/dev/null | head -n 1); then
			read -r _ guard reason <<<"$entry"
			if [[ "$guard" != '!'* ]]; then
				verdict="FAIL: $accepted: the entry for $id has no !GUARD"
				fail=1
			elif uses=$(git grep --untracked -nE "${guard#!}" -- '*.go' ':!*_test.go' | head -n 3) && [[ -n "$uses" ]]; then
				verdict="FAIL: accepted as unused, but the code now uses it: ${uses//$'\n'/; }"
				fail=1
			else
				verdict="accepted: $reason"
			fi
		else
			verdict="FAIL: called, no fixed release: read the advisory; if it does not apply, list $id in $accepted with why"
			fail=1
		fi
	fi
	printf '%-14s %-8s %-28s %-9s %-10s %s\n' "$id" "$level" "$mod" "$ver" "$fixed" "$verdict"
	printf '%14s %s\n' "" "$summary"
done <<<"$rows"
if ((fail)); then
	echo "govulncheck: a called vulnerability needs action (see FAIL above; details: govulncheck -db file://$db -show traces ./...)" >&2
	exit 1
fi
echo "govulncheck: ok (no called vulnerability that a dependency upgrade fixes; stdlib ones are reported above)"
