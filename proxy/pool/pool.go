// Package pool keeps the proxy's own connections to backends for the
// sessions whose clients the proxy authenticates itself ([[users]]): one
// Pool per backend, user and database, with checkout, waiting within
// pool.query_wait_timeout, give-back, isolation when the backend's circuit
// opens, idle and lifetime expiry, and min_pool_size; the login of a
// connection as a [[users]] role (Login, User); and the server-side names
// of prepared statements that pooled sessions share (Statements).
//
// It does not relay: what a connection reads and whom it relays it to is
// the session's business. A pool holds values of the session's own
// connection type (Member), each built on a Conn.
package pool

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Key names a backend's pool.
type Key struct{ User, Database string }

// Member is what a pool holds: the session's connection type, built on a
// Conn.
type Member interface {
	comparable
	Base() *Conn
}

// Settings are a pool's limits from the running configuration.
type Settings struct {
	Size        int           // connections at most (pool.default_pool_size, or the user's pool_size)
	MinSize     int           // kept open while the backend is healthy and the pool has clients (pool.min_pool_size)
	WaitTimeout time.Duration // a checkout waits at most this (pool.query_wait_timeout); 0: no limit
	Lifetime    time.Duration // a connection older than this is closed when given back or idle (server_lifetime)
	IdleTimeout time.Duration // an idle connection is closed after this (server_idle_timeout)
}

// Env is what a pool needs from its backend.
type Env[M Member] struct {
	Now      func() time.Time
	Settings func() Settings
	// Open opens and logs in a connection of p of the given epoch; it
	// starts the connection's reader with p.Go.
	Open func(ctx context.Context, p *Pool[M], epoch uint64) (M, error)
	// KeepMin reports whether min_pool_size connections should be kept:
	// the circuit is closed, the backend is not draining, and a client of
	// the pool's user and database is logged in (as PgBouncer keeps
	// min_pool_size only for pools with clients).
	KeepMin func() bool
	Log     *slog.Logger // with the backend's name
}

// Pool holds the connections to one backend for one user and database.
type Pool[M Member] struct {
	Key Key
	env Env[M]

	mu      sync.Mutex
	idle    []M // most recently used last
	open    int // connections open or being opened
	inUse   int
	epoch   uint64 // bumped by Isolate: older connections are closed, not reused
	waiters []*waiter[M]
	closed  bool // Close was called: connections given back are closed

	maintaining atomic.Bool
	readers     sync.WaitGroup // one per connection opened
}

// grant answers a waiter: a connection, or an error to give up with, or
// neither when a slot became free and the waiter should try again.
type grant[M Member] struct {
	m   M
	ok  bool
	err error
}

// waiter is a client waiting for a connection: a goroutine in Get (ch),
// or an event loop's continuation (fn, Await) with its wait timeout.
type waiter[M Member] struct {
	ch    chan grant[M]
	fn    func(m M, ok bool, err error)
	timer *time.Timer
}

// ErrIsolated sends a waiter elsewhere: the backend's circuit opened.
var ErrIsolated = errors.New("the backend's circuit opened while waiting for a server connection")

// ErrWithdrawn ends a wait its waiter withdrew (AwaitWithdrawable): the
// client cancelled the request that waited.
var ErrWithdrawn = errors.New("the wait for a server connection was withdrawn")

// ErrQueueTimeout: no server connection within pool.query_wait_timeout.
var ErrQueueTimeout = errors.New("no server connection became free within pool.query_wait_timeout")

// New returns an empty pool.
func New[M Member](key Key, env Env[M]) *Pool[M] { return &Pool[M]{Key: key, env: env} }

// Go runs a connection's reader; Close waits for it.
func (p *Pool[M]) Go(reader func()) { p.readers.Go(reader) }

// Get checks out a connection, opening one when the pool has room, or
// waits up to the wait timeout for one to be given back.
func (p *Pool[M]) Get(ctx context.Context) (M, error) {
	var zero M
	var deadline <-chan time.Time // set when the first wait begins
	for {
		p.mu.Lock()
		for len(p.idle) > 0 {
			m := p.idle[len(p.idle)-1]
			p.idle = p.idle[:len(p.idle)-1]
			if m.Base().Dead() {
				p.open--
				continue
			}
			p.inUse++
			p.mu.Unlock()
			return m, nil
		}
		set := p.env.Settings()
		if p.open < set.Size {
			p.open++
			p.inUse++
			epoch := p.epoch
			p.mu.Unlock()
			m, err := p.env.Open(ctx, p, epoch)
			if err != nil {
				p.mu.Lock()
				p.open--
				p.inUse--
				p.grant(grant[M]{})
				p.mu.Unlock()
				return zero, err
			}
			return m, nil
		}
		w := &waiter[M]{ch: make(chan grant[M], 1)}
		ch := w.ch
		p.waiters = append(p.waiters, w)
		p.mu.Unlock()
		if set.WaitTimeout > 0 && deadline == nil {
			t := time.NewTimer(set.WaitTimeout)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case g := <-ch:
			if g.ok || g.err != nil {
				return g.m, g.err
			}
			continue // a slot is free: try again
		case <-deadline:
		case <-ctx.Done():
		}
		p.mu.Lock()
		p.waiters = slices.DeleteFunc(p.waiters, func(o *waiter[M]) bool { return o == w })
		p.mu.Unlock()
		select {
		case g := <-ch: // granted while giving up
			if g.ok {
				p.Put(g.m, true)
			}
		default:
		}
		if ctx.Err() != nil {
			return zero, ctx.Err()
		}
		return zero, ErrQueueTimeout
	}
}

