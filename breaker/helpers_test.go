package breaker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
)

var t0 = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// since formats a test time as "t0+30s".
func since(tm time.Time) string { return fmt.Sprintf("t0+%v", tm.Sub(t0)) }

// defaults is the seed configuration.
func defaults() breaker.Config {
	return breaker.Config{
		Window:                     10 * time.Second,
		Bucket:                     time.Second,
		MinimumRequests:            20,
		FailureRatePercent:         5,
		LatencyP95:                 500 * time.Millisecond,
		LatencyP99:                 2 * time.Second,
		SaturationThreshold:        0.95,
		ConnectionFailureThreshold: 3,
		OpenDuration:               30 * time.Second,
		MaxOpenDuration:            5 * time.Minute,
		HalfOpenMaxConcurrent:      10,
		HalfOpenProbes:             10,
		HalfOpenSuccessPercent:     80,
		HalfOpenProbeInterval:      5 * time.Second,
		GradualRecovery:            true,
		RampUpDuration:             120 * time.Second,
		RampStepPercent:            10,
	}
}

func fixedRand(v float64) func() float64 { return func() float64 { return v } }

// one returns a group holding a single breaker "a" with cfg.
func one(cfg breaker.Config) *breaker.Breaker {
	return breaker.NewGroup(breaker.GroupConfig{Rand: fixedRand(0)}).Add("a", cfg)
}

// op is one step of a scenario: n times (at least once) the action at t0+at.
type op struct {
	at   time.Duration
	what string // see do
	n    int
	lat  time.Duration
}

// do runs one action and returns its transition, if any. Actions that need a
// ticket get a fresh one from Allow; when Allow refuses, nothing is recorded.
func do(b *breaker.Breaker, what string, lat time.Duration, now time.Time) (breaker.Transition, bool) {
	rec := func(k breaker.Kind, o breaker.Outcome) (breaker.Transition, bool) {
		t, err := b.Allow(now)
		if err != nil {
			return breaker.Transition{}, false
		}
		return b.Record(t, breaker.Result{Kind: k, Outcome: o, Latency: lat}, now)
	}
	switch what {
	case "ok":
		return rec(breaker.Query, breaker.Success)
	case "fail":
		return rec(breaker.Query, breaker.Failure)
	case "slow":
		return rec(breaker.Query, breaker.Slow)
	case "excluded":
		return rec(breaker.Query, breaker.Excluded)
	case "overload":
		return rec(breaker.Query, breaker.Overload)
	case "configerr":
		return rec(breaker.Query, breaker.ConfigError)
	case "connok":
		return rec(breaker.Connect, breaker.Success)
	case "connfail":
		return rec(breaker.Connect, breaker.Failure)
	case "loss":
		t, err := b.Allow(now)
		if err != nil {
			return breaker.Transition{}, false
		}
		return b.RecordConnLoss(t, now)
	case "checkok":
		return b.RecordCheck(breaker.Result{Kind: breaker.HealthCheck, Outcome: breaker.Success, Latency: lat}, now)
	case "checkfail":
		return b.RecordCheck(breaker.Result{Kind: breaker.HealthCheck, Outcome: breaker.Failure, Latency: lat}, now)
	case "checkslow":
		return b.RecordCheck(breaker.Result{Kind: breaker.HealthCheck, Outcome: breaker.Slow, Latency: lat}, now)
	case "tick":
		return b.Tick(now, breaker.Inflight{})
	}
	panic("unknown op " + what)
}

// run plays ops and returns every transition in order.
func run(b *breaker.Breaker, ops []op) []breaker.Transition {
	var trs []breaker.Transition
	for _, o := range ops {
		for range max(o.n, 1) {
			if tr, ok := do(b, o.what, o.lat, at(o.at)); ok {
				trs = append(trs, tr)
			}
		}
	}
	return trs
}

// tripHard opens b with three failed health checks at now.
func tripHard(t *testing.T, b *breaker.Breaker, now time.Time) breaker.Transition {
	t.Helper()
	var tr breaker.Transition
	var ok bool
	for range 3 {
		tr, ok = b.RecordCheck(breaker.Result{Kind: breaker.HealthCheck, Outcome: breaker.Failure}, now)
	}
	if !ok || tr.To != breaker.Open {
		t.Fatalf("three failed checks at %s: transition %v to %v, want one to OPEN", since(now), ok, tr.To)
	}
	return tr
}

// halfOpen moves an OPEN b (without RequireCheck) to HALF_OPEN at its ReopenAt.
func halfOpen(t *testing.T, b *breaker.Breaker, now time.Time) time.Time {
	t.Helper()
	at := b.Stats(now).ReopenAt
	tr, ok := b.Tick(at, breaker.Inflight{})
	if !ok || tr.To != breaker.HalfOpen {
		t.Fatalf("Tick(ReopenAt %s) = %v to %v, want HALF_OPEN", since(at), ok, tr.To)
	}
	return at
}

// probe admits one probe at now and records outcome o for it.
func probe(t *testing.T, b *breaker.Breaker, o breaker.Outcome, now time.Time) (breaker.Transition, bool) {
	t.Helper()
	tk, err := b.Allow(now)
	if err != nil {
		t.Fatalf("Allow(%s) in %v: %v, want a probe permit", since(now), b.State(), err)
	}
	if !tk.Probe() {
		t.Fatalf("Allow(%s) in %v gave a ticket without a probe permit", since(now), b.State())
	}
	return b.Record(tk, breaker.Result{Outcome: o, Latency: time.Millisecond}, now)
}

// recoverNow takes an OPEN b through HALF_OPEN (at its ReopenAt) to CLOSED
// with successful probes, or a HALF_OPEN b at now, and returns the close time.
func recoverNow(t *testing.T, b *breaker.Breaker, now time.Time) time.Time {
	t.Helper()
	ht := now
	if b.State() == breaker.Open {
		ht = halfOpen(t, b, now)
	}
	for i := range 10 {
		tr, ok := probe(t, b, breaker.Success, ht)
		if ok {
			if tr.To != breaker.Closed || i != 7 {
				t.Fatalf("probe %d: transition to %v, want CLOSED at the 8th", i+1, tr.To)
			}
			return ht
		}
	}
	t.Fatalf("ten successful probes did not close the circuit")
	return ht
}
