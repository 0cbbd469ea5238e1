// Package session serves the proxy's clients: one session per client
// connection, from its startup packets to its end.
//
// A session has one core (session.go: startup, TLS, limits, routing to a
// backend and the pass-through login, the relay in both directions, cancel
// requests) and three parts:
//   - pass-through: the client logs in to the backend itself and the relay
//     copies bytes both ways, watching requests' outcomes (session.go);
//   - pooled: for [[users]] roles the proxy authenticates the client
//     (frontauth.go) and lends it server connections from package pool per
//     session or per transaction (pooled.go, serverconn.go, poolreader.go,
//     respqueue.go);
//   - status: statements that name helios_proxy, and every statement on
//     the helios_proxy database, are answered by the proxy itself through
//     statusdb (local.go, localsession.go), with PostgreSQL's transaction
//     rules (txabort.go); a Query or pipeline that mixes them with backend
//     statements is answered in order, in one implicit transaction
//     (mixed.go).
//
// Every relayed request goes through the same life: admitted with a
// breaker ticket (package route, or backend.Pending), relayed, classified
// and recorded by backend.Finish.
//
// It does not choose backends (package route), keep their state (package
// backend), check them (package health) or own the configuration: the
// proxy's Server is its Host.
package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/evloop"
	"github.com/heliosdb/heliosproxy/proxy/pattern"
	"github.com/heliosdb/heliosproxy/proxy/pool"
	"github.com/heliosdb/heliosproxy/proxy/route"
	"github.com/heliosdb/heliosproxy/proxy/tenant"
	"github.com/heliosdb/heliosproxy/proxy/wire"
	"github.com/heliosdb/heliosproxy/status"
	"github.com/heliosdb/heliosproxy/statusdb"
)

// Host is what sessions need from the proxy that runs them.
type Host interface {
	Config() *config.Config      // the running configuration
	User(name string) *pool.User // the [[users]] entry of name, nil if none
	// Snapshot appends every backend's state to dst[:0], for status
	// queries.
	Snapshot(dst []status.Backend) status.Snapshot
	Events(limit int) []status.Event // recent events, oldest first
	// Replayed reports whether b, a replica, has replayed what its primary
	// had written by at (backend.Topology.Replayed).
	Replayed(b *backend.Backend, at time.Time) bool
}

// Clock tells the time.
type Clock interface{ Now() time.Time }

// Front is the proxy's client side: it serves client connections and keeps
// what sessions share (cancel keys, counts, the buffer budget, pooled
// connections and prepared statements).
type Front struct {
	host   Host
	router *route.Router
	log    *slog.Logger
	clock  Clock

	// tlsConfig is what TLS with clients uses, nil when they are told 'N'
	// on SSLRequest; a reload replaces it (SetTLS).
	tlsConfig atomic.Pointer[tls.Config]
	statusDB  *statusdb.DB

	startupTimeout time.Duration
	connectTimeout time.Duration
	maxBody        int

	clients        atomic.Int64 // client sessions
	statusSessions atomic.Int64 // of which on the helios_proxy database
	// Buffers is the memory of client messages being received, within
	// proxy.max_buffer_memory (the proxy sets its Limit on reload).
	Buffers wire.MemBudget

	challenges challengeTimes // recent pass-through logins' time to their first authentication request

	nextPID atomic.Uint32
	keysMu  sync.Mutex
	keys    map[uint32]*session // by the process ID the proxy issued

	stmts pool.Statements // server-side names of pooled sessions' prepared statements
	pools pools           // the server connection pools of [[users]] sessions

	// Patterns are the query-level breakers; nil means none. Set before
	// the first session.
	Patterns *pattern.Registry
	// Tenants are the roles' limits and breakers; nil means none (set
	// before serving).
	Tenants *tenant.Registry
	// loops relay plain pass-through sessions (looprelay.go); nil: every
	// session is relayed by goroutines.
	loops atomic.Pointer[evloop.Group]
}

// SetLoops makes the event loops of g relay the plain pass-through
// sessions that start from now on; nil: goroutines relay them.
func (f *Front) SetLoops(g *evloop.Group) { f.loops.Store(g) }

