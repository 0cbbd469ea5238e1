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

func TestChangesCountsWhatStatsReports(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	g := NewGroup(GroupConfig{})
	b := g.Add("a", Config{Window: 10 * time.Second, Bucket: time.Second, MinimumRequests: 100})
	steps := []struct {
		what string
		do   func()
	}{
		{"Allow", func() { _, _ = b.Allow(t0) }},
		{"Record", func() { b.Record(b.Current(), Result{Kind: Query, Outcome: Success, Latency: time.Millisecond}, t0) }},
		{"RecordCheck", func() { b.RecordCheck(Result{Kind: HealthCheck, Outcome: Success}, t0) }},
		{"RecordConnLoss", func() { b.RecordConnLoss(b.Current(), t0) }},
		{"SetSaturation", func() { b.SetSaturation(0.5) }},
		{"Force", func() { b.Force(Open, t0) }},
		{"Unforce", func() { b.Unforce(t0) }},
		{"SetConfig", func() { b.SetConfig(Config{Window: 5 * time.Second, Bucket: time.Second}) }},
	}
	for _, s := range steps {
		before := b.Changes()
		s.do()
		if b.Changes() == before {
			t.Errorf("%s left Changes at %d", s.what, before)
		}
	}
	// Time passing is not a change: a Tick that only advances the window
	// leaves the count; one that makes a transition moves it.
	before := b.Changes()
	b.Tick(t0.Add(time.Second), Inflight{})
	if got := b.Changes(); got != before {
		t.Errorf("an idle Tick moved Changes from %d to %d", before, got)
	}
	b.SetConfig(Config{Window: 5 * time.Second, Bucket: time.Second, MinimumRequests: 1, ConnectionFailureThreshold: 1, OpenDuration: time.Second})
	b.RecordConnLoss(b.Current(), t0.Add(time.Second))
	if b.State() != Open {
		t.Fatalf("state after a hard failure with threshold 1: %s, want OPEN", b.State())
	}
	before = b.Changes()
	if _, ok := b.Tick(t0.Add(3*time.Second), Inflight{}); !ok || b.Changes() == before {
		t.Errorf("the Tick that ends OPEN: transition %v, Changes %d → %d; want a transition and a new count", ok, before, b.Changes())
	}

	// Reading changes nothing.
	before = b.Changes()
	b.Stats(t0.Add(time.Minute))
	b.State()
	b.Weight(t0)
	if got := b.Changes(); got != before {
		t.Errorf("Stats, State and Weight moved Changes from %d to %d", before, got)
	}
}
