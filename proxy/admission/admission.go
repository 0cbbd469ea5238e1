// Package admission is each backend's adaptive admission limit: how many
// requests it may run at once, estimated from the latency it shows, with a
// bounded queue in front of it (load shedding).
//
// The limit follows AIMD against a latency target derived from the
// backend's own latency trip (config backends.load_shedding_latency_target
// × latency_threshold_p95_ms): every Interval, if more than 5 % of the
// requests that completed were slower than the target, or any failed or
// was shed by the backend, the limit shrinks from the concurrency really
// seen to what would have met the target by Little's law (at most to a
// quarter); otherwise, if the limit was used (requests in flight reached
// 80 % of it), it grows by a quarter. The
// target is known and meaningful for a database, where a gradient's
// "no-load latency" is not: one backend runs SELECT 1 and hour-long
// reports side by side, so the minimum latency says nothing about
// queueing (see docs/design-notes.md, "Load shedding").
//
// Acquire admits at once below the limit; beyond it, a request waits in a
// FIFO queue of at most MaxQueue for up to QueueTimeout and is then
// refused. Requests that must run (inside a transaction block) are
// admitted by Force beyond the limit: they count in flight. A Limiter is
// safe for concurrent use; the hot path (Acquire below the limit,
// Release, Observe) takes no lock.
package admission

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Interval is how often the limit is adjusted.
const Interval = 50 * time.Millisecond

// minSamples is the completions an interval needs before it moves the
// limit; fewer carry the interval on.
const minSamples = 5

// slowShare is the share of slow completions above which the limit
// shrinks: the breaker's own P95 rule.
const slowShare = 0.05

// Config is a Limiter's settings.
type Config struct {
	Enabled      bool          // false: Acquire always admits (the limit is still estimated)
	MinLimit     int           // at least 1
	MaxLimit     int           // at least MinLimit
	MaxQueue     int           // requests waiting at most; 0 refuses at once
	QueueTimeout time.Duration // longest wait; 0 refuses at once
	Target       time.Duration // latency target; 0: only failures shrink the limit
}

// ErrShed is returned by Acquire for a request refused for want of
// capacity; the *Refusal wraps it.
var ErrShed = errors.New("backend at its admission limit")

// Refusal says why Acquire refused.
type Refusal struct {
	Limit    int  // the limit at the time
	Queued   int  // requests waiting at the time
	QueueFul bool // the queue was full: no wait
}

func (r *Refusal) Error() string { return ErrShed.Error() }
func (r *Refusal) Unwrap() error { return ErrShed }

// Limiter is one backend's admission limit.
type Limiter struct {
	cfg atomic.Pointer[Config]

	limit    atomic.Int64
	inflight atomic.Int64

	mu      sync.Mutex
	waiters []chan struct{} // FIFO; a closed channel has been handed a slot

	// The current interval, lock-free (Observe runs once per request):
	// counts taken by the rollover may miss a concurrent request or count
	// it in the next interval, which changes nothing that matters.
	start              atomic.Int64 // unix nanos; 0 before the first completion
	samples, slow, bad atomic.Int64
	sum                atomic.Int64 // nanoseconds of the interval's latencies
	peak               atomic.Int64 // most in flight seen in the interval
	admitted           atomic.Uint64
	shed               atomic.Uint64
}

// New returns a limiter at cfg.MaxLimit.
func New(cfg Config) *Limiter {
	l := &Limiter{}
	cfg = normalize(cfg)
	l.cfg.Store(&cfg)
	l.limit.Store(int64(cfg.MaxLimit))
	return l
}

func normalize(c Config) Config {
	c.MinLimit = max(c.MinLimit, 1)
	c.MaxLimit = max(c.MaxLimit, c.MinLimit)
	c.MaxQueue = max(c.MaxQueue, 0)
	return c
}

// SetConfig applies new settings (a reload); the limit is clamped into
// the new bounds.
func (l *Limiter) SetConfig(cfg Config) {
	cfg = normalize(cfg)
	l.cfg.Store(&cfg)
	l.setLimit(l.limit.Load())
	if !cfg.Enabled {
		l.wakeAll()
	}
}

