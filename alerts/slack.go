package alerts

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/heliosdb/heliosproxy/status"
)

// SlackConfig configures a Slack channel.
type SlackConfig struct {
	// WebhookURL is the incoming-webhook URL (a secret).
	WebhookURL string
	// HTTPClient sends the requests; nil means one with a 10s timeout. Its
	// Transport is wrapped, never modified.
	HTTPClient *http.Client
}

// Slack posts Block Kit messages to a Slack incoming webhook. It takes
// every alert.
type Slack struct {
	url     string
	secrets []string
	client  *http.Client
}

// NewSlack returns a Slack channel.
func NewSlack(c SlackConfig) *Slack {
	s := &Slack{url: c.WebhookURL, client: recordingClient(c.HTTPClient, DefaultSendTimeout)}
	s.secrets = []string{c.WebhookURL}
	if u, err := url.Parse(c.WebhookURL); err == nil {
		// The path holds the token; errors may print the URL re-encoded.
		s.secrets = append(s.secrets, u.String(), u.EscapedPath(), u.Path, u.RawQuery)
	}
	return s
}

// Name returns "slack".
func (s *Slack) Name() string { return "slack" }

// String hides the webhook URL from %v.
func (s *Slack) String() string { return "slack webhook [redacted]" }

// Send posts a to the webhook once. Any 2xx answer is success.
func (s *Slack) Send(ctx context.Context, a Alert) error {
	ctx, x := withExchange(ctx)
	err := slack.PostWebhookCustomHTTPContext(ctx, s.url, s.client, slackMessage(a))
	if err == nil {
		return nil
	}
	if st, _, _ := x.get(); st >= 200 && st < 300 {
		return nil // slack-go wants exactly 200; any 2xx means the receiver took it
	}
	return deliveryError(s.Name(), err, x, s.secrets...)
}

// Slack limits (https://api.slack.com/reference/block-kit/blocks).
const (
	slackHeaderMax  = 150
	slackTextMax    = 3000
	slackFieldMax   = 2000
	slackFieldsMax  = 10
	slackMembersMax = 20
)

