#!/usr/bin/env bash
# bench.sh runs bench/pgbench: pgbench straight to PostgreSQL, through
# HeliosProxy and through PgBouncer, interleaved round by round, and writes
# its tables, the machine and the command into the "Relay overhead" section
# of docs/benchmarks.md (the rest of the file stays as it is). It takes about
# 15 minutes; QUICK=1 about 3. ROUNDS and DURATION override the choice.
# Ctrl-C stops the run; the command stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/ensure-deps.sh --bench

# 7 scenarios × 3 targets per round, plus about 20 s of setup.
if [[ ${QUICK:-0} != 0 ]]; then
	rounds=${ROUNDS:-3} duration=${DURATION:-2s} invocation="QUICK=1 make bench"
else
	rounds=${ROUNDS:-5} duration=${DURATION:-8s} invocation="make bench"
fi
args=(-rounds "$rounds" -duration "$duration")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Build first, so that compiling is not in the run and a signal reaches the
# command itself rather than go run.
"${GO:-go}" build -o "$tmp/pgbench" ./bench/pgbench

start=$SECONDS
"$tmp/pgbench" "${args[@]}" >"$tmp/out.md" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || true' INT TERM
status=0
while :; do
	wait "$pid" && status=0 || status=$?
	# A trapped signal ends wait early; wait again while the command cleans up.
	kill -0 "$pid" 2>/dev/null || break
done
trap - INT TERM
if ((status != 0)); then
	echo "bench: bench/pgbench failed (exit $status); docs/benchmarks.md unchanged" >&2
	exit "$status"
fi
elapsed=$((SECONDS - start))
total="$((elapsed / 60))m$((elapsed % 60))s"

{
	cat <<SECTION
## Relay overhead, session mode: direct, HeliosProxy and PgBouncer

Command: \`$invocation\` (scripts/bench.sh), which runs \`go run ./bench/pgbench ${args[*]}\`; $total for the pgbench command.

One throwaway PostgreSQL cluster; HeliosProxy (in-process) and PgBouncer in
front of it with the same pool settings; pgbench scale 10, simple query
protocol unless the row says \`-M\`. \`-C\` opens a connection per
transaction. Latency is pgbench's average per transaction (one SELECT for
\`-S\`); "added" is the difference from direct. To profile the proxy, add
\`-only '-S -c 32' -cpuprofile cpu.out\` to the command.

SECTION
	cat "$tmp/out.md"
	echo
} >"$tmp/section.md"

doc=docs/benchmarks.md
# Replace the section from its heading up to the next "## " heading, or
# append it if there is none.
awk -v section="$tmp/section.md" '
	function emit(  line) { while ((getline line < section) > 0) print line; done = 1 }
	/^## / && skipping { skipping = 0 }
	/^## Relay overhead/ { emit(); skipping = 1; next }
	skipping { next }
	{ print }
	END { if (!done) { print ""; emit() } }
' "$doc" >"$tmp/doc.md"
mv "$tmp/doc.md" "$doc"

cat "$tmp/section.md"
echo "bench: wrote the Relay overhead section of $doc ($total)" >&2
