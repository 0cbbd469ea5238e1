package metrics

import (
	"fmt"
	"testing"

	"github.com/heliosdb/heliosproxy/status"
)

// TestUserMetricsBounded: with more roles than TopUsers, only TopUsers
// have series, the isolated one and the most throttled among them; the
// totals cover every role. Admission limits are per backend.
func TestUserMetricsBounded(t *testing.T) {
	snap := threeBackends()
	snap.Backends[0].AdmissionLimit, snap.Backends[0].ShedTotal = 12, 5
	for i := range 30 {
		snap.Users = append(snap.Users, status.UserBreaker{Role: fmt.Sprintf("r%02d", i), Database: "db",
			State: status.Closed, RequestsTotal: uint64(100 + i), ThrottledTotal: uint64(i % 3)})
	}
	snap.Users[0].State, snap.Users[0].IsolatedTotal = status.Open, 0
	m := New(&source{snap: snap}, Options{})
	states := gather(t, m, "helios_user_breaker_state")
	if len(states) != TopUsers {
		t.Fatalf("helios_user_breaker_state has %d series, want %d", len(states), TopUsers)
	}
	if v, ok := states[`database="db",role="r00"`]; !ok || v != 1 {
		t.Errorf("the isolated role r00 = %v, %v, want a series of value 1", v, ok)
	}
	if _, ok := states[`database="db",role="r27"`]; ok {
		t.Errorf("r27 (never throttled) has a series among the top %d", TopUsers)
	}
	var want float64
	for _, u := range snap.Users {
		want += float64(u.ThrottledTotal)
	}
	if got := gather(t, m, "helios_users_throttled_total")[""]; got != want {
		t.Errorf("helios_users_throttled_total = %v, want %v", got, want)
	}
	if got := gather(t, m, "helios_users_isolated")[""]; got != 1 {
		t.Errorf("helios_users_isolated = %v, want 1", got)
	}
	if got := gather(t, m, "helios_backend_admission_limit")[`backend="primary"`]; got != 12 {
		t.Errorf("helios_backend_admission_limit{primary} = %v, want 12", got)
	}
	if got := gather(t, m, "helios_backend_shed_total")[`backend="primary"`]; got != 5 {
		t.Errorf("helios_backend_shed_total{primary} = %v, want 5", got)
	}
}
