package breaker

import (
	"errors"
	"time"
)

// State is a circuit state.
type State uint8

// The circuit states. The zero value is Closed.
const (
	Closed State = iota
	Open
	HalfOpen
)

// String returns the state as the SQL status table and the API spell it:
// "CLOSED", "OPEN" or "HALF_OPEN".
func (s State) String() string {
	switch s {
	case Closed:
		return "CLOSED"
	case Open:
		return "OPEN"
	case HalfOpen:
		return "HALF_OPEN"
	}
	return "UNKNOWN"
}

// Outcome classifies one finished request for health scoring.
type Outcome uint8

// The outcomes. The zero value is Success.
const (
	// Success counts as a healthy request.
	Success Outcome = iota
	// Failure means the backend is unhealthy (connect errors, resets,
	// class 08, 57P01/57P02, 58, XX, 53100, 53200).
	Failure
	// Overload means the backend shed load (53300, 53400, 57P03, pool
	// acquire timeouts): it feeds saturation, not the error rate.
	Overload
	// Excluded is the application's own error (22, 23, 42, 0A000, 40001, …):
	// it counts neither as success nor as failure.
	Excluded
	// Slow is a statement_timeout cancel (57014 not caused by the client):
	// it counts as a request slower than every latency threshold.
	Slow
	// ConfigError is a configuration problem (28000/28P01 of the monitor
	// user, 3D000): reported loudly, never flaps the circuit.
	ConfigError
)

// String names the outcome for logs.
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Overload:
		return "overload"
	case Excluded:
		return "excluded"
	case Slow:
		return "slow"
	case ConfigError:
		return "config_error"
	}
	return "unknown"
}

// Kind says where an observation came from.
type Kind uint8

// The observation kinds. The zero value is Query.
const (
	// Query is a relayed client request (Query/Sync to ReadyForQuery).
	Query Kind = iota
	// Connect is an attempt to open a backend connection for a client.
	Connect
	// HealthCheck is an active health check of the monitor.
	HealthCheck
)

// Result is one finished observation.
type Result struct {
	Kind    Kind
	Outcome Outcome
	Latency time.Duration
}

// Reason says why a circuit opened. The zero value means "not tripped".
type Reason uint8

// The trip reasons.
const (
	ReasonNone Reason = iota
	// ReasonHardFailure: connection_failure_threshold consecutive failed
	// connects or health checks (or connection losses mid-session).
	ReasonHardFailure
	// ReasonErrorRate: error rate above failure_threshold_percentage.
	ReasonErrorRate
	// ReasonLatencyP95 / ReasonLatencyP99: latency percentile above its
	// threshold (including the stall rule).
	ReasonLatencyP95
	ReasonLatencyP99
	// ReasonSaturation: connection saturation above its threshold.
	ReasonSaturation
	// ReasonRecoveryFailed: a half-open probe round failed.
	ReasonRecoveryFailed
	// ReasonOverride: an operator forced the state.
	ReasonOverride
	// ReasonHung: the backend answers nothing (the hung rule, see
	// Inflight.CheckTimedOut): a hard failure, not a latency trip, so the
	// max-ejection guard does not hold it back.
	ReasonHung
	// ReasonPeer: another instance of the cluster opened the circuit for
	// a hard failure (or a hung backend) and said so (TripPeer).
	ReasonPeer
	// ReasonPeerTrip: another instance opened the circuit for an error
	// rate, latency or saturation trip, and cluster.decision is "any".
	ReasonPeerTrip
	// ReasonQuorum: a majority of the cluster's live instances see the
	// backend failing (cluster.decision "quorum").
	ReasonQuorum
)

// String names the reason for logs, events and the SQL open_reason column.
func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return ""
	case ReasonHardFailure:
		return "hard_failure"
	case ReasonErrorRate:
		return "error_rate"
	case ReasonLatencyP95:
		return "latency_p95"
	case ReasonLatencyP99:
		return "latency_p99"
	case ReasonSaturation:
		return "saturation"
	case ReasonRecoveryFailed:
		return "recovery_failed"
	case ReasonOverride:
		return "override"
	case ReasonHung:
		return "hung"
	case ReasonPeer:
		return "peer_hard_failure"
	case ReasonPeerTrip:
		return "peer_trip"
	case ReasonQuorum:
		return "quorum"
	}
	return "unknown"
}

// Hard reports whether the reason is a hard failure seen by this
// instance (hard_failure, hung): the openings a cluster shares.
func (r Reason) Hard() bool { return r == ReasonHardFailure || r == ReasonHung }

// Own reports whether a circuit open for this reason is open on this
// instance's own observations (its own trips and failed recoveries), not
// on another instance's word or an operator's.
func (r Reason) Own() bool {
	switch r {
	case ReasonNone, ReasonOverride, ReasonPeer, ReasonPeerTrip, ReasonQuorum:
		return false
	}
	return true
}

// Guarded reports whether trips for this reason are subject to the
// max-ejection guard (latency and saturation trips are, the stall rule
// included; hard failures, hung backends, error rates, failed recoveries
// and overrides are not).
func (r Reason) Guarded() bool {
	return r == ReasonLatencyP95 || r == ReasonLatencyP99 || r == ReasonSaturation
}

// ErrOpen is returned by Allow when the circuit is open, or half-open with
// every probe permit taken.
var ErrOpen = errors.New("circuit open")