func slackMessage(a Alert) *slack.WebhookMessage {
	md := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, truncate(s, slackTextMax), false, false)
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, truncate(headline(a), slackHeaderMax), true, false)),
	}
	ev := a.Event
	switch a.Kind {
	case KindCascade:
		var b strings.Builder
		open := openNow(a)
		fmt.Fprintf(&b, "*%d circuits open together* on `%s`", len(open), esc(a.Source))
		if a.Backend != "" {
			fmt.Fprintf(&b, "; *%s* has just joined", esc(a.Backend))
		}
		b.WriteString(":\n")
		for i, name := range open {
			if i == slackMembersMax {
				fmt.Fprintf(&b, "… and %d more\n", len(open)-i)
				break
			}
			fmt.Fprintf(&b, "• *%s*", esc(name))
			for _, m := range a.Members {
				if m.Backend == name {
					fmt.Fprintf(&b, ": `%s` %s (P95 %s, P99 %s, errors %s, saturation %s)", esc(m.Reason), esc(m.Detail),
						msText(m.LatencyP95Ms), msText(m.LatencyP99Ms), pct(m.ErrorRate), pct(m.ConnectionSaturation))
					break
				}
			}
			b.WriteString("\n")
		}
		if gone := len(a.Backends) - len(open); gone > 0 {
			var names []string
			for _, name := range a.Backends {
				if !slices.Contains(open, name) {
					names = append(names, esc(name))
				}
			}
			fmt.Fprintf(&b, "Recovered or removed since: %s\n", strings.Join(names, ", "))
		}
		blocks = append(blocks, slack.NewSectionBlock(md(b.String()), nil, nil))
	case KindCascadeResolved:
		how := "has recovered"
		if ev.Type == status.ConfigReloaded {
			how = "has recovered or been removed from the configuration"
		}
		blocks = append(blocks, slack.NewSectionBlock(md(fmt.Sprintf("Every circuit of the cascade %s: %s.", how, esc(strings.Join(a.Backends, ", ")))), nil, nil))
	case KindTest:
		blocks = append(blocks, slack.NewSectionBlock(md(fmt.Sprintf("Test notification from HeliosProxy `%s`: this channel is configured correctly.", esc(a.Source))), nil, nil))
	case KindOverride:
		text := "*Reason:* " + esc(orDash(ev.Detail))
		if ev.Type == status.OverrideSet && ev.To == status.Open {
			text += "\nNo new sessions go to it until the override is cleared or expires."
		}
		blocks = append(blocks, slack.NewSectionBlock(md(text), nil, nil))
	case KindPatternOpened, KindPatternClosed:
		text := fmt.Sprintf("*Pattern* `%s`: `%s`", esc(ev.Pattern), esc(orDash(ev.Query)))
		if ev.Reason != "" {
			text += "\n*Reason:* `" + esc(ev.Reason) + "` — " + esc(ev.Detail)
		}
		if a.Kind == KindPatternOpened {
			text += "\nIts executions get SQLSTATE 53400 until it recovers; every other query runs normally and no backend circuit is affected."
		}
		blocks = append(blocks, slack.NewSectionBlock(md(text), nil, nil))
	default:
		text := "*Reason:* `" + esc(orDash(ev.Reason)) + "`"
		if ev.Detail != "" {
			text += " — " + esc(ev.Detail)
		}
		blocks = append(blocks, slack.NewSectionBlock(md(text), nil, nil))
	}
	if !slices.Contains(noCircuitFields, a.Kind) && ev.Backend != "" {
		var fields []*slack.TextBlockObject
		field := func(name, value string) {
			if len(fields) < slackFieldsMax {
				fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType, truncate("*"+name+"*\n"+value, slackFieldMax), false, false))
			}
		}
		field("Transition", esc(orDash(ev.From.String()))+" → "+esc(orDash(ev.To.String())))
		field("Time in previous state", durText(ev.InPrevious))
		field("P95 latency", msText(ev.LatencyP95Ms))
		field("P99 latency", msText(ev.LatencyP99Ms))
		field("Error rate", pct(ev.ErrorRate))
		field("Saturation", pct(ev.ConnectionSaturation))
		if a.Kind == KindRecoveryFailed {
			field("Recovery attempt", fmt.Sprintf("%d (%d not announced)", ev.Attempt, a.Suppressed))
		}
		if a.Kind == KindClosed && ev.RecoveryDuration > 0 {
			field("Open for", durText(ev.RecoveryDuration))
		}
		if a.Kind == KindClosed && a.Flaps > 0 {
			field("Reopened (flapping)", fmt.Sprintf("%d times", a.Flaps))
		}
		blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	}
	ctxText := fmt.Sprintf("HeliosProxy `%s`", esc(a.Source))
	if a.DedupKey != "" {
		ctxText += fmt.Sprintf(" · incident `%s`", esc(a.DedupKey))
	}
	if t := eventTime(a); !t.IsZero() {
		ctxText += " · " + t.UTC().Format(time.RFC3339)
	}
	if a.DashboardURL != "" {
		ctxText += fmt.Sprintf(" · <%s|Open dashboard>", a.DashboardURL)
	}
	blocks = append(blocks, slack.NewDividerBlock(), slack.NewContextBlock("", md(ctxText)))
	return &slack.WebhookMessage{Text: summary(a), Blocks: &slack.Blocks{BlockSet: blocks}}
}

// noCircuitFields are the kinds of alert that say nothing about a
// circuit: their messages have no transition and metrics fields.
var noCircuitFields = []Kind{KindCascadeResolved, KindRemoved, KindOverride, KindTest, KindTrustsProxy, KindTrustCleared, KindFenced, KindUnfenced, KindRoleChanged, KindRoleMismatch,
	KindUserIsolated, KindUserRestored}

