# Sourced by bench.sh and bench-compare.sh.
#
# run_pgbench NAME MODE [ARG...] runs "$tmp/pgbench" -mode MODE "${args[@]}" ARG... with
# its tables in "$tmp/out.md", forwarding Ctrl-C to it and waiting while
# it cleans up; on failure it prints why (as NAME) and exits with the
# command's status.
run_pgbench() {
	local name=$1 mode=$2
	shift 2
	"$tmp/pgbench" -mode "$mode" "${args[@]}" "$@" >"$tmp/out.md" &
	local pid=$!
	trap 'kill -INT "$pid" 2>/dev/null || true' INT TERM
	local status=0
	while :; do
		wait "$pid" && status=0 || status=$?
		# A trapped signal ends wait early; wait again while the command cleans up.
		kill -0 "$pid" 2>/dev/null || break
	done
	trap - INT TERM
	if ((status != 0)); then
		echo "$name: bench/pgbench -mode $mode failed (exit $status)" >&2
		exit "$status"
	fi
}
