package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// TestClusterMembers: GET /cluster/members lists the members as the
// snapshot has them (checked against openapi.yaml by the harness), and
// none without a cluster.
func TestClusterMembers(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken})
	var got struct {
		Members []map[string]any `json:"members"`
	}
	resp, b := h.do(req{method: "GET", path: "/cluster/members"})
	if err := json.Unmarshal(b, &got); resp.StatusCode != 200 || err != nil || got.Members == nil || len(got.Members) != 0 {
		t.Fatalf("GET /cluster/members without a cluster = %d %s, want 200 and an empty list", resp.StatusCode, b)
	}
	contact := time.Date(2025, 3, 14, 15, 9, 20, 0, time.UTC)
	f.set(func(f *fakeProxy) {
		f.snap.Members = []status.Member{
			{Node: "node-a", Address: "10.0.0.1:7946", State: status.MemberAlive, LastContact: contact, Version: "v1", ConfigHash: "abc", Self: true},
			{Node: "node-b", Address: "10.0.0.2:7946", State: status.MemberSuspect, Version: "v1", ConfigHash: "abd"},
		}
	})
	resp, b = h.do(req{method: "GET", path: "/cluster/members"})
	if err := json.Unmarshal(b, &got); resp.StatusCode != 200 || err != nil || len(got.Members) != 2 {
		t.Fatalf("GET /cluster/members = %d %s, want two members", resp.StatusCode, b)
	}
	a, m := got.Members[0], got.Members[1]
	if a["node"] != "node-a" || a["is_self"] != true || a["last_contact"] != "2025-03-14T15:09:20Z" || a["state"] != "alive" {
		t.Errorf("members[0] = %v", a)
	}
	if m["state"] != "suspect" || m["last_contact"] != nil || m["config_hash"] != "abd" {
		t.Errorf("members[1] = %v; want suspect, last_contact null, config_hash abd", m)
	}
}

// TestQueryBreakers: GET /circuit-breaker/query-breakers lists the tracked
// patterns as the snapshot has them (checked against openapi.yaml by the
// harness), and none when none is tracked.
func TestQueryBreakers(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken})
	var got struct {
		Patterns []map[string]any `json:"patterns"`
	}
	resp, b := h.do(req{method: "GET", path: "/circuit-breaker/query-breakers"})
	if err := json.Unmarshal(b, &got); resp.StatusCode != 200 || err != nil || got.Patterns == nil || len(got.Patterns) != 0 {
		t.Fatalf("GET /circuit-breaker/query-breakers without patterns = %d %s, want 200 and an empty list", resp.StatusCode, b)
	}
	since := time.Date(2025, 3, 14, 15, 9, 20, 0, time.UTC)
	f.set(func(f *fakeProxy) {
		f.snap.QueryBreakers = []status.QueryBreaker{
			{Pattern: "fc927418524c82ea", Fingerprint: "07681e575f3d174e", Query: "SELECT pg_sleep($1)", CircuitState: status.Open,
				StateSince: since, OpenReason: "latency_p95", OpenDetail: "p95 > 1s", RetryAt: since.Add(30 * time.Second),
				WindowExecutions: 3, LatencyP95Ms: 1638.4, ExecutionsTotal: 4, SlowTotal: 4, RejectedTotal: 7, TransitionsTotal: 1, FirstSeen: since, LastSeen: since},
			{Pattern: "0000000000000001", CircuitState: status.Closed, StateSince: since, FirstSeen: since, LastSeen: since},
		}
	})
	resp, b = h.do(req{method: "GET", path: "/circuit-breaker/query-breakers"})
	if err := json.Unmarshal(b, &got); resp.StatusCode != 200 || err != nil || len(got.Patterns) != 2 {
		t.Fatalf("GET /circuit-breaker/query-breakers = %d %s, want two patterns", resp.StatusCode, b)
	}
	o, c := got.Patterns[0], got.Patterns[1]
	if o["circuit_state"] != "OPEN" || o["query"] != "SELECT pg_sleep($1)" || o["retry_at"] != "2025-03-14T15:09:50Z" || o["rejected_total"] != 7.0 {
		t.Errorf("patterns[0] = %v", o)
	}
	if c["circuit_state"] != "CLOSED" || c["query"] != nil || c["retry_at"] != nil || c["open_reason"] != nil {
		t.Errorf("patterns[1] = %v; want CLOSED with query, retry_at and open_reason null", c)
	}
}

// TestClusterStatus: GET /cluster/status shows every member's circuits,
// the backends where they disagree and the members configured
// differently (checked against openapi.yaml by the harness); empty lists
// without a cluster.
func TestClusterStatus(t *testing.T) {
	f := newFakeProxy()
	h := newHarness(t, f, Options{AdminToken: testToken})
	var got struct {
		Members       []map[string]any    `json:"members"`
		Circuits      []map[string]any    `json:"circuits"`
		Disagreements []map[string]any    `json:"disagreements"`
		ConfigHashes  map[string][]string `json:"config_hashes"`
		Warnings      []string            `json:"warnings"`
	}
	resp, b := h.do(req{method: "GET", path: "/cluster/status"})
	if err := json.Unmarshal(b, &got); resp.StatusCode != 200 || err != nil || got.Circuits == nil || len(got.Circuits) != 0 || len(got.Warnings) != 0 {
		t.Fatalf("GET /cluster/status without a cluster = %d %s, want 200 and empty lists", resp.StatusCode, b)
	}
	at := time.Date(2025, 3, 14, 15, 9, 20, 0, time.UTC)
	f.set(func(f *fakeProxy) {
		f.snap.Members = []status.Member{
			{Node: "node-a", State: status.MemberAlive, ConfigHash: "abc", Self: true},
			{Node: "node-b", State: status.MemberAlive, ConfigHash: "abc"},
			{Node: "node-c", State: status.MemberAlive, ConfigHash: "xyz"},
		}
		f.snap.Circuits = []status.CircuitView{
			{Node: "node-a", Backend: "pg-1", State: status.Closed, Since: at, Received: at},
			{Node: "node-b", Backend: "pg-1", State: status.Open, Reason: "hard_failure", Detail: "connect failed", Since: at, Failing: true, Role: "prober", Received: at},
			{Node: "node-c", Backend: "pg-2", State: status.Closed, Since: at, Received: at},
		}
	})
	resp, b = h.do(req{method: "GET", path: "/cluster/status"})
	if err := json.Unmarshal(b, &got); resp.StatusCode != 200 || err != nil || len(got.Circuits) != 3 {
		t.Fatalf("GET /cluster/status = %d %s, want three circuits", resp.StatusCode, b)
	}
	if c := got.Circuits[1]; c["node"] != "node-b" || c["reason"] != "hard_failure" || c["recovery_role"] != "prober" || c["failing"] != true || c["is_self"] != false {
		t.Errorf("circuits[1] = %v", c)
	}
	if c := got.Circuits[0]; c["reason"] != nil || c["recovery_role"] != nil || c["is_self"] != true {
		t.Errorf("circuits[0] = %v; want null reason and role, is_self", c)
	}
	if len(got.Disagreements) != 1 || got.Disagreements[0]["backend_name"] != "pg-1" {
		t.Errorf("disagreements = %v, want pg-1 (CLOSED on node-a, OPEN on node-b)", got.Disagreements)
	}
	if len(got.ConfigHashes) != 2 || len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "node-c") {
		t.Errorf("config_hashes %v, warnings %v; want two hashes and a warning about node-c", got.ConfigHashes, got.Warnings)
	}
}