// headline is an alert's title.
func headline(a Alert) string {
	ev := a.Event
	switch a.Kind {
	case KindOpened:
		return "🔴 Circuit OPEN: " + a.Backend
	case KindCascade:
		if a.Backend != "" {
			return fmt.Sprintf("🚨 Cascade: %s joined, %d circuits OPEN", a.Backend, len(openNow(a)))
		}
		open := openNow(a)
		return fmt.Sprintf("🚨 Cascade: %d circuits OPEN (%s)", len(open), strings.Join(open, ", "))
	case KindRecoveryFailed:
		return fmt.Sprintf("🟠 Recovery failed: %s (attempt %d), circuit OPEN again", a.Backend, ev.Attempt)
	case KindClosed:
		if ev.Reason == reasonOverride {
			return "🟢 Circuit CLOSED by operator: " + a.Backend
		}
		return "🟢 Circuit CLOSED: " + a.Backend + " recovered"
	case KindCascadeResolved:
		if ev.Type == status.ConfigReloaded {
			return fmt.Sprintf("✅ Cascade over: its last open circuits were removed from the configuration (%d circuits in all)", len(a.Backends))
		}
		return fmt.Sprintf("✅ Cascade over: %d circuits closed", len(a.Backends))
	case KindRemoved:
		if a.Backend == "" && len(a.Backends) > 0 {
			return fmt.Sprintf("➖ %d backends removed from the configuration (or moved to another server): %s (their part in the cascade ends)",
				len(a.Backends), strings.Join(a.Backends, ", "))
		}
		return "➖ Backend removed from the configuration (or moved to another server): " + a.Backend + " (its incident is resolved)"
	case KindOverride:
		switch {
		case ev.Type == status.OverrideSet:
			return fmt.Sprintf("🔧 %s forced %s by %s", a.Backend, orDash(ev.To.String()), orDash(ev.Author))
		case ev.Type == status.OverrideCleared && ev.Detail == "expired":
			return fmt.Sprintf("🔧 Override on %s expired: the breaker decides again", a.Backend)
		case ev.Type == status.OverrideCleared:
			return fmt.Sprintf("🔧 Override on %s cleared by %s: the breaker decides again", a.Backend, orDash(ev.Author))
		}
		return fmt.Sprintf("🔧 Override on %s: %s (circuit %s)", a.Backend, orDash(ev.Detail), orDash(ev.To.String()))
	case KindPatternOpened:
		return "🟡 Query pattern refused (its breaker is OPEN): " + orDash(ev.Query)
	case KindPatternClosed:
		return "🟢 Query pattern served again: " + orDash(ev.Query)
	case KindTest:
		return "🧪 HeliosProxy test notification"
	case KindTrustsProxy:
		return "🔓 Backend trusts the proxy without a password: " + a.Backend
	case KindTrustCleared:
		return "🔒 Backend asks the proxy for passwords again: " + a.Backend
	case KindFenced:
		return "⛔ Second primary fenced: " + a.Backend + " gets no sessions"
	case KindUnfenced:
		return "✅ No longer fenced: " + a.Backend
	case KindRoleChanged:
		return "🔁 Role changed: " + a.Backend + " is now " + ev.Reason
	case KindRoleMismatch:
		return "⚠️ Configured role contradicted: " + a.Backend
	case KindUserIsolated:
		return "🚧 Role isolated: " + ev.Role + " on " + ev.Database + " (its requests are refused; other roles are served)"
	case KindUserRestored:
		return "✅ Role served again: " + ev.Role + " on " + ev.Database
	}
	return fmt.Sprintf("HeliosProxy %s: %s", a.Kind, a.Backend)
}

// openNow is, for a cascade alert, the backends of the incident whose
// circuits are open now (every backend of it when the alert does not say).
func openNow(a Alert) []string {
	if a.Open == nil {
		return a.Backends
	}
	return a.Open
}

// summary is one line for notifications and PagerDuty's summary.
func summary(a Alert) string {
	s := "[" + a.Source + "] " + headline(a)
	if a.Kind == KindOverride && a.Event.Type == status.OverrideSet && a.Event.Detail != "" {
		return s + ": " + a.Event.Detail
	}
	if r := a.Event.Reason; r != "" && a.Kind != KindCascade && a.Kind != KindCascadeResolved && a.Kind != KindTest && a.Kind != KindOverride {
		s += ": " + r
		if d := a.Event.Detail; d != "" {
			s += " (" + d + ")"
		}
	}
	return s
}

func eventTime(a Alert) time.Time {
	if !a.Event.Time.IsZero() {
		return a.Event.Time
	}
	return a.Time
}

// esc escapes text for Slack mrkdwn (https://api.slack.com/reference/surfaces/formatting#escaping).
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func msText(ms float64) string {
	if ms == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f ms", ms)
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }

func durText(d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	return d.Round(time.Millisecond).String()
}
