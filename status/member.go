package status

import "time"

// Member is one instance of a cluster as the reporting instance sees it.
type Member struct {
	Node    string      // node_name
	Address string      // gossip address, host:port
	State   MemberState // alive, suspect, dead or left
	// LastContact is when the reporting instance last heard from it
	// (a ping answered, a message); the Snapshot's time for itself; zero
	// if never.
	LastContact time.Time
	Version     string // its heliosproxy version
	// ConfigHash identifies its circuit-relevant settings (circuit_breaker,
	// backends, health_checks, pool): members whose hashes differ are
	// configured differently.
	ConfigHash string
	Self       bool // the reporting instance itself
}

// MemberState is a cluster member's state in the gossip protocol.
type MemberState string

// The member states.
const (
	MemberAlive   MemberState = "alive"
	MemberSuspect MemberState = "suspect" // missed its probes; declared dead unless it refutes
	MemberDead    MemberState = "dead"
	MemberLeft    MemberState = "left" // left on purpose (shut down)
)

// CircuitView is one cluster member's circuit of one backend as the
// reporting instance last heard of it: which instance sees what, and why.
type CircuitView struct {
	Node    string
	Backend string
	State   CircuitState
	Reason  string // why it is open there ("" when CLOSED); "override" while forced
	Detail  string
	Since   time.Time // when it entered State there
	// Failing: open on that member's own observations (its vote under
	// cluster.decision "quorum").
	Failing bool
	// Role is that member's part in the backend's recovery: "prober" (it
	// probes for every member), "follower" (it waits for the prober's
	// verdict), "quorum" (held open by a majority's votes) or "".
	Role     string
	Received time.Time // when the reporting instance heard it (for itself: when it changed)
}

// Notification is one entry of a cluster's notification log: the latest
// alert a member sent under one key (see alerts.Peers).
type Notification struct {
	Action string    // "trigger", "resolve" or "" (information only)
	Kind   string    // the alert's kind ("circuit_opened", …)
	At     time.Time // when the sender decided it
	Node   string    // the member that sent it (set by the cluster)
	Stamp  uint64    // its hybrid logical clock when recorded (set by the cluster): the greater wins
}

// Histogram is a cumulative histogram of durations in seconds, as
// Prometheus exposes one.
type Histogram struct {
	Bounds []float64 // upper bounds of the buckets, increasing (+Inf implied)
	Counts []uint64  // observations at or below each bound (cumulative)
	Count  uint64
	Sum    float64
}
