package proxy

import (
	"fmt"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/events"
	"github.com/heliosdb/heliosproxy/proxy/pattern"
	"github.com/heliosdb/heliosproxy/status"
)

// patternsConfig maps the file's [circuit_breaker] onto the query-level
// breakers. Their scope is global: one breaker per pattern, whatever
// backend ran it (docs/design-notes.md, Query-level breakers).
func patternsConfig(c config.Config) pattern.Config {
	cb := c.CircuitBreaker
	slow := time.Duration(cb.SlowQueryThresholdMs) * time.Millisecond
	bc := backend.BreakerConfig(c, config.Backend{})
	return pattern.Config{
		Enabled: cb.QueryLevelBreakersEnabled,
		Exact:   !cb.QueryPatternDetection,
		Slow:    slow,
		Breaker: pattern.BreakerConfig(bc, slow, cb.RecoveryProbeTimeout.Duration),
	}
}

// tickPatterns ticks the query-level breakers with the executions that
// have run longer than slow_query_threshold_ms on any backend (over is
// the tick's map, cleared here).
func (s *Server) tickPatterns(now time.Time, over map[pattern.Key]int) {
	clear(over)
	if slow := s.patterns.Slow(); s.patterns.Enabled() && slow > 0 {
		for _, b := range s.list() {
			b.PatternsRunning(now, slow, over)
		}
	}
	s.patterns.Tick(now, over)
}

// publishPattern turns a pattern breaker's transition into an event.
func (s *Server) publishPattern(p *pattern.Pattern, tr breaker.Transition) {
	ev := events.Of(tr)
	ev.Pattern, ev.Query = patternID(p.Key), p.Text()
	// Surfaces that show no Pattern column (circuit_events, the
	// dashboard's timeline) read it in the detail.
	ev.Detail = fmt.Sprintf("query pattern %s (%q): %s", ev.Pattern, ev.Query, tr.Detail)
	switch tr.To {
	case breaker.Open:
		ev.Type = status.QueryBreakerOpened
	case breaker.HalfOpen:
		ev.Type = status.QueryBreakerHalfOpened
	default:
		ev.Type = status.QueryBreakerClosed
	}
	if s.config().Observability.LogCircuitStateChanges {
		attrs := []any{"event", string(ev.Type), "pattern", ev.Pattern, "query", ev.Query, "from", ev.From, "to", ev.To,
			"reason", ev.Reason, "detail", ev.Detail}
		if tr.To == breaker.Open {
			s.log.Warn("query pattern breaker state changed", attrs...)
		} else {
			s.log.Info("query pattern breaker state changed", attrs...)
		}
	}
	s.events.Publish(ev)
}

// patternID is how the surfaces name a pattern: its key in hex.
func patternID(k pattern.Key) string { return fmt.Sprintf("%016x", uint64(k)) }

// queryBreakers returns the tracked patterns for a snapshot.
func (s *Server) queryBreakers(now time.Time) []status.QueryBreaker {
	if s.patterns.Len() == 0 {
		return nil
	}
	stats := s.patterns.Stats(now)
	out := make([]status.QueryBreaker, len(stats))
	for i, p := range stats {
		q := status.QueryBreaker{
			Pattern:          patternID(p.Key),
			Fingerprint:      p.Fingerprint,
			Query:            p.Text,
			CircuitState:     status.StateOf(p.State),
			StateSince:       p.Since,
			RetryAt:          p.ReopenAt,
			WindowExecutions: p.Requests,
			LatencyP50Ms:     ms(p.P50),
			LatencyP95Ms:     ms(p.P95),
			LatencyP99Ms:     ms(p.P99),
			ErrorRate:        p.ErrorRate,
			ExecutionsTotal:  p.Executions,
			SlowTotal:        p.Slow,
			FailuresTotal:    p.Failures,
			RejectedTotal:    p.Refused,
			TransitionsTotal: p.TransitionsTotal,
			FirstSeen:        p.FirstSeen,
			LastSeen:         p.LastSeen,
		}
		if p.State != breaker.Closed {
			q.OpenReason, q.OpenDetail = p.Reason.String(), p.Detail
		}
		out[i] = q
	}
	return out
}
