package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

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

// TestClusterPropagation: helios_cluster_propagation_seconds is the
// snapshot's histogram, absent without a cluster.
func TestClusterPropagation(t *testing.T) {
	src := &source{snap: threeBackends()}
	m := New(src, Options{})
	if got := gather(t, m, "helios_cluster_propagation_seconds_count"); len(got) != 0 {
		t.Errorf("propagation without a cluster = %v, want absent", got)
	}
	snap := threeBackends()
	snap.Propagation = &status.Histogram{Bounds: []float64{0.001, 0.01}, Counts: []uint64{3, 5}, Count: 6, Sum: 0.5}
	src.set(snap)
	const want = `
# HELP helios_cluster_propagation_seconds How long other cluster members' circuit changes (openings and circuit views) took to reach this instance, from the change on the sender to its arrival here (their clocks against ours); absent without [cluster].
# TYPE helios_cluster_propagation_seconds histogram
helios_cluster_propagation_seconds_bucket{le="0.001"} 3
helios_cluster_propagation_seconds_bucket{le="0.01"} 5
helios_cluster_propagation_seconds_bucket{le="+Inf"} 6
helios_cluster_propagation_seconds_sum 0.5
helios_cluster_propagation_seconds_count 6
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), "helios_cluster_propagation_seconds"); err != nil {
		t.Error(err)
	}
}
