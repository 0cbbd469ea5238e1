#!/usr/bin/env bash
# bench-compare.sh REF measures heliosproxy built at REF (a commit, branch or
# tag) against heliosproxy built from the working tree, in the same
# bench/pgbench runs, interleaved round by round with PostgreSQL direct and
# PgBouncer, in the default configuration (pass-through session mode), in
# pooled session mode and in transaction mode. Both versions run as child
# processes built the same way (pgbench -current and -baseline), so that
# neither shares a process with the benchmark. REF is built in a temporary
# git worktree, removed afterwards.
#
# It prints the tables to stdout (progress goes to stderr) and writes
# nothing into the tree: redirect stdout to keep them. It takes about 25
# minutes; QUICK=1 about 7. ROUNDS and DURATION override the choice, as for
# scripts/bench.sh. Comparing REF with itself shows the noise.
# Ctrl-C stops the run; the command stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/pgbench-run.sh

ref=${1:-${REF:-}}
if [[ -z $ref ]]; then
	echo "usage: scripts/bench-compare.sh REF (or REF=REF make bench-compare)" >&2
	exit 2
fi
rev=$(git rev-parse --verify --quiet "$ref^{commit}") || {
	echo "bench-compare: $ref is not a commit" >&2
	exit 2
}
base=$(git rev-parse --short "$rev")
current=$(git describe --always --dirty)
go=${GO:-go}

./scripts/ensure-deps.sh --bench

# 7 session-mode and 5 transaction-mode scenarios × 4 targets per round,
# plus about 20 s of setup per mode.
if [[ ${QUICK:-0} != 0 ]]; then
	rounds=${ROUNDS:-3} duration=${DURATION:-2s}
else
	rounds=${ROUNDS:-3} duration=${DURATION:-8s}
fi

tmp=$(mktemp -d)
cleanup() {
	if [[ -d $tmp/base ]]; then
		git worktree remove --force "$tmp/base" || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# Build first, so that compiling is not in the run and a signal reaches the
# command itself rather than go run.
echo "bench-compare: building heliosproxy at $base and from the working tree ($current)" >&2
git worktree add --quiet --detach "$tmp/base" "$rev"
(cd "$tmp/base" && "$go" build -ldflags "-X main.version=$base" -o "$tmp/heliosproxy-base" ./cmd/heliosproxy)
git worktree remove --force "$tmp/base"
"$go" build -ldflags "-X main.version=$current" -o "$tmp/heliosproxy-current" ./cmd/heliosproxy
"$go" build -o "$tmp/pgbench" ./bench/pgbench
args=(-rounds "$rounds" -duration "$duration" -workers 0 -current "$tmp/heliosproxy-current" -baseline "$tmp/heliosproxy-base")

# compare MODE TITLE [ARG...] runs the command in MODE (with ARGs) and
# prints its tables under a heading.
compare() {
	local mode=$1 title=$2 start=$SECONDS
	shift 2
	run_pgbench bench-compare "$mode" "$@"
	local elapsed=$((SECONDS - start))
	cat <<HEADING
## $title: heliosproxy at $base (heliosproxy@base) and the working tree, $current (HeliosProxy)

Command: \`scripts/bench-compare.sh $ref\`, which runs \`bench/pgbench -mode $mode -rounds $rounds -duration $duration -workers 0 -current CURRENT -baseline BASE $*\` with heliosproxy built from the working tree and at $base; $((elapsed / 60))m$((elapsed % 60))s.

HEADING
	cat "$tmp/out.md"
	echo
}

compare session "Default configuration (pass-through session mode)" -pooled=false
compare session "Pooled session mode"
compare transaction "Transaction mode"
