package proxy

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"sync"
	"time"
)

// A pass-through login holds one of its backend's connections while the
// client answers the password challenge, which a client may simply never
// do. loginSlots bounds the logins in progress per backend, so that silent
// clients cannot take every connection the backend has, and when the slots
// are full it ends the login that has waited longest on its client, once
// that wait is beyond what any client answering a challenge needs.
type loginSlots struct {
	mu      sync.Mutex
	used    int
	freed   chan struct{}         // closed (and replaced) when a slot is given back
	holders map[*session]struct{} // the logins holding a slot
}

// Preemption: when every slot is in use, a login that has waited this long
// on its client is ended for a new one (a client answers a challenge in
// one round trip and a few milliseconds of hashing; under such contention
// the slowest clients lose, as with PostgreSQL's authentication_timeout,
// only sooner); waiters look again this often.
const (
	loginPreemptAfter = 250 * time.Millisecond
	loginRecheck      = 50 * time.Millisecond
)

// errLoginsBusy is the answer when no login slot frees in time.
func errLoginsBusy(backend string, limit int) *Error {
	return &Error{Code: codeTooManyConns, Message: "sorry, too many clients already",
		Detail: fmt.Sprintf("%d logins to backend %s are in progress (proxy.max_logins_per_backend).", limit, backend),
		Hint:   "Retry the connection."}
}

// acquire takes a login slot for ss, waiting up to timeout; limit is the
// current proxy.max_logins_per_backend.
func (l *loginSlots) acquire(ctx context.Context, ss *session, limit int, timeout time.Duration) bool {
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
				l.holders = make(map[*session]struct{})
			}
			l.holders[ss] = struct{}{}
			l.mu.Unlock()
			return true
		}
		if l.freed == nil {
			l.freed = make(chan struct{})
		}
		freed := l.freed
		victim, _ := longestSilent(maps.Keys(l.holders), ss)
		l.mu.Unlock()
		if victim != nil {
			// Its read fails at once; its login ends and gives the slot back.
			victim.evict()
		}
		if timer == nil {
			timer, recheck = time.NewTimer(timeout), time.NewTicker(loginRecheck)
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

// release gives ss's slot back.
func (l *loginSlots) release(ss *session) {
	l.mu.Lock()
	l.used--
	delete(l.holders, ss)
	if l.freed != nil {
		close(l.freed)
		l.freed = nil
	}
	l.mu.Unlock()
}

// longestSilent returns, of candidates other than except, the session that
// has waited longest on its client before being authenticated (authWait),
// when that is past loginPreemptAfter; waiting reports whether any of them
// waits on its client at all. It serves both the login slots and
// pool.max_client_conn.
func longestSilent(candidates iter.Seq[*session], except *session) (victim *session, waiting bool) {
	now := time.Now().UnixNano() // wire.Stream stamps authWait with time.Now
	var oldest int64
	for ss := range candidates {
		w := ss.authWait.Load()
		if ss == except || w == 0 {
			continue
		}
		waiting = true
		if now-w >= int64(loginPreemptAfter) && (victim == nil || w < oldest) {
			victim, oldest = ss, w
		}
	}
	return victim, waiting
}
