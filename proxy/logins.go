package proxy

import (
	"context"
	"fmt"
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
	freed   chan struct{}           // closed (and replaced) when a slot is given back
	waiting map[*session]clientWait // logins waiting on their client now
}

type clientWait struct {
	since time.Time
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

// acquire takes a login slot, waiting up to timeout; limit is the current
// proxy.max_logins_per_backend.
func (l *loginSlots) acquire(ctx context.Context, limit int, timeout time.Duration, now func() time.Time) bool {
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
			l.mu.Unlock()
			return true
		}
		if l.freed == nil {
			l.freed = make(chan struct{})
		}
		freed := l.freed
		victim := l.longestWaitLocked(now())
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

// longestWaitLocked removes and returns the login that has waited
// longest on its client, if beyond loginPreemptAfter.
func (l *loginSlots) longestWaitLocked(now time.Time) *session {
	var victim *session
	var oldest time.Time
	for ss, w := range l.waiting {
		if now.Sub(w.since) >= loginPreemptAfter && (victim == nil || w.since.Before(oldest)) {
			victim, oldest = ss, w.since
		}
	}
	if victim != nil {
		delete(l.waiting, victim)
	}
	return victim
}

// release gives a slot back.
func (l *loginSlots) release(ss *session) {
	l.mu.Lock()
	l.used--
	delete(l.waiting, ss)
	if l.freed != nil {
		close(l.freed)
		l.freed = nil
	}
	l.mu.Unlock()
}

// clientTurn marks a login as waiting on its client (on) or not.
func (l *loginSlots) clientTurn(ss *session, on bool, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !on {
		delete(l.waiting, ss)
		return
	}
	if l.waiting == nil {
		l.waiting = make(map[*session]clientWait)
	}
	l.waiting[ss] = clientWait{since: now}
}
