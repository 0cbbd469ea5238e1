package proxy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/config"
)

// TestTransactionModeAdvisoryLocks: in transaction mode a session that
// takes a session-level advisory lock keeps its server connection until
// it holds none, as migration tools (golang-migrate, Flyway, Rails)
// expect: the lock stays its own between its transactions — no other
// client gets it, or gets it again on the same connection without
// waiting — its unlock runs where the lock is, and its end releases what
// it still holds before the connection serves anyone else. In each of
// pgx's ways to send a statement: prepared under a name (as a migration
// tool's driver caches it), unnamed, and the simple protocol (psql's).
func TestTransactionModeAdvisoryLocks(t *testing.T) {
	for _, mode := range []string{"cache_statement", "exec", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) { testAdvisoryLocks(t, mode) })
	}
}

func testAdvisoryLocks(t *testing.T, mode string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, p := pooledSetup(t, 1, "transaction", func(cfg *config.Config) { cfg.Pool.DefaultPoolSize = 2 })
	connect := func() *pgx.Conn {
		t.Helper()
		c, err := pgx.Connect(ctx, p.dsn("app", "app-secret")+" default_query_exec_mode="+mode)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	x, y := connect(), connect()
	scalar := func(c *pgx.Conn, sql string, v any, args ...any) {
		t.Helper()
		if err := c.QueryRow(ctx, sql, args...).Scan(v); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if _, err := x.Exec(ctx, "SELECT pg_advisory_lock(42)"); err != nil {
		t.Fatal(err)
	}
	var holder int32
	scalar(x, "SELECT pg_backend_pid()", &holder)
	for i := range 3 {
		var got bool
		scalar(y, "SELECT pg_try_advisory_lock(42)", &got)
		if got {
			t.Fatalf("try %d: another client took x's advisory lock 42 (on x's server connection)", i)
		}
		var pid int32
		scalar(x, "SELECT pg_backend_pid()", &pid)
		if pid != holder {
			t.Fatalf("x's transaction %d ran on server process %d, not on %d, which holds its lock", i, pid, holder)
		}
	}
	direct, err := pgx.Connect(ctx, cs[0].DSN("postgres", "pg-secret", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	var lockPID int32
	scalar(direct, "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 42 AND granted", &lockPID)
	if lockPID != holder {
		t.Fatalf("lock 42 is held by server process %d, x's is %d", lockPID, holder)
	}

	var unlocked bool
	scalar(x, "SELECT pg_advisory_unlock(42)", &unlocked)
	if !unlocked {
		t.Fatal("x's unlock did not find its lock")
	}
	if _, err := x.Exec(ctx, "SELECT 1"); err != nil { // checked: none held, its connection goes back
		t.Fatal(err)
	}
	var got bool
	scalar(y, "SELECT pg_try_advisory_lock(42)", &got)
	if !got {
		t.Fatal("lock 42 still held after x unlocked it")
	}
	if _, err := y.Exec(ctx, "SELECT pg_advisory_unlock_all()"); err != nil {
		t.Fatal(err)
	}

	// A client that leaves holding a lock: it is released, and its
	// connection serves others again (not closed).
	z := connect()
	if _, err := z.Exec(ctx, "SELECT pg_advisory_lock_shared(43)"); err != nil {
		t.Fatal(err)
	}
	var zpid int32
	scalar(z, "SELECT pg_backend_pid()", &zpid)
	if err := z.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		var held, alive int
		scalar(direct, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", &held)
		scalar(direct, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", &alive, zpid)
		if held == 0 && alive == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("after its client left, %d advisory locks held, its server process alive: %v", held, alive == 1)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTransactionModeAdvisoryLocksLetGo: a session that only tried for a
// lock it did not get, or took transaction-level ones, keeps no server
// connection: with a pool of one, the next client is served.
func TestTransactionModeAdvisoryLocksLetGo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, p := pooledSetup(t, 1, "transaction", func(cfg *config.Config) {
		cfg.Pool.DefaultPoolSize = 1
		cfg.Pool.QueryWaitTimeout = config.Duration{Duration: 20 * time.Second}
	})
	x, y := appConn(t, ctx, p), appConn(t, ctx, p)
	direct, err := pgx.Connect(ctx, cs[0].DSN("postgres", "pg-secret", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	if _, err := direct.Exec(ctx, "SELECT pg_advisory_lock(7)"); err != nil {
		t.Fatal(err)
	}
	var got bool
	if err := x.QueryRow(ctx, "SELECT pg_try_advisory_lock(7)").Scan(&got); err != nil || got {
		t.Fatalf("x took lock 7 held elsewhere: %v %v", got, err)
	}
	// x's next request finds it holds nothing: the connection is given
	// back at its end, and y, waiting for the pool's one connection,
	// gets it.
	if _, err := x.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := y.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("y was not served while x holds no lock: %v", err)
	}
	tx, err := x.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(8)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := y.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("y was not served after x's transaction-level lock ended: %v", err)
	}
}

// TestTransactionModeAdvisoryLocksIsolated: a session kept attached for
// its advisory lock whose backend is isolated meanwhile is told that the
// lock is gone (its server connection closed), rather than going on
// elsewhere believing it holds it; its next request is served by the
// healthy backend.
func TestTransactionModeAdvisoryLocksIsolated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, p := pooledSetup(t, 2, "transaction", nil)
	x := appConn(t, ctx, p)
	if _, err := x.Exec(ctx, "SELECT pg_advisory_lock(42)"); err != nil {
		t.Fatal(err)
	}
	port := backendPort(t, ctx, x)
	forceOpen(t, ctx, p, backendOn(t, p, port))
	_, err := x.Exec(ctx, "SELECT 1")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "08006" || !strings.Contains(pgErr.Message, "advisory locks were released") {
		t.Fatalf("x's request after its backend was isolated: %v, want 08006 saying its advisory locks were released", err)
	}
	if got := backendPort(t, ctx, x); got == port {
		t.Errorf("x's session still runs on the isolated backend (port %d)", port)
	}
}
