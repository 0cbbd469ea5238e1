package proxy

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/faultnet"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// circuitOf is the instance's own circuit of backend.
func (in *instance) circuitOf(backend string) status.Backend {
	return backendOf(in.srv.Snapshot(), backend)
}

// holdsView reports whether the instance holds member node's view of
// backend, open on node's own observations.
func (in *instance) holdsView(node, backend string) bool {
	n := in.srv.cluster.Load()
	if n == nil {
		return false
	}
	for _, v := range n.Circuits(time.Now()) {
		if v.Node == node && v.Backend == backend {
			return v.State == status.Open && v.Failing
		}
	}
	return false
}

// TestClusterQuorum: decision = "quorum" with three instances on
// 127.0.0.1-3, each reaching backend pg-a through its own toxiproxy link.
// Cutting A's link opens pg-a on A only: B and C hear A's vote, check for
// themselves, and keep it in service. Cutting B's link too makes two of
// three: C opens pg-a (reason quorum) without ever failing to reach it.
// With the links back, the prober recovers, the follower follows and C's
// quorum ends: CLOSED everywhere. Cut again, then B leaves: its vote goes
// with it and C returns pg-a to service, while A (still cut) keeps its own
// circuit open.
func TestClusterQuorum(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pgA := pgtest.New(t, pgtest.Options{Name: "q-a"})
	pgB := pgtest.New(t, pgtest.Options{Name: "q-b"})
	ins := threeInstances()
	links := make([]*faultnet.Link, len(ins))
	for i, in := range ins {
		links[i] = faultnet.New(t, in.ip, net.JoinHostPort(pgA.Host, strconv.Itoa(pgA.Port)))
	}
	startInstances(t, testLogger(), ins, "quorum", func(i int, cfg *config.Config) {
		*cfg = testConfig(t, pgA, pgB)
		host, port, _ := net.SplitHostPort(links[i].Addr)
		cfg.Backends.Instances[0].Host = host
		cfg.Backends.Instances[0].Port, _ = strconv.Atoi(port)
		cfg.HealthChecks.Interval = config.Duration{Duration: 300 * time.Millisecond}
		cfg.HealthChecks.Timeout = config.Duration{Duration: 300 * time.Millisecond}
	})
	a, b, c := ins[0], ins[1], ins[2]
	opened := func(in *instance, reason string) {
		t.Helper()
		poll(t, 5*time.Second, in.name+" opens pg-a ("+reason+")", func() (bool, string) {
			st := in.circuitOf("pg-a")
			return st.CircuitState == status.Open && st.OpenReason == reason, fmt.Sprint(st.CircuitState, " ", st.OpenReason)
		})
	}
	// stillClosed waits until each instance has heard node's vote and
	// passed three health checks of its own since, and checks that pg-a
	// never left CLOSED there.
	stillClosed := func(node string, others ...*instance) {
		t.Helper()
		for _, in := range others {
			before := in.circuitOf("pg-a").TransitionsTotal
			poll(t, 5*time.Second, in.name+" holds "+node+"'s vote", func() (bool, string) { return in.holdsView(node, "pg-a"), "" })
			checks := in.passedChecks("pg-a")
			poll(t, 5*time.Second, in.name+" checks pg-a three times", func() (bool, string) {
				return in.passedChecks("pg-a") >= checks+3, ""
			})
			if st := in.circuitOf("pg-a"); st.CircuitState != status.Closed || st.TransitionsTotal != before {
				t.Errorf("%s: pg-a %s (%s) after %d transitions with only %s cut off, want CLOSED throughout",
					in.name, st.CircuitState, st.OpenReason, st.TransitionsTotal-before, node)
			}
		}
	}

	// One of three cut off: it protects itself, the others keep serving.
	cut := time.Now()
	links[0].Cut()
	opened(a, "hard_failure")
	t.Logf("A's link cut: A opened pg-a after %v", time.Since(cut).Round(time.Millisecond))
	stillClosed("node-a", b, c)
	if _, err := c.sql(ctx, "SELECT 1"); err != nil {
		t.Errorf("query through C with A cut off: %v", err)
	}

	// Two of three: isolated everywhere, C by the quorum.
	cut = time.Now()
	links[1].Cut()
	opened(b, "hard_failure")
	opened(c, "quorum")
	t.Logf("B's link cut too: C opened pg-a by quorum %v after the cut (%s)", time.Since(cut).Round(time.Millisecond), c.circuitOf("pg-a").OpenReason)

	// Links back: CLOSED everywhere again.
	links[0].Restore(t)
	links[1].Restore(t)
	back := time.Now()
	for _, in := range ins {
		poll(t, 20*time.Second, in.name+" closes pg-a", func() (bool, string) {
			st := in.circuitOf("pg-a")
			return st.CircuitState == status.Closed, fmt.Sprint(st.CircuitState, " ", st.OpenReason)
		})
	}
	t.Logf("links back: pg-a CLOSED on all three after %v", time.Since(back).Round(time.Millisecond))

	// Cut again; B leaves: only A's vote is left, of two.
	links[0].Cut()
	links[1].Cut()
	opened(c, "quorum")
	b.stop()
	poll(t, 10*time.Second, "C returns pg-a to service once B is gone", func() (bool, string) {
		st := c.circuitOf("pg-a")
		return st.CircuitState == status.Closed, fmt.Sprint(st.CircuitState, " ", st.OpenReason)
	})
	if st := a.circuitOf("pg-a"); st.CircuitState == status.Closed {
		t.Errorf("A, still cut off, has pg-a CLOSED, want it open on its own observations")
	}
}
