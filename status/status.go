// Package status is the shared vocabulary between the proxy and the
// surfaces that show its state (SQL, REST API, metrics, alerts): plain
// values with copied slices, so readers never hold proxy locks and tests can
// build them as literals.
package status

import (
	"errors"
	"time"
)

// Snapshot is the proxy's state at one instant.
type Snapshot struct {
	Taken    time.Time
	Backends []Backend // in configuration order
	// Members are the instances of the cluster as this one sees them,
	// itself included, by node name; nil without [cluster].
	Members []Member
	// Circuits are the live members' views of every backend's circuit
	// (this instance's first, then by node and backend); nil without
	// [cluster].
	Circuits []CircuitView
	// Propagation is how long the members' circuit changes took to reach
	// this instance; nil without [cluster].
	Propagation *Histogram
	// QueryBreakers are the query patterns the proxy tracks (those that
	// were slow or failed for backend reasons), the ones whose circuits
	// are not CLOSED first, then by slow and failed executions, most
	// first; nil when none is.
	QueryBreakers []QueryBreaker
	// Users are the roles with limits or breakers
	// (user_level_breakers_enabled), by role and database; nil when off.
	Users []UserBreaker
}

// QueryBreaker is one query pattern's circuit, as of a Snapshot. Field
// names follow the SQL columns of helios_proxy.query_breakers.
type QueryBreaker struct {
	Pattern      string // the proxy's key of the pattern, 16 hex digits
	Fingerprint  string // PostgreSQL's (pg_query's) fingerprint of it; "" if its parser refused it
	Query        string // an example with its constants replaced by $1, $2, …; "" until one was seen
	CircuitState CircuitState
	StateSince   time.Time
	OpenReason   string    // empty when CLOSED
	OpenDetail   string    // empty when CLOSED
	RetryAt      time.Time // when an OPEN circuit lets probes through; zero otherwise
	// WindowExecutions, the percentiles and ErrorRate are of the sliding
	// window (metrics_window_size).
	WindowExecutions int
	LatencyP50Ms     float64
	LatencyP95Ms     float64
	LatencyP99Ms     float64
	ErrorRate        float64
	// The totals count since the pattern is tracked.
	ExecutionsTotal  uint64
	SlowTotal        uint64 // slower than slow_query_threshold_ms, or a statement_timeout
	FailuresTotal    uint64 // failed for backend reasons
	RejectedTotal    uint64 // refused while its circuit was open
	TransitionsTotal uint64
	FirstSeen        time.Time // tracked since
	LastSeen         time.Time // last execution
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
	CircuitState         CircuitState // Closed, Open or HalfOpen
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
	OpenReason           string       // empty when CLOSED
	Override             CircuitState // NoState, Open or Closed
	OverrideReason       string
	OverrideAuthor       string
	OverrideExpires      time.Time // zero: no expiry (or no override)
	RampFactor           float64
	RequestsTotal        uint64
	FailuresTotal        uint64
	SuccessesTotal       uint64
	RejectedTotal        uint64
	TransitionsTotal     uint64
	ReplicationLagMs     float64
	// TrustsProxy is true when the backend lets the proxy's connections in
	// without a password for a role a client can name (pg_hba.conf trust
	// for the proxy's address); TrustedRoles lists those roles, "*" for any
	// role name no earlier pg_hba.conf line matches.
	TrustsProxy  bool
	TrustedRoles []string
	// Role is the backend's replication role: as configured when
	// asserted (role = "primary" or "replica"), else as its health check
	// found it; RoleUnknown before the first check. ObservedRole is what
	// the health check found (RoleUnknown before one): when it differs
	// from an asserted Role, routing follows Role.
	Role         Role
	ObservedRole Role
	// Timeline is the WAL timeline the backend writes (a primary) or
	// receives (a replica); 0 if unknown.
	Timeline int64
	// ReplicationLagBytes is a replica's lag behind its primary in bytes
	// of WAL; ReplicationLagMs the same in time. 0 on a primary.
	ReplicationLagBytes uint64
	// Routing is what routing sends the backend now.
	Routing Routing
	// FencedReason says why a fenced backend is fenced; "" otherwise.
	FencedReason string
	// BackendWaiting is the client sessions queued inside the backend
	// (active, waiting on a lock), from its health check; -1 when
	// health_checks.collect_query_queue_depth is off.
	BackendWaiting int
	// AdmissionLimit is the requests the backend may run at once, as load
	// shedding estimates it (backends.load_shedding_enabled; shown also
	// when off); AdmissionInflight those running, AdmissionQueued those
	// waiting, ShedTotal those refused with 53300 since the start.
	AdmissionLimit    int
	AdmissionInflight int
	AdmissionQueued   int
	ShedTotal         uint64
}

// Role is a backend's replication role.
type Role string

// The roles.
const (
	RoleUnknown Role = "unknown"
	RolePrimary Role = "primary"
	RoleReplica Role = "replica"
)

// Routing is what routing sends a backend: its verdict.
type Routing string

