package pattern

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/heliosdb/heliosproxy/breaker"
)

// Config is the registry's configuration.
type Config struct {
	// Enabled turns query-level breakers on; off, Admit and Finish do
	// nothing.
	Enabled bool
	// Exact groups queries by their exact text (Exact) rather than by
	// pattern (Normalize): query_pattern_detection = false.
	Exact bool
	// Slow is slow_query_threshold_ms: an execution that takes longer is
	// slow for its pattern (and is the pattern's business, not its
	// backend's: Finish says so).
	Slow time.Duration
	// Breaker configures each pattern's breaker; its LatencyP95 should be
	// Slow (BreakerConfig does that).
	Breaker breaker.Config
	// Max bounds the patterns tracked at once (MaxPatterns when 0).
	Max int
	// Retain is how long a CLOSED pattern with no slow or failed
	// execution stays tracked (and shown) after its last execution
	// (DefaultRetain when 0).
	Retain time.Duration
}

// MaxPatterns is the default bound of the patterns tracked at once.
const MaxPatterns = 1000

// DefaultRetain is how long a calm pattern stays tracked by default.
const DefaultRetain = 10 * time.Minute

// announceWait bounds how long the opening of a pattern whose text is
// not known yet waits to be announced with it (a quarter of open_duration
// if that is less): the text comes with the pattern's next execution,
// the first to be refused, usually at once. A pattern that nobody runs
// within that time is announced without it.
const announceWait = time.Second

// MinExecutions is the executions (finished or in flight) a pattern's
// window needs before its breaker may open: a pattern is often rare, and
// a slow one more so.
const MinExecutions = 3

// BreakerConfig is the configuration of every pattern's breaker, from the
// backends' (the file's [circuit_breaker]): the latency rule is "more than
// 5% of the window's executions slower than slow" (slow_query_threshold_ms
// as the pattern's P95), the error-rate rule the backends' own, at least
// MinExecutions executions, no hard-failure or saturation rule (those are
// the backend's), and no health check to wait for before probing.
func BreakerConfig(backends breaker.Config, slow time.Duration, probeTimeout time.Duration) breaker.Config {
	c := backends
	c.MinimumRequests = MinExecutions
	c.LatencyP95 = slow
	c.LatencyP99 = 0
	c.SaturationThreshold = 0
	c.ConnectionFailureThreshold = 0
	c.RequireCheck = false
	c.GradualRecovery = false
	c.ProbeTimeout = probeTimeout
	return c
}

// Registry holds the tracked patterns and their breakers. All methods are
// safe for concurrent use.
type Registry struct {
	cfg atomic.Pointer[Config]
	// byKey is replaced, never changed (copy on write under mu): the relay
	// reads it with one atomic load. Patterns are added on a slow or
	// failed execution and removed by Tick, both rare.
	byKey atomic.Pointer[map[Key]*Pattern]
	count atomic.Int32 // len(*byKey)

	mu    sync.Mutex // serializes writers of byKey
	group *breaker.Group

	// Publish, if not nil, is given every transition of a pattern's
	// breaker, outside any lock of the registry.
	Publish func(*Pattern, breaker.Transition)
}

// New returns an empty registry.
func New(cfg Config) *Registry {
	r := &Registry{group: breaker.NewGroup(breaker.GroupConfig{MaxEjectionPercent: 100, CascadeMinOpen: 1 << 30})}
	r.SetConfig(cfg)
	m := map[Key]*Pattern{}
	r.byKey.Store(&m)
	return r
}

// SetConfig applies a new configuration (a reload's) to the registry and
// every tracked pattern's breaker; off, every pattern is dropped.
func (r *Registry) SetConfig(cfg Config) {
	if cfg.Max <= 0 {
		cfg.Max = MaxPatterns
	}
	if cfg.Retain <= 0 {
		cfg.Retain = DefaultRetain
	}
	r.cfg.Store(&cfg)
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.byKey.Load()
	if m == nil {
		return
	}
	if !cfg.Enabled {
		for _, p := range *m {
			r.group.Remove(p.name)
		}
		empty := map[Key]*Pattern{}
		r.byKey.Store(&empty)
		r.count.Store(0)
		return
	}
	for _, p := range *m {
		p.br.SetConfig(cfg.Breaker)
	}
}

