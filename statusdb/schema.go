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

// column reads one column of row i of its table from the Input.
type column struct {
	name string
	typ  typ
	get  func(in *Input, i int) value
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
// (SELECT * and DESIGN.md § SQL status schema): only append.
var tables = map[string]*table{
	"circuit_breaker_status": {
		name: "circuit_breaker_status",
		rows: func(in *Input) int { return len(in.Snapshot.Backends) },
		cols: []column{
			backendText("backend_name", func(b *status.Backend) string { return b.Name }),
			backendText("circuit_state", func(b *status.Backend) string { return b.CircuitState }),
			backendFloat("latency_p50_ms", func(b *status.Backend) float64 { return b.LatencyP50Ms }),
			backendFloat("latency_p95_ms", func(b *status.Backend) float64 { return b.LatencyP95Ms }),
			backendFloat("latency_p99_ms", func(b *status.Backend) float64 { return b.LatencyP99Ms }),
			backendFloat("error_rate", func(b *status.Backend) float64 { return b.ErrorRate }),
			backendFloat("connection_saturation", func(b *status.Backend) float64 { return b.ConnectionSaturation }),
			backendTime("last_failure_time", func(b *status.Backend) time.Time { return b.LastFailureTime }),
			backendText("host", func(b *status.Backend) string { return b.Host }),
			backendInt4("port", func(b *status.Backend) int { return b.Port }),
			backendInt4("priority", func(b *status.Backend) int { return b.Priority }),
			backendFloat("weight", func(b *status.Backend) float64 { return b.Weight }),
			backendFloat("traffic_share", func(b *status.Backend) float64 { return b.TrafficShare }),
			backendInt8("active_connections", func(b *status.Backend) uint64 { return uint64(max(b.ActiveConnections, 0)) }),
			backendInt8("max_connections", func(b *status.Backend) uint64 { return uint64(max(b.MaxConnections, 0)) }),
			backendInt8("queue_depth", func(b *status.Backend) uint64 { return uint64(max(b.QueueDepth, 0)) }),
			backendTime("state_since", func(b *status.Backend) time.Time { return b.StateSince }),
			backendNullableText("open_reason", func(b *status.Backend) string { return b.OpenReason }),
			backendNullableText("override", func(b *status.Backend) string { return b.Override }),
			backendInt8("requests_total", func(b *status.Backend) uint64 { return b.RequestsTotal }),
			backendInt8("failures_total", func(b *status.Backend) uint64 { return b.FailuresTotal }),
			backendInt8("rejected_total", func(b *status.Backend) uint64 { return b.RejectedTotal }),
			backendInt8("transitions_total", func(b *status.Backend) uint64 { return b.TransitionsTotal }),
			backendFloat("replication_lag_ms", func(b *status.Backend) float64 { return b.ReplicationLagMs }),
			backendFloat("ramp_factor", func(b *status.Backend) float64 { return b.RampFactor }),
			backendBool("read_only", func(b *status.Backend) bool { return b.ReadOnly }),
		},
	},
	"circuit_events": {
		name: "circuit_events",
		rows: func(in *Input) int { return len(in.Events) },
		cols: []column{
			{"id", tInt8, func(in *Input, i int) value { return value{n: clampInt64(in.Events[i].ID)} }},
			{"event_time", tTimestamptz, func(in *Input, i int) value { return timeValue(in.Events[i].Time) }},
			{"event_type", tText, func(in *Input, i int) value { return value{s: string(in.Events[i].Type)} }},
			{"backend_name", tText, func(in *Input, i int) value { return nullableText(in.Events[i].Backend) }},
			{"from_state", tText, func(in *Input, i int) value { return nullableText(in.Events[i].From) }},
			{"to_state", tText, func(in *Input, i int) value { return nullableText(in.Events[i].To) }},
			{"reason", tText, func(in *Input, i int) value { return nullableText(in.Events[i].Reason) }},
			{"detail", tText, func(in *Input, i int) value { return nullableText(in.Events[i].Detail) }},
			{"attempt", tInt4, func(in *Input, i int) value {
				if in.Events[i].Attempt == 0 {
					return null
				}
				return value{n: clampInt4(in.Events[i].Attempt)}
			}},
			{"recovery_duration_ms", tFloat8, func(in *Input, i int) value {
				if e := &in.Events[i]; e.Type == status.CircuitClosed || e.RecoveryDuration != 0 {
					return value{f: millis(e.RecoveryDuration)}
				}
				return null
			}},
			{"in_previous_state_ms", tFloat8, func(in *Input, i int) value {
				if e := &in.Events[i]; e.From != "" || e.InPrevious != 0 {
					return value{f: millis(e.InPrevious)}
				}
				return null
			}},
			{"backends", tText, func(in *Input, i int) value { return nullableText(strings.Join(in.Events[i].Backends, ",")) }},
			{"latency_p95_ms", tFloat8, func(in *Input, i int) value { return value{f: in.Events[i].LatencyP95Ms} }},
			{"latency_p99_ms", tFloat8, func(in *Input, i int) value { return value{f: in.Events[i].LatencyP99Ms} }},
			{"error_rate", tFloat8, func(in *Input, i int) value { return value{f: in.Events[i].ErrorRate} }},
			{"connection_saturation", tFloat8, func(in *Input, i int) value { return value{f: in.Events[i].ConnectionSaturation} }},
		},
	},
	"backends": {
		name: "backends",
		rows: func(in *Input) int { return len(in.Snapshot.Backends) },
		cols: []column{
			backendText("backend_name", func(b *status.Backend) string { return b.Name }),
			backendText("host", func(b *status.Backend) string { return b.Host }),
			backendInt4("port", func(b *status.Backend) int { return b.Port }),
			backendInt4("priority", func(b *status.Backend) int { return b.Priority }),
			backendFloat("weight", func(b *status.Backend) float64 { return b.Weight }),
			backendBool("read_only", func(b *status.Backend) bool { return b.ReadOnly }),
		},
	},
}

func backendText(name string, f func(*status.Backend) string) column {
	return column{name, tText, func(in *Input, i int) value { return value{s: f(&in.Snapshot.Backends[i])} }}
}

// backendNullableText is a text column that is NULL when empty ("not
// applicable"), such as open_reason of a closed circuit.
func backendNullableText(name string, f func(*status.Backend) string) column {
	return column{name, tText, func(in *Input, i int) value { return nullableText(f(&in.Snapshot.Backends[i])) }}
}

func backendFloat(name string, f func(*status.Backend) float64) column {
	return column{name, tFloat8, func(in *Input, i int) value { return value{f: f(&in.Snapshot.Backends[i])} }}
}

func backendInt4(name string, f func(*status.Backend) int) column {
	return column{name, tInt4, func(in *Input, i int) value { return value{n: clampInt4(f(&in.Snapshot.Backends[i]))} }}
}

func backendInt8(name string, f func(*status.Backend) uint64) column {
	return column{name, tInt8, func(in *Input, i int) value { return value{n: clampInt64(f(&in.Snapshot.Backends[i]))} }}
}

func backendBool(name string, f func(*status.Backend) bool) column {
	return column{name, tBool, func(in *Input, i int) value { return boolValue(f(&in.Snapshot.Backends[i])) }}
}

// backendTime is a timestamptz column that is NULL when the time is zero.
func backendTime(name string, f func(*status.Backend) time.Time) column {
	return column{name, tTimestamptz, func(in *Input, i int) value { return timeValue(f(&in.Snapshot.Backends[i])) }}
}

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
