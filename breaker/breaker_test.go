package breaker_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
)

const (
	ms   = time.Millisecond
	sec  = time.Second
	fast = 10 * ms
)

func TestClassify(t *testing.T) {
	tests := []struct {
		sqlstate     string
		clientCancel bool
		want         breaker.Outcome
	}{
		// failure: the backend is unhealthy
		{"08000", false, breaker.Failure},
		{"08003", false, breaker.Failure},
		{"08006", false, breaker.Failure},
		{"57P01", false, breaker.Failure},
		{"57P02", false, breaker.Failure},
		{"58000", false, breaker.Failure},
		{"58030", false, breaker.Failure},
		{"XX000", false, breaker.Failure},
		{"XX001", false, breaker.Failure},
		{"xx002", false, breaker.Failure},
		{"53100", false, breaker.Failure},
		{"53200", false, breaker.Failure},
		{"25006", false, breaker.Failure}, // became a standby
		// overload
		{"53300", false, breaker.Overload},
		{"53400", false, breaker.Overload},
		{"57P03", false, breaker.Overload},
		{"57p03", false, breaker.Overload},
		// excluded: the application's own errors
		{"22012", false, breaker.Excluded},
		{"22P02", false, breaker.Excluded},
		{"23505", false, breaker.Excluded},
		{"23503", false, breaker.Excluded},
		{"42601", false, breaker.Excluded},
		{"42P01", false, breaker.Excluded},
		{"0A000", false, breaker.Excluded},
		{"40001", false, breaker.Excluded},
		{"40P01", false, breaker.Excluded},
		{"55P03", false, breaker.Excluded},
		{"08P01", false, breaker.Excluded}, // the client's malformed message
		{"08p01", false, breaker.Excluded},
		{"25001", false, breaker.Excluded},
		{"25P02", false, breaker.Excluded},
		{"57014", true, breaker.Excluded},
		// statement_timeout
		{"57014", false, breaker.Slow},
		// configuration
		{"28000", false, breaker.ConfigError},
		{"28P01", false, breaker.ConfigError},
		{"3D000", false, breaker.ConfigError},
		// everything else is the application's
		{"P0001", false, breaker.Excluded},
		{"53000", false, breaker.Excluded},
		{"40000", false, breaker.Excluded},
		{"", false, breaker.Excluded},
		{"0800", false, breaker.Excluded},
		{"080000", false, breaker.Excluded},
	}
	for _, tt := range tests {
		if got := breaker.Classify(tt.sqlstate, tt.clientCancel); got != tt.want {
			t.Errorf("Classify(%q, %v) = %v, want %v", tt.sqlstate, tt.clientCancel, got, tt.want)
		}
	}
}