// Enabled reports whether query-level breakers are on.
func (r *Registry) Enabled() bool { return r.cfg.Load().Enabled }

// Key returns the key a query's text is grouped under: Normalize(text),
// or Exact(text) when query_pattern_detection is off.
func (r *Registry) Key(text []byte) Key {
	if r.cfg.Load().Exact {
		return Exact(text)
	}
	return Normalize(text)
}

// Slow returns slow_query_threshold_ms.
func (r *Registry) Slow() time.Duration { return r.cfg.Load().Slow }

// Pattern is a tracked pattern and its breaker.
type Pattern struct {
	Key  Key
	name string // the breaker's name: "pattern-" + the key in hex
	br   *breaker.Breaker

	state atomic.Uint32 // breaker.State, kept by every call that returns a transition

	mu          sync.Mutex
	text        string // the example text with constants replaced by $n (pg_query's Normalize)
	fingerprint string // pg_query's fingerprint of it, in hex; "" if PostgreSQL's parser refused it

	hasText atomic.Bool
	// held is an opening not announced yet, because the pattern's text is
	// not known yet: a pattern tracked from an execution's end or its
	// running time has only its key. The next Admit or Note of it, which
	// has the text, announces it (announce), or Tick once it is
	// announceWait old, or the pattern's next transition, before it.
	held atomic.Pointer[breaker.Transition]

	firstSeen  time.Time
	lastSeen   atomic.Int64 // unix nanos of its last execution
	lastBad    atomic.Int64 // unix nanos of its last slow or failed execution
	since      atomic.Int64 // unix nanos of its breaker's last transition
	executions atomic.Uint64
	slow       atomic.Uint64
	failures   atomic.Uint64
	refused    atomic.Uint64
}

// State returns the pattern's circuit state without locking.
func (p *Pattern) State() breaker.State { return breaker.State(p.state.Load()) }

// Text returns the example text with constants replaced by $n, "" until
// one was seen.
func (p *Pattern) Text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.text
}

// Handles reports whether the pattern's breaker is dealing with it at
// now: it is not CLOSED, or it had a slow or failed execution within
// window. Its executions in flight then do not count as its backend's
// (see Finish for those that ended).
func (p *Pattern) Handles(now time.Time, window time.Duration) bool {
	return p.State() != breaker.Closed || now.UnixNano()-p.lastBad.Load() < int64(window)
}

// setText records the first text seen of the pattern, with its constants
// replaced by PostgreSQL's parser (a text it refuses is kept as sent, cut
// to 1 KiB: it fails on the backend anyway).
func (p *Pattern) setText(text []byte) {
	if p.hasText.Load() || len(text) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hasText.Load() {
		return
	}
	s := string(text)
	if norm, err := pg_query.Normalize(s); err == nil {
		s = norm
		if fp, err := pg_query.Fingerprint(s); err == nil {
			p.fingerprint = fp
		}
	}
	if len(s) > 1024 {
		s = s[:1024]
	}
	p.text = s
	p.hasText.Store(true)
}

// Req is a request's pattern, from Admit to Finish. The zero Req is a
// request of no pattern.
type Req struct {
	Key Key
	p   *Pattern
	t   breaker.Ticket
}

// Refused is the answer to a request whose pattern's circuit is open.
type Refused struct {
	Pattern     *Pattern
	Text        string
	Fingerprint string
	Reason      string
	Detail      string
	RetryAt     time.Time // when it may be probed; zero if unknown (probes are under way)
}

func (e *Refused) Error() string { return "query pattern circuit open: " + e.Text }

