package proxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/goleak"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// TestRunLeavesNoGoroutine: once Run returns, every goroutine it started
// has ended — sessions, health checkers, the tick, pool maintenance and
// isolation, the readers of pooled connections (every pool is closed) —
// after relayed, pooled and status sessions, a circuit forced open and a
// reload that drains a backend.
func TestRunLeavesNoGoroutine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var clusters []*pgtest.Cluster
	for _, name := range []string{"leak-a", "leak-b"} {
		c := pgtest.New(t, pgtest.Options{Name: name, Auth: "scram-sha-256", Password: "pg-secret"})
		if err := c.CreateUser(ctx, "app", "app-secret"); err != nil {
			t.Fatal(err)
		}
		clusters = append(clusters, c)
	}
	cfg := testConfig(t, clusters...)
	cfg.Pool.Mode = "transaction"
	cfg.Pool.MinPoolSize = 2
	cfg.Users = []config.User{{Name: "app", Password: "app-secret"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// Everything running now (the clusters' helpers, the test runner's)
	// is not the proxy's.
	ignore := goleak.IgnoreCurrent()

	srv, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	reloaded := cfg
	reloaded.Backends.Instances = cfg.Backends.Instances[:1]
	srv.SetConfigSource(func() (config.Config, []config.Warning, error) { return reloaded, nil, nil })
	addr, stop := runUntilStop(t, ctx, srv)
	p := &runningProxy{Server: srv, Addr: addr}

	host, port, _ := net.SplitHostPort(p.Addr)
	for _, dsn := range []string{p.dsn("app", "app-secret"), p.dsn("postgres", "pg-secret"),
		"host=" + host + " port=" + port + " user=postgres dbname=helios_proxy sslmode=disable"} {
		for range 3 {
			pc, err := pgconn.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pc.Exec(ctx, "SELECT 1; SELECT count(*) FROM helios_proxy.backends").ReadAll(); err != nil && pgCode(err) != "0A000" {
				t.Fatal(err)
			}
			defer pc.Close(ctx)
		}
	}
	forceOpen(t, ctx, p, "pg-b")
	if err := srv.SetOverride(ctx, status.Override{Backend: "pg-b", State: status.Closed, Reason: "test", Author: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	goleak.VerifyNone(t, ignore)
}
