package metrics

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heliosdb/heliosproxy/status"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The metrics built at scrape time. Names are DESIGN.md's; the latency and
// replication lag gauges keep milliseconds to match the SQL columns
// (latency_p95_ms, replication_lag_ms), against Prometheus' base-unit advice.
var (
	descState = desc("helios_circuit_breaker_state",
		"Circuit state of the backend: 0 closed, 1 open, 2 half-open.", "backend")
	descFailures = desc("helios_circuit_breaker_failures_total",
		"Requests, connects and health checks of the backend that counted as failures.", "backend")
	descSuccesses = desc("helios_circuit_breaker_successes_total",
		"Requests of the backend that counted as successes.", "backend")
	descRejected = desc("helios_circuit_breaker_rejected_total",
		"Requests not sent to the backend because its circuit did not admit them.", "backend")
	descRequests = desc("helios_circuit_breaker_requests_total",
		"Requests admitted to the backend.", "backend")
	descTransitions = desc("helios_circuit_breaker_state_transitions_total",
		"Circuit state transitions of the backend since the proxy started.", "backend", "from", "to")
	descOverride = desc("helios_circuit_breaker_override",
		"1 while an operator override forces the backend's circuit to state (OPEN or CLOSED); absent without an override.", "backend", "state")
	descOpenReason = desc("helios_circuit_breaker_open_reason",
		"1 while the backend's circuit is OPEN or HALF_OPEN, with the reason it opened (hard_failure, hung, error_rate, latency_p95, latency_p99, saturation, recovery_failed, override); absent while CLOSED.", "backend", "reason")
	descStateSince = desc("helios_circuit_breaker_state_since_timestamp_seconds",
		"Unix time at which the backend's circuit entered its current state.", "backend")
	descInfo = desc("helios_backend_info",
		"Always 1; the labels are the backend's routing settings: priority (its tier) and read_only.", "backend", "priority", "read_only")
	descP50 = desc("helios_backend_latency_p50_milliseconds",
		"Median query latency of the backend over the health window, in milliseconds; 0 without data.", "backend")
	descP95 = desc("helios_backend_latency_p95_milliseconds",
		"95th percentile query latency of the backend over the health window, in milliseconds; 0 without data.", "backend")
	descP99 = desc("helios_backend_latency_p99_milliseconds",
		"99th percentile query latency of the backend over the health window, in milliseconds; 0 without data.", "backend")
	descErrorRate = desc("helios_backend_error_rate",
		"Share of the backend's requests in the health window that failed, 0..1.", "backend")
	descSaturation = desc("helios_backend_connection_saturation",
		"Share of the backend's connection capacity in use, 0..1.", "backend")
	descActive = desc("helios_backend_active_connections",
		"Connections to the backend in use by client sessions.", "backend")
	descMax = desc("helios_backend_max_connections",
		"The backend's max_connections setting; 0 if unknown.", "backend")
	descQueue = desc("helios_backend_queue_depth",
		"Requests waiting for a connection to the backend.", "backend")
	descWaiting = desc("helios_backend_waiting_sessions",
		"Client sessions queued inside the backend (active, waiting on a lock), from its health check; absent unless health_checks.collect_query_queue_depth.", "backend")
	descShare = desc("helios_backend_traffic_share",
		"The backend's share of active client sessions, 0..1.", "backend")
	descLag = desc("helios_backend_replication_lag_milliseconds",
		"Replication lag of the backend, in milliseconds; 0 for a primary or when unknown.", "backend")
	descLagBytes = desc("helios_backend_replication_lag_bytes",
		"A replica's replication lag behind its primary, in bytes of WAL; 0 for a primary or when unknown.", "backend")
	descRole = desc("helios_backend_role",
		"Always 1, for the backend's replication role (primary, replica or unknown).", "backend", "role")
	descTimeline = desc("helios_backend_timeline",
		"The WAL timeline the backend writes or receives; absent when unknown.", "backend")
	descRouting = desc("helios_backend_routing",
		"Always 1, for what routing sends the backend: read-write, read-only, lagging, fenced or unreachable.", "backend", "routing")
	descRamp = desc("helios_backend_ramp_factor",
		"Share of its normal traffic the backend receives while ramping up after recovery, 0..1; 1 when fully recovered.", "backend")
	descTrustsProxy = desc("helios_backend_trusts_proxy",
		"1 when the backend lets the proxy's connections in without a password (pg_hba.conf trust for the proxy's address), else 0.", "backend")
	descClients = desc("helios_client_connections",
		"Client sessions connected to backends through the proxy (sum of the backends' active connections).")
	descQueryBreakers = desc("helios_query_breakers",
		"Query patterns tracked by the query-level breakers, by circuit state (CLOSED, OPEN, HALF_OPEN).", "state")
	descPatternState = desc("helios_query_breaker_state",
		"Circuit state of a query pattern: 0 closed, 1 open, 2 half-open; only the top patterns (open ones first, then by slow and failed executions; at most TopPatterns).", "pattern")
	descPatternRejected = desc("helios_query_breaker_rejected_total",
		"Executions of a query pattern refused (SQLSTATE 53400) while its circuit was open, since it is tracked; top patterns only.", "pattern")
	descPatternP95 = desc("helios_query_breaker_latency_p95_milliseconds",
		"95th percentile latency of a query pattern over the health window, in milliseconds; top patterns only.", "pattern")
	descAlertsSent = desc("helios_alerts_sent_total",
		"Alerts by channel and result: sent (delivered), failed (given up), dropped (queue full or shutdown) or sent_by_peer (another cluster member sent it).", "channel", "result")
	descAlertRetries = desc("helios_alerts_retries_total",
		"Failed alert delivery attempts that were retried.", "channel")
	descAlertQueue = desc("helios_alerts_queue_depth",
		"Alerts waiting to be sent on the channel.", "channel")
	descEventsQueued = desc("helios_alerts_events_queued",
		"Circuit events waiting to be turned into alerts.")
	descEventsDropped = desc("helios_alerts_events_dropped_total",
		"Circuit events not alerted on because the alert queue was full.")
	descPropagation = desc("helios_cluster_propagation_seconds",
		"How long other cluster members' circuit changes (openings and circuit views) took to reach this instance, from the change on the sender to its arrival here (their clocks against ours); absent without [cluster].")
	descClusterMembers = desc("helios_cluster_members",
		"Members of the proxy's cluster by state (alive, suspect, dead, left) as this instance sees them, itself included; absent without [cluster].", "state")
	descAdmissionLimit = desc("helios_backend_admission_limit",
		"Requests the backend may run at once, as load shedding estimates it from its latency (backends.load_shedding_enabled).", "backend")
	descAdmissionInflight = desc("helios_backend_admission_inflight",
		"Requests admitted to the backend and running now.", "backend")
	descAdmissionQueued = desc("helios_backend_admission_queued",
		"Requests waiting for admission to the backend now.", "backend")
	descShed = desc("helios_backend_shed_total",
		"Requests refused with SQLSTATE 53300 by the backend's admission limit.", "backend")
	descUserState = desc("helios_user_breaker_state",
		"Breaker state of a role and database: 0 closed, 1 open (isolated), 2 half-open; for at most the "+strconv.Itoa(TopUsers)+" roles that are not closed or were throttled or isolated most, then most active.", "role", "database")
	descUserThrottled = desc("helios_user_throttled_total",
		"Requests of a role and database refused by its rate limit (53400); the same roles as helios_user_breaker_state.", "role", "database")
	descUserIsolated = desc("helios_user_isolated_total",
		"Requests of a role and database refused while its breaker was open; the same roles as helios_user_breaker_state.", "role", "database")
	descUsersThrottled = desc("helios_users_throttled_total",
		"Requests of every role refused by the per-role rate limits (53400).")
	descUsersOpen = desc("helios_users_isolated",
		"Roles whose breaker is OPEN (isolated) now.")
	descBuildInfo = desc("helios_build_info",
		"Always 1; the version label names the running HeliosProxy build.", "version")
)

