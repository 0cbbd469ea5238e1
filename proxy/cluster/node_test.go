package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
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
	r.forget(t0.Add(2*time.Hour), time.Hour)
	if got := r.all(); len(got) != 0 {
		t.Errorf("register after forget(t0+2h, 1h) = %+v, want empty", got)
	}
}

// fakeHost records what a Node applies.
type fakeHost struct {
	mu        sync.Mutex
	overrides map[string]Change
	opened    []string // "backend from node"
}

func (h *fakeHost) ApplyOverride(c Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.overrides[c.Backend] = c
}

func (h *fakeHost) PeerOpened(backend, node, _ string) {
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
	addr := clustertest.FreeAddr(t, host)
	h := &fakeHost{overrides: map[string]Change{}}
	n, err := New(Options{
		Config: config.Cluster{Enabled: true, NodeName: name, BindAddress: addr, Join: join, SecretKey: key,
			Decision: "local", RejoinInterval: config.Duration{Duration: 200 * time.Millisecond}},
		Version: "test", ConfigHash: "h1", Host: h, Tune: clustertest.FastProbes,
		Log: testLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
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
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
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
	c.Opened("pg-2", "connection refused", time.Now())
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

func (n *testNode) String() string { return fmt.Sprintf("%s@%s", n.Name(), n.addr) }

func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
