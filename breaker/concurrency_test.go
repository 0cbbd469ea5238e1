package breaker_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
)

// TestConcurrentUse hammers a group of three breakers from many goroutines
// and checks invariants that must hold whatever the interleaving. Run it
// with -race.
func TestConcurrentUse(t *testing.T) {
	cfg := defaults()
	cfg.MinimumRequests = 10
	cfg.OpenDuration = 50 * ms
	cfg.MaxOpenDuration = 200 * ms
	cfg.Jitter = 0.5
	cfg.HalfOpenMaxConcurrent = 3
	cfg.HalfOpenProbes = 6
	cfg.HalfOpenProbeInterval = 20 * ms
	g := breaker.NewGroup(breaker.GroupConfig{})
	names := []string{"a", "b", "c"}
	for _, n := range names {
		g.Add(n, cfg)
	}

	// A shared clock that every call advances by 100µs.
	var clock atomic.Int64
	now := func() time.Time { return t0.Add(time.Duration(clock.Add(int64(100 * time.Microsecond)))) }

	type tally struct {
		records, successes, failures, rejected atomic.Uint64
		mu                                     sync.Mutex
		transitions                            []breaker.Transition
	}
	tallies := map[string]*tally{}
	for _, n := range names {
		tallies[n] = &tally{}
	}
	// moved is closed once every circuit has made three transitions.
	moved := make(chan struct{})
	var movedCount atomic.Int32
	publish := func(tr breaker.Transition, ok bool) {
		if !ok {
			return
		}
		tl := tallies[tr.Backend]
		tl.mu.Lock()
		tl.transitions = append(tl.transitions, tr)
		third := len(tl.transitions) == 3
		tl.mu.Unlock()
		if third && movedCount.Add(1) == int32(len(names)) {
			close(moved)
		}
	}
	check := func(st breaker.Stats, name string) {
		if st.ProbesInFlight > cfg.HalfOpenMaxConcurrent {
			t.Errorf("%s: ProbesInFlight = %d, want ≤ %d", name, st.ProbesInFlight, cfg.HalfOpenMaxConcurrent)
		}
		if st.State != breaker.HalfOpen && (st.ProbesInFlight != 0 || st.ProbeSuccesses != 0 || st.ProbeFailures != 0) {
			t.Errorf("%s: %v with probes %d/%d/%d, want none", name, st.State, st.ProbesInFlight, st.ProbeSuccesses, st.ProbeFailures)
		}
		if st.Failures > st.Requests || st.ErrorRate < 0 || st.ErrorRate > 1 {
			t.Errorf("%s: window %d failures of %d requests, rate %g", name, st.Failures, st.Requests, st.ErrorRate)
		}
		if st.Ramp < 0 || st.Ramp > 1 || (st.State == breaker.Open && st.Ramp != 0) {
			t.Errorf("%s: %v with Ramp %g", name, st.State, st.Ramp)
		}
		if st.State == breaker.Open && !st.Forced && st.ReopenAt.IsZero() {
			t.Errorf("%s: OPEN without ReopenAt", name)
		}
	}

	var wg sync.WaitGroup
	var forcedOpen atomic.Int32
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for range 3000 {
				name := names[rng.IntN(len(names))]
				b, tl := g.Get(name), tallies[name]
				tk, err := b.Allow(now())
				if errors.Is(err, breaker.ErrOpen) {
					tl.rejected.Add(1)
					continue
				}
				switch p := rng.IntN(100); {
				case p < 5:
					b.Release(tk)
				case p < 8:
					tl.records.Add(1)
					tl.failures.Add(1)
					publish(b.RecordConnLoss(tk, now()))
				default:
					r := breaker.Result{Outcome: breaker.Success, Latency: time.Duration(rng.IntN(700)) * ms}
					switch q := rng.IntN(100); {
					case q < 15:
						r.Outcome = breaker.Failure
					case q < 18:
						r.Outcome = breaker.Slow
					case q < 25:
						r.Outcome = breaker.Excluded
					case q < 28:
						r.Outcome = breaker.Overload
					case q < 33:
						r.Kind = breaker.Connect
						r.Outcome = breaker.Failure
					}
					tl.records.Add(1)
					switch r.Outcome {
					case breaker.Success:
						tl.successes.Add(1)
					case breaker.Failure:
						tl.failures.Add(1)
					}
					publish(b.Record(tk, r, now()))
				}
			}
		})
	}
	stop := make(chan struct{})
	var tickers sync.WaitGroup
	for i := range 3 {
		tickers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				name := names[rng.IntN(len(names))]
				b, tl := g.Get(name), tallies[name]
				n := now()
				switch rng.IntN(8) {
				case 0:
					r := breaker.Result{Kind: breaker.HealthCheck, Outcome: breaker.Success, Latency: fast}
					if rng.IntN(3) == 0 {
						r.Outcome = breaker.Failure
						tl.failures.Add(1)
					}
					publish(b.RecordCheck(r, n))
				case 1:
					b.SetSaturation(rng.Float64())
				case 2:
					if rng.IntN(50) == 0 && forcedOpen.CompareAndSwap(0, 1) {
						publish(b.Force(breaker.Open, n))
						publish(b.Unforce(now()))
						forcedOpen.Store(0)
					}
				default:
					publish(b.Tick(n, breaker.Inflight{Count: rng.IntN(3), OverP95: rng.IntN(2)}))
				}
				check(b.Stats(now()), name)
				if w := b.Weight(now()); w < 0 || w > 1 {
					t.Errorf("%s: Weight = %g", name, w)
				}
			}
		})
	}
	wg.Wait()
	// The tickers (checks, ticks, overrides) go on until every circuit has
	// moved a few times: how far the workers got depends on scheduling.
	select {
	case <-moved:
	case <-time.After(30 * time.Second):
	}
	close(stop)
	tickers.Wait()

	end := now()
	for _, name := range names {
		st, tl := g.Get(name).Stats(end), tallies[name]
		check(st, name)
		if st.RequestsTotal != tl.records.Load() || st.SuccessesTotal != tl.successes.Load() ||
			st.FailuresTotal != tl.failures.Load() || st.RejectedTotal != tl.rejected.Load() {
			t.Errorf("%s: totals requests/successes/failures/rejected = %d/%d/%d/%d, want %d/%d/%d/%d", name,
				st.RequestsTotal, st.SuccessesTotal, st.FailuresTotal, st.RejectedTotal,
				tl.records.Load(), tl.successes.Load(), tl.failures.Load(), tl.rejected.Load())
		}
		// Every transition was returned exactly once and they chain.
		trs := tl.transitions
		slices.SortFunc(trs, func(x, y breaker.Transition) int {
			return int(x.Stats.TransitionsTotal) - int(y.Stats.TransitionsTotal)
		})
		if uint64(len(trs)) != st.TransitionsTotal {
			t.Errorf("%s: %d transitions returned, TransitionsTotal %d", name, len(trs), st.TransitionsTotal)
		}
		prev := breaker.Closed
		for i, tr := range trs {
			if tr.Stats.TransitionsTotal != uint64(i+1) || tr.From != prev || tr.To == tr.From {
				t.Errorf("%s: transition %d = #%d %v→%v, want #%d from %v", name, i, tr.Stats.TransitionsTotal, tr.From, tr.To, i+1, prev)
				break
			}
			prev = tr.To
		}
		if prev != st.State {
			t.Errorf("%s: last transition went to %v, State = %v", name, prev, st.State)
		}
		if len(trs) < 3 {
			t.Errorf("%s: only %d transitions; the test should exercise the state machine", name, len(trs))
		}
	}
}
