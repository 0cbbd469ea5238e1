package proxy

import (
	"context"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/dial"
	"github.com/heliosdb/heliosproxy/proxy/health"
	"github.com/heliosdb/heliosproxy/proxy/pool"
)

// backend is one configured PostgreSQL server with its circuit breaker and
// the live sessions relayed to it.
type backend struct {
	s    *Server                        // publishes its transitions (note)
	cfg  config.Backend                 // as first configured: Name, Host and Port never change
	live atomic.Pointer[config.Backend] // the current settings (weight, priority, …), replaced on reload
	addr string
	br   *breaker.Breaker

	active atomic.Int64  // client sessions relayed to it now
	factor atomic.Uint64 // routing factor (weight × ramp × health) as float64 bits, refreshed by the ticker

	draining atomic.Bool // removed from the config: no new sessions

	check *health.State // its health checks: the latest, and requests for one now

	backendCon atomic.Int64  // client backends seen in pg_stat_activity
	maxConns   atomic.Int64  // usable max_connections, 0 if unknown
	lagMs      atomic.Uint64 // replication lag in ms as float64 bits

	openedAt atomic.Int64 // unix nanos of the last CLOSED → OPEN, 0 if never

	// queued is the clients waiting for a pooled connection, refreshed by
	// the ticker. A full pool means demand beyond pool.default_pool_size,
	// not an unhealthy backend: it steers routing and is reported, but
	// does not count as saturation (that would open the circuit and turn
	// queueing into refusals for everyone).
	queued atomic.Int64

	// stats is the breaker's Stats as of the last tick, so that snapshots of
	// many backends are copies, not computations.
	stats atomic.Pointer[tickStats]

	logins loginSlots // pass-through logins in progress
	trust  trustState // whether it lets the proxy's connections in without a password
	tls    dial.Cache // its TLS settings, made ready under the current configuration

	mu       sync.Mutex
	sessions map[*session]struct{}
	pools    map[pool.Key]*connPool
}

func (s *Server) newBackend(cfg config.Backend, br *breaker.Breaker) *backend {
	b := &backend{s: s, cfg: cfg, addr: cfg.Address(), br: br, sessions: make(map[*session]struct{}), pools: make(map[pool.Key]*connPool),
		check: health.NewState()}
	b.trust.probed = make(chan struct{})
	b.live.Store(&cfg)
	b.factor.Store(math.Float64bits(cfg.Weight))
	return b
}

// currentStats returns the breaker's statistics: the copy a tick took
// while nothing was recorded since (what depends on time alone may be up to
// statsRefresh plus a tick old), and fresh ones otherwise, so that a
// client sees its own queries counted in the status it reads next.
func (b *backend) currentStats(now time.Time) breaker.Stats {
	if c := b.stats.Load(); c != nil && c.changes == b.br.Changes() && now.Sub(c.at) < statsRefresh+tickInterval {
		return c.Stats
	}
	return b.br.Stats(now)
}

// tickStats is a breaker's Stats, when the tick took them, and the
// breaker's change count read just before.
type tickStats struct {
	at      time.Time
	changes uint64
	breaker.Stats
}

// measurePools refreshes the queue depth.
func (b *backend) measurePools() {
	var queued int64
	for _, p := range b.allPools() {
		queued += int64(p.Waiting())
	}
	b.queued.Store(queued)
}

// conf returns the backend's current settings.
func (b *backend) conf() *config.Backend { return b.live.Load() }

func (b *backend) routingFactor() float64 { return math.Float64frombits(b.factor.Load()) }

// track makes the session's pending requests (its connection attempt,
// then its queries) visible to the stall detector.
func (b *backend) track(ss *session) {
	b.mu.Lock()
	b.sessions[ss] = struct{}{}
	b.mu.Unlock()
}

func (b *backend) untrack(ss *session) {
	b.mu.Lock()
	delete(b.sessions, ss)
	b.mu.Unlock()
}

