package health

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
)

// State is a backend's health checks as the rest of the proxy sees them:
// the latest check, whether the last one was too slow, and requests for a
// check now. It belongs to the backend and outlives its Checkers (a
// reload replaces the Checker, not the State). Make it with NewState.
type State struct {
	latest atomic.Pointer[Run]
	slow   atomic.Bool // the last health check timed out
	// unanswered counts the checks in a row that timed out: the backend
	// answered none of them, not even with an error.
	unanswered atomic.Int32
	now        chan struct{} // asks the Checker for a check now (capacity 1)
	redial     atomic.Bool   // the next check opens a new connection (Redial)

	first     chan struct{} // closed when the first check has finished
	firstOnce sync.Once
}

// NewState returns the State of a backend that has not been checked yet.
func NewState() *State { return &State{now: make(chan struct{}, 1), first: make(chan struct{})} }

// First returns a channel closed once a check of the backend has finished
// (passed or failed), so that its role is known if it can be.
func (st *State) First() <-chan struct{} { return st.first }

func (st *State) finished() { st.firstOnce.Do(func() { close(st.first) }) }

// Run is one health check.
type Run struct {
	start, deadline int64 // unix nanos; deadline is start + health_checks.timeout
	// settled is set by whoever records the check's result: the Checker
	// when it returns, or the tick once the check has overrun its
	// deadline (State.Overdue), so that it counts as failed at that
	// moment and only once.
	settled atomic.Bool
	done    atomic.Bool // the Checker has finished with it
}

// Start returns when the check began.
func (r *Run) Start() time.Time { return time.Unix(0, r.start) }

// Done reports whether the Checker has finished with the check.
func (r *Run) Done() bool { return r.done.Load() }

// Latest returns the latest check, running or done; nil before the first.
func (st *State) Latest() *Run { return st.latest.Load() }

// Slow reports whether the last finished check timed out, or was counted
// as failed by Overdue before it returned.
func (st *State) Slow() bool { return st.slow.Load() }

// Unanswered returns how many checks in a row timed out (0 after one that
// got any answer, an error included).
func (st *State) Unanswered() int { return int(st.unanswered.Load()) }

// Request asks the Checker for a check now, rather than at its next
// interval; a request still pending stands for this one.
func (st *State) Request() {
	select {
	case st.now <- struct{}{}:
	default:
	}
}

// Redial asks the Checker for a check now on a new connection: a
// connection to the backend failed for a session, and what failed it (a
// certificate replaced with one that fails verification, pg_hba.conf, the
// server's TLS settings) is seen by new connections only, not by the
// check's own, which may have stayed open since before the change. A
// redial still pending stands for this one.
func (st *State) Redial() {
	if !st.redial.Swap(true) {
		st.Request()
	}
}

// Overdue settles the running check as failed when it has run past its
// deadline (health_checks.timeout) at now: it counts as failed now, not
// when it returns, and only once. It returns the result for the caller
// to record in the breaker; ok is false when there is none.
func (st *State) Overdue(now time.Time) (res breaker.Result, ok bool) {
	r := st.latest.Load()
	nowNs := now.UnixNano()
	if r == nil || r.done.Load() || nowNs <= r.deadline || !r.settled.CompareAndSwap(false, true) {
		return breaker.Result{}, false
	}
	return breaker.Result{Kind: breaker.HealthCheck, Outcome: breaker.Failure, Latency: time.Duration(nowNs - r.start)}, true
}

// Fill sets the health-check fields of in (CheckOver, CheckTimedOut,
// CheckRunning, CheckStarted) as of now; p95 is the breaker's latency
// threshold, 0 if none.
func (st *State) Fill(in *breaker.Inflight, now time.Time, p95 time.Duration) {
	nowNs := now.UnixNano()
	slow := st.slow.Load()
	in.CheckOver, in.CheckTimedOut = slow, slow
	if r := st.latest.Load(); r != nil {
		in.CheckStarted = time.Unix(0, r.start)
		if in.CheckRunning = !r.done.Load(); in.CheckRunning {
			in.CheckOver = in.CheckOver || p95 > 0 && time.Duration(nowNs-r.start) > p95
			in.CheckTimedOut = in.CheckTimedOut || nowNs > r.deadline
		}
	}
}
