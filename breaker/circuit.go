package breaker

import (
	"cmp"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Breaker is the circuit of one backend. Create it with Group.Add. All
// methods are safe for concurrent use; none of them blocks on anything but
// the breaker's own mutex (and, on transitions, the group's).
type Breaker struct {
	name string
	g    *Group

	// Guarded by g.mu, not mu.
	counted bool // counted in g.open
	removed bool // no longer a member of g

	mu  sync.Mutex
	cfg Config  // as given to Add/SetConfig, returned by Config
	d   derived // cfg normalized

	state  State
	since  time.Time     // start of the current state; set by the first call that passes now
	gen    atomic.Uint64 // bumped on every transition (under mu); tickets of older generations are stale. Atomic so that Current needs no lock.
	forced bool          // an override holds state (Open or Closed)
	// follower: another cluster member probes the recovery; OPEN does
	// not move to HALF_OPEN on its own (SetFollower).
	follower bool

	// changes is bumped (under mu) by every call that may change what
	// Stats reports, other than time passing (a Tick only when it did more
	// than advance the window). Atomic so that Changes needs no lock.
	changes atomic.Uint64

	reason Reason // why it is open, or was last opened
	detail string
	held   verdict      // a guarded trip the max-ejection guard is refusing right now
	heldBy guardRefusal // the group as it was when it refused

	win        window
	saturation float64

	lastCompletion time.Time // last relayed query answered (anything but a Failure)
	lastFailure    time.Time
	consec         int    // consecutive hard failures
	lastHard       string // what the last hard failure was, for Detail

	k         int       // failed recoveries; decays while CLOSED (see recoveries)
	closedAt  time.Time // when it last entered CLOSED (k decays from here)
	reopenAt  time.Time // OPEN: when it may move to HALF_OPEN; zero for a forced OPEN
	rampStart time.Time // start of the traffic ramp; zero when not ramping

	permits []permit // outstanding probe permits (HALF_OPEN)
	expired []uint64 // ids of permits failed by ProbeTimeout whose results are still to come
	nextID  uint64
	probeOK int // this round's probe successes
	probeKO int // this round's probe failures

	requestsTotal    uint64
	successesTotal   uint64
	failuresTotal    uint64
	rejectedTotal    uint64
	transitionsTotal uint64
	probesTotal      uint64
}

type permit struct {
	id uint64
	at time.Time
}

// derived holds the normalized configuration.
type derived struct {
	width     time.Duration // bucket width
	buckets   int
	minReq    int
	maxConc   int
	probes    int
	needed    int           // probe successes that close the circuit
	slowFloor time.Duration // latency recorded for Slow outcomes: above every threshold
}

func derive(c Config) derived {
	var d derived
	d.width = c.Bucket
	if d.width <= 0 {
		d.width = time.Second
	}
	win := c.Window
	if win <= 0 {
		win = 10 * time.Second
	}
	if win < d.width {
		d.width = win
	}
	d.buckets = int((win + d.width - 1) / d.width)
	d.minReq = max(1, c.MinimumRequests)
	d.maxConc = max(1, c.HalfOpenMaxConcurrent)
	d.probes = max(1, c.HalfOpenProbes)
	d.needed = int(math.Ceil(c.HalfOpenSuccessPercent*float64(d.probes)/100 - 1e-9))
	d.needed = max(1, min(d.needed, d.probes))
	if m := max(c.LatencyP95, c.LatencyP99); m > 0 {
		d.slowFloor = m + 1
	}
	return d
}

func newBreaker(name string, cfg Config, g *Group) *Breaker {
	b := &Breaker{name: name, g: g, cfg: cfg, d: derive(cfg)}
	b.gen.Store(1)
	b.win = newWindow(b.d.width, b.d.buckets)
	b.permits = make([]permit, 0, b.d.maxConc)
	return b
}

// Name returns the backend name the breaker was added with.
func (b *Breaker) Name() string { return b.name }

// Config returns the configuration as last given to Add or SetConfig,
// before defaults were applied.
func (b *Breaker) Config() Config {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cfg
}

// SetConfig applies a new configuration (a reload) without resetting the
// state, the window, the counters or the totals. Zero fields mean what they
// mean for Add: Window 10s, Bucket 1s (at most Window), HalfOpenMaxConcurrent
// and HalfOpenProbes 1, and the rest disable their rule.
//
// If only Window changes, the newest buckets that fit the new window are
// kept. If Bucket changes, the samples cannot be re-bucketed exactly and a
// fresh window starts. An OPEN circuit keeps its ReopenAt; a HALF_OPEN round
// keeps its outcomes and outstanding permits and is judged by the new
// thresholds at the next outcome or Tick.
func (b *Breaker) SetConfig(cfg Config) {
	b.lockChange()
	defer b.mu.Unlock()
	b.cfg = cfg
	old := b.d
	b.d = derive(cfg)
	if b.d.width != old.width || b.d.buckets != old.buckets {
		b.win = b.win.resize(b.d.width, b.d.buckets)
	}
	if cap(b.permits) < b.d.maxConc {
		p := make([]permit, len(b.permits), b.d.maxConc)
		copy(p, b.permits)
		b.permits = p
	}
}

// lockChange takes the mutex for a call that may change what Stats
// reports.
func (b *Breaker) lockChange() {
	b.mu.Lock()
	b.changes.Add(1)
}

// Changes returns a counter that every call which may change what Stats
// reports (other than time passing) increases: equal counts around a
// Stats call mean a copy taken then is still current but for time. It
// takes no lock.
func (b *Breaker) Changes() uint64 { return b.changes.Load() }

// State returns the current state.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// touch starts the clock of the initial state at the first call that
// passes a time.
func (b *Breaker) touch(now time.Time) {
	if b.since.IsZero() {
		b.since = now
	}
}

// Allow admits one unit of work: a client session or a transaction. CLOSED
// admits everything. OPEN answers ErrOpen. HALF_OPEN hands out a probe
// permit while fewer than HalfOpenMaxConcurrent are out and the round still
// needs outcomes (outcomes so far plus permits out < HalfOpenProbes), and
// ErrOpen otherwise. Every ErrOpen counts in RejectedTotal.
//
// The ticket ties the results to the state that admitted it: after any
// transition its results are ignored, so a caller that keeps a session
// across transitions should Allow again (per transaction) to be counted.
func (b *Breaker) Allow(now time.Time) (Ticket, error) {
	b.lockChange()
	defer b.mu.Unlock()
	b.touch(now)
	switch b.state {
	case Closed:
		return Ticket{gen: b.gen.Load()}, nil
	case HalfOpen:
		b.reclaim(now)
		if len(b.permits) < b.d.maxConc && b.probeOK+b.probeKO+len(b.permits) < b.d.probes {
			b.nextID++
			b.permits = append(b.permits, permit{id: b.nextID, at: now})
			b.probesTotal++
			return Ticket{gen: b.gen.Load(), probe: true, id: b.nextID}, nil
		}
	}
	b.rejectedTotal++
	return Ticket{}, ErrOpen
}

// Release returns a ticket's probe permit without a result, e.g. when the
// session ended before sending a request. It is a no-op for tickets that
// hold no permit (any more).
func (b *Breaker) Release(t Ticket) {
	if !t.probe {
		return
	}
	b.lockChange()
	defer b.mu.Unlock()
	if t.gen == b.gen.Load() {
		b.freePermit(t.id)
	}
}

func (b *Breaker) freePermit(id uint64) {
	for i, p := range b.permits {
		if p.id == id {
			last := len(b.permits) - 1
			b.permits[i] = b.permits[last]
			b.permits = b.permits[:last]
			return
		}
	}
}

// reclaim drops permits that have been out for HalfOpenProbeInterval or
// longer without a result; their late results still count as outcomes.
func (b *Breaker) reclaim(now time.Time) {
	iv := b.cfg.HalfOpenProbeInterval
	if iv <= 0 {
		return
	}
	kept := b.permits[:0]
	for _, p := range b.permits {
		if now.Sub(p.at) < iv {
			kept = append(kept, p)
		}
	}
	b.permits = kept
}

// Record feeds one finished observation of a ticket: a relayed request
// (Kind Query) or a backend connect for the ticket's session (Kind
// Connect); a Kind HealthCheck result is handled as by RecordCheck. It
// returns the transition it caused, if any, for the caller to publish.
//
// Totals (RequestsTotal, SuccessesTotal, FailuresTotal) count every result,
// whatever its ticket. Everything else ignores results of an older
// generation, so a slow answer cannot reopen a circuit that has moved on.
// Failure, Success and Slow count as window requests; Overload counts in
// Overloads only; Excluded and ConfigError are not counted in the window
// (ConfigError does not touch the circuit at all). The latencies of
// Success and Slow results feed the latency rules and percentiles; a Slow
// result counts as slower than both thresholds. Failure latencies are left
// out of the percentiles (a fast "connection refused" says nothing about
// query latency).
//
// A Connect Failure is a hard failure; any Success (query, connect or
// check) resets the consecutive hard-failure count. Query failures neither
// add to nor reset it.
//
// The first result of a probe ticket frees its permit. In HALF_OPEN every
// current-generation result is a probe outcome: Success at or below
// LatencyP95 succeeds; Failure, Slow, Overload and a Success slower than
// LatencyP95 fail; Excluded and ConfigError do not count.
//
// Record is O(1) and does not allocate unless it causes a transition.
func (b *Breaker) Record(t Ticket, r Result, now time.Time) (Transition, bool) {
	b.lockChange()
	defer b.mu.Unlock()
	b.touch(now)
	if r.Kind == HealthCheck {
		if t.gen != b.gen.Load() {
			return Transition{}, false
		}
		if t.probe {
			b.freePermit(t.id)
		}
		return b.check(r, now)
	}
	b.requestsTotal++
	switch r.Outcome {
	case Success:
		b.successesTotal++
	case Failure:
		b.failuresTotal++
		b.noteFailure(now)
	}
	if r.Outcome != Failure && r.Kind == Query {
		b.noteCompletion(now)
	}
	if t.gen != b.gen.Load() {
		return Transition{}, false
	}
	late := t.probe && b.lateProbe(t.id)
	if t.probe {
		b.freePermit(t.id)
	}
	if r.Outcome == ConfigError || late {
		return Transition{}, false
	}
	b.sample(r, now)
	hard := false
	switch {
	case r.Outcome == Success:
		b.consec = 0
	case r.Outcome == Failure && r.Kind == Connect:
		b.consec++
		b.lastHard = "connect failed"
		hard = true
	}
	switch b.state {
	case Closed:
		if b.forced {
			return Transition{}, false
		}
		if hard && b.hardTripped() {
			return b.tripHard(now)
		}
		return b.evaluate(now, Inflight{}, false)
	case HalfOpen:
		b.probe(r)
		return b.resolveRound(now)
	}
	return Transition{}, false
}

// RecordCheck feeds the result of an active health check. Checks always
// belong to the current generation and do not count in the window or in
// RequestsTotal/SuccessesTotal (a failed check counts in FailuresTotal).
//
// A Failure check is a hard failure, a Success check resets the count.
// In OPEN, a passing check (Success no slower than LatencyP95) at or after
// ReopenAt moves the circuit to HALF_OPEN, and counts as the round's first
// probe success; the round is judged at the next outcome or Tick, so that
// each call reports at most one transition. Without RequireCheck, Tick makes
// the same move on its own. In HALF_OPEN a check is a probe outcome like a
// request's. Slow, Overload, Excluded and ConfigError checks touch neither
// the hard-failure count nor (in CLOSED) the circuit.
func (b *Breaker) RecordCheck(r Result, now time.Time) (Transition, bool) {
	b.lockChange()
	defer b.mu.Unlock()
	b.touch(now)
	return b.check(r, now)
}

func (b *Breaker) check(r Result, now time.Time) (Transition, bool) {
	switch r.Outcome {
	case Success:
		b.consec = 0
	case Failure:
		b.consec++
		b.lastHard = "health check failed"
		b.failuresTotal++
		b.noteFailure(now)
	}
	if b.forced || r.Outcome == ConfigError {
		return Transition{}, false
	}
	switch b.state {
	case Closed:
		if r.Outcome == Failure && b.hardTripped() {
			return b.tripHard(now)
		}
	case Open:
		if b.passes(r) && !now.Before(b.reopenAt) && !b.follower {
			tr := b.moveTo(Open, HalfOpen, ReasonNone, fmt.Sprintf("health check passed after %v open", now.Sub(b.since)), now, nil, false)
			b.probeOK = 1
			b.probesTotal++
			tr.Stats.ProbeSuccesses = 1
			tr.Stats.ProbesTotal = b.probesTotal
			return tr, true
		}
	case HalfOpen:
		b.probesTotal++
		b.probe(r)
		return b.resolveRound(now)
	}
	return Transition{}, false
}

// RecordConnLoss records that an established backend connection broke
// while serving the ticket's session (reset, EOF, FATAL 57P01 …). It stands
// for the interrupted request: it counts as one failed request (window and
// totals) and as a hard failure, so callers do not also Record that
// request. Stale tickets count in the totals only. In HALF_OPEN it is a
// probe failure.
func (b *Breaker) RecordConnLoss(t Ticket, now time.Time) (Transition, bool) {
	b.lockChange()
	defer b.mu.Unlock()
	b.touch(now)
	b.requestsTotal++
	b.failuresTotal++
	b.noteFailure(now)
	if t.gen != b.gen.Load() {
		return Transition{}, false
	}
	if t.probe {
		b.freePermit(t.id)
	}
	b.consec++
	b.lastHard = "connection lost"
	b.win.add(now, counts{requests: 1, failures: 1}, -1)
	switch b.state {
	case Closed:
		if b.forced {
			return Transition{}, false
		}
		if b.hardTripped() {
			return b.tripHard(now)
		}
		return b.evaluate(now, Inflight{}, false)
	case HalfOpen:
		b.probeKO++
		return b.resolveRound(now)
	}
	return Transition{}, false
}

// SetSaturation stores the connection saturation gauge (clamped to 0..1),
// judged at the next Record or Tick.
func (b *Breaker) SetSaturation(v float64) {
	if math.IsNaN(v) {
		v = 0
	}
	v = max(0, min(v, 1))
	b.lockChange()
	b.saturation = v
	b.mu.Unlock()
}

// Tick evaluates what depends on time; call it every ~10 ms. In CLOSED it
// applies the window rules counting in's requests as slow samples now, the
// hung rule and the stall rule. In OPEN without RequireCheck it moves to
// HALF_OPEN at ReopenAt. In HALF_OPEN it reclaims probe permits not
// reported within HalfOpenProbeInterval and judges the round. Ramp progress and the decay of
// the recovery count are computed from now wherever they are read, so
// they need no Tick.
func (b *Breaker) Tick(now time.Time, in Inflight) (Transition, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// A tick that only lets time pass leaves Changes alone, so that the
	// copies callers keep of idle breakers' Stats stay valid.
	before := b.tickMark()
	defer func() {
		if b.tickMark() != before {
			b.changes.Add(1)
		}
	}()
	b.touch(now)
	b.win.advance(now)
	if b.forced {
		return Transition{}, false
	}
	switch b.state {
	case Closed:
		return b.evaluate(now, in, true)
	case Open:
		if !b.cfg.RequireCheck && !now.Before(b.reopenAt) && !b.follower {
			return b.moveTo(Open, HalfOpen, ReasonNone, fmt.Sprintf("open for %v", now.Sub(b.since)), now, nil, false), true
		}
	case HalfOpen:
		b.expire(now)
		b.reclaim(now)
		return b.resolveRound(now)
	}
	return Transition{}, false
}

// expire fails the probes that have run longer than ProbeTimeout.
func (b *Breaker) expire(now time.Time) {
	pt := b.cfg.ProbeTimeout
	if pt <= 0 {
		return
	}
	kept := b.permits[:0]
	for _, p := range b.permits {
		if now.Sub(p.at) > pt {
			b.probeKO++
			if len(b.expired) < 64 {
				b.expired = append(b.expired, p.id)
			}
			continue
		}
		kept = append(kept, p)
	}
	b.permits = kept
}

// lateProbe reports whether id is a probe expire failed already, and
// forgets it.
func (b *Breaker) lateProbe(id uint64) bool {
	for i, e := range b.expired {
		if e == id {
			b.expired = append(b.expired[:i], b.expired[i+1:]...)
			return true
		}
	}
	return false
}

// tickMark is what a Tick can change besides the passage of time.
type tickMark struct {
	gen              uint64
	held             verdict
	heldBy           guardRefusal
	permits, ok, bad int
}

func (b *Breaker) tickMark() tickMark {
	return tickMark{b.gen.Load(), b.held, b.heldBy, len(b.permits), b.probeOK, b.probeKO}
}

// Force sets an operator override: s (Open or Closed; anything else is
// ignored) holds until Unforce, whatever the traffic says. Statistics keep
// accumulating, but no automatic transition happens while forced. A forced
// OPEN counts towards the max-ejection guard but never towards a cascade;
// a forced CLOSED starts a fresh window without a ramp. It returns the
// transition (Reason Override) if the state changed.
func (b *Breaker) Force(s State, now time.Time) (Transition, bool) {
	if s != Open && s != Closed {
		return Transition{}, false
	}
	b.lockChange()
	defer b.mu.Unlock()
	b.touch(now)
	b.forced = true
	if b.state == s {
		return Transition{}, false
	}
	b.held = verdict{}
	if s == Open {
		b.g.admitOpen(b, false, false, now)
		return b.moveTo(b.state, Open, ReasonOverride, "forced open by operator", now, nil, false), true
	}
	return b.moveTo(b.state, Closed, ReasonOverride, "forced closed by operator", now, nil, false), true
}

// Unforce removes the override and returns to automatic evaluation. A
// forced OPEN becomes CLOSED with a fresh window, ramping up as after a
// recovery when GradualRecovery is set (Reason Override); a forced CLOSED
// stays CLOSED and the next Record or Tick judges it.
func (b *Breaker) Unforce(now time.Time) (Transition, bool) {
	b.lockChange()
	defer b.mu.Unlock()
	b.touch(now)
	if !b.forced {
		return Transition{}, false
	}
	b.forced = false
	if b.state != Open {
		return Transition{}, false
	}
	return b.moveTo(Open, Closed, ReasonOverride, "override removed", now, nil, true), true
}

// Weight returns the routing factor: 0 when OPEN, 1 in HALF_OPEN (probe
// admission limits it there), and in CLOSED 1 unless ramping after a
// recovery: then it starts at RampStepPercent and adds RampStepPercent every
// RampUpDuration/ceil(100/RampStepPercent), so 10% steps over 120s give
// 10% at the close, 20% at 12s, …, 100% at 108s; the ramp is over at
// RampUpDuration. A forced CLOSED weighs 1.
func (b *Breaker) Weight(now time.Time) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.weight(now)
}

