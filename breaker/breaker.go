// Package breaker is HeliosProxy's circuit state machine and health window:
// pure logic with no goroutines, no I/O and no clock (callers pass now).
//
// A Group holds one Breaker per backend. The caller asks Allow before a unit
// of work (a session or a transaction), feeds what happened with Record,
// RecordConnLoss and RecordCheck, calls Tick about every 10 ms with the
// requests in flight, and publishes the Transitions these return. Weight is
// the routing factor, Stats a copy of everything for the status surfaces.
//
// Choices the design left open:
//   - The window is the current (partial) bucket and the buckets before it
//     back to Window; trip rules use exact counts, percentiles a histogram.
//   - Entering HALF_OPEN or CLOSED starts a fresh window; entering OPEN
//     keeps it, so Stats show what opened the circuit.
//   - Failed recoveries (k) decay by one per OpenDuration spent CLOSED.
//   - The max-ejection guard always lets one circuit open (as Envoy ejects
//     at least one host); a held trip shows in Stats.Detail.
//   - A backend that answers nothing is hung, not slow: requests stuck past
//     the stall bound with no query completed for as long, and the health
//     check unanswered past its timeout (Inflight.CheckTimedOut), open the
//     circuit as ReasonHung, which the guard does not hold back (as Envoy
//     ejects on consecutive gateway failures whatever the percentage).
//     Stuck requests alone are the stall rule, a latency trip: a slow
//     workload (a lock pile-up, slow queries) stalls the same way at first,
//     but its server still answers the check. The stall bound is
//     LatencyP95, or LatencyP99 when that is 0; WantsCheck asks for the
//     check early.
//   - A cascade needs at least two distinct backends, counts only automatic
//     CLOSED → OPEN trips, and is reported once per episode.
//   - Unforce of a forced OPEN closes the circuit with a fresh window (and
//     the recovery ramp).
package breaker

import (
	"time"
)

// Config is one backend's breaker configuration. Zero durations and
// thresholds disable the rule they belong to unless noted.
type Config struct {
	Window          time.Duration // metrics_window_size (10s); 0 means 10s
	Bucket          time.Duration // metrics_bucket_size (1s); 0 means 1s; at most Window
	MinimumRequests int           // minimum_requests (20) in the window before rate/latency rules apply; 0 means 1

	FailureRatePercent  float64       // failure_threshold_percentage (5.0); 0 disables
	LatencyP95          time.Duration // latency_threshold_p95_ms (500ms); 0 disables
	LatencyP99          time.Duration // latency_threshold_p99_ms (2s); 0 disables
	SaturationThreshold float64       // connection_saturation_threshold (0.95); 0 disables

	ConnectionFailureThreshold int // connection_failure_threshold (3) consecutive hard failures; 0 disables

	OpenDuration    time.Duration // open_duration (30s): base wait in OPEN; also the decay period of failed recoveries
	MaxOpenDuration time.Duration // cap of the backed-off wait before jitter (5m); 0: no cap
	Jitter          float64       // the wait is multiplied by a factor in [1, 1+Jitter); 0: none
	// RequireCheck makes OPEN → HALF_OPEN wait for a passing health check
	// (RecordCheck) after the wait; when false, Tick moves it.
	RequireCheck bool

	HalfOpenMaxConcurrent  int           // half_open_max_concurrent (10) probe permits; 0 means 1
	HalfOpenProbes         int           // probes per round (10); 0 means 1
	HalfOpenSuccessPercent float64       // half_open_success_threshold (80); at least one success is always needed
	HalfOpenProbeInterval  time.Duration // half_open_probe_interval (5s): an unreported permit is reclaimed after this; 0: never
	// ProbeTimeout is recovery_probe_timeout (5s): a probe that runs
	// longer fails. A result slower than it is a failed probe, and a
	// permit out longer than it counts as one at the next Tick (its late
	// result is then ignored); 0: no limit.
	ProbeTimeout time.Duration

	GradualRecovery bool          // gradual_recovery_enabled; false: Weight is 1 right after a close
	RampUpDuration  time.Duration // recovery_ramp_up_duration (120s); 0: no ramp
	RampStepPercent float64       // recovery_step_percentage (10); 0 or ≥ 100: no ramp
}

// GroupConfig configures what spans backends.
type GroupConfig struct {
	MaxEjectionPercent float64        // guarded trips may not open more than this share of backends (50)
	CascadeWindow      time.Duration  // openings within this window count towards a cascade (10s)
	CascadeMinOpen     int            // a cascade is this many openings within the window (2) ...
	CascadeFraction    float64        // ... or this share of all backends (0.5), whichever is smaller
	Rand               func() float64 // jitter source in [0,1); nil means math/rand/v2
}

