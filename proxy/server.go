// Package proxy is HeliosProxy's PostgreSQL front end: it accepts client
// connections, routes each session to a backend chosen by the circuit
// breakers, relays the session while observing latency and errors, checks
// backends actively, and publishes circuit events.
package proxy

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/fastconn"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/cluster"
	"github.com/heliosdb/heliosproxy/proxy/events"
	"github.com/heliosdb/heliosproxy/proxy/evloop"
	"github.com/heliosdb/heliosproxy/proxy/listen"
	"github.com/heliosdb/heliosproxy/proxy/overrides"
	"github.com/heliosdb/heliosproxy/proxy/pattern"
	"github.com/heliosdb/heliosproxy/proxy/pool"
	"github.com/heliosdb/heliosproxy/proxy/route"
	"github.com/heliosdb/heliosproxy/proxy/session"
	"github.com/heliosdb/heliosproxy/proxy/tenant"
	"github.com/heliosdb/heliosproxy/status"
)

// Clock tells the time; tests may substitute their own.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Server is the proxy. Create it with New and start it with Run.
type Server struct {
	log   *slog.Logger
	clock Clock

	cfg atomic.Pointer[config.Config] // the running configuration, replaced by Reload

	group       *breaker.Group
	router      route.Router
	topology    *backend.Topology                  // the backends' replication roles
	timelinesMu sync.Mutex                         // serializes saveTimelines
	backends    atomic.Pointer[[]*backend.Backend] // serving backends in configuration order; replaced by Reload
	events      *events.Bus
	front       *session.Front // the client sessions

	// acceptTrouble says why the client listener cannot accept now; nil
	// while it can. Set by Run's accept loop, read by Ready.
	acceptTrouble atomic.Pointer[string]

	users atomic.Pointer[map[string]*pool.User] // [[users]] by name; replaced whole by Reload

	// carried holds, by backend name, the totals of the backends that
	// reloads drained (removed, or replaced by another server under the
	// same name), added to what a backend of that name counts, so that the
	// status's and metrics' counters never go back; replaced whole by
	// Reload. Nil until a reload drains one.
	carried atomic.Pointer[map[string]totals]

	overrides *overrides.Store
	tenants   *tenant.Registry // roles' limits and breakers (user_level_breakers_enabled)
	// userExpiring: a removal of expired role overrides is under way.
	userExpiring atomic.Bool
	hooks        backend.Hooks     // what the backends report to
	patterns     *pattern.Registry // the query-level breakers

	// cluster is the member of [cluster] while Run runs; nil otherwise.
	cluster atomic.Pointer[cluster.Node]
	// alertLog is the member whose notification log the alerts consult:
	// set with cluster, but kept after Run ends, for the alerts delivered
	// in their shutdown grace period (a page a peer sent is still in it).
	alertLog    atomic.Pointer[cluster.Node]
	version     string                   // shown to the cluster; under runMu
	tuneCluster func(*memberlist.Config) // tests: faster probes

	// Set by Run, for what Reload starts: health checkers are goroutines
	// of Run.
	runMu  sync.Mutex
	runCtx context.Context
	runWG  *sync.WaitGroup
	// started is closed once Run has set runCtx: Reload waits for it (a
	// SIGHUP or an API call just after start-up must not be lost).
	started     chan struct{}
	startedOnce sync.Once

	spawnMu  sync.Mutex
	spawnWG  *sync.WaitGroup // Run's, while it runs: see spawn
	checkers map[*backend.Backend]context.CancelFunc
	source   func() (config.Config, []config.Warning, error)
	reloaded []func(config.Config) // under runMu; see OnReload
}

