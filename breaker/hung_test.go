package breaker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
)

// TestHung: with another circuit already OPEN (1 of 3), a backend that
// answers nothing opens as ReasonHung past the max-ejection guard, while a
// merely slow one (it still completes queries or answers its health check)
// stays under the guard, whose hold shows in Stats.Detail.
func TestHung(t *testing.T) {
	const never = -1 // lastOK: no query ever completed
	tests := []struct {
		name    string
		cfg     func(*breaker.Config) // nil: defaults
		lastOK  time.Duration         // the last completed query, at t0+lastOK (40 of them at t0 first, unless never)
		tick    time.Duration
		in      breaker.Inflight
		want    breaker.State
		held    string // a prefix of the held trip in Stats.Detail; "" for none
		wantMsg string // the transition's detail for a trip
	}{
		{
			name: "stuck, silent and the check timed out: hung", tick: 600 * ms,
			in:   breaker.Inflight{Count: 4, OverP95: 2, Oldest: 600 * ms, CheckOver: true, CheckTimedOut: true},
			want: breaker.Open, wantMsg: "hung: 4 in flight, the oldest for 600ms, nothing completed for 600ms, and the health check timed out",
		},
		{
			name: "one request stuck and the check timed out: hung", tick: 700 * ms,
			in:   breaker.Inflight{Count: 1, OverP95: 1, Oldest: 700 * ms, CheckOver: true, CheckTimedOut: true},
			want: breaker.Open, wantMsg: "hung: 1 in flight, the oldest for 700ms, nothing completed for 700ms",
		},
		{
			name: "no query ever completed: hung", lastOK: never, tick: 600 * ms,
			in:   breaker.Inflight{Count: 2, OverP95: 2, Oldest: 600 * ms, CheckTimedOut: true},
			want: breaker.Open, wantMsg: "hung: 2 in flight, the oldest for 600ms, no query completed yet, and the health check timed out",
		},
		{
			name: "stalled, the check answers: slow, held", tick: 600 * ms,
			in:   breaker.Inflight{Count: 4, OverP95: 2, Oldest: 600 * ms},
			want: breaker.Closed, held: "held by max-ejection guard (1 of 3 backends open, limit 50%): stall: 2 in flight longer than 500ms",
		},
		{
			name: "stalled, the check slower than p95 but within its timeout: held", tick: 600 * ms,
			in:   breaker.Inflight{Count: 1, OverP95: 1, Oldest: 600 * ms, CheckOver: true},
			want: breaker.Closed, held: "held by max-ejection guard (1 of 3 backends open, limit 50%): stall: 1 in flight",
		},
		{
			name: "a query completed within the bound: slow, not hung", lastOK: 200 * ms, tick: 600 * ms,
			in:   breaker.Inflight{Count: 4, OverP95: 2, Oldest: 600 * ms, CheckTimedOut: true},
			want: breaker.Closed,
		},
		{
			name: "one long report, the check answers", tick: 30 * sec,
			in:   breaker.Inflight{Count: 1, OverP95: 1, OverP99: 1, Oldest: 30 * sec},
			want: breaker.Closed,
		},
		{
			name: "nothing past the bound yet", tick: 600 * ms,
			in:   breaker.Inflight{Count: 4, Oldest: 500 * ms, CheckTimedOut: true},
			want: breaker.Closed,
		},
		{
			name: "the check timed out, nothing in flight: the health checks decide", tick: 5 * sec,
			in:   breaker.Inflight{CheckOver: true, CheckTimedOut: true},
			want: breaker.Closed,
		},
		{
			name: "p95 disabled: p99 is the bound, not reached", cfg: func(c *breaker.Config) { c.LatencyP95 = 0 }, tick: 1900 * ms,
			in:   breaker.Inflight{Count: 2, OverP99: 0, Oldest: 1900 * ms, CheckTimedOut: true},
			want: breaker.Closed,
		},
		{
			name: "p95 disabled: p99 is the bound, passed", cfg: func(c *breaker.Config) { c.LatencyP95 = 0 }, tick: 2100 * ms,
			in:   breaker.Inflight{Count: 2, OverP99: 2, Oldest: 2100 * ms, CheckTimedOut: true},
			want: breaker.Open, wantMsg: "hung: 2 in flight, the oldest for 2.1s",
		},
		{
			name: "no latency thresholds: no stall bound", cfg: func(c *breaker.Config) { c.LatencyP95, c.LatencyP99 = 0, 0 }, tick: 5 * sec,
			in:   breaker.Inflight{Count: 4, Oldest: 5 * sec, CheckTimedOut: true},
			want: breaker.Closed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaults()
			// 40 fast requests: up to 2 in flight stay under the p95 rate
			// rule, so only the in-flight rules can fire.
			cfg.MinimumRequests = 40
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			g := breaker.NewGroup(breaker.GroupConfig{Rand: fixedRand(0)})
			b := g.Add("a", cfg)
			g.Add("c", cfg)
			if _, ok := g.Add("b", cfg).Force(breaker.Open, t0); !ok {
				t.Fatal("Force(OPEN) of b made no transition")
			}
			if tt.lastOK != never {
				run(b, []op{{0, "ok", 40, fast}, {tt.lastOK, "ok", 1, fast}})
			}
			now := at(tt.tick)
			tr, ok := b.Tick(now, tt.in)
			if got := b.State(); got != tt.want {
				t.Errorf("State(t0+%v) after Tick(%+v) = %v, want %v (%s)", tt.tick, tt.in, got, tt.want, b.Stats(now).Detail)
			}
			if ok && (tr.Reason != breaker.ReasonHung || !strings.HasPrefix(tr.Detail, tt.wantMsg)) {
				t.Errorf("transition reason %v detail %q, want hung starting %q", tr.Reason, tr.Detail, tt.wantMsg)
			}
			if ok && !tr.Stats.LastFailure.Equal(now) {
				t.Errorf("LastFailure after a hung trip = %s, want %s", since(tr.Stats.LastFailure), since(now))
			}
			detail := b.Stats(now).Detail
			if tt.held != "" && !strings.HasPrefix(detail, tt.held) {
				t.Errorf("Stats.Detail = %q, want it to start %q", detail, tt.held)
			}
			if tt.held == "" && tt.want == breaker.Closed && detail != "" {
				t.Errorf("Stats.Detail = %q, want no held trip", detail)
			}
		})
	}
}