// Ticket is an admission from Allow. Its generation ties its results to the
// state that admitted it: results of an older generation are ignored. The
// zero Ticket belongs to no generation, so its results only count in the
// totals.
type Ticket struct {
	gen   uint64
	probe bool
	id    uint64 // the probe permit's id; 0 for tickets without a permit
}

// Probe reports whether the ticket holds a half-open probe permit.
func (t Ticket) Probe() bool { return t.probe }

// Generation identifies the state the ticket was admitted in: it changes
// at every transition, so Breaker.Current().Generation() is the current
// state's.
func (t Ticket) Generation() uint64 { return t.gen }

// Inflight describes requests that are running now, as the caller sees them:
// only those admitted in the current state (their Ticket.Generation equal
// to Breaker.Current's), as for results. A request begun under an earlier
// state, such as a query still sleeping on a backend that has recovered
// since, says nothing about the state the circuit is in now.
type Inflight struct {
	Count     int           // requests in flight
	OverP95   int           // of which older than Config.LatencyP95
	OverP99   int           // of which older than Config.LatencyP99
	Oldest    time.Duration // age of the oldest
	CheckOver bool          // a health check has been running longer than Config.LatencyP95, or the last one timed out
	// CheckTimedOut says the health check got no answer within its own
	// timeout (health_checks.timeout): the running one is older than that,
	// or the last one timed out. With requests stuck and nothing
	// completed, it makes a stall a hang (ReasonHung).
	CheckTimedOut bool
	CheckRunning  bool      // a health check is running
	CheckStarted  time.Time // when the latest health check began; zero if none has
}

// Transition is a change of state, returned to the caller to publish.
type Transition struct {
	Backend string
	From    State
	To      State
	At      time.Time
	// Reason is the trip reason for a move to OPEN, ReasonOverride for
	// every move made by Force or Unforce, and ReasonNone for the automatic
	// moves to HALF_OPEN and CLOSED.
	Reason Reason
	Detail string // human-readable: "p95 > 500ms: 9 of 143 requests slower (6.3% > 5%)"
	// Stats are the breaker's Stats right after the move, except that the
	// window fields (Requests … P99) are the window as it was when the
	// decision was taken (a move to HALF_OPEN or CLOSED starts a fresh one).
	Stats   Stats
	Attempt int           // failed recoveries so far (RecoveryFailed: this attempt's number)
	InFrom  time.Duration // time spent in From
	// Cascade is non-nil when this opening completed a cascade: every
	// backend that opened within the cascade window, oldest first.
	Cascade []string
}

// Stats is a copy of a breaker's state and window.
type Stats struct {
	State State
	Since time.Time // start of the current state; for the initial CLOSED, the first time passed to the breaker
	// Reason and Detail say why it is open (or was last opened). While
	// CLOSED with a trip held back by the max-ejection guard, Detail says so:
	// "held by max-ejection guard (1 of 3 backends open, limit 50%): p95 > …".
	Reason Reason
	Detail string
	Forced bool // an override holds the state

	Requests  int // counted requests in the window (successes + failures + slow)
	Failures  int
	Overloads int
	ErrorRate float64 // failures / requests, 0 without requests
	// P50, P95 and P99 are estimated from a log-scale histogram (bins about
	// 19% wide) of the Success and Slow latencies in the window; 0 without.
	P50        time.Duration
	P95        time.Duration
	P99        time.Duration
	Saturation float64

	LastFailure         time.Time // zero if none
	ConsecutiveFailures int
	RecoveryAttempts    int       // k: failed recoveries not yet decayed
	ReopenAt            time.Time // when OPEN may move on; zero unless OPEN, and for a forced OPEN
	Ramp                float64   // traffic factor in [0,1], as Weight

	ProbesInFlight int
	ProbeSuccesses int
	ProbeFailures  int

	// The totals are monotonic; nothing resets them. Results of an older
	// generation count in them too.
	RequestsTotal    uint64 // Record calls (any outcome, health checks aside) and RecordConnLoss calls
	SuccessesTotal   uint64 // Record results with Outcome Success
	FailuresTotal    uint64 // Record results with Outcome Failure, connection losses, failed health checks
	RejectedTotal    uint64 // Allow calls answered ErrOpen
	TransitionsTotal uint64
	// ProbesTotal counts the probes of HALF_OPEN: permits handed out and
	// health checks recorded (the passing check that moves OPEN to
	// HALF_OPEN included).
	ProbesTotal uint64
	// Follower: OPEN, and another cluster member probes its recovery
	// (SetFollower); Detail says so.
	Follower bool
}