// Clock tells the time.
type Clock interface{ Now() time.Time }

// Admit looks up the pattern of a request about to be relayed: key is
// Key(text); text, if not nil, fills in the pattern's example the first
// time. It returns the Req to give Finish, or a *Refused when the
// pattern's circuit is open (or half-open with every probe taken). While
// no pattern is tracked it costs one atomic load (clock is read only
// when the pattern is tracked and not CLOSED).
func (r *Registry) Admit(key Key, text []byte, clock Clock) (Req, *Refused) {
	if key == 0 || r.count.Load() == 0 {
		return Req{Key: key}, nil
	}
	p := (*r.byKey.Load())[key]
	if p == nil {
		return Req{Key: key}, nil
	}
	p.setText(text)
	if p.held.Load() != nil {
		r.announce(p)
	}
	if p.State() == breaker.Closed {
		return Req{Key: key, p: p, t: p.br.Current()}, nil
	}
	now := clock.Now()
	t, err := p.br.Allow(now)
	if err != nil {
		p.refused.Add(1)
		st := p.br.Stats(now)
		p.mu.Lock()
		text, fp := p.text, p.fingerprint
		p.mu.Unlock()
		return Req{}, &Refused{Pattern: p, Text: text, Fingerprint: fp, Reason: st.Reason.String(), Detail: st.Detail, RetryAt: st.ReopenAt}
	}
	return Req{Key: key, p: p, t: t}, nil
}

// Handles reports whether key's pattern is tracked and its breaker deals
// with it (Pattern.Handles) at now.
func (r *Registry) Handles(key Key, now time.Time) bool {
	if r.count.Load() == 0 {
		return false
	}
	p := (*r.byKey.Load())[key]
	return p != nil && p.Handles(now, r.cfg.Load().Breaker.Window)
}

// Note fills in the example text of key's pattern, if it is tracked and
// has none: for a statement prepared (Parse) long before it runs.
func (r *Registry) Note(key Key, text []byte) {
	if key == 0 || r.count.Load() == 0 {
		return
	}
	if p := (*r.byKey.Load())[key]; p != nil {
		p.setText(text)
		if p.held.Load() != nil {
			r.announce(p)
		}
	}
}

// Release gives back what Admit gave a request that will not be relayed
// after all (its probe permit).
func (r *Registry) Release(q Req) {
	if q.p != nil {
		q.p.br.Release(q.t)
	}
}

// Finish records how a request of q's pattern ended. A pattern is tracked
// from its first slow (beyond slow_query_threshold_ms, or a
// statement_timeout) or failed (breaker.Failure) execution on. It reports
// whether the execution is the pattern's business rather than its
// backend's: one that succeeded, slower than slow_query_threshold_ms. Its
// backend then does not count it as its own latency. Everything else
// counts for both: a statement_timeout, a backend failure (the pattern's
// breaker, which sees only the pattern's executions, opens long before
// the backend's error rate gets there), and every execution faster than
// slow_query_threshold_ms — so that a backend slow for every query still
// opens its own circuit, through the queries that are slow for it but not
// beyond slow_query_threshold_ms.
func (r *Registry) Finish(q Req, d time.Duration, o breaker.Outcome, now time.Time) (mine bool) {
	cfg := r.cfg.Load()
	if !cfg.Enabled || q.Key == 0 {
		return false
	}
	mine = o == breaker.Success && cfg.Slow > 0 && d > cfg.Slow
	slow := mine || o == breaker.Slow
	bad := slow || o == breaker.Failure
	p := q.p
	if p == nil {
		if !bad {
			return false
		}
		if p = r.track(q.Key, now); p == nil {
			return mine
		}
		q.t = p.br.Current()
	}
	p.executions.Add(1)
	p.lastSeen.Store(now.UnixNano())
	switch {
	case slow:
		p.slow.Add(1)
	case o == breaker.Failure:
		p.failures.Add(1)
	}
	if bad {
		p.lastBad.Store(now.UnixNano())
	}
	tr, ok := p.br.Record(q.t, breaker.Result{Kind: breaker.Query, Outcome: o, Latency: d}, now)
	r.note(p, tr, ok)
	return mine
}

