// Package tenant is the limits and breakers of each role and database
// (circuit_breaker.user_level_breakers_enabled): a token bucket per role
// (per_user_rate_limit), a breaker per role fed by its own requests
// (user_isolation_on_abuse), the judgement of whose a failure is (the
// role's or its backend's), and the operators' per-role overrides,
// persisted under [state] dir.
//
// A role is a (user, database) pair of the StartupMessage. Sessions hold
// their Entry; the proxy calls Admit before each request that starts
// outside a transaction block and Judge with each finished request.
package tenant

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/status"
)

// Config is the registry's settings.
type Config struct {
	Enabled   bool          // user_level_breakers_enabled; false: Entry returns nil
	Rate      int           // per_user_rate_limit: requests per second; 0: no limit
	Wait      time.Duration // per_user_rate_limit_wait
	Isolation bool          // user_isolation_on_abuse
	// Breaker configures each role's breaker: the backends' thresholds;
	// New drops what does not apply to a role (hard failures, saturation,
	// the health check, the ramp).
	Breaker breaker.Config
}

// MaxEntries bounds the roles tracked; beyond, roles share one entry
// named "*" (a proxy with that many roles needs no per-role detail).
const MaxEntries = 10000

// ErrRefused is wrapped by every *Refusal.
var ErrRefused = errors.New("role over its limits")

// Refusal says why Admit refused a request.
type Refusal struct {
	Role, Database string
	Isolated       bool // the role's breaker is OPEN; else the rate limit
	Rate           int  // the rate limit, for a rate refusal
	Reason, Detail string
	RetryAt        time.Time // isolated: when probes are let through
}

func (r *Refusal) Error() string { return ErrRefused.Error() }
func (r *Refusal) Unwrap() error { return ErrRefused }

type key struct{ role, db string }

// Registry holds every role's Entry.
type Registry struct {
	cfg atomic.Pointer[Config]
	log *slog.Logger
	// OnTransition, if not nil, is given every transition of a role's
	// breaker, outside any lock.
	OnTransition func(role, db string, tr breaker.Transition)

	group *breaker.Group

	mu       sync.Mutex
	entries  map[key]*Entry
	lastFail map[string]*[2]failure // by backend: the last two roles with a heavy request, latest first

	ov overrideStore
}

type failure struct {
	e  *Entry
	at time.Time
}

// New returns an empty registry whose overrides persist in dir ("" keeps
// them in memory); call Load to read them.
func New(cfg Config, dir string, log *slog.Logger) *Registry {
	r := &Registry{
		log:      log,
		group:    breaker.NewGroup(breaker.GroupConfig{MaxEjectionPercent: 100}),
		entries:  make(map[key]*Entry),
		lastFail: make(map[string]*[2]failure),
	}
	r.ov.init(dir)
	r.SetConfig(cfg)
	return r
}

// roleBreaker is cfg's breaker settings as they apply to a role.
func roleBreaker(c breaker.Config) breaker.Config {
	c.SaturationThreshold = 0
	c.ConnectionFailureThreshold = 0
	c.RequireCheck = false
	c.GradualRecovery = false
	c.RampUpDuration = 0
	return c
}

// SetConfig applies new settings (a reload) to every entry.
func (r *Registry) SetConfig(cfg Config) {
	cfg.Breaker = roleBreaker(cfg.Breaker)
	r.cfg.Store(&cfg)
	r.mu.Lock()
	es := slices.Collect(maps.Values(r.entries))
	r.mu.Unlock()
	for _, e := range es {
		e.br.SetConfig(cfg.Breaker)
	}
}

// Enabled reports whether roles are tracked.
func (r *Registry) Enabled() bool { return r.cfg.Load().Enabled }

// Entry returns the entry of role and database, made on first use; nil
// when user-level breakers are off.
func (r *Registry) Entry(role, db string) *Entry {
	cfg := r.cfg.Load()
	if !cfg.Enabled {
		return nil
	}
	k := key{role, db}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.entries[k]; e != nil {
		return e
	}
	if len(r.entries) >= MaxEntries {
		k = key{"*", "*"}
		if e := r.entries[k]; e != nil {
			return e
		}
	}
	e := &Entry{r: r, role: k.role, db: k.db, br: r.group.Add(k.role+"@"+k.db, cfg.Breaker)}
	r.entries[k] = e
	return e
}

