package alerts

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// Events as the proxy publishes them (proxy/trust.go noteTrust).
func evTrusts(b, reason string) status.Event {
	return status.Event{Type: status.BackendTrustsProxy, Backend: b, Reason: reason,
		Detail: "the backend lets the proxy's connections in without a password as any role (*, postgres)"}
}

func evTrustCleared(b string) status.Event {
	return status.Event{Type: status.BackendTrustCleared, Backend: b, Reason: "trust_cleared",
		Detail: "the backend asks the proxy's connections for a password again"}
}

func TestTrustPolicy(t *testing.T) {
	tests := []struct {
		name  string
		cfg   func(c *Config)
		steps []step
		want  []string
	}{
		{
			name:  "refused pass-through pages, the fix resolves",
			steps: []step{{0, evTrusts("a", "pass_through_refused")}, {time.Minute, evTrustCleared("a")}},
			want: []string{
				"+0s trusts_proxy trigger a/trusts-proxy error backend=a",
				"+1m0s trust_cleared resolve a/trusts-proxy info backend=a",
			},
		},
		{
			name:  "allowed pass-through is a chat warning, its fix a chat message",
			steps: []step{{0, evTrusts("a", "pass_through_allowed")}, {time.Minute, evTrustCleared("a")}},
			want: []string{
				"+0s trusts_proxy info-only warning backend=a",
				"+1m0s trust_cleared info-only info backend=a",
			},
		},
		{
			name: "every alert_on switch off: still paged",
			cfg:  func(c *Config) { *c = Config{} },
			steps: []step{
				{0, evTrusts("a", "pass_through_refused")},
				{time.Second, evTrusts("a", "pass_through_refused")}, // other roles now: the same incident again
			},
			want: []string{
				"+0s trusts_proxy trigger a/trusts-proxy error backend=a",
				"+1s trusts_proxy trigger a/trusts-proxy error backend=a",
			},
		},
		{
			name: "a circuit incident of the same backend is separate",
			cfg:  func(c *Config) { c.CascadeDelay, c.FlapWindow = -1, -1 },
			steps: []step{
				{0, evTrusts("a", "pass_through_refused")},
				{time.Second, evOpen("a")},
				{2 * time.Second, evClose("a")},
				{3 * time.Second, evTrustCleared("a")},
			},
			want: []string{
				"+0s trusts_proxy trigger a/trusts-proxy error backend=a",
				"+1s circuit_opened trigger a error backend=a",
				"+2s circuit_closed resolve a info backend=a",
				"+3s trust_cleared resolve a/trusts-proxy info backend=a",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := on()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			got := runPolicy(cfg, tt.steps, time.Minute, false)
			if !slices.Equal(got, tt.want) {
				t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestTrustAlertsDelivered sends a backend's trust and its fix through real
// local HTTP receivers standing in for Slack and PagerDuty.
func TestTrustAlertsDelivered(t *testing.T) {
	slackR, pdR := newReceiver("slack"), newReceiver("pagerduty")
	d := New(immediate(), discardLogger(), netChannels(t, slackR, pdR)...)
	events := make(chan status.Event)
	stop := start(t, d, events)

	ev := evTrusts("primary-1", "pass_through_refused")
	ev.ID, ev.Time = 3, t0
	events <- ev
	const key = "heliosproxy/prod-eu/primary-1/trusts-proxy"
	trig := pdR.next(t)
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"event_action"}, "trigger"},
		{[]string{"dedup_key"}, key},
		{[]string{"payload", "severity"}, "error"},
		{[]string{"payload", "component"}, "primary-1"},
		{[]string{"payload", "class"}, "trusts_proxy"},
		{[]string{"payload", "custom_details", "reason"}, "pass_through_refused"},
	} {
		if got := field(trig.Body, c.path...); got != c.want {
			t.Errorf("PagerDuty trigger %s = %v, want %v", strings.Join(c.path, "."), got, c.want)
		}
	}
	msg := slackR.next(t)
	if got, _ := field(msg.Body, "text").(string); !strings.Contains(got, "Backend trusts the proxy without a password: primary-1") ||
		!strings.Contains(got, "pass_through_refused") {
		t.Errorf("Slack text = %q, want the backend and the reason", got)
	}
	flat := fmt.Sprint(msg.Body)
	if !strings.Contains(flat, "without a password as any role") || strings.Contains(flat, "P95 latency") {
		t.Errorf("Slack message = %s, want the detail and no circuit metrics", flat)
	}

	events <- evTrustCleared("primary-1")
	res := pdR.next(t)
	if field(res.Body, "event_action") != "resolve" || field(res.Body, "dedup_key") != key {
		t.Errorf("PagerDuty after the fix = %s, want a resolve of %s", res.Raw, key)
	}
	if got, _ := field(slackR.next(t).Body, "text").(string); !strings.Contains(got, "asks the proxy for passwords again: primary-1") {
		t.Errorf("Slack after the fix = %q", got)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
}