// The routing verdicts.
const (
	// RoutingReadWrite: every session (a primary, or a backend whose role
	// is not known).
	RoutingReadWrite Routing = "read-write"
	// RoutingReadOnly: read-only sessions (a replica within its lag
	// limit, or allowed_query_types = ["SELECT"]).
	RoutingReadOnly Routing = "read-only"
	// RoutingLagging: none; a replica beyond max_replication_lag_ms.
	RoutingLagging Routing = "lagging"
	// RoutingFenced: none; a second primary (FencedReason says why).
	RoutingFenced Routing = "fenced"
	// RoutingUnreachable: none; its circuit is OPEN.
	RoutingUnreachable Routing = "unreachable"
)

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
	Backend string       // empty for CascadeDetected
	From    CircuitState // previous circuit state, when a transition
	To      CircuitState // new circuit state, when a transition; OverrideSet: the forced state
	Reason  string       // machine-readable: "hard_failure", "latency_p95", …
	Detail  string       // human-readable
	Attempt int          // RecoveryFailed: the failed attempt's number
	// RecoveryDuration is, for CircuitClosed, the time from the opening to
	// the close.
	RecoveryDuration time.Duration
	// InPrevious is the time spent in the previous state.
	InPrevious time.Duration
	Backends   []string // CascadeDetected: the backends that opened together; ConfigReloaded: the backends the reload drained (removed, or replaced by another server under the same name)
	// Role and Database name the role of a UserBreaker* event.
	Role     string `json:",omitempty"`
	Database string `json:",omitempty"`
	Author   string // OverrideSet/OverrideCleared: who acted
	// Node is the cluster member where the event originated when it was
	// another one: the instance whose override was applied here, or that
	// saw the hard failure of a peer_hard_failure opening; "" otherwise.
	Node string
	// Pattern and Query name the query pattern of a QueryBreaker* event
	// (QueryBreaker.Pattern and .Query); "" otherwise.
	Pattern string
	Query   string
	// Metrics at the time of the event.
	LatencyP95Ms         float64
	LatencyP99Ms         float64
	ErrorRate            float64
	ConnectionSaturation float64
}

// Event types of query-level breakers: a query pattern's circuit opened
// (also when a recovery failed: Reason "recovery_failed"), let probes
// through, or closed. Backend is empty; Pattern and Query name the
// pattern. They alert on Slack, never page (alerts).
const (
	QueryBreakerOpened     EventType = "QueryBreakerOpened"
	QueryBreakerHalfOpened EventType = "QueryBreakerHalfOpened"
	QueryBreakerClosed     EventType = "QueryBreakerClosed"
)

// Event types of operator actions.
const (
	OverrideSet     EventType = "OverrideSet"
	OverrideCleared EventType = "OverrideCleared"
	ConfigReloaded  EventType = "ConfigReloaded"
)

// Event types of the backends' authentication: BackendTrustsProxy when a
// probe finds that a backend lets the proxy's connections in without a
// password (again when the roles change; Detail names them, Reason is
// "pass_through_refused" or "pass_through_allowed"), BackendTrustCleared
// when it asks for a password again.
const (
	BackendTrustsProxy  EventType = "BackendTrustsProxy"
	BackendTrustCleared EventType = "BackendTrustCleared"
)

// Event types of replication roles (Detail says what happened, Reason is
// machine-readable):
//   - BackendRoleChanged: a backend's role changed (a replica promoted,
//     a primary demoted); Reason "primary" or "replica", the new role.
//   - BackendFenced: a backend claims to be primary while another one is
//     (an older timeline, or the incumbent on the same one): it gets no
//     sessions; Reason "fenced". BackendUnfenced when that ends.
//   - ReplicaLagging: a replica left read routing, its lag beyond
//     max_replication_lag_ms; ReplicaCaughtUp when it came back (its lag
//     at most half the limit).
//   - BackendRoleMismatch: a backend's configured role contradicts its
//     health check; routing follows the configuration.
const (
	BackendRoleChanged  EventType = "BackendRoleChanged"
	BackendFenced       EventType = "BackendFenced"
	BackendUnfenced     EventType = "BackendUnfenced"
	ReplicaLagging      EventType = "ReplicaLagging"
	ReplicaCaughtUp     EventType = "ReplicaCaughtUp"
	BackendRoleMismatch EventType = "BackendRoleMismatch"
)

// Override is an operator's forced circuit state for one backend. It wins
// over automatic decisions until it is cleared or expires, and survives
// config reloads and restarts.
type Override struct {
	Backend string
	State   CircuitState // Open or Closed (Forcible)
	Reason  string       // why, as the operator wrote it
	Author  string       // who set it (from the API request)
	Created time.Time    // when it was set
	Expires time.Time    // zero: until cleared
	// Node is the cluster member where it was set; "" outside a cluster.
	Node string `json:",omitempty"`
	// Stamp is the hybrid logical clock of the change in a cluster (the
	// last writer wins); 0 outside a cluster.
	Stamp uint64 `json:",omitempty"`
}

// ReloadResult says what a successful config reload changed.
type ReloadResult struct {
	Added   []string // backends added (health-checked from now on)
	Removed []string // backends removed (draining: live sessions finish, no new ones)
	Changed []string // sections ("circuit_breaker") and backends ("backends.instances.pg-a") whose settings changed
	// RestartRequired lists changed settings that only take effect after a
	// restart (listen addresses, TLS files).
	RestartRequired []string
}

// ErrUnknownBackend is returned (wrapped) for a backend name that is not
// configured.
var ErrUnknownBackend = errors.New("unknown backend")

// ErrNotSaved is returned (wrapped) for an operator's change that could
// not be written under [state] dir, and so did not take effect.
var ErrNotSaved = errors.New("not saved under [state] dir")