// New builds a Server from a validated configuration.
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	log = log.With("component", "proxy")
	s := &Server{
		log:      log,
		clock:    realClock{},
		events:   events.NewBus(log),
		topology: backend.NewTopology(),
		started:  make(chan struct{}),
	}
	front, err := session.New(cfg, frontHost{s}, &s.router, s.clock, log)
	if err != nil {
		return nil, err
	}
	s.front = front
	s.hooks.Publish = s.publish
	s.patterns = pattern.New(patternsConfig(cfg))
	s.patterns.Publish = s.publishPattern
	s.hooks.Patterns, front.Patterns = s.patterns, s.patterns
	s.tenants = s.newTenants(cfg)
	s.front.Tenants = s.tenants
	s.router.Backends, s.router.Now = s.list, func() time.Time { return s.clock.Now() }
	s.cfg.Store(&cfg)
	s.breakersOnSet(cfg)
	users, err := s.usersFor(cfg)
	if err != nil {
		return nil, err
	}
	s.users.Store(&users)
	s.group = breaker.NewGroup(breaker.GroupConfig{MaxEjectionPercent: cfg.CircuitBreaker.MaxEjectionPercent})
	var list []*backend.Backend
	for _, bc := range cfg.Backends.Instances {
		brc := backend.BreakerConfig(cfg, bc)
		list = append(list, backend.New(bc, s.group.Add(bc.Name, brc), backend.AdmissionConfig(cfg, brc), &s.hooks))
	}
	s.backends.Store(&list)
	s.loadTimelines(cfg.State.Dir)
	s.overrides = overrides.New(cfg.State.Dir, log)
	if err := s.overrides.Load(); err != nil {
		// A torn or corrupt file must not keep the proxy from starting.
		log.Error("persisted overrides not loaded; starting without them", "err", err)
	}
	now := s.clock.Now()
	for _, o := range s.overrides.All() {
		if b := s.backend(o.Backend); b != nil {
			b.Breaker.Force(o.State.Breaker(), now)
		}
	}
	return s, nil
}

func (s *Server) breakersOnSet(cfg config.Config) {
	s.router.BreakersOn.Store(cfg.Proxy.CircuitBreakerEnabled && cfg.CircuitBreaker.Enabled)
}

// usersFor builds the [[users]] table of cfg; entries that did not change
// keep their salt and what the proxy learned from clients' logins. It
// changes nothing: the caller swaps the table in.
func (s *Server) usersFor(cfg config.Config) (map[string]*pool.User, error) {
	var current map[string]*pool.User
	if p := s.users.Load(); p != nil {
		current = *p
	}
	users := make(map[string]*pool.User, len(cfg.Users))
	for _, u := range cfg.Users {
		mode := cfg.Pool.Mode
		if old := current[u.Name]; old != nil && old.Config == u && old.TxMode == (cmp.Or(u.PoolMode, mode) == "transaction") {
			users[u.Name] = old
			continue
		}
		salt := make([]byte, 16)
		if _, err := rand.Read(salt); err != nil {
			return nil, err
		}
		pu, err := pool.NewUser(u, mode, salt)
		if err != nil {
			return nil, err
		}
		users[u.Name] = pu
	}
	return users, nil
}

// user returns the [[users]] entry of name, or nil.
func (s *Server) user(name string) *pool.User {
	return (*s.users.Load())[name]
}

// list returns the serving backends.
func (s *Server) list() []*backend.Backend { return *s.backends.Load() }

// config returns the running configuration.
func (s *Server) config() *config.Config { return s.cfg.Load() }

// backend returns the serving backend with that name, or nil.
func (s *Server) backend(name string) *backend.Backend {
	for _, b := range s.list() {
		if b.Config.Name == name {
			return b
		}
	}
	return nil
}

// OnQuery sets a function called with every relayed request's backend,
// latency and outcome (for metrics), and with the other overload answers
// clients got for a backend (breaker.Overload): logins it refused (53300
// too many clients, 57P03), and requests the proxy refused before they
// reached it (no pooled connection within pool.query_wait_timeout, the
// admission limit; with the time waited). Call it before Run; it must be
// fast.
func (s *Server) OnQuery(fn func(backend string, d time.Duration, o breaker.Outcome)) {
	s.hooks.OnQuery = fn
}

// OnHealthCheck sets a function called with every health check's backend,
// latency and outcome (for metrics). Call it before Run; it must be fast.
func (s *Server) OnHealthCheck(fn func(backend string, d time.Duration, o breaker.Outcome)) {
	s.hooks.OnHealthCheck = fn
}

// SetConfigSource gives Reload the function that reads the configuration
// file anew.
func (s *Server) SetConfigSource(load func() (config.Config, []config.Warning, error)) {
	s.runMu.Lock()
	s.source = load
	s.runMu.Unlock()
}

