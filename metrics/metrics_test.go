package metrics

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/heliosdb/heliosproxy/status"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) // 1795341600

// source is a Source whose snapshot tests replace between scrapes.
type source struct {
	mu   sync.Mutex
	snap status.Snapshot
}

func (s *source) Snapshot() status.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap
}

func (s *source) set(snap status.Snapshot) {
	s.mu.Lock()
	s.snap = snap
	s.mu.Unlock()
}

// threeBackends has a closed primary, a replica forced OPEN by an operator
// and a half-open replica.
func threeBackends() status.Snapshot {
	return status.Snapshot{Taken: t0.Add(2 * time.Minute), Backends: []status.Backend{
		{
			Name: "primary", Host: "10.0.0.1", Port: 5432, Priority: 1, Weight: 1,
			CircuitState: status.Closed, StateSince: t0,
			LatencyP50Ms: 1.5, LatencyP95Ms: 4.25, LatencyP99Ms: 9.5,
			ErrorRate: 0.01, ConnectionSaturation: 0.25,
			TrafficShare: 0.5, ActiveConnections: 10, MaxConnections: 100, QueueDepth: 3,
			RampFactor:    1,
			RequestsTotal: 1000, FailuresTotal: 10, SuccessesTotal: 985, RejectedTotal: 0,
		},
		{
			Name: "replica1", Host: "10.0.0.2", Port: 5432, Priority: 1, Weight: 1, ReadOnly: true,
			CircuitState: status.Open, StateSince: t0.Add(60 * time.Second), OpenReason: "override",
			Override: status.Open, OverrideReason: "maintenance", OverrideAuthor: "alice",
			LatencyP50Ms: 2, LatencyP95Ms: 800, LatencyP99Ms: 2500,
			ErrorRate: 0.2, ConnectionSaturation: 0,
			MaxConnections: 200, ReplicationLagMs: 1500, TrustsProxy: true, TrustedRoles: []string{"*"},
			RequestsTotal: 50, FailuresTotal: 10, SuccessesTotal: 40, RejectedTotal: 42,
		},
		{
			Name: "replica2", Host: "10.0.0.3", Port: 5432, Priority: 2, Weight: 2, ReadOnly: true,
			CircuitState: status.HalfOpen, StateSince: t0.Add(90 * time.Second), OpenReason: "hard_failure",
			LatencyP50Ms: 3, LatencyP95Ms: 12, LatencyP99Ms: 40,
			ErrorRate: 0, ConnectionSaturation: 0.05,
			TrafficShare: 0.5, ActiveConnections: 10, MaxConnections: 0, ReplicationLagMs: 250,
			RampFactor:    0.1,
			RequestsTotal: 7, FailuresTotal: 0, SuccessesTotal: 7, RejectedTotal: 3,
		},
	}}
}

// snapshotNames are the metrics read from the snapshot alone.
var snapshotNames = []string{
	"helios_circuit_breaker_state",
	"helios_circuit_breaker_failures_total",
	"helios_circuit_breaker_successes_total",
	"helios_circuit_breaker_rejected_total",
	"helios_circuit_breaker_requests_total",
	"helios_circuit_breaker_override",
	"helios_circuit_breaker_open_reason",
	"helios_circuit_breaker_state_since_timestamp_seconds",
	"helios_backend_info",
	"helios_backend_latency_p50_milliseconds",
	"helios_backend_latency_p95_milliseconds",
	"helios_backend_latency_p99_milliseconds",
	"helios_backend_error_rate",
	"helios_backend_connection_saturation",
	"helios_backend_active_connections",
	"helios_backend_max_connections",
	"helios_backend_queue_depth",
	"helios_backend_traffic_share",
	"helios_backend_replication_lag_milliseconds",
	"helios_backend_ramp_factor",
	"helios_backend_trusts_proxy",
	"helios_client_connections",
	"helios_build_info",
}

