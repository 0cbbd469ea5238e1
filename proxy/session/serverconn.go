package session

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/pool"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// connPool is a backend's pool for one user and database.
type connPool = pool.Pool[*serverConn]

// serverConn is one pooled connection to a backend as pooled sessions use
// it. An event loop (loopConn), or when there are none a goroutine of its
// own, reads it for as long as it is open and relays what it reads to the
// session it is attached to; a connection that says anything while idle
// in the pool is closed.
type serverConn struct {
	pool.Conn
	s *Front
	p *connPool
	b *backend.Backend

	owner atomic.Pointer[session] // the attached session, nil when idle

	// Guarded by the owner's pooled.mu (the pool's lock orders hand-overs),
	// as are Conn.Params and Conn.Reported.
	stmts map[uint64]struct{} // prepared statements it holds, by id
	// synced is the pooled.wantedKey of the parameters it was last found
	// to have (syncParams), "" when they changed since.
	synced string
	q      respQueue // what the responses it owes belong to
	// accepted maps the settings (name, NUL, value) that SETs of the
	// proxy's made on it without error to the value the server then
	// reported (noteSet), up to maxAccepted of them.
	accepted map[string]string
	// reset: a client's statement on it answered SET or LISTEN, or
	// called set_config (wire.Lasting), in transaction mode: a
	// parameter PostgreSQL does not report (or the role, or a listened
	// channel) may differ from what the proxy knows, and would stay for
	// the next transaction's client; the next attachment begins with
	// resetSession (syncParams).
	reset bool
	// defaults are the parameters the server reported at its login,
	// before any session's SET: where a session's carried parameters
	// start (syncParams), not from what the previous session left.
	// Read-only after open.
	defaults map[string]string
	ours     atomic.Int32 // requests of the proxy's own in q: their responses are dropped
	r        poolReader
}

// forgetCustom notes that the server reset the parameters the proxy set
// (pool.Conn.ForgetCustom): no session's set is known to be there any
// more. The owner's pooled.mu is held.
func (sc *serverConn) forgetCustom() {
	sc.ForgetCustom()
	sc.synced = ""
}

// Base gives the pool its part of the connection.
func (sc *serverConn) Base() *pool.Conn { return &sc.Conn }

// pools are the connection pools of every backend by user and database;
// a drained backend's stay until Run ends, which closes them all.
type pools struct {
	mu sync.Mutex
	m  map[*backend.Backend]map[pool.Key]*connPool
	w  map[*connPool]*welcome // what transaction-mode logins learned (welcome.go)
	// clients counts the logged-in sessions of each user and database
	// (join): only their pools keep min_pool_size connections.
	clients map[pool.Key]int
}

// join counts a session of key's pools until the returned leave is
// called. While none is counted, their pools keep no min_pool_size
// connections (PgBouncer's rule too): a database whose clients have left
// can be dropped once its idle connections expire, and one dropped, or
// named by a client's typo, gets no login attempts.
func (ps *pools) join(key pool.Key) (leave func()) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.clients == nil {
		ps.clients = make(map[pool.Key]int)
	}
	ps.clients[key]++
	return func() {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		if ps.clients[key]--; ps.clients[key] == 0 {
			delete(ps.clients, key)
		}
	}
}

// closeIdleExcept closes the idle connections of every pool but those of
// database: a statement of a session on database that creates, drops or
// alters a database (wire.DatabaseDDL) is about to run, and PostgreSQL
// would wait 5 s for them and fail with 55006 "database … is being
// accessed by other users" (idle pooled connections on the database
// dropped or copied are such users, for server_idle_timeout). Those of
// the session's own database are kept: PostgreSQL refuses the session
// itself there anyway.
func (ps *pools) closeIdleExcept(database string) {
	for _, p := range ps.all() {
		if p.Key.Database != database {
			p.CloseIdle()
		}
	}
}

// forgetUnused drops b's pools that have no connection, nobody waiting
// and no client of their user and database logged in: a pool is made at
// the first attachment for its database, so an authenticated client
// naming one database after another (mistyped, dropped, or on purpose)
// would otherwise grow the map for as long as the proxy runs. A client
// that logs in again gets a new one. Its clients are counted (join)
// before it can get its pool, under the same lock.
func (ps *pools) forgetUnused(b *backend.Backend) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for key, p := range ps.m[b] {
		if ps.clients[key] == 0 && p.Unused() {
			delete(ps.m[b], key)
			delete(ps.w, p)
		}
	}
	if len(ps.m[b]) == 0 {
		delete(ps.m, b)
	}
}

// hasClients reports whether a session of key's pools is counted (join).
func (ps *pools) hasClients(key pool.Key) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.clients[key] > 0
}

