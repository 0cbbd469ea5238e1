package backend

import (
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/admission"
	"github.com/heliosdb/heliosproxy/proxy/health"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testBackends makes backends named after roles ("auto", "primary",
// "replica" set role; any other name is auto), with their breakers.
func testBackends(names ...string) []*Backend {
	g := breaker.NewGroup(breaker.GroupConfig{MaxEjectionPercent: 50})
	hooks := &Hooks{Publish: func(*Backend, breaker.Transition) {}}
	var list []*Backend
	for i, n := range names {
		cfg := config.Backend{Name: n, Host: "db", Port: 5432 + i, Weight: 1}
		if r, _, _ := strings.Cut(n, "-"); r == config.RolePrimary || r == config.RoleReplica {
			cfg.Role = r
		}
		list = append(list, New(cfg, g.Add(n, breaker.Config{Window: 10 * time.Second, Bucket: time.Second, MinimumRequests: 20,
			ConnectionFailureThreshold: 3, OpenDuration: time.Second, MaxOpenDuration: time.Second, HalfOpenMaxConcurrent: 1,
			HalfOpenProbes: 1, HalfOpenSuccessPercent: 100, HalfOpenProbeInterval: time.Second}), admission.Config{}, hooks))
	}
	return list
}

const sysID = 7000

func primaryObs(at time.Duration, timeline int64, wal uint64) health.Observation {
	return health.Observation{At: t0.Add(at), RoleKnown: true, SystemID: sysID, Timeline: timeline, WAL: wal, ReplayAge: -1}
}

func replicaObs(at time.Duration, timeline int64, received, replayed uint64) health.Observation {
	return health.Observation{At: t0.Add(at), RoleKnown: true, InRecovery: true, SystemID: sysID, Timeline: timeline,
		WAL: received, Replayed: replayed, ReplayAge: -1}
}

// step is one observation of the backend at index b.
type step struct {
	b int
	o health.Observation
}

func TestTopology(t *testing.T) {
	noLimit := func(*Backend) time.Duration { return 0 }
	limit := func(*Backend) time.Duration { return time.Second }
	tests := []struct {
		name     string
		backends []string
		steps    []step
		maxLag   func(*Backend) time.Duration
		want     []string // each backend: "role verdict" after the steps
		changes  []ChangeKind
	}{
		{"never observed: role unknown, read-write", []string{"a", "b"}, nil, noLimit,
			[]string{"unknown read-write", "unknown read-write"}, nil},
		{"primary and replica", []string{"a", "b"},
			[]step{{0, primaryObs(0, 1, 100)}, {1, replicaObs(0, 1, 100, 100)}}, noLimit,
			[]string{"primary read-write", "replica read-only"}, nil},
		{"promotion: the higher timeline wins, the old primary is fenced", []string{"a", "b"},
			[]step{{0, primaryObs(0, 1, 100)}, {1, replicaObs(0, 1, 100, 100)}, {1, primaryObs(time.Second, 2, 120)}}, noLimit,
			[]string{"primary fenced", "primary read-write"}, []ChangeKind{Fence, RoleChanged}},
		{"old primary returns after the promotion: still fenced", []string{"a", "b"},
			[]step{{0, primaryObs(0, 1, 100)}, {1, replicaObs(0, 1, 100, 100)}, {1, primaryObs(time.Second, 2, 120)}, {0, primaryObs(5*time.Second, 1, 100)}}, noLimit,
			[]string{"primary fenced", "primary read-write"}, []ChangeKind{Fence, RoleChanged}},
		{"two primaries on one timeline: the incumbent keeps it", []string{"a", "b"},
			[]step{{0, primaryObs(0, 2, 100)}, {1, primaryObs(time.Second, 2, 100)}, {0, primaryObs(2*time.Second, 2, 110)}}, noLimit,
			[]string{"primary read-write", "primary fenced"}, []ChangeKind{Fence}},
		{"old primary rebuilt as a replica: unfenced", []string{"a", "b"},
			[]step{{0, primaryObs(0, 1, 100)}, {1, primaryObs(time.Second, 2, 120)}, {0, replicaObs(2*time.Second, 2, 120, 120)}}, noLimit,
			[]string{"replica read-only", "primary read-write"}, []ChangeKind{Fence, RoleChanged, Unfence}},
		{"independent servers are each their own primary", []string{"a", "b"},
			[]step{{0, primaryObs(0, 1, 100)}, {1, func() health.Observation { o := primaryObs(0, 3, 100); o.SystemID = 8000; return o }()}}, noLimit,
			[]string{"primary read-write", "primary read-write"}, nil},
		{"asserted replica observed primary: routed as a replica, reported", []string{"replica-x"},
			[]step{{0, primaryObs(0, 1, 100)}}, noLimit,
			[]string{"replica read-only"}, []ChangeKind{RoleMismatch}},
		{"asserted primary is never fenced", []string{"primary-x", "b"},
			[]step{{0, primaryObs(0, 1, 100)}, {1, primaryObs(0, 2, 100)}}, noLimit,
			[]string{"primary read-write", "primary fenced"}, []ChangeKind{Fence}},
		{"lag beyond the limit: lagging", []string{"a", "b"},
			[]step{{0, primaryObs(0, 1, 100)}, {0, primaryObs(time.Second, 1, 200)}, {0, primaryObs(3*time.Second, 1, 300)}, {1, replicaObs(3*time.Second, 1, 300, 100)}}, limit,
			[]string{"primary read-write", "replica lagging"}, []ChangeKind{LagExceeded}},
		{"an idle primary: a caught-up replica has no lag however old its last transaction", []string{"a", "b"},
			[]step{{0, primaryObs(0, 1, 100)}, {0, primaryObs(time.Hour, 1, 100)}, {1, func() health.Observation {
				o := replicaObs(time.Hour, 1, 100, 100)
				o.ReplayAge = time.Hour
				return o
			}()}}, limit,
			[]string{"primary read-write", "replica read-only"}, nil},
		{"hysteresis: still lagging above half the limit", []string{"a", "b"},
			[]step{{0, primaryObs(0, 1, 100)}, {0, primaryObs(time.Second, 1, 200)}, {0, primaryObs(3*time.Second, 1, 300)}, {1, replicaObs(3*time.Second, 1, 300, 100)},
				{0, primaryObs(3300*time.Millisecond, 1, 400)}, {1, replicaObs(3900*time.Millisecond, 1, 400, 300)}}, limit,
			[]string{"primary read-write", "replica lagging"}, []ChangeKind{LagExceeded}},
		{"hysteresis: back within half the limit", []string{"a", "b"},
			[]step{{0, primaryObs(0, 1, 100)}, {0, primaryObs(time.Second, 1, 200)}, {0, primaryObs(3*time.Second, 1, 300)}, {1, replicaObs(3*time.Second, 1, 300, 100)},
				{0, primaryObs(3300*time.Millisecond, 1, 400)}, {1, replicaObs(3700*time.Millisecond, 1, 400, 300)}}, limit,
			[]string{"primary read-write", "replica read-only"}, []ChangeKind{LagExceeded, LagRecovered}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := testBackends(tt.backends...)
			top := NewTopology()
			var changes []ChangeKind
			for _, s := range tt.steps {
				for _, c := range top.Observe(list[s.b], s.o, list, tt.maxLag) {
					changes = append(changes, c.Kind)
				}
			}
			for i, b := range list {
				v := b.Roles()
				if got := v.Role.String() + " " + v.Verdict.String(); got != tt.want[i] {
					t.Errorf("%s = %s, want %s (%+v)", b.Config.Name, got, tt.want[i], v)
				}
				if (v.Verdict == Fenced) != (v.FencedReason != "") {
					t.Errorf("%s: verdict %s with fenced reason %q", b.Config.Name, v.Verdict, v.FencedReason)
				}
			}
			if len(changes) != len(tt.changes) {
				t.Fatalf("changes = %v, want %v", changes, tt.changes)
			}
			for i := range changes {
				if changes[i] != tt.changes[i] {
					t.Errorf("changes = %v, want %v", changes, tt.changes)
				}
			}
		})
	}
}

// TestLagMeasure checks a replica's lag against the primary's WAL
// history: in time, from when the primary first wrote beyond what the
// replica replayed; in bytes, from the primary's position then.
func TestLagMeasure(t *testing.T) {
	g := &group{}
	for _, s := range []struct {
		at  time.Duration
		lsn uint64
	}{{0, 100}, {time.Second, 100}, {2 * time.Second, 150}, {3 * time.Second, 150}, {4 * time.Second, 300}} {
		g.record(primaryObs(s.at, 1, s.lsn))
	}
	tests := []struct {
		at        time.Duration
		replayed  uint64
		replayAge time.Duration
		bytes     uint64
		lag       time.Duration
	}{
		{4 * time.Second, 300, 0, 0, 0},
		{4500 * time.Millisecond, 150, 0, 150, 500 * time.Millisecond},
		{4500 * time.Millisecond, 120, 0, 180, 2500 * time.Millisecond},
		{3500 * time.Millisecond, 120, 0, 30, 1500 * time.Millisecond},
		// Behind the history kept: at least its age, or the replica's own
		// last replayed commit's.
		{4 * time.Second, 50, 10 * time.Second, 250, 10 * time.Second},
		{4 * time.Second, 50, 0, 250, 4 * time.Second},
	}
	for _, tt := range tests {
		o := replicaObs(tt.at, 1, tt.replayed, tt.replayed)
		o.ReplayAge = tt.replayAge
		if bytes, lag := g.lag(o); bytes != tt.bytes || lag != tt.lag {
			t.Errorf("lag(replayed %d at t0+%s) = %d bytes, %s; want %d, %s", tt.replayed, tt.at, bytes, lag, tt.bytes, tt.lag)
		}
	}
}

// primaryAndReplica is a primary and its caught-up replica at WAL
// position 100, observed at t0.
func primaryAndReplica() ([]*Backend, *Topology, func(*Backend) time.Duration) {
	list := testBackends("p", "r")
	topo := NewTopology()
	noLimit := func(*Backend) time.Duration { return 0 }
	topo.Observe(list[0], primaryObs(0, 1, 100), list, noLimit)
	topo.Observe(list[1], replicaObs(0, 1, 100, 100), list, noLimit)
	return list, topo, noLimit
}

// TestWantsPrimary: urgent checks while a group that had a primary has
// none that can take sessions, and right after its primary failed (before
// its circuit opens).
func TestWantsPrimary(t *testing.T) {
	list, topo, _ := primaryAndReplica()
	now := t0.Add(time.Second)
	if topo.WantsPrimary(list, now, time.Second) {
		t.Fatal("urgent checks with a healthy primary")
	}
	list[0].Connected(list[0].Breaker.Current(), breaker.Failure, time.Millisecond, now)
	if !topo.WantsPrimary(list, now.Add(100*time.Millisecond), time.Second) {
		t.Error("no urgent checks right after the primary failed a connection")
	}
	if topo.WantsPrimary(list, now.Add(2*time.Second), time.Second) {
		t.Error("urgent checks still on long after a single failure of a primary whose circuit stayed CLOSED")
	}
	if st := list[0].Breaker.State(); st != breaker.Closed {
		t.Fatalf("one failure opened the circuit (%s): the test needs it CLOSED", st)
	}
	if !topo.WantsPrimary(list[1:], now.Add(2*time.Second), time.Second) {
		t.Error("no urgent checks when the primary left the serving backends")
	}
}

// TestReplayed: read-your-writes asks whether a replica replayed what the
// primary had written by a time.
func TestReplayed(t *testing.T) {
	list, topo, noLimit := primaryAndReplica()
	write := t0.Add(500 * time.Millisecond)
	if topo.Replayed(list[1], write) {
		t.Error("replayed a write the primary has not been checked since")
	}
	topo.Observe(list[0], primaryObs(time.Second, 1, 200), list, noLimit)
	if topo.Replayed(list[1], write) {
		t.Error("replayed up to 200 with its latest check at 100")
	}
	topo.Observe(list[1], replicaObs(1100*time.Millisecond, 1, 200, 200), list, noLimit)
	if !topo.Replayed(list[1], write) {
		t.Error("not replayed though it replayed the primary's position seen after the write")
	}
	// An idle primary: no new position, but checked after the write.
	later := t0.Add(3 * time.Second)
	topo.Observe(list[0], primaryObs(4*time.Second, 1, 200), list, noLimit)
	if !topo.Replayed(list[1], later) {
		t.Error("not replayed: the primary stayed at a position the replica has")
	}
	if topo.Replayed(list[0], write) {
		t.Error("a primary counts as a replica that replayed")
	}
}

// TestRememberedTimeline: a primary on a timeline lower than one a primary
// of its group was seen on before (a proxy restart in between) is fenced,
// even with no other primary in sight.
func TestRememberedTimeline(t *testing.T) {
	list := testBackends("old")
	topo := NewTopology()
	noLimit := func(*Backend) time.Duration { return 0 }
	topo.Remember(map[uint64]int64{sysID: 2})
	topo.Observe(list[0], primaryObs(0, 1, 100), list, noLimit)
	if v := list[0].Roles(); v.Verdict != Fenced || !strings.Contains(v.FencedReason, "timeline 2") {
		t.Errorf("a primary on timeline 1 after timeline 2 was seen: %+v, want fenced", v)
	}
	if tl, grew := topo.Timelines(); grew || tl[sysID] != 2 {
		t.Errorf("Timelines = %v, %v; want timeline 2 kept, not grown", tl, grew)
	}
	topo.Observe(list[0], primaryObs(time.Second, 3, 200), list, noLimit)
	if v := list[0].Roles(); v.Verdict == Fenced {
		t.Errorf("a primary on timeline 3 is fenced: %+v", v)
	}
	if tl, grew := topo.Timelines(); !grew || tl[sysID] != 3 {
		t.Errorf("Timelines = %v, %v; want timeline 3, grown", tl, grew)
	}
}
