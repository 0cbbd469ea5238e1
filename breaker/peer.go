package breaker

import (
	"fmt"
	"time"
)

// TripPeer opens a CLOSED circuit on the cluster's word: r is ReasonPeer
// (another instance found the backend hard-failed), ReasonPeerTrip
// (another instance tripped it on error rate, latency or saturation) or
// ReasonQuorum (a majority of the instances see it failing); detail says
// who and what. The instances that saw the failure passed their own
// guard, so the max-ejection guard does not hold it back; it counts
// towards a cascade. The circuit then recovers as after any opening, or as
// the cluster says (SetFollower, Recover). A forced circuit, or one that
// is not CLOSED, is left alone: it returns no transition.
func (b *Breaker) TripPeer(r Reason, detail string, now time.Time) (Transition, bool) {
	b.lockChange()
	defer b.mu.Unlock()
	b.touch(now)
	if b.forced || b.state != Closed {
		return Transition{}, false
	}
	return b.trip(verdict{reason: r, what: detail}, now)
}

// SetFollower says whether another instance of the cluster probes this
// backend's recovery for this one (on: the circuit stays OPEN after its
// wait and a passing health check, until Recover or SetFollower(false)).
// It changes no state by itself.
func (b *Breaker) SetFollower(on bool) {
	b.lockChange()
	b.follower = on
	b.mu.Unlock()
}

// Recover closes an OPEN or HALF_OPEN circuit that is not forced, on the
// cluster's word: the instance that probed it found it healthy, or the
// quorum that opened it is gone. It starts the recovery ramp like a
// passed probe round.
func (b *Breaker) Recover(detail string, now time.Time) (Transition, bool) {
	b.lockChange()
	defer b.mu.Unlock()
	b.touch(now)
	if b.forced || b.state == Closed {
		return Transition{}, false
	}
	return b.moveTo(b.state, Closed, ReasonNone, detail, now, nil, true), true
}

// followDetail is what Stats.Detail adds while another instance probes.
func followDetail(detail string) string {
	return fmt.Sprintf("%s; recovery probed by another cluster member", detail)
}
