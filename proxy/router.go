package proxy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
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
	var detail strings.Builder
	retry := time.Duration(0)
	for i, b := range s.list() {
		st := b.br.Stats(now)
		if i > 0 {
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
	hint := "Retry shortly; HeliosProxy routes new sessions as soon as a backend recovers."
	if retry > 0 {
		hint = fmt.Sprintf("Retry in %s or later; HeliosProxy probes the failed backends and routes new sessions as soon as one recovers.", max(retry.Round(time.Second), time.Second))
	}
	return &Error{Code: codeCannotConnectNow, Message: "no healthy backend available", Detail: detail.String(), Hint: hint}
}