func TestTransitions(t *testing.T) {
	tests := []struct {
		name       string
		cfg        func(*breaker.Config)
		sat        float64
		ops        []op
		want       breaker.State
		wantReason breaker.Reason // of the last transition; ReasonNone when no transition is wanted
	}{
		{"error rate above threshold opens",
			nil, 0, []op{{0, "ok", 19, fast}, {0, "fail", 2, 0}}, breaker.Open, breaker.ReasonErrorRate},
		{"error rate at threshold stays closed",
			nil, 0, []op{{0, "ok", 19, fast}, {0, "fail", 1, 0}}, breaker.Closed, breaker.ReasonNone},
		{"below minimum_requests stays closed",
			nil, 0, []op{{0, "fail", 19, 0}}, breaker.Closed, breaker.ReasonNone},
		{"at minimum_requests opens",
			nil, 0, []op{{0, "ok", 15, fast}, {0, "fail", 5, 0}}, breaker.Open, breaker.ReasonErrorRate},
		{"minimum_requests 0 means the first request counts",
			func(c *breaker.Config) { c.MinimumRequests = 0 }, 0, []op{{0, "fail", 1, 0}}, breaker.Open, breaker.ReasonErrorRate},
		{"excluded results are not requests",
			nil, 0, []op{{0, "excluded", 30, fast}, {0, "fail", 10, 0}}, breaker.Closed, breaker.ReasonNone},
		{"config errors are not requests",
			nil, 0, []op{{0, "configerr", 30, fast}, {0, "fail", 10, 0}}, breaker.Closed, breaker.ReasonNone},
		{"overloads are not failures",
			nil, 0, []op{{0, "ok", 20, fast}, {0, "overload", 20, 0}}, breaker.Closed, breaker.ReasonNone},
		{"failures leave the window",
			nil, 0, []op{{0, "fail", 15, 0}, {11 * sec, "ok", 20, fast}}, breaker.Closed, breaker.ReasonNone},
		{"failures within the window count",
			nil, 0, []op{{0, "fail", 15, 0}, {9 * sec, "ok", 20, fast}}, breaker.Open, breaker.ReasonErrorRate},
		{"p95: 6% slower than 500ms opens",
			nil, 0, []op{{0, "ok", 47, fast}, {0, "ok", 3, 600 * ms}}, breaker.Open, breaker.ReasonLatencyP95},
		{"p95: 5% slower than 500ms stays closed",
			nil, 0, []op{{0, "ok", 57, fast}, {0, "ok", 3, 600 * ms}}, breaker.Closed, breaker.ReasonNone},
		{"p95: exactly 500ms is not slow",
			nil, 0, []op{{0, "ok", 20, 500 * ms}}, breaker.Closed, breaker.ReasonNone},
		{"p99: 2% slower than 2s opens",
			nil, 0, []op{{0, "ok", 98, fast}, {0, "ok", 2, 3 * sec}}, breaker.Open, breaker.ReasonLatencyP99},
		{"p99: 1% slower than 2s stays closed",
			nil, 0, []op{{0, "ok", 99, fast}, {0, "ok", 1, 3 * sec}}, breaker.Closed, breaker.ReasonNone},
		{"statement_timeout counts as slower than both",
			nil, 0, []op{{0, "ok", 99, fast}, {0, "slow", 2, 100 * ms}}, breaker.Open, breaker.ReasonLatencyP99},
		{"latency rules disabled",
			func(c *breaker.Config) { c.LatencyP95, c.LatencyP99 = 0, 0 }, 0, []op{{0, "ok", 40, 10 * sec}}, breaker.Closed, breaker.ReasonNone},
		{"saturation above threshold opens",
			nil, 0.97, []op{{0, "ok", 20, fast}}, breaker.Open, breaker.ReasonSaturation},
		{"saturation needs minimum_requests",
			nil, 0.97, []op{{0, "ok", 19, fast}}, breaker.Closed, breaker.ReasonNone},
		{"saturation at threshold stays closed",
			nil, 0.95, []op{{0, "ok", 20, fast}}, breaker.Closed, breaker.ReasonNone},
		{"three failed connects open without volume",
			nil, 0, []op{{0, "connfail", 3, 0}}, breaker.Open, breaker.ReasonHardFailure},
		{"two failed connects stay closed",
			nil, 0, []op{{0, "connfail", 2, 0}}, breaker.Closed, breaker.ReasonNone},
		{"a success resets the consecutive count",
			nil, 0, []op{{0, "connfail", 2, 0}, {0, "ok", 1, fast}, {0, "connfail", 2, 0}}, breaker.Closed, breaker.ReasonNone},
		{"a successful check resets the consecutive count",
			nil, 0, []op{{0, "checkfail", 2, 0}, {0, "checkok", 1, fast}, {0, "connfail", 2, 0}}, breaker.Closed, breaker.ReasonNone},
		{"query failures neither add nor reset",
			nil, 0, []op{{0, "connfail", 2, 0}, {0, "fail", 5, 0}, {0, "connfail", 1, 0}}, breaker.Open, breaker.ReasonHardFailure},
		{"three failed health checks open",
			nil, 0, []op{{0, "checkfail", 3, 0}}, breaker.Open, breaker.ReasonHardFailure},
		{"slow health checks are not hard failures",
			nil, 0, []op{{0, "checkslow", 5, 0}}, breaker.Closed, breaker.ReasonNone},
		{"three connection losses open",
			nil, 0, []op{{0, "loss", 3, 0}}, breaker.Open, breaker.ReasonHardFailure},
		{"mixed hard failures add up",
			nil, 0, []op{{0, "loss", 1, 0}, {0, "checkfail", 1, 0}, {0, "connfail", 1, 0}}, breaker.Open, breaker.ReasonHardFailure},
		{"hard failure rule disabled",
			func(c *breaker.Config) { c.ConnectionFailureThreshold = 0 }, 0, []op{{0, "checkfail", 10, 0}}, breaker.Closed, breaker.ReasonNone},
		{"open stays open before open_duration",
			nil, 0, []op{{0, "checkfail", 3, 0}, {30*sec - ms, "tick", 1, 0}}, breaker.Open, breaker.ReasonHardFailure},
		{"open moves to half-open at open_duration",
			nil, 0, []op{{0, "checkfail", 3, 0}, {30 * sec, "tick", 1, 0}}, breaker.HalfOpen, breaker.ReasonNone},
		{"require_check: tick alone does not half-open",
			func(c *breaker.Config) { c.RequireCheck = true }, 0,
			[]op{{0, "checkfail", 3, 0}, {40 * sec, "tick", 1, 0}}, breaker.Open, breaker.ReasonHardFailure},
		{"require_check: a passing check half-opens",
			func(c *breaker.Config) { c.RequireCheck = true }, 0,
			[]op{{0, "checkfail", 3, 0}, {30 * sec, "checkok", 1, fast}}, breaker.HalfOpen, breaker.ReasonNone},
		{"require_check: an early check does not half-open",
			func(c *breaker.Config) { c.RequireCheck = true }, 0,
			[]op{{0, "checkfail", 3, 0}, {29 * sec, "checkok", 1, fast}}, breaker.Open, breaker.ReasonHardFailure},
		{"require_check: a slow check does not half-open",
			func(c *breaker.Config) { c.RequireCheck = true }, 0,
			[]op{{0, "checkfail", 3, 0}, {30 * sec, "checkok", 1, 700 * ms}}, breaker.Open, breaker.ReasonHardFailure},
		{"half-open closes at 8 of 10",
			nil, 0, []op{{0, "checkfail", 3, 0}, {30 * sec, "tick", 1, 0}, {30 * sec, "ok", 8, fast}}, breaker.Closed, breaker.ReasonNone},
		{"half-open reopens at the third failure",
			nil, 0, []op{{0, "checkfail", 3, 0}, {30 * sec, "tick", 1, 0}, {30 * sec, "ok", 7, fast}, {30 * sec, "fail", 3, 0}},
			breaker.Open, breaker.ReasonRecoveryFailed},
		{"half-open: slow probes fail",
			nil, 0, []op{{0, "checkfail", 3, 0}, {30 * sec, "tick", 1, 0}, {30 * sec, "ok", 3, 600 * ms}},
			breaker.Open, breaker.ReasonRecoveryFailed},
		{"half-open: health checks are probes",
			nil, 0, []op{{0, "checkfail", 3, 0}, {30 * sec, "tick", 1, 0}, {31 * sec, "checkok", 8, fast}}, breaker.Closed, breaker.ReasonNone},
		{"half-open: excluded results are not probes",
			nil, 0, []op{{0, "checkfail", 3, 0}, {30 * sec, "tick", 1, 0}, {30 * sec, "excluded", 10, fast}}, breaker.HalfOpen, breaker.ReasonNone},
		{"closed after recovery starts a fresh window",
			func(c *breaker.Config) { c.OpenDuration, c.MinimumRequests = 2*sec, 5 }, 0,
			[]op{{0, "ok", 15, fast}, {0, "fail", 5, 0}, {2 * sec, "tick", 1, 0}, {2 * sec, "ok", 8, fast}, {2 * sec, "fail", 1, 0}},
			breaker.Closed, breaker.ReasonNone},
		{"require_check: the passing check is the first probe",
			func(c *breaker.Config) { c.RequireCheck = true }, 0,
			[]op{{0, "checkfail", 3, 0}, {30 * sec, "checkok", 1, fast}, {30 * sec, "ok", 7, fast}}, breaker.Closed, breaker.ReasonNone},
		{"require_check: a one-probe round closes at the next tick",
			func(c *breaker.Config) { c.RequireCheck, c.HalfOpenProbes = true, 1 }, 0,
			[]op{{0, "checkfail", 3, 0}, {30 * sec, "checkok", 1, fast}, {30 * sec, "tick", 1, 0}}, breaker.Closed, breaker.ReasonNone},
		{"without require_check a passing check at ReopenAt half-opens too",
			nil, 0, []op{{0, "checkfail", 3, 0}, {30 * sec, "checkok", 1, fast}}, breaker.HalfOpen, breaker.ReasonNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaults()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			b := one(cfg)
			b.SetSaturation(tt.sat)
			trs := run(b, tt.ops)
			end := at(tt.ops[len(tt.ops)-1].at)
			if got := b.State(); got != tt.want {
				t.Errorf("State(%s) = %v, want %v (transitions %v)", since(end), got, tt.want, summary(trs))
			}
			if got := b.Stats(end).State; got != tt.want {
				t.Errorf("Stats(%s).State = %v, want %v", since(end), got, tt.want)
			}
			var gotReason breaker.Reason
			if len(trs) > 0 {
				gotReason = trs[len(trs)-1].Reason
			}
			if gotReason != tt.wantReason {
				t.Errorf("last transition reason = %q, want %q (transitions %v)", gotReason, tt.wantReason, summary(trs))
			}
			for i, tr := range trs {
				if tr.Backend != "a" || tr.From == tr.To {
					t.Errorf("transition %d = %+v, want backend a and a change of state", i, tr)
				}
				if i > 0 && tr.From != trs[i-1].To {
					t.Errorf("transition %d from %v, want %v (where %d went)", i, tr.From, trs[i-1].To, i-1)
				}
				if tr.Stats.TransitionsTotal != uint64(i+1) {
					t.Errorf("transition %d: Stats.TransitionsTotal = %d, want %d", i, tr.Stats.TransitionsTotal, i+1)
				}
				if tr.To == breaker.Open && tr.Detail == "" {
					t.Errorf("transition %d to OPEN has no Detail", i)
				}
			}
		})
	}
}

