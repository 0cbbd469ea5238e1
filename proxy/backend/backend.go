package backend

import (
	"context"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/admission"
	"github.com/heliosdb/heliosproxy/proxy/dial"
	"github.com/heliosdb/heliosproxy/proxy/health"
	"github.com/heliosdb/heliosproxy/proxy/pattern"
)

// Backend is one configured PostgreSQL server with its circuit breaker and
// the live sessions relayed to it.
type Backend struct {
	hooks   *Hooks
	Config  config.Backend                 // as first configured: Name, Host and Port never change
	live    atomic.Pointer[config.Backend] // the current settings (weight, priority, …), replaced on reload
	Addr    string
	Breaker *breaker.Breaker
	// Admission is its adaptive admission limit (load shedding): sessions
	// acquire before a request that starts outside a transaction block
	// (pass-through) or a transaction (pooled transaction mode), Finish
	// feeds it each request's latency.
	Admission *admission.Limiter

	Active atomic.Int64  // client sessions relayed to it now
	factor atomic.Uint64 // routing factor (weight × ramp × health) as float64 bits, refreshed by the ticker

	Draining atomic.Bool // removed from the config: no new sessions

	Check *health.State // its health checks: the latest, and requests for one now

	ClientBackends atomic.Int64 // client backends seen in pg_stat_activity
	// Waiting is the client backends queued inside the server (waiting on
	// a lock), from the health check; -1 when not collected
	// (health_checks.collect_query_queue_depth).
	Waiting  atomic.Int64
	MaxConns atomic.Int64 // usable max_connections, 0 if unknown

	id   uint64    // tells backends apart in the Topology
	role roleState // its replication role and routing verdict (Roles, Topology)

	OpenedAt atomic.Int64 // unix nanos of the last CLOSED → OPEN, 0 if never
	// Abandoned is the breaker generation (plus one) in which the proxy
	// gave up its connections to the backend, which answered nothing
	// (Server.watchCheck's only).
	Abandoned uint64

	latencyTrip atomic.Int64 // the breaker's P95 threshold (else P99) in nanoseconds, 0 if none

	// Queued is the clients waiting for a pooled connection, refreshed by
	// the ticker. A full pool means demand beyond pool.default_pool_size,
	// not an unhealthy backend: it steers routing and is reported, but
	// does not count as saturation (that would open the circuit and turn
	// queueing into refusals for everyone).
	Queued atomic.Int64

	// stats is the breaker's Stats as of the last tick, so that snapshots of
	// many backends are copies, not computations.
	stats atomic.Pointer[tickStats]

	Logins LoginSlots // pass-through logins in progress
	Trust  Trust      // whether it lets the proxy's connections in without a password
	TLS    dial.Cache // its TLS settings, made ready under the current configuration

	// term holds the connections ended by FATAL 57P01 until a health
	// check tells whether the server is shutting down (Terminated).
	term struct {
		sync.Mutex
		n     int   // losses held
		since int64 // unix nanos of the first
	}

	mu sync.Mutex
	// tracked are the sessions Track made visible, each at the index
	// its TrackSlot holds: a transaction-mode session comes and goes at
	// every transaction, without a map's hashing.
	tracked []Tracked
}

// Hooks are the proxy's: what a backend reports to.
type Hooks struct {
	// Publish is given every transition of a backend's breaker (Note).
	Publish func(*Backend, breaker.Transition)
	// OnQuery, if not nil, is given every finished request's latency and
	// outcome (Finish); it must be fast.
	OnQuery func(backend string, d time.Duration, o breaker.Outcome)
	// OnHealthCheck, if not nil, is given every health check's latency
	// and outcome (Checked); it must be fast.
	OnHealthCheck func(backend string, d time.Duration, o breaker.Outcome)
	// Patterns, if not nil, are the query-level breakers: Finish records
	// every request's pattern there too.
	Patterns *pattern.Registry
}

// A Tracked session has requests pending on a backend: its connection
// attempt, then its queries.
type Tracked interface {
	// Waiting returns since when (unix nanos) its oldest pending request
	// has waited on the backend, and that request's ticket generation; ok
	// is false when none waits on the backend (none is pending, or the
	// session is blocked writing to its client), or when the request's
	// query pattern's breaker deals with it (pattern.Pattern.Handles).
	Waiting() (since int64, gen uint64, ok bool)
	// Running returns since when its oldest pending request has run and
	// its pattern key; start is 0 when none runs on the backend (as for
	// Waiting, a request blocked on its client does not).
	Running() (start int64, key pattern.Key)
	// TrackSlot is where the backend that tracks the session keeps its
	// place among those it tracks (atomic: another backend may look at
	// it under its own lock).
	TrackSlot() *atomic.Int64
}

