package statusdb

import "github.com/heliosdb/heliosproxy/status"

// queryBreakers is helios_proxy.query_breakers: the query patterns the
// proxy tracks for its query-level breakers.
var queryBreakers = addTable(&table{
	name: "query_breakers",
	doc:  "Query patterns with a circuit breaker of their own (circuit_breaker.query_level_breakers_enabled): those that were slow beyond slow_query_threshold_ms or failed for backend reasons, open ones first",
	rows: func(in *Input) int { return len(in.Snapshot.QueryBreakers) },
	cols: []column{
		{name: "pattern", typ: tText, doc: "The proxy's key of the pattern (16 hex digits), as in the 53400 errors of its refused executions and in circuit_events", get: func(x *evalCtx) value { return value{s: qb(x).Pattern} }},
		{name: "fingerprint", typ: tText, doc: "PostgreSQL's query fingerprint of the pattern (pg_query); NULL if its parser refused the text", get: func(x *evalCtx) value { return nullableText(qb(x).Fingerprint) }},
		{name: "query", typ: tText, doc: "An execution's text with its constants replaced by $1, $2, ...; NULL until one was seen", get: func(x *evalCtx) value { return nullableText(qb(x).Query) }},
		{name: "circuit_state", typ: tText, doc: "CLOSED, OPEN (executions refused with SQLSTATE 53400) or HALF_OPEN (probes let through)", get: func(x *evalCtx) value { return value{s: qb(x).CircuitState.String()} }},
		{name: "state_since", typ: tTimestamptz, doc: "Time the circuit entered its current state", get: func(x *evalCtx) value { return timeValue(qb(x).StateSince) }},
		{name: "open_reason", typ: tText, doc: "Why the circuit opened (latency_p95: slower than slow_query_threshold_ms; error_rate; recovery_failed); NULL when CLOSED", get: func(x *evalCtx) value { return nullableText(qb(x).OpenReason) }},
		{name: "open_detail", typ: tText, doc: "The numbers behind open_reason; NULL when CLOSED", get: func(x *evalCtx) value { return nullableText(qb(x).OpenDetail) }},
		{name: "retry_at", typ: tTimestamptz, doc: "When an OPEN circuit lets probes through; NULL otherwise", get: func(x *evalCtx) value { return timeValue(qb(x).RetryAt) }},
		{name: "executions", typ: tInt8, doc: "Executions in the health window (metrics_window_size)", get: func(x *evalCtx) value { return value{n: int64(qb(x).WindowExecutions)} }},
		{name: "latency_p50_ms", typ: tFloat8, doc: "Median latency in milliseconds over the health window (0 without data)", get: func(x *evalCtx) value { return value{f: qb(x).LatencyP50Ms} }},
		{name: "latency_p95_ms", typ: tFloat8, doc: "95th percentile latency in milliseconds over the health window (0 without data)", get: func(x *evalCtx) value { return value{f: qb(x).LatencyP95Ms} }},
		{name: "latency_p99_ms", typ: tFloat8, doc: "99th percentile latency in milliseconds over the health window (0 without data)", get: func(x *evalCtx) value { return value{f: qb(x).LatencyP99Ms} }},
		{name: "error_rate", typ: tFloat8, doc: "Fraction of executions in the health window that failed for backend reasons, 0 to 1", get: func(x *evalCtx) value { return value{f: qb(x).ErrorRate} }},
		{name: "executions_total", typ: tInt8, doc: "Executions since the pattern is tracked", get: func(x *evalCtx) value { return value{n: clampInt64(qb(x).ExecutionsTotal)} }},
		{name: "slow_total", typ: tInt8, doc: "Executions slower than slow_query_threshold_ms, or cancelled by statement_timeout, since it is tracked", get: func(x *evalCtx) value { return value{n: clampInt64(qb(x).SlowTotal)} }},
		{name: "failures_total", typ: tInt8, doc: "Executions that failed for backend reasons since it is tracked (the application's own errors do not count)", get: func(x *evalCtx) value { return value{n: clampInt64(qb(x).FailuresTotal)} }},
		{name: "rejected_total", typ: tInt8, doc: "Executions refused while its circuit was open", get: func(x *evalCtx) value { return value{n: clampInt64(qb(x).RejectedTotal)} }},
		{name: "transitions_total", typ: tInt8, doc: "Circuit state changes since it is tracked", get: func(x *evalCtx) value { return value{n: clampInt64(qb(x).TransitionsTotal)} }},
		{name: "first_seen", typ: tTimestamptz, doc: "Tracked since: its first slow or failed execution", get: func(x *evalCtx) value { return timeValue(qb(x).FirstSeen) }},
		{name: "last_seen", typ: tTimestamptz, doc: "Its last execution", get: func(x *evalCtx) value { return timeValue(qb(x).LastSeen) }},
	},
})

func qb(x *evalCtx) *status.QueryBreaker { return &x.in.Snapshot.QueryBreakers[x.row] }
