#!/usr/bin/env bash
# bench.sh runs bench/pgbench: pgbench straight to PostgreSQL, through
# HeliosProxy and through PgBouncer, interleaved round by round, and writes
# its tables, the machine and the command into two sections of
# docs/benchmarks.md, session mode and transaction mode (the rest of the
# file stays as it is). It takes about 15 minutes; QUICK=1 about 4. ROUNDS
# and DURATION override the choice.
# Ctrl-C stops the run; the command stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pgbench-run.sh

./scripts/ensure-deps.sh --bench

# 7 session-mode and 4 transaction-mode scenarios × 3 targets per round,
# plus about 20 s of setup per mode.
if [[ ${QUICK:-0} != 0 ]]; then
	rounds=${ROUNDS:-3} duration=${DURATION:-2s} invocation="QUICK=1 make bench"
else
	rounds=${ROUNDS:-3} duration=${DURATION:-8s} invocation="make bench"
fi
args=(-rounds "$rounds" -duration "$duration")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Build first, so that compiling is not in the run and a signal reaches the
# command itself rather than go run.
"${GO:-go}" build -o "$tmp/pgbench" ./bench/pgbench

# section MODE HEADING runs the command in MODE and replaces the section
# under HEADING in docs/benchmarks.md (appending it if there is none).
section() {
	local mode=$1 heading=$2
	local start=$SECONDS
	run_pgbench bench "$mode"
	local elapsed=$((SECONDS - start))
	local total="$((elapsed / 60))m$((elapsed % 60))s"
	{
		cat <<SECTION
## $heading

Command: \`$invocation\` (scripts/bench.sh), which runs \`go run ./bench/pgbench -mode $mode ${args[*]}\`; $total for the pgbench command.

One throwaway PostgreSQL cluster; HeliosProxy (in-process) and PgBouncer in
front of it with the same pool settings, both in $mode mode; pgbench scale
10, simple query protocol unless the row says \`-M\`. \`-C\` opens a
connection per transaction. Latency is pgbench's average per transaction
(one SELECT for \`-S\`); "added" is the difference from direct. HeliosProxy
runs with \`proxy.workers = 1\` (one thread running Go code, as PgBouncer
runs one); \`-workers 0\` gives it one per CPU. pgbench's user is in
\`[[users]]\`, so that HeliosProxy authenticates it and pools its server
connections as PgBouncer does; in session mode \`-pooled=false\` measures
the pass-through relay instead (a backend connection per client
connection, as for roles not in \`[[users]]\`). To profile the proxy, add
\`-only '-S -c 32' -cpuprofile cpu.out\` to the command.

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

section session "Relay overhead, session mode: direct, HeliosProxy and PgBouncer"
section transaction "Transaction pooling: direct, HeliosProxy and PgBouncer"
