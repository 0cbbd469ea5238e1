package breaker

import "time"

// TripPeer opens a CLOSED circuit because another instance of the cluster
// found the backend hard-failed; detail says which instance and what it
// saw. Like a hard failure it is not held back by the max-ejection guard
// and counts towards a cascade; the circuit then recovers as after any
// opening (OPEN for open_duration, a passing health check, HALF_OPEN
// probes). A forced circuit, or one that is not CLOSED, is left alone: it
// returns no transition.
func (b *Breaker) TripPeer(detail string, now time.Time) (Transition, bool) {
	b.lockChange()
	defer b.mu.Unlock()
	b.touch(now)
	if b.forced || b.state != Closed {
		return Transition{}, false
	}
	return b.trip(verdict{reason: ReasonPeer, what: detail}, now)
}
