// Package alerts turns circuit events into Slack messages and PagerDuty
// pages without ever slowing the proxy.
//
// A Dispatcher reads status.Events (Run, or Handle for single events),
// decides with its policy which notifications they mean, and queues each
// notification (an Alert) for every Channel that wants it. One goroutine per
// channel delivers that channel's alerts in order, retrying with backoff.
//
// # Policy
//
//   - CircuitOpened (automatic, not an override), when AlertOnCircuitOpen:
//     a PagerDuty trigger with severity "error" and the dedup key
//     "heliosproxy/<cluster>/<backend>", and a Slack message. The opening is
//     held for CascadeDelay (default 5s) first, so that a CascadeDetected
//     arriving meanwhile can fold it into the cascade page (below).
//   - CascadeDetected, when AlertOnMultipleCircuitsOpen: one PagerDuty
//     trigger with severity "critical", the dedup key
//     "heliosproxy/<cluster>/cascade" and every listed backend, and one Slack
//     message listing them. The openings of listed backends still held are
//     folded into it and never paged on their own. A listed backend whose
//     opening came more than CascadeDelay earlier has already been paged; it
//     keeps that incident and the cascade page is an escalation on top. A
//     backend that opens while the cascade incident is open joins it: the
//     cascade is triggered again with the longer list (same dedup key, so
//     PagerDuty updates the alert and pages nobody again). Its opening is
//     held until the others opening with it are due too (CascadeDelay
//     after the first of them), so that backends opening together make
//     one update, not a message each.
//   - RecoveryFailed, when AlertOnRecoveryFailure: the backend's open incident
//     (its own, or the cascade it belongs to) is triggered again with the
//     same dedup key and the new details, which PagerDuty records as an
//     update of the same alert, and Slack gets a message. At most one such
//     update per backend per RecoveryUpdateInterval (default 5m; the
//     suppressed ones are counted in the next). With no open incident (say
//     AlertOnCircuitOpen is off), the failure opens the backend's incident.
//   - CircuitClosed of a backend with an incident: after the backend has
//     stayed closed for FlapWindow (default 2m), a PagerDuty resolve with the
//     incident's dedup key and a Slack recovery message. The last member of a
//     cascade to recover also resolves the cascade incident (a second
//     alert, "cascade over"). Closes of backends without an incident are
//     not announced.
//   - UserBreakerOpened (a role isolated by its own breaker,
//     user_isolation_on_abuse) and UserBreakerClosed: a Slack message
//     (warning, then info), never a page: one role is refused, the
//     backends serve everyone else.
//   - Operator overrides, recognised by Reason "override" on CircuitOpened
//     and CircuitClosed (what the proxy publishes for Force and Unforce), or
//     an event type starting with "Override": one Slack message with
//     severity info per operator action (from OverrideSet or
//     OverrideCleared, which name the operator and the reason; the
//     transition it causes adds none), never a page. When an override closes a circuit that has an
//     incident (or one whose resolve is being held), the incident resolves at
//     once, without waiting for FlapWindow: an operator acted.
//   - BackendTrustsProxy (a backend lets the proxy's connections in without
//     a password, so that clients of the proxy could log in as any role
//     with any password): while the proxy refuses pass-through logins from
//     other hosts because of it (Reason "pass_through_refused"), a
//     PagerDuty trigger with severity "error" and the dedup key
//     "heliosproxy/<cluster>/<backend>/trusts-proxy", and a Slack message;
//     when the operator allowed them (allow_trust_pass_through, Reason
//     "pass_through_allowed"), a Slack warning only. BackendTrustCleared
//     resolves that incident and posts to Slack. No alert_on_* switch turns
//     these off: fix pg_hba.conf.
//   - BackendFenced (a backend claims to be primary while another one is:
//     an old primary back after a failover, a split brain): a PagerDuty
//     trigger with severity "critical" and the dedup key
//     "heliosproxy/<cluster>/<backend>/fenced", and a Slack message;
//     BackendUnfenced resolves it. BackendRoleChanged (a promotion or a
//     demotion) and BackendRoleMismatch (a configured role the backend
//     contradicts): a Slack message only. ReplicaLagging and
//     ReplicaCaughtUp alert nobody: lag is routine, it shows in the status
//     and metrics.
//   - ConfigReloaded that drained backends (Event.Backends: removed, or
//     moved to another server under the same name, which starts with a
//     closed circuit of its own): such a backend's held opening is never paged, and each incident it has open
//     (its own, its part in the cascade, a fence, a trust page) resolves at
//     once, with a Slack message, since nothing would close it any more;
//     the backends of one reload that were only part of the cascade share
//     one message. A removed backend without an open incident is not
//     announced.
//   - CircuitHalfOpened and unknown event types alert nobody.
//
// Flap damping: the resolve is held for FlapWindow after a close. A backend
// that reopens within it continues its incident, so opening and closing
// five times within the window gives one trigger, one Slack "OPEN" message,
// and, once the backend has stayed closed for FlapWindow, one resolve and
// one Slack recovery message that counts the reopenings. Suppressed: every
// Slack and PagerDuty message of the closes and reopenings in between. The
// page always resolves in the end: a held resolve is sent when the window
// runs out, when an override closes the circuit, or when Run shuts down.
//
// # Delivery
//
// Handle and the event loop never block: events and alerts wait in bounded
// queues (QueueSize each) and are dropped, logged and counted when a queue
// is full. Each channel's alerts go out one at a time in order, so a resolve
// never overtakes its trigger, and a receiver that hangs delays only its own
// channel. A failed attempt (timeout, network error, HTTP 408, 429 or 5xx)
// is retried after an exponential backoff with jitter, or exactly after
// Retry-After when the receiver sent one; other 4xx answers are permanent.
// An information-only alert is given up after MaxAttempts; a trigger or a
// resolve of an incident (a page, and its Slack message) is retried for
// IncidentRetryFor, whatever the number of attempts, so that a receiver
// down for minutes delays a page but does not lose it. Either is given up
// at once on a permanent error, and logged at Error level when given up.
// Delivery outcomes are counted in Stats. Webhook URLs and routing keys
// never appear in logs or errors.
//
// # Cluster
//
// With Config.Peers, several proxy instances send each notification once
// between them (Alertmanager's HA design, see Peers): the member at
// position p among the live members, by name, waits p × PeerTimeout after
// deciding an alert, then looks in the gossiped notification log under
// the alert's key (per channel: the incident's dedup key, whose latest
// action the log holds; a recovery failure's attempt; an information
// alert's content) and skips the alert when a member has already sent it:
// a trigger of an incident that is triggered, a resolve of one that is
// resolved, a recovery failure already announced, the same information
// since PeerTimeout before. So one Slack message and one PagerDuty
// trigger and resolve go out per incident, and when the member that
// paged dies mid-incident, the first live member whose own circuit
// closes resolves it. Override events applied from another member
// (Event.Node set) alert nobody here: the member where the operator acted
// announces them.
package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// Kind says what an Alert announces.
type Kind string

