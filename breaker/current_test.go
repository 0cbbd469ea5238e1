package breaker

import (
	"testing"
	"time"
)

func TestCurrentTicketFollowsGeneration(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	g := NewGroup(GroupConfig{})
	b := g.Add("a", Config{Window: 10 * time.Second, Bucket: time.Second, MinimumRequests: 1, ConnectionFailureThreshold: 1, OpenDuration: time.Second})
	old := b.Current()
	if old.Probe() {
		t.Error("Current() holds a probe permit, want none")
	}
	if _, ok := b.RecordConnLoss(old, t0); !ok || b.State() != Open {
		t.Fatalf("State after a hard failure with threshold 1 = %s, want OPEN", b.State())
	}
	// A result of the old generation is ignored: it cannot move the circuit.
	if _, ok := b.Record(old, Result{Outcome: Success}, t0); ok {
		t.Error("Record with a pre-transition ticket caused a transition")
	}
	if cur := b.Current(); cur == old {
		t.Error("Current() after a transition returned the old generation")
	}
}