const threeBackendsText = `
# HELP helios_circuit_breaker_state Circuit state of the backend: 0 closed, 1 open, 2 half-open.
# TYPE helios_circuit_breaker_state gauge
helios_circuit_breaker_state{backend="primary"} 0
helios_circuit_breaker_state{backend="replica1"} 1
helios_circuit_breaker_state{backend="replica2"} 2
# HELP helios_circuit_breaker_failures_total Requests, connects and health checks of the backend that counted as failures.
# TYPE helios_circuit_breaker_failures_total counter
helios_circuit_breaker_failures_total{backend="primary"} 10
helios_circuit_breaker_failures_total{backend="replica1"} 10
helios_circuit_breaker_failures_total{backend="replica2"} 0
# HELP helios_circuit_breaker_successes_total Requests of the backend that counted as successes.
# TYPE helios_circuit_breaker_successes_total counter
helios_circuit_breaker_successes_total{backend="primary"} 985
helios_circuit_breaker_successes_total{backend="replica1"} 40
helios_circuit_breaker_successes_total{backend="replica2"} 7
# HELP helios_circuit_breaker_rejected_total Requests not sent to the backend because its circuit did not admit them.
# TYPE helios_circuit_breaker_rejected_total counter
helios_circuit_breaker_rejected_total{backend="primary"} 0
helios_circuit_breaker_rejected_total{backend="replica1"} 42
helios_circuit_breaker_rejected_total{backend="replica2"} 3
# HELP helios_circuit_breaker_requests_total Requests admitted to the backend.
# TYPE helios_circuit_breaker_requests_total counter
helios_circuit_breaker_requests_total{backend="primary"} 1000
helios_circuit_breaker_requests_total{backend="replica1"} 50
helios_circuit_breaker_requests_total{backend="replica2"} 7
# HELP helios_circuit_breaker_override 1 while an operator override forces the backend's circuit to state (OPEN or CLOSED); absent without an override.
# TYPE helios_circuit_breaker_override gauge
helios_circuit_breaker_override{backend="replica1",state="OPEN"} 1
# HELP helios_circuit_breaker_open_reason 1 while the backend's circuit is OPEN or HALF_OPEN, with the reason it opened (hard_failure, hung, error_rate, latency_p95, latency_p99, saturation, recovery_failed, override); absent while CLOSED.
# TYPE helios_circuit_breaker_open_reason gauge
helios_circuit_breaker_open_reason{backend="replica1",reason="override"} 1
helios_circuit_breaker_open_reason{backend="replica2",reason="hard_failure"} 1
# HELP helios_circuit_breaker_state_since_timestamp_seconds Unix time at which the backend's circuit entered its current state.
# TYPE helios_circuit_breaker_state_since_timestamp_seconds gauge
helios_circuit_breaker_state_since_timestamp_seconds{backend="primary"} 1795341600
helios_circuit_breaker_state_since_timestamp_seconds{backend="replica1"} 1795341660
helios_circuit_breaker_state_since_timestamp_seconds{backend="replica2"} 1795341690
# HELP helios_backend_info Always 1; the labels are the backend's routing settings: priority (its tier) and read_only.
# TYPE helios_backend_info gauge
helios_backend_info{backend="primary",priority="1",read_only="false"} 1
helios_backend_info{backend="replica1",priority="1",read_only="true"} 1
helios_backend_info{backend="replica2",priority="2",read_only="true"} 1
# HELP helios_backend_latency_p50_milliseconds Median query latency of the backend over the health window, in milliseconds; 0 without data.
# TYPE helios_backend_latency_p50_milliseconds gauge
helios_backend_latency_p50_milliseconds{backend="primary"} 1.5
helios_backend_latency_p50_milliseconds{backend="replica1"} 2
helios_backend_latency_p50_milliseconds{backend="replica2"} 3
# HELP helios_backend_latency_p95_milliseconds 95th percentile query latency of the backend over the health window, in milliseconds; 0 without data.
# TYPE helios_backend_latency_p95_milliseconds gauge
helios_backend_latency_p95_milliseconds{backend="primary"} 4.25
helios_backend_latency_p95_milliseconds{backend="replica1"} 800
helios_backend_latency_p95_milliseconds{backend="replica2"} 12
# HELP helios_backend_latency_p99_milliseconds 99th percentile query latency of the backend over the health window, in milliseconds; 0 without data.
# TYPE helios_backend_latency_p99_milliseconds gauge
helios_backend_latency_p99_milliseconds{backend="primary"} 9.5
helios_backend_latency_p99_milliseconds{backend="replica1"} 2500
helios_backend_latency_p99_milliseconds{backend="replica2"} 40
# HELP helios_backend_error_rate Share of the backend's requests in the health window that failed, 0..1.
# TYPE helios_backend_error_rate gauge
helios_backend_error_rate{backend="primary"} 0.01
helios_backend_error_rate{backend="replica1"} 0.2
helios_backend_error_rate{backend="replica2"} 0
# HELP helios_backend_connection_saturation Share of the backend's connection capacity in use, 0..1.
# TYPE helios_backend_connection_saturation gauge
helios_backend_connection_saturation{backend="primary"} 0.25
helios_backend_connection_saturation{backend="replica1"} 0
helios_backend_connection_saturation{backend="replica2"} 0.05
# HELP helios_backend_active_connections Connections to the backend in use by client sessions.
# TYPE helios_backend_active_connections gauge
helios_backend_active_connections{backend="primary"} 10
helios_backend_active_connections{backend="replica1"} 0
helios_backend_active_connections{backend="replica2"} 10
# HELP helios_backend_max_connections The backend's max_connections setting; 0 if unknown.
# TYPE helios_backend_max_connections gauge
helios_backend_max_connections{backend="primary"} 100
helios_backend_max_connections{backend="replica1"} 200
helios_backend_max_connections{backend="replica2"} 0
# HELP helios_backend_queue_depth Requests waiting for a connection to the backend.
# TYPE helios_backend_queue_depth gauge
helios_backend_queue_depth{backend="primary"} 3
helios_backend_queue_depth{backend="replica1"} 0
helios_backend_queue_depth{backend="replica2"} 0
# HELP helios_backend_traffic_share The backend's share of active client sessions, 0..1.
# TYPE helios_backend_traffic_share gauge
helios_backend_traffic_share{backend="primary"} 0.5
helios_backend_traffic_share{backend="replica1"} 0
helios_backend_traffic_share{backend="replica2"} 0.5
# HELP helios_backend_replication_lag_milliseconds Replication lag of the backend, in milliseconds; 0 for a primary or when unknown.
# TYPE helios_backend_replication_lag_milliseconds gauge
helios_backend_replication_lag_milliseconds{backend="primary"} 0
helios_backend_replication_lag_milliseconds{backend="replica1"} 1500
helios_backend_replication_lag_milliseconds{backend="replica2"} 250
# HELP helios_backend_ramp_factor Share of its normal traffic the backend receives while ramping up after recovery, 0..1; 1 when fully recovered.
# TYPE helios_backend_ramp_factor gauge
helios_backend_ramp_factor{backend="primary"} 1
helios_backend_ramp_factor{backend="replica1"} 0
helios_backend_ramp_factor{backend="replica2"} 0.1
# HELP helios_backend_trusts_proxy 1 when the backend lets the proxy's connections in without a password (pg_hba.conf trust for the proxy's address), else 0.
# TYPE helios_backend_trusts_proxy gauge
helios_backend_trusts_proxy{backend="primary"} 0
helios_backend_trusts_proxy{backend="replica1"} 1
helios_backend_trusts_proxy{backend="replica2"} 0
# HELP helios_client_connections Client sessions connected to backends through the proxy (sum of the backends' active connections).
# TYPE helios_client_connections gauge
helios_client_connections 20
# HELP helios_build_info Always 1; the version label names the running HeliosProxy build.
# TYPE helios_build_info gauge
helios_build_info{version="v1.2.3"} 1
`

