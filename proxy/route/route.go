// Package route chooses the backend for a new session or transaction
// (DESIGN.md § Routing): open circuits are skipped, half-open ones admit
// their probe permits, the highest priority tier that can serve wins, and
// within it the least loaded backend relative to its routing factor. When
// no backend is left, it builds what the client is told: every circuit's
// state and when to retry, or the backends' own refusals (full, not
// accepting connections, TLS failures).
package route

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/dial"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// Router routes over the serving backends.
type Router struct {
	Backends func() []*backend.Backend // the serving backends in configuration order
	Now      func() time.Time
	// BreakersOn is false when the file turns circuit breaking off: the
	// breakers still observe and report, but routing ignores them.
	BreakersOn atomic.Bool
	rotor      atomic.Uint64 // breaks routing ties

	wakeMu sync.Mutex
	wake   chan struct{} // closed by Changed; nil until RouteWait needs one
}

// ErrNoPrimary marks (in wire.Error.Err) the refusal of a session that may
// write because no primary can take it, while replicas could serve
// read-only ones.
var ErrNoPrimary = errors.New("no primary backend can take the session")

// Route picks the backend for a new session (DESIGN.md § Routing): skip
// OPEN circuits, admit HALF_OPEN ones only with a probe permit, prefer the
// highest priority tier that can serve, and within it the least loaded
// backend (sessions or attached transactions, plus clients queued for its
// pools) relative to weight × ramp × health. exclude lists backends
// already tried. The chosen backend's active count includes the new
// session: the caller undoes it if the session does not start.
//
// Roles (backend.Verdict): a session that may write (readOnly false) goes
// to a read-write backend only — the primary of a replication group, or a
// backend whose role is not known — never to a replica, a lagging or a
// fenced backend, nor to a backend with allowed_query_types = ["SELECT"].
// A read-only session goes to a read-only backend (a replica within
// max_replication_lag_ms, or a SELECT-only backend) when one can take it,
// else to a read-write one (the primary); never to a lagging or fenced
// one.
func (r *Router) Route(readOnly bool, exclude []*backend.Backend) (*backend.Backend, breaker.Ticket, error) {
	return r.route(readOnly, exclude, true)
}

// RouteNow is Route for a caller that must not wait (an event loop): a
// refusal is not counted, since the caller routes again with RouteWait
// where it may wait, and that one counts.
func (r *Router) RouteNow(readOnly bool, exclude []*backend.Backend) (*backend.Backend, breaker.Ticket, error) {
	return r.route(readOnly, exclude, false)
}

