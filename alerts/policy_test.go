package alerts

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// Events as the proxy publishes them (proxy/events FromTransition).
func evOpen(b string) status.Event {
	return status.Event{Type: status.CircuitOpened, Backend: b, From: status.Closed, To: status.Open, Reason: "hard_failure",
		Detail: "3 consecutive connection failures", InPrevious: 10 * time.Minute,
		LatencyP95Ms: 612, LatencyP99Ms: 2100, ErrorRate: 0.07, ConnectionSaturation: 0.42}
}

func evHalfOpen(b string) status.Event {
	return status.Event{Type: status.CircuitHalfOpened, Backend: b, From: status.Open, To: status.HalfOpen, Detail: "open for 30s"}
}

func evClose(b string) status.Event {
	return status.Event{Type: status.CircuitClosed, Backend: b, From: status.HalfOpen, To: status.Closed, Detail: "80 of 80 probes succeeded",
		InPrevious: 5 * time.Second, RecoveryDuration: 35 * time.Second}
}

func evRecoveryFailed(b string, attempt int) status.Event {
	return status.Event{Type: status.RecoveryFailed, Backend: b, From: status.HalfOpen, To: status.Open, Reason: "recovery_failed",
		Detail: "probe failed", Attempt: attempt, ErrorRate: 0.5}
}

func evCascade(bs ...string) status.Event {
	return status.Event{Type: status.CascadeDetected, Reason: "cascade", Detail: "several circuits opened together", Backends: bs}
}

// evOverride is the OverrideSet (to OPEN or CLOSED) or, with to NoState,
// the OverrideCleared an operator's action publishes.
func evOverride(b string, to status.CircuitState) status.Event {
	if to == status.NoState {
		return status.Event{Type: status.OverrideCleared, Backend: b, Reason: "override", Detail: "cleared", Author: "alice"}
	}
	return status.Event{Type: status.OverrideSet, Backend: b, To: to, Reason: "override", Detail: "reindexing", Author: "alice"}
}

// evReload is a ConfigReloaded that removed the backends bs.
func evReload(bs ...string) status.Event {
	return status.Event{Type: status.ConfigReloaded, Reason: "reload", Detail: "added [], removed " + fmt.Sprint(bs), Backends: bs}
}

func evForce(b string, from, to status.CircuitState, detail string) status.Event {
	typ := status.CircuitOpened
	if to == status.Closed {
		typ = status.CircuitClosed
	}
	return status.Event{Type: typ, Backend: b, From: from, To: to, Reason: "override", Detail: detail}
}

// brief describes an alert for comparisons: "+5s circuit_opened trigger a error".
func brief(at time.Duration, a Alert) string {
	s := fmt.Sprintf("+%v %s", at, a.Kind)
	if a.Action != ActionNone {
		s += " " + string(a.Action) + " " + strings.TrimPrefix(a.DedupKey, "heliosproxy/c/")
	} else {
		s += " info-only"
	}
	s += " " + string(a.Severity)
	if a.Backend != "" {
		s += " backend=" + a.Backend
	}
	if len(a.Backends) > 0 {
		s += " backends=" + strings.Join(a.Backends, ",")
	}
	if a.Open != nil && !slices.Equal(a.Open, a.Backends) {
		s += " open=" + strings.Join(a.Open, ",")
	}
	if a.Flaps > 0 {
		s += fmt.Sprintf(" flaps=%d", a.Flaps)
	}
	if a.Suppressed > 0 {
		s += fmt.Sprintf(" suppressed=%d", a.Suppressed)
	}
	return s
}

type step struct {
	at time.Duration
	ev status.Event
}

// runPolicy feeds the steps to a policy, releasing held decisions at the
// moment they fall due, as Run's timer does, up to end; then flushes when
// asked.
func runPolicy(cfg Config, steps []step, end time.Duration, flush bool) []string {
	cfg.Cluster = "c"
	p := newPolicy(cfg.withDefaults())
	var out []string
	emit := func(now time.Time, as []Alert) {
		for _, a := range as {
			out = append(out, brief(now.Sub(t0), a))
		}
	}
	releaseUntil := func(until time.Time) {
		for {
			at, ok := p.next()
			if !ok || at.After(until) {
				return
			}
			emit(at, p.due(at))
		}
	}
	for _, s := range steps {
		now := t0.Add(s.at)
		releaseUntil(now)
		emit(now, p.handle(s.ev, now))
	}
	releaseUntil(t0.Add(end))
	if flush {
		emit(t0.Add(end), p.flush(t0.Add(end)))
	}
	return out
}

