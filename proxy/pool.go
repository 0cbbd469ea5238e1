package proxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/scram"
)

// serverCheckDelay is how long a pooled connection may sit idle before it
// is checked with an empty query on checkout (PgBouncer's
// server_check_delay). A variable so that tests can make checks common.
var serverCheckDelay = 30 * time.Second

// poolUser is a [[users]] entry with what the proxy derived from it.
type poolUser struct {
	cfg      config.User
	txMode   bool
	verifier scram.Verifier // checks SCRAM logins
	md5      string         // md5 secret, "" when the file gives a SCRAM verifier

	mu        sync.Mutex
	clientKey *[32]byte // from a client's SCRAM proof, when the file gives a verifier
}

// newPoolUser derives the login secrets of u. A plain password gets a
// verifier with a fresh salt, as CREATE ROLE … PASSWORD would.
func newPoolUser(u config.User, mode string, salt []byte) (*poolUser, error) {
	if u.PoolMode != "" {
		mode = u.PoolMode
	}
	pu := &poolUser{cfg: u, txMode: mode == "transaction"}
	switch {
	case scram.IsVerifier(u.Password):
		v, err := scram.ParseVerifier(u.Password)
		if err != nil {
			return nil, fmt.Errorf("users %q: %w", u.Name, err)
		}
		pu.verifier = v
	case scram.IsMD5Secret(u.Password):
		pu.md5 = u.Password
	default:
		pu.verifier = scram.NewVerifier(u.Password, salt, 4096)
		pu.md5 = scram.MD5Secret(u.Name, u.Password)
	}
	return pu, nil
}

// plain returns the plain password, "" when the file gives a secret.
func (u *poolUser) plain() string {
	if scram.IsVerifier(u.cfg.Password) || scram.IsMD5Secret(u.cfg.Password) {
		return ""
	}
	return u.cfg.Password
}

func (u *poolUser) learnedKey() (*[32]byte, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.clientKey, u.clientKey != nil
}

func (u *poolUser) learn(k [32]byte) {
	u.mu.Lock()
	u.clientKey = &k
	u.mu.Unlock()
}

// poolKey names the pool of a backend a session's server connections come
// from.
type poolKey struct{ user, database string }

// pool holds the server connections to one backend for one user and
// database.
type pool struct {
	s       *Server
	b       *backend
	key     poolKey
	mu      sync.Mutex
	idle    []*serverConn // most recently used last
	open    int           // connections open or being opened
	inUse   int
	epoch   uint64 // bumped when the backend's circuit opens: older connections are closed, not reused
	waiters []chan poolGrant
	closed  bool // Run ended: connections given back are closed

	maintaining atomic.Bool
	readers     sync.WaitGroup // one readLoop per connection it opened
}

// poolGrant answers a waiter: a connection, or an error to give up with, or
// neither when a slot became free and the waiter should try again.
type poolGrant struct {
	sc  *serverConn
	err error
}

// errPoolIsolated sends a waiter elsewhere: the backend's circuit opened.
var errPoolIsolated = errors.New("the backend's circuit opened while waiting for a server connection")

// pool returns b's pool for key, creating it.
func (b *backend) pool(s *Server, key poolKey) *pool {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.pools[key]
	if p == nil {
		p = &pool{s: s, b: b, key: key}
		b.pools[key] = p
	}
	return p
}

// allPools returns b's pools.
func (b *backend) allPools() []*pool {
	b.mu.Lock()
	defer b.mu.Unlock()
	ps := make([]*pool, 0, len(b.pools))
	for _, p := range b.pools {
		ps = append(ps, p)
	}
	return ps
}

func (p *pool) size() int {
	cfg := p.s.config()
	if u := p.s.user(p.key.user); u != nil && u.cfg.PoolSize > 0 {
		return u.cfg.PoolSize
	}
	return cfg.Pool.DefaultPoolSize
}

// get checks out a connection, opening one when the pool has room, or
// waits up to pool.query_wait_timeout for one to be returned.
func (p *pool) get(ctx context.Context, ss *session) (*serverConn, error) {
	var deadline <-chan time.Time // set when the first wait begins
	for {
		p.mu.Lock()
		for len(p.idle) > 0 {
			sc := p.idle[len(p.idle)-1]
			p.idle = p.idle[:len(p.idle)-1]
			if sc.dead.Load() {
				p.open--
				continue
			}
			p.inUse++
			p.mu.Unlock()
			return sc, nil
		}
		if p.open < p.size() {
			p.open++
			p.inUse++
			epoch := p.epoch
			p.mu.Unlock()
			sc, err := p.dial(ctx, ss, epoch)
			if err != nil {
				p.mu.Lock()
				p.open--
				p.inUse--
				p.grant(poolGrant{})
				p.mu.Unlock()
				return nil, err
			}
			return sc, nil
		}
		ch := make(chan poolGrant, 1)
		p.waiters = append(p.waiters, ch)
		p.mu.Unlock()
		if wait := p.s.config().Pool.QueryWaitTimeout.Duration; deadline == nil && wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case g := <-ch:
			if g.sc != nil || g.err != nil {
				return g.sc, g.err
			}
			continue // a slot is free: try again
		case <-deadline:
		case <-ctx.Done():
		}
		p.mu.Lock()
		p.waiters = slices.DeleteFunc(p.waiters, func(c chan poolGrant) bool { return c == ch })
		p.mu.Unlock()
		select {
		case g := <-ch: // granted while giving up
			if g.sc != nil {
				p.put(g.sc, true)
			}
		default:
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errQueueTimeout
	}
}