var snapshotDescs = []*prometheus.Desc{
	descState, descFailures, descSuccesses, descRejected, descRequests, descTransitions,
	descOverride, descOpenReason, descStateSince, descInfo, descP50, descP95, descP99, descErrorRate, descSaturation,
	descActive, descMax, descQueue, descShare, descLag, descLagBytes, descRole, descTimeline, descRouting,
	descRamp, descTrustsProxy, descClients,
	descAlertsSent, descAlertRetries, descAlertQueue, descEventsQueued, descEventsDropped,
	descBuildInfo, descClusterMembers, descPropagation,
	descWaiting, descQueryBreakers, descPatternState, descPatternRejected, descPatternP95,
	descAdmissionLimit, descAdmissionInflight, descAdmissionQueued, descShed,
	descUserState, descUserThrottled, descUserIsolated, descUsersThrottled, descUsersOpen,
}

// Describe sends the descriptors of every helios_* metric.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range snapshotDescs {
		ch <- d
	}
	m.queries.vec.Describe(ch)
	m.checks.vec.Describe(ch)
	m.trip.Describe(ch)
}

// stateValue maps a circuit state to the gauge's value.
func stateValue(s status.CircuitState) (float64, bool) {
	switch s {
	case status.Closed:
		return 0, true
	case status.Open:
		return 1, true
	case status.HalfOpen:
		return 2, true
	}
	return 0, false
}