// inflight measures the requests running on this backend now.
func (b *backend) inflight(now time.Time, p95, p99 time.Duration) breaker.Inflight {
	var in breaker.Inflight
	nowNs := now.UnixNano()
	b.mu.Lock()
	gen := b.br.Current().Generation()
	for ss := range b.sessions {
		start, g := ss.pending.oldest()
		if start == 0 || g != gen || ss.clientBlocked.Load() != 0 {
			continue
		}
		start = max(start, ss.wrote.Load())
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
	b.check.Fill(&in, now, p95)
	return in
}

// watchCheck is the tick's part in health checking. A check that has run
// past health_checks.timeout counts as failed now, not when it returns. And
// when requests go unanswered (breaker.WantsCheck), a check runs now
// rather than at its next interval: only a check that times out too tells
// a hung backend, whose circuit opens whatever other circuits are open,
// from a slow one.
func (s *Server) watchCheck(b *backend, now time.Time, in breaker.Inflight) {
	if res, ok := b.check.Overdue(now); ok {
		s.log.Debug("health check timed out", "backend", b.cfg.Name)
		b.note(b.br.RecordCheck(res, now))
	}
	if b.br.WantsCheck(now, in) {
		b.check.Request()
	}
}

// refreshFactor recomputes the routing factor from the ramp and the
// window's health: a backend drifting towards its thresholds gets less of
// the new traffic before its circuit has to open.
func (b *backend) refreshFactor(now time.Time, st breaker.Stats, cfg breaker.Config) {
	health := 1.0
	if cfg.FailureRatePercent > 0 {
		health = min(health, 1-0.5*min(1, st.ErrorRate*100/cfg.FailureRatePercent))
	}
	if cfg.LatencyP95 > 0 && st.Requests >= cfg.MinimumRequests {
		health = min(health, 1-0.5*min(1, float64(st.P95)/float64(cfg.LatencyP95)))
	}
	f := b.conf().Weight * b.br.Weight(now) * health
	b.factor.Store(math.Float64bits(f))
}

// pendingRing holds the start times of a session's requests that await
// their ReadyForQuery. One goroutine pushes (client to server), one pops
// (server to client); the monitor reads the oldest start.
type pendingRing struct {
	slots      [32]pendingSlot
	head, tail atomic.Uint32
	lost       atomic.Int32 // requests pushed while the ring was full
}

type pendingSlot struct {
	start  atomic.Int64  // unix nanos
	gen    atomic.Uint64 // ticket's generation, for the monitor, which must not read ticket
	ticket breaker.Ticket
}

func (r *pendingRing) push(start int64, t breaker.Ticket) {
	tail := r.tail.Load()
	if tail-r.head.Load() == uint32(len(r.slots)) {
		r.lost.Add(1)
		return
	}
	s := &r.slots[tail%uint32(len(r.slots))]
	s.ticket = t
	s.gen.Store(t.Generation())
	s.start.Store(start)
	r.tail.Store(tail + 1)
}

// pop returns the oldest request; ok is false when none is recorded (the
// ring overflowed, or a ReadyForQuery came without a request).
func (r *pendingRing) pop() (start int64, t breaker.Ticket, ok bool) {
	head := r.head.Load()
	if head == r.tail.Load() {
		if r.lost.Load() > 0 {
			r.lost.Add(-1)
		}
		return 0, t, false
	}
	s := &r.slots[head%uint32(len(r.slots))]
	start, t = s.start.Load(), s.ticket
	r.head.Store(head + 1)
	return start, t, true
}

// empty reports whether every pushed request has been popped.
func (r *pendingRing) empty() bool { return r.head.Load() == r.tail.Load() }

// oldest returns the start of the oldest pending request, 0 if none, and
// the generation of its ticket.
func (r *pendingRing) oldest() (start int64, gen uint64) {
	head := r.head.Load()
	if head == r.tail.Load() {
		return 0, 0
	}
	s := &r.slots[head%uint32(len(r.slots))]
	return s.start.Load(), s.gen.Load()
}

// checkTarget is b as its health checker sees it (a health.Backend):
// checks dial with b's TLS settings, their results go to b's breaker and
// their observations to b's status.
type checkTarget struct {
	s *Server
	b *backend
}

func (t checkTarget) Dial(ctx context.Context) (net.Conn, error) { return t.s.dialBackend(ctx, t.b) }

func (t checkTarget) TLS() config.TLS { return t.s.config().BackendTLS(*t.b.conf()) }

func (t checkTarget) Record(res breaker.Result, now time.Time) {
	t.b.note(t.b.br.RecordCheck(res, now))
}

func (t checkTarget) Observe(o health.Observation) {
	t.b.backendCon.Store(o.ClientBackends)
	t.b.maxConns.Store(o.MaxConnections)
	t.b.lagMs.Store(math.Float64bits(o.ReplicationLagMs))
	if sat, ok := o.Saturation(); ok {
		t.b.br.SetSaturation(sat)
	}
}
