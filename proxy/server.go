// Package proxy is HeliosProxy's PostgreSQL front end: it accepts client
// connections, routes each session to a backend chosen by the circuit
// breakers, relays the session while observing latency and errors, checks
// backends actively, and publishes circuit events.
package proxy

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/status"
	"github.com/heliosdb/heliosproxy/statusdb"
)

// Clock tells the time; tests may substitute their own.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// tickInterval is how often every breaker is evaluated on a timer.
const tickInterval = 10 * time.Millisecond

// Server is the proxy. Create it with New and start it with Run.
type Server struct {
	log   *slog.Logger
	clock Clock

	cfg       config.Config
	tlsConfig *tls.Config // nil: clients are told 'N' on SSLRequest

	// breakersOn is false when the file turns circuit breaking off: the
	// breakers still observe and report, but routing ignores them.
	breakersOn bool
	group      *breaker.Group
	backends   []*backend // configuration order; fixed for the life of the Server
	events     *eventBus
	statusDB   *statusdb.DB // answers helios_proxy.* statements

	startupTimeout time.Duration
	connectTimeout time.Duration
	maxBody        int

	nextPID atomic.Uint32
	rotor   atomic.Uint64 // breaks routing ties
	keysMu  sync.Mutex
	keys    map[uint32]*session // by the process ID the proxy issued
}

// New builds a Server from a validated configuration.
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	log = log.With("component", "proxy")
	s := &Server{
		log:            log,
		clock:          realClock{},
		cfg:            cfg,
		events:         newEventBus(log),
		statusDB:       statusdb.New(),
		startupTimeout: cfg.Proxy.StartupTimeout.Duration,
		connectTimeout: cfg.Proxy.ConnectTimeout.Duration,
		maxBody:        cfg.Proxy.MaxMessageSize,
		breakersOn:     cfg.Proxy.CircuitBreakerEnabled && cfg.CircuitBreaker.Enabled,
		keys:           make(map[uint32]*session),
	}
	var pid [4]byte
	if _, err := rand.Read(pid[:]); err != nil {
		return nil, fmt.Errorf("seed process ids: %w", err)
	}
	s.nextPID.Store(binary.BigEndian.Uint32(pid[:]) & 0x3fffffff)
	if cfg.Proxy.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.Proxy.TLSCertFile, cfg.Proxy.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("proxy.tls_cert_file/tls_key_file: %w", err)
		}
		s.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	s.group = breaker.NewGroup(breaker.GroupConfig{MaxEjectionPercent: cfg.CircuitBreaker.MaxEjectionPercent})
	for _, bc := range cfg.Backends.Instances {
		s.backends = append(s.backends, newBackend(bc, s.group.Add(bc.Name, breakerConfig(cfg, bc))))
	}
	return s, nil
}

// breakerConfig maps the file's settings for one backend onto its breaker.
func breakerConfig(c config.Config, b config.Backend) breaker.Config {
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

// Run serves clients on ln, checks backends and evaluates breakers until
// ctx ends; it returns after every session and goroutine it started ended.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait() // runs last, after cancel
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(ctx, func() { ln.Close() })()

	if s.cfg.HealthChecks.Enabled {
		for _, b := range s.backends {
			pc, err := checkConfig(b.cfg, s.cfg.HealthChecks)
			if err != nil {
				return err
			}
			h := &healthChecker{s: s, b: b, hc: s.cfg.HealthChecks, cfg: pc}
			wg.Go(func() { h.run(ctx) })
		}
	}
	wg.Go(func() { s.tick(ctx) })
	s.log.Info("proxy listening", "addr", ln.Addr().String(), "backends", len(s.backends), "tls", s.tlsConfig != nil)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil // we closed the listener
			}
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		wg.Go(func() { s.serve(ctx, conn) })
	}
}