// note keeps p's state and publishes a transition.
func (r *Registry) note(p *Pattern, tr breaker.Transition, ok bool) {
	if !ok {
		return
	}
	// The breaker's state, not tr.To: two transitions published by
	// different goroutines may store out of order, and a stale CLOSED
	// would let executions of an open pattern through.
	p.state.Store(uint32(p.br.State()))
	p.since.Store(tr.At.UnixNano())
	if tr.To == breaker.Open && !p.hasText.Load() {
		p.held.Store(&tr)
		if p.hasText.Load() { // setText ran meanwhile, and may have missed it
			r.announce(p)
		}
		return
	}
	r.announce(p) // an opening held back comes first
	if fn := r.Publish; fn != nil {
		fn(p, tr)
	}
}

// announce publishes p's opening held back for its text, if there is
// one still (exactly once, whoever calls).
func (r *Registry) announce(p *Pattern) {
	if tr := p.held.Swap(nil); tr != nil {
		if fn := r.Publish; fn != nil {
			fn(p, *tr)
		}
	}
}

// track adds key's pattern, or returns it if another request did; nil
// when the registry is full of patterns that cannot go.
func (r *Registry) track(key Key, now time.Time) *Pattern {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.byKey.Load()
	if p := old[key]; p != nil {
		return p
	}
	cfg := r.cfg.Load()
	if !cfg.Enabled {
		return nil
	}
	m := make(map[Key]*Pattern, len(old)+1)
	for k, p := range old {
		m[k] = p
	}
	if len(m) >= cfg.Max && !r.evictOne(m, now, cfg) {
		return nil
	}
	name := fmt.Sprintf("pattern-%016x", uint64(key))
	p := &Pattern{Key: key, name: name, br: r.group.Add(name, cfg.Breaker), firstSeen: now}
	p.lastSeen.Store(now.UnixNano())
	m[key] = p
	r.byKey.Store(&m)
	r.count.Store(int32(len(m)))
	return p
}

// evictOne removes the CLOSED pattern of m seen least recently that its
// breaker is not dealing with; m is the registry's next map, r.mu held.
func (r *Registry) evictOne(m map[Key]*Pattern, now time.Time, cfg *Config) bool {
	var victim *Pattern
	for _, p := range m {
		if p.Handles(now, cfg.Breaker.Window) {
			continue
		}
		if victim == nil || p.lastSeen.Load() < victim.lastSeen.Load() {
			victim = p
		}
	}
	if victim == nil {
		return false
	}
	delete(m, victim.Key)
	r.group.Remove(victim.name)
	return true
}