// The kinds of alert.
const (
	KindOpened          Kind = "circuit_opened"       // one circuit opened
	KindCascade         Kind = "cascade"              // several circuits opened together (or one joined them)
	KindRecoveryFailed  Kind = "recovery_failed"      // a recovery attempt failed, the circuit is open again
	KindClosed          Kind = "circuit_closed"       // a circuit with an incident closed and stayed closed
	KindRemoved         Kind = "backend_removed"      // a reload removed (or moved to another server) a backend that had an incident open
	KindCascadeResolved Kind = "cascade_resolved"     // every circuit of a cascade has recovered
	KindOverride        Kind = "override"             // an operator set or removed an override
	KindTrustsProxy     Kind = "trusts_proxy"         // a backend lets the proxy's connections in without a password
	KindTrustCleared    Kind = "trust_cleared"        // that backend asks for a password again
	KindFenced          Kind = "fenced"               // a backend claims to be a second primary and is fenced
	KindUnfenced        Kind = "unfenced"             // it no longer is
	KindRoleChanged     Kind = "role_changed"         // a backend was promoted or demoted (a failover)
	KindRoleMismatch    Kind = "role_mismatch"        // a configured role contradicts the backend
	KindPatternOpened   Kind = "query_pattern_opened" // a query pattern's breaker opened: its executions are refused (chat only, never paged)
	KindPatternClosed   Kind = "query_pattern_closed" // it closed again (chat only)
	KindUserIsolated    Kind = "user_isolated"        // a role's own breaker opened: its requests are refused (chat only, never paged)
	KindUserRestored    Kind = "user_restored"        // that role's breaker closed again (chat only)
	KindTest            Kind = "test"                 // Dispatcher.Test
)

// Action is what an incident tool such as PagerDuty does with an Alert.
type Action string

// The actions.
const (
	ActionNone    Action = ""        // information only: chat channels show it, incident tools ignore it
	ActionTrigger Action = "trigger" // open the incident DedupKey, or update it when it is open
	ActionResolve Action = "resolve" // resolve the incident DedupKey
)

// Severity follows PagerDuty's Events v2 severities.
type Severity string

// The severities.
const (
	SeverityCritical Severity = "critical"
	SeverityError    Severity = "error"
	SeverityWarning  Severity = "warning"
	SeverityInfo     Severity = "info"
)