func summary(trs []breaker.Transition) string {
	var parts []string
	for _, tr := range trs {
		parts = append(parts, tr.From.String()+"→"+tr.To.String()+"("+tr.Reason.String()+")")
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestTripTransitionCarriesWindow(t *testing.T) {
	b := one(defaults())
	trs := run(b, []op{{0, "ok", 15, fast}, {0, "fail", 5, 0}})
	if len(trs) != 1 {
		t.Fatalf("transitions = %v, want one to OPEN", summary(trs))
	}
	tr := trs[0]
	if tr.Stats.Requests != 20 || tr.Stats.Failures != 5 || tr.Stats.ErrorRate != 0.25 {
		t.Errorf("transition Stats requests/failures/rate = %d/%d/%g, want 20/5/0.25", tr.Stats.Requests, tr.Stats.Failures, tr.Stats.ErrorRate)
	}
	if tr.Stats.State != breaker.Open || tr.Stats.Reason != breaker.ReasonErrorRate || !tr.Stats.ReopenAt.Equal(at(30*sec)) {
		t.Errorf("transition Stats state/reason/reopen = %v/%v/%s, want OPEN/error_rate/t0+30s", tr.Stats.State, tr.Stats.Reason, since(tr.Stats.ReopenAt))
	}
	if want := "error rate 25.0% > 5% over 20 requests"; tr.Detail != want {
		t.Errorf("Detail = %q, want %q", tr.Detail, want)
	}
	// The window stays visible while OPEN.
	if st := b.Stats(at(time.Second)); st.Requests != 20 || st.Detail != tr.Detail {
		t.Errorf("Stats(t0+1s) requests/detail = %d/%q, want 20/%q", st.Requests, st.Detail, tr.Detail)
	}

	// Closing after recovery: InFrom is the time in HALF_OPEN, Since moves.
	ht := halfOpen(t, b, at(0))
	var closed breaker.Transition
	for i := range 8 {
		now := ht.Add(time.Duration(i) * sec)
		if tr, ok := probe(t, b, breaker.Success, now); ok {
			closed = tr
		}
	}
	if closed.To != breaker.Closed || closed.InFrom != 7*sec {
		t.Errorf("close: to %v after %v in HALF_OPEN, want CLOSED after 7s", closed.To, closed.InFrom)
	}
	if st := b.Stats(ht.Add(8 * sec)); !st.Since.Equal(ht.Add(7*sec)) || st.Requests != 0 {
		t.Errorf("Stats after close: Since %s, Requests %d, want %s and a fresh window", since(st.Since), st.Requests, since(ht.Add(7*sec)))
	}
}

func TestPercentiles(t *testing.T) {
	b := one(defaults())
	// 100 latencies: 1ms … 100ms.
	for i := 1; i <= 100; i++ {
		tk, _ := b.Allow(t0)
		b.Record(tk, breaker.Result{Outcome: breaker.Success, Latency: time.Duration(i) * ms}, t0)
	}
	st := b.Stats(t0)
	for _, tt := range []struct {
		name string
		got  time.Duration
		want time.Duration
	}{{"P50", st.P50, 50 * ms}, {"P95", st.P95, 95 * ms}, {"P99", st.P99, 99 * ms}} {
		// The histogram's bins are 2^(1/4) ≈ 19% wide.
		if lo, hi := tt.want*84/100, tt.want*119/100; tt.got < lo || tt.got > hi {
			t.Errorf("Stats(t0).%s = %v, want %v ± 19%%", tt.name, tt.got, tt.want)
		}
	}
	if st := b.Stats(at(10 * sec)); st.P50 != 0 || st.P99 != 0 || st.Requests != 0 {
		t.Errorf("Stats(t0+10s) P50/P99/Requests = %v/%v/%d, want 0/0/0 once the window has passed", st.P50, st.P99, st.Requests)
	}
}

func TestWindowIsContinuous(t *testing.T) {
	b := one(defaults())
	tests := []struct {
		at   time.Duration
		n    int // failures recorded at this time
		want int // failures in the window then
	}{
		{0, 1, 1},
		{500 * ms, 1, 2},          // partial current bucket counts
		{9*sec + 900*ms, 1, 3},    // still within t0's bucket + 9
		{10 * sec, 0, 1},          // t0's bucket has dropped out
		{19*sec + 999*ms, 0, 0},   // everything has
		{60 * sec, 1, 1},          // a long gap clears the ring
		{59 * sec, 1, 2},          // a slightly older clock reading is clamped to the newest bucket
		{69*sec + 999*ms, 0, 2},   //
		{70 * sec, 0, 0},          //
		{7 * time.Minute, 2, 2},   //
		{7*time.Minute + 1, 0, 2}, //
	}
	for _, tt := range tests {
		now := at(tt.at)
		for range tt.n {
			tk, _ := b.Allow(now)
			b.Record(tk, breaker.Result{Outcome: breaker.Failure}, now)
		}
		if got := b.Stats(now).Failures; got != tt.want {
			t.Errorf("Stats(%s).Failures = %d, want %d", since(now), got, tt.want)
		}
	}
}

func TestHalfOpenAdmission(t *testing.T) {
	cfg := defaults()
	cfg.HalfOpenMaxConcurrent = 3
	b := one(cfg)
	tripHard(t, b, t0)
	if _, err := b.Allow(at(sec)); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("Allow(t0+1s) in OPEN = %v, want ErrOpen", err)
	}
	ht := halfOpen(t, b, t0)

	var tks []breaker.Ticket
	for i := range 3 {
		tk, err := b.Allow(ht)
		if err != nil || !tk.Probe() {
			t.Fatalf("Allow #%d in HALF_OPEN = %v, probe %v; want a probe permit", i+1, err, tk.Probe())
		}
		tks = append(tks, tk)
	}
	if _, err := b.Allow(ht); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("Allow #4 with 3 of 3 permits out = %v, want ErrOpen", err)
	}
	if got := b.Stats(ht).ProbesInFlight; got != 3 {
		t.Errorf("Stats.ProbesInFlight = %d, want 3", got)
	}

	// Release returns a permit; releasing twice does not free another.
	b.Release(tks[0])
	b.Release(tks[0])
	tk, err := b.Allow(ht)
	if err != nil {
		t.Fatalf("Allow after Release = %v, want a permit", err)
	}
	tks[0] = tk
	if _, err := b.Allow(ht); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("Allow after a double Release = %v, want ErrOpen", err)
	}

	// A result frees the permit; a second result of the same ticket does not free another.
	b.Record(tks[1], breaker.Result{Outcome: breaker.Success, Latency: fast}, ht)
	b.Record(tks[1], breaker.Result{Outcome: breaker.Excluded}, ht)
	if got := b.Stats(ht).ProbesInFlight; got != 2 {
		t.Errorf("ProbesInFlight after a result = %d, want 2", got)
	}
	if _, err := b.Allow(ht); err != nil {
		t.Errorf("Allow after a result = %v, want a permit", err)
	}

	// Unreported permits are reclaimed after half_open_probe_interval.
	later := ht.Add(5*sec - ms)
	b.Tick(later, breaker.Inflight{})
	if got := b.Stats(later).ProbesInFlight; got != 3 {
		t.Errorf("ProbesInFlight(HALF_OPEN+5s-1ms) = %d, want 3", got)
	}
	later = ht.Add(5 * sec)
	b.Tick(later, breaker.Inflight{})
	if got := b.Stats(later).ProbesInFlight; got != 0 {
		t.Errorf("ProbesInFlight(HALF_OPEN+5s) = %d, want 0 after reclaim", got)
	}
	// A reclaimed probe's late result still counts as an outcome.
	b.Record(tks[2], breaker.Result{Outcome: breaker.Success, Latency: fast}, later)
	if st := b.Stats(later); st.ProbeSuccesses != 2 {
		t.Errorf("ProbeSuccesses = %d, want 2", st.ProbeSuccesses)
	}
	if got := b.Stats(later).RejectedTotal; got != 3 {
		t.Errorf("RejectedTotal = %d, want 3", got)
	}
}

func TestHalfOpenRoundNeedsProbes(t *testing.T) {
	cfg := defaults()
	cfg.HalfOpenProbes = 4
	cfg.HalfOpenSuccessPercent = 100
	b := one(cfg)
	tripHard(t, b, t0)
	ht := halfOpen(t, b, t0)
	tk, _ := b.Allow(ht)
	b.Record(tk, breaker.Result{Outcome: breaker.Success, Latency: fast}, ht)
	for i := range 3 {
		if _, err := b.Allow(ht); err != nil {
			t.Fatalf("Allow #%d with 1 of 4 outcomes in = %v, want a permit", i+2, err)
		}
	}
	if _, err := b.Allow(ht); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("Allow with 1 outcome + 3 permits of a 4-probe round = %v, want ErrOpen", err)
	}
}