// errQueueTimeout: no server connection within pool.query_wait_timeout.
var errQueueTimeout = errors.New("no server connection became free within pool.query_wait_timeout")

// grant hands g to the longest waiter, if any; p.mu is held.
func (p *pool) grant(g poolGrant) bool {
	if len(p.waiters) == 0 {
		return false
	}
	ch := p.waiters[0]
	p.waiters = p.waiters[1:]
	ch <- g
	return true
}

// put returns a checked-out connection. A connection that is not clean,
// or belongs to an earlier epoch, or outlived server_lifetime is closed.
func (p *pool) put(sc *serverConn, clean bool) {
	now := p.s.clock.Now()
	life := p.s.config().Pool.ServerLifetime.Duration
	p.mu.Lock()
	p.inUse--
	if !clean || p.closed || sc.dead.Load() || sc.epoch != p.epoch || (life > 0 && now.Sub(sc.born) > life) {
		p.open--
		p.grant(poolGrant{})
		p.mu.Unlock()
		sc.close()
		return
	}
	p.inUse++
	if p.grant(poolGrant{sc: sc}) {
		p.mu.Unlock()
		return
	}
	p.inUse--
	sc.idleSince = now
	p.idle = append(p.idle, sc)
	p.mu.Unlock()
}

// discard forgets a connection that died while idle.
func (p *pool) discard(sc *serverConn) {
	p.mu.Lock()
	if i := slices.Index(p.idle, sc); i >= 0 {
		p.idle = slices.Delete(p.idle, i, i+1)
		p.open--
		p.grant(poolGrant{})
	}
	p.mu.Unlock()
}

// isolate closes the idle connections after the backend's circuit opened,
// marks the busy ones to be closed when returned, and sends waiters to
// another backend.
func (p *pool) isolate() {
	p.mu.Lock()
	p.epoch++
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	for p.grant(poolGrant{err: errPoolIsolated}) {
	}
	p.mu.Unlock()
	for _, sc := range idle {
		sc.close()
	}
}

// close ends the pool when Run ends (every session has ended by then):
// its idle connections are closed, any given back later is closed too,
// and close returns once every connection's reader has ended.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	p.mu.Unlock()
	for _, sc := range idle {
		sc.close()
	}
	p.readers.Wait()
}

// maintain closes connections idle longer than server_idle_timeout and
// opens connections up to min_pool_size while the circuit is closed.
func (p *pool) maintain(ctx context.Context, now time.Time) {
	if !p.maintaining.CompareAndSwap(false, true) {
		return
	}
	defer p.maintaining.Store(false)
	pc := p.s.config().Pool
	var expired []*serverConn
	p.mu.Lock()
	keep := p.idle[:0]
	for _, sc := range p.idle {
		if pc.ServerIdleTimeout.Duration > 0 && now.Sub(sc.idleSince) > pc.ServerIdleTimeout.Duration ||
			pc.ServerLifetime.Duration > 0 && now.Sub(sc.born) > pc.ServerLifetime.Duration {
			expired = append(expired, sc)
			continue
		}
		keep = append(keep, sc)
	}
	p.idle = keep
	p.open -= len(expired)
	missing := 0
	if p.b.br.State() == breaker.Closed && !p.b.draining.Load() {
		missing = min(pc.MinPoolSize, p.size()) - p.open
	}
	missing = max(missing, 0)
	p.open += missing
	epoch := p.epoch
	p.mu.Unlock()
	for _, sc := range expired {
		sc.close()
	}
	for range missing {
		sc, err := p.dial(ctx, nil, epoch)
		if err != nil {
			p.mu.Lock()
			p.open -= missing
			p.mu.Unlock()
			p.s.log.Debug("min_pool_size connection not opened", "backend", p.b.cfg.Name, "user", p.key.user, "err", err)
			return
		}
		missing--
		p.mu.Lock()
		p.inUse++
		p.mu.Unlock()
		p.put(sc, true)
	}
}

// waiting returns the clients waiting for a connection.
func (p *pool) waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiters)
}