func (b *Breaker) weight(now time.Time) float64 {
	switch {
	case b.state == Open:
		return 0
	case b.state == HalfOpen, b.forced, b.rampStart.IsZero():
		return 1
	}
	d, step := b.cfg.RampUpDuration, b.cfg.RampStepPercent
	if !b.cfg.GradualRecovery || d <= 0 || step <= 0 || step >= 100 {
		return 1
	}
	el := max(now.Sub(b.rampStart), 0)
	if el >= d {
		return 1
	}
	n := math.Ceil(100/step - 1e-9)
	i := math.Floor(float64(el) * n / float64(d))
	return min(1, (i+1)*step/100)
}

// Stats returns a copy of the breaker's state and window as of now.
func (b *Breaker) Stats(now time.Time) Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.touch(now)
	b.win.advance(now)
	st := b.stats(now)
	b.fillWindow(&st)
	return st
}

// stats fills everything but the window fields.
func (b *Breaker) stats(now time.Time) Stats {
	st := Stats{
		State:               b.state,
		Since:               b.since,
		Reason:              b.reason,
		Detail:              b.detail,
		Forced:              b.forced,
		Saturation:          b.saturation,
		LastFailure:         b.lastFailure,
		ConsecutiveFailures: b.consec,
		RecoveryAttempts:    b.recoveries(now),
		Ramp:                b.weight(now),
		ProbesInFlight:      len(b.permits),
		ProbeSuccesses:      b.probeOK,
		ProbeFailures:       b.probeKO,
		RequestsTotal:       b.requestsTotal,
		SuccessesTotal:      b.successesTotal,
		FailuresTotal:       b.failuresTotal,
		RejectedTotal:       b.rejectedTotal,
		TransitionsTotal:    b.transitionsTotal,
		ProbesTotal:         b.probesTotal,
	}
	if b.state == Open {
		st.ReopenAt = b.reopenAt
		if b.follower && !b.forced {
			st.Follower = true
			st.Detail = followDetail(st.Detail)
		}
	}
	if b.state == Closed && b.held.reason != ReasonNone {
		st.Detail = fmt.Sprintf("held by max-ejection guard (%d of %d backends open, limit %g%%): %s",
			b.heldBy.open, b.heldBy.members, b.g.cfg.MaxEjectionPercent, b.held.format(b.cfg))
	}
	return st
}