func TestHalfOpenRound(t *testing.T) {
	S, F, X, W, O := breaker.Success, breaker.Failure, breaker.Excluded, breaker.Slow, breaker.Overload
	tests := []struct {
		name     string
		probes   int
		percent  float64
		outcomes []breaker.Outcome
		want     breaker.State
		after    int // outcomes consumed when the round was decided; 0 when undecided
	}{
		{"eight successes close", 10, 80, []breaker.Outcome{S, S, S, S, S, S, S, S, S, S}, breaker.Closed, 8},
		{"two failures tolerated", 10, 80, []breaker.Outcome{F, S, F, S, S, S, S, S, S, S}, breaker.Closed, 10},
		{"third failure reopens at once", 10, 80, []breaker.Outcome{F, F, F, S, S}, breaker.Open, 3},
		{"slow and overload are failures", 10, 80, []breaker.Outcome{W, O, S, F}, breaker.Open, 4},
		{"excluded does not count", 10, 80, []breaker.Outcome{X, X, X, X, X, S, S, S, S, S, S, S, S}, breaker.Closed, 13},
		{"undecided round stays half-open", 10, 80, []breaker.Outcome{S, S, F, F}, breaker.HalfOpen, 0},
		{"50% of 4", 4, 50, []breaker.Outcome{F, S, F, S}, breaker.Closed, 4},
		{"50% of 4, third failure", 4, 50, []breaker.Outcome{F, F, F}, breaker.Open, 3},
		{"100% of 3, one failure", 3, 100, []breaker.Outcome{S, F}, breaker.Open, 2},
		{"zero percent still needs one success", 3, 0, []breaker.Outcome{F, F, S}, breaker.Closed, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaults()
			cfg.HalfOpenProbes = tt.probes
			cfg.HalfOpenSuccessPercent = tt.percent
			b := one(cfg)
			tripHard(t, b, t0)
			ht := halfOpen(t, b, t0)
			decided := 0
			for i, o := range tt.outcomes {
				if b.State() != breaker.HalfOpen {
					break
				}
				if _, ok := probe(t, b, o, ht); ok {
					decided = i + 1
				}
			}
			if got := b.State(); got != tt.want || decided != tt.after {
				t.Errorf("State after %v = %v decided at outcome %d, want %v at %d", tt.outcomes, got, decided, tt.want, tt.after)
			}
		})
	}
}

func TestOpenDuration(t *testing.T) {
	cfg := defaults()
	cfg.OpenDuration = 30 * sec
	cfg.MaxOpenDuration = 100 * sec
	cfg.Jitter = 0.2
	b := breaker.NewGroup(breaker.GroupConfig{Rand: fixedRand(0.5)}).Add("a", cfg) // factor 1.1
	tests := []struct {
		attempt int           // Transition.Attempt of the opening
		wait    time.Duration // ReopenAt - opening
	}{
		{0, 33 * sec},  // 30s × 1.1
		{1, 66 * sec},  // 60s × 1.1
		{2, 99 * sec},  // 90s × 1.1
		{3, 110 * sec}, // min(120s, 100s) × 1.1
		{4, 110 * sec},
	}
	now := t0
	tr := tripHard(t, b, now)
	for i, tt := range tests {
		if i > 0 {
			now = halfOpen(t, b, now)
			var ok bool
			for range 3 {
				tr, ok = probe(t, b, breaker.Failure, now)
			}
			if !ok || tr.To != breaker.Open || tr.Reason != breaker.ReasonRecoveryFailed {
				t.Fatalf("round %d: third failed probe gave %v to %v (%v), want recovery_failed to OPEN", i, ok, tr.To, tr.Reason)
			}
		}
		if tr.Attempt != tt.attempt {
			t.Errorf("opening %d: Transition.Attempt = %d, want %d", i, tr.Attempt, tt.attempt)
		}
		if got := tr.Stats.ReopenAt.Sub(now); got != tt.wait {
			t.Errorf("opening %d at %s: ReopenAt - opening = %v, want %v", i, since(now), got, tt.wait)
		}
		if st := b.Stats(now); st.RecoveryAttempts != tt.attempt {
			t.Errorf("opening %d: Stats.RecoveryAttempts = %d, want %d", i, st.RecoveryAttempts, tt.attempt)
		}
	}
}

func TestJitterBounds(t *testing.T) {
	tests := []struct {
		rand float64
		want time.Duration
	}{
		{0, 30 * sec},
		{0.25, 37*sec + 500*ms},
		{0.999, 30*sec + 29970*ms},
	}
	for _, tt := range tests {
		cfg := defaults()
		cfg.Jitter = 1
		b := breaker.NewGroup(breaker.GroupConfig{Rand: fixedRand(tt.rand)}).Add("a", cfg)
		tr := tripHard(t, b, t0)
		if got := tr.Stats.ReopenAt.Sub(t0); got != tt.want {
			t.Errorf("rand %g: ReopenAt = t0+%v, want t0+%v", tt.rand, got, tt.want)
		}
	}
}

func TestRecoveryDecay(t *testing.T) {
	tests := []struct {
		closedFor time.Duration // time CLOSED before the next trip
		wantK     int           // recoveries counted at the next trip
		wantWait  time.Duration
	}{
		{0, 2, 90 * sec},
		{30*sec - ms, 2, 90 * sec},
		{30 * sec, 1, 60 * sec},
		{59 * sec, 1, 60 * sec},
		{60 * sec, 0, 30 * sec},
		{time.Hour, 0, 30 * sec},
	}
	for _, tt := range tests {
		b := one(defaults())
		now := t0
		tripHard(t, b, now)
		for range 2 { // two failed recoveries: k = 2
			now = halfOpen(t, b, now)
			for range 3 {
				probe(t, b, breaker.Failure, now)
			}
		}
		closedAt := recoverNow(t, b, now)
		if got := b.Stats(closedAt).RecoveryAttempts; got != 2 {
			t.Errorf("RecoveryAttempts at close = %d, want 2", got)
		}
		next := closedAt.Add(tt.closedFor)
		if got := b.Stats(next).RecoveryAttempts; got != tt.wantK {
			t.Errorf("RecoveryAttempts(close+%v) = %d, want %d", tt.closedFor, got, tt.wantK)
		}
		tr := tripHard(t, b, next)
		if tr.Attempt != tt.wantK || tr.Stats.ReopenAt.Sub(next) != tt.wantWait {
			t.Errorf("trip at close+%v: Attempt %d, wait %v; want %d, %v", tt.closedFor, tr.Attempt, tr.Stats.ReopenAt.Sub(next), tt.wantK, tt.wantWait)
		}
	}
}

func TestRamp(t *testing.T) {
	tests := []struct {
		after time.Duration // since the close
		want  float64
	}{
		{-sec, 0.1}, // clock reading from just before the close
		{0, 0.1},
		{12*sec - ms, 0.1},
		{12 * sec, 0.2},
		{24 * sec, 0.3},
		{60 * sec, 0.6},
		{107 * sec, 0.9},
		{108 * sec, 1},
		{120 * sec, 1},
		{time.Hour, 1},
	}
	b := one(defaults())
	if got := b.Weight(t0); got != 1 {
		t.Errorf("Weight(t0) of a new breaker = %g, want 1", got)
	}
	tripHard(t, b, t0)
	if got := b.Weight(t0); got != 0 {
		t.Errorf("Weight(t0) when OPEN = %g, want 0", got)
	}
	ht := halfOpen(t, b, t0)
	if got := b.Weight(ht); got != 1 {
		t.Errorf("Weight when HALF_OPEN = %g, want 1", got)
	}
	closed := recoverNow(t, b, ht)
	for _, tt := range tests {
		now := closed.Add(tt.after)
		if got := b.Weight(now); got != tt.want {
			t.Errorf("Weight(close%+v) = %g, want %g", tt.after, got, tt.want)
		}
		if got := b.Stats(now).Ramp; got != tt.want {
			t.Errorf("Stats(close%+v).Ramp = %g, want %g", tt.after, got, tt.want)
		}
	}

	cfg := defaults()
	cfg.GradualRecovery = false
	b = one(cfg)
	tripHard(t, b, t0)
	closed = recoverNow(t, b, t0)
	if got := b.Weight(closed); got != 1 {
		t.Errorf("Weight at close without gradual recovery = %g, want 1", got)
	}
}