// Collect takes one snapshot (and one copy of the alert stats) and sends
// the metrics it implies, then the event- and query-driven metrics of the
// backends in that snapshot.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	snap := m.src.Snapshot()
	send := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		// Not MustNewConstMetric: a backend name that is not valid UTF-8
		// must fail its series, not panic the process.
		mt, err := prometheus.NewConstMetric(d, t, v, labels...)
		if err != nil {
			mt = prometheus.NewInvalidMetric(d, err)
		}
		ch <- mt
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue

	clients := 0
	for i := range snap.Backends {
		b := &snap.Backends[i]
		n := b.Name
		if v, ok := stateValue(b.CircuitState); ok {
			send(descState, gauge, v, n)
		}
		send(descFailures, counter, float64(b.FailuresTotal), n)
		send(descSuccesses, counter, float64(b.SuccessesTotal), n)
		send(descRejected, counter, float64(b.RejectedTotal), n)
		send(descRequests, counter, float64(b.RequestsTotal), n)
		if b.Override != status.NoState {
			send(descOverride, gauge, 1, n, b.Override.String())
		}
		if b.CircuitState != status.Closed && b.OpenReason != "" {
			send(descOpenReason, gauge, 1, n, b.OpenReason)
		}
		if !b.StateSince.IsZero() {
			send(descStateSince, gauge, float64(b.StateSince.UnixNano())/1e9, n)
		}
		send(descInfo, gauge, 1, n, strconv.Itoa(b.Priority), strconv.FormatBool(b.ReadOnly))
		send(descP50, gauge, b.LatencyP50Ms, n)
		send(descP95, gauge, b.LatencyP95Ms, n)
		send(descP99, gauge, b.LatencyP99Ms, n)
		send(descErrorRate, gauge, b.ErrorRate, n)
		send(descSaturation, gauge, b.ConnectionSaturation, n)
		send(descActive, gauge, float64(b.ActiveConnections), n)
		send(descMax, gauge, float64(b.MaxConnections), n)
		send(descQueue, gauge, float64(b.QueueDepth), n)
		if b.BackendWaiting >= 0 {
			send(descWaiting, gauge, float64(b.BackendWaiting), n)
		}
		send(descShare, gauge, b.TrafficShare, n)
		send(descLag, gauge, b.ReplicationLagMs, n)
		send(descLagBytes, gauge, float64(b.ReplicationLagBytes), n)
		send(descRole, gauge, 1, n, string(cmp.Or(b.Role, status.RoleUnknown)))
		if b.Timeline != 0 {
			send(descTimeline, gauge, float64(b.Timeline), n)
		}
		send(descRouting, gauge, 1, n, string(cmp.Or(b.Routing, status.RoutingReadWrite)))
		send(descRamp, gauge, b.RampFactor, n)
		trusts := 0.0
		if b.TrustsProxy {
			trusts = 1
		}
		send(descTrustsProxy, gauge, trusts, n)
		send(descAdmissionLimit, gauge, float64(b.AdmissionLimit), n)
		send(descAdmissionInflight, gauge, float64(b.AdmissionInflight), n)
		send(descAdmissionQueued, gauge, float64(b.AdmissionQueued), n)
		send(descShed, counter, float64(b.ShedTotal), n)
		clients += b.ActiveConnections
	}
	collectUsers(snap.Users, send)
	send(descClients, gauge, float64(clients))
	if m.version != "" {
		send(descBuildInfo, gauge, 1, m.version)
	}
	if snap.Members != nil {
		byState := map[status.MemberState]int{}
		for _, mb := range snap.Members {
			byState[mb.State]++
		}
		for _, st := range []status.MemberState{status.MemberAlive, status.MemberSuspect, status.MemberDead, status.MemberLeft} {
			send(descClusterMembers, gauge, float64(byState[st]), string(st))
		}
	}
	if h := snap.Propagation; h != nil {
		buckets := make(map[float64]uint64, len(h.Bounds))
		for i, b := range h.Bounds {
			buckets[b] = h.Counts[i]
		}
		if hm, err := prometheus.NewConstHistogram(descPropagation, h.Count, h.Sum, buckets); err == nil {
			ch <- hm
		}
	}

	byState := map[status.CircuitState]int{}
	for i, q := range snap.QueryBreakers {
		byState[q.CircuitState]++
		if v, ok := stateValue(q.CircuitState); ok && i < TopPatterns {
			send(descPatternState, gauge, v, q.Pattern)
			send(descPatternRejected, counter, float64(q.RejectedTotal), q.Pattern)
			send(descPatternP95, gauge, q.LatencyP95Ms, q.Pattern)
		}
	}
	for _, st := range []status.CircuitState{status.Closed, status.Open, status.HalfOpen} {
		send(descQueryBreakers, gauge, float64(byState[st]), st.String())
	}

	m.collectTransitions(snap.Backends, send)

	m.queries.collect(snap.Backends, ch)
	m.checks.collect(snap.Backends, ch)
	ch <- m.trip

	if m.alerts != nil {
		a := m.alerts()
		for _, c := range a.Channels {
			send(descAlertsSent, counter, float64(c.Sent), c.Channel, "sent")
			send(descAlertsSent, counter, float64(c.Failed), c.Channel, "failed")
			send(descAlertsSent, counter, float64(c.Dropped), c.Channel, "dropped")
			send(descAlertsSent, counter, float64(c.ByPeer), c.Channel, "sent_by_peer")
			send(descAlertRetries, counter, float64(c.Retries), c.Channel)
			send(descAlertQueue, gauge, float64(c.Queued), c.Channel)
		}
		send(descEventsQueued, gauge, float64(a.EventsQueued))
		send(descEventsDropped, counter, float64(a.EventsDropped))
	}
}

