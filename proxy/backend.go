package proxy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/dial"
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

	check     atomic.Pointer[checkRun] // the latest health check, running or done; nil before the first
	checkSlow atomic.Bool              // the last health check timed out
	checkNow  chan struct{}            // asks the health checker for a check now (capacity 1)

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
		checkNow: make(chan struct{}, 1)}
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
	slow := b.checkSlow.Load()
	in.CheckOver, in.CheckTimedOut = slow, slow
	if r := b.check.Load(); r != nil {
		in.CheckStarted = time.Unix(0, r.start)
		if in.CheckRunning = !r.done.Load(); in.CheckRunning {
			in.CheckOver = in.CheckOver || p95 > 0 && time.Duration(nowNs-r.start) > p95
			in.CheckTimedOut = in.CheckTimedOut || nowNs > r.deadline
		}
	}
	return in
}

// checkRun is one health check.
type checkRun struct {
	start, deadline int64 // unix nanos; deadline is start + health_checks.timeout
	// settled is set by whoever records the check's result: the checker
	// when it returns, or the tick once the check has overrun its
	// deadline (watchCheck), so that it counts as failed at that moment
	// and only once.
	settled atomic.Bool
	done    atomic.Bool // the checker has finished with it
}

// watchCheck is the tick's part in health checking. A check that has run
// past health_checks.timeout counts as failed now, not when it returns. And
// when requests go unanswered (breaker.WantsCheck), a check runs now
// rather than at its next interval: only a check that times out too tells
// a hung backend, whose circuit opens whatever other circuits are open,
// from a slow one.
func (s *Server) watchCheck(b *backend, now time.Time, in breaker.Inflight) {
	r := b.check.Load()
	nowNs := now.UnixNano()
	if r != nil && !r.done.Load() && nowNs > r.deadline && r.settled.CompareAndSwap(false, true) {
		s.log.Debug("health check timed out", "backend", b.cfg.Name)
		res := breaker.Result{Kind: breaker.HealthCheck, Outcome: breaker.Failure, Latency: time.Duration(nowNs - r.start)}
		b.note(b.br.RecordCheck(res, now))
	}
	if b.br.WantsCheck(now, in) {
		select {
		case b.checkNow <- struct{}{}:
		default:
		}
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

// healthChecker actively checks one backend with its own connection.
type healthChecker struct {
	s   *Server
	b   *backend
	hc  config.HealthChecks
	pc  *pgconn.PgConn
	cfg *pgconn.Config
	// configProblem remembers the last reported configuration error so that
	// it is logged once, not every interval.
	configProblem string
	tlsAt         config.TLS // the TLS settings pc was opened with
}

// metricsQuery reads connection use and replication lag in one round trip.
const metricsQuery = `SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
 current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int,
 CASE WHEN pg_is_in_recovery() THEN COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000, 0) ELSE 0 END`

func (h *healthChecker) run(ctx context.Context) {
	defer h.close()
	t := time.NewTicker(h.hc.Interval.Duration)
	defer t.Stop()
	for {
		h.checkOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.b.checkNow:
		}
	}
}

func (h *healthChecker) close() {
	if h.pc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_ = h.pc.Close(ctx)
		cancel()
		h.pc = nil
	}
}

func (h *healthChecker) checkOnce(ctx context.Context) {
	select {
	case <-h.b.checkNow: // this check answers a request made before it
	default:
	}
	start := h.s.clock.Now()
	timeout := h.hc.Timeout.Duration
	run := &checkRun{start: start.UnixNano(), deadline: start.Add(timeout).UnixNano()}
	h.b.check.Store(run)
	defer run.done.Store(true)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	outcome, err := h.query(cctx)
	if ctx.Err() != nil {
		return // shutting down: not an observation of the backend
	}
	now := h.s.clock.Now()
	// mine is false when the tick has recorded the check as failed on its
	// deadline (watchCheck); the result is not recorded again. It is
	// recorded before closing the connection, which may take a while on a
	// hung server.
	mine := run.settled.CompareAndSwap(false, true)
	h.b.checkSlow.Store(!mine || err != nil && (errors.Is(err, context.DeadlineExceeded) || cctx.Err() != nil || now.Sub(start) >= timeout))
	if mine {
		h.b.note(h.b.br.RecordCheck(breaker.Result{Kind: breaker.HealthCheck, Outcome: outcome, Latency: now.Sub(start)}, now))
	}
	if err != nil {
		h.close()
		var te *dial.Error
		if outcome == breaker.ConfigError || errors.As(err, &te) {
			if msg := err.Error(); msg != h.configProblem {
				h.configProblem = msg
				h.s.log.Error("health check cannot run: fix the [health_checks] credentials or database, or the backend's TLS settings (sslmode, sslrootcert)", "backend", h.b.cfg.Name, "err", err)
			}
		} else {
			h.s.log.Debug("health check failed", "backend", h.b.cfg.Name, "err", err)
		}
	} else {
		h.configProblem = ""
	}
}