func (b *Breaker) fillWindow(st *Stats) {
	s := &b.win.sum
	st.Requests = s.requests
	st.Failures = s.failures
	st.Overloads = s.overloads
	if s.requests > 0 {
		st.ErrorRate = float64(s.failures) / float64(s.requests)
	}
	st.P50 = b.win.percentile(0.50)
	st.P95 = b.win.percentile(0.95)
	st.P99 = b.win.percentile(0.99)
}

// recoveries returns k as of now: in CLOSED it decays by one for every
// OpenDuration spent CLOSED since the last close (Envoy's ejection
// multiplier decay), computed rather than stored.
func (b *Breaker) recoveries(now time.Time) int {
	if b.state != Closed || b.k == 0 {
		return b.k
	}
	od := b.cfg.OpenDuration
	if od <= 0 {
		return 0
	}
	dec := now.Sub(b.closedAt) / od
	if dec <= 0 {
		return b.k
	}
	if dec >= time.Duration(b.k) {
		return 0
	}
	return b.k - int(dec)
}

func (b *Breaker) noteCompletion(now time.Time) {
	if now.After(b.lastCompletion) {
		b.lastCompletion = now
	}
}

func (b *Breaker) noteFailure(now time.Time) {
	if now.After(b.lastFailure) {
		b.lastFailure = now
	}
}