// TestHungAlone: without other open circuits the stall rule could open the
// circuit too, but a hang is reported as one; a hung opening counts
// towards the guard like any other.
func TestHungAlone(t *testing.T) {
	g := breaker.NewGroup(breaker.GroupConfig{Rand: fixedRand(0)})
	a, c := g.Add("a", defaults()), g.Add("c", defaults())
	g.Add("b", defaults())
	run(a, []op{{0, "ok", 40, fast}})
	run(c, []op{{0, "ok", 40, fast}})
	hung := breaker.Inflight{Count: 3, OverP95: 3, Oldest: 600 * ms, CheckOver: true, CheckTimedOut: true}
	if tr, ok := a.Tick(at(600*ms), hung); !ok || tr.Reason != breaker.ReasonHung || tr.Reason.Guarded() {
		t.Errorf("Tick(t0+600ms) of a hung backend = %v, reason %v; want an unguarded hung trip", ok, tr.Reason)
	}
	// c stalls, its check answers: a guarded trip, held with a open.
	if _, ok := c.Tick(at(600*ms), breaker.Inflight{Count: 3, OverP95: 3, Oldest: 600 * ms}); ok {
		t.Errorf("Tick(t0+600ms) of a stalled backend opened it with a hung one already open")
	}
	if st := c.Stats(at(600 * ms)); !strings.HasPrefix(st.Detail, "held by max-ejection guard (1 of 3 backends open") {
		t.Errorf("c: Stats.Detail = %q, want the stall held by the guard", st.Detail)
	}
}

func TestWantsCheck(t *testing.T) {
	stuck := breaker.Inflight{Count: 2, Oldest: 260 * ms}
	tests := []struct {
		name   string
		cfg    func(*breaker.Config)
		force  bool          // b forced OPEN
		lastOK time.Duration // the last completed query
		tick   time.Duration
		in     breaker.Inflight
		want   bool
	}{
		{"stuck and silent for half the bound", nil, false, 0, 260 * ms, stuck, true},
		{"stuck, not yet half the bound", nil, false, 0, 250 * ms, breaker.Inflight{Count: 2, Oldest: 250 * ms}, false},
		{"a query completed within half the bound", nil, false, 100 * ms, 260 * ms, stuck, false},
		{"nothing in flight", nil, false, 0, 5 * sec, breaker.Inflight{}, false},
		{"the check has already timed out", nil, false, 0, 260 * ms, breaker.Inflight{Count: 2, Oldest: 260 * ms, CheckTimedOut: true}, false},
		{"a check is running", nil, false, 0, 260 * ms, breaker.Inflight{Count: 2, Oldest: 260 * ms, CheckRunning: true, CheckStarted: at(200 * ms)}, false},
		// The oldest request began at t0 and was half the bound old at
		// t0+250ms: a check begun before then may have been answered before
		// the stall took hold; one begun since has told what a check can.
		{"the last check began before the stall took hold", nil, false, 0, 260 * ms, breaker.Inflight{Count: 2, Oldest: 260 * ms, CheckStarted: at(249 * ms)}, true},
		{"the last check began once the stall had", nil, false, 0, 260 * ms, breaker.Inflight{Count: 2, Oldest: 260 * ms, CheckStarted: at(251 * ms)}, false},
		{"a long stall asks once", nil, false, 0, 30 * sec, breaker.Inflight{Count: 2, Oldest: 30 * sec, CheckStarted: at(300 * ms)}, false},
		{"forced open", nil, true, 0, 260 * ms, stuck, false},
		{"p95 disabled: half of p99", func(c *breaker.Config) { c.LatencyP95 = 0 }, false, 0, 260 * ms, stuck, false},
		{"p95 disabled: half of p99, passed", func(c *breaker.Config) { c.LatencyP95 = 0 }, false, 0, 1100 * ms, breaker.Inflight{Count: 1, Oldest: 1100 * ms}, true},
		{"no latency thresholds", func(c *breaker.Config) { c.LatencyP95, c.LatencyP99 = 0, 0 }, false, 0, 5 * sec, breaker.Inflight{Count: 1, Oldest: 5 * sec}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaults()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			b := one(cfg)
			run(b, []op{{0, "ok", 5, fast}, {tt.lastOK, "ok", 1, fast}})
			if tt.force {
				b.Force(breaker.Open, t0)
			}
			if got := b.WantsCheck(at(tt.tick), tt.in); got != tt.want {
				t.Errorf("WantsCheck(t0+%v, %+v) = %v, want %v", tt.tick, tt.in, got, tt.want)
			}
		})
	}
}
