package statusdb

import "github.com/heliosdb/heliosproxy/status"

// userBreakers is helios_proxy.user_breakers: each role and database's
// limits and breaker (circuit_breaker.user_level_breakers_enabled; no rows
// when it is off).
var userBreakers = addTable(&table{
	name: "user_breakers",
	doc:  "Rate limit and breaker of each role and database seen, by role and database; no rows unless circuit_breaker.user_level_breakers_enabled",
	rows: func(in *Input) int { return len(in.Snapshot.Users) },
	cols: []column{
		{name: "role", typ: tText, doc: "Role name from the client's startup packet", get: func(x *evalCtx) value { return value{s: user(x).Role} }},
		{name: "database", typ: tText, doc: "Database name from the client's startup packet", get: func(x *evalCtx) value { return value{s: user(x).Database} }},
		{name: "state", typ: tText, doc: "The role's breaker: CLOSED, OPEN (the role is isolated: its requests get SQLSTATE 53400) or HALF_OPEN (probing); CLOSED without circuit_breaker.user_isolation_on_abuse", get: func(x *evalCtx) value { return value{s: user(x).State.String()} }},
		{name: "state_since", typ: tTimestamptz, doc: "Time the role's breaker entered its state; NULL if it never changed", get: func(x *evalCtx) value { return timeValue(user(x).StateSince) }},
		{name: "rate", typ: tFloat8, doc: "Requests the role started per second over the last nine seconds", get: func(x *evalCtx) value { return value{f: user(x).Rate} }},
		{name: "rate_limit", typ: tInt8, doc: "Requests per second the role may start (its override's, else circuit_breaker.per_user_rate_limit); 0 means no limit", get: func(x *evalCtx) value { return value{n: int64(user(x).RateLimit)} }},
		{name: "throttled_total", typ: tInt8, doc: "Requests refused by the rate limit with SQLSTATE 53400 since the proxy started", get: func(x *evalCtx) value { return value{n: clampInt64(user(x).ThrottledTotal)} }},
		{name: "delayed_total", typ: tInt8, doc: "Requests that waited for their turn under the rate limit and ran", get: func(x *evalCtx) value { return value{n: clampInt64(user(x).DelayedTotal)} }},
		{name: "isolated_total", typ: tInt8, doc: "Requests refused while the role's breaker was OPEN", get: func(x *evalCtx) value { return value{n: clampInt64(user(x).IsolatedTotal)} }},
		{name: "requests_total", typ: tInt8, doc: "Requests the role started since the proxy started", get: func(x *evalCtx) value { return value{n: clampInt64(user(x).RequestsTotal)} }},
		{name: "failures_total", typ: tInt8, doc: "Failed requests judged the role's own (others did well on the same backend), not counted against the backend", get: func(x *evalCtx) value { return value{n: clampInt64(user(x).FailuresTotal)} }},
		{name: "error_rate", typ: tFloat8, doc: "Fraction of the role's requests in its breaker's window that failed by its own doing, 0 to 1", get: func(x *evalCtx) value { return value{f: user(x).ErrorRate} }},
		{name: "latency_p95_ms", typ: tFloat8, doc: "95th percentile latency of the role's requests in its breaker's window, in milliseconds (0 without data)", get: func(x *evalCtx) value { return value{f: user(x).LatencyP95Ms} }},
		{name: "open_reason", typ: tText, doc: "Why the role's breaker last opened (error_rate, latency_p95, latency_p99, recovery_failed); NULL if it never did", get: func(x *evalCtx) value { return nullableText(user(x).OpenReason) }},
		{name: "open_detail", typ: tText, doc: "The numbers behind open_reason; NULL if none", get: func(x *evalCtx) value { return nullableText(user(x).OpenDetail) }},
		{name: "exempt", typ: tBool, doc: "Whether an operator's override exempts the role from the rate limit and isolation", get: func(x *evalCtx) value { return boolValue(user(x).Exempt) }},
		{name: "override_author", typ: tText, doc: "Who set the role's override through the REST API; NULL without one", get: func(x *evalCtx) value { return nullableText(user(x).OverrideAuthor) }},
		{name: "last_active", typ: tTimestamptz, doc: "When the role last started a request; NULL if never", get: func(x *evalCtx) value { return timeValue(user(x).LastActive) }},
	},
})

func user(x *evalCtx) *status.UserBreaker { return &x.in.Snapshot.Users[x.row] }