// TryGet is Get for a caller that must not wait (an event loop): it
// checks out the most recently used idle connection if usable accepts
// it, and otherwise reports false having taken nothing (the caller then
// calls Get where it may wait, open a connection or check a stale one).
func (p *Pool[M]) TryGet(usable func(M) bool) (M, bool) {
	var zero M
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		m := p.idle[len(p.idle)-1]
		if m.Base().Dead() {
			p.idle = p.idle[:len(p.idle)-1]
			p.open--
			continue
		}
		if !usable(m) {
			return zero, false
		}
		p.idle = p.idle[:len(p.idle)-1]
		p.inUse++
		return m, true
	}
	return zero, false
}

// grant hands g to the longest waiter, if any, and reports whether there
// was one and whether it was a goroutine (Get), which g made runnable;
// p.mu is held.
func (p *Pool[M]) grant(g grant[M]) (granted, woke bool) {
	if len(p.waiters) == 0 {
		return false, false
	}
	w := p.waiters[0]
	p.waiters = p.waiters[1:]
	if w.fn == nil {
		w.ch <- g
		return true, true
	}
	if w.timer != nil {
		w.timer.Stop() // if it fired, it finds w gone
	}
	w.fn(g.m, g.ok, g.err)
	return true, false
}

// Await is Get's wait for a caller that must not wait itself (an event
// loop), once TryGet found nothing: when the pool is at its size with no
// connection idle, it queues fn as a waiter and reports true. fn runs
// once, from whichever goroutine ends the wait: with the next connection
// given back (ok), or the room of one closed (ok false, nil error: the
// caller may open one), or the error that ends the wait (ErrIsolated,
// ErrQueueTimeout after the wait timeout). It runs under the pool's lock
// and must not block. Await reports false, queuing nothing, when the pool
// has a connection idle or room to open one, which Get takes.
func (p *Pool[M]) Await(fn func(m M, ok bool, err error)) bool {
	return p.await(fn) != nil
}

// AwaitWithdrawable is Await that also returns withdraw, nil when it
// queued nothing: withdraw(err) ends the wait with err (fn gets it, from
// withdraw's goroutine) if fn still waits, and does nothing once the wait
// has ended.
func (p *Pool[M]) AwaitWithdrawable(fn func(m M, ok bool, err error)) (withdraw func(err error)) {
	w := p.await(fn)
	if w == nil {
		return nil
	}
	return func(err error) { p.end(w, err) }
}

// await is Await, returning the waiter it queued or nil.
func (p *Pool[M]) await(fn func(m M, ok bool, err error)) *waiter[M] {
	set := p.env.Settings()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) > 0 || p.open < set.Size {
		return nil
	}
	w := &waiter[M]{fn: fn}
	p.waiters = append(p.waiters, w)
	if set.WaitTimeout > 0 {
		w.timer = time.AfterFunc(set.WaitTimeout, func() { p.end(w, ErrQueueTimeout) })
	}
	return w
}

// end ends w's wait with err if w still waits.
func (p *Pool[M]) end(w *waiter[M], err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.waiters, w); i >= 0 {
		p.waiters = slices.Delete(p.waiters, i, i+1)
		if w.timer != nil {
			w.timer.Stop()
		}
		var zero M
		w.fn(zero, false, err)
	}
}

// Put gives back a checked-out connection. One that is not clean, or
// belongs to an earlier epoch, or outlived its lifetime is closed. It
// reports whether a waiting goroutine was woken (given the connection, or
// the room of a closed one); an Await continuation is called instead.
func (p *Pool[M]) Put(m M, clean bool) bool { return p.PutAt(m, clean, p.env.Now()) }

