package proxy

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// guardedTrio starts three clusters, running setup on each, and a proxy
// in front of them whose health checks run every interval with a timeout
// of timeout.
func guardedTrio(t *testing.T, ctx context.Context, prefix, setup string, interval, timeout time.Duration) ([]*pgtest.Cluster, *runningProxy, <-chan status.Event) {
	t.Helper()
	var cs []*pgtest.Cluster
	for _, n := range []string{"a", "b", "c"} {
		c := pgtest.New(t, pgtest.Options{Name: prefix + "-" + n})
		if setup != "" {
			if err := c.Exec(ctx, setup); err != nil {
				t.Fatal(err)
			}
		}
		cs = append(cs, c)
	}
	cfg := testConfig(t, cs...)
	cfg.HealthChecks.Interval.Duration, cfg.HealthChecks.Timeout.Duration = interval, timeout
	p := startProxy(t, cfg)
	return cs, p, p.Subscribe(ctx)
}

// TestHungBackendOpensPastTheGuard: with pg-a forced OPEN, a backend that
// answers nothing (SIGSTOP) under load opens as hung, a hard failure the
// max-ejection guard does not hold back, before three failed health
// checks could open it (that would be reason hard_failure).
func TestHungBackendOpensPastTheGuard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	// The health checks' defaults: three failed checks take seconds.
	cs, p, events := guardedTrio(t, ctx, "hung", "", time.Second, 500*time.Millisecond)
	load := startLoad(t, p.dsn("postgres", ""), 6)
	waitSessions(t, ctx, p)
	// With one circuit of three open, the max-ejection guard (50%) holds
	// back every latency trip of the others.
	forceOpen(t, ctx, p, "pg-a")

	victim := cs[1]
	opened := pauseUntilOpen(t, ctx, events, victim, "pg-b")
	if opened.Reason != "hung" || !strings.HasPrefix(opened.Detail, "hung: ") || !strings.Contains(opened.Detail, "the health check timed out") {
		t.Errorf("pg-b opened with reason %q (%s), want hung: the hung rule, not the health checks' hard_failure", opened.Reason, opened.Detail)
	}
	if got := p.backend("pg-c").Breaker.State(); got != breaker.Closed {
		t.Errorf("pg-c = %v, want CLOSED", got)
	}
	if err := victim.Resume(); err != nil {
		t.Fatal(err)
	}
	load.stop()
}

// pauseUntilOpen hangs victim, the cluster behind backend name, with
// SIGSTOP (resumed when the test ends) and waits for name's CircuitOpened.
func pauseUntilOpen(t *testing.T, ctx context.Context, events <-chan status.Event, victim *pgtest.Cluster, name string) status.Event {
	t.Helper()
	paused := time.Now()
	if err := victim.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = victim.Resume() })
	opened := waitEvent(t, ctx, events, isEvent(status.CircuitOpened, name))
	t.Logf("hang (SIGSTOP) of %s: → OPEN in %v (reason %s: %s)", name, opened.Time.Sub(paused), opened.Reason, opened.Detail)
	return opened
}