func TestInflightCounting(t *testing.T) {
	tests := []struct {
		name string
		in   breaker.Inflight
		want breaker.State
	}{
		{"none", breaker.Inflight{}, breaker.Closed},
		{"one over p95 of 21 samples", breaker.Inflight{Count: 1, OverP95: 1}, breaker.Closed},
		{"two over p95 of 22 samples", breaker.Inflight{Count: 2, OverP95: 2}, breaker.Open},
		{"one over p99 of 21 samples", breaker.Inflight{Count: 1, OverP95: 1, OverP99: 1}, breaker.Open},
		{"many running but young", breaker.Inflight{Count: 50}, breaker.Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := one(defaults())
			run(b, []op{{0, "ok", 20, fast}})
			now := at(100 * ms) // a completion 100ms ago: no stall
			tr, ok := b.Tick(now, tt.in)
			if got := b.State(); got != tt.want {
				t.Errorf("State after Tick(t0+100ms, %+v) = %v, want %v", tt.in, got, tt.want)
			}
			if ok && !strings.Contains(tr.Detail, "still running") {
				t.Errorf("Detail = %q, want it to mention the requests still running", tr.Detail)
			}
		})
	}
	// Records alone never see in-flight requests.
	b := one(defaults())
	run(b, []op{{0, "ok", 20, fast}})
	b.Tick(at(100*ms), breaker.Inflight{Count: 1, OverP95: 1})
	if got := b.State(); got != breaker.Closed {
		t.Errorf("State = %v, want CLOSED", got)
	}
}

func TestStall(t *testing.T) {
	tests := []struct {
		name    string
		volume  int           // requests completed at t0
		tick    time.Duration // Tick at t0+tick
		in      breaker.Inflight
		want    breaker.State
		wantMsg string
	}{
		{"two hung requests after p95 of silence", 40, 500 * ms, breaker.Inflight{Count: 2, OverP95: 2}, breaker.Open, "stall: 2 in flight longer than 500ms, nothing completed for 500ms (window held 40 requests)"},
		{"one hung request and a hung check", 40, 600 * ms, breaker.Inflight{Count: 1, OverP95: 1, CheckOver: true}, breaker.Open, "stall: 1 in flight longer than 500ms, nothing completed for 600ms"},
		{"one hung request alone", 40, 600 * ms, breaker.Inflight{Count: 1, OverP95: 1}, breaker.Closed, ""},
		{"a recent completion", 40, 499 * ms, breaker.Inflight{Count: 2, OverP95: 2}, breaker.Closed, ""},
		{"a backend that was not busy", 39, 5 * sec, breaker.Inflight{Count: 2, OverP95: 2}, breaker.Closed, ""},
		{"a hung check alone", 40, 5 * sec, breaker.Inflight{CheckOver: true}, breaker.Closed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// With 40 requests, 2 in flight are 4.8% of the samples: under the
			// p95 rate rule, so only the stall rule can fire.
			cfg := defaults()
			cfg.LatencyP99 = 0
			cfg.MinimumRequests = 40
			b := one(cfg)
			run(b, []op{{0, "ok", tt.volume, fast}})
			tr, ok := b.Tick(at(tt.tick), tt.in)
			if got := b.State(); got != tt.want {
				t.Errorf("State(t0+%v) = %v, want %v (%s)", tt.tick, got, tt.want, tr.Detail)
			}
			if ok && (tr.Reason != breaker.ReasonLatencyP95 || !strings.HasPrefix(tr.Detail, tt.wantMsg)) {
				t.Errorf("transition reason %v detail %q, want latency_p95 starting %q", tr.Reason, tr.Detail, tt.wantMsg)
			}
		})
	}
}

// TestStallSilenceCountsOnlyQueries: a health check or a new session's
// connection that completes says the server is up, not that the relayed
// queries move: only a query's answer breaks the silence. When a workload
// slowed down while SELECT 1 stayed fast, checks and connects kept
// resetting the silence and detection took 800 ms instead of 500 ms
// (bench/failover -scenarios slow).
func TestStallSilenceCountsOnlyQueries(t *testing.T) {
	b := one(defaults())
	run(b, []op{{0, "ok", 40, fast}})
	b.RecordCheck(breaker.Result{Kind: breaker.HealthCheck, Outcome: breaker.Success, Latency: fast}, at(400*ms))
	b.Record(b.Current(), breaker.Result{Kind: breaker.Connect, Outcome: breaker.Success, Latency: fast}, at(450*ms))
	in := breaker.Inflight{Count: 2, OverP95: 2}
	// 2 of 43 samples slow is under 5%; only the stall rule could fire.
	if _, ok := b.Tick(at(499*ms), in); ok {
		t.Errorf("Tick(t0+499ms) tripped before p95 of silence")
	}
	if tr, ok := b.Tick(at(500*ms), in); !ok || !strings.Contains(tr.Detail, "stall") {
		t.Errorf("Tick(t0+500ms) = %v %q, want a stall trip despite the check and the connect", ok, tr.Detail)
	}
}

func TestLateResultsIgnored(t *testing.T) {
	b := one(defaults())
	old, _ := b.Allow(t0) // admitted while CLOSED
	tripHard(t, b, t0)
	ht := halfOpen(t, b, t0)
	oldProbe, _ := b.Allow(ht)
	// Late failures of the CLOSED generation do not count as probe failures.
	for range 5 {
		b.Record(old, breaker.Result{Outcome: breaker.Failure}, ht)
	}
	if st := b.Stats(ht); st.State != breaker.HalfOpen || st.ProbeFailures != 0 || st.FailuresTotal != 5+3 {
		t.Errorf("after late failures: state %v, probe failures %d, FailuresTotal %d; want HALF_OPEN, 0, 8",
			st.State, st.ProbeFailures, st.FailuresTotal)
	}
	closed := recoverNow(t, b, ht)
	// A slow answer or a connection loss from before the close cannot reopen it.
	for range 30 {
		b.Record(old, breaker.Result{Outcome: breaker.Slow, Latency: 10 * sec}, closed)
		b.Record(oldProbe, breaker.Result{Outcome: breaker.Failure}, closed)
		b.RecordConnLoss(old, closed)
		b.RecordConnLoss(breaker.Ticket{}, closed)
	}
	st := b.Stats(closed)
	if st.State != breaker.Closed || st.Requests != 0 || st.ConsecutiveFailures != 0 {
		t.Errorf("after late results: state %v, window requests %d, consecutive %d; want CLOSED, 0, 0", st.State, st.Requests, st.ConsecutiveFailures)
	}
	// 5 + 8 probes + 120 late results, all counted in the totals.
	if st.RequestsTotal != 5+8+120 {
		t.Errorf("RequestsTotal = %d, want %d", st.RequestsTotal, 5+8+120)
	}
}

