# PostgreSQL for the tests. Source it; then
#   postgres_up    exports SIMGATE_TEST_POSTGRES: the server on 127.0.0.1:5432 (trust auth,
#                  database test) if it answers, else a throwaway cluster started here
#                  (Debian's postgresql installed if missing; initdb into a temp dir, trust
#                  auth, loopback only, a free port, fsync off: test data only)
#   postgres_down  stops the throwaway cluster, if one was started, and removes it
# Idempotent: a second postgres_up reuses what the first found or started.

PG_DEFAULT_DSN=${PG_DEFAULT_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
pg_tmp=""

pg_answers() { psql "$1" -XAtqc 'SELECT 1' </dev/null >/dev/null 2>&1; }

pg_bin() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[[ -x "$d/initdb" ]] && { echo "$d"; return 0; }
	done
	return 1
}

postgres_up() {
	if [[ -n "${SIMGATE_TEST_POSTGRES:-}" ]] && pg_answers "$SIMGATE_TEST_POSTGRES"; then
		echo "PostgreSQL: using SIMGATE_TEST_POSTGRES"
		return 0
	fi
	if command -v psql >/dev/null && pg_answers "$PG_DEFAULT_DSN"; then
		export SIMGATE_TEST_POSTGRES=$PG_DEFAULT_DSN
		echo "PostgreSQL: the server on 127.0.0.1:5432 answers"
		return 0
	fi
	if ! pg_bin >/dev/null || ! command -v psql >/dev/null; then
		echo "apt-get install postgresql"
		apt-get update -qq </dev/null || return 1
		# The package's own cluster is not wanted: the tests start theirs.
		mkdir -p /etc/postgresql-common/createcluster.d
		echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/simgate-ci.conf
		apt-get install -y -qq --no-install-recommends postgresql postgresql-client </dev/null >/dev/null || return 1
	fi
	local bin port
	bin=$(pg_bin) || { echo "initdb not found after installing postgresql" >&2; return 1; }
	port=$(free_port 55432) || return 1
	pg_tmp=$(mktemp -d /tmp/simgate-ci-pg.XXXXXX)
	local run=()
	if ((EUID == 0)); then # initdb and postgres refuse to run as root
		chown postgres: "$pg_tmp"
		run=(runuser -u postgres --)
	fi
	"${run[@]}" "$bin/initdb" -D "$pg_tmp/data" -U postgres --auth=trust -E UTF8 --no-sync >"$pg_tmp/initdb.log" 2>&1 ||
		{ cat "$pg_tmp/initdb.log" >&2; return 1; }
	"${run[@]}" "$bin/pg_ctl" -D "$pg_tmp/data" -l "$pg_tmp/server.log" -w -t 60 start \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $pg_tmp -c fsync=off -c full_page_writes=off -c max_connections=300" >/dev/null ||
		{ cat "$pg_tmp/server.log" >&2; return 1; }
	"${run[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres test || return 1
	export SIMGATE_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/test?sslmode=disable"
	pg_answers "$SIMGATE_TEST_POSTGRES" || { echo "the throwaway cluster does not answer" >&2; return 1; }
	echo "PostgreSQL: throwaway cluster $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($pg_tmp)"
}

postgres_down() {
	[[ -n "$pg_tmp" && -d "$pg_tmp/data" ]] || return 0
	local bin run=()
	bin=$(pg_bin) || return 0
	((EUID == 0)) && run=(runuser -u postgres --)
	"${run[@]}" "$bin/pg_ctl" -D "$pg_tmp/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$pg_tmp"
	pg_tmp=""
}
