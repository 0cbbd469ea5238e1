package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heliosdb/heliosproxy/proxy/admission"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/tenant"
)

// Admission of requests, the same on both relay paths: a request that
// starts outside a transaction block passes its role's limits
// (tenant.Entry.Admit: isolation, then the rate limit) and then its
// backend's admission limit (admission.Limiter.Acquire); a refused one is
// answered by the proxy and never reaches the backend. A request inside
// a transaction block is never refused or delayed (the transaction
// finishes, its locks are not held longer) but counts in flight. Each
// admission on the backend is held until the request's ReadyForQuery
// (pass-through: releaseAdmission), or in pooled transaction mode by the
// transaction, from its checkout to its give-back (attachRouted,
// detachLocked); pooled session mode has no backend admission (a
// session's server connection, bounded by its pool, is its admission).

// codeLimitExceeded answers a request over its role's limits: PostgreSQL's
// configuration_limit_exceeded, as for a role's CONNECTION LIMIT.
const codeLimitExceeded = "53400"

// idle reports whether the session is outside a transaction block, as of
// its last ReadyForQuery.
func (ss *session) idle() bool {
	st := byte(ss.txStatus.Load())
	return st == 'I' || st == 0
}

// user returns the limits and breaker of the session's role and database,
// nil while user-level breakers are off. It follows reloads: a session
// that logged in while they were off gets its entry at its first request
// after a reload turned them on, and one that logged in while they were
// on is no longer limited once a reload turned them off.
func (ss *session) user() *tenant.Entry {
	reg := ss.s.Tenants
	if reg == nil || !reg.Enabled() {
		return nil
	}
	if e := ss.tenant.Load(); e != nil {
		return e
	}
	// Both directions of the relay may get here first: Entry returns
	// the same entry to both.
	e := reg.Entry(ss.role, ss.roleDB)
	ss.tenant.Store(e)
	return e
}

// admitUser passes a request that starts now through its role's limits.
func (ss *session) admitUser(ctx context.Context) *Error {
	u := ss.user()
	if u == nil || !ss.idle() {
		return nil
	}
	return userRefusal(u.Admit(ctx, ss.s.clock.Now()))
}

// userRefusal is the answer to a request its role's limits refused
// (tenant.Entry.Admit's error), nil for none.
func userRefusal(err error) *Error {
	if err == nil {
		return nil
	}
	var r *tenant.Refusal
	if !errors.As(err, &r) {
		return &Error{Severity: "ERROR", Code: codeAdminShutdown, Message: "the proxy is shutting down", Err: err}
	}
	if r.Isolated {
		e := &Error{Severity: "ERROR", Code: codeLimitExceeded,
			Message: fmt.Sprintf("role %q is isolated: its own requests failed or were slow while other roles' did well (circuit_breaker.user_isolation_on_abuse)", r.Role),
			Detail:  fmt.Sprintf("Role %s on database %s: %s.", r.Role, r.Database, r.Detail),
			Hint:    "Other roles are not affected. Requests are let through again as probes"}
		if !r.RetryAt.IsZero() {
			e.Hint += " from " + r.RetryAt.UTC().Format(time.RFC3339)
		}
		e.Hint += "; an operator may exempt the role (PUT /users/{role}/{database}/override)."
		return e
	}
	return &Error{Severity: "ERROR", Code: codeLimitExceeded,
		Message: fmt.Sprintf("rate limit exceeded for role %q: %d requests per second (circuit_breaker.per_user_rate_limit)", r.Role, r.Rate),
		Detail:  fmt.Sprintf("Role %s on database %s started more requests than its limit allows; this one could not get a turn within circuit_breaker.per_user_rate_limit_wait.", r.Role, r.Database),
		Hint:    "Retry after a short pause, or spread the requests out."}
}

