package proxy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/proxy/dial"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

// route picks the backend for a new session (DESIGN.md § Routing): skip
// OPEN circuits, admit HALF_OPEN ones only with a probe permit, prefer the
// highest priority tier that can serve, and within it the least loaded
// backend (sessions or attached transactions, plus clients queued for its
// pools) relative to weight × ramp × health. Read-write sessions never
// go to read-only backends. exclude lists backends already tried. The
// chosen backend's active count includes the new session: the caller
// undoes it if the session does not start.
func (s *Server) route(readOnly bool, exclude []*backend) (*backend, breaker.Ticket, error) {
	now := s.clock.Now()
	cands := make([]*backend, 0, len(s.list()))
	for _, b := range s.list() {
		if b.draining.Load() || slices.Contains(exclude, b) || (b.conf().ReadOnly() && !readOnly) {
			continue
		}
		if s.breakersOn.Load() && b.br.State() == breaker.Open {
			continue
		}
		cands = append(cands, b)
	}
	// Highest priority first; within a tier, lowest load per unit of factor.
	score := func(b *backend) float64 {
		f := b.routingFactor()
		if f <= 0 {
			f = 1e-9
		}
		return float64(b.active.Load()+b.queued.Load()+1) / f
	}
	slices.SortStableFunc(cands, func(x, y *backend) int {
		if c := cmp.Compare(y.conf().Priority, x.conf().Priority); c != 0 {
			return c
		}
		return cmp.Compare(score(x), score(y))
	})
	if !s.breakersOn.Load() && len(cands) > 0 {
		// Circuit breaking is off: observe, never refuse.
		cands[0].active.Add(1)
		return cands[0], cands[0].br.Current(), nil
	}
	if len(cands) == 0 {
		// Count the refusal on every circuit that kept this session out.
		for _, b := range s.list() {
			if !b.draining.Load() && !slices.Contains(exclude, b) && (readOnly || !b.conf().ReadOnly()) {
				_, _ = b.br.Allow(now)
			}
		}
	}
	// Rotate among equally good backends of the best tier, so that
	// sessions that come one after another spread out too.
	if n := ties(cands, score); n > 1 {
		k := int(s.rotor.Add(1) % uint64(n))
		cands[0], cands[k] = cands[k], cands[0]
	}
	for _, b := range cands {
		t, err := b.br.Allow(now)
		if err == nil {
			// Count the session now, not once it is authenticated, so that
			// clients connecting together spread out.
			b.active.Add(1)
			return b, t, nil
		}
	}
	return nil, breaker.Ticket{}, s.unavailable(now, readOnly)
}

// tieTolerance is how much worse than the best a score may be and still
// count as a tie. Without it, at light load (nothing attached anywhere, as
// is usual in transaction mode) the backend whose health factor is a hair
// better took 82% of the transactions (bench/failover -mode transaction).
const tieTolerance = 1.05

// ties counts the leading candidates (sorted by route) that are about as
// good as the first: same priority, score within tieTolerance.
func ties(cands []*backend, score func(*backend) float64) int {
	n := 1
	for n < len(cands) && cands[n].conf().Priority == cands[0].conf().Priority && score(cands[n]) <= score(cands[0])*tieTolerance {
		n++
	}
	return n
}

// unavailable builds the 57P03 error a client gets when no backend can
// take its session: every circuit's state in DETAIL and when to retry.
func (s *Server) unavailable(now time.Time, readOnly bool) *Error {
	detail, retry := s.circuitStates(now, readOnly, nil)
	hint := "Retry shortly; HeliosProxy routes new sessions as soon as a backend recovers."
	if retry > 0 {
		hint = fmt.Sprintf("Retry in %s or later; HeliosProxy probes the failed backends and routes new sessions as soon as one recovers.", max(retry.Round(time.Second), time.Second))
	}
	return &Error{Code: codeCannotConnectNow, Message: "no healthy backend available", Detail: detail, Hint: hint}
}

