package backend

import (
	"context"
	"iter"
	"maps"
	"sync"
	"time"
)

// A pass-through login holds one of its backend's connections while the
// client answers the password challenge, which a client may simply never
// do. LoginSlots bounds the logins in progress per backend, so that silent
// clients cannot take every connection the backend has, and when the slots
// are full it ends the login that has waited longest on its client, once
// that wait is beyond what any client answering a challenge needs.
type LoginSlots struct {
	mu      sync.Mutex
	used    int
	freed   chan struct{}      // closed (and replaced) when a slot is given back
	holders map[Login]struct{} // the logins holding a slot
}

// Preemption: when every slot is in use, a login that has waited this long
// on its client is ended for a new one (a client answers a challenge in
// one round trip and a few milliseconds of hashing; under such contention
// the slowest clients lose, as with PostgreSQL's authentication_timeout,
// only sooner); waiters look again this often.
const (
	LoginPreemptAfter = 250 * time.Millisecond
	LoginRecheck      = 50 * time.Millisecond
)

// Acquire takes a login slot for ss, waiting up to timeout; limit is the
// current proxy.max_logins_per_backend.
func (l *LoginSlots) Acquire(ctx context.Context, ss Login, limit int, timeout time.Duration) bool {
	var timer *time.Timer
	var recheck *time.Ticker
	defer func() {
		if timer != nil {
			timer.Stop()
			recheck.Stop()
		}
	}()
	for {
		l.mu.Lock()
		if l.used < limit {
			l.used++
			if l.holders == nil {
				l.holders = make(map[Login]struct{})
			}
			l.holders[ss] = struct{}{}
			l.mu.Unlock()
			return true
		}
		if l.freed == nil {
			l.freed = make(chan struct{})
		}
		freed := l.freed
		victim, _ := LongestSilent(maps.Keys(l.holders), ss)
		l.mu.Unlock()
		if victim != nil {
			// Its read fails at once; its login ends and gives the slot back.
			victim.Evict()
		}
		if timer == nil {
			timer, recheck = time.NewTimer(timeout), time.NewTicker(LoginRecheck)
		}
		select {
		case <-freed:
		case <-recheck.C:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// Release gives ss's slot back.
func (l *LoginSlots) Release(ss Login) {
	l.mu.Lock()
	l.used--
	delete(l.holders, ss)
	if l.freed != nil {
		close(l.freed)
		l.freed = nil
	}
	l.mu.Unlock()
}

// A Login is a login in progress, which may be ended for another.
type Login interface {
	// SilentSince returns since when (unix nanos, time.Now's clock) the
	// login has waited on its client, 0 when it does not.
	SilentSince() int64
	// Evict ends the login: its read fails at once.
	Evict()
}

// LongestSilent returns, of candidates other than except, the login that
// has waited longest on its client, when that is past LoginPreemptAfter;
// waiting reports whether any of them waits on its client at all. It
// serves both the login slots and pool.max_client_conn.
func LongestSilent[L interface {
	comparable
	Login
}](candidates iter.Seq[L], except L) (victim L, waiting bool) {
	now := time.Now().UnixNano() // wire.Stream stamps its wait with time.Now
	var oldest int64
	found := false
	for l := range candidates {
		w := l.SilentSince()
		if l == except || w == 0 {
			continue
		}
		waiting = true
		if now-w >= int64(LoginPreemptAfter) && (!found || w < oldest) {
			victim, oldest, found = l, w, true
		}
	}
	return victim, waiting
}
