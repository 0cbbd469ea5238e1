package api

import (
	"net/http"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// queryBreakersJSON is GET /circuit-breaker/query-breakers.
type queryBreakersJSON struct {
	Patterns  []queryBreakerJSON `json:"patterns"`
	Timestamp time.Time          `json:"timestamp"`
}

// queryBreakerJSON is one row of helios_proxy.query_breakers.
type queryBreakerJSON struct {
	Pattern          string     `json:"pattern"`
	Fingerprint      *string    `json:"fingerprint"`
	Query            *string    `json:"query"`
	CircuitState     string     `json:"circuit_state"`
	StateSince       *time.Time `json:"state_since"`
	OpenReason       *string    `json:"open_reason"`
	OpenDetail       *string    `json:"open_detail"`
	RetryAt          *time.Time `json:"retry_at"`
	Executions       int        `json:"executions"`
	LatencyP50Ms     float64    `json:"latency_p50_ms"`
	LatencyP95Ms     float64    `json:"latency_p95_ms"`
	LatencyP99Ms     float64    `json:"latency_p99_ms"`
	ErrorRate        float64    `json:"error_rate"`
	ExecutionsTotal  uint64     `json:"executions_total"`
	SlowTotal        uint64     `json:"slow_total"`
	FailuresTotal    uint64     `json:"failures_total"`
	RejectedTotal    uint64     `json:"rejected_total"`
	TransitionsTotal uint64     `json:"transitions_total"`
	FirstSeen        *time.Time `json:"first_seen"`
	LastSeen         *time.Time `json:"last_seen"`
}

// taken is when snap was taken, in UTC (now if it does not say).
func (s *server) taken(snap status.Snapshot) time.Time {
	if snap.Taken.IsZero() {
		return s.now().UTC()
	}
	return snap.Taken.UTC()
}

func (s *server) queryBreakers(w http.ResponseWriter, r *http.Request) {
	snap := s.c.Snapshot()
	out := queryBreakersJSON{Patterns: make([]queryBreakerJSON, 0, len(snap.QueryBreakers)), Timestamp: s.taken(snap)}
	text := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		t = t.UTC()
		return &t
	}
	for _, q := range snap.QueryBreakers {
		out.Patterns = append(out.Patterns, queryBreakerJSON{
			Pattern: q.Pattern, Fingerprint: text(q.Fingerprint), Query: text(q.Query), CircuitState: q.CircuitState.String(),
			StateSince: at(q.StateSince), OpenReason: text(q.OpenReason), OpenDetail: text(q.OpenDetail), RetryAt: at(q.RetryAt),
			Executions: q.WindowExecutions, LatencyP50Ms: q.LatencyP50Ms, LatencyP95Ms: q.LatencyP95Ms, LatencyP99Ms: q.LatencyP99Ms,
			ErrorRate: q.ErrorRate, ExecutionsTotal: q.ExecutionsTotal, SlowTotal: q.SlowTotal, FailuresTotal: q.FailuresTotal,
			RejectedTotal: q.RejectedTotal, TransitionsTotal: q.TransitionsTotal, FirstSeen: at(q.FirstSeen), LastSeen: at(q.LastSeen),
		})
	}
	s.writeJSON(w, r, http.StatusOK, out)
}