// nextID numbers the backends made by New.
var nextID atomic.Uint64

// New returns the backend of cfg with its breaker br and admission
// limiter (AdmissionConfig), reporting to hooks.
func New(cfg config.Backend, br *breaker.Breaker, adm admission.Config, hooks *Hooks) *Backend {
	b := &Backend{hooks: hooks, Config: cfg, Addr: cfg.Address(), Breaker: br, Admission: admission.New(adm), Check: health.NewState(), id: nextID.Add(1)}
	b.Trust.probed = make(chan struct{})
	b.latencyTrip.Store(int64(latencyTrip(br.Config())))
	b.live.Store(&cfg)
	b.Waiting.Store(-1)
	b.factor.Store(math.Float64bits(cfg.Weight))
	return b
}

// CurrentStats returns the breaker's statistics: the copy a tick took
// while nothing was recorded since (what depends on time alone may be up to
// statsRefresh plus a tick old), and fresh ones otherwise, so that a
// client sees its own queries counted in the status it reads next.
func (b *Backend) CurrentStats(now time.Time) breaker.Stats {
	if c := b.stats.Load(); c != nil && c.changes == b.Breaker.Changes() && now.Sub(c.at) < StatsRefresh+TickInterval {
		return c.Stats
	}
	return b.Breaker.Stats(now)
}

// tickStats is a breaker's Stats, when the tick took them, and the
// breaker's change count read just before.
type tickStats struct {
	at      time.Time
	changes uint64
	breaker.Stats
}

// TickInterval is how often the proxy evaluates every breaker on a timer.
const TickInterval = 10 * time.Millisecond

// StatsRefresh is how often the tick copies the Stats of a breaker that
// recorded nothing since: what only time changes (window buckets expiring,
// a recovery ramp's steps) may be this old in the status. Copying every
// tick cost 1,000 idle backends 30 MB/s of garbage.
const StatsRefresh = 100 * time.Millisecond

// TickStats is the tick's copy of the breaker's Stats, taken again when
// the breaker recorded something since or the copy is StatsRefresh old.
func (b *Backend) TickStats(now time.Time) breaker.Stats {
	changes := b.Breaker.Changes()
	c := b.stats.Load()
	if c == nil || c.changes != changes || now.Sub(c.at) >= StatsRefresh {
		c = &tickStats{at: now, changes: changes, Stats: b.Breaker.Stats(now)}
		b.stats.Store(c)
	}
	return c.Stats
}

// SetLive replaces the backend's current settings (a reload's); its name
// and address stay.
func (b *Backend) SetLive(cfg config.Backend) { b.live.Store(&cfg) }

// Live returns the backend's current settings.
func (b *Backend) Live() *config.Backend { return b.live.Load() }

func (b *Backend) RoutingFactor() float64 { return math.Float64frombits(b.factor.Load()) }

// Track makes a session's pending requests visible to the stall detector
// (Inflight). Tracking a session twice tracks it once; a session is
// tracked by one backend at a time.
func (b *Backend) Track(t Tracked) {
	b.mu.Lock()
	if !b.holds(t, int(t.TrackSlot().Load())) {
		t.TrackSlot().Store(int64(len(b.tracked)))
		b.tracked = append(b.tracked, t)
	}
	b.mu.Unlock()
}

// Untrack ends Track; a session b does not track is left alone.
func (b *Backend) Untrack(t Tracked) {
	b.mu.Lock()
	if i := b.index(t); i >= 0 {
		last := len(b.tracked) - 1
		if i != last {
			b.tracked[i] = b.tracked[last]
			b.tracked[i].TrackSlot().Store(int64(i))
		}
		b.tracked[last] = nil
		b.tracked = b.tracked[:last]
	}
	b.mu.Unlock()
}

// index is t's place in tracked, -1 if b does not track it: where its
// slot says, unless another backend has tracked it since (its slot is
// that backend's then). b.mu is held.
func (b *Backend) index(t Tracked) int {
	if i := int(t.TrackSlot().Load()); b.holds(t, i) {
		return i
	}
	return slices.Index(b.tracked, t)
}

// holds reports whether t is at i in tracked; b.mu is held.
func (b *Backend) holds(t Tracked, i int) bool {
	return i >= 0 && i < len(b.tracked) && b.tracked[i] == t
}

// Tracked returns the sessions tracked now.
func (b *Backend) Tracked() []Tracked {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.tracked)
}