// Entry is one role and database.
type Entry struct {
	r        *Registry
	role, db string
	br       *breaker.Breaker

	bmu    sync.Mutex
	tokens float64
	last   time.Time // of the bucket's last refill; zero: full

	requests, throttled, delayed, isolated, failures atomic.Uint64
	lastActive                                       atomic.Int64
	// tripped is whether the breaker is not CLOSED, as of its last
	// transition: Admit asks the breaker only then (it takes a lock).
	tripped atomic.Bool
	// slots count the requests started in one-second slots, for rate;
	// lock-free and approximate at a slot's turn of the second.
	slots [rateSlots]rateSlot
}

const rateSlots = 10

type rateSlot struct {
	sec, n atomic.Int64
}

func (e *Entry) countStart(now time.Time) {
	e.requests.Add(1)
	e.lastActive.Store(now.UnixNano())
	sec := now.Unix()
	s := &e.slots[sec%rateSlots]
	if old := s.sec.Load(); old != sec && s.sec.CompareAndSwap(old, sec) {
		s.n.Store(0)
	}
	s.n.Add(1)
}

// rate is the requests started per second over the last full slots.
func (e *Entry) rate(now time.Time) float64 {
	sec := now.Unix()
	var n int64
	for i := range e.slots {
		s := &e.slots[i]
		if t := s.sec.Load(); t < sec && t >= sec-(rateSlots-1) {
			n += s.n.Load()
		}
	}
	return float64(n) / (rateSlots - 1)
}

// Role and Database name the entry.
func (e *Entry) Role() string     { return e.role }
func (e *Entry) Database() string { return e.db }

// Admit lets a request of the role start: refused with a *Refusal when
// its breaker is OPEN (isolated) or when its turn under the rate limit is
// further away than per_user_rate_limit_wait; otherwise it waits for its
// turn (at most that long) and returns nil. ctx's error ends a wait.
func (e *Entry) Admit(ctx context.Context, now time.Time) error {
	return e.admit(ctx, now, true)
}

// ErrWouldWait is TryAdmit's answer when the request would have to wait
// for its turn: nothing was taken.
var ErrWouldWait = errors.New("the request would wait for its turn")

// TryAdmit is Admit for a caller that must not block (an event loop):
// instead of waiting for its turn, a request gets ErrWouldWait, having
// taken nothing, and the caller calls Admit where it may wait.
func (e *Entry) TryAdmit(now time.Time) error {
	return e.admit(context.Background(), now, false)
}

