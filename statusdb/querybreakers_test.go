package statusdb

import (
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// TestQueryBreakers: helios_proxy.query_breakers answers the snapshot's
// tracked patterns, and no rows without any.
func TestQueryBreakers(t *testing.T) {
	in := testInput()
	in.Snapshot.QueryBreakers = nil
	db := New()
	if _, rows := run(t, db, in, "SELECT count(*) FROM helios_proxy.query_breakers"); rows[0][0] != "0" {
		t.Errorf("count without patterns = %s, want 0", rows[0][0])
	}
	in.Snapshot.QueryBreakers = []status.QueryBreaker{
		{Pattern: "fc927418524c82ea", Fingerprint: "07681e575f3d174e", Query: "SELECT pg_sleep($1)", CircuitState: status.Open,
			StateSince: t0, OpenReason: "latency_p95", OpenDetail: "p95 > 1s: 3 of 3 requests slower (100.0% > 5%)", RetryAt: t0.Add(30 * time.Second),
			WindowExecutions: 3, LatencyP95Ms: 1638.4, ExecutionsTotal: 4, SlowTotal: 4, RejectedTotal: 12, TransitionsTotal: 1, FirstSeen: t0.Add(-2 * time.Second), LastSeen: t0},
		{Pattern: "0000000000000001", Query: "SELECT crash()", CircuitState: status.Closed, StateSince: t0, WindowExecutions: 40, ErrorRate: 0.025,
			ExecutionsTotal: 40, FailuresTotal: 1, FirstSeen: t0, LastSeen: t0},
	}
	_, rows := run(t, db, in, "SELECT pattern, fingerprint, query, circuit_state, open_reason, retry_at, rejected_total FROM helios_proxy.query_breakers WHERE circuit_state <> 'CLOSED' OR failures_total > 0 ORDER BY pattern")
	var got []string
	for _, r := range rows {
		got = append(got, strings.Join(r, "|"))
	}
	want := "0000000000000001|NULL|SELECT crash()|CLOSED|NULL|NULL|0\nfc927418524c82ea|07681e575f3d174e|SELECT pg_sleep($1)|OPEN|latency_p95|2026-11-22 10:00:30.123456+00|12"
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("query_breakers =\n%s\nwant\n%s", g, want)
	}
}