func TestSnapshotMetrics(t *testing.T) {
	m := New(&source{snap: threeBackends()}, Options{Version: "v1.2.3"})
	if err := testutil.CollectAndCompare(m, strings.NewReader(threeBackendsText), snapshotNames...); err != nil {
		t.Error(err)
	}
}

// gather scrapes m's registry and returns the value of every sample of the
// named metric, keyed by its labels as `k="v",…`.
func gather(t *testing.T, m *Metrics, name string) map[string]float64 {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.Metric {
			var ls []string
			for _, l := range mt.Label {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			var v float64
			switch {
			case mt.Gauge != nil:
				v = mt.Gauge.GetValue()
			case mt.Counter != nil:
				v = mt.Counter.GetValue()
			case mt.Histogram != nil:
				v = float64(mt.Histogram.GetSampleCount())
			}
			out[strings.Join(ls, ",")] = v
		}
	}
	return out
}

func TestScrapeReadsLiveSnapshot(t *testing.T) {
	src := &source{snap: threeBackends()}
	m := New(src, Options{})

	if got := gather(t, m, "helios_circuit_breaker_state")[`backend="primary"`]; got != 0 {
		t.Errorf("state{primary} = %v, want 0", got)
	}
	snap := threeBackends()
	snap.Backends[0].CircuitState = status.Open
	snap.Backends[0].RejectedTotal = 17
	snap.Backends[1].Override = status.NoState // override cleared
	snap.Backends[2].Override = status.Closed
	src.set(snap)

	if got := gather(t, m, "helios_circuit_breaker_state")[`backend="primary"`]; got != 1 {
		t.Errorf("state{primary} after it opened = %v, want 1", got)
	}
	if got := gather(t, m, "helios_circuit_breaker_rejected_total")[`backend="primary"`]; got != 17 {
		t.Errorf("rejected_total{primary} = %v, want 17", got)
	}
	want := map[string]float64{`backend="replica2",state="CLOSED"`: 1}
	if got := gather(t, m, "helios_circuit_breaker_override"); !mapsEqual(got, want) {
		t.Errorf("override = %v, want %v", got, want)
	}
}