func (e *Entry) admit(ctx context.Context, now time.Time, mayWait bool) error {
	cfg := e.r.cfg.Load()
	ov, _ := e.r.ov.at(key{e.role, e.db}, now)
	if ov.Exempt {
		e.countStart(now)
		return nil
	}
	if cfg.Isolation && e.tripped.Load() {
		t, err := e.br.Allow(now)
		if err != nil {
			e.isolated.Add(1)
			st := e.br.Stats(now)
			return &Refusal{Role: e.role, Database: e.db, Isolated: true, Reason: st.Reason.String(), Detail: st.Detail, RetryAt: st.ReopenAt}
		}
		// Results are recorded against the state's current ticket (Judge):
		// a probe permit is not carried through the relay.
		e.br.Release(t)
	}
	rate := cfg.Rate
	if ov.RateLimit > 0 {
		rate = ov.RateLimit
	}
	if rate > 0 {
		wait := cfg.Wait
		if !mayWait {
			wait = 0
		}
		d, ok := e.reserve(now, rate, wait)
		if !ok && !mayWait && d <= cfg.Wait {
			return ErrWouldWait
		}
		if !ok {
			e.throttled.Add(1)
			return &Refusal{Role: e.role, Database: e.db, Rate: rate}
		}
		if d > 0 {
			e.delayed.Add(1)
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
	}
	e.countStart(now)
	return nil
}

// reserve takes a token from the role's bucket (one second's worth,
// refilled at rate per second): it returns how long the request must
// wait for its token, or false, taking nothing, when that (returned) is
// beyond wait.
func (e *Entry) reserve(now time.Time, rate int, wait time.Duration) (time.Duration, bool) {
	burst := float64(rate)
	e.bmu.Lock()
	defer e.bmu.Unlock()
	if e.last.IsZero() {
		e.tokens, e.last = burst, now
	}
	if el := now.Sub(e.last); el > 0 {
		e.tokens = math.Min(burst, e.tokens+el.Seconds()*float64(rate))
		e.last = now
	}
	if e.tokens >= 1 {
		e.tokens--
		return 0, true
	}
	d := time.Duration((1 - e.tokens) / float64(rate) * float64(time.Second))
	if d > wait {
		return d, false
	}
	e.tokens--
	return d, true
}

// Heavy tells Judge that a request is one that counts against a backend:
// a failure, or slower than the backend's latency threshold.
func Heavy(o breaker.Outcome, latency, threshold time.Duration) bool {
	return o == breaker.Failure || o == breaker.Slow || threshold > 0 && latency > threshold && o == breaker.Success
}

// Judge records a finished request of the role on backend and returns the
// outcome its backend's breaker is to record. Without isolation it
// returns o. A heavy request (Heavy) is the role's own when no other role
// had a heavy one on that backend within the window and othersOK says
// other roles' requests do well there: the role's breaker counts it, and
// the backend records Excluded, so that one role cannot open a backend's
// circuit for everyone. Otherwise it is the backend's: the backend
// records o, the role's breaker nothing (Excluded). Other requests count
// for both. othersOK is called only for heavy requests. A nil Entry
// returns o.
func (e *Entry) Judge(backend string, o breaker.Outcome, latency time.Duration, heavy bool, othersOK func(*Entry) bool, now time.Time) breaker.Outcome {
	if e == nil {
		return o
	}
	r := e.r
	cfg := r.cfg.Load()
	if !cfg.Isolation {
		return o
	}
	if ov, _ := r.ov.at(key{e.role, e.db}, now); ov.Exempt {
		return o
	}
	if !heavy {
		e.record(o, latency, now)
		return o
	}
	window := cfg.Breaker.Window
	if window <= 0 {
		window = 10 * time.Second
	}
	r.mu.Lock()
	lf := r.lastFail[backend]
	if lf == nil {
		lf = new([2]failure)
		r.lastFail[backend] = lf
	}
	otherFailed := false
	for _, f := range lf {
		otherFailed = otherFailed || f.e != nil && f.e != e && now.Sub(f.at) < window
	}
	if lf[0].e != e {
		lf[1] = lf[0]
	}
	lf[0] = failure{e, now}
	r.mu.Unlock()
	if !otherFailed && othersOK(e) {
		if o == breaker.Failure {
			e.failures.Add(1)
		}
		e.record(o, latency, now)
		return breaker.Excluded
	}
	e.record(breaker.Excluded, latency, now)
	return o
}

// Successes is the successful requests of the role's window, for the
// caller's othersOK (a backend's successes less the role's own).
func (e *Entry) Successes(now time.Time) int {
	st := e.br.Stats(now)
	return st.Requests - st.Failures
}

func (e *Entry) record(o breaker.Outcome, latency time.Duration, now time.Time) {
	tr, ok := e.br.Record(e.br.Current(), breaker.Result{Kind: breaker.Query, Outcome: o, Latency: latency}, now)
	if ok {
		e.r.publish(e, tr)
	}
}

func (r *Registry) publish(e *Entry, tr breaker.Transition) {
	e.tripped.Store(tr.To != breaker.Closed)
	if fn := r.OnTransition; fn != nil {
		fn(e.role, e.db, tr)
	}
}

// Tick moves OPEN role breakers on to HALF_OPEN once their wait is over.
func (r *Registry) Tick(now time.Time) {
	r.mu.Lock()
	es := make([]*Entry, 0, len(r.entries))
	for _, e := range r.entries {
		if e.br.State() != breaker.Closed {
			es = append(es, e)
		}
	}
	r.mu.Unlock()
	for _, e := range es {
		if tr, ok := e.br.Tick(now, breaker.Inflight{}); ok {
			r.publish(e, tr)
		}
	}
}

// Users returns every entry's state, by role and database.
func (r *Registry) Users(now time.Time) []status.UserBreaker {
	cfg := r.cfg.Load()
	if !cfg.Enabled {
		return nil
	}
	r.mu.Lock()
	es := slices.Collect(maps.Values(r.entries))
	r.mu.Unlock()
	out := make([]status.UserBreaker, 0, len(es))
	for _, e := range es {
		st := e.br.Stats(now)
		ov, has := r.ov.at(key{e.role, e.db}, now)
		u := status.UserBreaker{
			Role: e.role, Database: e.db,
			State: status.StateOf(st.State), StateSince: st.Since,
			OpenReason: st.Reason.String(), OpenDetail: st.Detail, ReopenAt: st.ReopenAt,
			RateLimit: cfg.Rate, Rate: e.rate(now), Exempt: ov.Exempt,
			Override: has, OverrideReason: ov.Reason, OverrideAuthor: ov.Author,
			RequestsTotal: e.requests.Load(), ThrottledTotal: e.throttled.Load(), DelayedTotal: e.delayed.Load(),
			IsolatedTotal: e.isolated.Load(), FailuresTotal: e.failures.Load(),
			ErrorRate: st.ErrorRate, LatencyP95Ms: float64(st.P95) / float64(time.Millisecond),
		}
		if ov.RateLimit > 0 {
			u.RateLimit = ov.RateLimit
		}
		if !cfg.Isolation {
			u.State, u.StateSince = status.Closed, time.Time{}
		}
		if ns := e.lastActive.Load(); ns != 0 {
			u.LastActive = time.Unix(0, ns)
		}
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b status.UserBreaker) int { return byRole(a.Role, a.Database, b.Role, b.Database) })
	return out
}

