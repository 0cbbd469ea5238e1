package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/cluster/clustertest"
	"github.com/heliosdb/heliosproxy/status"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// TestChangeOrder: the greater stamp wins, and between equal stamps the
// greater node name, so that every member keeps the same change whatever
// order they arrive in.
func TestChangeOrder(t *testing.T) {
	set := &status.Override{Backend: "pg-a", State: status.Open}
	tests := []struct {
		name string
		in   []Change
		want Change
	}{
		{"later stamp wins", []Change{{Backend: "pg-a", Stamp: 2, Node: "a"}, {Backend: "pg-a", Stamp: 1, Node: "b", Set: set}}, Change{Stamp: 2, Node: "a"}},
		{"later stamp wins in any order", []Change{{Backend: "pg-a", Stamp: 1, Node: "b", Set: set}, {Backend: "pg-a", Stamp: 2, Node: "a"}}, Change{Stamp: 2, Node: "a"}},
		{"tie: greater node", []Change{{Backend: "pg-a", Stamp: 5, Node: "c"}, {Backend: "pg-a", Stamp: 5, Node: "b"}}, Change{Stamp: 5, Node: "c"}},
		{"tie in the other order", []Change{{Backend: "pg-a", Stamp: 5, Node: "b"}, {Backend: "pg-a", Stamp: 5, Node: "c"}}, Change{Stamp: 5, Node: "c"}},
	}
	for _, tt := range tests {
		r := newRegister()
		for _, c := range tt.in {
			r.merge(c)
		}
		got := r.all()
		if len(got) != 1 || got[0].Stamp != tt.want.Stamp || got[0].Node != tt.want.Node {
			t.Errorf("%s: register = %+v, want stamp %d from %s", tt.name, got, tt.want.Stamp, tt.want.Node)
		}
	}
}

// TestHLC: stamps increase within a millisecond, across a clock that
// steps back, and past every stamp observed from another member.
func TestHLC(t *testing.T) {
	var c hlc
	a := c.Now(t0)
	b := c.Now(t0)
	back := c.Now(t0.Add(-time.Second))
	if !(a < b && b < back) || !stampTime(a).Equal(t0) {
		t.Errorf("Now(t0), Now(t0), Now(t0-1s) = %d, %d, %d; want increasing, the first at t0", a, b, back)
	}
	remote := stampAt(t0.Add(time.Minute)) + 7
	c.Observe(remote)
	if s := c.Now(t0); s <= remote {
		t.Errorf("Now(t0) after Observe(t0+1m) = %d, want > %d", s, remote)
	}
	r := newRegister()
	r.merge(Change{Backend: "x", Stamp: stampAt(t0)})
	r.merge(Change{Backend: "y", Stamp: stampAt(t0), Set: &status.Override{Expires: t0.Add(time.Hour)}})
	r.forget(t0.Add(2*time.Hour), time.Hour, time.Hour)
	if got := r.all(); len(got) != 0 {
		t.Errorf("register after forget(t0+2h, 1h) = %+v, want empty", got)
	}
}

// fakeHost records what a Node applies, and keeps circuits as the proxy
// would for what the Node decides.
type fakeHost struct {
	n         *Node
	mu        sync.Mutex
	overrides map[string]Change
	opened    []string // "backend from node"
	confirms  []string
	circuits  map[string]View
	follows   map[string]bool
}

func (h *fakeHost) Confirm(backend string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.confirms = append(h.confirms, backend)
}

// set changes a circuit as the proxy's breaker would and tells the Node.
func (h *fakeHost) set(v View) {
	h.mu.Lock()
	h.circuits[v.Backend] = v
	h.mu.Unlock()
	h.n.Circuit(v)
}

func (h *fakeHost) circuit(backend string) View {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.circuits[backend]
}

func (h *fakeHost) following(backend string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.follows[backend]
}

func (h *fakeHost) QuorumOpen(backend, detail string) {
	if c := h.circuit(backend); c.State == status.Closed {
		h.set(View{Backend: backend, State: status.Open, Reason: "quorum", Detail: detail, Since: time.Now()})
	}
}