func TestRemovedBackendDisappears(t *testing.T) {
	src := &source{snap: threeBackends()}
	m := New(src, Options{})
	m.ObserveQuery("replica1", time.Millisecond, "success")
	m.ObserveEvent(status.Event{Type: status.CircuitOpened, Backend: "replica1", From: status.Closed, To: status.Open})

	snap := threeBackends()
	snap.Backends = slices.Delete(snap.Backends, 1, 2) // remove replica1
	src.set(snap)

	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		for _, mt := range mf.Metric {
			for _, l := range mt.Label {
				if l.GetName() == "backend" && l.GetValue() == "replica1" {
					t.Errorf("%s still has a series for the removed backend replica1", mf.GetName())
				}
			}
		}
	}
	if got := gather(t, m, "helios_client_connections")[""]; got != 20 {
		t.Errorf("client_connections = %v, want 20", got)
	}

	// Back in the configuration, its counters continue where they were.
	src.set(threeBackends())
	if got := gather(t, m, "helios_circuit_breaker_state_transitions_total")[`backend="replica1",from="CLOSED",to="OPEN"`]; got != 1 {
		t.Errorf("transitions{replica1,CLOSED,OPEN} after re-adding = %v, want 1", got)
	}
	if got := gather(t, m, "helios_query_duration_seconds")[`backend="replica1",outcome="success"`]; got != 1 {
		t.Errorf("query_duration_seconds_count{replica1,success} after re-adding = %v, want 1", got)
	}
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// The latency and lag gauges keep DESIGN.md's _milliseconds names (they
// match the SQL columns); promlint's base-unit advice about them is the
// only problem allowed.
func TestLint(t *testing.T) {
	m := New(&source{snap: threeBackends()}, Options{
		Version: "v1.2.3",
		Alerts:  func() AlertStats { return AlertStats{Channels: []ChannelStats{{Channel: "slack", Sent: 1}}} },
	})
	m.ObserveQuery("primary", time.Millisecond, "success")
	m.ObserveEvent(status.Event{Type: status.CircuitClosed, Backend: "primary", From: status.HalfOpen, To: status.Closed, RecoveryDuration: time.Minute})

	problems, err := testutil.CollectAndLint(m)
	if err != nil {
		t.Fatalf("CollectAndLint: %v", err)
	}
	allowed := map[string]bool{
		"helios_backend_latency_p50_milliseconds":     true,
		"helios_backend_latency_p95_milliseconds":     true,
		"helios_backend_latency_p99_milliseconds":     true,
		"helios_backend_replication_lag_milliseconds": true,
	}
	for _, p := range problems {
		if allowed[p.Metric] && strings.Contains(p.Text, `use base unit "seconds" instead of "milliseconds"`) {
			continue
		}
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestObserveEvent(t *testing.T) {
	m := New(&source{snap: threeBackends()}, Options{})
	tr := func(typ status.EventType, backend string, from, to status.CircuitState, rec time.Duration) {
		m.ObserveEvent(status.Event{Type: typ, Time: t0, Backend: backend, From: from, To: to, RecoveryDuration: rec})
	}
	tr(status.CircuitOpened, "primary", status.Closed, status.Open, 0)
	tr(status.CircuitHalfOpened, "primary", status.Open, status.HalfOpen, 0)
	tr(status.RecoveryFailed, "primary", status.HalfOpen, status.Open, 0)
	tr(status.CircuitHalfOpened, "primary", status.Open, status.HalfOpen, 0)
	tr(status.CircuitClosed, "primary", status.HalfOpen, status.Closed, 95*time.Second)
	// An operator forces replica1 open, then closed.
	tr(status.CircuitOpened, "replica1", status.Closed, status.Open, 0)
	tr(status.CircuitClosed, "replica1", status.Open, status.Closed, 20*time.Second)
	// Not transitions: ignored.
	tr(status.OverrideSet, "replica1", status.Closed, status.Open, 0)
	tr(status.ConfigReloaded, "", status.NoState, status.NoState, 0)
	m.ObserveEvent(status.Event{Type: status.CascadeDetected, Backends: []string{"primary", "replica1"}})
	// A backend not in the snapshot is counted but not exported.
	tr(status.CircuitOpened, "ghost", status.Closed, status.Open, 0)

	const want = `
# HELP helios_circuit_breaker_state_transitions_total Circuit state transitions of the backend since the proxy started.
# TYPE helios_circuit_breaker_state_transitions_total counter
helios_circuit_breaker_state_transitions_total{backend="primary",from="CLOSED",to="OPEN"} 1
helios_circuit_breaker_state_transitions_total{backend="primary",from="HALF_OPEN",to="CLOSED"} 1
helios_circuit_breaker_state_transitions_total{backend="primary",from="HALF_OPEN",to="OPEN"} 1
helios_circuit_breaker_state_transitions_total{backend="primary",from="OPEN",to="HALF_OPEN"} 2
helios_circuit_breaker_state_transitions_total{backend="replica1",from="CLOSED",to="OPEN"} 1
helios_circuit_breaker_state_transitions_total{backend="replica1",from="HALF_OPEN",to="CLOSED"} 0
helios_circuit_breaker_state_transitions_total{backend="replica1",from="HALF_OPEN",to="OPEN"} 0
helios_circuit_breaker_state_transitions_total{backend="replica1",from="OPEN",to="CLOSED"} 1
helios_circuit_breaker_state_transitions_total{backend="replica1",from="OPEN",to="HALF_OPEN"} 0
helios_circuit_breaker_state_transitions_total{backend="replica2",from="CLOSED",to="OPEN"} 0
helios_circuit_breaker_state_transitions_total{backend="replica2",from="HALF_OPEN",to="CLOSED"} 0
helios_circuit_breaker_state_transitions_total{backend="replica2",from="HALF_OPEN",to="OPEN"} 0
helios_circuit_breaker_state_transitions_total{backend="replica2",from="OPEN",to="HALF_OPEN"} 0
# HELP helios_circuit_breaker_trip_duration_seconds How long circuits stayed away from CLOSED: from opening to closing again, observed when a circuit closes.
# TYPE helios_circuit_breaker_trip_duration_seconds histogram
helios_circuit_breaker_trip_duration_seconds_bucket{le="5"} 0
helios_circuit_breaker_trip_duration_seconds_bucket{le="15"} 0
helios_circuit_breaker_trip_duration_seconds_bucket{le="30"} 1
helios_circuit_breaker_trip_duration_seconds_bucket{le="60"} 1
helios_circuit_breaker_trip_duration_seconds_bucket{le="120"} 2
helios_circuit_breaker_trip_duration_seconds_bucket{le="300"} 2
helios_circuit_breaker_trip_duration_seconds_bucket{le="600"} 2
helios_circuit_breaker_trip_duration_seconds_bucket{le="1800"} 2
helios_circuit_breaker_trip_duration_seconds_bucket{le="3600"} 2
helios_circuit_breaker_trip_duration_seconds_bucket{le="7200"} 2
helios_circuit_breaker_trip_duration_seconds_bucket{le="14400"} 2
helios_circuit_breaker_trip_duration_seconds_bucket{le="+Inf"} 2
helios_circuit_breaker_trip_duration_seconds_sum 115
helios_circuit_breaker_trip_duration_seconds_count 2
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want),
		"helios_circuit_breaker_state_transitions_total", "helios_circuit_breaker_trip_duration_seconds"); err != nil {
		t.Error(err)
	}
}

// TestObserveQuery covers both per-backend duration families: relayed
// queries and health checks.
func TestObserveQuery(t *testing.T) {
	for name, observe := range map[string]func(*Metrics, string, time.Duration, string){
		"helios_query_duration_seconds":        (*Metrics).ObserveQuery,
		"helios_health_check_duration_seconds": (*Metrics).ObserveHealthCheck,
	} {
		t.Run(name, func(t *testing.T) { testDurations(t, name, observe) })
	}
}

func testDurations(t *testing.T, name string, observe func(*Metrics, string, time.Duration, string)) {
	m := New(&source{snap: threeBackends()}, Options{})
	observe(m, "primary", 2*time.Millisecond, "success")
	observe(m, "primary", 3*time.Millisecond, "success")
	observe(m, "primary", 700*time.Millisecond, "failure")
	observe(m, "primary", time.Second, "no such outcome")
	observe(m, "ghost", time.Second, "success") // not in the snapshot

	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	type want struct {
		count   uint64
		sum     float64
		le5ms   uint64 // cumulative count in the le="0.005" bucket
		outcome string
	}
	wants := []want{ // in label order
		{1, 0.7, 0, "failure"},
		{1, 1, 0, "other"},
		{2, 0.005, 2, "success"},
	}
	var got []want
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		if mf.GetType() != dto.MetricType_HISTOGRAM {
			t.Fatalf("%s is a %v, want a histogram", name, mf.GetType())
		}
		for _, mt := range mf.Metric {
			labels := map[string]string{}
			for _, l := range mt.Label {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["backend"] != "primary" {
				t.Errorf("%s series for backend %q, want only primary", name, labels["backend"])
				continue
			}
			h := mt.Histogram
			var le5ms uint64
			for _, b := range h.Bucket {
				if b.GetUpperBound() == 0.005 {
					le5ms = b.GetCumulativeCount()
				}
			}
			got = append(got, want{h.GetSampleCount(), h.GetSampleSum(), le5ms, labels["outcome"]})
		}
	}
	if !slices.Equal(got, wants) {
		t.Errorf("%s of primary = %+v, want %+v", name, got, wants)
	}
}

func TestAlertStats(t *testing.T) {
	m := New(&source{snap: threeBackends()}, Options{Alerts: func() AlertStats {
		return AlertStats{
			Channels: []ChannelStats{
				{Channel: "slack", Sent: 5, Failed: 1, Dropped: 2, Retries: 4, Queued: 3, ByPeer: 6},
				{Channel: "pagerduty", Sent: 7},
			},
			EventsQueued:  1,
			EventsDropped: 9,
		}
	}})
	const want = `
# HELP helios_alerts_sent_total Alerts by channel and result: sent (delivered), failed (given up), dropped (queue full or shutdown) or sent_by_peer (another cluster member sent it).
# TYPE helios_alerts_sent_total counter
helios_alerts_sent_total{channel="pagerduty",result="dropped"} 0
helios_alerts_sent_total{channel="pagerduty",result="failed"} 0
helios_alerts_sent_total{channel="pagerduty",result="sent"} 7
helios_alerts_sent_total{channel="pagerduty",result="sent_by_peer"} 0
helios_alerts_sent_total{channel="slack",result="dropped"} 2
helios_alerts_sent_total{channel="slack",result="failed"} 1
helios_alerts_sent_total{channel="slack",result="sent"} 5
helios_alerts_sent_total{channel="slack",result="sent_by_peer"} 6
# HELP helios_alerts_retries_total Failed alert delivery attempts that were retried.
# TYPE helios_alerts_retries_total counter
helios_alerts_retries_total{channel="pagerduty"} 0
helios_alerts_retries_total{channel="slack"} 4
# HELP helios_alerts_queue_depth Alerts waiting to be sent on the channel.
# TYPE helios_alerts_queue_depth gauge
helios_alerts_queue_depth{channel="pagerduty"} 0
helios_alerts_queue_depth{channel="slack"} 3
# HELP helios_alerts_events_queued Circuit events waiting to be turned into alerts.
# TYPE helios_alerts_events_queued gauge
helios_alerts_events_queued 1
# HELP helios_alerts_events_dropped_total Circuit events not alerted on because the alert queue was full.
# TYPE helios_alerts_events_dropped_total counter
helios_alerts_events_dropped_total 9
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want),
		"helios_alerts_sent_total", "helios_alerts_retries_total", "helios_alerts_queue_depth",
		"helios_alerts_events_queued", "helios_alerts_events_dropped_total"); err != nil {
		t.Error(err)
	}

	// Without an alert source there are no alert series.
	m = New(&source{snap: threeBackends()}, Options{})
	if n := testutil.CollectAndCount(m, "helios_alerts_sent_total", "helios_alerts_queue_depth"); n != 0 {
		t.Errorf("alert series without Options.Alerts = %d, want 0", n)
	}
}

