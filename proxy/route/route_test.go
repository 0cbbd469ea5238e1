package route

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/admission"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/health"
	"github.com/heliosdb/heliosproxy/proxy/wire"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// cluster is a router over backends whose roles a Topology assessed.
type cluster struct {
	r    *Router
	list []*backend.Backend
	top  *backend.Topology
}

func newCluster(names ...string) *cluster {
	g := breaker.NewGroup(breaker.GroupConfig{MaxEjectionPercent: 100})
	hooks := &backend.Hooks{Publish: func(*backend.Backend, breaker.Transition) {}}
	c := &cluster{top: backend.NewTopology()}
	for i, n := range names {
		cfg := config.Backend{Name: n, Host: "db", Port: 5432 + i, Weight: 1}
		c.list = append(c.list, backend.New(cfg, g.Add(n, breaker.Config{Window: 10 * time.Second, Bucket: time.Second,
			MinimumRequests: 20, ConnectionFailureThreshold: 3, OpenDuration: time.Hour, MaxOpenDuration: time.Hour,
			HalfOpenMaxConcurrent: 1, HalfOpenProbes: 1, HalfOpenSuccessPercent: 100, HalfOpenProbeInterval: time.Second}), admission.Config{}, hooks))
	}
	c.r = &Router{Backends: func() []*backend.Backend { return c.list }, Now: func() time.Time { return t0 }}
	c.r.BreakersOn.Store(true)
	return c
}

// observe gives backend i a health observation: a primary on timeline
// tl (replayed 0) or a replica (tl, replayed lsn).
func (c *cluster) observe(i int, primary bool, tl int64, lsn uint64, at time.Duration) {
	o := health.Observation{At: t0.Add(at), RoleKnown: true, InRecovery: !primary, SystemID: 42, Timeline: tl, WAL: lsn, ReplayAge: -1}
	if !primary {
		o.Replayed = lsn
	}
	c.top.Observe(c.list[i], o, c.list, func(*backend.Backend) time.Duration { return time.Second })
}

// landing routes a session and returns the backend's name, or the
// error's SQLSTATE.
func (c *cluster) landing(readOnly bool) string {
	b, t, err := c.r.Route(readOnly, nil)
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return we.Code
		}
		return err.Error()
	}
	b.Active.Add(-1)
	b.Breaker.Release(t)
	return b.Config.Name
}

func TestRouteByRole(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(c *cluster)
		readWrite string // where a session that may write lands; "*" any backend
		readOnly  string // where a read-only session lands
	}{
		{"roles unknown: anywhere, as before roles", func(c *cluster) {}, "*", "*"},
		{"writes to the primary, reads to the replica", func(c *cluster) {
			c.observe(0, true, 1, 100, 0)
			c.observe(1, false, 1, 100, 0)
		}, "p", "r"},
		{"replica's circuit open: reads fall back to the primary", func(c *cluster) {
			c.observe(0, true, 1, 100, 0)
			c.observe(1, false, 1, 100, 0)
			c.list[1].Breaker.Force(breaker.Open, t0)
		}, "p", "p"},
		{"replica lagging: reads fall back to the primary", func(c *cluster) {
			c.observe(0, true, 1, 100, 0)
			c.observe(0, true, 1, 200, time.Second)
			c.observe(1, false, 1, 100, 3*time.Second)
		}, "p", "p"},
		{"primary's circuit open: no write, reads on the replica", func(c *cluster) {
			c.observe(0, true, 1, 100, 0)
			c.observe(1, false, 1, 100, 0)
			c.list[0].Breaker.Force(breaker.Open, t0)
		}, "57P03", "r"},
		{"promoted replica: writes follow it, the old primary is fenced", func(c *cluster) {
			c.observe(0, true, 1, 100, 0)
			c.observe(1, false, 1, 100, 0)
			c.observe(1, true, 2, 100, time.Second)
		}, "r", "r"},
		{"nothing routable: the circuits' 57P03", func(c *cluster) {
			c.observe(0, true, 1, 100, 0)
			c.observe(1, false, 1, 100, 0)
			c.list[0].Breaker.Force(breaker.Open, t0)
			c.list[1].Breaker.Force(breaker.Open, t0)
		}, "57P03", "57P03"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster("p", "r")
			tt.setup(c)
			for range 4 { // the rotor must not matter
				if got := c.landing(false); got != tt.readWrite && (tt.readWrite != "*" || got == "57P03") {
					t.Errorf("read-write session → %s, want %s", got, tt.readWrite)
				}
				if got := c.landing(true); got != tt.readOnly && (tt.readOnly != "*" || got == "57P03") {
					t.Errorf("read-only session → %s, want %s", got, tt.readOnly)
				}
			}
		})
	}
}

func TestNoPrimaryError(t *testing.T) {
	c := newCluster("p", "r")
	c.observe(0, true, 1, 100, 0)
	c.observe(1, false, 1, 100, 0)
	c.list[0].Breaker.Force(breaker.Open, t0)
	_, _, err := c.r.Route(false, nil)
	var we *wire.Error
	if !errors.Is(err, ErrNoPrimary) || !errors.As(err, &we) || we.Code != "57P03" {
		t.Fatalf("Route(read-write) = %v, want 57P03 with ErrNoPrimary", err)
	}
	if want := "p: OPEN"; len(we.Detail) < len(want) || we.Detail[:len(want)] != want {
		t.Errorf("DETAIL = %q, want it to start %q", we.Detail, want)
	}
}

// TestRouteWait: a session that needs a primary waits for one when a
// replica that could be promoted is reachable, and routes to it as soon as
// the promotion is observed; it gets ErrNoPrimary when the wait ends
// first.
func TestRouteWait(t *testing.T) {
	c := newCluster("p", "r")
	c.observe(0, true, 1, 100, 0)
	c.observe(1, false, 1, 100, 0)
	c.list[0].Breaker.Force(breaker.Open, t0)

	type result struct {
		b   *backend.Backend
		err error
	}
	done := make(chan result, 1)
	waiting := c.r.changed() // RouteWait takes the same channel before it routes
	go func() {
		b, _, err := c.r.RouteWait(context.Background(), false, nil, time.Hour)
		done <- result{b, err}
	}()
	c.observe(1, true, 2, 120, time.Second) // the promotion
	c.r.Changed()
	<-waiting
	res := <-done
	if res.err != nil || res.b != c.list[1] {
		t.Fatalf("RouteWait = %v, %v; want the promoted r", res.b, res.err)
	}

	c.list[1].Breaker.Force(breaker.Open, t0)
	c.list[0].Breaker.Force(breaker.Closed, t0) // the fenced old primary
	if _, _, err := c.r.RouteWait(context.Background(), false, nil, time.Hour); !errors.Is(err, ErrNoPrimary) {
		t.Errorf("RouteWait with nothing that could become primary = %v, want ErrNoPrimary at once", err)
	}
	c.list[1].Breaker.Force(breaker.Closed, t0)
	c.observe(1, false, 2, 120, 2*time.Second) // demoted, reachable
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if _, _, err := c.r.RouteWait(ctx, false, nil, 10*time.Millisecond); !errors.Is(err, ErrNoPrimary) {
		t.Errorf("RouteWait past its wait = %v, want ErrNoPrimary", err)
	}
}