// circuitStates describes for a client the backends not named in skip:
// each one's circuit state and why it cannot take the session. retry is
// the soonest an open circuit among them is probed again, 0 for none.
func (s *Server) circuitStates(now time.Time, readOnly bool, skip []string) (_ string, retry time.Duration) {
	var detail strings.Builder
	for _, b := range s.list() {
		if slices.Contains(skip, b.cfg.Name) {
			continue
		}
		st := b.br.Stats(now)
		if detail.Len() > 0 {
			detail.WriteString("; ")
		}
		fmt.Fprintf(&detail, "%s: %s", b.cfg.Name, st.State)
		switch {
		case b.draining.Load():
			detail.WriteString(" (draining)")
		case b.conf().ReadOnly() && !readOnly:
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

// refusals collects why the backends tried for one session refused it
// before it started, for what the client is told when none is left.
type refusals struct {
	tried  int
	full   []string // backends that answered 53300 or 53400: at their connection limit
	notNow []string // backends that answered 57P03: starting up or shutting down
	tls    []string // backends whose TLS failed, each with why
}

// note records that b failed the session with err.
func (r *refusals) note(b *backend, err error) {
	r.tried++
	var be *wire.BackendError
	if te := (*dial.Error)(nil); errors.As(err, &te) {
		r.tls = append(r.tls, b.cfg.Name+" ("+te.Reason()+")")
	}
	if !errors.As(err, &be) {
		return
	}
	switch be.Code {
	case codeTooManyConns, codeConfigLimit:
		r.full = append(r.full, b.cfg.Name)
	case codeCannotConnectNow:
		r.notNow = append(r.notNow, b.cfg.Name)
	}
}

// noBackend is what a client is told when route has no backend left to
// try for it (err): when every backend tried refused the session itself
// for being full or not accepting connections, that, as PostgreSQL says
// it; else route's err, the circuits' states. A backend that is merely
// full is healthy: blaming circuits that are CLOSED would send an
// operator looking for an outage that is not there.
func (s *Server) noBackend(err error, readOnly bool, r *refusals) error {
	if r.tried == 0 || len(r.full)+len(r.notNow) < r.tried {
		return r.withTLS(err)
	}
	var detail strings.Builder
	if n := len(r.full); n > 0 {
		fmt.Fprintf(&detail, "%s %s %s at %s connection limit.", plural(n, "Backend", "Backends"), strings.Join(r.full, ", "), plural(n, "is", "are"), plural(n, "its", "their"))
	}
	if n := len(r.notNow); n > 0 {
		if detail.Len() > 0 {
			detail.WriteString(" ")
		}
		fmt.Fprintf(&detail, "%s %s %s not accepting connections (starting up or shutting down).", plural(n, "Backend", "Backends"), strings.Join(r.notNow, ", "), plural(n, "is", "are"))
	}
	if others, _ := s.circuitStates(s.clock.Now(), readOnly, slices.Concat(r.full, r.notNow)); others != "" {
		fmt.Fprintf(&detail, " Not tried: %s.", others)
	}
	if len(r.full) == 0 {
		return &Error{Code: codeCannotConnectNow, Message: "the database system is not accepting connections", Detail: detail.String(),
			Hint: "Retry shortly; HeliosProxy routes new sessions as soon as a backend accepts them.", Err: err}
	}
	return &Error{Code: codeTooManyConns, Message: "sorry, too many clients already", Detail: detail.String(),
		Hint: "Retry shortly; the backends take new sessions as theirs end. If this persists, raise max_connections on the backends or pool the clients through HeliosProxy ([[users]]).",
		Err:  err}
}

// withTLS adds the backends whose TLS failed to the DETAIL of err (route's
// 57P03): without it, a backend whose certificate fails verification
// would look healthy to the client.
func (r *refusals) withTLS(err error) error {
	var pe *Error
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