func TestHandler(t *testing.T) {
	m := New(&source{snap: threeBackends()}, Options{Version: "v1.2.3"})
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d, want 200\n%s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q, want the text format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	for _, name := range []string{
		"go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
		"promhttp_metric_handler_requests_total",
		"helios_circuit_breaker_state", "helios_backend_latency_p95_milliseconds", "helios_build_info",
	} {
		if mfs[name] == nil {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if !strings.Contains(string(body), `helios_circuit_breaker_override{backend="replica1",state="OPEN"} 1`) {
		t.Errorf("/metrics does not show replica1's override:\n%s", body)
	}
}

// A backend name that is not valid UTF-8 fails its series in the scrape
// instead of panicking the process.
func TestInvalidBackendName(t *testing.T) {
	snap := threeBackends()
	snap.Backends[0].Name = "bad\xff"
	m := New(&source{snap: snap}, Options{})
	if _, err := m.reg.Gather(); err == nil {
		t.Error("Gather with an invalid backend name succeeded, want an error")
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `helios_circuit_breaker_state{backend="replica1"} 1`) {
		t.Errorf("/metrics with one invalid backend name lost the other backends (status %d):\n%s", rec.Code, rec.Body)
	}
}

// Scrapes, queries and events run at the same time (for -race).
func TestConcurrentUse(t *testing.T) {
	src := &source{snap: threeBackends()}
	m := New(src, Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				m.ObserveQuery(fmt.Sprintf("b%d", i%20), time.Duration(i)*time.Microsecond, outcomes[(g+i)%len(outcomes)])
				m.ObserveEvent(status.Event{Type: status.CircuitOpened, Backend: "primary", From: status.Closed, To: status.Open})
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			snap := threeBackends()
			snap.Backends[0].Name = fmt.Sprintf("b%d", i)
			src.set(snap)
			if _, err := m.reg.Gather(); err != nil {
				t.Errorf("Gather: %v", err)
			}
		}
	})
	wg.Wait()
	src.set(threeBackends())
	if got := gather(t, m, "helios_circuit_breaker_state_transitions_total")[`backend="primary",from="CLOSED",to="OPEN"`]; got != 800 {
		t.Errorf("transitions{primary,CLOSED,OPEN} = %v, want 800", got)
	}
}