// sample adds a current-generation result to the window.
func (b *Breaker) sample(r Result, now time.Time) {
	var c counts
	bin := -1
	switch r.Outcome {
	case Success:
		c.requests = 1
		if p := b.cfg.LatencyP95; p > 0 && r.Latency > p {
			c.slow95 = 1
		}
		if p := b.cfg.LatencyP99; p > 0 && r.Latency > p {
			c.slow99 = 1
		}
		bin = binOf(r.Latency)
	case Slow:
		c = counts{requests: 1, slow95: 1, slow99: 1}
		bin = binOf(max(r.Latency, b.d.slowFloor))
	case Failure:
		c = counts{requests: 1, failures: 1}
	case Overload:
		c.overloads = 1
	default:
		return
	}
	b.win.add(now, c, bin)
}

// passes reports whether a result is a healthy answer: a Success no slower
// than LatencyP95.
func (b *Breaker) passes(r Result) bool {
	return r.Outcome == Success && (b.cfg.LatencyP95 <= 0 || r.Latency <= b.cfg.LatencyP95) &&
		(b.cfg.ProbeTimeout <= 0 || r.Latency <= b.cfg.ProbeTimeout)
}

// probe counts a HALF_OPEN outcome.
func (b *Breaker) probe(r Result) {
	switch {
	case b.passes(r):
		b.probeOK++
	case r.Outcome == Success, r.Outcome == Failure, r.Outcome == Slow, r.Outcome == Overload:
		b.probeKO++
	}
}

