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
	tr, ok := b.TripPeer(breaker.ReasonPeer, "seen by node-a: connection refused", t0)
	if !ok || tr.To != breaker.Open || tr.Reason != breaker.ReasonPeer || tr.Detail != "seen by node-a: connection refused" {
		t.Fatalf("TripPeer(t0) = %v %+v, want a move to OPEN, reason peer_hard_failure, the detail", ok, tr)
	}
	if tr.Reason.String() != "peer_hard_failure" || tr.Reason.Hard() || tr.Reason.Guarded() {
		t.Errorf("ReasonPeer: String %q Hard %v Guarded %v, want peer_hard_failure, false, false", tr.Reason, tr.Reason.Hard(), tr.Reason.Guarded())
	}
	if _, ok := b.TripPeer(breaker.ReasonPeer, "again", at(time.Second)); ok {
		t.Errorf("TripPeer(OPEN) made a transition, want none")
	}
	halfOpen(t, b, at(time.Second))

	f := one(defaults())
	f.Force(breaker.Closed, t0)
	if _, ok := f.TripPeer(breaker.ReasonPeer, "x", t0); ok || f.State() != breaker.Closed {
		t.Errorf("TripPeer(forced CLOSED) moved to %v, want it to stay CLOSED", f.State())
	}
}

// TestTripPeerNotGuarded: the max-ejection guard, which holds latency
// trips back, does not hold the cluster's word back (the instances that
// saw the failure passed their own guard).
func TestTripPeerNotGuarded(t *testing.T) {
	g := breaker.NewGroup(breaker.GroupConfig{Rand: fixedRand(0), MaxEjectionPercent: 50})
	a, b := g.Add("a", defaults()), g.Add("b", defaults())
	tripHard(t, a, t0)
	if tr, ok := b.TripPeer(breaker.ReasonQuorum, "2 of 3", t0); !ok || tr.To != breaker.Open {
		t.Errorf("TripPeer with half the backends open = %v to %v, want OPEN", ok, tr.To)
	}
}

// TestReasonOwn: only the instance's own trips are its own observations
// (its vote under cluster.decision = "quorum").
func TestReasonOwn(t *testing.T) {
	for r, want := range map[breaker.Reason]bool{
		breaker.ReasonHardFailure: true, breaker.ReasonHung: true, breaker.ReasonErrorRate: true,
		breaker.ReasonLatencyP95: true, breaker.ReasonLatencyP99: true, breaker.ReasonSaturation: true,
		breaker.ReasonRecoveryFailed: true, breaker.ReasonNone: false, breaker.ReasonOverride: false,
		breaker.ReasonPeer: false, breaker.ReasonPeerTrip: false, breaker.ReasonQuorum: false,
	} {
		if r.Own() != want {
			t.Errorf("%q.Own() = %v, want %v", r, r.Own(), want)
		}
	}
	if breaker.ReasonPeerTrip.String() != "peer_trip" || breaker.ReasonQuorum.String() != "quorum" {
		t.Errorf("names: %q %q, want peer_trip quorum", breaker.ReasonPeerTrip, breaker.ReasonQuorum)
	}
}

// TestFollower: a follower's OPEN circuit stays OPEN past its wait, with
// passing checks and ticks, until Recover closes it (with the ramp) or
// SetFollower(false) lets it probe again; it never counts a probe.
func TestFollower(t *testing.T) {
	cfg := defaults()
	cfg.RequireCheck = true
	b := one(cfg)
	tripHard(t, b, t0)
	b.SetFollower(true)
	pass := breaker.Result{Kind: breaker.HealthCheck, Outcome: breaker.Success, Latency: time.Millisecond}
	late := at(10 * time.Minute)
	if tr, ok := b.RecordCheck(pass, late); ok {
		t.Fatalf("follower: passing check at t0+10m moved to %v, want it to stay OPEN", tr.To)
	}
	if tr, ok := b.Tick(late, breaker.Inflight{}); ok {
		t.Fatalf("follower: Tick at t0+10m moved to %v, want it to stay OPEN", tr.To)
	}
	st := b.Stats(late)
	if st.State != breaker.Open || !st.Follower || st.ProbesTotal != 0 {
		t.Errorf("follower Stats = %v follower %v probes %d, want OPEN, true, 0", st.State, st.Follower, st.ProbesTotal)
	}
	tr, ok := b.Recover("node-b: 8 of 8 probes succeeded", late)
	if !ok || tr.From != breaker.Open || tr.To != breaker.Closed || tr.Detail != "node-b: 8 of 8 probes succeeded" {
		t.Fatalf("Recover(OPEN) = %v %+v, want OPEN to CLOSED with the detail", ok, tr)
	}
	if w := b.Weight(late); w >= 1 {
		t.Errorf("Weight right after Recover = %v, want the ramp's first step", w)
	}
	if _, ok := b.Recover("again", late); ok {
		t.Errorf("Recover(CLOSED) made a transition, want none")
	}

	// No longer a follower: the next passing check probes.
	tripHard(t, b, late)
	b.SetFollower(false)
	later := late.Add(10 * time.Minute)
	if tr, ok := b.RecordCheck(pass, later); !ok || tr.To != breaker.HalfOpen || tr.Stats.ProbesTotal != 1 {
		t.Errorf("passing check after SetFollower(false) = %v to %v (probes %d), want HALF_OPEN with 1 probe", ok, tr.To, tr.Stats.ProbesTotal)
	}

	f := one(defaults())
	f.Force(breaker.Open, t0)
	if _, ok := f.Recover("x", t0); ok || f.State() != breaker.Open {
		t.Errorf("Recover(forced OPEN) left %v, want it OPEN", f.State())
	}
}
