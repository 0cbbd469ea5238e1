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

// guardedTrio starts three clusters and a proxy in front of them with
// the health checks at their defaults (1s interval, 500ms timeout), so that
// three failed checks take seconds, and forces pg-a OPEN: with one circuit
// of three open, the max-ejection guard (50%) holds back every latency
// trip of the others.
func guardedTrio(t *testing.T, ctx context.Context, prefix string, setup string) ([]*pgtest.Cluster, *runningProxy, <-chan status.Event) {
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
	cfg.HealthChecks.Interval.Duration, cfg.HealthChecks.Timeout.Duration = time.Second, 500*time.Millisecond
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
	cs, p, events := guardedTrio(t, ctx, "hung", "")
	load := startLoad(t, p.dsn("postgres", ""), 6)
	waitSessions(t, ctx, p)
	forceOpen(t, ctx, p, "pg-a")

	victim := cs[1]
	opened := pauseUntilOpen(t, ctx, events, victim, "pg-b")
	if opened.Reason != "hung" || !strings.HasPrefix(opened.Detail, "hung: ") || !strings.Contains(opened.Detail, "the health check timed out") {
		t.Errorf("pg-b opened with reason %q (%s), want hung: the hung rule, not the health checks' hard_failure", opened.Reason, opened.Detail)
	}
	if got := p.backend("pg-c").br.State(); got != breaker.Closed {
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
	cs, p, events := guardedTrio(t, ctx, "stall", "CREATE TABLE hang_t (x int); INSERT INTO hang_t VALUES (1)")
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
		return strings.HasPrefix(b.br.Stats(p.clock.Now()).Detail, "held by max-ejection guard")
	})
	heldAt := time.Now()
	// A health check begun after that, and answered: the proof the
	// backend is up, however stuck its queries are.
	t.Log("waiting for a health check of pg-b to answer during the stall")
	waitFor(t, func() bool {
		r := b.check.Load()
		return r != nil && r.start > heldAt.UnixNano() && r.done.Load() && !b.checkSlow.Load()
	})
	st := b.br.Stats(p.clock.Now())
	if st.State != breaker.Closed || !strings.Contains(st.Detail, "stall:") {
		t.Errorf("pg-b = %v (%s), want CLOSED with the stall held", st.State, st.Detail)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-events:
			if ev.Type == status.CircuitOpened && ev.Backend == "pg-b" {
				t.Errorf("pg-b opened (%s: %s), want it held", ev.Reason, ev.Detail)
			}
			continue
		default:
		}
		break
	}
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
