package proxy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// TestClusterExpiredOverrideRestart: an override set on A expires on all
// three instances; then C restarts. The others still hold the expired
// change in their registers (an hour) and hand it to C in the state
// exchange at its join: C must not force the backend OPEN again for it,
// nor announce its expiry a second time (an OverrideCleared event without
// a node is a Slack message), 'expired' once for the cluster. And when C
// slept through an override that replaced the one it holds and then
// expired, C drops its own at its return.
func TestClusterExpiredOverrideRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg := pgtest.New(t, pgtest.Options{Name: "cl-a"})
	log := testLogger()
	ins := threeInstances()
	startInstances(t, log, ins, "local", func(_ int, cfg *config.Config) { *cfg = testConfig(t, pg) })
	a, b, c := ins[0], ins[1], ins[2]

	expires := time.Now().Add(time.Second)
	if err := a.srv.SetOverride(ctx, status.Override{Backend: "pg-a", State: status.Open, Reason: "maintenance", Author: "ops", Expires: expires}); err != nil {
		t.Fatal(err)
	}
	for _, in := range ins {
		poll(t, 5*time.Second, in.name+"'s override set, then expired", func() (bool, string) {
			o := backendOf(in.srv.Snapshot(), "pg-a")
			return time.Now().After(expires) && o.Override == status.NoState && o.CircuitState == status.Closed, string(o.Override)
		})
	}

	c.stop()
	c.start(t, log)
	sync := func(author string) {
		t.Helper()
		// Every one sees every other alive: A sends its change to C
		// directly only once it has taken C's return (memberlist takes it
		// from C's refutation of its own death, shortly after C's join).
		for _, in := range ins {
			poll(t, 10*time.Second, in.name+" sees every member alive", func() (bool, string) {
				n := 0
				for _, m := range in.srv.Snapshot().Members {
					if m.State == status.MemberAlive {
						n++
					}
				}
				return n == len(ins), fmt.Sprint(in.srv.Snapshot().Members)
			})
		}
		// A change made on A after C joined arrives after what the state
		// exchange at the join brought (one queue, in order).
		if err := a.srv.SetOverride(ctx, status.Override{Backend: "pg-a", State: status.Closed, Reason: "sync", Author: author}); err != nil {
			t.Fatal(err)
		}
		poll(t, 10*time.Second, "C has A's later override", func() (bool, string) {
			o := backendOf(c.srv.Snapshot(), "pg-a")
			return o.OverrideAuthor == author, fmt.Sprint(o.Override, " by ", o.OverrideAuthor)
		})
	}
	sync("sync")
	for _, ev := range c.srv.Events(0) {
		if ev.Backend != "pg-a" || ev.Author == "sync" || ev.Type == status.BackendTrustsProxy {
			continue
		}
		t.Errorf("after its restart C had %s %s→%s (%s, %s by %q from %q): the override had expired before",
			ev.Type, ev.From, ev.To, ev.Reason, ev.Detail, ev.Author, ev.Node)
	}

	// C holds an override (persisted) and stops; B replaces it with one
	// that expires while C is away; C comes back: its own is gone, and
	// nothing there alerts (events from another member carry its node).
	if err := a.srv.SetOverride(ctx, status.Override{Backend: "pg-a", State: status.Open, Reason: "held", Author: "held"}); err != nil {
		t.Fatal(err)
	}
	poll(t, 5*time.Second, "C holds A's override", func() (bool, string) {
		o := backendOf(c.srv.Snapshot(), "pg-a")
		return o.OverrideAuthor == "held", fmt.Sprint(o.Override, " by ", o.OverrideAuthor)
	})
	c.stop()
	expires = time.Now().Add(time.Second)
	if err := b.srv.SetOverride(ctx, status.Override{Backend: "pg-a", State: status.Open, Reason: "short", Author: "short", Expires: expires}); err != nil {
		t.Fatal(err)
	}
	poll(t, 5*time.Second, "A's override expired", func() (bool, string) {
		o := backendOf(a.srv.Snapshot(), "pg-a")
		return time.Now().After(expires) && o.Override == status.NoState, string(o.Override)
	})
	c.start(t, log)
	if o := backendOf(c.srv.Snapshot(), "pg-a"); o.OverrideAuthor != "held" {
		t.Fatalf("C restarted with pg-a's override by %q, want its own by held", o.OverrideAuthor)
	}
	poll(t, 10*time.Second, "C drops its override", func() (bool, string) {
		o := backendOf(c.srv.Snapshot(), "pg-a")
		return o.Override == status.NoState && o.CircuitState == status.Closed, fmt.Sprint(o.Override, " by ", o.OverrideAuthor)
	})
	for _, ev := range c.srv.Events(0) {
		if ev.Type == status.OverrideSet || ev.Type == status.OverrideCleared && ev.Node == "" {
			t.Errorf("C, back, had %s (%s by %q from %q): want the expiry announced nowhere here", ev.Type, ev.Detail, ev.Author, ev.Node)
		}
	}
}