// OnReload adds a function called with the new configuration after each
// reload that applied (from Reload, so for the REST API and SIGHUP alike),
// for the parts outside the proxy that follow the file too (the REST API's
// admin token and allowed hosts, the log level). The functions run in the
// order added, before Reload returns, one reload at a time, so they must
// not call Reload.
func (s *Server) OnReload(fn func(config.Config)) {
	s.runMu.Lock()
	s.reloaded = append(s.reloaded, fn)
	s.runMu.Unlock()
}

// Run serves clients on ln, checks backends and evaluates breakers until
// ctx ends; it returns after every session and goroutine it started ended.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	loops, err := evloop.NewGroup(Loops(s.config().Proxy.Workers))
	if err != nil {
		s.log.Warn("event loops not started; sessions are relayed by goroutines", "err", err)
	} else {
		s.front.SetLoops(loops)
	}
	defer func() { // runs last, after cancel
		wg.Wait()
		s.front.ClosePools()
		if loops != nil {
			s.front.SetLoops(nil)
			loops.Close()
		}
	}()
	// fail ends Run with an error: the cluster member's refusal to join.
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	defer context.AfterFunc(ctx, func() { ln.Close() })()

	s.spawnMu.Lock()
	s.spawnWG = &wg
	s.spawnMu.Unlock()
	defer func() { // before wg.Wait: what is spawned from now on runs inline
		s.spawnMu.Lock()
		s.spawnWG = nil
		s.spawnMu.Unlock()
	}()
	if err := s.startCluster(ctx, &wg, fail); err != nil {
		return err
	}
	s.runMu.Lock()
	s.runCtx, s.runWG, s.checkers = ctx, &wg, make(map[*backend.Backend]context.CancelFunc)
	for _, b := range s.list() {
		if err := s.startChecker(b, s.config().HealthChecks); err != nil {
			s.runMu.Unlock()
			return err
		}
	}
	s.runMu.Unlock()
	s.startedOnce.Do(func() { close(s.started) })
	s.awaitFirstChecks(ctx)
	wg.Go(func() { s.tick(ctx) })
	if s.overrides.Persistent() {
		wg.Go(func() { s.overrides.Persist(ctx) })
	}
	s.log.Info("proxy listening", "addr", ln.Addr().String(), "backends", len(s.list()), "tls", s.front.TLS())
	defer func() {
		stopped := "the proxy has stopped accepting clients"
		s.acceptTrouble.Store(&stopped)
	}()
	err = listen.New(ln, s.log, s.clock, s.setAcceptTrouble).Run(ctx, func(conn net.Conn) {
		conn = fastconn.Wrap(conn)
		wg.Go(func() { s.front.Serve(ctx, conn) })
	})
	if cause := context.Cause(ctx); err == nil && errors.Is(cause, cluster.ErrDuplicateName) {
		err = cause
	}
	return err
}

// Loops is the number of event loops for proxy.workers: workers itself,
// or for 0 (the default) one per two of the CPUs the process may use, at
// least one: on a small host the proxy shares the cores with PostgreSQL
// and its clients, and one loop relays a session's two sockets with fewer
// wake-ups than two (docs/benchmarks.md § Workers). The CPUs it may use
// are GOMAXPROCS's, which Go sets from the CPU affinity and the cgroup's
// CPU limit: a container limited to 2 CPUs on a 32-CPU host gets one
// loop, not 16.
func Loops(workers int) int {
	if workers > 0 {
		return workers
	}
	return max(1, runtime.GOMAXPROCS(0)/2)
}