// resolveRound closes the circuit once the round has enough successes and
// reopens it as soon as it no longer can.
func (b *Breaker) resolveRound(now time.Time) (Transition, bool) {
	if b.state != HalfOpen || b.forced {
		return Transition{}, false
	}
	if b.probeOK >= b.d.needed {
		detail := fmt.Sprintf("%d of %d probes succeeded (%d needed)", b.probeOK, b.probeOK+b.probeKO, b.d.needed)
		return b.moveTo(HalfOpen, Closed, ReasonNone, detail, now, nil, true), true
	}
	if b.probeKO > b.d.probes-b.d.needed {
		b.k++
		detail := fmt.Sprintf("recovery attempt %d failed: %d of %d probes failed (%d of %d must succeed)",
			b.k, b.probeKO, b.probeOK+b.probeKO, b.d.needed, b.d.probes)
		b.g.admitOpen(b, false, false, now)
		return b.moveTo(HalfOpen, Open, ReasonRecoveryFailed, detail, now, nil, false), true
	}
	return Transition{}, false
}

func (b *Breaker) hardTripped() bool {
	return b.cfg.ConnectionFailureThreshold > 0 && b.consec >= b.cfg.ConnectionFailureThreshold
}

func (b *Breaker) tripHard(now time.Time) (Transition, bool) {
	v := verdict{reason: ReasonHardFailure, bad: b.consec}
	v.what = b.lastHard
	return b.trip(v, now)
}