// Inflight measures the requests running on this backend now.
func (b *Backend) Inflight(now time.Time, p95, p99 time.Duration) breaker.Inflight {
	var in breaker.Inflight
	nowNs := now.UnixNano()
	b.mu.Lock()
	gen := b.Breaker.Current().Generation()
	for _, t := range b.tracked {
		start, g, ok := t.Waiting()
		if !ok || g != gen {
			continue
		}
		age := time.Duration(nowNs - start)
		in.Count++
		if p95 > 0 && age > p95 {
			in.OverP95++
		}
		if p99 > 0 && age > p99 {
			in.OverP99++
		}
		in.Oldest = max(in.Oldest, age)
	}
	b.mu.Unlock()
	b.Check.Fill(&in, now, p95)
	return in
}

// PatternsRunning adds to over, by pattern, the requests that have run on
// b longer than slow: for the query-level breakers, which count them as
// slow executions before they end (a query blocked on a lock may never).
func (b *Backend) PatternsRunning(now time.Time, slow time.Duration, over map[pattern.Key]int) {
	before := now.UnixNano() - int64(slow)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range b.tracked {
		if start, key := t.Running(); start != 0 && key != 0 && start < before {
			over[key]++
		}
	}
}

// RefreshFactor recomputes the routing factor from the ramp and the
// window's health: a backend drifting towards its thresholds gets less of
// the new traffic before its circuit has to open.
func (b *Backend) RefreshFactor(now time.Time, st breaker.Stats, cfg breaker.Config) {
	health := 1.0
	if cfg.FailureRatePercent > 0 {
		health = min(health, 1-0.5*min(1, st.ErrorRate*100/cfg.FailureRatePercent))
	}
	if cfg.LatencyP95 > 0 && st.Requests >= cfg.MinimumRequests {
		health = min(health, 1-0.5*min(1, float64(st.P95)/float64(cfg.LatencyP95)))
	}
	health = min(health, WaitingFactor(b.Waiting.Load(), b.ClientBackends.Load()))
	f := b.Live().Weight * b.Breaker.Weight(now) * health
	b.factor.Store(math.Float64bits(f))
}

// WaitingFactor is the routing factor a backend gets for the work queued
// inside it (health_checks.collect_query_queue_depth): 1 − ½ × the share
// of its client backends waiting on a lock, so a backend where half its
// sessions wait gets ¾ of its share of new work; 1 when not collected.
func WaitingFactor(waiting, clients int64) float64 {
	if waiting <= 0 {
		return 1
	}
	return 1 - 0.5*min(1, float64(waiting)/float64(max(clients, 1)))
}

// Pending holds the start times of a session's requests that await
// their ReadyForQuery. One goroutine pushes (client to server), one pops
// (server to client); the monitor reads the oldest start.
type Pending struct {
	slots      [32]pendingSlot
	head, tail atomic.Uint32
	lost       atomic.Int32 // requests pushed while the ring was full
}

type pendingSlot struct {
	start  atomic.Int64  // unix nanos
	gen    atomic.Uint64 // ticket's generation, for the monitor, which must not read ticket
	key    atomic.Uint64 // q's pattern key, for the monitor, which must not read q
	ticket breaker.Ticket
	q      pattern.Req
}

// Push notes a request that starts at start (unix nanos) with ticket t,
// of pattern q (the zero Req for none).
func (r *Pending) Push(start int64, t breaker.Ticket, q pattern.Req) {
	tail := r.tail.Load()
	if tail-r.head.Load() == uint32(len(r.slots)) {
		r.lost.Add(1)
		return
	}
	s := &r.slots[tail%uint32(len(r.slots))]
	s.ticket, s.q = t, q
	s.gen.Store(t.Generation())
	s.key.Store(uint64(q.Key))
	s.start.Store(start)
	r.tail.Store(tail + 1)
}

// Pop returns the oldest request; ok is false when none is recorded (the
// ring overflowed, or a ReadyForQuery came without a request).
func (r *Pending) Pop() (start int64, t breaker.Ticket, q pattern.Req, ok bool) {
	head := r.head.Load()
	if head == r.tail.Load() {
		if r.lost.Load() > 0 {
			r.lost.Add(-1)
		}
		return 0, t, q, false
	}
	s := &r.slots[head%uint32(len(r.slots))]
	start, t, q = s.start.Load(), s.ticket, s.q
	r.head.Store(head + 1)
	return start, t, q, true
}

// Empty reports whether every pushed request has been popped.
func (r *Pending) Empty() bool { return r.head.Load() == r.tail.Load() }