func (h *fakeHost) Recover(backend, detail string) {
	if c := h.circuit(backend); c.State != status.Closed {
		h.set(View{Backend: backend, State: status.Closed, Detail: detail, Since: time.Now()})
	}
}

func (h *fakeHost) Follow(backend string, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.follows[backend] = on
}

func (h *fakeHost) Circuits() []View {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []View
	for _, v := range h.circuits {
		out = append(out, v)
	}
	return out
}

func (h *fakeHost) ApplyOverride(c Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.overrides[c.Backend] = c
}

func (h *fakeHost) ApplyUserOverride(c Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.overrides[c.key()] = c
}

func (h *fakeHost) PeerOpened(backend, node string, _ bool, _ string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.opened = append(h.opened, backend+" from "+node)
}

func (h *fakeHost) get(backend string) (Change, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.overrides[backend]
	return c, ok
}

func (h *fakeHost) openings() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.opened...)
}

const testKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

type testNode struct {
	*Node
	host *fakeHost
	addr string
	stop func()
}

// startNode runs a Node on host until the test ends (or stop).
func startNode(t *testing.T, name, host, key string, join []string) *testNode {
	t.Helper()
	return startNodeDecision(t, name, host, key, "local", join)
}

// startNodeDecision is startNode with cluster.decision; the node's host
// starts with pg-1 and pg-2 CLOSED.
func startNodeDecision(t *testing.T, name, host, key, decision string, join []string) *testNode {
	t.Helper()
	addr := clustertest.FreeAddr(t, host)
	h := &fakeHost{overrides: map[string]Change{}, follows: map[string]bool{}, circuits: map[string]View{
		"pg-1": {Backend: "pg-1", State: status.Closed}, "pg-2": {Backend: "pg-2", State: status.Closed}}}
	n, err := New(Options{
		Config: config.Cluster{Enabled: true, NodeName: name, BindAddress: addr, Join: join, SecretKey: key,
			Decision: decision, RejoinInterval: config.Duration{Duration: 200 * time.Millisecond}},
		Version: "test", ConfigHash: "h1", Host: h, Tune: clustertest.FastProbes,
		Log: testLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.n = n
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: Run = %v", name, err)
			}
		})
	}
	t.Cleanup(stop)
	return &testNode{Node: n, host: h, addr: addr, stop: stop}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func alive(n *Node, want int) bool {
	k := 0
	for _, m := range n.Members(time.Now()) {
		if m.State == status.MemberAlive {
			k++
		}
	}
	return k == want
}