// awaitFirstChecks waits, at most health_checks.timeout, until every
// backend has been checked once, so that the first sessions are routed by
// the backends' roles: before its first check a backend's role is not
// known, and a write could reach a replica.
func (s *Server) awaitFirstChecks(ctx context.Context) {
	hc := s.config().HealthChecks
	if !hc.Enabled {
		return
	}
	deadline := time.NewTimer(hc.Timeout.Duration)
	defer deadline.Stop()
	for _, b := range s.list() {
		select {
		case <-b.Check.First():
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// setAcceptTrouble is told by Run's accept loop why the client listener
// cannot accept now, and "" once it can again.
func (s *Server) setAcceptTrouble(why string) {
	if why == "" {
		s.acceptTrouble.Store(nil)
		return
	}
	s.acceptTrouble.Store(&why)
}

// spawn runs fn on a goroutine that Run waits for before it returns;
// outside Run, or once Run is ending, fn runs before spawn returns.
func (s *Server) spawn(fn func()) {
	s.spawnMu.Lock()
	wg := s.spawnWG
	if wg != nil {
		wg.Add(1)
	}
	s.spawnMu.Unlock()
	if wg == nil {
		fn()
		return
	}
	go func() {
		defer wg.Done()
		fn()
	}()
}

// tick evaluates every breaker on a timer, so that stalls, expired probe
// permits and open durations are noticed without traffic.
func (s *Server) tick(ctx context.Context) {
	t := time.NewTicker(backend.TickInterval)
	defer t.Stop()
	var maintained, measured, urgent time.Time
	over := map[pattern.Key]int{} // reused: executions running beyond slow_query_threshold_ms, by pattern
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.clock.Now()
		if now.Sub(maintained) >= time.Second {
			maintained = now
			for _, b := range s.list() {
				s.front.MaintainPools(ctx, b, now, s.spawn)
			}
		}
		if now.Sub(measured) >= 100*time.Millisecond {
			measured = now
			for _, b := range s.list() {
				b.Queued.Store(s.front.Queued(b))
			}
		}
		s.expireOverrides(now)
		s.expireUserOverrides(now)
		s.tenants.Tick(now) // role breakers: OPEN to HALF_OPEN
		s.followPrimary(now, &urgent)
		for _, b := range s.list() {
			cfg := b.Breaker.Config()
			in := b.Inflight(now, cfg.LatencyP95, cfg.LatencyP99)
			s.watchCheck(b, now, in)
			b.Note(b.Breaker.Tick(now, in))
			b.RefreshFactor(now, b.TickStats(now), cfg)
		}
		s.tickPatterns(now, over)
	}
}

// publish turns a breaker transition into events for logs and subscribers.
func (s *Server) publish(b *backend.Backend, tr breaker.Transition) {
	var openedAt time.Time
	if tr.To == breaker.Open && tr.From == breaker.Closed {
		b.OpenedAt.Store(tr.At.UnixNano())
	} else if ns := b.OpenedAt.Load(); ns != 0 {
		openedAt = time.Unix(0, ns)
	}
	s.shareTransition(b, tr)
	rampAdmission(b, tr)
	if tr.To == breaker.Open {
		// Pooled connections and idle pooled sessions leave it now.
		s.spawn(func() { s.front.Isolate(b) })
	}
	s.router.Changed() // sessions waiting for a primary route again
	for _, ev := range events.FromTransition(tr, openedAt) {
		if s.config().Observability.LogCircuitStateChanges {
			s.logEvent(ev)
		}
		s.events.Publish(ev)
	}
}

func (s *Server) logEvent(ev status.Event) {
	attrs := []any{"event", string(ev.Type), "reason", ev.Reason, "detail", ev.Detail}
	if ev.Type == status.CascadeDetected {
		s.log.Warn("circuit cascade detected", append(attrs, "backends", ev.Backends)...)
		return
	}
	attrs = append(attrs, "backend", ev.Backend, "from", ev.From, "to", ev.To,
		"p95_ms", ev.LatencyP95Ms, "error_rate", ev.ErrorRate, "in_previous", ev.InPrevious.String())
	if ev.Type == status.CircuitOpened || ev.Type == status.RecoveryFailed {
		s.log.Warn("breaker state changed", attrs...)
		return
	}
	s.log.Info("breaker state changed", attrs...)
}

// Subscribe returns the events published from now on; the channel closes
// when ctx ends. A subscriber that falls behind loses events, never
// slowing the proxy.
func (s *Server) Subscribe(ctx context.Context) <-chan status.Event { return s.events.Subscribe(ctx) }

// Events returns up to limit recent events, oldest first (limit ≤ 0: all kept).
func (s *Server) Events(limit int) []status.Event { return s.events.History(limit) }

// Snapshot returns a copy of every backend's state.
func (s *Server) Snapshot() status.Snapshot { return s.snapshotInto(nil) }

// snapshotInto is Snapshot appending the backends to dst[:0], so that a
// caller can reuse the memory (the proxy's own status queries at 1,000
// backends would allocate 400 KB each).
func (s *Server) snapshotInto(dst []status.Backend) status.Snapshot {
	now := s.clock.Now()
	if dst == nil {
		dst = make([]status.Backend, 0, len(s.list()))
	}
	snap := status.Snapshot{Taken: now, Backends: dst[:0], QueryBreakers: s.queryBreakers(now)}
	if n := s.cluster.Load(); n != nil {
		snap.Members = n.Members(now)
		snap.Circuits = n.Circuits(now)
		h := n.Propagation()
		snap.Propagation = &h
	}
	snap.Users = s.tenants.Users(now)
	forced := s.overrides.ByName()
	var carriedTotals map[string]totals
	if c := s.carried.Load(); c != nil {
		carriedTotals = *c
	}
	var total int64
	for _, b := range s.list() {
		total += b.Active.Load()
	}
	for _, b := range s.list() {
		st := b.CurrentStats(now)
		active := b.Active.Load()
		sb := status.Backend{
			Name:                 b.Config.Name,
			Host:                 b.Config.Host,
			Port:                 b.Config.Port,
			Priority:             b.Live().Priority,
			Weight:               b.Live().Weight,
			ReadOnly:             b.Live().ReadOnly(),
			CircuitState:         status.StateOf(st.State),
			LatencyP50Ms:         ms(st.P50),
			LatencyP95Ms:         ms(st.P95),
			LatencyP99Ms:         ms(st.P99),
			ErrorRate:            st.ErrorRate,
			ConnectionSaturation: st.Saturation,
			LastFailureTime:      st.LastFailure,
			ActiveConnections:    int(active),
			QueueDepth:           int(b.Queued.Load()),
			BackendWaiting:       int(b.Waiting.Load()),
			MaxConnections:       int(b.MaxConns.Load()),
			StateSince:           st.Since,
			RampFactor:           st.Ramp,
			RequestsTotal:        st.RequestsTotal,
			FailuresTotal:        st.FailuresTotal,
			SuccessesTotal:       st.SuccessesTotal,
			RejectedTotal:        st.RejectedTotal,
			TransitionsTotal:     st.TransitionsTotal,
		}
		roleStatus(&sb, b.Roles(), st.State)
		admissionStatus(&sb, b)
		if c, ok := carriedTotals[b.Config.Name]; ok {
			c.addTo(&sb)
		}
		sb.TrustsProxy, sb.TrustedRoles = b.Trust.Status()
		if total > 0 {
			sb.TrafficShare = float64(active) / float64(total)
		}
		if st.State != breaker.Closed {
			sb.OpenReason = st.Reason.String()
		}
		if o, ok := forced[b.Config.Name]; ok {
			sb.Override, sb.OverrideReason, sb.OverrideAuthor, sb.OverrideExpires = o.State, o.Reason, o.Author, o.Expires
		}
		snap.Backends = append(snap.Backends, sb)
	}
	return snap
}

// roleStatus fills sb's replication fields from b's role view v and
// circuit state.
func roleStatus(sb *status.Backend, v backend.RoleView, state breaker.State) {
	sb.Role, sb.ObservedRole = statusRole(v.Role), statusRole(v.Observed)
	sb.Timeline = v.Timeline
	sb.ReplicationLagBytes = v.LagBytes
	sb.ReplicationLagMs = ms(v.Lag)
	sb.FencedReason = v.FencedReason
	switch {
	case v.Verdict == backend.Fenced:
		sb.Routing = status.RoutingFenced
	case state == breaker.Open:
		sb.Routing = status.RoutingUnreachable
	case v.Verdict == backend.Lagging:
		sb.Routing = status.RoutingLagging
	case v.Verdict == backend.ReadOnly:
		sb.Routing = status.RoutingReadOnly
	default:
		sb.Routing = status.RoutingReadWrite
	}
}

func statusRole(r backend.Role) status.Role {
	switch r {
	case backend.RolePrimary:
		return status.RolePrimary
	case backend.RoleReplica:
		return status.RoleReplica
	}
	return status.RoleUnknown
}

// ms is d in milliseconds, as status reports latencies.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// frontHost is the Server as its sessions see it (a session.Host).
type frontHost struct{ s *Server }

func (h frontHost) Config() *config.Config                        { return h.s.config() }
func (h frontHost) User(name string) *pool.User                   { return h.s.user(name) }
func (h frontHost) Snapshot(dst []status.Backend) status.Snapshot { return h.s.snapshotInto(dst) }
func (h frontHost) Events(limit int) []status.Event               { return h.s.Events(limit) }
func (h frontHost) Replayed(b *backend.Backend, at time.Time) bool {
	return h.s.topology.Replayed(b, at)
}