// RouteWait is Route for a session that may wait up to wait for a primary
// (backends.primary_wait_timeout): when Route refuses a session that may
// write only because no primary can take it (ErrNoPrimary) and a backend
// that could become one is reachable, it waits for the roles or circuits
// to change (Changed) and routes again, until the primary comes (a
// promotion is followed within one health-check interval), wait has
// passed or ctx ends. Read-only sessions and other refusals do not wait.
func (r *Router) RouteWait(ctx context.Context, readOnly bool, exclude []*backend.Backend, wait time.Duration) (*backend.Backend, breaker.Ticket, error) {
	if readOnly || wait <= 0 {
		return r.Route(readOnly, exclude)
	}
	// The common case, a primary at hand, costs no timers.
	if b, t, err := r.route(readOnly, exclude, false); err == nil {
		return b, t, nil
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	// A fallback in case a change is not announced: routing depends on
	// time too (open circuits become half-open).
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for {
		changed := r.changed()
		b, t, err := r.route(readOnly, exclude, false)
		if err == nil || !errors.Is(err, ErrNoPrimary) || !r.promotable(exclude) {
			if err != nil {
				return r.Route(readOnly, exclude) // counts the refusal
			}
			return b, t, nil
		}
		select {
		case <-changed:
		case <-poll.C:
		case <-deadline.C:
			return r.Route(readOnly, exclude)
		case <-ctx.Done():
			return nil, breaker.Ticket{}, ctx.Err()
		}
	}
}

// Changed tells sessions waiting in RouteWait that roles or circuits
// changed.
func (r *Router) Changed() {
	r.wakeMu.Lock()
	if r.wake != nil {
		close(r.wake)
		r.wake = nil
	}
	r.wakeMu.Unlock()
}

// changed returns a channel closed at the next Changed.
func (r *Router) changed() <-chan struct{} {
	r.wakeMu.Lock()
	defer r.wakeMu.Unlock()
	if r.wake == nil {
		r.wake = make(chan struct{})
	}
	return r.wake
}

// promotable reports whether a backend that could become the primary is
// reachable: not draining, not tried, not fenced, its circuit not OPEN.
func (r *Router) promotable(exclude []*backend.Backend) bool {
	for _, b := range r.Backends() {
		if !b.Draining.Load() && !slices.Contains(exclude, b) && b.Roles().Verdict != backend.Fenced && b.Breaker.State() != breaker.Open {
			return true
		}
	}
	return false
}

// takes reports whether b's role lets it take a session (class 0 is
// preferred), whatever its circuit says.
func takes(b *backend.Backend, readOnly bool) (class int, ok bool) {
	switch b.Roles().Verdict {
	case backend.ReadWrite:
		if readOnly {
			return 1, true
		}
		return 0, !b.Live().ReadOnly()
	case backend.ReadOnly:
		return 0, readOnly
	}
	return 0, false
}

func (r *Router) route(readOnly bool, exclude []*backend.Backend, count bool) (*backend.Backend, breaker.Ticket, error) {
	now := r.Now()
	// Room for the usual number of backends without the heap.
	var room [2][8]*backend.Backend
	classes := [2][]*backend.Backend{room[0][:0], room[1][:0]}
	for _, b := range r.Backends() {
		if b.Draining.Load() || slices.Contains(exclude, b) || b.Held(now) {
			continue
		}
		class, ok := takes(b, readOnly)
		if !ok {
			continue
		}
		if r.BreakersOn.Load() && b.Breaker.State() == breaker.Open {
			continue
		}
		classes[class] = append(classes[class], b)
	}
	// Highest priority first; within a tier, lowest load per unit of factor.
	score := func(b *backend.Backend) float64 {
		f := b.RoutingFactor()
		if f <= 0 {
			f = 1e-9
		}
		return float64(b.Active.Load()+b.Queued.Load()+1) / f
	}
	for _, cands := range classes {
		slices.SortStableFunc(cands, func(x, y *backend.Backend) int {
			if c := cmp.Compare(y.Live().Priority, x.Live().Priority); c != 0 {
				return c
			}
			return cmp.Compare(score(x), score(y))
		})
		if !r.BreakersOn.Load() && len(cands) > 0 {
			// Circuit breaking is off: observe, never refuse.
			cands[0].Active.Add(1)
			return cands[0], cands[0].Breaker.Current(), nil
		}
		// Rotate among equally good backends of the best tier, so that
		// sessions that come one after another spread out too.
		if n := ties(cands, score); n > 1 {
			k := int(r.rotor.Add(1) % uint64(n))
			cands[0], cands[k] = cands[k], cands[0]
		}
		for _, b := range cands {
			t, err := b.Breaker.Allow(now)
			if err == nil {
				// Count the session now, not once it is authenticated, so that
				// clients connecting together spread out.
				b.Active.Add(1)
				return b, t, nil
			}
		}
	}
	byRole := false // a backend's role kept the session out
	for _, b := range r.Backends() {
		if b.Draining.Load() || slices.Contains(exclude, b) {
			continue
		}
		if b.Held(now) {
			byRole = true // its role is about to be known: a write waits for it (RouteWait)
			continue
		}
		if _, ok := takes(b, readOnly); !ok {
			byRole = byRole || b.Roles().Role != backend.RoleUnknown
			continue
		}
		if count && len(classes[0])+len(classes[1]) == 0 {
			// Count the refusal on every circuit that kept this session out.
			_, _ = b.Breaker.Allow(now)
		}
	}
	if !readOnly && byRole {
		return nil, breaker.Ticket{}, r.noPrimary(now)
	}
	return nil, breaker.Ticket{}, r.unavailable(now, readOnly)
}

// noPrimary builds the 57P03 error a session that may write gets when no
// primary can take it.
func (r *Router) noPrimary(now time.Time) *wire.Error {
	detail, _ := r.circuitStates(now, false, nil)
	return &wire.Error{Code: "57P03", Message: "no primary backend available", Detail: detail,
		Hint: "Retry shortly; HeliosProxy follows a promotion within one health-check interval. Read-only sessions (default_transaction_read_only=on) are served by replicas.",
		Err:  ErrNoPrimary}
}

// tieTolerance is how much worse than the best a score may be and still
// count as a tie. Without it, at light load (nothing attached anywhere, as
// is usual in transaction mode) the backend whose health factor is a hair
// better took 82% of the transactions (bench/failover -mode transaction).
const tieTolerance = 1.05

// ties counts the leading candidates (sorted by route) that are about as
// good as the first: same priority, score within tieTolerance.
func ties(cands []*backend.Backend, score func(*backend.Backend) float64) int {
	n := 1
	for n < len(cands) && cands[n].Live().Priority == cands[0].Live().Priority && score(cands[n]) <= score(cands[0])*tieTolerance {
		n++
	}
	return n
}

// unavailable builds the 57P03 error a client gets when no backend can
// take its session: every circuit's state in DETAIL and when to retry.
func (r *Router) unavailable(now time.Time, readOnly bool) *wire.Error {
	detail, retry := r.circuitStates(now, readOnly, nil)
	hint := "Retry shortly; HeliosProxy routes new sessions as soon as a backend recovers."
	if retry > 0 {
		hint = fmt.Sprintf("Retry in %s or later; HeliosProxy probes the failed backends and routes new sessions as soon as one recovers.", max(retry.Round(time.Second), time.Second))
	}
	return &wire.Error{Code: "57P03", Message: "no healthy backend available", Detail: detail, Hint: hint}
}

// circuitStates describes for a client the backends not named in skip:
// each one's circuit state and why it cannot take the session. retry is
// the soonest an open circuit among them is probed again, 0 for none.
func (r *Router) circuitStates(now time.Time, readOnly bool, skip []string) (_ string, retry time.Duration) {
	var detail strings.Builder
	for _, b := range r.Backends() {
		if slices.Contains(skip, b.Config.Name) {
			continue
		}
		st := b.Breaker.Stats(now)
		if detail.Len() > 0 {
			detail.WriteString("; ")
		}
		fmt.Fprintf(&detail, "%s: %s", b.Config.Name, st.State)
		v := b.Roles()
		switch {
		case b.Draining.Load():
			detail.WriteString(" (draining)")
		case v.Verdict == backend.Fenced:
			detail.WriteString(" (fenced primary)")
		case v.Verdict == backend.Lagging:
			fmt.Fprintf(&detail, " (replica lagging %s)", v.Lag.Round(time.Millisecond))
		case v.Role == backend.RoleReplica && !readOnly:
			detail.WriteString(" (replica)")
		case b.Live().ReadOnly() && !readOnly:
			detail.WriteString(" (read-only)")
		case st.State != breaker.Closed:
			fmt.Fprintf(&detail, " (%s for %s", st.Reason, now.Sub(st.Since).Round(time.Millisecond))
			if st.State == breaker.Open && st.ReopenAt.After(now) {
				wait := st.ReopenAt.Sub(now)
				fmt.Fprintf(&detail, ", probing again in %s", wait.Round(time.Second))
				if retry == 0 || wait < retry {
					retry = wait
				}
			}
			detail.WriteString(")")
		}
	}
	return detail.String(), retry
}

// codeConfigLimit is a backend's own configuration_limit_exceeded.
const codeConfigLimit = "53400"

// Refusals collects why the backends tried for one session refused it
// before it started, for what the client is told when none is left.
type Refusals struct {
	tried  int
	full   []string // backends that answered 53300 or 53400: at their connection limit
	notNow []string // backends that answered 57P03: starting up or shutting down
	tls    []string // backends whose TLS failed, each with why
}

// Note records that b failed the session with err.
func (r *Refusals) Note(b *backend.Backend, err error) {
	r.tried++
	var be *wire.BackendError
	if te := (*dial.Error)(nil); errors.As(err, &te) {
		r.tls = append(r.tls, b.Config.Name+" ("+te.Reason()+")")
	}
	if !errors.As(err, &be) {
		return
	}
	switch be.Code {
	case "53300", codeConfigLimit:
		r.full = append(r.full, b.Config.Name)
	case "57P03":
		r.notNow = append(r.notNow, b.Config.Name)
	}
}

// noBackend is what a client is told when route has no backend left to
// try for it (err): when every backend tried refused the session itself
// for being full or not accepting connections, that, as PostgreSQL says
// it; else route's err, the circuits' states. A backend that is merely
// full is healthy: blaming circuits that are CLOSED would send an
// operator looking for an outage that is not there.
func (r *Router) NoBackend(err error, readOnly bool, ref *Refusals) error {
	if ref.tried == 0 || len(ref.full)+len(ref.notNow) < ref.tried {
		return ref.withTLS(err)
	}
	var detail strings.Builder
	if n := len(ref.full); n > 0 {
		fmt.Fprintf(&detail, "%s %s %s at %s connection limit.", plural(n, "Backend", "Backends"), strings.Join(ref.full, ", "), plural(n, "is", "are"), plural(n, "its", "their"))
	}
	if n := len(ref.notNow); n > 0 {
		if detail.Len() > 0 {
			detail.WriteString(" ")
		}
		fmt.Fprintf(&detail, "%s %s %s not accepting connections (starting up or shutting down).", plural(n, "Backend", "Backends"), strings.Join(ref.notNow, ", "), plural(n, "is", "are"))
	}
	if others, _ := r.circuitStates(r.Now(), readOnly, slices.Concat(ref.full, ref.notNow)); others != "" {
		fmt.Fprintf(&detail, " Not tried: %s.", others)
	}
	if len(ref.full) == 0 {
		return &wire.Error{Code: "57P03", Message: "the database system is not accepting connections", Detail: detail.String(),
			Hint: "Retry shortly; HeliosProxy routes new sessions as soon as a backend accepts them.", Err: err}
	}
	return &wire.Error{Code: "53300", Message: "sorry, too many clients already", Detail: detail.String(),
		Hint: "Retry shortly; the backends take new sessions as theirs end. If this persists, raise max_connections on the backends or pool the clients through HeliosProxy ([[users]]).",
		Err:  err}
}

// withTLS adds the backends whose TLS failed to the DETAIL of err (route's
// 57P03): without it, a backend whose certificate fails verification
// would look healthy to the client.
func (r *Refusals) withTLS(err error) error {
	var pe *wire.Error
	if len(r.tls) == 0 || !errors.As(err, &pe) {
		return err
	}
	e := *pe
	e.Detail = strings.TrimSpace(e.Detail + ". TLS to the backend failed: " + strings.Join(r.tls, "; ") + ".")
	return &e
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