func TestObserveQueryDoesNotAllocate(t *testing.T) {
	m := New(&source{snap: threeBackends()}, Options{})
	m.ObserveQuery("primary", time.Millisecond, "success") // creates the series
	if n := testing.AllocsPerRun(1000, func() {
		m.ObserveQuery("primary", time.Millisecond, "success")
	}); n != 0 {
		t.Errorf("ObserveQuery allocates %v times per call, want 0", n)
	}
}

func BenchmarkObserveQuery(b *testing.B) {
	m := New(&source{snap: manyBackends(1000)}, Options{})
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("backend-%04d", i)
		m.ObserveQuery(names[i], time.Millisecond, "success")
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.ObserveQuery(names[i%len(names)], 3*time.Millisecond, "success")
			i++
		}
	})
}

func manyBackends(n int) status.Snapshot {
	snap := status.Snapshot{Taken: t0}
	for i := range n {
		snap.Backends = append(snap.Backends, status.Backend{
			Name: fmt.Sprintf("backend-%04d", i), CircuitState: status.Closed, StateSince: t0,
			LatencyP50Ms: 1, LatencyP95Ms: 5, LatencyP99Ms: 10, ErrorRate: 0.01, ConnectionSaturation: 0.2,
			TrafficShare: 1 / float64(n), ActiveConnections: 5, MaxConnections: 100, RampFactor: 1,
			RequestsTotal: 1000, FailuresTotal: 10, SuccessesTotal: 990,
		})
	}
	return snap
}

