package proxy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/config"
)

// TestMinPoolSizeOnlyForPoolsWithClients: min_pool_size keeps server
// connections open for a user and database only while a client of theirs
// is logged in, as PgBouncer does. Before, a pool kept its minimum for
// as long as the proxy ran once any client had used it: a database a
// pooled role had touched once could never be dropped (DROP DATABASE
// waited for the proxy's connection and failed with 55006 "being accessed
// by other users", also after server_idle_timeout, which only replaced
// the connection), and a database dropped WITH (FORCE) or never created
// (a client's typo) got a login attempt every second, forever.
func TestMinPoolSizeOnlyForPoolsWithClients(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, p := pooledSetup(t, 1, "transaction", func(cfg *config.Config) {
		cfg.Pool.MinPoolSize = 1
		// Idle connections are replaced every second or so: the pool of
		// the client that stays shows that the pools were maintained.
		cfg.Pool.ServerIdleTimeout = config.Duration{Duration: 500 * time.Millisecond}
	})
	if err := cs[0].Exec(ctx, "CREATE DATABASE shop OWNER app"); err != nil {
		t.Fatal(err)
	}
	direct, err := pgx.Connect(ctx, cs[0].DSN("postgres", "pg-secret", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	pids := func(db string) []int32 {
		t.Helper()
		rows, err := direct.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE usename = 'app' AND datname = $1 ORDER BY pid", db)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// waitPIDs polls the server processes of app on db until cond holds.
	waitPIDs := func(db, what string, cond func([]int32) bool) []int32 {
		t.Helper()
		for {
			if got := pids(db); cond(got) {
				return got
			}
			select {
			case <-ctx.Done():
				t.Fatalf("app's server processes on %s: never %s (now %v)", db, what, pids(db))
			case <-time.After(20 * time.Millisecond): // polling the backend's view
			}
		}
	}

	// The client that stays, on postgres.
	stays, err := pgconn.Connect(ctx, p.dsn("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer stays.Close(ctx)
	// A client that used shop and left.
	shopDSN := strings.Replace(p.dsn("app", "app-secret"), "dbname=postgres", "dbname=shop", 1)
	left, err := pgconn.Connect(ctx, shopDSN)
	if err != nil {
		t.Fatal(err)
	}
	res, err := left.Exec(ctx, "SELECT pg_backend_pid()::text").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var used int32
	if _, err := fmt.Sscan(string(res[0].Rows[0][0]), &used); err != nil {
		t.Fatal(err)
	}
	left.Close(ctx)
	// Once shop's connection has been idle past server_idle_timeout, two
	// rounds of maintenance replace the connection of the client that
	// stays; shop, whose client left, gets none.
	first := waitPIDs("postgres", "opened", func(got []int32) bool { return len(got) > 0 })
	waitPIDs("shop", "without the connection its client used", func(got []int32) bool { return !slices.Contains(got, used) })
	seen := first
	for range 2 {
		seen = waitPIDs("postgres", "replaced", func(got []int32) bool {
			return len(got) > 0 && !slices.ContainsFunc(got, func(pid int32) bool { return slices.Contains(seen, pid) })
		})
	}
	if got := pids("shop"); len(got) > 0 {
		t.Errorf("server processes %v on shop, whose only client left: min_pool_size kept for a pool without clients", got)
	}
	// So shop can be dropped (no FORCE needed), as on PostgreSQL alone.
	if err := cs[0].Exec(ctx, "DROP DATABASE shop"); err != nil {
		t.Errorf("DROP DATABASE shop after its client left: %v", err)
	}
}
