package statusdb

import (
	"math"
	"strings"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// table is one relation of the helios_proxy schema.
type table struct {
	name string
	doc  string // the table's comment (COMMENT ON TABLE), shown by \d+ and obj_description
	cols []column
	rows func(in *Input) int
	// oid is the relation's OID in pg_class (see catalog.go); catalog
	// relations have none.
	oid uint32
	// nsp is the schema of a catalog relation ("pg_catalog",
	// "information_schema"); "" for a helios_proxy table.
	nsp string
}

// column reads one column of the current row (x.row of x.in).
type column struct {
	name string
	typ  typ
	// doc is the column's comment (COMMENT ON COLUMN): every column of
	// the helios_proxy schema has one, which \d+, col_description and
	// information_schema show. Adding a column is this one entry.
	doc string
	get evalFn
	// pgt is the PostgreSQL type when it is not typ's own (name, oid,
	// int2, "char", regclass, ... in the catalogs); 0 otherwise.
	pgt uint32
	// mod is the column's type modifier + 1 (0: none), as pg_attribute's
	// atttypmod: information_schema's yes_or_no is varchar(3) and its
	// time_stamp timestamptz(2).
	mod int32
}

// tables is the helios_proxy schema. Column order is part of the contract
// (SELECT * and DESIGN.md § SQL status schema): only append. Each getter
// reads one field directly: a column reference costs one call per row.
var tables = map[string]*table{
	"circuit_breaker_status": {
		name: "circuit_breaker_status",
		doc:  "Circuit breaker state and health metrics, one row per backend in configuration order",
		rows: func(in *Input) int { return len(in.Snapshot.Backends) },
		cols: []column{
			{name: "backend_name", typ: tText, doc: "Backend name from the proxy configuration", get: func(x *evalCtx) value { return value{s: backend(x).Name} }},
			{name: "circuit_state", typ: tText, doc: "Circuit breaker state: CLOSED (traffic flows), OPEN (traffic refused) or HALF_OPEN (probing recovery)", get: func(x *evalCtx) value { return value{s: backend(x).CircuitState.String()} }},
			{name: "latency_p50_ms", typ: tFloat8, doc: "Median query latency in milliseconds over the health window (0 without data)", get: func(x *evalCtx) value { return value{f: backend(x).LatencyP50Ms} }},
			{name: "latency_p95_ms", typ: tFloat8, doc: "95th percentile query latency in milliseconds over the health window (0 without data)", get: func(x *evalCtx) value { return value{f: backend(x).LatencyP95Ms} }},
			{name: "latency_p99_ms", typ: tFloat8, doc: "99th percentile query latency in milliseconds over the health window (0 without data)", get: func(x *evalCtx) value { return value{f: backend(x).LatencyP99Ms} }},
			{name: "error_rate", typ: tFloat8, doc: "Fraction of failed requests in the health window, 0 to 1", get: func(x *evalCtx) value { return value{f: backend(x).ErrorRate} }},
			{name: "connection_saturation", typ: tFloat8, doc: "Fraction of the backend's connection limit in use, 0 to 1", get: func(x *evalCtx) value { return value{f: backend(x).ConnectionSaturation} }},
			{name: "last_failure_time", typ: tTimestamptz, doc: "Time of the most recent failure; NULL if none", get: func(x *evalCtx) value { return timeValue(backend(x).LastFailureTime) }},
			{name: "host", typ: tText, doc: "Backend host name or address", get: func(x *evalCtx) value { return value{s: backend(x).Host} }},
			{name: "port", typ: tInt4, doc: "Backend TCP port", get: func(x *evalCtx) value { return value{n: clampInt4(backend(x).Port)} }},
			{name: "priority", typ: tInt4, doc: "Routing priority tier (the highest tier with a usable backend is preferred)", get: func(x *evalCtx) value { return value{n: clampInt4(backend(x).Priority)} }},
			{name: "weight", typ: tFloat8, doc: "Relative routing weight among backends of the same priority", get: func(x *evalCtx) value { return value{f: backend(x).Weight} }},
			{name: "traffic_share", typ: tFloat8, doc: "Fraction of recent traffic routed to this backend, 0 to 1", get: func(x *evalCtx) value { return value{f: backend(x).TrafficShare} }},
			{name: "active_connections", typ: tInt8, doc: "Connections to the backend currently in use", get: func(x *evalCtx) value { return value{n: int64(backend(x).ActiveConnections)} }},
			{name: "max_connections", typ: tInt8, doc: "Connection limit of the backend; 0 if unknown", get: func(x *evalCtx) value { return value{n: int64(backend(x).MaxConnections)} }},
			{name: "queue_depth", typ: tInt8, doc: "Requests waiting for a connection to the backend", get: func(x *evalCtx) value { return value{n: int64(backend(x).QueueDepth)} }},
			{name: "state_since", typ: tTimestamptz, doc: "Time the circuit entered its current state; NULL if unknown", get: func(x *evalCtx) value { return timeValue(backend(x).StateSince) }},
			{name: "open_reason", typ: tText, doc: "Why the circuit opened; NULL when there is none, as for a closed circuit", get: func(x *evalCtx) value { return nullableText(backend(x).OpenReason) }},
			{name: "override", typ: tText, doc: "Manual override set through the REST API: OPEN or CLOSED; NULL without an override", get: func(x *evalCtx) value { return nullableText(backend(x).Override.String()) }},
			{name: "requests_total", typ: tInt8, doc: "Requests sent to the backend since the proxy started", get: func(x *evalCtx) value { return value{n: clampInt64(backend(x).RequestsTotal)} }},
			{name: "failures_total", typ: tInt8, doc: "Failed requests since the proxy started", get: func(x *evalCtx) value { return value{n: clampInt64(backend(x).FailuresTotal)} }},
			{name: "rejected_total", typ: tInt8, doc: "Requests refused by the open circuit since the proxy started", get: func(x *evalCtx) value { return value{n: clampInt64(backend(x).RejectedTotal)} }},
			{name: "transitions_total", typ: tInt8, doc: "Circuit state transitions since the proxy started", get: func(x *evalCtx) value { return value{n: clampInt64(backend(x).TransitionsTotal)} }},
			{name: "replication_lag_ms", typ: tFloat8, doc: "Replication lag of a replica in milliseconds (0 for a primary or without data)", get: func(x *evalCtx) value { return value{f: backend(x).ReplicationLagMs} }},
			{name: "ramp_factor", typ: tFloat8, doc: "Share of normal traffic admitted while ramping up after recovery, 0 to 1", get: func(x *evalCtx) value { return value{f: backend(x).RampFactor} }},
			{name: "read_only", typ: tBool, doc: "Whether the backend serves only read-only traffic", get: func(x *evalCtx) value { return boolValue(backend(x).ReadOnly) }},
			{name: "trusts_proxy", typ: tBool, doc: "Whether the backend lets the proxy's connections in without a password", get: func(x *evalCtx) value { return boolValue(backend(x).TrustsProxy) }},
			{name: "trusted_roles", typ: tText, doc: "Roles the backend lets in without a password, comma-separated, * for any role; NULL when none", get: func(x *evalCtx) value { return nullableText(strings.Join(backend(x).TrustedRoles, ",")) }},
			{name: "role", typ: tText, doc: "Replication role: primary, replica or unknown (from the configuration when asserted, else from the health check)", get: func(x *evalCtx) value { return value{s: string(roleOr(backend(x).Role))} }},
			{name: "timeline", typ: tInt8, doc: "WAL timeline the backend writes (a primary) or receives (a replica); NULL if unknown", get: func(x *evalCtx) value {
				if tl := backend(x).Timeline; tl != 0 {
					return value{n: tl}
				}
				return null
			}},
			{name: "replication_lag_bytes", typ: tInt8, doc: "Replication lag of a replica in bytes of WAL behind its primary (0 for a primary or without data)", get: func(x *evalCtx) value { return value{n: clampInt64(backend(x).ReplicationLagBytes)} }},
			{name: "routing", typ: tText, doc: "What routing sends to the backend by its role: read-write, read-only, lagging (out of read routing), fenced (a second primary) or unreachable", get: func(x *evalCtx) value { return value{s: string(routingOr(backend(x).Routing))} }},
			{name: "fenced_reason", typ: tText, doc: "Why the backend is fenced; NULL when it is not", get: func(x *evalCtx) value { return nullableText(backend(x).FencedReason) }},
			{name: "observed_role", typ: tText, doc: "Replication role the last health check found: primary, replica or unknown", get: func(x *evalCtx) value { return value{s: string(roleOr(backend(x).ObservedRole))} }},
			{name: "backend_waiting", typ: tInt8, doc: "Client sessions queued inside the backend (active, waiting on a lock in pg_stat_activity), from its health check; NULL unless health_checks.collect_query_queue_depth", get: func(x *evalCtx) value {
				if n := backend(x).BackendWaiting; n >= 0 {
					return value{n: int64(n)}
				}
				return value{null: true}
			}},
			{name: "admission_limit", typ: tInt8, doc: "Requests the backend may run at once, as load shedding estimates it from its latency (backends.load_shedding_enabled)", get: func(x *evalCtx) value { return value{n: int64(backend(x).AdmissionLimit)} }},
			{name: "admission_inflight", typ: tInt8, doc: "Requests admitted to the backend and running now", get: func(x *evalCtx) value { return value{n: int64(backend(x).AdmissionInflight)} }},
			{name: "admission_queued", typ: tInt8, doc: "Requests waiting for admission to the backend now", get: func(x *evalCtx) value { return value{n: int64(backend(x).AdmissionQueued)} }},
			{name: "shed_total", typ: tInt8, doc: "Requests refused with SQLSTATE 53300 by the backend's admission limit since the proxy started", get: func(x *evalCtx) value { return value{n: clampInt64(backend(x).ShedTotal)} }},
		},
	},
	"circuit_events": {
		name: "circuit_events",
		doc:  "Recent circuit breaker transitions, cascades and overrides, oldest first",
		rows: func(in *Input) int { return len(in.Events) },
		cols: []column{
			{name: "id", typ: tInt8, doc: "Event number, increasing", get: func(x *evalCtx) value { return value{n: clampInt64(event(x).ID)} }},
			{name: "event_time", typ: tTimestamptz, doc: "When the event happened", get: func(x *evalCtx) value { return timeValue(event(x).Time) }},
			{name: "event_type", typ: tText, doc: "Kind of event: CircuitOpened, CircuitHalfOpened, CircuitClosed, RecoveryFailed, CascadeDetected, OverrideSet, ...", get: func(x *evalCtx) value { return value{s: string(event(x).Type)} }},
			{name: "backend_name", typ: tText, doc: "Backend the event concerns; NULL for CascadeDetected", get: func(x *evalCtx) value { return nullableText(event(x).Backend) }},
			{name: "from_state", typ: tText, doc: "Circuit state before a transition; NULL unless a transition", get: func(x *evalCtx) value { return nullableText(event(x).From.String()) }},
			{name: "to_state", typ: tText, doc: "Circuit state after a transition; NULL unless a transition", get: func(x *evalCtx) value { return nullableText(event(x).To.String()) }},
			{name: "reason", typ: tText, doc: "Why the event happened", get: func(x *evalCtx) value { return nullableText(event(x).Reason) }},
			{name: "detail", typ: tText, doc: "Human-readable detail; NULL when empty", get: func(x *evalCtx) value { return nullableText(event(x).Detail) }},
			{name: "attempt", typ: tInt4, doc: "Recovery attempt number; NULL except for RecoveryFailed", get: func(x *evalCtx) value {
				if n := event(x).Attempt; n != 0 {
					return value{n: clampInt4(n)}
				}
				return null
			}},
			{name: "recovery_duration_ms", typ: tFloat8, doc: "Milliseconds from opening to closing the circuit; NULL unless CircuitClosed", get: func(x *evalCtx) value {
				if e := event(x); e.Type == status.CircuitClosed || e.RecoveryDuration != 0 {
					return value{f: millis(e.RecoveryDuration)}
				}
				return null
			}},
			{name: "in_previous_state_ms", typ: tFloat8, doc: "Milliseconds spent in the previous state; NULL unless a transition", get: func(x *evalCtx) value {
				if e := event(x); e.From != status.NoState || e.InPrevious != 0 {
					return value{f: millis(e.InPrevious)}
				}
				return null
			}},
			{name: "backends", typ: tText, doc: "Backends involved, comma-separated: for CascadeDetected those that opened together, for ConfigReloaded those the reload drained (removed or replaced); else NULL", get: func(x *evalCtx) value { return nullableText(strings.Join(event(x).Backends, ",")) }},
			{name: "latency_p95_ms", typ: tFloat8, doc: "95th percentile latency in milliseconds at the time of the event", get: func(x *evalCtx) value { return value{f: event(x).LatencyP95Ms} }},
			{name: "latency_p99_ms", typ: tFloat8, doc: "99th percentile latency in milliseconds at the time of the event", get: func(x *evalCtx) value { return value{f: event(x).LatencyP99Ms} }},
			{name: "error_rate", typ: tFloat8, doc: "Error rate (0 to 1) at the time of the event", get: func(x *evalCtx) value { return value{f: event(x).ErrorRate} }},
			{name: "connection_saturation", typ: tFloat8, doc: "Connection saturation (0 to 1) at the time of the event", get: func(x *evalCtx) value { return value{f: event(x).ConnectionSaturation} }},
		},
	},
	"backends": {
		name: "backends",
		doc:  "Configured backends: address, routing priority and weight, read-only flag",
		rows: func(in *Input) int { return len(in.Snapshot.Backends) },
		cols: []column{
			{name: "backend_name", typ: tText, doc: "Backend name from the proxy configuration", get: func(x *evalCtx) value { return value{s: backend(x).Name} }},
			{name: "host", typ: tText, doc: "Backend host name or address", get: func(x *evalCtx) value { return value{s: backend(x).Host} }},
			{name: "port", typ: tInt4, doc: "Backend TCP port", get: func(x *evalCtx) value { return value{n: clampInt4(backend(x).Port)} }},
			{name: "priority", typ: tInt4, doc: "Routing priority tier (the highest tier with a usable backend is preferred)", get: func(x *evalCtx) value { return value{n: clampInt4(backend(x).Priority)} }},
			{name: "weight", typ: tFloat8, doc: "Relative routing weight among backends of the same priority", get: func(x *evalCtx) value { return value{f: backend(x).Weight} }},
			{name: "read_only", typ: tBool, doc: "Whether the backend serves only read-only traffic", get: func(x *evalCtx) value { return boolValue(backend(x).ReadOnly) }},
		},
	},
}

// roleOr is r, "unknown" for a Snapshot built without roles.
func roleOr(r status.Role) status.Role {
	if r == "" {
		return status.RoleUnknown
	}
	return r
}

// routingOr is r, "read-write" (routing before roles) for a Snapshot
// built without it.
func routingOr(r status.Routing) status.Routing {
	if r == "" {
		return status.RoutingReadWrite
	}
	return r
}

func backend(x *evalCtx) *status.Backend { return &x.in.Snapshot.Backends[x.row] }

func event(x *evalCtx) *status.Event { return &x.in.Events[x.row] }

func nullableText(s string) value {
	if s == "" {
		return null
	}
	return value{s: s}
}

// timeValue is t in µs (truncated, as pgx sends times), or NULL for the zero
// time.
func timeValue(t time.Time) value {
	if t.IsZero() {
		return null
	}
	return value{n: t.UnixMicro()}
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func clampInt64(n uint64) int64 { return int64(min(n, math.MaxInt64)) }

func clampInt4(n int) int64 { return int64(max(min(n, math.MaxInt32), math.MinInt32)) }