func TestForce(t *testing.T) {
	tests := []struct {
		name      string
		setup     []op
		force     breaker.State
		wantTrans bool
		then      []op // while forced
		whileWant breaker.State
		unforce   breaker.State // after Unforce
	}{
		{"force open a healthy backend", nil, breaker.Open, true,
			[]op{{40 * sec, "tick", 1, 0}, {40 * sec, "checkok", 10, fast}}, breaker.Open, breaker.Closed},
		{"force open an open backend", []op{{0, "checkfail", 3, 0}}, breaker.Open, false,
			[]op{{40 * sec, "tick", 1, 0}}, breaker.Open, breaker.Closed},
		{"force closed a failing backend", nil, breaker.Closed, false,
			[]op{{0, "connfail", 10, 0}, {0, "fail", 30, 0}, {0, "tick", 1, 0}}, breaker.Closed, breaker.Closed},
		{"force closed an open backend", []op{{0, "checkfail", 3, 0}}, breaker.Closed, true,
			[]op{{sec, "ok", 10, fast}}, breaker.Closed, breaker.Closed},
		{"force half-open is ignored", nil, breaker.HalfOpen, false,
			[]op{{0, "connfail", 3, 0}}, breaker.Open, breaker.Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := one(defaults())
			run(b, tt.setup)
			tr, ok := b.Force(tt.force, at(0))
			if ok != tt.wantTrans || (ok && (tr.Reason != breaker.ReasonOverride || tr.To != tt.force)) {
				t.Errorf("Force(%v) = %v %+v, want transition %v with reason override", tt.force, ok, tr, tt.wantTrans)
			}
			run(b, tt.then)
			end := at(tt.then[len(tt.then)-1].at)
			if got := b.State(); got != tt.whileWant {
				t.Errorf("State(%s) while forced = %v, want %v", since(end), got, tt.whileWant)
			}
			if st := b.Stats(end); st.Forced != (tt.force != breaker.HalfOpen) {
				t.Errorf("Stats.Forced = %v, want %v", st.Forced, tt.force != breaker.HalfOpen)
			}
			if tt.force == breaker.Open {
				if _, err := b.Allow(end); !errors.Is(err, breaker.ErrOpen) {
					t.Errorf("Allow while forced open = %v, want ErrOpen", err)
				}
			}
			b.Unforce(end)
			if got := b.State(); got != tt.unforce {
				t.Errorf("State after Unforce = %v, want %v", got, tt.unforce)
			}
			if st := b.Stats(end); st.Forced {
				t.Errorf("Stats.Forced after Unforce = true")
			}
		})
	}
}

func TestForcedStatisticsAccumulate(t *testing.T) {
	b := one(defaults())
	b.Force(breaker.Closed, t0)
	run(b, []op{{0, "ok", 10, fast}, {0, "fail", 10, 0}})
	st := b.Stats(t0)
	if st.Requests != 20 || st.Failures != 10 || st.RequestsTotal != 20 {
		t.Errorf("forced closed Stats requests/failures/total = %d/%d/%d, want 20/10/20", st.Requests, st.Failures, st.RequestsTotal)
	}
	// Unforce leaves it to automatic evaluation: the next Tick trips.
	if _, ok := b.Unforce(t0); ok {
		t.Errorf("Unforce of a forced CLOSED reported a transition")
	}
	if tr, ok := b.Tick(t0, breaker.Inflight{}); !ok || tr.Reason != breaker.ReasonErrorRate {
		t.Errorf("Tick after Unforce = %v %v, want an error_rate trip", ok, tr.Reason)
	}
}

func TestUnforceOpenRamps(t *testing.T) {
	b := one(defaults())
	tripHard(t, b, t0)
	b.Force(breaker.Open, t0)
	tr, ok := b.Unforce(at(time.Hour))
	if !ok || tr.From != breaker.Open || tr.To != breaker.Closed || tr.Reason != breaker.ReasonOverride {
		t.Fatalf("Unforce = %v %+v, want OPEN → CLOSED (override)", ok, tr)
	}
	if got := b.Weight(at(time.Hour)); got != 0.1 {
		t.Errorf("Weight right after Unforce = %g, want 0.1 (ramp)", got)
	}
	if tk, err := b.Allow(at(time.Hour)); err != nil || tk.Probe() {
		t.Errorf("Allow after Unforce = %v, probe %v; want a plain ticket", err, tk.Probe())
	}
}

func TestSetConfigKeepsState(t *testing.T) {
	b := one(defaults())
	run(b, []op{{0, "ok", 30, fast}, {0, "checkfail", 3, 0}})
	before := b.Stats(t0)
	cfg := defaults()
	cfg.FailureRatePercent = 50
	cfg.OpenDuration = time.Minute
	cfg.HalfOpenMaxConcurrent = 20
	b.SetConfig(cfg)
	after := b.Stats(t0)
	if after.State != breaker.Open || after.Requests != 30 || after.RequestsTotal != before.RequestsTotal ||
		after.TransitionsTotal != 1 || after.FailuresTotal != 3 || !after.ReopenAt.Equal(before.ReopenAt) {
		t.Errorf("Stats after SetConfig = %+v, want the state, window, totals and ReopenAt of %+v", after, before)
	}
	if got := b.Config(); got != cfg {
		t.Errorf("Config() = %+v, want %+v", got, cfg)
	}
	// Adding an existing name applies the config the same way.
	g := breaker.NewGroup(breaker.GroupConfig{})
	a := g.Add("a", defaults())
	run(a, []op{{0, "ok", 5, fast}})
	if a2 := g.Add("a", cfg); a2 != a || a.Config() != cfg || a.Stats(t0).Requests != 5 {
		t.Errorf("Add of an existing name: same %v, config applied %v, requests %d; want true, true, 5", a2 == a, a.Config() == cfg, a.Stats(t0).Requests)
	}
}

func TestSetConfigWindow(t *testing.T) {
	tests := []struct {
		name   string
		window time.Duration
		bucket time.Duration
		want   int // failures in the window at t0+9.5s after the change
	}{
		{"unchanged", 10 * sec, sec, 10},
		{"longer window keeps all", 20 * sec, sec, 10},
		{"shorter window keeps the newest buckets", 5 * sec, sec, 5},
		{"new bucket size starts afresh", 10 * sec, 500 * ms, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := one(defaults())
			for i := range 10 { // one failure per second, t0 … t0+9s
				now := at(time.Duration(i) * sec)
				tk, _ := b.Allow(now)
				b.Record(tk, breaker.Result{Outcome: breaker.Failure}, now)
			}
			cfg := defaults()
			cfg.Window, cfg.Bucket = tt.window, tt.bucket
			b.SetConfig(cfg)
			now := at(9*sec + 500*ms)
			if got := b.Stats(now).Failures; got != tt.want {
				t.Errorf("Stats(%s).Failures = %d, want %d", since(now), got, tt.want)
			}
			if got := b.Stats(now).RequestsTotal; got != 10 {
				t.Errorf("RequestsTotal = %d, want 10", got)
			}
		})
	}
}

// slowTrip feeds b 40 requests of which 4 are slow: a latency (guarded) trip.
func slowTrip(b *breaker.Breaker, now time.Time) (breaker.Transition, bool) {
	var tr breaker.Transition
	var ok bool
	for i := range 40 {
		lat := fast
		if i%10 == 9 {
			lat = 700 * ms
		}
		tk, err := b.Allow(now)
		if err != nil {
			return tr, ok
		}
		if t, k := b.Record(tk, breaker.Result{Outcome: breaker.Success, Latency: lat}, now); k {
			tr, ok = t, k
		}
	}
	return tr, ok
}