// Loops are the event loops relaying sessions, nil if none.
func (f *Front) Loops() *evloop.Group { return f.loops.Load() }

// New returns the client side of a proxy configured by cfg (what needs a
// restart to change: TLS, timeouts, the message size limit), routing
// with router.
func New(cfg config.Config, host Host, router *route.Router, clock Clock, log *slog.Logger) (*Front, error) {
	f := &Front{host: host, router: router, log: log, clock: clock, statusDB: statusdb.New(),
		startupTimeout: cfg.Proxy.StartupTimeout.Duration,
		connectTimeout: cfg.Proxy.ConnectTimeout.Duration,
		maxBody:        cfg.Proxy.MaxMessageSize,
		keys:           make(map[uint32]*session),
	}
	var pid [4]byte
	if _, err := rand.Read(pid[:]); err != nil {
		return nil, fmt.Errorf("seed process ids: %w", err)
	}
	f.nextPID.Store(binary.BigEndian.Uint32(pid[:]) & 0x3fffffff)
	tc, err := LoadTLS(cfg.Proxy)
	if err != nil {
		return nil, err
	}
	f.tlsConfig.Store(tc)
	f.Buffers.Limit.Store(cfg.Proxy.MaxBufferMemory)
	return f, nil
}

// TLS reports whether clients may use TLS.
func (s *Front) TLS() bool { return s.tlsConfig.Load() != nil }

// LoadTLS reads the certificate and key for TLS with clients from p's
// files (read again at each reload: a renewed certificate under the same
// names applies); nil when p names none.
func LoadTLS(p config.Proxy) (*tls.Config, error) {
	cert, err := p.ClientCertificate()
	if err != nil {
		return nil, fmt.Errorf("proxy.tls_cert_file/tls_key_file: %w", err)
	}
	if cert == nil {
		return nil, nil
	}
	return &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}, nil
}

// SetTLS makes c (LoadTLS's) what new TLS handshakes with clients use.
func (s *Front) SetTLS(c *tls.Config) { s.tlsConfig.Store(c) }

// TLSChanges reports whether SetTLS(c) would change the certificate
// clients are shown.
func (s *Front) TLSChanges(c *tls.Config) bool {
	old := s.tlsConfig.Load()
	if old == nil || c == nil {
		return old != c
	}
	return !bytes.Equal(old.Certificates[0].Certificate[0], c.Certificates[0].Certificate[0])
}

// Sessions returns the client sessions under way (past their startup
// packet).
func (s *Front) Sessions() int {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	return len(s.keys)
}

func (s *Front) config() *config.Config          { return s.host.Config() }
func (s *Front) user(name string) *pool.User     { return s.host.User(name) }
func (s *Front) Events(limit int) []status.Event { return s.host.Events(limit) }
func (s *Front) snapshotInto(dst []status.Backend) status.Snapshot {
	return s.host.Snapshot(dst)
}

// MaintainPools forgets b's unused pools (pools.forgetUnused) and runs
// pool.Pool.Maintain on the others, each through spawn.
func (s *Front) MaintainPools(ctx context.Context, b *backend.Backend, now time.Time, spawn func(func())) {
	s.pools.forgetUnused(b)
	for _, p := range s.pools.of(b) {
		spawn(func() { p.Maintain(ctx, now) })
	}
}

// Queued returns the clients waiting for a connection of b's pools.
func (s *Front) Queued(b *backend.Backend) int64 {
	var queued int64
	for _, p := range s.pools.of(b) {
		queued += int64(p.Waiting())
	}
	return queued
}

// ClosePools closes every pool of every backend, serving or drained, once
// the sessions have ended, and waits for their connections' readers.
func (s *Front) ClosePools() {
	for _, p := range s.pools.all() {
		p.Close()
	}
}

// issueKey gives a session the BackendKeyData the client sees.
func (s *Front) issueKey(ss *session) error {
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

func (s *Front) dropKey(ss *session) {
	s.keysMu.Lock()
	if s.keys[ss.pid] == ss {
		delete(s.keys, ss.pid)
	}
	s.keysMu.Unlock()
}

func (s *Front) sessionByKey(pid uint32) *session {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	return s.keys[pid]
}