// get returns b's pool for key, creating it.
func (ps *pools) get(s *Front, b *backend.Backend, key pool.Key) *connPool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.m[b][key]
	if p == nil {
		p = pool.New(key, pool.Env[*serverConn]{
			Now:      s.clock.Now,
			Settings: func() pool.Settings { return s.poolSettings(key.User) },
			Open: func(ctx context.Context, p *connPool, epoch uint64) (*serverConn, error) {
				return s.open(ctx, b, p, epoch)
			},
			KeepMin: func() bool {
				return b.Breaker.State() == breaker.Closed && !b.Draining.Load() && ps.hasClients(key)
			},
			Log: s.log.With("backend", b.Config.Name),
		})
		if ps.m == nil {
			ps.m = make(map[*backend.Backend]map[pool.Key]*connPool)
		}
		if ps.m[b] == nil {
			ps.m[b] = make(map[pool.Key]*connPool)
		}
		ps.m[b][key] = p
	}
	return p
}

// of returns b's pools.
func (ps *pools) of(b *backend.Backend) []*connPool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return slices.Collect(maps.Values(ps.m[b]))
}

// all returns every pool.
func (ps *pools) all() []*connPool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var all []*connPool
	for _, m := range ps.m {
		all = slices.AppendSeq(all, maps.Values(m))
	}
	return all
}

// poolSettings returns the pool limits of user's pools.
func (s *Front) poolSettings(user string) pool.Settings {
	pc := s.config().Pool
	set := pool.Settings{Size: pc.DefaultPoolSize, MinSize: pc.MinPoolSize, WaitTimeout: pc.QueryWaitTimeout.Duration,
		Lifetime: pc.ServerLifetime.Duration, IdleTimeout: pc.ServerIdleTimeout.Duration}
	if u := s.user(user); u != nil && u.Config.PoolSize > 0 {
		set.Size = u.Config.PoolSize
	}
	return set
}

// open opens and logs in a new connection for p.
func (s *Front) open(ctx context.Context, b *backend.Backend, p *connPool, epoch uint64) (*serverConn, error) {
	start := s.clock.Now()
	record := func(o breaker.Outcome) {
		now := s.clock.Now()
		b.Connected(b.Breaker.Current(), o, now.Sub(start), now)
	}
	u := s.user(p.Key.User)
	if u == nil {
		return nil, fmt.Errorf("user %q is no longer in [[users]]", p.Key.User)
	}
	dctx, cancel := context.WithTimeout(ctx, s.connectTimeout)
	defer cancel()
	conn, err := b.Dial(dctx, s.config())
	if err != nil {
		record(breaker.Failure)
		return nil, errRetry{err}
	}
	sc := &serverConn{Conn: pool.NewConn(conn, wire.NewStream(conn, backendBufSize, backendMaxBody), start, epoch),
		s: s, p: p, b: b, stmts: make(map[uint64]struct{})}
	if d, ok := dctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	err = sc.Login(u, p.Key.Database)
	_ = conn.SetDeadline(time.Time{})
	if err != nil {
		conn.Close()
		var be *wire.BackendError
		if errors.As(err, &be) {
			o := backend.LoginOutcome(be.Code)
			if be.Own {
				o = breaker.Excluded
			}
			record(o)
			if o == breaker.Failure || o == breaker.Overload {
				return nil, errRetry{err}
			}
			e := &Error{Code: be.Code, Message: be.Message, Err: err}
			if be.Code == codeInvalidPassword {
				// The client's password was right (the proxy checked it):
				// the backend refused the proxy's own credentials for the
				// role, as after ALTER ROLE … PASSWORD or psql's
				// \password through the proxy.
				e.Detail = fmt.Sprintf("HeliosProxy logs in to the database server as %q with the credentials of its [[users]] entry, and the server refused them.", p.Key.User)
				e.Hint = "If the role's password was changed (ALTER ROLE ... PASSWORD, psql's \\password), put the new password or SCRAM verifier in the role's [[users]] entry and reload HeliosProxy."
				s.log.Error("the backend refused the [[users]] credentials of a role; was its password changed?", "backend", b.Config.Name, "user", p.Key.User, "database", p.Key.Database)
			}
			return nil, e
		}
		var pe *Error
		if errors.As(err, &pe) {
			return nil, err // the proxy cannot log in: a configuration problem
		}
		record(breaker.Failure)
		return nil, errRetry{err}
	}
	record(breaker.Success)
	sc.defaults = maps.Clone(sc.Params)
	sc.r.sc = sc
	sc.r.scan = wire.Scanner{H: &sc.r, MaxBody: 1<<31 - 1, Hold: true}
	looped := true
	if g := s.Loops(); g == nil || !sc.adopt(g) {
		looped = false
		p.Go(sc.readLoop)
	}
	s.pools.noteOpened(p, sc, looped)
	return sc, nil
}
