package api

import (
	"encoding/json"
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