// Oldest returns the start of the Oldest pending request, 0 if none, the
// generation of its ticket and its pattern key (0 if none).
func (r *Pending) Oldest() (start int64, gen uint64, key pattern.Key) {
	head := r.head.Load()
	if head == r.tail.Load() {
		return 0, 0, 0
	}
	s := &r.slots[head%uint32(len(r.slots))]
	return s.start.Load(), s.gen.Load(), pattern.Key(s.key.Load())
}

// Dial opens a connection to the backend as its TLS settings under cfg,
// the running configuration, say (dial.TLS.Dial). Every failure is the
// backend's connection failing (a hard failure for its breaker); a TLS one
// is a *dial.Error that says why.
func (b *Backend) Dial(ctx context.Context, cfg *config.Config) (net.Conn, error) {
	t, err := b.TLS.For(cfg, b.Live())
	if err != nil {
		return nil, err
	}
	return t.Dial(ctx, b.Addr)
}

// BreakerConfig maps the file's settings for one backend onto its breaker.
func BreakerConfig(c config.Config, b config.Backend) breaker.Config {
	cb := c.CircuitBreaker
	bc := breaker.Config{
		Window:                     cb.MetricsWindowSize.Duration,
		Bucket:                     cb.MetricsBucketSize.Duration,
		MinimumRequests:            cb.MinimumRequests,
		FailureRatePercent:         cb.FailureThresholdPercentage,
		LatencyP95:                 time.Duration(cb.LatencyThresholdP95Ms) * time.Millisecond,
		LatencyP99:                 time.Duration(cb.LatencyThresholdP99Ms) * time.Millisecond,
		SaturationThreshold:        cb.ConnectionSaturationThreshold,
		ConnectionFailureThreshold: cb.ConnectionFailureThreshold,
		OpenDuration:               cb.OpenDuration.Duration,
		MaxOpenDuration:            cb.MaxOpenDuration.Duration,
		Jitter:                     0.1,
		RequireCheck:               c.HealthChecks.Enabled,
		HalfOpenMaxConcurrent:      cb.HalfOpenMaxConcurrent,
		HalfOpenProbes:             10,
		HalfOpenSuccessPercent:     cb.HalfOpenSuccessThreshold,
		HalfOpenProbeInterval:      cb.HalfOpenProbeInterval.Duration,
		ProbeTimeout:               cb.RecoveryProbeTimeout.Duration,
		GradualRecovery:            cb.GradualRecoveryEnabled,
		RampUpDuration:             cb.RecoveryRampUpDuration.Duration,
		RampStepPercent:            cb.RecoveryStepPercentage,
	}
	if b.CircuitBreakerLatencyThresholdP95Ms > 0 {
		bc.LatencyP95 = time.Duration(b.CircuitBreakerLatencyThresholdP95Ms) * time.Millisecond
	}
	if b.CircuitBreakerFailureThreshold > 0 {
		bc.FailureRatePercent = b.CircuitBreakerFailureThreshold
	}
	if bc.HalfOpenMaxConcurrent > bc.HalfOpenProbes {
		bc.HalfOpenProbes = bc.HalfOpenMaxConcurrent
	}
	return bc
}

// Reconfigure applies a reload's breaker and admission settings.
func (b *Backend) Reconfigure(bc breaker.Config, adm admission.Config) {
	b.Breaker.SetConfig(bc)
	b.latencyTrip.Store(int64(latencyTrip(bc)))
	b.Admission.SetConfig(adm)
}

// latencyTrip is the latency a breaker trips on: its P95 threshold, else
// its P99 one; 0 if neither.
func latencyTrip(bc breaker.Config) time.Duration {
	if bc.LatencyP95 > 0 {
		return bc.LatencyP95
	}
	return bc.LatencyP99
}

// AdmissionConfig maps the file's load-shedding settings for one backend
// onto its admission limiter; bc is the backend's breaker configuration,
// whose latency threshold the target is a share of.
func AdmissionConfig(c config.Config, bc breaker.Config) admission.Config {
	bk := c.Backends
	trip := latencyTrip(bc)
	return admission.Config{
		Enabled:      bk.LoadSheddingEnabled,
		MinLimit:     bk.LoadSheddingMinLimit,
		MaxLimit:     bk.LoadSheddingMaxLimit,
		MaxQueue:     bk.LoadSheddingMaxQueue,
		QueueTimeout: bk.LoadSheddingQueueTimeout.Duration,
		Target:       time.Duration(float64(trip) * bk.LoadSheddingLatencyTarget),
	}
}