// verdict is a trip decision before it is formatted, so that evaluating
// (and holding a trip back) does not allocate.
type verdict struct {
	reason   Reason
	stall    bool
	n        int // samples the rule looked at (with in-flight requests)
	bad      int // failures or slow samples among them; consecutive hard failures
	inflight int // in-flight requests counted as slow; hung: all in flight
	sat      float64
	silent   time.Duration // stall, hung: time since the last completion; 0 if there was none
	oldest   time.Duration // hung: age of the oldest request in flight
	what     string        // hard failure: the last one
}

func (v verdict) format(c Config) string {
	switch v.reason {
	case ReasonHardFailure:
		return fmt.Sprintf("%d consecutive hard failures, last: %s", v.bad, v.what)
	case ReasonPeer, ReasonPeerTrip, ReasonQuorum:
		return v.what
	case ReasonErrorRate:
		return fmt.Sprintf("error rate %.1f%% > %g%% over %d requests",
			100*float64(v.bad)/float64(v.n), c.FailureRatePercent, v.n)
	case ReasonSaturation:
		return fmt.Sprintf("connection saturation %.2f > %.2f over %d requests", v.sat, c.SaturationThreshold, v.n)
	case ReasonHung:
		silent := "no query completed yet"
		if v.silent > 0 {
			silent = fmt.Sprintf("nothing completed for %v", v.silent.Round(time.Millisecond))
		}
		return fmt.Sprintf("hung: %d in flight, the oldest for %v, %s, and the health check timed out",
			v.inflight, v.oldest.Round(time.Millisecond), silent)
	case ReasonLatencyP95, ReasonLatencyP99:
		if v.stall {
			return fmt.Sprintf("stall: %d in flight longer than %v, nothing completed for %v (window held %d requests)",
				v.inflight, c.LatencyP95, v.silent.Round(time.Millisecond), v.n)
		}
		name, thr, limit := "p95", c.LatencyP95, 5.0
		if v.reason == ReasonLatencyP99 {
			name, thr, limit = "p99", c.LatencyP99, 1.0
		}
		s := fmt.Sprintf("%s > %v: %d of %d requests slower (%.1f%% > %g%%)",
			name, thr, v.bad, v.n, 100*float64(v.bad)/float64(v.n), limit)
		if v.inflight > 0 {
			s += fmt.Sprintf(", %d of them still running", v.inflight)
		}
		return s
	}
	return v.reason.String()
}

