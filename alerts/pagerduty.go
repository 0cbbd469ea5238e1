package alerts

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/heliosdb/heliosproxy/status"
)

// DefaultPagerDutyEventsURL is PagerDuty's public Events API v2 base URL.
const DefaultPagerDutyEventsURL = "https://events.pagerduty.com"

// PagerDutyConfig configures a PagerDuty channel.
type PagerDutyConfig struct {
	// RoutingKey is the Events API v2 integration key (a secret).
	RoutingKey string
	// EventsURL is the Events API v2 base URL, without "/v2/enqueue";
	// empty means DefaultPagerDutyEventsURL. EU accounts use
	// https://events.eu.pagerduty.com.
	EventsURL string
	// HTTPClient sends the requests; nil means one with a 10s timeout. Its
	// Transport is wrapped, never modified.
	HTTPClient *http.Client
}

// PagerDuty sends Events API v2 events: ActionTrigger alerts as "trigger"
// (a repeated trigger with the same dedup key updates the open alert
// without paging again), ActionResolve alerts as "resolve". It ignores
// information-only alerts (ActionNone). A KindTest alert is a trigger
// followed at once by a resolve.
type PagerDuty struct {
	key    string
	client *pagerduty.Client
}

// NewPagerDuty returns a PagerDuty channel.
func NewPagerDuty(c PagerDutyConfig) *PagerDuty {
	endpoint := strings.TrimSuffix(c.EventsURL, "/")
	if endpoint == "" {
		endpoint = DefaultPagerDutyEventsURL
	}
	endpoint = strings.TrimSuffix(endpoint, "/v2/enqueue")
	// Always the Client method: the package-level ManageEventWithContext
	// is hard-wired to events.pagerduty.com.
	pc := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(endpoint))
	pc.HTTPClient = recordingClient(c.HTTPClient, DefaultSendTimeout)
	return &PagerDuty{key: c.RoutingKey, client: pc}
}

// Name returns "pagerduty".
func (p *PagerDuty) Name() string { return "pagerduty" }

// String hides the routing key from %v.
func (p *PagerDuty) String() string { return "pagerduty routing key [redacted]" }

// Wants reports whether a is for an incident tool.
func (p *PagerDuty) Wants(a Alert) bool { return a.Action != ActionNone && a.DedupKey != "" }

// Send sends a once (a test alert: a trigger, then a resolve).
func (p *PagerDuty) Send(ctx context.Context, a Alert) error {
	if err := p.send(ctx, pagerDutyEvent(p.key, a)); err != nil || a.Kind != KindTest {
		return err
	}
	return p.send(ctx, &pagerduty.V2Event{RoutingKey: p.key, Action: string(ActionResolve), DedupKey: a.DedupKey})
}

func (p *PagerDuty) send(ctx context.Context, ev *pagerduty.V2Event) error {
	ctx, x := withExchange(ctx)
	_, err := p.client.ManageEventWithContext(ctx, ev)
	if err == nil {
		return nil
	}
	if st, _, _ := x.get(); st >= 200 && st < 300 {
		return nil // accepted; go-pagerduty fails on a 2xx without a JSON body
	}
	return deliveryError(p.Name(), err, x, p.key)
}

// PagerDuty's limit on a summary.
const pagerDutySummaryMax = 1024

func pagerDutyEvent(key string, a Alert) *pagerduty.V2Event {
	ev := &pagerduty.V2Event{RoutingKey: key, Action: string(a.Action), DedupKey: a.DedupKey,
		Client: "HeliosProxy", ClientURL: a.DashboardURL}
	if a.Action == ActionResolve {
		return ev // a resolve carries no payload
	}
	ev.Payload = &pagerduty.V2Payload{
		Summary:   truncate(summary(a), pagerDutySummaryMax),
		Source:    a.Source,
		Severity:  string(a.Severity),
		Timestamp: eventTime(a).UTC().Format(time.RFC3339Nano),
		Component: a.Backend,
		Group:     a.Source,
		Class:     string(a.Kind),
		Details:   pagerDutyDetails(a),
	}
	return ev
}

func pagerDutyDetails(a Alert) map[string]any {
	d := map[string]any{"kind": string(a.Kind), "cluster": a.Source}
	if a.DashboardURL != "" {
		d["dashboard"] = a.DashboardURL
	}
	if a.Event.Backend != "" {
		for k, v := range eventDetails(a.Event) {
			d[k] = v
		}
	}
	switch a.Kind {
	case KindRecoveryFailed:
		d["attempt"] = a.Event.Attempt
		d["recovery_failures_not_announced"] = a.Suppressed
	case KindCascade:
		d["backends"] = a.Backends
		d["open"] = openNow(a)
		d["open_circuits"] = len(openNow(a))
		if a.Backend != "" {
			d["joined"] = a.Backend
		}
		members := make([]map[string]any, 0, len(a.Members))
		for _, m := range a.Members {
			members = append(members, eventDetails(m))
		}
		d["members"] = members
	}
	return d
}

func eventDetails(ev status.Event) map[string]any {
	d := map[string]any{
		"backend":                ev.Backend,
		"transition":             ev.From.String() + " -> " + ev.To.String(),
		"reason":                 ev.Reason,
		"detail":                 ev.Detail,
		"latency_p95_ms":         ev.LatencyP95Ms,
		"latency_p99_ms":         ev.LatencyP99Ms,
		"error_rate":             ev.ErrorRate,
		"connection_saturation":  ev.ConnectionSaturation,
		"time_in_previous_state": ev.InPrevious.String(),
		"event_id":               ev.ID,
	}
	if !ev.Time.IsZero() {
		d["event_time"] = ev.Time.UTC().Format(time.RFC3339Nano)
	}
	return d
}
