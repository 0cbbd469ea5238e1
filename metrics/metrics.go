// Package metrics serves HeliosProxy's Prometheus metrics. Per-backend
// circuit and health figures are read from a status.Snapshot at scrape time
// (a collector), so they never go stale and a backend removed from the
// configuration disappears from the next scrape. Transitions, trip durations
// and query durations are counted as they happen (ObserveEvent,
// ObserveQuery). The registry is private and also holds the Go runtime and
// process collectors.
package metrics

import (
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heliosdb/heliosproxy/status"
)

// Source is what the metrics need from the running proxy. Snapshot is
// called once per scrape.
type Source interface {
	Snapshot() status.Snapshot
}

// AlertStats is a copy of the alert dispatcher's delivery counters; cmd
// fills it from the alerts package.
type AlertStats struct {
	Channels      []ChannelStats // one per configured channel
	EventsQueued  int            // events waiting to be routed to channels
	EventsDropped uint64         // events dropped because that queue was full
}

// ChannelStats counts one alert channel's deliveries.
type ChannelStats struct {
	Channel string // "slack", "pagerduty", …
	Sent    uint64 // delivered
	Failed  uint64 // given up after a permanent error or the last attempt
	Dropped uint64 // never tried to the end: queue full or shutdown
	Retries uint64 // failed attempts that were retried
	ByPeer  uint64 // not sent: another cluster member had sent it
	Queued  int    // waiting to be sent
}

// Options configures New. The zero value is usable.
type Options struct {
	// Alerts returns the alert delivery counters at scrape time; nil means
	// no helios_alerts_* metrics.
	Alerts func() AlertStats
	// Version, when set, is exported as helios_build_info{version}.
	Version string
	// Logger receives errors from serving /metrics; nil discards them.
	Logger *slog.Logger
}

// Metrics is the collector of all helios_* metrics plus a private registry
// that also holds the Go and process collectors. Its methods are safe for
// concurrent use. It implements prometheus.Collector so that tests and
// other registries can collect it directly.
type Metrics struct {
	src     Source
	alerts  func() AlertStats
	version string
	log     *slog.Logger
	reg     *prometheus.Registry

	queries *perBackend // helios_query_duration_seconds
	checks  *perBackend // helios_health_check_duration_seconds

	trip prometheus.Histogram

	tmu         sync.Mutex
	transitions map[string]map[fromTo]uint64 // backend → (from, to) → count
}

type fromTo struct{ from, to status.CircuitState }

// The automatic transitions; every backend in the snapshot exports them,
// at 0 until they happen, so that increase() sees the first one.
var standardTransitions = []fromTo{
	{status.Closed, status.Open},
	{status.Open, status.HalfOpen},
	{status.HalfOpen, status.Closed},
	{status.HalfOpen, status.Open},
}

// Query outcomes, as breaker.Outcome names them. Any other string is
// counted as "other", which keeps the label set bounded.
var outcomes = [...]string{"success", "failure", "overload", "excluded", "slow", "config_error", "other"}

func outcomeIndex(o string) int {
	switch o {
	case "success":
		return 0
	case "failure":
		return 1
	case "overload":
		return 2
	case "excluded":
		return 3
	case "slow":
		return 4
	case "config_error":
		return 5
	}
	return len(outcomes) - 1
}

// perBackend is a histogram family by backend and outcome whose vector is
// never registered: its children are cached here on first use and
// collected only for backends present in the snapshot.
type perBackend struct {
	vec *prometheus.HistogramVec
	m   atomic.Pointer[map[string]*backendHists] // copy on write
	mu  sync.Mutex                               // serializes writers of m
}

// backendHists holds one backend's histograms, one per outcome, created on
// first use.
type backendHists struct {
	obs [len(outcomes)]atomic.Pointer[histogram]
}

type histogram struct{ prometheus.Histogram }

func newPerBackend(opts prometheus.HistogramOpts) *perBackend {
	f := &perBackend{vec: prometheus.NewHistogramVec(opts, []string{"backend", "outcome"})}
	f.m.Store(&map[string]*backendHists{})
	return f
}

// observe records d for (backend, outcome). After a backend's first
// observation of an outcome it takes no lock and does not allocate.
func (f *perBackend) observe(backend string, d time.Duration, outcome string) {
	i := outcomeIndex(outcome)
	if bh := (*f.m.Load())[backend]; bh != nil {
		if h := bh.obs[i].Load(); h != nil {
			h.Observe(d.Seconds())
			return
		}
	}
	f.slowObserver(backend, i).Observe(d.Seconds())
}

// slowObserver creates the histogram of (backend, outcome i) if needed.
func (f *perBackend) slowObserver(backend string, i int) prometheus.Histogram {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := *f.m.Load()
	bh := cur[backend]
	if bh == nil {
		next := make(map[string]*backendHists, len(cur)+1)
		for k, v := range cur {
			next[k] = v
		}
		bh = &backendHists{}
		next[backend] = bh
		f.m.Store(&next)
	}
	if h := bh.obs[i].Load(); h != nil {
		return h.Histogram
	}
	h := &histogram{f.vec.WithLabelValues(backend, outcomes[i]).(prometheus.Histogram)}
	bh.obs[i].Store(h)
	return h.Histogram
}

