package proxy

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// TestQueueDepth: with health_checks.collect_query_queue_depth, sessions
// blocked on a lock the test holds show as backend_waiting (status and
// SQL), routing gives the backend less new work, and both come back once
// the lock is released.
func TestQueueDepth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := pgtest.New(t, pgtest.Options{Name: "queuedepth"})
	if err := c.Exec(ctx, "CREATE TABLE locked (id int)"); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, c)
	cfg.HealthChecks.CollectQueryQueueDepth = true
	cfg.HealthChecks.Interval.Duration = 100 * time.Millisecond
	cfg.HealthChecks.Timeout.Duration = 100 * time.Millisecond
	p := startProxy(t, cfg)
	b := p.list()[0]

	holder, err := pgx.Connect(ctx, c.DSN("postgres", c.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE locked IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for range 2 {
		conn, err := pgx.Connect(ctx, p.dsn("postgres", c.Password))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer conn.Close(context.Background())
			_, _ = conn.Exec(ctx, "SELECT count(*) FROM locked") // waits for the lock
		})
	}
	poll := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("waiting for %s: %v", what, ctx.Err())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	poll("two waiting sessions", func() bool { return p.Snapshot().Backends[0].BackendWaiting == 2 })
	poll("a lower routing factor", func() bool { return b.RoutingFactor() < b.Live().Weight })

	conn, err := pgx.Connect(ctx, p.dsn("postgres", c.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var waiting *int64
	if err := conn.QueryRow(ctx, "SELECT backend_waiting FROM helios_proxy.circuit_breaker_status").Scan(&waiting); err != nil || waiting == nil || *waiting < 2 {
		t.Errorf("backend_waiting through SQL = %v, %v; want at least 2", waiting, err)
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	poll("nothing waiting", func() bool { return p.Snapshot().Backends[0].BackendWaiting == 0 })
	poll("the full routing factor", func() bool { return b.RoutingFactor() == b.Live().Weight })
}
