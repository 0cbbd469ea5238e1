package alerts

import (
	"slices"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// TestRolePolicy: a fenced second primary pages until it is no longer
// fenced; a failover's role changes and a contradicted configured role
// are chat messages; lag alerts nobody.
func TestRolePolicy(t *testing.T) {
	ev := func(typ status.EventType, b, reason string) status.Event {
		return status.Event{Type: typ, Backend: b, Reason: reason, Detail: "detail"}
	}
	got := runPolicy(Config{}, []step{
		{0, ev(status.BackendRoleChanged, "b", "primary")},
		{0, ev(status.BackendFenced, "a", "fenced")},
		{time.Second, ev(status.ReplicaLagging, "c", "replication_lag")},
		{2 * time.Second, ev(status.ReplicaCaughtUp, "c", "replication_lag")},
		{time.Minute, ev(status.BackendRoleChanged, "a", "replica")},
		{time.Minute, ev(status.BackendUnfenced, "a", "unfenced")},
		{2 * time.Minute, ev(status.BackendRoleMismatch, "d", "replica")},
	}, 3*time.Minute, false)
	want := []string{
		"+0s role_changed info-only warning backend=b",
		"+0s fenced trigger a/fenced critical backend=a",
		"+1m0s role_changed info-only warning backend=a",
		"+1m0s unfenced resolve a/fenced info backend=a",
		"+2m0s role_mismatch info-only error backend=d",
	}
	if !slices.Equal(got, want) {
		t.Errorf("alerts:\n%q\nwant\n%q", got, want)
	}
}
