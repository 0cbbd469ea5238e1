package api

import (
	"cmp"
	"math"
	"strings"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// The JSON documents of the API. Field names are the SQL column names of
// helios_proxy.circuit_breaker_status and helios_proxy.circuit_events, in
// the same order, with the same NULLs: a pointer that is nil is JSON null.

// backendJSON is one row of helios_proxy.circuit_breaker_status.
type backendJSON struct {
	BackendName          string               `json:"backend_name"`
	CircuitState         status.CircuitState  `json:"circuit_state"`
	LatencyP50Ms         float64              `json:"latency_p50_ms"`
	LatencyP95Ms         float64              `json:"latency_p95_ms"`
	LatencyP99Ms         float64              `json:"latency_p99_ms"`
	ErrorRate            float64              `json:"error_rate"`
	ConnectionSaturation float64              `json:"connection_saturation"`
	LastFailureTime      *time.Time           `json:"last_failure_time"`
	Host                 string               `json:"host"`
	Port                 int                  `json:"port"`
	Priority             int                  `json:"priority"`
	Weight               float64              `json:"weight"`
	TrafficShare         float64              `json:"traffic_share"`
	ActiveConnections    int                  `json:"active_connections"`
	MaxConnections       int                  `json:"max_connections"`
	QueueDepth           int                  `json:"queue_depth"`
	StateSince           *time.Time           `json:"state_since"`
	OpenReason           *string              `json:"open_reason"`
	Override             *status.CircuitState `json:"override"`
	RequestsTotal        uint64               `json:"requests_total"`
	FailuresTotal        uint64               `json:"failures_total"`
	RejectedTotal        uint64               `json:"rejected_total"`
	TransitionsTotal     uint64               `json:"transitions_total"`
	ReplicationLagMs     float64              `json:"replication_lag_ms"`
	RampFactor           float64              `json:"ramp_factor"`
	ReadOnly             bool                 `json:"read_only"`
	TrustsProxy          bool                 `json:"trusts_proxy"`
	TrustedRoles         []string             `json:"trusted_roles"` // null when none; SQL has them comma-separated
	Role                 status.Role          `json:"role"`
	Timeline             *int64               `json:"timeline"` // null when unknown
	ReplicationLagBytes  uint64               `json:"replication_lag_bytes"`
	Routing              status.Routing       `json:"routing"`
	FencedReason         *string              `json:"fenced_reason"`
	ObservedRole         status.Role          `json:"observed_role"`
	BackendWaiting       *int                 `json:"backend_waiting"` // null when not collected
	AdmissionLimit       int                  `json:"admission_limit"`
	AdmissionInflight    int                  `json:"admission_inflight"`
	AdmissionQueued      int                  `json:"admission_queued"`
	ShedTotal            uint64               `json:"shed_total"`
	// Present only while an override is set.
	OverrideReason  *string   `json:"override_reason,omitempty"`
	OverrideAuthor  *string   `json:"override_author,omitempty"`
	OverrideExpires *nullTime `json:"override_expires,omitempty"`
}

// nullTime is a time that is JSON null when zero; as a pointer field with
// omitempty it is absent when nil, null when zero, a time otherwise.
type nullTime struct{ t time.Time }

func (n nullTime) MarshalJSON() ([]byte, error) {
	if n.t.IsZero() {
		return []byte("null"), nil
	}
	return n.t.UTC().MarshalJSON()
}

func toBackend(b status.Backend) backendJSON {
	j := backendJSON{
		BackendName:          b.Name,
		CircuitState:         b.CircuitState,
		LatencyP50Ms:         finite(b.LatencyP50Ms),
		LatencyP95Ms:         finite(b.LatencyP95Ms),
		LatencyP99Ms:         finite(b.LatencyP99Ms),
		ErrorRate:            finite(b.ErrorRate),
		ConnectionSaturation: finite(b.ConnectionSaturation),
		LastFailureTime:      timePtr(b.LastFailureTime),
		Host:                 b.Host,
		Port:                 b.Port,
		Priority:             b.Priority,
		Weight:               finite(b.Weight),
		TrafficShare:         finite(b.TrafficShare),
		ActiveConnections:    max(b.ActiveConnections, 0),
		MaxConnections:       max(b.MaxConnections, 0),
		QueueDepth:           max(b.QueueDepth, 0),
		StateSince:           timePtr(b.StateSince),
		OpenReason:           strPtr(b.OpenReason),
		Override:             statePtr(b.Override),
		RequestsTotal:        b.RequestsTotal,
		FailuresTotal:        b.FailuresTotal,
		RejectedTotal:        b.RejectedTotal,
		TransitionsTotal:     b.TransitionsTotal,
		ReplicationLagMs:     finite(b.ReplicationLagMs),
		RampFactor:           finite(b.RampFactor),
		ReadOnly:             b.ReadOnly,
		TrustsProxy:          b.TrustsProxy,
		Role:                 cmp.Or(b.Role, status.RoleUnknown),
		ReplicationLagBytes:  b.ReplicationLagBytes,
		Routing:              cmp.Or(b.Routing, status.RoutingReadWrite),
		FencedReason:         strPtr(b.FencedReason),
		ObservedRole:         cmp.Or(b.ObservedRole, status.RoleUnknown),
		AdmissionLimit:       max(b.AdmissionLimit, 0),
		AdmissionInflight:    max(b.AdmissionInflight, 0),
		AdmissionQueued:      max(b.AdmissionQueued, 0),
		ShedTotal:            b.ShedTotal,
	}
	if b.Timeline != 0 {
		j.Timeline = &b.Timeline
	}
	if b.BackendWaiting >= 0 {
		j.BackendWaiting = &b.BackendWaiting
	}
	if len(b.TrustedRoles) > 0 {
		j.TrustedRoles = b.TrustedRoles
	}
	if b.Override != status.NoState {
		j.OverrideReason = &b.OverrideReason
		j.OverrideAuthor = &b.OverrideAuthor
		j.OverrideExpires = &nullTime{b.OverrideExpires}
	}
	return j
}

// statusJSON is GET /circuit-breaker/status.
type statusJSON struct {
	Backends  []backendJSON `json:"backends"`
	Timestamp time.Time     `json:"timestamp"`
}

// eventJSON is one row of helios_proxy.circuit_events, plus the author of
// operator actions.
type eventJSON struct {
	ID                   uint64               `json:"id"`
	EventTime            time.Time            `json:"event_time"`
	EventType            string               `json:"event_type"`
	BackendName          *string              `json:"backend_name"`
	FromState            *status.CircuitState `json:"from_state"`
	ToState              *status.CircuitState `json:"to_state"`
	Reason               *string              `json:"reason"`
	Detail               *string              `json:"detail"`
	Attempt              *int                 `json:"attempt"`
	RecoveryDurationMs   *float64             `json:"recovery_duration_ms"`
	InPreviousStateMs    *float64             `json:"in_previous_state_ms"`
	Backends             []string             `json:"backends"` // null when none
	LatencyP95Ms         float64              `json:"latency_p95_ms"`
	LatencyP99Ms         float64              `json:"latency_p99_ms"`
	ErrorRate            float64              `json:"error_rate"`
	ConnectionSaturation float64              `json:"connection_saturation"`
	Author               *string              `json:"author"`
}

func toEvent(e status.Event) eventJSON {
	j := eventJSON{
		ID:                   e.ID,
		EventTime:            e.Time.UTC(),
		EventType:            string(e.Type),
		BackendName:          strPtr(e.Backend),
		FromState:            statePtr(e.From),
		ToState:              statePtr(e.To),
		Reason:               strPtr(e.Reason),
		Detail:               strPtr(e.Detail),
		LatencyP95Ms:         finite(e.LatencyP95Ms),
		LatencyP99Ms:         finite(e.LatencyP99Ms),
		ErrorRate:            finite(e.ErrorRate),
		ConnectionSaturation: finite(e.ConnectionSaturation),
		Author:               strPtr(e.Author),
	}
	// The same NULL rules as the SQL table (statusdb).
	if e.Attempt != 0 {
		j.Attempt = &e.Attempt
	}
	if e.Type == status.CircuitClosed || e.RecoveryDuration != 0 {
		v := millis(e.RecoveryDuration)
		j.RecoveryDurationMs = &v
	}
	if e.From != status.NoState || e.InPrevious != 0 {
		v := millis(e.InPrevious)
		j.InPreviousStateMs = &v
	}
	if len(e.Backends) > 0 {
		j.Backends = e.Backends
	}
	return j
}

// eventsJSON is GET /circuit-breaker/events.
type eventsJSON struct {
	Events []eventJSON `json:"events"`
}

// overrideRequest is the body of PUT .../override. Pointers tell a missing
// field from an empty one.
type overrideRequest struct {
	State  *string `json:"state"`
	Reason *string `json:"reason"`
	TTL    *string `json:"ttl"`
}

// overrideJSON is the override as set.
type overrideJSON struct {
	BackendName string              `json:"backend_name"`
	State       status.CircuitState `json:"state"`
	Reason      string              `json:"reason"`
	Author      string              `json:"author"`
	Created     time.Time           `json:"created"`
	Expires     *time.Time          `json:"expires"`
}

func toOverride(o status.Override) overrideJSON {
	return overrideJSON{
		BackendName: o.Backend,
		State:       o.State,
		Reason:      o.Reason,
		Author:      o.Author,
		Created:     o.Created.UTC(),
		Expires:     timePtr(o.Expires),
	}
}

// reloadJSON is a successful POST /config/reload. Lists are never null.
type reloadJSON struct {
	Added           []string `json:"added"`
	Removed         []string `json:"removed"`
	Changed         []string `json:"changed"`
	RestartRequired []string `json:"restart_required"`
}

func toReload(r status.ReloadResult) reloadJSON {
	return reloadJSON{
		Added:           nonNil(r.Added),
		Removed:         nonNil(r.Removed),
		Changed:         nonNil(r.Changed),
		RestartRequired: nonNil(r.RestartRequired),
	}
}

// errorJSON is every error response.
type errorJSON struct {
	Error   string   `json:"error"`
	Details []string `json:"details"` // never null
}

// simpleStatus is GET /health and GET /ready.
type simpleStatus struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"` // why not ready
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// statePtr is nil for NoState, which JSON shows as null.
func statePtr(s status.CircuitState) *status.CircuitState {
	if s == status.NoState {
		return nil
	}
	return &s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// finite keeps NaN and infinities, which JSON cannot carry, out of
// responses: metric columns are 0 when there is no data.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// hasControl reports whether s contains a control character.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) })
}
