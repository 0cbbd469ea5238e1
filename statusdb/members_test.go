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