// admitBackend takes an admission on b for a request that starts now: a
// request outside a transaction block may wait in b's queue and be
// refused (53300); one inside is admitted whatever the limit.
func (ss *session) admitBackend(ctx context.Context, b *backend.Backend) *Error {
	if !ss.idle() {
		b.Admission.Force()
		return nil
	}
	return ss.backendRefusal(b, b.Admission.Acquire(ctx))
}

// admitBackendNow is admitBackend for an event loop: false, having taken
// nothing, when the admission would wait or be refused (the session's
// goroutine then calls admitBackend).
func (ss *session) admitBackendNow(b *backend.Backend) bool {
	if !ss.idle() {
		b.Admission.Force()
		return true
	}
	return b.Admission.AdmitNow()
}

// backendRefusal is the answer to a request b's admission limit refused
// (admission.Limiter.Acquire's error), nil for none.
func (ss *session) backendRefusal(b *backend.Backend, err error) *Error {
	if err == nil {
		return nil
	}
	var r *admission.Refusal
	if !errors.As(err, &r) {
		return &Error{Severity: "ERROR", Code: codeAdminShutdown, Message: "the proxy is shutting down", Err: err}
	}
	wait := "The queue for it was full."
	var waited time.Duration
	if !r.QueueFul {
		waited = ss.s.config().Backends.LoadSheddingQueueTimeout.Duration
		wait = fmt.Sprintf("Waited %s (backends.load_shedding_queue_timeout) behind %d other requests.", waited, r.Queued-1)
	}
	b.Shed(waited)
	return &Error{Severity: "ERROR", Code: codeTooManyConns,
		Message: fmt.Sprintf("backend %s is at its admission limit (%d requests at once): request shed to keep its latency down", b.Config.Name, r.Limit),
		Detail:  wait,
		Hint:    "Retry after a short pause with backoff; the limit follows the backend's latency (backends.load_shedding_enabled)."}
}

// admitPassThrough admits a pass-through request that starts now on the
// session's backend; a refusal is answered by the proxy (refuse).
func (ss *session) admitPassThrough(ctx context.Context) *Error {
	if e := ss.admitUser(ctx); e != nil {
		return e
	}
	if e := ss.admitBackend(ctx, ss.b); e != nil {
		return e
	}
	ss.admits.Add(1)
	return nil
}

// admitNow is admitPassThrough on an event loop, which must not wait: a
// request that would (its role's rate limit, the backend's admission
// queue) reports wait, having taken nothing, and the loop hands it to the
// goroutines, which admit it with admitPassThrough. The backend's
// admission is tried first here, so that nothing the role's limits took
// needs giving back.
func (ss *session) admitNow() (e *Error, wait bool) {
	b := ss.b
	idle := ss.idle()
	if !idle {
		b.Admission.Force()
	} else if err := b.Admission.TryAcquire(); errors.Is(err, admission.ErrWouldWait) {
		return nil, true
	} else if err != nil {
		return ss.backendRefusal(b, err), false
	}
	if u := ss.user(); u != nil && idle {
		if err := u.TryAdmit(ss.s.clock.Now()); err != nil {
			b.Admission.Release()
			if errors.Is(err, tenant.ErrWouldWait) {
				return nil, true
			}
			return userRefusal(err), false
		}
	}
	ss.admits.Add(1)
	return nil, false
}

// releaseAdmission ends the admission of a request answered by b's
// ReadyForQuery, if it holds one, and reports whether a request waiting
// for its turn was admitted in its place. Only the goroutine or loop that
// reads the backend calls it (and the session's end, after that one
// stopped).
func (ss *session) releaseAdmission(b *backend.Backend) (woke bool) {
	if ss.admits.Load() > 0 {
		ss.admits.Add(-1)
		return b.Admission.Release()
	}
	return false
}

// releaseAll ends the admissions still held when the session ends.
func (ss *session) releaseAll(b *backend.Backend) {
	for ss.admits.Load() > 0 {
		ss.releaseAdmission(b)
	}
}