// collectTransitions sends the transition counters of the backends in bs:
// the standard transitions (0 until they happen) and any other observed.
func (m *Metrics) collectTransitions(bs []status.Backend, send func(*prometheus.Desc, prometheus.ValueType, float64, ...string)) {
	type row struct {
		backend string
		ft      fromTo
		n       uint64
	}
	// Copy under the lock and send after it, so that a slow scrape never
	// holds up ObserveEvent.
	rows := make([]row, 0, len(bs)*len(standardTransitions))
	m.tmu.Lock()
	for i := range bs {
		name := bs[i].Name
		t := m.transitions[name]
		for _, ft := range standardTransitions {
			rows = append(rows, row{name, ft, t[ft]})
		}
		for ft, n := range t {
			if !isStandard(ft) {
				rows = append(rows, row{name, ft, n})
			}
		}
	}
	m.tmu.Unlock()
	for _, r := range rows {
		send(descTransitions, prometheus.CounterValue, float64(r.n), r.backend, r.ft.from.String(), r.ft.to.String())
	}
}

// TopPatterns bounds the query patterns that have series of their own
// (helios_query_breaker_*{pattern}): the label's cardinality.
const TopPatterns = 10

func isStandard(ft fromTo) bool {
	for _, s := range standardTransitions {
		if s == ft {
			return true
		}
	}
	return false
}

// TopUsers bounds the roles with series of their own: a proxy may see
// thousands of roles, and a label per role would be unbounded cardinality.
const TopUsers = 20

// collectUsers sends the role metrics: totals over every role, and series
// for the TopUsers roles that matter most (topUsers).
func collectUsers(us []status.UserBreaker, send func(*prometheus.Desc, prometheus.ValueType, float64, ...string)) {
	if us == nil {
		return
	}
	var throttled uint64
	open := 0
	for _, u := range us {
		throttled += u.ThrottledTotal
		if u.State == status.Open {
			open++
		}
	}
	send(descUsersThrottled, prometheus.CounterValue, float64(throttled))
	send(descUsersOpen, prometheus.GaugeValue, float64(open))
	for _, u := range topUsers(us, TopUsers) {
		if v, ok := stateValue(u.State); ok {
			send(descUserState, prometheus.GaugeValue, v, u.Role, u.Database)
		}
		send(descUserThrottled, prometheus.CounterValue, float64(u.ThrottledTotal), u.Role, u.Database)
		send(descUserIsolated, prometheus.CounterValue, float64(u.IsolatedTotal), u.Role, u.Database)
	}
}

// topUsers returns at most n roles: those not CLOSED first, then those
// throttled or isolated most, then the most active.
func topUsers(us []status.UserBreaker, n int) []status.UserBreaker {
	if len(us) <= n {
		return us
	}
	s := slices.Clone(us)
	slices.SortStableFunc(s, func(a, b status.UserBreaker) int {
		if ac, bc := a.State == status.Closed, b.State == status.Closed; ac != bc {
			if bc {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.ThrottledTotal+b.IsolatedTotal, a.ThrottledTotal+a.IsolatedTotal); c != 0 {
			return c
		}
		return cmp.Compare(b.RequestsTotal, a.RequestsTotal)
	})
	return s[:n]
}