// tick evaluates every breaker on a timer, so that stalls, expired probe
// permits and open durations are noticed without traffic.
func (s *Server) tick(ctx context.Context) {
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.clock.Now()
		for _, b := range s.backends {
			cfg := b.br.Config()
			in := b.inflight(now, cfg.LatencyP95, cfg.LatencyP99)
			if tr, ok := b.br.Tick(now, in); ok {
				s.publish(b, tr)
			}
			b.refreshFactor(now, b.br.Stats(now), cfg)
		}
	}
}

// publish turns a breaker transition into events for logs and subscribers.
func (s *Server) publish(b *backend, tr breaker.Transition) {
	var openedAt time.Time
	if tr.To == breaker.Open && tr.From == breaker.Closed {
		b.openedAt.Store(tr.At.UnixNano())
	} else if ns := b.openedAt.Load(); ns != 0 {
		openedAt = time.Unix(0, ns)
	}
	for _, ev := range transitionEvents(tr, openedAt) {
		if s.cfg.Observability.LogCircuitStateChanges {
			s.logEvent(ev)
		}
		s.events.publish(ev)
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
func (s *Server) Subscribe(ctx context.Context) <-chan status.Event { return s.events.subscribe(ctx) }

// Events returns up to limit recent events, oldest first (limit ≤ 0: all kept).
func (s *Server) Events(limit int) []status.Event { return s.events.history(limit) }

// Snapshot returns a copy of every backend's state.
func (s *Server) Snapshot() status.Snapshot {
	now := s.clock.Now()
	snap := status.Snapshot{Taken: now, Backends: make([]status.Backend, 0, len(s.backends))}
	var total int64
	for _, b := range s.backends {
		total += b.active.Load()
	}
	for _, b := range s.backends {
		st := b.br.Stats(now)
		active := b.active.Load()
		sb := status.Backend{
			Name:                 b.cfg.Name,
			Host:                 b.cfg.Host,
			Port:                 b.cfg.Port,
			Priority:             b.cfg.Priority,
			Weight:               b.cfg.Weight,
			ReadOnly:             b.cfg.ReadOnly(),
			CircuitState:         st.State.String(),
			LatencyP50Ms:         ms(st.P50),
			LatencyP95Ms:         ms(st.P95),
			LatencyP99Ms:         ms(st.P99),
			ErrorRate:            st.ErrorRate,
			ConnectionSaturation: st.Saturation,
			LastFailureTime:      st.LastFailure,
			ActiveConnections:    int(active),
			MaxConnections:       int(b.maxConns.Load()),
			StateSince:           st.Since,
			RampFactor:           st.Ramp,
			RequestsTotal:        st.RequestsTotal,
			FailuresTotal:        st.FailuresTotal,
			SuccessesTotal:       st.SuccessesTotal,
			RejectedTotal:        st.RejectedTotal,
			TransitionsTotal:     st.TransitionsTotal,
			ReplicationLagMs:     math.Float64frombits(b.lagMs.Load()),
		}
		if total > 0 {
			sb.TrafficShare = float64(active) / float64(total)
		}
		if st.State != breaker.Closed {
			sb.OpenReason = st.Reason.String()
		}
		if st.Forced {
			sb.Override = st.State.String()
		}
		snap.Backends = append(snap.Backends, sb)
	}
	return snap
}

// issueKey gives a session the BackendKeyData the client sees.
func (s *Server) issueKey(ss *session) error {
	if _, err := rand.Read(ss.secret[:]); err != nil {
		return err
	}
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	for {
		pid := s.nextPID.Add(1) & 0x3fffffff
		if _, taken := s.keys[pid]; pid != 0 && !taken {
			ss.pid = pid
			s.keys[pid] = ss
			return nil
		}
	}
}

func (s *Server) dropKey(ss *session) {
	s.keysMu.Lock()
	if s.keys[ss.pid] == ss {
		delete(s.keys, ss.pid)
	}
	s.keysMu.Unlock()
}

func (s *Server) sessionByKey(pid uint32) *session {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	return s.keys[pid]
}