func TestMaxEjectionGuard(t *testing.T) {
	g := breaker.NewGroup(breaker.GroupConfig{Rand: fixedRand(0)})
	a, b, c := g.Add("a", defaults()), g.Add("b", defaults()), g.Add("c", defaults())

	steps := []struct {
		name string
		do   func() (breaker.Transition, bool)
		br   *breaker.Breaker
		want breaker.State
	}{
		{"first latency trip opens (1 of 3)", func() (breaker.Transition, bool) { return slowTrip(a, t0) }, a, breaker.Open},
		{"second latency trip is held (2 of 3 > 50%)", func() (breaker.Transition, bool) { return slowTrip(b, t0) }, b, breaker.Closed},
		{"the held rule is judged again on Tick", func() (breaker.Transition, bool) { return b.Tick(at(ms), breaker.Inflight{}) }, b, breaker.Closed},
		{"saturation is guarded too", func() (breaker.Transition, bool) {
			c.SetSaturation(0.99)
			return run1(c, op{0, "ok", 20, fast})
		}, c, breaker.Closed},
		{"hard failures always trip", func() (breaker.Transition, bool) { return run1(c, op{ms, "checkfail", 3, 0}) }, c, breaker.Open},
		{"error rates always trip", func() (breaker.Transition, bool) { return run1(b, op{ms, "fail", 10, 0}) }, b, breaker.Open},
	}
	for _, s := range steps {
		s.do()
		if got := s.br.State(); got != s.want {
			t.Errorf("%s: State(%s) = %v, want %v", s.name, s.br.Name(), got, s.want)
		}
	}

	// Held trips show in Stats.Detail; once capacity is back they trip.
	g2 := breaker.NewGroup(breaker.GroupConfig{Rand: fixedRand(0)})
	x, y := g2.Add("x", defaults()), g2.Add("y", defaults())
	g2.Add("z", defaults())
	slowTrip(x, t0)
	slowTrip(y, t0)
	st := y.Stats(t0)
	if st.State != breaker.Closed || !strings.HasPrefix(st.Detail, "held by max-ejection guard (1 of 3 backends open, limit 50%): p95 > 500ms") {
		t.Errorf("held Stats state %v detail %q, want CLOSED and a held-by-guard detail", st.State, st.Detail)
	}
	x.Force(breaker.Closed, at(ms))
	if tr, ok := y.Tick(at(2*ms), breaker.Inflight{}); !ok || tr.Reason != breaker.ReasonLatencyP95 {
		t.Errorf("Tick of the held breaker after capacity came back = %v %v, want a latency_p95 trip", ok, tr.Reason)
	}
	if st := y.Stats(at(2 * ms)); strings.HasPrefix(st.Detail, "held") {
		t.Errorf("Detail once open = %q, want the trip's", st.Detail)
	}

	// A group of one may open on latency (at least one circuit may always open).
	solo := breaker.NewGroup(breaker.GroupConfig{}).Add("solo", defaults())
	if _, ok := slowTrip(solo, t0); !ok || solo.State() != breaker.Open {
		t.Errorf("latency trip of a single backend: State = %v, want OPEN", solo.State())
	}

	// Removing an open backend gives its capacity back.
	g3 := breaker.NewGroup(breaker.GroupConfig{})
	p, q := g3.Add("p", defaults()), g3.Add("q", defaults())
	slowTrip(p, t0)
	slowTrip(q, t0)
	if q.State() != breaker.Closed {
		t.Fatalf("q State = %v, want CLOSED (held: 2 of 2 > 50%%)", q.State())
	}
	g3.Remove("p")
	if g3.Get("p") != nil || g3.Len() != 1 {
		t.Errorf("after Remove: Get(p) = %v, Len = %d; want nil, 1", g3.Get("p"), g3.Len())
	}
	if _, ok := q.Tick(at(ms), breaker.Inflight{}); !ok {
		t.Errorf("q did not trip after the open backend was removed")
	}
}

func run1(b *breaker.Breaker, o op) (breaker.Transition, bool) {
	trs := run(b, []op{o})
	if len(trs) == 0 {
		return breaker.Transition{}, false
	}
	return trs[len(trs)-1], true
}