func (l *Limiter) setLimit(n int64) {
	c := l.cfg.Load()
	l.limit.Store(min(max(n, int64(c.MinLimit)), int64(c.MaxLimit)))
	l.handOff()
}

// Reset starts the limit over at the minimum: after a circuit closes, the
// recovering backend's traffic ramps up as it proves able to carry it.
func (l *Limiter) Reset() { l.setLimit(int64(l.cfg.Load().MinLimit)) }

// Limit is the current admission limit.
func (l *Limiter) Limit() int { return int(l.limit.Load()) }

// Inflight is the requests admitted and not yet released.
func (l *Limiter) Inflight() int { return int(l.inflight.Load()) }

// Queued is the requests waiting for admission now.
func (l *Limiter) Queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiters)
}

// Totals are the requests admitted (Acquire and Force) and shed since the
// start.
func (l *Limiter) Totals() (admitted, shed uint64) { return l.admitted.Load(), l.shed.Load() }

// tryAcquire takes a slot if one is free below the limit.
func (l *Limiter) tryAcquire() bool {
	for {
		n := l.inflight.Load()
		if n >= l.limit.Load() {
			return false
		}
		if l.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Force admits a request whatever the limit: one that must run, such as
// the next statement of a transaction under way.
func (l *Limiter) Force() {
	l.inflight.Add(1)
	l.admitted.Add(1)
}

// admitNow admits a request at once when admission is off or a slot is
// free below the limit.
func (l *Limiter) admitNow(c *Config) bool {
	if !c.Enabled {
		l.Force()
		return true
	}
	if l.tryAcquire() {
		l.admitted.Add(1)
		return true
	}
	return false
}

// AdmitNow admits a request if that needs no wait, and otherwise takes
// and counts nothing: for a caller that then calls Acquire where it may
// wait (an event loop).
func (l *Limiter) AdmitNow() bool { return l.admitNow(l.cfg.Load()) }

// ErrWouldWait is TryAcquire's answer when the request would wait in
// the queue: nothing was taken.
var ErrWouldWait = errors.New("the request would wait in the admission queue")

// TryAcquire is Acquire for a caller that must not block (an event
// loop): a request that would queue gets ErrWouldWait, having taken
// nothing, and the caller calls Acquire where it may wait.
func (l *Limiter) TryAcquire() error {
	c := l.cfg.Load()
	if l.admitNow(c) {
		return nil
	}
	if c.MaxQueue > 0 && c.QueueTimeout > 0 {
		return ErrWouldWait
	}
	l.shed.Add(1)
	return &Refusal{Limit: l.Limit(), QueueFul: true}
}

// Acquire admits a request, waiting in the queue when the backend is at
// its limit; it returns a *Refusal (ErrShed) when the queue is full or the
// wait ran out, and ctx's error when ctx ends first. Every admission needs
// one Release.
func (l *Limiter) Acquire(ctx context.Context) error {
	c := l.cfg.Load()
	if l.admitNow(c) {
		return nil
	}
	l.mu.Lock()
	// A slot may have freed between tryAcquire and the lock: handOff
	// runs under mu, so checking again here cannot miss one.
	if l.tryAcquire() {
		l.mu.Unlock()
		l.admitted.Add(1)
		return nil
	}
	if len(l.waiters) >= c.MaxQueue || c.QueueTimeout <= 0 {
		r := &Refusal{Limit: l.Limit(), Queued: len(l.waiters), QueueFul: true}
		l.mu.Unlock()
		l.shed.Add(1)
		return r
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	queued := len(l.waiters)
	l.mu.Unlock()
	timer := time.NewTimer(c.QueueTimeout)
	defer timer.Stop()
	var err error
	select {
	case <-ch:
		l.admitted.Add(1)
		return nil
	case <-timer.C:
		err = &Refusal{Limit: l.Limit(), Queued: queued}
	case <-ctx.Done():
		err = ctx.Err()
	}
	l.mu.Lock()
	removed := l.remove(ch)
	l.mu.Unlock()
	if !removed {
		// Handed a slot while giving up: pass it on.
		l.Release()
	}
	l.shed.Add(1)
	return err
}

// remove takes ch out of the queue; mu is held. False means it was handed
// a slot already.
func (l *Limiter) remove(ch chan struct{}) bool {
	for i, w := range l.waiters {
		if w == ch {
			l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// Release ends an admission; it reports whether a waiter was admitted
// (woken) in its place.
func (l *Limiter) Release() (woke bool) {
	l.inflight.Add(-1)
	return l.handOff()
}

// handOff gives free slots to waiters, oldest first; it reports whether
// it woke one.
func (l *Limiter) handOff() (woke bool) {
	if l.inflight.Load() >= l.limit.Load() {
		return false // the common case under load, and without waiters below it
	}
	l.mu.Lock()
	for len(l.waiters) > 0 && l.tryAcquire() {
		close(l.waiters[0])
		l.waiters = l.waiters[1:]
		woke = true
	}
	l.mu.Unlock()
	return woke
}

// wakeAll admits every waiter (shedding was switched off).
func (l *Limiter) wakeAll() {
	l.mu.Lock()
	for _, w := range l.waiters {
		l.inflight.Add(1)
		close(w)
	}
	l.waiters = nil
	l.mu.Unlock()
}

// Observe feeds one completed request: its latency on the backend and
// whether the backend failed or shed it (bad). It adjusts the limit once
// per Interval. It takes no lock.
func (l *Limiter) Observe(latency time.Duration, bad bool, now time.Time) {
	c := l.cfg.Load()
	in := l.inflight.Load() + 1 // the others, and this one was in flight too
	l.samples.Add(1)
	l.sum.Add(int64(latency))
	if bad {
		l.bad.Add(1)
	} else if c.Target > 0 && latency > c.Target {
		l.slow.Add(1)
	}
	for p := l.peak.Load(); in > p && !l.peak.CompareAndSwap(p, in); p = l.peak.Load() {
	}
	ns := now.UnixNano()
	start := l.start.Load()
	if start == 0 {
		l.start.CompareAndSwap(0, ns)
		return
	}
	if ns-start < int64(Interval) || l.samples.Load() < minSamples || !l.start.CompareAndSwap(start, ns) {
		return
	}
	// This goroutine rolled the interval over.
	iv := interval{samples: int(l.samples.Swap(0)), slow: int(l.slow.Swap(0)), bad: int(l.bad.Swap(0)), peak: l.peak.Swap(0)}
	if iv.samples == 0 {
		return
	}
	iv.mean = time.Duration(l.sum.Swap(0) / int64(iv.samples))
	l.setLimit(next(l.limit.Load(), iv, c.Target))
}

// interval is what one Interval's completions showed.
type interval struct {
	samples, slow, bad int
	peak               int64         // most requests in flight
	mean               time.Duration // mean latency
}

// next is AIMD with a gradient on the way down. When the interval had
// failures or more than slowShare slow completions, the limit shrinks
// from what was really in use (the peak, when below the limit: a limit
// far above use would take many intervals to bite) to the concurrency
// that would have met the target by Little's law (peak × target / mean
// latency), but by a tenth at least and three quarters at most: one
// interval brings a backend flooded by the sessions of a dead one back
// under its target. When the limit was used (the peak reached 80 % of
// it), it grows by a quarter (at least one).
func next(limit int64, iv interval, target time.Duration) int64 {
	share := float64(iv.slow+iv.bad) / float64(iv.samples)
	if iv.bad > 0 || share > slowShare {
		f := 1 - share
		if target > 0 && iv.mean > target {
			f = float64(target) / float64(iv.mean)
		}
		f = math.Max(0.25, math.Min(0.9, f))
		return int64(math.Floor(float64(min(limit, iv.peak)) * f))
	}
	if iv.peak*5 >= limit*4 {
		return limit + max(1, limit/4)
	}
	return limit
}