// collect sends the histograms of the backends in backends.
func (f *perBackend) collect(backends []status.Backend, ch chan<- prometheus.Metric) {
	m := *f.m.Load()
	for i := range backends {
		bh := m[backends[i].Name]
		if bh == nil {
			continue
		}
		for j := range bh.obs {
			if h := bh.obs[j].Load(); h != nil {
				ch <- h.Histogram
			}
		}
	}
}

// queryBuckets are the upper bounds, in seconds, of
// helios_query_duration_seconds: sub-millisecond to 30 s, with bounds at
// the default latency thresholds (0.5 s p95, 2 s p99).
var queryBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30}

// tripBuckets are the upper bounds, in seconds, of
// helios_circuit_breaker_trip_duration_seconds: from a quick recovery
// (open_duration is 30 s by default) to several hours.
var tripBuckets = []float64{5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400}

// New returns the metrics of src with a private registry holding them and
// the Go runtime and process collectors. It starts no goroutines.
func New(src Source, o Options) *Metrics {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		src:     src,
		alerts:  o.Alerts,
		version: o.Version,
		log:     log.With("component", "metrics"),
		queries: newPerBackend(prometheus.HistogramOpts{
			Name:    "helios_query_duration_seconds",
			Help:    "Duration of client queries relayed to a backend, by outcome (success, failure, overload, excluded, slow, config_error, other); overload also counts the logins the backend refused for overload (53300, 57P03) and the requests the proxy refused for it (no pooled connection within pool.query_wait_timeout, its admission limit).",
			Buckets: queryBuckets,
		}),
		checks: newPerBackend(prometheus.HistogramOpts{
			Name:    "helios_health_check_duration_seconds",
			Help:    "Duration of the proxy's active health checks of a backend, by outcome (success, failure, overload, config_error, …); a check that overran health_checks.timeout counts as a failure of that duration.",
			Buckets: queryBuckets,
		}),
		trip: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "helios_circuit_breaker_trip_duration_seconds",
			Help:    "How long circuits stayed away from CLOSED: from opening to closing again, observed when a circuit closes.",
			Buckets: tripBuckets,
		}),
		transitions: make(map[string]map[fromTo]uint64),
	}
	m.reg = prometheus.NewRegistry()
	m.reg.MustRegister(m,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves the registry in the Prometheus text format (or the
// protobuf/OpenMetrics formats a scraper asks for). It also counts its own
// scrapes in promhttp_metric_handler_requests_total.
func (m *Metrics) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      errorLog{m.log},
		ErrorHandling: promhttp.ContinueOnError, // serve what was gathered
		Registry:      m.reg,
		// Each scrape takes one snapshot; a scrape storm must not pile up.
		MaxRequestsInFlight: 4,
	}))
}

type errorLog struct{ log *slog.Logger }

func (e errorLog) Println(v ...any) {
	for _, x := range v {
		if err, ok := x.(error); ok {
			e.log.Error("serving metrics", "err", err)
			return
		}
	}
	e.log.Error("serving metrics", "detail", v)
}

// ObserveQuery records one query's duration in
// helios_query_duration_seconds{backend,outcome}. outcome is a
// breaker.Outcome name ("success", "failure", …); others count as "other".
// After a backend's first query of an outcome it takes no lock and does
// not allocate. The series of a backend are exported only while it is in
// the snapshot.
func (m *Metrics) ObserveQuery(backend string, d time.Duration, outcome string) {
	m.queries.observe(backend, d, outcome)
}

// ObserveHealthCheck records one health check's duration in
// helios_health_check_duration_seconds{backend,outcome}, as ObserveQuery
// does for queries.
func (m *Metrics) ObserveHealthCheck(backend string, d time.Duration, outcome string) {
	m.checks.observe(backend, d, outcome)
}

// ObserveEvent counts a circuit transition in
// helios_circuit_breaker_state_transitions_total{backend,from,to} and, for
// CircuitClosed, observes its RecoveryDuration in
// helios_circuit_breaker_trip_duration_seconds. Events other than
// CircuitOpened, CircuitHalfOpened, CircuitClosed and RecoveryFailed are
// ignored, so an override counts once: as the transition it causes.
func (m *Metrics) ObserveEvent(ev status.Event) {
	switch ev.Type {
	case status.CircuitOpened, status.CircuitHalfOpened, status.CircuitClosed, status.RecoveryFailed:
	default:
		return
	}
	if ev.Backend == "" || ev.From == status.NoState || ev.To == status.NoState {
		return
	}
	m.tmu.Lock()
	t := m.transitions[ev.Backend]
	if t == nil {
		t = make(map[fromTo]uint64, len(standardTransitions))
		m.transitions[ev.Backend] = t
	}
	t[fromTo{ev.From, ev.To}]++
	m.tmu.Unlock()
	if ev.Type == status.CircuitClosed && ev.RecoveryDuration > 0 {
		m.trip.Observe(ev.RecoveryDuration.Seconds())
	}
}