// TestClusterClearSurvivesRestarts: an override is cleared on A while C is
// down; then A and B are restarted together (the whole cluster: nobody
// keeps the clear in memory), and only then does C come back with the
// override in its state dir. The
// clear must win: C drops the override, and A and B do not take it back
// from C (a cleared maintenance override forcing a backend OPEN again on
// every instance).
func TestClusterClearSurvivesRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg := pgtest.New(t, pgtest.Options{Name: "cl-a"})
	log := testLogger()
	ins := threeInstances()
	// pg-a and pg-b are the same server: pg-b only orders the changes.
	startInstances(t, log, ins, "local", func(_ int, cfg *config.Config) { *cfg = testConfig(t, pg, pg) })
	a, b, c := ins[0], ins[1], ins[2]
	allAlive := func() {
		t.Helper()
		for _, in := range ins {
			poll(t, 10*time.Second, in.name+" sees every member alive", func() (bool, string) {
				n := 0
				for _, m := range in.srv.Snapshot().Members {
					if m.State == status.MemberAlive {
						n++
					}
				}
				return n == len(ins), fmt.Sprint(in.srv.Snapshot().Members)
			})
		}
	}

	if err := a.srv.SetOverride(ctx, status.Override{Backend: "pg-a", State: status.Open, Reason: "maintenance", Author: "ops"}); err != nil {
		t.Fatal(err)
	}
	poll(t, 5*time.Second, "C holds the override", func() (bool, string) {
		o := backendOf(c.srv.Snapshot(), "pg-a")
		return o.Override == status.Open, string(o.Override)
	})
	c.stop()
	if err := a.srv.ClearOverride(ctx, "pg-a", "ops"); err != nil {
		t.Fatal(err)
	}
	poll(t, 5*time.Second, "B has the clear", func() (bool, string) {
		o := backendOf(b.srv.Snapshot(), "pg-a")
		return o.Override == status.NoState, string(o.Override)
	})
	// The whole cluster is restarted (a node upgrade, compose down and
	// up): no member running keeps the clear in memory.
	a.stop()
	b.stop()
	a.start(t, log)
	b.start(t, log)
	c.start(t, log)
	allAlive()
	// A change on another backend made now reaches C after what the
	// state exchanges of its return brought (one queue, in order).
	if err := a.srv.SetOverride(ctx, status.Override{Backend: "pg-b", State: status.Closed, Reason: "sync", Author: "sync"}); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "C has A's later override", func() (bool, string) {
		o := backendOf(c.srv.Snapshot(), "pg-b")
		return o.OverrideAuthor == "sync", fmt.Sprint(o.Override, " by ", o.OverrideAuthor)
	})
	poll(t, 10*time.Second, "C dropped the cleared override", func() (bool, string) {
		o := backendOf(c.srv.Snapshot(), "pg-a")
		return o.Override == status.NoState, string(o.Override)
	})
	for _, in := range ins {
		if o := backendOf(in.srv.Snapshot(), "pg-a"); o.Override != status.NoState {
			t.Errorf("%s: pg-a override %s by %q after C's return; want the clear to hold", in.name, o.Override, o.OverrideAuthor)
		}
	}
}
