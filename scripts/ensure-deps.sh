#!/usr/bin/env bash
# ensure-deps.sh installs what the tests need, with apt-get, if it is missing:
# the PostgreSQL server binaries that internal/pgtest starts clusters from,
# psql and pgbench, Chromium, and Prometheus with promtool (deploy's tests).
# With --bench it also installs what `make bench` needs (PgBouncer). As
# root it installs them; otherwise it prints the command to run and fails.
# To add a dependency, add a `need` line to requirements, or to
# bench_requirements if only the benchmarks use it.
set -euo pipefail

# requirements lists each dependency as: need "DEBIAN PACKAGES" CHECK...,
# where CHECK is a command that succeeds when the dependency is present.
requirements() {
	need "postgresql postgresql-contrib" pg_server
	need postgresql-client command -v psql
	need postgresql-client command -v pgbench
	# The SQL status schema is tested with Debian's psycopg2 under the
	# system interpreter (the python3 first on PATH may be another one).
	need python3-psycopg2 /usr/bin/python3 -c 'import psycopg2'
	# psycopg 3 (pipelines) and SQLAlchemy's reflection, through the
	# proxy, on the status schema.
	need python3-psycopg /usr/bin/python3 -c 'import psycopg'
	need python3-sqlalchemy /usr/bin/python3 -c 'import sqlalchemy'
	# asyncpg under SQLAlchemy (typed parameters, binary results).
	need "python3-asyncpg python3-greenlet" /usr/bin/python3 -c 'import asyncpg, greenlet'
	# PostgreSQL's JDBC driver (fetch size, DatabaseMetaData as DBeaver
	# and Metabase use it), compiled and run with the JDK.
	need libpostgresql-jdbc-java test -f /usr/share/java/postgresql.jar
	need default-jdk-headless command -v javac
	# The dashboard's browser tests (web) drive headless Chromium.
	need chromium command -v chromium
	# deploy/ is tested with a real Prometheus server and its promtool
	# (check rules, unit tests of every alert rule).
	need prometheus command -v prometheus
	need prometheus command -v promtool
	if ((bench)); then
		bench_requirements
	fi
}

# bench_requirements lists what only `make bench` needs (--bench).
bench_requirements() {
	# bench/pgbench runs PgBouncer side by side with HeliosProxy; Debian
	# installs it in /usr/sbin, which is not on every PATH.
	need pgbouncer pgbouncer_bin
}

pgbouncer_bin() {
	command -v pgbouncer || [[ -x /usr/sbin/pgbouncer ]]
}

bench=0

missing=()

need() {
	local pkgs=$1
	shift
	if ! "$@" >/dev/null 2>&1; then
		read -ra pkgs <<<"$pkgs"
		missing+=("${pkgs[@]}")
	fi
}

# pg_server succeeds if it finds initdb and postgres the way pgtest.BinDir
# does: in $PG_BINDIR, next to the initdb on PATH, or in
# /usr/lib/postgresql/*/bin.
pg_server() {
	local dir initdb
	if [[ -n ${PG_BINDIR:-} ]]; then
		[[ -x $PG_BINDIR/initdb && -x $PG_BINDIR/postgres ]]
		return
	fi
	if initdb=$(command -v initdb); then
		dir=$(dirname "$(readlink -f "$initdb")")
		if [[ -x $dir/postgres ]]; then
			return 0
		fi
	fi
	for dir in /usr/lib/postgresql/*/bin; do
		if [[ -x $dir/initdb && -x $dir/postgres ]]; then
			return 0
		fi
	done
	return 1
}

# missing_packages prints the missing packages once each, in order.
missing_packages() {
	local -A seen=()
	local pkg out=()
	for pkg in "${missing[@]}"; do
		if [[ -z ${seen[$pkg]:-} ]]; then
			seen[$pkg]=1
			out+=("$pkg")
		fi
	done
	echo "${out[*]}"
}

main() {
	local arg
	for arg in "$@"; do
		case $arg in
		--bench) bench=1 ;;
		*)
			echo "ensure-deps: unknown argument $arg; usage: ensure-deps.sh [--bench]" >&2
			exit 2
			;;
		esac
	done
	if [[ -n ${PG_BINDIR:-} ]] && ! pg_server; then
		echo "ensure-deps: PG_BINDIR=$PG_BINDIR has no initdb and postgres; fix or unset it" >&2
		exit 1
	fi
	requirements
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	local pkgs
	pkgs=$(missing_packages)
	if ((EUID != 0)); then
		echo "ensure-deps: missing $pkgs; install with: sudo apt-get install $pkgs" >&2
		exit 1
	fi
	echo "ensure-deps: installing $pkgs" >&2
	apt-get update
	# shellcheck disable=SC2086 # pkgs is a list of package names
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs
	missing=()
	requirements
	if ((${#missing[@]} > 0)); then
		echo "ensure-deps: still missing after apt-get install: $(missing_packages)" >&2
		exit 1
	fi
}

main "$@"
