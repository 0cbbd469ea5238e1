package statusdb

import (
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// TestClusterMembers: helios_proxy.cluster_members answers the snapshot's
// members, and no rows without a cluster.
func TestClusterMembers(t *testing.T) {
	in := testInput()
	db := New()
	if _, rows := run(t, db, in, "SELECT count(*) FROM helios_proxy.cluster_members"); rows[0][0] != "0" {
		t.Errorf("count without a cluster = %s, want 0", rows[0][0])
	}
	in.Snapshot.Members = []status.Member{
		{Node: "node-a", Address: "127.0.0.1:7946", State: status.MemberAlive, LastContact: t0, Version: "v1", ConfigHash: "abc", Self: true},
		{Node: "node-b", Address: "127.0.0.2:7946", State: status.MemberSuspect, LastContact: t0.Add(-3 * time.Second), Version: "v1", ConfigHash: "abc"},
		{Node: "node-c", Address: "127.0.0.3:7946", State: status.MemberDead, Version: "v0", ConfigHash: "xyz"},
	}
	_, rows := run(t, db, in, "SELECT node, state, last_contact, config_hash, is_self FROM helios_proxy.cluster_members WHERE state <> 'alive' OR is_self ORDER BY node")
	var got []string
	for _, r := range rows {
		got = append(got, strings.Join(r, "|"))
	}
	want := "node-a|alive|2026-11-22 10:00:00.123456+00|abc|t\nnode-b|suspect|2026-11-22 09:59:57.123456+00|abc|f\nnode-c|dead|NULL|xyz|f"
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("cluster_members =\n%s\nwant\n%s", g, want)
	}
}

// TestClusterCircuits: helios_proxy.cluster_circuits answers the
// snapshot's circuit views (NULL reason and role where there are none,
// is_self from the members), and no rows without a cluster.
func TestClusterCircuits(t *testing.T) {
	in := testInput()
	db := New()
	if _, rows := run(t, db, in, "SELECT count(*) FROM helios_proxy.cluster_circuits"); rows[0][0] != "0" {
		t.Errorf("count without a cluster = %s, want 0", rows[0][0])
	}
	in.Snapshot.Members = []status.Member{{Node: "node-a", State: status.MemberAlive, Self: true}, {Node: "node-b", State: status.MemberAlive}}
	in.Snapshot.Circuits = []status.CircuitView{
		{Node: "node-a", Backend: "pg-1", State: status.Open, Reason: "peer_hard_failure", Detail: "cluster member node-b: connect failed", Since: t0, Role: "follower", Received: t0},
		{Node: "node-b", Backend: "pg-1", State: status.Open, Reason: "hard_failure", Since: t0, Failing: true, Role: "prober", Received: t0},
		{Node: "node-b", Backend: "pg-2", State: status.Closed, Since: t0, Received: t0},
	}
	_, rows := run(t, db, in, "SELECT node, backend_name, circuit_state, reason, failing, recovery_role, is_self FROM helios_proxy.cluster_circuits ORDER BY node, backend_name")
	var got []string
	for _, r := range rows {
		got = append(got, strings.Join(r, "|"))
	}
	want := "node-a|pg-1|OPEN|peer_hard_failure|f|follower|t\nnode-b|pg-1|OPEN|hard_failure|t|prober|f\nnode-b|pg-2|CLOSED|NULL|f|NULL|f"
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("cluster_circuits =\n%s\nwant\n%s", g, want)
	}
	// Where the instances disagree: the query a dashboard would run.
	_, rows = run(t, db, in, "SELECT backend_name, count(DISTINCT circuit_state) FROM helios_proxy.cluster_circuits GROUP BY backend_name HAVING count(DISTINCT circuit_state) > 1")
	if len(rows) != 0 {
		t.Errorf("disagreements = %v, want none (pg-1 OPEN on both)", rows)
	}
}

// TestUserBreakers: helios_proxy.user_breakers answers the snapshot's
// roles, and no rows when user-level breakers are off.
func TestUserBreakers(t *testing.T) {
	in := testInput()
	db := New()
	if _, rows := run(t, db, in, "SELECT count(*) FROM helios_proxy.user_breakers"); rows[0][0] != "0" {
		t.Errorf("count without roles = %s, want 0", rows[0][0])
	}
	in.Snapshot.Users = []status.UserBreaker{
		{Role: "app", Database: "shop", State: status.Closed, RateLimit: 1000, RequestsTotal: 500},
		{Role: "batch", Database: "shop", State: status.Open, StateSince: t0, OpenReason: "error_rate", ThrottledTotal: 7, FailuresTotal: 30, Exempt: false},
	}
	_, rows := run(t, db, in, "SELECT role, state, state_since, open_reason, throttled_total, rate_limit FROM helios_proxy.user_breakers WHERE state <> 'CLOSED' OR requests_total > 100 ORDER BY role")
	var got []string
	for _, r := range rows {
		got = append(got, strings.Join(r, "|"))
	}
	want := "app|CLOSED|NULL|NULL|0|1000\nbatch|OPEN|2026-11-22 10:00:00.123456+00|error_rate|7|0"
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("user_breakers =\n%s\nwant\n%s", g, want)
	}
}
