#!/usr/bin/env bash
# bench.sh runs bench/pgbench: pgbench straight to PostgreSQL, through
# HeliosProxy and through PgBouncer, interleaved round by round, and writes
# its tables, the machine and the command into two sections of
# docs/benchmarks.md: the default configuration (pass-through session
# mode), pooled session mode and transaction mode (the rest of the file
# stays as it is). HeliosProxy runs as a user runs it: a heliosproxy
# binary in a process of its own, proxy.workers at its default. It takes
# about 20 minutes; QUICK=1 about 5. ROUNDS and DURATION override the
# choice.
# Ctrl-C stops the run; the command stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pgbench-run.sh

./scripts/ensure-deps.sh --bench

# 7 + 7 session-mode and 5 transaction-mode scenarios × 3 targets per
# round, plus about 20 s of setup per section.
if [[ ${QUICK:-0} != 0 ]]; then
	rounds=${ROUNDS:-3} duration=${DURATION:-2s} invocation="QUICK=1 make bench"
else
	rounds=${ROUNDS:-3} duration=${DURATION:-6s} invocation="make bench"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Build first, so that compiling is not in the run and a signal reaches the
# command itself rather than go run.
"${GO:-go}" build -o "$tmp/pgbench" ./bench/pgbench
"${GO:-go}" build -ldflags "-X main.version=$(git describe --always --dirty)" -o "$tmp/heliosproxy" ./cmd/heliosproxy
args=(-rounds "$rounds" -duration "$duration" -workers 0 -current "$tmp/heliosproxy")

# section MODE HEADING [ARG...] runs the command in MODE (with ARGs) and
# replaces the section under HEADING in docs/benchmarks.md (appending it if
# there is none).
section() {
	local mode=$1 heading=$2
	shift 2
	local start=$SECONDS
	run_pgbench bench "$mode" "$@"
	local elapsed=$((SECONDS - start))
	local total="$((elapsed / 60))m$((elapsed % 60))s"
	{
		cat <<SECTION
## $heading

Command: \`$invocation\` (scripts/bench.sh), which runs \`go run ./bench/pgbench -mode $mode -rounds $rounds -duration $duration -workers 0 -current heliosproxy $*\` with heliosproxy built from the tree; $total for the pgbench command.

One throwaway PostgreSQL cluster; HeliosProxy (a heliosproxy process of its
own, \`proxy.workers\` at its default) and PgBouncer in front of it with
the same pool settings, both in $mode mode; pgbench scale 10, simple query
protocol unless the row says \`-M\`. \`-C\` opens a connection per
transaction. Latency is pgbench's average per transaction (one SELECT for
\`-S\`); "added" is the difference from direct. CPU per transaction is each
proxy process's user + system time over the run divided by its
transactions. With \`-pooled=false\` pgbench's user is not in
\`[[users]]\`: HeliosProxy's default configuration, the pass-through relay
(a backend connection per client connection, on the event loops); else it
is, so that HeliosProxy authenticates it and pools its server connections
as PgBouncer does. To profile the proxy, run the command without
\`-current\` (the proxy then runs in-process) and add \`-only '-S -c 32'
-cpuprofile cpu.out\`.

SECTION
		cat "$tmp/out.md"
		echo
	} >"$tmp/section.md"

	local doc=docs/benchmarks.md
	awk -v section="$tmp/section.md" -v heading="## $heading" '
		function emit(  line) { while ((getline line < section) > 0) print line; done = 1 }
		/^## / && skipping { skipping = 0 }
		$0 == heading { emit(); skipping = 1; next }
		skipping { next }
		{ print }
		END { if (!done) { print ""; emit() } }
	' "$doc" >"$tmp/doc.md"
	mv "$tmp/doc.md" "$doc"
	cat "$tmp/section.md"
	echo "bench: wrote the \"$heading\" section of $doc ($total)" >&2
}

section session "Relay overhead, default configuration: direct, HeliosProxy and PgBouncer" -pooled=false
section session "Relay overhead, session mode: direct, HeliosProxy and PgBouncer"
section transaction "Transaction pooling: direct, HeliosProxy and PgBouncer"