// evaluate applies the CLOSED window rules (and, on Tick, the in-flight
// requests, the hung rule and the stall rule). The error rate and the hung
// rule win over the guarded rules, so a failing or hung backend is never
// held back by the max-ejection guard.
func (b *Breaker) evaluate(now time.Time, in Inflight, tick bool) (Transition, bool) {
	b.win.advance(now)
	s := b.win.sum
	c := &b.cfg
	minReq := b.d.minReq
	var v verdict
	switch {
	case c.FailureRatePercent > 0 && s.requests >= minReq &&
		float64(s.failures)*100 > c.FailureRatePercent*float64(s.requests):
		v = verdict{reason: ReasonErrorRate, n: s.requests, bad: s.failures}
	case tick && b.hung(now, in):
		// Volume does not matter: like a failed connect, this is the
		// server not answering, whatever the window holds.
		v = verdict{reason: ReasonHung, n: s.requests, inflight: in.Count, oldest: in.Oldest, silent: b.silence(now)}
		b.noteFailure(now)
	case c.LatencyP95 > 0 && s.requests+in.OverP95 >= minReq &&
		(s.slow95+in.OverP95)*20 > s.requests+in.OverP95:
		v = verdict{reason: ReasonLatencyP95, n: s.requests + in.OverP95, bad: s.slow95 + in.OverP95, inflight: in.OverP95}
	case c.LatencyP99 > 0 && s.requests+in.OverP99 >= minReq &&
		(s.slow99+in.OverP99)*100 > s.requests+in.OverP99:
		v = verdict{reason: ReasonLatencyP99, n: s.requests + in.OverP99, bad: s.slow99 + in.OverP99, inflight: in.OverP99}
	case c.SaturationThreshold > 0 && s.requests >= minReq && b.saturation > c.SaturationThreshold:
		v = verdict{reason: ReasonSaturation, n: s.requests, sat: b.saturation}
	case tick && c.LatencyP95 > 0 && in.OverP95 >= 1 && s.requests >= minReq &&
		(in.OverP95 >= 2 || in.CheckOver) && b.silentFor(now, c.LatencyP95):
		v = verdict{reason: ReasonLatencyP95, stall: true, n: s.requests, inflight: in.OverP95, silent: b.silence(now)}
	default:
		b.held = verdict{}
		return Transition{}, false
	}
	return b.trip(v, now)
}

// stallBound is how long requests must go unanswered before the hung rule
// looks at them: LatencyP95, or LatencyP99 when that is 0; 0 when both
// are (the rule is then off).
func (b *Breaker) stallBound() time.Duration {
	return cmp.Or(b.cfg.LatencyP95, b.cfg.LatencyP99)
}

// silentFor reports whether no relayed query has completed within d
// before now.
func (b *Breaker) silentFor(now time.Time, d time.Duration) bool {
	return b.lastCompletion.IsZero() || !b.lastCompletion.After(now.Add(-d))
}

// silence is the time since the last completed query, 0 if none ever did.
func (b *Breaker) silence(now time.Time) time.Duration {
	if b.lastCompletion.IsZero() {
		return 0
	}
	return now.Sub(b.lastCompletion)
}

