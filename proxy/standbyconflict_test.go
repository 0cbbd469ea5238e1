package proxy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// TestStandbyConflictIsNotABackendFailure: a hot standby ends the sessions
// that conflict with what it replays (here a DROP TABLE on the primary
// while pooled transactions on the replica hold the table) with FATAL
// 40001 "terminating connection due to conflict with recovery". That is
// the application's transaction losing to replication, not the replica
// failing: the clients get 40001 and keep their sessions, and the
// replica's circuit records no failure and stays CLOSED.
func TestStandbyConflictIsNotABackendFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The standby cancels conflicting sessions after 100ms, not 30s.
	primary := pgtest.New(t, pgtest.Options{Name: "conflict-primary", Settings: map[string]string{"max_standby_streaming_delay": "100ms"}})
	if err := primary.CreateUser(ctx, "app", "app-secret"); err != nil {
		t.Fatal(err)
	}
	replica := pgtest.New(t, pgtest.Options{Name: "conflict-replica", ReplicaOf: primary})
	cfg := testConfig(t, primary, replica)
	cfg.Users = []config.User{{Name: "app", Password: "app-secret"}}
	cfg.Pool.Mode = "transaction"
	n := cfg.CircuitBreaker.ConnectionFailureThreshold
	p := startProxy(t, cfg)
	waitStatus(t, ctx, p, "both roles known", func(snap status.Snapshot) bool {
		return snap.Backends[0].Role == status.RolePrimary && snap.Backends[1].Role == status.RoleReplica
	})

	if err := primary.Exec(ctx, "CREATE TABLE conflicted (x int); INSERT INTO conflicted VALUES (1); GRANT SELECT ON conflicted TO app"); err != nil {
		t.Fatal(err)
	}
	if err := replica.WaitCaughtUp(ctx, primary); err != nil {
		t.Fatal(err)
	}
	// n read-only sessions, each in a transaction on the replica that
	// holds the table.
	var conns []*pgx.Conn
	for i := range n {
		conn, err := pgx.Connect(ctx, p.dsn("app", "app-secret")+readOnlyOption)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		var port, count int
		if err := conn.QueryRow(ctx, "SELECT inet_server_port(), count(*) FROM conflicted").Scan(&port, &count); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		if port != replica.Port {
			t.Fatalf("read-only session %d landed on port %d, want the replica's %d", i, port, replica.Port)
		}
		conns = append(conns, conn)
	}
	if err := primary.Exec(ctx, "DROP TABLE conflicted"); err != nil {
		t.Fatal(err)
	}
	if err := replica.WaitCaughtUp(ctx, primary); err != nil {
		t.Fatal(err)
	}
	for i, conn := range conns {
		// The replica ended the server connection when it replayed the
		// DROP (which waited for it): the next statement is told why.
		_, err := conn.Exec(ctx, "SELECT 1")
		if pgCode(err) != "40001" {
			t.Errorf("session %d after the conflict: %v, want SQLSTATE 40001", i, err)
		}
		var one int
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Errorf("session %d after its 40001: %v, want it usable", i, err)
		}
	}
	b := backendStatus(p.Snapshot(), "pg-b")
	if b.CircuitState != status.Closed || b.FailuresTotal != 0 {
		t.Errorf("replica after %d sessions lost to standby conflicts: %s, %d failures; want CLOSED, none (%v)", n, b.CircuitState, b.FailuresTotal, fmt.Sprint(roles(p.Snapshot())))
	}
}