// Alert is one notification, decided by the Dispatcher's policy and
// rendered by each Channel in its own format.
type Alert struct {
	Kind     Kind
	Action   Action
	DedupKey string // the incident this alert belongs to; empty when Action is ActionNone
	Severity Severity
	Source   string // the proxy cluster (Config.Cluster)
	Backend  string // the backend concerned; empty for KindCascadeResolved and KindTest
	// Backends lists, for KindCascade and KindCascadeResolved, every backend
	// of the cascade incident, in the order they were added.
	Backends []string
	// Open lists, for KindCascade, the backends of Backends whose circuits
	// are open now: those that recovered or were removed since they joined
	// the incident are in Backends only.
	Open []string
	// Members are, for KindCascade, the opening events of the backends in
	// Backends where they are known (their metrics and reasons).
	Members []status.Event
	// Event is the event behind the alert: its reason, detail and metrics.
	Event status.Event
	// Flaps is, for KindClosed, how many times the backend reopened during
	// this incident (suppressed by flap damping).
	Flaps int
	// Suppressed is, for KindRecoveryFailed, how many earlier recovery
	// failures of this incident were not announced (RecoveryUpdateInterval).
	Suppressed   int
	DashboardURL string    // links to the dashboard when not empty
	Time         time.Time // when the dispatcher decided to send it
}

// Channel delivers alerts to one destination. Send makes one attempt and
// honours ctx; the Dispatcher retries. Its errors must not contain secrets;
// a *DeliveryError tells the Dispatcher whether and when to retry (any other
// error is retried with backoff). A Channel may also implement Filter.
type Channel interface {
	Name() string
	Send(ctx context.Context, a Alert) error
}

// Filter is implemented by channels that take only some alerts (PagerDuty
// ignores information-only ones). Channels without it get every alert.
type Filter interface {
	Wants(a Alert) bool
}

// DeliveryError is a failed delivery attempt. Its text never contains the
// webhook URL or routing key.
type DeliveryError struct {
	Channel    string
	StatusCode int           // the receiver's HTTP status; 0 when there was no answer
	RetryAfter time.Duration // the receiver's Retry-After; 0 when it sent none
	Permanent  bool          // retrying the same alert cannot succeed (for example HTTP 400 or 404)
	msg        string        // redacted
	cause      error         // context.Canceled or context.DeadlineExceeded when one caused it, else nil
}

func (e *DeliveryError) Error() string { return e.Channel + ": " + e.msg }

// Unwrap returns context.Canceled or context.DeadlineExceeded when the
// attempt failed because its context ended, else nil. The library's own
// error is not kept: its text can contain the webhook URL.
func (e *DeliveryError) Unwrap() error { return e.cause }

// Config is the Dispatcher's configuration. Durations and sizes of zero
// take the defaults given; cmd fills it from config.Alerts.
type Config struct {
	// Cluster names this proxy cluster in dedup keys and as PagerDuty's
	// source, so several proxy instances of one cluster share incidents;
	// empty means the host name.
	Cluster string
	// DashboardURL, when not empty, is linked from every alert.
	DashboardURL string

	// AlertOnCircuitOpen, AlertOnMultipleCircuitsOpen and
	// AlertOnRecoveryFailure are the alert_on_* switches. The zero value,
	// false, turns that alert off (config's defaults are true).
	AlertOnCircuitOpen          bool
	AlertOnMultipleCircuitsOpen bool
	AlertOnRecoveryFailure      bool

	// CascadeDelay is how long an opening is held before it is paged, so
	// that a CascadeDetected arriving meanwhile folds it into one cascade
	// page; default 5s, negative pages at once. Only used when
	// AlertOnMultipleCircuitsOpen is set.
	CascadeDelay time.Duration
	// FlapWindow is how long a backend must stay closed before its
	// incident resolves; reopening within it continues the incident.
	// Default 2m; negative resolves at once (no flap damping).
	FlapWindow time.Duration
	// RecoveryUpdateInterval is the least time between two announced
	// recovery failures of one backend; default 5m, negative announces every
	// one.
	RecoveryUpdateInterval time.Duration

	// QueueSize bounds the events waiting for the policy and, separately,
	// each channel's alerts waiting for delivery; default 256.
	QueueSize int
	// MaxAttempts is how many times one information-only alert
	// (ActionNone) is tried on one channel before it is given up; default 8.
	MaxAttempts int
	// IncidentRetryFor is how long a trigger or resolve is retried on one
	// channel, from its first attempt, before it is given up (and at least
	// MaxAttempts times); default 1h.
	IncidentRetryFor time.Duration
	// BackoffBase and BackoffMax shape the wait before retry n: a random
	// time between half and all of min(BackoffBase·2^(n-1), BackoffMax).
	// Defaults 1s and 1m.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// SendTimeout bounds one delivery attempt; default 10s.
	SendTimeout time.Duration
	// ShutdownGrace is how long Run keeps delivering queued alerts after
	// its context ends; default 5s.
	ShutdownGrace time.Duration

	// SlackWebhookURL (a secret) and PagerDutyRoutingKey (a secret) are the
	// channels Channels builds; empty turns that channel off.
	SlackWebhookURL     string
	PagerDutyRoutingKey string
	// PagerDutyEventsURL is the Events API v2 base URL; empty means
	// https://events.pagerduty.com (EU accounts: https://events.eu.pagerduty.com).
	PagerDutyEventsURL string
	// HTTPClient is used by the channels Channels builds; nil means a client
	// with a SendTimeout timeout.
	HTTPClient *http.Client

	// IncidentsFile, when not empty, keeps the open circuit incidents
	// across restarts (under [state] dir): a run takes up those its
	// previous one left open, and resolves them once their backends stay
	// healthy (see policy.restore).
	IncidentsFile string
	// RestoreGrace is the least time an incident taken up from the
	// previous run waits for its backend's circuit to open again before
	// it resolves (FlapWindow when longer); default 30s: a backend still
	// down fails its first health checks well within it.
	RestoreGrace time.Duration

	// Peers, in cluster mode, is the cluster: each alert then goes out
	// from one member only (see Peers). nil: this instance sends all.
	Peers Peers
	// PeerTimeout is how much longer each position among the members
	// waits before sending, for the members before it to send and
	// record; default 5s.
	PeerTimeout time.Duration
}