// PutAt is Put at the caller's time now, which a caller that has read
// the clock gives instead of the pool reading it again.
func (p *Pool[M]) PutAt(m M, clean bool, now time.Time) bool {
	c := m.Base()
	life := p.env.Settings().Lifetime
	p.mu.Lock()
	p.inUse--
	if !clean || p.closed || c.Dead() || c.epoch != p.epoch || (life > 0 && now.Sub(c.born) > life) {
		p.open--
		_, woke := p.grant(grant[M]{})
		p.mu.Unlock()
		c.Close()
		return woke
	}
	p.inUse++
	if granted, woke := p.grant(grant[M]{m: m, ok: true}); granted {
		p.mu.Unlock()
		return woke
	}
	p.inUse--
	c.idleSince = now
	p.idle = append(p.idle, m)
	p.mu.Unlock()
	return false
}

// Discard forgets a connection that died while idle.
func (p *Pool[M]) Discard(m M) {
	p.mu.Lock()
	if i := slices.Index(p.idle, m); i >= 0 {
		p.idle = slices.Delete(p.idle, i, i+1)
		p.open--
		p.grant(grant[M]{})
	}
	p.mu.Unlock()
}

// Isolate closes the idle connections after the backend's circuit opened,
// makes the busy ones close when given back, and sends waiters to another
// backend.
func (p *Pool[M]) Isolate() {
	p.mu.Lock()
	p.epoch++
	idle := p.takeIdleLocked()
	for len(p.waiters) > 0 {
		p.grant(grant[M]{err: ErrIsolated})
	}
	p.mu.Unlock()
	closeAll(idle)
}

// CloseIdle closes the idle connections: a statement that waits for the
// other sessions on a database to end (DROP DATABASE, CREATE DATABASE …
// TEMPLATE) is about to run. Busy ones stay.
func (p *Pool[M]) CloseIdle() {
	p.mu.Lock()
	idle := p.takeIdleLocked()
	p.mu.Unlock()
	closeAll(idle)
}

// takeIdleLocked takes the idle connections out of the pool, to be
// closed (closeAll) once p.mu is released.
func (p *Pool[M]) takeIdleLocked() []M {
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	return idle
}

// closeAll closes connections taken out of a pool.
func closeAll[M Member](ms []M) {
	for _, m := range ms {
		m.Base().Close()
	}
}

// Close ends the pool once its users have ended: its idle connections are
// closed, any given back later is closed too, and Close returns once
// every connection's reader has ended.
func (p *Pool[M]) Close() {
	p.mu.Lock()
	p.closed = true
	idle := p.takeIdleLocked()
	p.mu.Unlock()
	closeAll(idle)
	p.readers.Wait()
}

// Maintain closes connections idle longer than the idle timeout or older
// than their lifetime, and opens connections up to the minimum while the
// backend is healthy. Concurrent calls return at once.
func (p *Pool[M]) Maintain(ctx context.Context, now time.Time) {
	if !p.maintaining.CompareAndSwap(false, true) {
		return
	}
	defer p.maintaining.Store(false)
	set := p.env.Settings()
	keepMin := p.env.KeepMin() // before p.mu: it may take the session's locks
	var expired []M
	p.mu.Lock()
	keep := p.idle[:0]
	for _, m := range p.idle {
		c := m.Base()
		if set.IdleTimeout > 0 && now.Sub(c.idleSince) > set.IdleTimeout || set.Lifetime > 0 && now.Sub(c.born) > set.Lifetime {
			expired = append(expired, m)
			continue
		}
		keep = append(keep, m)
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.open -= len(expired)
	missing := 0
	if keepMin {
		missing = min(set.MinSize, set.Size) - p.open
	}
	missing = max(missing, 0)
	p.open += missing
	epoch := p.epoch
	p.mu.Unlock()
	for _, m := range expired {
		m.Base().Close()
	}
	for range missing {
		m, err := p.env.Open(ctx, p, epoch)
		if err != nil {
			p.mu.Lock()
			p.open -= missing
			p.mu.Unlock()
			p.env.Log.Debug("min_pool_size connection not opened", "user", p.Key.User, "err", err)
			return
		}
		missing--
		p.mu.Lock()
		p.inUse++
		p.mu.Unlock()
		p.Put(m, true)
	}
}

// Epoch returns the pool's epoch: connections of an earlier one are
// closed when given back (Isolate).
func (p *Pool[M]) Epoch() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch
}

// Unused reports whether the pool has no connection (open or being
// opened) and nobody waiting for one.
func (p *Pool[M]) Unused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open == 0 && len(p.waiters) == 0
}

// Waiting returns the clients waiting for a connection.
func (p *Pool[M]) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiters)
}

// Idle returns the connections idle in the pool now.
func (p *Pool[M]) Idle() []M {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.idle)
}
