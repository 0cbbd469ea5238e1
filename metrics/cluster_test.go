package metrics

import (
	"testing"

	"github.com/heliosdb/heliosproxy/status"
)

// TestClusterMembers: helios_cluster_members{state} counts the members by
// state, every state present (0 when none), and is absent without a
// cluster.
func TestClusterMembers(t *testing.T) {
	src := &source{snap: threeBackends()}
	m := New(src, Options{})
	if got := gather(t, m, "helios_cluster_members"); len(got) != 0 {
		t.Errorf("helios_cluster_members without a cluster = %v, want absent", got)
	}
	snap := threeBackends()
	snap.Members = []status.Member{
		{Node: "a", State: status.MemberAlive, Self: true}, {Node: "b", State: status.MemberAlive}, {Node: "c", State: status.MemberSuspect},
	}
	src.set(snap)
	want := map[string]float64{`state="alive"`: 2, `state="suspect"`: 1, `state="dead"`: 0, `state="left"`: 0}
	if got := gather(t, m, "helios_cluster_members"); !mapsEqual(got, want) {
		t.Errorf("helios_cluster_members = %v, want %v", got, want)
	}
}
