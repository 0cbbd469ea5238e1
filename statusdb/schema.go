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
	cols []column
	rows func(in *Input) int
}

// column reads one column of the current row (x.row of x.in).
type column struct {
	name string
	typ  typ
	get  evalFn
}

func (t *table) column(name string) int {
	for i, c := range t.cols {
		if c.name == name {
			return i
		}
	}
	return -1
}

// tables is the helios_proxy schema. Column order is part of the contract
// (SELECT * and DESIGN.md § SQL status schema): only append. Each getter
// reads one field directly: a column reference costs one call per row.
var tables = map[string]*table{
	"circuit_breaker_status": {
		name: "circuit_breaker_status",
		rows: func(in *Input) int { return len(in.Snapshot.Backends) },
		cols: []column{
			{"backend_name", tText, func(x *evalCtx) value { return value{s: backend(x).Name} }},
			{"circuit_state", tText, func(x *evalCtx) value { return value{s: backend(x).CircuitState.String()} }},
			{"latency_p50_ms", tFloat8, func(x *evalCtx) value { return value{f: backend(x).LatencyP50Ms} }},
			{"latency_p95_ms", tFloat8, func(x *evalCtx) value { return value{f: backend(x).LatencyP95Ms} }},
			{"latency_p99_ms", tFloat8, func(x *evalCtx) value { return value{f: backend(x).LatencyP99Ms} }},
			{"error_rate", tFloat8, func(x *evalCtx) value { return value{f: backend(x).ErrorRate} }},
			{"connection_saturation", tFloat8, func(x *evalCtx) value { return value{f: backend(x).ConnectionSaturation} }},
			{"last_failure_time", tTimestamptz, func(x *evalCtx) value { return timeValue(backend(x).LastFailureTime) }},
			{"host", tText, func(x *evalCtx) value { return value{s: backend(x).Host} }},
			{"port", tInt4, func(x *evalCtx) value { return value{n: clampInt4(backend(x).Port)} }},
			{"priority", tInt4, func(x *evalCtx) value { return value{n: clampInt4(backend(x).Priority)} }},
			{"weight", tFloat8, func(x *evalCtx) value { return value{f: backend(x).Weight} }},
			{"traffic_share", tFloat8, func(x *evalCtx) value { return value{f: backend(x).TrafficShare} }},
			{"active_connections", tInt8, func(x *evalCtx) value { return value{n: int64(backend(x).ActiveConnections)} }},
			{"max_connections", tInt8, func(x *evalCtx) value { return value{n: int64(backend(x).MaxConnections)} }},
			{"queue_depth", tInt8, func(x *evalCtx) value { return value{n: int64(backend(x).QueueDepth)} }},
			{"state_since", tTimestamptz, func(x *evalCtx) value { return timeValue(backend(x).StateSince) }},
			{"open_reason", tText, func(x *evalCtx) value { return nullableText(backend(x).OpenReason) }},
			{"override", tText, func(x *evalCtx) value { return nullableText(backend(x).Override.String()) }},
			{"requests_total", tInt8, func(x *evalCtx) value { return value{n: clampInt64(backend(x).RequestsTotal)} }},
			{"failures_total", tInt8, func(x *evalCtx) value { return value{n: clampInt64(backend(x).FailuresTotal)} }},
			{"rejected_total", tInt8, func(x *evalCtx) value { return value{n: clampInt64(backend(x).RejectedTotal)} }},
			{"transitions_total", tInt8, func(x *evalCtx) value { return value{n: clampInt64(backend(x).TransitionsTotal)} }},
			{"replication_lag_ms", tFloat8, func(x *evalCtx) value { return value{f: backend(x).ReplicationLagMs} }},
			{"ramp_factor", tFloat8, func(x *evalCtx) value { return value{f: backend(x).RampFactor} }},
			{"read_only", tBool, func(x *evalCtx) value { return boolValue(backend(x).ReadOnly) }},
			{"trusts_proxy", tBool, func(x *evalCtx) value { return boolValue(backend(x).TrustsProxy) }},
			{"trusted_roles", tText, func(x *evalCtx) value { return nullableText(strings.Join(backend(x).TrustedRoles, ",")) }},
			{"role", tText, func(x *evalCtx) value { return value{s: string(roleOr(backend(x).Role))} }},
			{"timeline", tInt8, func(x *evalCtx) value {
				if tl := backend(x).Timeline; tl != 0 {
					return value{n: tl}
				}
				return null
			}},
			{"replication_lag_bytes", tInt8, func(x *evalCtx) value { return value{n: clampInt64(backend(x).ReplicationLagBytes)} }},
			{"routing", tText, func(x *evalCtx) value { return value{s: string(routingOr(backend(x).Routing))} }},
			{"fenced_reason", tText, func(x *evalCtx) value { return nullableText(backend(x).FencedReason) }},
			{"observed_role", tText, func(x *evalCtx) value { return value{s: string(roleOr(backend(x).ObservedRole))} }},
		},
	},
	"circuit_events": {
		name: "circuit_events",
		rows: func(in *Input) int { return len(in.Events) },
		cols: []column{
			{"id", tInt8, func(x *evalCtx) value { return value{n: clampInt64(event(x).ID)} }},
			{"event_time", tTimestamptz, func(x *evalCtx) value { return timeValue(event(x).Time) }},
			{"event_type", tText, func(x *evalCtx) value { return value{s: string(event(x).Type)} }},
			{"backend_name", tText, func(x *evalCtx) value { return nullableText(event(x).Backend) }},
			{"from_state", tText, func(x *evalCtx) value { return nullableText(event(x).From.String()) }},
			{"to_state", tText, func(x *evalCtx) value { return nullableText(event(x).To.String()) }},
			{"reason", tText, func(x *evalCtx) value { return nullableText(event(x).Reason) }},
			{"detail", tText, func(x *evalCtx) value { return nullableText(event(x).Detail) }},
			{"attempt", tInt4, func(x *evalCtx) value {
				if n := event(x).Attempt; n != 0 {
					return value{n: clampInt4(n)}
				}
				return null
			}},
			{"recovery_duration_ms", tFloat8, func(x *evalCtx) value {
				if e := event(x); e.Type == status.CircuitClosed || e.RecoveryDuration != 0 {
					return value{f: millis(e.RecoveryDuration)}
				}
				return null
			}},
			{"in_previous_state_ms", tFloat8, func(x *evalCtx) value {
				if e := event(x); e.From != status.NoState || e.InPrevious != 0 {
					return value{f: millis(e.InPrevious)}
				}
				return null
			}},
			{"backends", tText, func(x *evalCtx) value { return nullableText(strings.Join(event(x).Backends, ",")) }},
			{"latency_p95_ms", tFloat8, func(x *evalCtx) value { return value{f: event(x).LatencyP95Ms} }},
			{"latency_p99_ms", tFloat8, func(x *evalCtx) value { return value{f: event(x).LatencyP99Ms} }},
			{"error_rate", tFloat8, func(x *evalCtx) value { return value{f: event(x).ErrorRate} }},
			{"connection_saturation", tFloat8, func(x *evalCtx) value { return value{f: event(x).ConnectionSaturation} }},
		},
	},
	"backends": {
		name: "backends",
		rows: func(in *Input) int { return len(in.Snapshot.Backends) },
		cols: []column{
			{"backend_name", tText, func(x *evalCtx) value { return value{s: backend(x).Name} }},
			{"host", tText, func(x *evalCtx) value { return value{s: backend(x).Host} }},
			{"port", tInt4, func(x *evalCtx) value { return value{n: clampInt4(backend(x).Port)} }},
			{"priority", tInt4, func(x *evalCtx) value { return value{n: clampInt4(backend(x).Priority)} }},
			{"weight", tFloat8, func(x *evalCtx) value { return value{f: backend(x).Weight} }},
			{"read_only", tBool, func(x *evalCtx) value { return boolValue(backend(x).ReadOnly) }},
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
