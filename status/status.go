// Package status is the shared vocabulary between the proxy and the
// surfaces that show its state (SQL, REST API, metrics, alerts): plain
// values with copied slices, so readers never hold proxy locks and tests can
// build them as literals.
package status

import (
	"time"
)

// Snapshot is the proxy's state at one instant.
type Snapshot struct {
	Taken    time.Time
	Backends []Backend // in configuration order
}

// Backend is one backend's circuit and health as of a Snapshot. Field names
// follow the SQL columns of helios_proxy.circuit_breaker_status.
type Backend struct {
	Name                 string
	Host                 string
	Port                 int
	Priority             int
	Weight               float64
	ReadOnly             bool
	CircuitState         string // "CLOSED", "OPEN" or "HALF_OPEN"
	LatencyP50Ms         float64
	LatencyP95Ms         float64
	LatencyP99Ms         float64
	ErrorRate            float64   // 0..1
	ConnectionSaturation float64   // 0..1
	LastFailureTime      time.Time // zero if none
	TrafficShare         float64   // share of active client sessions, 0..1
	ActiveConnections    int
	MaxConnections       int // the backend's max_connections, 0 if unknown
	QueueDepth           int
	StateSince           time.Time
	OpenReason           string // empty when CLOSED
	Override             string // "", "OPEN" or "CLOSED"
	RampFactor           float64
	RequestsTotal        uint64
	FailuresTotal        uint64
	SuccessesTotal       uint64
	RejectedTotal        uint64
	TransitionsTotal     uint64
	ReplicationLagMs     float64
}

// EventType names an event.
type EventType string

// The event types.
const (
	CircuitOpened     EventType = "CircuitOpened"
	CircuitHalfOpened EventType = "CircuitHalfOpened"
	CircuitClosed     EventType = "CircuitClosed"
	RecoveryFailed    EventType = "RecoveryFailed"
	CascadeDetected   EventType = "CascadeDetected"
)

// Event is something that happened to a circuit.
type Event struct {
	ID      uint64 // increasing, starting at 1
	Type    EventType
	Time    time.Time
	Backend string // empty for CascadeDetected
	From    string // previous circuit state, when a transition
	To      string // new circuit state, when a transition
	Reason  string // machine-readable: "hard_failure", "latency_p95", …
	Detail  string // human-readable
	Attempt int    // RecoveryFailed: the failed attempt's number
	// RecoveryDuration is, for CircuitClosed, the time from the opening to
	// the close.
	RecoveryDuration time.Duration
	// InPrevious is the time spent in the previous state.
	InPrevious time.Duration
	Backends   []string // CascadeDetected: the backends that opened together
	// Metrics at the time of the event.
	LatencyP95Ms         float64
	LatencyP99Ms         float64
	ErrorRate            float64
	ConnectionSaturation float64
}