// Defaults.
const (
	DefaultCascadeDelay           = 5 * time.Second
	DefaultFlapWindow             = 2 * time.Minute
	DefaultRecoveryUpdateInterval = 5 * time.Minute
	DefaultQueueSize              = 256
	DefaultMaxAttempts            = 8
	DefaultIncidentRetryFor       = time.Hour
	DefaultRestoreGrace           = 30 * time.Second
	DefaultBackoffBase            = time.Second
	DefaultBackoffMax             = time.Minute
	DefaultSendTimeout            = 10 * time.Second
	DefaultShutdownGrace          = 5 * time.Second
)

// withDefaults returns c with the zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.Cluster == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			c.Cluster = h
		} else {
			c.Cluster = "heliosproxy"
		}
	}
	dur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	dur(&c.CascadeDelay, DefaultCascadeDelay)
	dur(&c.FlapWindow, DefaultFlapWindow)
	dur(&c.RecoveryUpdateInterval, DefaultRecoveryUpdateInterval)
	dur(&c.BackoffBase, DefaultBackoffBase)
	dur(&c.BackoffMax, DefaultBackoffMax)
	dur(&c.SendTimeout, DefaultSendTimeout)
	dur(&c.ShutdownGrace, DefaultShutdownGrace)
	dur(&c.IncidentRetryFor, DefaultIncidentRetryFor)
	dur(&c.PeerTimeout, DefaultPeerTimeout)
	dur(&c.RestoreGrace, DefaultRestoreGrace)
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.BackoffMax < c.BackoffBase {
		c.BackoffMax = c.BackoffBase
	}
	return c
}

// Channels returns the channels c configures: Slack when SlackWebhookURL is
// set, PagerDuty when PagerDutyRoutingKey is set.
func (c Config) Channels() []Channel {
	client := c.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: c.withDefaults().SendTimeout}
	}
	var out []Channel
	if c.SlackWebhookURL != "" {
		out = append(out, NewSlack(SlackConfig{WebhookURL: c.SlackWebhookURL, HTTPClient: client}))
	}
	if c.PagerDutyRoutingKey != "" {
		out = append(out, NewPagerDuty(PagerDutyConfig{RoutingKey: c.PagerDutyRoutingKey, EventsURL: c.PagerDutyEventsURL, HTTPClient: client}))
	}
	return out
}

// String describes c without its secrets, so that printing it with %v is
// safe.
func (c Config) String() string {
	return fmt.Sprintf("alerts.Config{Cluster:%q DashboardURL:%q Slack:%s PagerDuty:%s PagerDutyEventsURL:%q}",
		c.Cluster, redactURL(c.DashboardURL), configured(c.SlackWebhookURL), configured(c.PagerDutyRoutingKey), redactURL(c.PagerDutyEventsURL))
}

// GoString hides the secrets from %#v.
func (c Config) GoString() string { return c.String() }

// LogValue logs c without its secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("cluster", c.Cluster),
		slog.String("dashboard_url", redactURL(c.DashboardURL)),
		slog.String("slack", configured(c.SlackWebhookURL)),
		slog.String("pagerduty", configured(c.PagerDutyRoutingKey)),
		slog.String("pagerduty_events_url", redactURL(c.PagerDutyEventsURL)),
	)
}

// redactURL hides the password of a URL's user information
// (https://user:password@host/…); anything else is returned as it is.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return u.Redacted()
		}
	}
	return s
}

func configured(secret string) string {
	if secret == "" {
		return "off"
	}
	return "[redacted]"
}