func (h *healthChecker) query(ctx context.Context) (breaker.Outcome, error) {
	if h.pc != nil && h.s.config().BackendTLS(*h.b.conf()) != h.tlsAt {
		h.close() // a reload changed the backend's TLS settings
	}
	if h.pc == nil {
		h.tlsAt = h.s.config().BackendTLS(*h.b.conf())
		cfg := h.cfg.Copy()
		cfg.DialFunc = func(ctx context.Context, _, _ string) (net.Conn, error) { return h.s.dialBackend(ctx, h.b) }
		pc, err := pgconn.ConnectConfig(ctx, cfg)
		if err != nil {
			return checkOutcome(err), err
		}
		h.pc = pc
	}
	if _, err := h.pc.Exec(ctx, h.hc.CheckQuery).ReadAll(); err != nil {
		return checkOutcome(err), err
	}
	if !h.hc.CollectConnectionMetrics && !h.hc.CollectReplicationLag {
		return breaker.Success, nil
	}
	res := h.pc.ExecParams(ctx, metricsQuery, nil, nil, nil, nil).Read()
	if res.Err != nil {
		return checkOutcome(res.Err), res.Err
	}
	if len(res.Rows) == 1 && len(res.Rows[0]) == 3 {
		row := res.Rows[0]
		used, _ := strconv.ParseInt(string(row[0]), 10, 64)
		maxc, _ := strconv.ParseInt(string(row[1]), 10, 64)
		lag, _ := strconv.ParseFloat(string(row[2]), 64)
		h.b.backendCon.Store(used)
		h.b.maxConns.Store(maxc)
		h.b.lagMs.Store(math.Float64bits(lag))
		if h.hc.CollectConnectionMetrics && maxc > 0 {
			h.b.br.SetSaturation(min(1, float64(used)/float64(maxc)))
		}
	}
	return breaker.Success, nil
}

// checkOutcome classifies a health-check error: SQL errors by SQLSTATE as
// relayed requests' are, except that a check canceled as too slow failed
// and an error of the application's kind (the check query itself is
// wrong: 42601 …) is a configuration problem; everything else (refused,
// reset, timeout, TLS) is a hard failure. A backend at its connection
// limit (53300) is overloaded, not down.
func checkOutcome(err error) breaker.Outcome {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return breaker.Failure
	}
	switch o := breaker.Classify(pgErr.Code, false); o {
	case breaker.Slow:
		return breaker.Failure
	case breaker.Excluded:
		return breaker.ConfigError
	default:
		return o
	}
}

// checkConfig builds the monitor's connection config for a backend. Its
// DialFunc is the checker's (dialBackend): pgconn's own TLS stays off
// (sslmode=disable here) so that checks use the backend's TLS settings as
// sessions do.
func checkConfig(b config.Backend, hc config.HealthChecks) (*pgconn.Config, error) {
	dsn := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable application_name=heliosproxy-health connect_timeout=%d",
		quoteDSN(b.Host), b.Port, quoteDSN(hc.User), quoteDSN(hc.Database), max(1, int(math.Ceil(hc.Timeout.Seconds()))))
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("health check settings for backend %s: %w", b.Name, err)
	}
	cfg.Password = hc.Password
	return cfg, nil
}

// quoteDSN quotes a keyword/value connection string value.
func quoteDSN(v string) string {
	out := make([]byte, 0, len(v)+2)
	out = append(out, '\'')
	for i := 0; i < len(v); i++ {
		if v[i] == '\'' || v[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, v[i])
	}
	return string(append(out, '\''))
}
