package breaker_test

import (
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
)

// TestTripPeer: a peer's hard failure opens a CLOSED circuit at once and
// it recovers as after its own opening; forced and open circuits are left
// alone.
func TestTripPeer(t *testing.T) {
	b := one(defaults())
	tr, ok := b.TripPeer("seen by node-a: connection refused", t0)
	if !ok || tr.To != breaker.Open || tr.Reason != breaker.ReasonPeer || tr.Detail != "seen by node-a: connection refused" {
		t.Fatalf("TripPeer(t0) = %v %+v, want a move to OPEN, reason peer_hard_failure, the detail", ok, tr)
	}
	if tr.Reason.String() != "peer_hard_failure" || tr.Reason.Hard() || tr.Reason.Guarded() {
		t.Errorf("ReasonPeer: String %q Hard %v Guarded %v, want peer_hard_failure, false, false", tr.Reason, tr.Reason.Hard(), tr.Reason.Guarded())
	}
	if _, ok := b.TripPeer("again", at(time.Second)); ok {
		t.Errorf("TripPeer(OPEN) made a transition, want none")
	}
	halfOpen(t, b, at(time.Second))

	f := one(defaults())
	f.Force(breaker.Closed, t0)
	if _, ok := f.TripPeer("x", t0); ok || f.State() != breaker.Closed {
		t.Errorf("TripPeer(forced CLOSED) moved to %v, want it to stay CLOSED", f.State())
	}
}

// TestTripPeerNotGuarded: the max-ejection guard, which holds latency
// trips back, does not hold a peer's hard failure back.
func TestTripPeerNotGuarded(t *testing.T) {
	g := breaker.NewGroup(breaker.GroupConfig{Rand: fixedRand(0), MaxEjectionPercent: 50})
	a, b := g.Add("a", defaults()), g.Add("b", defaults())
	tripHard(t, a, t0)
	if tr, ok := b.TripPeer("peer", t0); !ok || tr.To != breaker.Open {
		t.Errorf("TripPeer with half the backends open = %v to %v, want OPEN", ok, tr.To)
	}
}
