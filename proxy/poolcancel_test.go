package proxy

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
)

// TestPooledCancelRequest cancels statements of pooled clients, on the
// event loops, in both pool modes: the client's CancelRequest reaches the
// server connection that runs its statement (57014, and the session goes
// on; a client's cancel is not a backend failure). In transaction mode a
// client's server connection is someone else's between its transactions:
// a cancel sent then must not reach the other client's statement.
func TestPooledCancelRequest(t *testing.T) {
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			// One server connection: the other client's statement in
			// transaction mode runs on the one a cancelled client used.
			clusters, p := pooledSetup(t, 1, mode, func(cfg *config.Config) { cfg.Pool.DefaultPoolSize = 1 })
			c := clusters[0]
			direct, err := pgx.Connect(ctx, c.DSN("postgres", c.Password, "postgres"))
			if err != nil {
				t.Fatal(err)
			}
			defer direct.Close(ctx)
			serverPID := func(conn *pgx.Conn) uint32 {
				t.Helper()
				var pid uint32
				if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
					t.Fatal(err)
				}
				return pid
			}

			a := appConn(t, ctx, p)
			pid := serverPID(a)
			const sleep = "SELECT pg_sleep(30)"
			done := make(chan error, 1)
			go func() {
				_, err := a.Exec(ctx, sleep)
				done <- err
			}()
			awaitActive(t, ctx, direct, done, "pid = $1 AND query = $2", pid, sleep)
			if err := a.PgConn().CancelRequest(ctx); err != nil {
				t.Fatalf("CancelRequest: %v", err)
			}
			if err := <-done; pgCode(err) != "57014" {
				t.Fatalf("cancelled statement: %v, want SQLSTATE 57014", err)
			}
			var one int
			if err := a.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("the session after its cancel: %d, %v", one, err)
			}
			if b := p.Snapshot().Backends[0]; b.FailuresTotal != 0 {
				t.Errorf("failures_total after a client's cancel = %d, want 0", b.FailuresTotal)
			}
			if mode != "transaction" {
				return
			}

			// a is idle: its server connection (the only one) runs b's
			// statement, and a's cancel now must go nowhere.
			b := appConn(t, ctx, p)
			const other = "SELECT pg_sleep(2)"
			bDone := make(chan error, 1)
			go func() {
				_, err := b.Exec(ctx, other)
				bDone <- err
			}()
			awaitActive(t, ctx, direct, bDone, "pid = $1 AND query = $2", pid, other)
			if err := a.PgConn().CancelRequest(ctx); err != nil {
				t.Fatalf("CancelRequest of the idle client: %v", err)
			}
			if err := <-bDone; err != nil {
				t.Errorf("another client's statement on the server connection an idle client cancelled: %v, want it to complete", err)
			}
		})
	}
}