// TestNodes: three members on 127.0.0.1-3 find each other, share
// overrides (last writer wins) and hard-failure openings, refuse a member
// with another key, and see a stopped member leave; Run leaves no
// goroutine behind.
func TestNodes(t *testing.T) {
	defer noLeaks(t, goleak.IgnoreCurrent())
	a := startNode(t, "node-a", "127.0.0.1", testKey, nil)
	b := startNode(t, "node-b", "127.0.0.2", testKey, []string{a.addr})
	c := startNode(t, "node-c", "127.0.0.3", testKey, []string{a.addr, b.addr})
	for _, n := range []*testNode{a, b, c} {
		eventually(t, 5*time.Second, n.Name()+" sees three alive members", func() bool { return alive(n.Node, 3) })
	}
	ms := b.Members(time.Now())
	if ms[0].Node != "node-b" || !ms[0].Self || ms[1].Node != "node-a" || ms[1].Address != a.addr || ms[1].Version != "test" || ms[1].ConfigHash != "h1" {
		t.Errorf("b.Members = %+v; want itself first, then node-a at %s with version and config hash", ms, a.addr)
	}

	// An override set on a reaches b and c.
	o := status.Override{Backend: "pg-1", State: status.Open, Author: "ops", Reason: "maintenance", Created: t0}
	ch := a.Override("pg-1", "ops", &o, time.Now())
	a.Share(ch)
	for _, n := range []*testNode{b, c} {
		d := eventually(t, time.Second, n.Name()+" has the override", func() bool {
			got, ok := n.host.get("pg-1")
			return ok && got.Set != nil && got.Set.Node == "node-a" && got.Set.Stamp == ch.Stamp
		})
		t.Logf("override set on node-a applied on %s after %v", n.Name(), d)
	}
	// b clears it after seeing it: the clear wins everywhere, also on a.
	clr := b.Override("pg-1", "ops2", nil, time.Now())
	if clr.Stamp <= ch.Stamp {
		t.Fatalf("b's later stamp %d is not after a's %d", clr.Stamp, ch.Stamp)
	}
	b.Share(clr)
	for _, n := range []*testNode{a, c} {
		eventually(t, time.Second, n.Name()+" has the clear", func() bool {
			got, ok := n.host.get("pg-1")
			return ok && got.Set == nil && got.Node == "node-b"
		})
	}

	// A hard-failure opening on c reaches a and b once.
	c.Opened("pg-2", true, "connection refused", time.Now())
	c.Opened("pg-1", false, "p95 > 500ms", time.Now()) // decision local: not shared
	for _, n := range []*testNode{a, b} {
		d := eventually(t, time.Second, n.Name()+" opened pg-2", func() bool { return len(n.host.openings()) > 0 })
		t.Logf("opening on node-c applied on %s after %v", n.Name(), d)
	}
	time.Sleep(300 * time.Millisecond) // gossip repeats the message; it must not apply twice
	for _, n := range []*testNode{a, b} {
		if got := n.host.openings(); len(got) != 1 || got[0] != "pg-2 from node-c" {
			t.Errorf("%s openings = %v, want [pg-2 from node-c]", n.Name(), got)
		}
	}

	// Another key: never a member.
	x := startNode(t, "node-x", "127.0.0.1", "YWJjZGVmZ2hpamtsbW5vcA==", []string{a.addr})
	time.Sleep(time.Second)
	if alive(x.Node, 1) != true || !alive(a.Node, 3) {
		t.Errorf("with another key: x sees %v, a sees %v; want x alone and a with three", x.Members(time.Now()), a.Members(time.Now()))
	}
	x.stop()

	// c stops: the others see it leave.
	c.stop()
	for _, n := range []*testNode{a, b} {
		eventually(t, 5*time.Second, fmt.Sprint(n.Name(), " sees node-c gone: ", n.Members(time.Now())), func() bool {
			for _, m := range n.Members(time.Now()) {
				if m.Node == "node-c" {
					return m.State == status.MemberLeft
				}
			}
			return false
		})
	}
	a.stop()
	b.stop()
}