func TestCascade(t *testing.T) {
	type opening struct {
		at      time.Duration
		backend string
		want    []string // Transition.Cascade
	}
	tests := []struct {
		name     string
		backends int
		minOpen  int
		fraction float64
		seq      []opening
	}{
		{"two of four within 10s", 4, 2, 0.5, []opening{
			{0, "b0", nil}, {3 * sec, "b1", []string{"b0", "b1"}}, {5 * sec, "b2", nil}, {14 * sec, "b3", nil},
		}},
		{"reported again once the window has cleared", 4, 2, 0.5, []opening{
			{0, "b0", nil}, {3 * sec, "b1", []string{"b0", "b1"}}, {30 * sec, "b2", nil}, {31 * sec, "b3", []string{"b2", "b3"}},
		}},
		{"openings further apart than the window", 4, 2, 0.5, []opening{
			{0, "b0", nil}, {10*sec + ms, "b1", nil}, {20*sec + 2*ms, "b2", nil},
		}},
		{"a group of one never cascades", 1, 2, 0.5, []opening{
			{0, "b0", nil}, {31 * sec, "b0", nil},
		}},
		{"a group of two cascades when both open", 2, 2, 0.5, []opening{
			{0, "b0", nil}, {sec, "b1", []string{"b0", "b1"}},
		}},
		{"fraction smaller than the minimum", 10, 5, 0.3, []opening{
			{0, "b0", nil}, {sec, "b1", nil}, {2 * sec, "b2", []string{"b0", "b1", "b2"}},
		}},
		{"minimum smaller than the fraction", 10, 2, 0.5, []opening{
			{0, "b5", nil}, {sec, "b1", []string{"b5", "b1"}},
		}},
		{"the same backend twice is not a cascade", 4, 2, 0.5, []opening{
			{0, "b0", nil}, {31 * sec, "b0", nil}, {32 * sec, "b1", []string{"b0", "b1"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := breaker.NewGroup(breaker.GroupConfig{CascadeMinOpen: tt.minOpen, CascadeFraction: tt.fraction, Rand: fixedRand(0)})
			for i := range tt.backends {
				g.Add("b"+string(rune('0'+i)), defaults())
			}
			for _, o := range tt.seq {
				br := g.Get(o.backend)
				now := at(o.at)
				if br.State() != breaker.Closed {
					recoverNow(t, br, now)
				}
				tr, ok := run1(br, op{o.at, "loss", 3, 0})
				if !ok || tr.To != breaker.Open {
					t.Fatalf("%s at %s: no opening", o.backend, since(now))
				}
				if !slices.Equal(tr.Cascade, o.want) {
					t.Errorf("%s opening at %s: Cascade = %v, want %v", o.backend, since(now), tr.Cascade, o.want)
				}
			}
		})
	}
}

func TestCascadeIgnoresOverridesAndReopenings(t *testing.T) {
	g := breaker.NewGroup(breaker.GroupConfig{Rand: fixedRand(0)})
	a, b := g.Add("a", defaults()), g.Add("b", defaults())
	g.Add("c", defaults())
	if tr, _ := a.Force(breaker.Open, t0); tr.Cascade != nil {
		t.Errorf("forced opening Cascade = %v, want nil", tr.Cascade)
	}
	tr := tripHard(t, b, at(sec))
	if tr.Cascade != nil {
		t.Errorf("opening after a forced one: Cascade = %v, want nil", tr.Cascade)
	}
	// A failed recovery is not a new opening.
	ht := halfOpen(t, b, at(sec))
	_ = ht
	var last breaker.Transition
	for range 3 {
		last, _ = probe(t, b, breaker.Failure, ht)
	}
	if last.To != breaker.Open || last.Cascade != nil {
		t.Errorf("reopening: to %v, Cascade %v; want OPEN, nil", last.To, last.Cascade)
	}
}

// TestCascadeForgetsRemovedBackends: a backend a reload removed no longer
// counts, so its opening just before does not make a cascade of the next
// backend's opening (the page would list a backend that is gone).
func TestCascadeForgetsRemovedBackends(t *testing.T) {
	g := breaker.NewGroup(breaker.GroupConfig{Rand: fixedRand(0)})
	a, b, c := g.Add("a", defaults()), g.Add("b", defaults()), g.Add("c", defaults())
	g.Add("d", defaults())
	tripHard(t, a, t0)
	g.Remove("a")
	if tr := tripHard(t, b, at(3*sec)); tr.Cascade != nil {
		t.Errorf("b's opening 3s after removed a's: Cascade = %v, want nil", tr.Cascade)
	}
	if tr := tripHard(t, c, at(4*sec)); !slices.Equal(tr.Cascade, []string{"b", "c"}) {
		t.Errorf("c's opening at 4s: Cascade = %v, want [b c]", tr.Cascade)
	}
}

func TestStatsTotals(t *testing.T) {
	b := one(defaults())
	run(b, []op{
		{0, "ok", 5, fast}, {0, "excluded", 2, fast}, {0, "overload", 3, 0}, {0, "slow", 1, 0},
		{0, "fail", 2, 0}, {0, "checkfail", 1, 0}, {0, "checkok", 1, 0}, {0, "loss", 1, 0},
	})
	st := b.Stats(t0)
	if st.RequestsTotal != 14 || st.SuccessesTotal != 5 || st.FailuresTotal != 4 {
		t.Errorf("totals requests/successes/failures = %d/%d/%d, want 14/5/4", st.RequestsTotal, st.SuccessesTotal, st.FailuresTotal)
	}
	if st.Requests != 9 || st.Failures != 3 || st.Overloads != 3 {
		t.Errorf("window requests/failures/overloads = %d/%d/%d, want 9/3/3", st.Requests, st.Failures, st.Overloads)
	}
	if !st.LastFailure.Equal(t0) || st.ConsecutiveFailures != 1 {
		t.Errorf("LastFailure %s, ConsecutiveFailures %d; want t0, 1", since(st.LastFailure), st.ConsecutiveFailures)
	}
	if !st.Since.Equal(t0) {
		t.Errorf("Since = %v, want t0 (the first time the breaker saw)", st.Since)
	}
}

func TestGroup(t *testing.T) {
	g := breaker.NewGroup(breaker.GroupConfig{})
	if g.Len() != 0 || g.Get("a") != nil {
		t.Errorf("new group: Len %d, Get(a) %v; want 0, nil", g.Len(), g.Get("a"))
	}
	a := g.Add("a", defaults())
	if g.Get("a") != a || a.Name() != "a" || g.Len() != 1 {
		t.Errorf("after Add: Get(a) = %p, Name %q, Len %d; want %p, a, 1", g.Get("a"), a.Name(), g.Len(), a)
	}
	g.Remove("a")
	g.Remove("a")
	if g.Len() != 0 || g.Get("a") != nil {
		t.Errorf("after Remove: Len %d, Get(a) %v; want 0, nil", g.Len(), g.Get("a"))
	}
	// A removed breaker keeps working on its own.
	tripHard(t, a, t0)
}

func TestZeroConfig(t *testing.T) {
	b := one(breaker.Config{})
	// Every rule disabled: nothing trips.
	run(b, []op{{0, "fail", 100, 0}, {0, "connfail", 10, 0}, {0, "ok", 100, time.Minute}, {0, "tick", 1, 0}})
	if got := b.State(); got != breaker.Closed {
		t.Errorf("State with a zero Config = %v, want CLOSED", got)
	}
	b.Force(breaker.Open, t0)
	b.Unforce(t0)
	if got := b.Weight(t0); got != 1 {
		t.Errorf("Weight after Unforce without gradual recovery = %g, want 1", got)
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	g := breaker.NewGroup(breaker.GroupConfig{})
	b := g.Add("a", defaults())
	g.Add("b", defaults())
	g.Add("c", defaults())
	now := t0
	allocs := testing.AllocsPerRun(10000, func() {
		now = now.Add(time.Millisecond)
		tk, _ := b.Allow(now)
		b.Record(tk, breaker.Result{Outcome: breaker.Success, Latency: 3 * time.Millisecond}, now)
		b.Tick(now, breaker.Inflight{Count: 1})
	})
	if allocs != 0 {
		t.Errorf("Allow+Record+Tick allocs = %v, want 0", allocs)
	}
	// Nor while a trip is being held back by the guard.
	a2 := g.Add("c", defaults())
	slowTrip(g.Get("b"), now)
	slowTrip(a2, now)
	if a2.State() != breaker.Closed {
		t.Fatalf("c State = %v, want CLOSED (held)", a2.State())
	}
	allocs = testing.AllocsPerRun(1000, func() {
		tk, _ := a2.Allow(now)
		a2.Record(tk, breaker.Result{Outcome: breaker.Success, Latency: 700 * time.Millisecond}, now)
	})
	if allocs != 0 {
		t.Errorf("Record of a held trip allocs = %v, want 0", allocs)
	}
}

func TestProbeTimeout(t *testing.T) {
	cfg := defaults()
	cfg.HalfOpenProbes = 3
	cfg.HalfOpenMaxConcurrent = 3
	cfg.HalfOpenSuccessPercent = 100
	cfg.ProbeTimeout = 2 * sec
	cfg.LatencyP95 = 10 * sec // above the timeout: only the timeout fails these probes

	// A result slower than recovery_probe_timeout is a failed probe.
	b := one(cfg)
	tripHard(t, b, t0)
	ht := halfOpen(t, b, t0)
	tk, _ := b.Allow(ht)
	b.Record(tk, breaker.Result{Outcome: breaker.Success, Latency: 2*sec + ms}, ht.Add(2*sec+ms))
	if got := b.State(); got != breaker.Open {
		t.Errorf("State after a 2.001s probe with recovery_probe_timeout 2s = %v, want OPEN", got)
	}

	// A probe still running past the timeout fails at the next Tick, and
	// its late result is not counted again.
	b = one(cfg)
	tripHard(t, b, t0)
	ht = halfOpen(t, b, t0)
	cfg.HalfOpenSuccessPercent = 60
	b.SetConfig(cfg) // 2 of 3 must succeed: one timed-out probe is allowed
	slow, _ := b.Allow(ht)
	b.Tick(ht.Add(2*sec), breaker.Inflight{})
	if st := b.Stats(ht.Add(2 * sec)); st.ProbeFailures != 0 || st.ProbesInFlight != 1 {
		t.Errorf("at HALF_OPEN+2s: ProbeFailures %d, in flight %d; want 0 and 1", st.ProbeFailures, st.ProbesInFlight)
	}
	later := ht.Add(2*sec + ms)
	b.Tick(later, breaker.Inflight{})
	if st := b.Stats(later); st.ProbeFailures != 1 || st.ProbesInFlight != 0 {
		t.Errorf("at HALF_OPEN+2.001s: ProbeFailures %d, in flight %d; want 1 and 0", st.ProbeFailures, st.ProbesInFlight)
	}
	b.Record(slow, breaker.Result{Outcome: breaker.Success, Latency: 3 * sec}, ht.Add(3*sec))
	if st := b.Stats(ht.Add(3 * sec)); st.ProbeFailures != 1 || st.ProbeSuccesses != 0 {
		t.Errorf("after the timed-out probe's late result: %d failures, %d successes; want 1 and 0", st.ProbeFailures, st.ProbeSuccesses)
	}
	for range 2 {
		tk, err := b.Allow(ht.Add(3 * sec))
		if err != nil {
			t.Fatalf("Allow = %v, want a permit", err)
		}
		b.Record(tk, breaker.Result{Outcome: breaker.Success, Latency: fast}, ht.Add(3*sec))
	}
	if got := b.State(); got != breaker.Closed {
		t.Errorf("State after 2 of 3 probes passed = %v, want CLOSED", got)
	}
}
