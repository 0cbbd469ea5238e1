package statusdb

import (
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 123456000, time.UTC)

// testInput is a literal snapshot: four backends in every circuit state
// and a few events, with values chosen to exercise formatting (NULLs,
// fractions, tiny and huge floats, microseconds).
func testInput() Input {
	return Input{
		Now: t0,
		Snapshot: status.Snapshot{
			Taken: t0,
			Backends: []status.Backend{
				{
					Name: "primary-1", Host: "10.0.0.1", Port: 5432, Priority: 1, Weight: 1, CircuitState: status.Closed,
					LatencyP50Ms: 1.5, LatencyP95Ms: 12.25, LatencyP99Ms: 40, ErrorRate: 0.001, ConnectionSaturation: 0.25,
					TrafficShare: 0.5, ActiveConnections: 10, MaxConnections: 100, StateSince: t0.Add(-time.Hour),
					RampFactor: 1, RequestsTotal: 1000, FailuresTotal: 1, SuccessesTotal: 999, TransitionsTotal: 2,
				},
				{
					Name: "replica-1", Host: "10.0.0.2", Port: 5433, Priority: 2, Weight: 0.5, ReadOnly: true, CircuitState: status.Open,
					LatencyP50Ms: 200, LatencyP95Ms: 2500.5, LatencyP99Ms: 1e15, ErrorRate: 0.5, ConnectionSaturation: 1,
					LastFailureTime: t0.Add(-30 * time.Second), TrafficShare: 0, ActiveConnections: 0, MaxConnections: 0,
					QueueDepth: 3, StateSince: t0.Add(-30 * time.Second), OpenReason: "hard_failure", RampFactor: 0,
					RequestsTotal: 500, FailuresTotal: 250, RejectedTotal: 40, TransitionsTotal: 3, ReplicationLagMs: 0.00001,
				},
				{
					Name: "replica-2", Host: "10.0.0.3", Port: 5434, Priority: 2, Weight: 0.5, ReadOnly: true, CircuitState: status.HalfOpen,
					LatencyP50Ms: 3, LatencyP95Ms: 30.125, LatencyP99Ms: 90, ErrorRate: 0.1 + 0.2, ConnectionSaturation: 0.5,
					LastFailureTime: t0.Add(-20*time.Second + 7*time.Microsecond), TrafficShare: 0.125, ActiveConnections: 2,
					MaxConnections: 50, StateSince: t0.Add(-10 * time.Second), Override: status.Open, RampFactor: 0.3,
					RequestsTotal: 80, FailuresTotal: 8, RejectedTotal: 2, TransitionsTotal: 4, ReplicationLagMs: 1500,
				},
				{
					Name: "Standby", Host: "standby.internal", Port: 6432, Priority: 3, Weight: 2.25, CircuitState: status.Closed,
					LatencyP50Ms: 0.75, LatencyP95Ms: 1000000, LatencyP99Ms: 1e-5, ErrorRate: 0, ConnectionSaturation: 0,
					LastFailureTime: t0.Add(-48 * time.Hour), TrafficShare: 0.375, ActiveConnections: 7, MaxConnections: 200,
					StateSince: t0.Add(-47 * time.Hour), RampFactor: 1, RequestsTotal: 1 << 40, TransitionsTotal: 0,
					Override: status.Closed, ReplicationLagMs: 12.5, TrustsProxy: true, TrustedRoles: []string{"*", "postgres"},
				},
				{
					Name: "réplica-ñ", Host: "10.0.0.5", Port: 5435, Priority: 3, Weight: 0, CircuitState: status.Closed,
					LatencyP50Ms: 2, LatencyP95Ms: 4, LatencyP99Ms: 8, StateSince: t0.Add(-2 * time.Minute), RampFactor: 0.1,
					RequestsTotal: 3,
				},
			},
			QueryBreakers: []status.QueryBreaker{
				{Pattern: "fc927418524c82ea", Fingerprint: "07681e575f3d174e", Query: "SELECT pg_sleep($1)", CircuitState: status.Open,
					StateSince: t0.Add(-3 * time.Second), OpenReason: "latency_p95", OpenDetail: "p95 > 1s: 3 of 3 requests slower (100.0% > 5%)",
					RetryAt: t0.Add(27 * time.Second), WindowExecutions: 3, LatencyP50Ms: 1508.06, LatencyP95Ms: 1638.4, LatencyP99Ms: 1638.4,
					ExecutionsTotal: 4, SlowTotal: 4, RejectedTotal: 12, TransitionsTotal: 1, FirstSeen: t0.Add(-5 * time.Second), LastSeen: t0},
				{Pattern: "00000000000000a1", Query: "SELECT 'it''s' FROM t WHERE id = $1", CircuitState: status.HalfOpen,
					StateSince: t0.Add(-time.Second), OpenReason: "error_rate", OpenDetail: "error rate 100.0% > 5% over 3 requests",
					WindowExecutions: 0, ErrorRate: 0, ExecutionsTotal: 3, FailuresTotal: 3, TransitionsTotal: 2,
					FirstSeen: t0.Add(-time.Minute), LastSeen: t0.Add(-time.Second)},
				{Pattern: "00000000000000b2", CircuitState: status.Closed, StateSince: t0.Add(-time.Minute), WindowExecutions: 40,
					LatencyP50Ms: 2, LatencyP95Ms: 1200, LatencyP99Ms: 1300, ErrorRate: 0.025, ExecutionsTotal: 1 << 40, SlowTotal: 1, FailuresTotal: 1,
					FirstSeen: t0.Add(-time.Hour), LastSeen: t0},
			},
		},
		Events: []status.Event{
			{ID: 1, Type: status.CircuitOpened, Time: t0.Add(-30 * time.Second), Backend: "replica-1", From: status.Closed, To: status.Open,
				Reason: "hard_failure", Detail: "3 consecutive connection failures", InPrevious: 2 * time.Hour,
				LatencyP95Ms: 2500.5, LatencyP99Ms: 4000, ErrorRate: 0.5, ConnectionSaturation: 1},
			{ID: 2, Type: status.CascadeDetected, Time: t0.Add(-25 * time.Second), Reason: "multiple_open",
				Detail: "2 circuits opened within 10s", Backends: []string{"replica-1", "replica-2"}},
			{ID: 3, Type: status.RecoveryFailed, Time: t0.Add(-20 * time.Second), Backend: "replica-2", From: status.HalfOpen, To: status.Open,
				Reason: "probe_failed", Attempt: 2, InPrevious: 1500 * time.Millisecond, ErrorRate: 0.25},
			{ID: 4, Type: status.CircuitHalfOpened, Time: t0.Add(-10 * time.Second), Backend: "replica-2", From: status.Open, To: status.HalfOpen,
				Reason: "open_duration_elapsed", InPrevious: 30 * time.Second},
			{ID: 5, Type: status.CircuitClosed, Time: t0.Add(-5 * time.Second), Backend: "primary-1", From: status.HalfOpen, To: status.Closed,
				Reason: "probes_succeeded", RecoveryDuration: 95500 * time.Millisecond, InPrevious: 12 * time.Second, LatencyP95Ms: 11},
		},
	}
}