// noLeaks waits up to 10 s for every goroutine but those opts ignore to
// end: memberlist's own end shortly after Shutdown, later on a loaded
// machine than goleak's half second of retries allows.
func noLeaks(t *testing.T, opts ...goleak.Option) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := goleak.Find(opts...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Error(err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *testNode) String() string { return fmt.Sprintf("%s@%s", n.Name(), n.addr) }

func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// seen reports whether n holds node's view of backend in state.
func seen(n *testNode, node, backend string, state status.CircuitState) bool {
	for _, v := range n.Circuits(time.Now()) {
		if v.Node == node && v.Backend == backend {
			return v.State == state
		}
	}
	return false
}

func roleOf(n *testNode, node, backend string) string {
	for _, v := range n.Circuits(time.Now()) {
		if v.Node == node && v.Backend == backend {
			return v.Role
		}
	}
	return ""
}

// TestQuorum: under decision "quorum", one member that sees a backend
// failing keeps it to itself; two of three open it on the third (reason
// quorum, held open without probing); the prober's recovery closes the
// follower's circuit, and the quorum's end the third's; the votes of a
// member that leaves stop counting.
func TestQuorum(t *testing.T) {
	defer noLeaks(t, goleak.IgnoreCurrent())
	a := startNodeDecision(t, "node-a", "127.0.0.1", testKey, "quorum", nil)
	b := startNodeDecision(t, "node-b", "127.0.0.2", testKey, "quorum", []string{a.addr})
	c := startNodeDecision(t, "node-c", "127.0.0.3", testKey, "quorum", []string{a.addr, b.addr})
	nodes := []*testNode{a, b, c}
	for _, n := range nodes {
		eventually(t, 5*time.Second, n.Name()+" sees three alive members", func() bool { return alive(n.Node, 3) })
	}
	failing := func(n *testNode, backend string) {
		n.host.set(View{Backend: backend, State: status.Open, Reason: "hard_failure", Detail: "connection refused", Since: time.Now(), Failing: true})
		n.Opened(backend, true, "connection refused", time.Now())
	}

	// a alone: b and c hear of it (and check for themselves) but keep it.
	failing(a, "pg-1")
	for _, n := range []*testNode{b, c} {
		eventually(t, 2*time.Second, n.Name()+" holds a's view", func() bool { return seen(n, "node-a", "pg-1", status.Open) })
		eventually(t, 2*time.Second, n.Name()+" confirms", func() bool {
			n.host.mu.Lock()
			defer n.host.mu.Unlock()
			return slices.Contains(n.host.confirms, "pg-1")
		})
		j := n.judged.Load()
		eventually(t, 3*time.Second, n.Name()+" judges again", func() bool { return n.judged.Load() > j+1 })
		if got := n.host.circuit("pg-1"); got.State != status.Closed {
			t.Errorf("%s: pg-1 %v (%s) with one of three failing, want CLOSED", n.Name(), got.State, got.Reason)
		}
		if got := roleOf(n, "node-a", "pg-1"); got != RoleProber {
			t.Errorf("%s: node-a's role for pg-1 = %q, want prober (the only one with it open)", n.Name(), got)
		}
	}

	// a and b: c opens it for the quorum and does not probe.
	failing(b, "pg-1")
	eventually(t, 2*time.Second, "c opens pg-1 for the quorum", func() bool { return c.host.circuit("pg-1").Reason == "quorum" })
	if d := c.host.circuit("pg-1").Detail; !strings.Contains(d, "2 of 3") || !strings.Contains(d, "node-a (hard_failure)") {
		t.Errorf("c's quorum detail = %q, want 2 of 3 naming node-a", d)
	}
	eventually(t, time.Second, "c held", func() bool { return c.host.following("pg-1") })
	prober, follower := a, b
	if rendezvous("pg-1", []string{"node-a", "node-b"}) == "node-b" {
		prober, follower = b, a
	}
	eventually(t, time.Second, "the follower follows", func() bool {
		return follower.host.following("pg-1") && !prober.host.following("pg-1")
	})

	// The prober recovers: the follower closes with it, then c.
	prober.host.set(View{Backend: "pg-1", State: status.Closed, Detail: "8 of 8 probes succeeded", Since: time.Now(), Recovered: true})
	for _, n := range []*testNode{follower, c} {
		eventually(t, 2*time.Second, n.Name()+" closes pg-1", func() bool { return n.host.circuit("pg-1").State == status.Closed })
	}
	if d := follower.host.circuit("pg-1").Detail; !strings.Contains(d, prober.Name()) {
		t.Errorf("follower's close detail = %q, want it to name the prober %s", d, prober.Name())
	}

	// a and b again on pg-2; b leaves: its vote goes with it.
	failing(a, "pg-2")
	failing(b, "pg-2")
	eventually(t, 2*time.Second, "c opens pg-2 for the quorum", func() bool { return c.host.circuit("pg-2").Reason == "quorum" })
	b.stop()
	eventually(t, 5*time.Second, "c releases pg-2 once b is gone", func() bool { return c.host.circuit("pg-2").State == status.Closed })
	if d := c.host.circuit("pg-2").Detail; !strings.Contains(d, "1 of 2") {
		t.Errorf("c's release detail = %q, want 1 of 2", d)
	}
	a.stop()
	c.stop()
}

// TestDecisionAny: under decision "any", a member's latency trip opens
// the backend on the others.
func TestDecisionAny(t *testing.T) {
	a := startNodeDecision(t, "node-a", "127.0.0.1", testKey, "any", nil)
	b := startNodeDecision(t, "node-b", "127.0.0.2", testKey, "any", []string{a.addr})
	eventually(t, 5*time.Second, "b sees a", func() bool { return alive(b.Node, 2) })
	a.Opened("pg-1", false, "p95 > 500ms", time.Now())
	eventually(t, time.Second, "b opens pg-1", func() bool { return len(b.host.openings()) == 1 })
}

// TestRendezvous: every member picks the same prober whatever the order
// of the candidates, and the probers spread over the members.
func TestRendezvous(t *testing.T) {
	members := []string{"node-a", "node-b", "node-c"}
	picked := map[string]int{}
	for i := range 30 {
		b := fmt.Sprintf("pg-%d", i)
		p := rendezvous(b, members)
		if q := rendezvous(b, []string{"node-c", "node-a", "node-b"}); q != p {
			t.Errorf("rendezvous(%s) = %s or %s by the candidates' order", b, p, q)
		}
		picked[p]++
	}
	if len(picked) != 3 {
		t.Errorf("probers of 30 backends: %v, want all three members", picked)
	}
	if rendezvous("pg-1", nil) != "" {
		t.Errorf("rendezvous without candidates is not empty")
	}
}

// TestQuorumAfterRecovery: the prober's recovery verdict outdates the
// failures its followers saw before it. Once it closes, their failing
// views (not yet replaced by their own closing) are no quorum — the
// prober opened its circuit again for 3 ms in a real three-instance
// cluster, with a CircuitOpened event, before they followed — while a
// failure seen after the recovery is a vote again.
func TestQuorumAfterRecovery(t *testing.T) {
	live := []string{"node-a", "node-b", "node-c", "node-d", "node-e"}
	failing := func(stamp uint64) View {
		return View{Backend: "pg-1", State: status.Open, Reason: "hard_failure", Failing: true, Stamp: stamp}
	}
	for _, tc := range []struct {
		name   string
		views  map[string]View
		quorum bool
	}{
		{"before the recovery", map[string]View{"node-a": failing(10), "node-b": failing(11), "node-c": failing(12)}, true},
		{"the prober recovered, the others not told yet", map[string]View{
			"node-a": {Backend: "pg-1", State: status.Closed, Recovered: true, Stamp: 20},
			"node-b": failing(11), "node-c": failing(12), "node-d": failing(13)}, false},
		{"one follower closed, two not yet", map[string]View{
			"node-a": {Backend: "pg-1", State: status.Closed, Recovered: true, Stamp: 20},
			"node-b": {Backend: "pg-1", State: status.Closed, Stamp: 21},
			"node-c": failing(12), "node-d": failing(13), "node-e": failing(14)}, false},
		{"failing again after the recovery", map[string]View{
			"node-a": {Backend: "pg-1", State: status.Closed, Recovered: true, Stamp: 20},
			"node-b": failing(31), "node-c": failing(32), "node-d": failing(33)}, true},
	} {
		n := &Node{name: "node-b", opts: Options{Config: config.Cluster{Decision: "quorum"}}, views: make(map[string]map[string]View)}
		for node, v := range tc.views {
			v.Node = node
			n.viewsOf(node)[v.Backend] = v
		}
		vs := n.decide(live)
		if len(vs) != 1 || vs[0].quorum != tc.quorum {
			t.Errorf("%s: verdicts %+v, want quorum %v", tc.name, vs, tc.quorum)
		}
	}
}

// TestUserChanges: a role's override and a backend's are kept apart in
// the register even when the names match, the later change of each wins
// on its own, an expired role override is forgotten like a backend's,
// and a role's clear is kept in the state dir and read back at start.
func TestUserChanges(t *testing.T) {
	r := newRegister()
	r.merge(Change{Backend: "app", Stamp: 3, Node: "a", Set: &status.Override{Backend: "app", State: status.Open}})
	r.merge(Change{Role: "app", Database: "db", Stamp: 1, Node: "a", SetUser: &status.UserOverride{Role: "app", Database: "db", Exempt: true}})
	r.merge(Change{Role: "app", Database: "db", Stamp: 2, Node: "b"})
	r.merge(Change{Role: "app", Database: "other", Stamp: stampAt(t0), Node: "a",
		SetUser: &status.UserOverride{Role: "app", Database: "other", Exempt: true, Expires: t0.Add(time.Minute)}})
	if got := r.all(); len(got) != 3 {
		t.Fatalf("register = %+v, want the backend's, the role's on db and on other", got)
	}
	if cs := r.clears(); len(cs) != 1 || cs[0].Role != "app" || cs[0].Database != "db" || cs[0].Node != "b" {
		t.Errorf("clears = %+v, want app on db's, from b", cs)
	}
	r.forget(t0.Add(2*time.Hour), time.Hour, 30*24*time.Hour)
	for _, c := range r.all() {
		if c.Database == "other" {
			t.Errorf("register after forget(t0+2h) still has %+v, expired at t0+1m", c)
		}
	}

	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := New(Options{Config: config.Cluster{NodeName: "a"}, StateDir: dir, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	n.Share(Change{Role: "app", Database: "db", Stamp: 9, Node: "a", Author: "ops"})
	m, err := New(Options{Config: config.Cluster{NodeName: "a"}, StateDir: dir, Log: log,
		UserOverrides: []status.UserOverride{{Role: "app", Database: "db", Exempt: true, Node: "c", Stamp: 5}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.reg.all(); len(got) != 1 || !got[0].Cleared() || got[0].Stamp != 9 {
		t.Errorf("register after a restart = %+v, want the clear kept in the state dir (stamp 9), not the older override", got)
	}
}

// TestSuspectShown: a member whose process hangs (SIGSTOP: no answer, no
// leave) is shown suspect by the others once their probes of it fail,
// then dead when memberlist declares it so. Before, a member was shown
// suspect only after two probe rounds over every member without an
// answer, later than memberlist's suspicion ends: a hung member went
// from alive straight to dead. node-c runs in a child process (this test
// binary, TestSuspectHelper) so that it can be stopped.
func TestSuspectShown(t *testing.T) {
	a := startNode(t, "node-a", "127.0.0.1", testKey, nil)
	b := startNode(t, "node-b", "127.0.0.2", testKey, []string{a.addr})
	cmd := exec.Command(os.Args[0], "-test.run=^TestSuspectHelper$")
	cmd.Env = append(os.Environ(), "HELIOS_SUSPECT_HELPER_JOIN="+a.addr)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for _, n := range []*testNode{a, b} {
		eventually(t, 10*time.Second, n.name+" sees three alive", func() bool { return alive(n.Node, 3) })
	}
	stateOf := func(n *Node, name string) status.MemberState {
		for _, m := range n.Members(time.Now()) {
			if m.Node == name {
				return m.State
			}
		}
		return ""
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var seen []status.MemberState
	counted := false // node-c still in A's votes while first shown suspect
	eventually(t, 10*time.Second, "A sees node-c dead", func() bool {
		st := stateOf(a.Node, "node-c")
		if len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
			if st == status.MemberSuspect {
				counted = slices.Contains(a.live(time.Now()), "node-c")
			}
		}
		return st == status.MemberDead
	})
	if !slices.Equal(seen, []status.MemberState{status.MemberAlive, status.MemberSuspect, status.MemberDead}) {
		t.Errorf("A showed node-c %v, want alive, suspect, dead", seen)
	}
	if slices.Contains(seen, status.MemberSuspect) && !counted {
		t.Errorf("node-c left A's votes as soon as it was suspected, want it counted until it missed two rounds")
	}
}

// TestSuspectHelper is node-c of TestSuspectShown, in a child process;
// it runs until killed.
func TestSuspectHelper(t *testing.T) {
	join := os.Getenv("HELIOS_SUSPECT_HELPER_JOIN")
	if join == "" {
		t.Skip("run by TestSuspectShown")
	}
	startNode(t, "node-c", "127.0.0.3", testKey, []string{join})
	select {}
}