// ErrBadOverride is wrapped by SetOverride's errors for an invalid
// override.
var ErrBadOverride = status.ErrBadUserOverride

// SetOverride stores an operator's override for a role, written to disk
// before it takes effect.
func (r *Registry) SetOverride(o status.UserOverride) error {
	switch {
	case o.Role == "":
		return fmt.Errorf("%w: role is required", ErrBadOverride)
	case o.Database == "":
		return fmt.Errorf("%w: database is required", ErrBadOverride)
	case o.RateLimit < 0:
		return fmt.Errorf("%w: rate_limit must not be negative, got %d", ErrBadOverride, o.RateLimit)
	case !o.Exempt && o.RateLimit == 0:
		return fmt.Errorf("%w: set exempt or a positive rate_limit", ErrBadOverride)
	}
	return r.ov.set(key{o.Role, o.Database}, &o)
}

// ClearOverride removes a role's override; false when it had none.
func (r *Registry) ClearOverride(role, db string) (bool, error) {
	if _, ok := r.ov.get(key{role, db}); !ok {
		return false, nil
	}
	return true, r.ov.set(key{role, db}, nil)
}

// Override returns the override of role on db, expired or not.
func (r *Registry) Override(role, db string) (status.UserOverride, bool) {
	return r.ov.get(key{role, db})
}

// RememberOverride applies o in memory only: the file could not be
// written (the next change writes it with o).
func (r *Registry) RememberOverride(o status.UserOverride) {
	_ = r.ov.change(key{o.Role, o.Database}, &o, nil, false)
}

// ForgetOverride removes role's override on db in memory only: the file
// could not be written.
func (r *Registry) ForgetOverride(role, db string) {
	_ = r.ov.change(key{role, db}, nil, nil, false)
}

// EndOverride removes o, if it is still role's override (not replaced
// meanwhile); false when it was not. When the file cannot be written, it
// is removed in memory only and the error returned.
func (r *Registry) EndOverride(o status.UserOverride) (bool, error) {
	k := key{o.Role, o.Database}
	same := func(cur status.UserOverride, ok bool) bool {
		return ok && cur.Stamp == o.Stamp && cur.Node == o.Node && cur.Created.Equal(o.Created)
	}
	err := r.ov.change(k, nil, same, true)
	switch {
	case errors.Is(err, errSkipped):
		return false, nil
	case err != nil:
		return true, errors.Join(err, r.ov.change(k, nil, same, false))
	}
	return true, nil
}

// Expired returns the overrides whose time is up at now.
func (r *Registry) Expired(now time.Time) []status.UserOverride {
	var out []status.UserOverride
	for _, o := range *r.ov.m.Load() {
		if o.Expired(now) {
			out = append(out, o)
		}
	}
	return out
}

// Overrides returns every override, by role and database.
func (r *Registry) Overrides() []status.UserOverride { return r.ov.all() }

// Load reads the persisted overrides; a missing file is no error.
func (r *Registry) Load() error { return r.ov.load() }

// byRole orders roles by name, then database.
func byRole(role1, db1, role2, db2 string) int {
	return cmp.Or(strings.Compare(role1, role2), strings.Compare(db1, db2))
}