// Tick advances every pattern's breaker (OPEN → HALF_OPEN at its time,
// probe permits reclaimed or timed out, executions running longer than
// slow_query_threshold_ms counted as slow) and stops tracking CLOSED
// or HALF_OPEN patterns that stayed calm for Retain; call it about every 10 ms. over
// holds, by pattern, the executions running longer than
// slow_query_threshold_ms now (Backend.PatternsRunning); a pattern not
// tracked yet is from then on.
func (r *Registry) Tick(now time.Time, over map[Key]int) {
	cfg := r.cfg.Load()
	if !cfg.Enabled {
		return
	}
	for k := range over {
		p := (*r.byKey.Load())[k]
		if p == nil {
			p = r.track(k, now)
		}
		if p != nil {
			p.lastBad.Store(now.UnixNano())
		}
	}
	if r.count.Load() == 0 {
		return
	}
	var gone []Key
	wait := min(announceWait, cfg.Breaker.OpenDuration/4)
	for k, p := range *r.byKey.Load() {
		if tr := p.held.Load(); tr != nil && now.Sub(tr.At) >= wait {
			r.announce(p)
		}
		n := over[k]
		tr, ok := p.br.Tick(now, breaker.Inflight{Count: n, OverP95: n})
		r.note(p, tr, ok)
		if !ok {
			// Heals a state two racing transitions stored out of order.
			p.state.Store(uint32(p.br.State()))
		}
		if forgettable(p.State()) && now.UnixNano()-max(p.lastSeen.Load(), p.lastBad.Load(), p.since.Load()) > int64(cfg.Retain) {
			gone = append(gone, k)
		}
	}
	if len(gone) == 0 {
		return
	}
	var forgotten []*Pattern
	r.mu.Lock()
	old := *r.byKey.Load()
	m := make(map[Key]*Pattern, len(old))
	for k, p := range old {
		if st := p.State(); slices.Contains(gone, k) && forgettable(st) {
			r.group.Remove(p.name)
			if st == breaker.HalfOpen {
				forgotten = append(forgotten, p)
			}
			continue
		}
		m[k] = p
	}
	r.byKey.Store(&m)
	r.count.Store(int32(len(m)))
	r.mu.Unlock()
	// A HALF_OPEN pattern that nobody ran for Retain (a report run a few
	// times and never again) would otherwise stay HALF_OPEN for good:
	// shown first, counted as not closed, never evicted. It is forgotten,
	// as a CLOSED one is, and announced as served again.
	if fn := r.Publish; fn != nil {
		for _, p := range forgotten {
			fn(p, breaker.Transition{From: breaker.HalfOpen, To: breaker.Closed, At: now,
				Detail: fmt.Sprintf("not run for %v: forgotten (it is tracked again if it is slow again)", cfg.Retain)})
		}
	}
}

// forgettable reports whether a pattern in state st may stop being
// tracked once nobody ran it for Retain, in that state as well: CLOSED,
// or HALF_OPEN (no probe came; a probe's permit out that long would have
// timed out).
func forgettable(st breaker.State) bool {
	return st == breaker.Closed || st == breaker.HalfOpen
}

// Stats is a tracked pattern's state, for the status surfaces.
type Stats struct {
	Key         Key
	Fingerprint string // pg_query's fingerprint (hex); "" if unknown
	Text        string // example text with constants replaced by $n; "" until seen
	breaker.Stats
	FirstSeen  time.Time
	LastSeen   time.Time
	Executions uint64 // executions recorded since it is tracked
	Slow       uint64 // of which slow
	Failures   uint64 // of which failed for backend reasons
	Refused    uint64 // requests refused while its circuit was open
}

// Stats returns every tracked pattern's state, the ones whose circuits are
// not CLOSED first, then by slow and failed executions, most first.
func (r *Registry) Stats(now time.Time) []Stats {
	m := *r.byKey.Load()
	out := make([]Stats, 0, len(m))
	for _, p := range m {
		p.mu.Lock()
		text, fp := p.text, p.fingerprint
		p.mu.Unlock()
		out = append(out, Stats{
			Key: p.Key, Fingerprint: fp, Text: text, Stats: p.br.Stats(now),
			FirstSeen: p.firstSeen, LastSeen: time.Unix(0, p.lastSeen.Load()),
			Executions: p.executions.Load(), Slow: p.slow.Load(), Failures: p.failures.Load(), Refused: p.refused.Load(),
		})
	}
	slices.SortFunc(out, func(a, b Stats) int {
		if (a.State == breaker.Closed) != (b.State == breaker.Closed) {
			if a.State != breaker.Closed {
				return -1
			}
			return 1
		}
		if x, y := a.Slow+a.Failures, b.Slow+b.Failures; x != y {
			if x > y {
				return -1
			}
			return 1
		}
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	return out
}

// Len returns how many patterns are tracked.
func (r *Registry) Len() int { return int(r.count.Load()) }