func on() Config {
	return Config{AlertOnCircuitOpen: true, AlertOnMultipleCircuitsOpen: true, AlertOnRecoveryFailure: true}
}

func TestPolicy(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	flap := func(b string, times int, every time.Duration) []step {
		var st []step
		for i := range times {
			st = append(st, step{time.Duration(2*i) * every, evOpen(b)}, step{time.Duration(2*i+1) * every, evClose(b)})
		}
		return st
	}
	tests := []struct {
		name  string
		cfg   func(c *Config)
		steps []step
		end   time.Duration
		flush bool
		want  []string
	}{
		{
			name:  "an opening is paged after the cascade delay",
			steps: []step{{0, evOpen("a")}, {1 * s, evHalfOpen("a")}},
			end:   time.Minute,
			want:  []string{"+5s circuit_opened trigger a error backend=a"},
		},
		{
			name:  "without cascade alerts an opening is paged at once",
			cfg:   func(c *Config) { c.AlertOnMultipleCircuitsOpen = false },
			steps: []step{{0, evOpen("a")}},
			want:  []string{"+0s circuit_opened trigger a error backend=a"},
		},
		{
			name: "a role isolated and restored is a Slack message, never a page",
			steps: []step{
				{0, status.Event{Type: status.UserBreakerOpened, Role: "batch", Database: "shop", To: status.Open, Reason: "error_rate"}},
				{30 * s, status.Event{Type: status.UserBreakerHalfOpened, Role: "batch", Database: "shop", To: status.HalfOpen}},
				{31 * s, status.Event{Type: status.UserBreakerClosed, Role: "batch", Database: "shop", To: status.Closed}},
			},
			end: time.Hour,
			want: []string{
				"+0s user_isolated info-only warning",
				"+31s user_restored info-only info",
			},
		},
		{
			name:  "close resolves after the flap window",
			steps: []step{{0, evOpen("a")}, {30 * s, evHalfOpen("a")}, {35 * s, evClose("a")}},
			end:   10 * time.Minute,
			want: []string{
				"+5s circuit_opened trigger a error backend=a",
				"+2m35s circuit_closed resolve a info backend=a",
			},
		},
		{
			name:  "a backend removed by a reload resolves its incident at once",
			steps: []step{{0, evOpen("a")}, {time.Minute, evReload("a")}, {2 * time.Minute, evOpen("a")}},
			end:   time.Hour,
			want: []string{
				"+5s circuit_opened trigger a error backend=a",
				"+1m0s backend_removed resolve a info backend=a",
				// Added again: a new incident.
				"+2m5s circuit_opened trigger a error backend=a",
			},
		},
		{
			name:  "a held opening of a removed backend is never paged",
			steps: []step{{0, evOpen("a")}, {2 * s, evReload("a")}},
			end:   time.Hour,
			flush: true,
		},
		{
			name:  "a removed backend whose resolve was held resolves at once",
			steps: []step{{0, evOpen("a")}, {10 * s, evClose("a")}, {20 * s, evReload("a")}},
			end:   time.Hour,
			want: []string{
				"+5s circuit_opened trigger a error backend=a",
				"+20s backend_removed resolve a info backend=a",
			},
		},
		{
			name: "a removed member leaves the cascade to the others",
			steps: []step{{0, evOpen("a")}, {s, evOpen("b")}, {s, evCascade("a", "b")}, {time.Minute, evClose("b")},
				{time.Minute + 10*s, evReload("a")}},
			end: time.Hour,
			want: []string{
				"+1s cascade trigger cascade critical backends=a,b",
				"+1m10s backend_removed info-only info backend=a",
				// b's resolve was held for the flap window.
				"+3m0s circuit_closed info-only info backend=b",
				"+3m0s cascade_resolved resolve cascade info backends=a,b",
			},
		},
		{
			name:  "the last open member of a cascade removed resolves it",
			steps: []step{{0, evOpen("a")}, {s, evOpen("b")}, {s, evCascade("a", "b")}, {time.Minute, evReload("a", "b")}},
			end:   time.Hour,
			want: []string{
				"+1s cascade trigger cascade critical backends=a,b",
				// One message for the reload's removals, not one each.
				"+1m0s backend_removed info-only info backends=a,b",
				"+1m0s cascade_resolved resolve cascade info backends=a,b",
			},
		},
		{
			name: "a removed backend's fence and trust pages resolve",
			steps: []step{{0, status.Event{Type: status.BackendFenced, Backend: "a", Reason: "second_primary"}},
				{s, status.Event{Type: status.BackendTrustsProxy, Backend: "a", Reason: "pass_through_refused"}},
				{time.Minute, evReload("a")}},
			end: time.Hour,
			want: []string{
				"+0s fenced trigger a/fenced critical backend=a",
				"+1s trusts_proxy trigger a/trusts-proxy error backend=a",
				"+1m0s backend_removed resolve a/fenced info backend=a",
				"+1m0s backend_removed resolve a/trusts-proxy info backend=a",
			},
		},
		{
			name:  "a reload that removes nothing alerts nobody",
			steps: []step{{0, evOpen("a")}, {time.Minute, evReload()}},
			end:   time.Minute,
			want:  []string{"+5s circuit_opened trigger a error backend=a"},
		},
		{
			name:  "no damping resolves at once",
			cfg:   func(c *Config) { c.FlapWindow = -1; c.CascadeDelay = -1 },
			steps: []step{{0, evOpen("a")}, {35 * s, evClose("a")}},
			want: []string{
				"+0s circuit_opened trigger a error backend=a",
				"+35s circuit_closed resolve a info backend=a",
			},
		},
		{
			name:  "five flaps inside the window are one page that still resolves",
			steps: flap("a", 5, 10*s),
			end:   time.Hour,
			want: []string{
				"+5s circuit_opened trigger a error backend=a",
				"+3m30s circuit_closed resolve a info backend=a flaps=4",
			},
		},
		{
			name:  "reopening after the window is a new page",
			steps: []step{{0, evOpen("a")}, {10 * s, evClose("a")}, {3 * time.Minute, evOpen("a")}},
			end:   time.Hour,
			want: []string{
				"+5s circuit_opened trigger a error backend=a",
				"+2m10s circuit_closed resolve a info backend=a",
				"+3m5s circuit_opened trigger a error backend=a",
			},
		},
		{
			name:  "two openings and a cascade are one critical page",
			steps: []step{{0, evOpen("a")}, {800 * time.Millisecond, evOpen("b")}, {800 * time.Millisecond, evCascade("a", "b")}},
			end:   time.Minute,
			want:  []string{"+800ms cascade trigger cascade critical backends=a,b"},
		},
		{
			name: "the cascade resolves when its last backend has recovered",
			steps: []step{{0, evOpen("a")}, {0, evOpen("b")}, {0, evCascade("a", "b")},
				{40 * s, evClose("a")}, {70 * s, evClose("b")}},
			end: time.Hour,
			want: []string{
				"+0s cascade trigger cascade critical backends=a,b",
				"+2m40s circuit_closed info-only info backend=a",
				"+3m10s circuit_closed info-only info backend=b",
				"+3m10s cascade_resolved resolve cascade info backends=a,b",
			},
		},
		{
			name: "an opening paged before the cascade keeps its incident",
			steps: []step{{0, evOpen("a")}, {8 * s, evOpen("b")}, {8 * s, evCascade("a", "b")},
				{60 * s, evClose("a")}, {60 * s, evClose("b")}},
			end: time.Hour,
			want: []string{
				"+5s circuit_opened trigger a error backend=a",
				"+8s cascade trigger cascade critical backends=a,b",
				"+3m0s circuit_closed resolve a info backend=a",
				"+3m0s circuit_closed info-only info backend=b",
				"+3m0s cascade_resolved resolve cascade info backends=a,b",
			},
		},
		{
			name:  "a backend opening during a cascade joins it",
			steps: []step{{0, evOpen("a")}, {0, evOpen("b")}, {0, evCascade("a", "b")}, {20 * s, evOpen("c")}},
			end:   time.Minute,
			want: []string{
				"+0s cascade trigger cascade critical backends=a,b",
				"+25s cascade trigger cascade critical backend=c backends=a,b,c",
			},
		},
		{
			// 97 health checks failing in the same 8 ms made 96 Slack
			// messages and 96 triggers, one per backend joining.
			name: "backends opening together during a cascade join it in one update",
			steps: []step{{0, evOpen("a")}, {0, evOpen("b")}, {0, evCascade("a", "b")},
				{10 * ms, evOpen("c")}, {20 * ms, evOpen("d")}, {30 * ms, evOpen("e")}},
			end: time.Minute,
			want: []string{
				"+0s cascade trigger cascade critical backends=a,b",
				"+5.01s cascade trigger cascade critical backends=a,b,c,d,e",
			},
		},
		{
			name: "an opening held when the cascade begins joins with those after it",
			steps: []step{{0, evOpen("a")}, {1 * ms, evOpen("c")}, {2 * ms, evOpen("b")}, {2 * ms, evCascade("a", "b")},
				{3 * ms, evOpen("d")}},
			end: time.Minute,
			want: []string{
				"+2ms cascade trigger cascade critical backends=a,b",
				"+5.002s cascade trigger cascade critical backends=a,b,c,d",
			},
		},
		{
			// The update said "c joined, 3 circuits OPEN" with a closed
			// and b and c open; after a reload removing 97 open backends,
			// "pg-a joined, 99 circuits OPEN" with two open.
			name: "a cascade update counts the circuits open now",
			steps: []step{{0, evOpen("a")}, {0, evOpen("b")}, {0, evOpen("x")}, {0, evCascade("a", "b", "x")},
				{10 * s, evClose("a")}, {time.Minute, evReload("x")}, {3 * time.Minute, evOpen("c")}},
			end: 4 * time.Minute,
			want: []string{
				"+0s cascade trigger cascade critical backends=a,b,x",
				"+1m0s backend_removed info-only info backend=x",
				"+2m10s circuit_closed info-only info backend=a",
				"+3m5s cascade trigger cascade critical backend=c backends=a,b,x,c open=b,c",
			},
		},
		{
			// Removing 97 open cascade members in one reload posted 97
			// Slack messages.
			name: "a reload removing cascade members posts one message, and resolves own incidents one by one",
			steps: []step{{0, evOpen("a")}, {10 * s, evOpen("b")}, {10 * s, evOpen("c")}, {10 * s, evOpen("d")}, {10 * s, evCascade("a", "b", "c", "d")},
				{time.Minute, evReload("a", "b", "c", "d")}},
			end: time.Hour,
			want: []string{
				"+5s circuit_opened trigger a error backend=a",
				"+10s cascade trigger cascade critical backends=a,b,c,d",
				"+1m0s backend_removed resolve a info backend=a",
				"+1m0s backend_removed info-only info backends=b,c,d",
				"+1m0s cascade_resolved resolve cascade info backends=a,b,c,d",
			},
		},
		{
			name:  "cascade alerts off: each opening is its own page",
			cfg:   func(c *Config) { c.AlertOnMultipleCircuitsOpen = false },
			steps: []step{{0, evOpen("a")}, {0, evOpen("b")}, {0, evCascade("a", "b")}},
			want: []string{
				"+0s circuit_opened trigger a error backend=a",
				"+0s circuit_opened trigger b error backend=b",
			},
		},
		{
			name:  "open alerts off: only the cascade pages",
			cfg:   func(c *Config) { c.AlertOnCircuitOpen = false },
			steps: []step{{0, evOpen("x")}, {30 * s, evOpen("a")}, {30 * s, evOpen("b")}, {30 * s, evCascade("a", "b")}},
			end:   time.Minute,
			want:  []string{"+30s cascade trigger cascade critical backends=a,b"},
		},
		{
			name: "recovery failures update the incident, limited per interval",
			steps: []step{{0, evOpen("a")}, {30 * s, evRecoveryFailed("a", 1)}, {90 * s, evRecoveryFailed("a", 2)},
				{3 * time.Minute, evRecoveryFailed("a", 3)}, {6 * time.Minute, evRecoveryFailed("a", 4)}},
			end: 10 * time.Minute,
			want: []string{
				"+5s circuit_opened trigger a error backend=a",
				"+30s recovery_failed trigger a error backend=a",
				"+6m0s recovery_failed trigger a error backend=a suppressed=2",
			},
		},
		{
			name:  "a cascade member's recovery failure updates the cascade",
			steps: []step{{0, evOpen("a")}, {0, evOpen("b")}, {0, evCascade("a", "b")}, {30 * s, evRecoveryFailed("b", 1)}},
			end:   time.Minute,
			want: []string{
				"+0s cascade trigger cascade critical backends=a,b",
				"+30s recovery_failed trigger cascade critical backend=b backends=a,b",
			},
		},
		{
			name:  "a recovery failure without an incident opens one",
			cfg:   func(c *Config) { c.AlertOnCircuitOpen = false },
			steps: []step{{0, evOpen("a")}, {30 * s, evRecoveryFailed("a", 1)}, {90 * s, evClose("a")}},
			end:   time.Hour,
			want: []string{
				"+30s recovery_failed trigger a error backend=a",
				"+3m30s circuit_closed resolve a info backend=a",
			},
		},
		{
			name:  "recovery failure alerts off",
			cfg:   func(c *Config) { c.AlertOnRecoveryFailure = false },
			steps: []step{{0, evOpen("a")}, {30 * s, evRecoveryFailed("a", 1)}},
			end:   time.Minute,
			want:  []string{"+5s circuit_opened trigger a error backend=a"},
		},
		{
			// As the proxy publishes an override: the transition it
			// causes, then the operator's action; one message each time.
			name: "overrides are one chat message per operator action",
			steps: []step{{0, evForce("a", status.Closed, status.Open, "forced open by operator")}, {0, evOverride("a", status.Open)},
				{time.Minute, evForce("a", status.Open, status.Closed, "override removed")}, {time.Minute, evOverride("a", status.NoState)}},
			end: time.Hour,
			want: []string{
				"+0s override info-only info backend=a",
				"+1m0s override info-only info backend=a",
			},
		},
		{
			name:  "an override closing a paged circuit resolves at once",
			steps: []step{{0, evOpen("a")}, {time.Minute, evForce("a", status.Open, status.Closed, "forced closed by operator")}},
			end:   time.Hour,
			want: []string{
				"+5s circuit_opened trigger a error backend=a",
				"+1m0s circuit_closed resolve a info backend=a",
			},
		},
		{
			name: "an override while a resolve is held sends the resolve",
			steps: []step{{0, evOpen("a")}, {time.Minute, evClose("a")}, {90 * s, evForce("a", status.Closed, status.Open, "forced open by operator")},
				{90 * s, evOverride("a", status.Open)}},
			end: time.Hour,
			want: []string{
				"+5s circuit_opened trigger a error backend=a",
				"+1m30s circuit_closed resolve a info backend=a",
				"+1m30s override info-only info backend=a",
			},
		},
		{
			name:  "shutdown pages held openings and sends held resolves",
			steps: []step{{0, evOpen("a")}, {10 * s, evClose("a")}, {20 * s, evOpen("b")}},
			end:   21 * s,
			flush: true,
			want: []string{
				"+5s circuit_opened trigger a error backend=a",
				"+21s circuit_opened trigger b error backend=b",
				"+21s circuit_closed resolve a info backend=a",
			},
		},
		{
			name:  "closes without an incident say nothing",
			steps: []step{{0, evClose("a")}, {0, evHalfOpen("a")}},
			end:   time.Hour,
			want:  nil,
		},
		{
			name:  "all switches off",
			cfg:   func(c *Config) { *c = Config{} },
			steps: []step{{0, evOpen("a")}, {0, evOpen("b")}, {0, evCascade("a", "b")}, {30 * s, evRecoveryFailed("a", 1)}, {60 * s, evClose("a")}},
			end:   time.Hour,
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := on()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			got := runPolicy(cfg, tt.steps, tt.end, tt.flush)
			if !slices.Equal(got, tt.want) {
				t.Errorf("alerts:\n  got  %s\n  want %s", strings.Join(got, "\n       "), strings.Join(tt.want, "\n       "))
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http1123), 90 * time.Second},
		{now.Add(-time.Minute).Format(http1123), 0},
		{"999999999999", 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

func TestBackoff(t *testing.T) {
	d := New(Config{BackoffBase: time.Second, BackoffMax: 10 * time.Second}, discardLogger())
	tests := []struct {
		attempt int
		lo, hi  time.Duration // [lo, hi)
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{4, 4 * time.Second, 8 * time.Second},
		{5, 5 * time.Second, 10 * time.Second},
		{60, 5 * time.Second, 10 * time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			if got := d.backoff(tt.attempt); got < tt.lo || got >= tt.hi {
				t.Errorf("backoff(%d) = %v, want in [%v, %v)", tt.attempt, got, tt.lo, tt.hi)
			}
		}
	}
}

// TestPatternAlerts: a query pattern's breaker opening is a chat message
// (no incident, never paged), and so is its close; none when
// alert_on_circuit_open is off.
func TestPatternAlerts(t *testing.T) {
	opened := status.Event{Type: status.QueryBreakerOpened, Pattern: "fc927418524c82ea", Query: "SELECT pg_sleep($1)", From: status.Closed, To: status.Open, Reason: "latency_p95"}
	closed := status.Event{Type: status.QueryBreakerClosed, Pattern: "fc927418524c82ea", Query: "SELECT pg_sleep($1)", From: status.HalfOpen, To: status.Closed}
	steps := []step{{0, opened}, {time.Second, status.Event{Type: status.QueryBreakerHalfOpened, Pattern: "fc927418524c82ea"}}, {2 * time.Second, closed}}
	want := []string{"+0s query_pattern_opened info-only warning", "+2s query_pattern_closed info-only info"}
	if got := runPolicy(on(), steps, time.Minute, true); !slices.Equal(got, want) {
		t.Errorf("alerts = %q, want %q", got, want)
	}
	off := on()
	off.AlertOnCircuitOpen = false
	if got := runPolicy(off, steps, time.Minute, true); len(got) != 0 {
		t.Errorf("alerts with alert_on_circuit_open off = %q, want none", got)
	}
	msg := slackMessage(Alert{Kind: KindPatternOpened, Event: opened, Source: "c"})
	if !strings.Contains(msg.Text, "SELECT pg_sleep($1)") {
		t.Errorf("Slack text = %q, want the pattern", msg.Text)
	}
}

// TestCascadeMessageCountsOpenCircuits: a cascade update names how many
// circuits are open now, not how many ever joined the incident.
func TestCascadeMessageCountsOpenCircuits(t *testing.T) {
	a := Alert{Kind: KindCascade, Action: ActionTrigger, DedupKey: "heliosproxy/c/cascade", Severity: SeverityCritical, Source: "c",
		Backend: "c", Backends: []string{"a", "b", "x", "c"}, Open: []string{"b", "c"}, Event: evOpen("c")}
	msg := slackMessage(a)
	if !strings.Contains(msg.Text, "c joined, 2 circuits OPEN") {
		t.Errorf("Slack text = %q, want 2 circuits open", msg.Text)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"*2 circuits open together*", "Recovered or removed since: a, x"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("Slack blocks lack %q: %s", want, body)
		}
	}
	if d := pagerDutyEvent("key", a).Payload.Details.(map[string]any); d["open_circuits"] != 2 || !slices.Equal(d["open"].([]string), []string{"b", "c"}) {
		t.Errorf("PagerDuty custom_details: open_circuits %v, open %v; want 2, [b c]", d["open_circuits"], d["open"])
	}
}

// TestRemovalMessages: the reload that removes several cascade members is
// one Slack message naming them, and the cascade it ends is not said to
// have recovered.
func TestRemovalMessages(t *testing.T) {
	reload := evReload("b", "c", "d")
	removed := slackMessage(Alert{Kind: KindRemoved, Source: "c", Backends: []string{"b", "c", "d"}, Event: reload})
	if !strings.Contains(removed.Text, "3 backends removed from the configuration") || !strings.Contains(removed.Text, "b, c, d") {
		t.Errorf("Slack text of the removals = %q, want the three backends in one message", removed.Text)
	}
	over := slackMessage(Alert{Kind: KindCascadeResolved, Action: ActionResolve, Source: "c", Backends: []string{"a", "b", "c", "d"}, Event: reload})
	if strings.Contains(over.Text, "circuits closed") || !strings.Contains(over.Text, "removed from the configuration") {
		t.Errorf("Slack text of a cascade ended by a reload = %q, want it to say the circuits were removed", over.Text)
	}
}