// TestStalledBackendStaysUnderGuard: with pg-a forced OPEN, a backend
// whose queries all wait on a lock is stalled, not hung: it answers its
// health check, so the stall is a latency trip, held back by the
// max-ejection guard, and the circuit stays CLOSED.
func TestStalledBackendStaysUnderGuard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	// A generous check timeout: on a busy test machine a check slower than
	// 500ms would be a hang signal this test is not about.
	cs, p, events := guardedTrio(t, ctx, "stall", "CREATE TABLE hang_t (x int); INSERT INTO hang_t VALUES (1)", 2*time.Second, 2*time.Second)
	stopLoad := tableLoad(t, p.dsn("postgres", ""), 6)
	defer stopLoad()
	waitSessions(t, ctx, p)
	forceOpen(t, ctx, p, "pg-a")

	victim := cs[1]
	lock, err := pgx.Connect(ctx, victim.DSN(victim.User, victim.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close(context.Background())
	tx, err := lock.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "LOCK TABLE hang_t IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}

	b := p.backend("pg-b")
	t.Log("waiting for pg-b's stall to be held by the max-ejection guard")
	waitFor(t, func() bool {
		return strings.HasPrefix(b.Breaker.Stats(p.clock.Now()).Detail, "held by max-ejection guard")
	})
	heldAt := time.Now()
	// A health check begun after that, and answered: the proof the
	// backend is up, however stuck its queries are.
	t.Log("waiting for a health check of pg-b to answer during the stall")
	waitFor(t, func() bool {
		r := b.Check.Latest()
		return r != nil && r.Start().After(heldAt) && r.Done() && !b.Check.Slow()
	})
	st := b.Breaker.Stats(p.clock.Now())
	if st.State != breaker.Closed || !strings.Contains(st.Detail, "stall:") {
		t.Errorf("pg-b = %v (%s), want CLOSED with the stall held", st.State, st.Detail)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	noOpening(t, events, "pg-b")
}

// tableLoad runs clients that each keep one session and query hang_t in
// a loop; the returned function stops them and waits for them.
func tableLoad(t *testing.T, dsn string, clients int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				conn, err := pgx.Connect(ctx, dsn)
				if err != nil {
					select { // pace reconnects; this is load shaping, not synchronisation
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
					continue
				}
				for ctx.Err() == nil {
					if _, err := conn.Exec(ctx, "SELECT count(*) FROM hang_t"); err != nil {
						break
					}
				}
				conn.Close(context.Background())
			}
		})
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// TestLongQueriesAreNotAHang: long reports on a backend with nothing else
// in flight leave it answering its health checks, so they are neither a
// hang nor (without volume) a stall, even with the guard's allowance used
// up by a forced OPEN.
func TestLongQueriesAreNotAHang(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	a := pgtest.New(t, pgtest.Options{Name: "report-a"})
	b := pgtest.New(t, pgtest.Options{Name: "report-b"})
	cfg := testConfig(t, a, b)
	cfg.HealthChecks.Interval.Duration, cfg.HealthChecks.Timeout.Duration = 2*time.Second, 2*time.Second
	p := startProxy(t, cfg)
	events := p.Subscribe(ctx)
	forceOpen(t, ctx, p, "pg-a") // every session goes to pg-b
	pgb := p.backend("pg-b")

	var wg sync.WaitGroup
	defer wg.Wait()
	report := func(d string) {
		wg.Go(func() {
			conn, err := pgx.Connect(ctx, p.dsn("postgres", ""))
			if err != nil {
				t.Errorf("connect: %v", err)
				return
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(ctx, "SELECT pg_sleep("+d+")"); err != nil {
				t.Errorf("report of %ss: %v", d, err)
			}
		})
	}
	first := time.Now()
	report("2")
	// The first report stuck past half the stall bound asks for a check;
	// the second report starts once that check has answered.
	t.Log("waiting for a health check of pg-b to answer while the first report runs")
	waitFor(t, func() bool {
		r := pgb.Check.Latest()
		return r != nil && r.Start().After(first.Add(250*time.Millisecond)) && r.Done() && !pgb.Check.Slow()
	})
	report("1")
	wg.Wait()
	if st := pgb.Breaker.Stats(p.clock.Now()); st.State != breaker.Closed || st.Detail != "" {
		t.Errorf("pg-b = %v (%q), want CLOSED with nothing held", st.State, st.Detail)
	}
	noOpening(t, events, "pg-b")
}

// noOpening fails the test if the events published so far include a
// CircuitOpened of name.
func noOpening(t *testing.T, events <-chan status.Event, name string) {
	t.Helper()
	for {
		select {
		case ev := <-events:
			if ev.Type == status.CircuitOpened && ev.Backend == name {
				t.Errorf("%s opened (%s: %s)", name, ev.Reason, ev.Detail)
			}
		default:
			return
		}
	}
}