// hung reports whether the backend answers nothing: a request has been in
// flight longer than the stall bound, no query has completed for as long,
// and the health check has gone unanswered past its timeout. A long query
// alone is not a hang while the server answers the check, and neither is a
// slow workload, which keeps completing queries or answers the check.
func (b *Breaker) hung(now time.Time, in Inflight) bool {
	bound := b.stallBound()
	return bound > 0 && in.CheckTimedOut && in.Oldest > bound && b.silentFor(now, bound)
}

// WantsCheck reports whether the caller should start a health check now
// rather than at its next interval: the circuit is CLOSED and not forced,
// a request has been in flight for half the stall bound with no query
// completed for as long, and no check is running or has begun since the
// oldest request in flight was that old (a check begun earlier may have
// been answered before the stall took hold). Only the check tells a hung
// backend (ReasonHung, never held back) from a slow one (the stall rule,
// held back by the max-ejection guard), so the sooner it runs, the sooner
// a hang is found, also when other circuits are open. A stall asks once,
// whatever it lasts, unless a newer request becomes the oldest.
func (b *Breaker) WantsCheck(now time.Time, in Inflight) bool {
	if in.CheckTimedOut || in.CheckRunning || in.Count == 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	half := b.stallBound() / 2
	return b.state == Closed && !b.forced && half > 0 && in.Oldest > half && b.silentFor(now, half) &&
		in.CheckStarted.Before(now.Add(half-in.Oldest))
}

// trip opens a CLOSED circuit, subject to the max-ejection guard for
// guarded reasons. A refused trip is not an error: Stats.Detail says that
// it is being held back, and the rule is judged again at every Record and
// Tick while it holds.
func (b *Breaker) trip(v verdict, now time.Time) (Transition, bool) {
	ok, cascade, why := b.g.admitOpen(b, v.reason.Guarded(), true, now)
	if !ok {
		b.held, b.heldBy = v, why
		return Transition{}, false
	}
	b.held = verdict{}
	b.k = b.recoveries(now)
	return b.moveTo(Closed, Open, v.reason, v.format(b.cfg), now, cascade, false), true
}

// openWait is how long the circuit stays OPEN before probing:
// min(OpenDuration × (1+k), MaxOpenDuration) × (1 + Jitter × rand).
func (b *Breaker) openWait() time.Duration {
	c := &b.cfg
	w := float64(c.OpenDuration) * float64(1+b.k)
	if c.MaxOpenDuration > 0 && w > float64(c.MaxOpenDuration) {
		w = float64(c.MaxOpenDuration)
	}
	if c.Jitter > 0 {
		w *= 1 + c.Jitter*b.g.cfg.Rand()
	}
	if w >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(w)
}

// moveTo makes a transition and returns it. The transition's Stats show
// the window as it was when the decision was taken; entering HALF_OPEN or
// CLOSED then starts a fresh window, so that the failures that opened the
// circuit cannot re-trip it at once (entering OPEN keeps the window, which
// Stats keeps showing while OPEN).
func (b *Breaker) moveTo(from, to State, reason Reason, detail string, now time.Time, cascade []string, ramp bool) Transition {
	tr := Transition{
		Backend: b.name,
		From:    from,
		To:      to,
		At:      now,
		Reason:  reason,
		Detail:  detail,
		InFrom:  max(now.Sub(b.since), 0),
		Cascade: cascade,
	}
	var ws Stats
	b.win.advance(now)
	b.fillWindow(&ws)

	b.state = to
	b.since = now
	b.gen.Add(1)
	b.transitionsTotal++
	b.permits = b.permits[:0]
	b.expired = b.expired[:0]
	b.probeOK, b.probeKO = 0, 0
	b.reopenAt = time.Time{}
	switch to {
	case Open:
		b.reason, b.detail = reason, detail
		b.rampStart = time.Time{}
		if reason != ReasonOverride {
			b.reopenAt = now.Add(b.openWait())
		}
	case HalfOpen:
		b.win.reset()
		b.consec = 0
	case Closed:
		b.win.reset()
		b.consec = 0
		b.closedAt = now
		b.rampStart = time.Time{}
		if ramp && b.cfg.GradualRecovery {
			b.rampStart = now
		}
		b.g.markClosed(b)
	}
	tr.Attempt = b.k
	tr.Stats = b.stats(now)
	tr.Stats.Requests, tr.Stats.Failures, tr.Stats.Overloads = ws.Requests, ws.Failures, ws.Overloads
	tr.Stats.ErrorRate, tr.Stats.P50, tr.Stats.P95, tr.Stats.P99 = ws.ErrorRate, ws.P50, ws.P95, ws.P99
	return tr
}
