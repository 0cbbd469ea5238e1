package proxy

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/config"
)

// TestPooledCancelWhileQueued: in transaction mode, a statement waiting
// for a server connection (every connection of its pool busy) that the
// client cancels (psql's Ctrl-C, a driver's context) never runs: it gets
// 57014 as PostgreSQL answers a cancelled statement, and the session goes
// on, at once rather than when a connection comes free. Before, the
// proxy dropped the CancelRequest of a session with no server connection
// attached, and ran the statement — an INSERT the user had cancelled was
// committed — once a connection came free.
func TestPooledCancelWhileQueued(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clusters, p := pooledSetup(t, 1, "transaction", func(c *config.Config) {
		c.Pool.DefaultPoolSize = 1
		c.Pool.QueryWaitTimeout = config.Duration{Duration: time.Minute}
	})
	su := superuser(t, ctx, clusters[0])
	if _, err := su.Exec(ctx, "CREATE TABLE cancelled_while_queued (x int); GRANT ALL ON cancelled_while_queued TO app"); err != nil {
		t.Fatal(err)
	}
	holder := appConn(t, ctx, p)
	tx := holdConnection(t, ctx, holder) // the pool's only connection
	client, err := pgconn.Connect(ctx, p.dsn("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := client.Exec(ctx, "INSERT INTO cancelled_while_queued VALUES (1)").ReadAll()
		done <- err
	}()
	for p.Snapshot().Backends[0].QueueDepth != 1 {
		select {
		case err := <-done:
			t.Fatalf("INSERT ended before it queued: %v", err)
		case <-ctx.Done():
			t.Fatal("the INSERT never queued for a connection")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := client.CancelRequest(ctx); err != nil {
		t.Fatal(err)
	}
	// Answered at once, as PostgreSQL answers a cancel: not when a
	// connection comes free (query_wait_timeout is a minute).
	select {
	case err := <-done:
		if pgCode(err) != "57014" {
			t.Errorf("INSERT cancelled while waiting for a connection: %v, want 57014", err)
		}
	case <-ctx.Done():
		t.Fatal("the cancelled INSERT still waits for a connection")
	}
	if err := tx.Commit(ctx); err != nil { // the connection comes free
		t.Fatal(err)
	}
	var n int
	if err := su.QueryRow(ctx, "SELECT count(*) FROM cancelled_while_queued").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("rows of the cancelled INSERT: %d, want 0", n)
	}
	if _, err := client.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		t.Errorf("the session after its cancelled statement: %v", err)
	}
}