// BenchmarkScrape1000 gathers 1000 backends, each with one query histogram.
func BenchmarkScrape1000(b *testing.B) {
	m := New(&source{snap: manyBackends(1000)}, Options{})
	for i := range 1000 {
		m.ObserveQuery(fmt.Sprintf("backend-%04d", i), time.Millisecond, "success")
	}
	b.Run("Gather", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.reg.Gather(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("HTTP", func(b *testing.B) {
		h := m.Handler()
		req := httptest.NewRequest("GET", "/metrics", nil)
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
			b.SetBytes(int64(rec.Body.Len()))
		}
	})
}

// cmd may mount the handler more than once (say on /metrics and on the API).
func TestHandlerTwice(t *testing.T) {
	m := New(&source{snap: threeBackends()}, Options{})
	for range 2 {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != http.StatusOK {
			t.Errorf("GET /metrics = %d, want 200", rec.Code)
		}
	}
}

// TestQueryBreakerMetrics: the patterns are counted by state, and only
// the first TopPatterns of the snapshot (open ones first) have series of
// their own.
func TestQueryBreakerMetrics(t *testing.T) {
	snap := threeBackends()
	for i := range TopPatterns + 5 {
		q := status.QueryBreaker{Pattern: fmt.Sprintf("%016x", i), CircuitState: status.Closed}
		if i == 0 {
			q.CircuitState, q.RejectedTotal, q.LatencyP95Ms = status.Open, 9, 1638.4
		}
		snap.QueryBreakers = append(snap.QueryBreakers, q)
	}
	m := New(&source{snap: snap}, Options{})
	want := map[string]float64{`state="CLOSED"`: TopPatterns + 4, `state="OPEN"`: 1, `state="HALF_OPEN"`: 0}
	if got := gather(t, m, "helios_query_breakers"); !mapsEqual(got, want) {
		t.Errorf("helios_query_breakers = %v, want %v", got, want)
	}
	states := gather(t, m, "helios_query_breaker_state")
	if len(states) != TopPatterns || states[`pattern="0000000000000000"`] != 1 {
		t.Errorf("helios_query_breaker_state = %v; want %d series, the open pattern at 1", states, TopPatterns)
	}
	if got := gather(t, m, "helios_query_breaker_rejected_total")[`pattern="0000000000000000"`]; got != 9 {
		t.Errorf("rejected_total of the open pattern = %v, want 9", got)
	}
}
