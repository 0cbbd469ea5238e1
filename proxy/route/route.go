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
	"errors"
	"fmt"
	"slices"
	"strings"
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
}

// Route picks the backend for a new session (DESIGN.md § Routing): skip
// OPEN circuits, admit HALF_OPEN ones only with a probe permit, prefer the
// highest priority tier that can serve, and within it the least loaded
// backend (sessions or attached transactions, plus clients queued for its
// pools) relative to weight × ramp × health. Read-write sessions never
// go to read-only backends. exclude lists backends already tried. The
// chosen backend's active count includes the new session: the caller
// undoes it if the session does not start.
func (r *Router) Route(readOnly bool, exclude []*backend.Backend) (*backend.Backend, breaker.Ticket, error) {
	now := r.Now()
	cands := make([]*backend.Backend, 0, len(r.Backends()))
	for _, b := range r.Backends() {
		if b.Draining.Load() || slices.Contains(exclude, b) || (b.Live().ReadOnly() && !readOnly) {
			continue
		}
		if r.BreakersOn.Load() && b.Breaker.State() == breaker.Open {
			continue
		}
		cands = append(cands, b)
	}
	// Highest priority first; within a tier, lowest load per unit of factor.
	score := func(b *backend.Backend) float64 {
		f := b.RoutingFactor()
		if f <= 0 {
			f = 1e-9
		}
		return float64(b.Active.Load()+b.Queued.Load()+1) / f
	}
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
	if len(cands) == 0 {
		// Count the refusal on every circuit that kept this session out.
		for _, b := range r.Backends() {
			if !b.Draining.Load() && !slices.Contains(exclude, b) && (readOnly || !b.Live().ReadOnly()) {
				_, _ = b.Breaker.Allow(now)
			}
		}
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
	return nil, breaker.Ticket{}, r.unavailable(now, readOnly)
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
		switch {
		case b.Draining.Load():
			detail.WriteString(" (draining)")
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
