package proxy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// splitProxy is replicated with one replica, its user pooled in
// transaction mode with the read/write split on.
func splitProxy(t *testing.T, ctx context.Context) (*runningProxy, []*pgtest.Cluster) {
	t.Helper()
	var password string
	p, cs := replicated(t, ctx, 1, func(cfg *config.Config) {
		password = cfg.HealthChecks.Password
		cfg.Pool.Mode = "transaction"
		cfg.Pool.ReadWriteSplit = true
		cfg.Users = []config.User{{Name: "postgres", Password: password}}
	})
	return p, cs
}

// port runs sql (which returns a server port first) on conn.
func port(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var port int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&port); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return port
}

// TestReadWriteSplit: in transaction mode with pool.read_write_split, a
// single read-only statement goes to the replica, writes, locking reads,
// and multi-statement requests to the primary, and BEGIN READ ONLY takes
// the whole transaction to the replica; in both protocols.
func TestReadWriteSplit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, cs := splitProxy(t, ctx)
	primary, replica := cs[0].Port, cs[1].Port
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
		t.Run(mode.String(), func(t *testing.T) {
			cfg, err := pgx.ParseConfig(p.dsn("postgres", cs[0].Password))
			if err != nil {
				t.Fatal(err)
			}
			cfg.DefaultQueryExecMode = mode
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			reads := []string{"SELECT inet_server_port()", "/* a report */ SELECT inet_server_port() FROM generate_series(1, 3) LIMIT 1"}
			for _, sql := range reads {
				if got := port(t, ctx, conn, sql); got != replica {
					t.Errorf("%s ran on port %d, want the replica's %d", sql, got, replica)
				}
			}
			tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			first := port(t, ctx, tx.Conn(), "SELECT inet_server_port()")
			second := port(t, ctx, tx.Conn(), "SELECT inet_server_port()")
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if first != replica || second != replica {
				t.Errorf("BEGIN READ ONLY transaction ran on ports %d and %d, want the replica's %d", first, second, replica)
			}
			// What may write or lock goes to the primary (and then reads
			// stay there until the replica replays it: TestReadYourWrites).
			for _, sql := range []string{
				"SELECT inet_server_port() FROM (SELECT 1) s FOR UPDATE",
				"WITH w AS (INSERT INTO writes (tag) VALUES ('split') RETURNING at_port) SELECT at_port FROM w",
				"SELECT inet_server_port() FROM (SELECT nextval('writes_id_seq')) s",
			} {
				if got := port(t, ctx, conn, sql); got != primary {
					t.Errorf("%s ran on port %d, want the primary's %d", sql, got, primary)
				}
			}
			tx, err = conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := port(t, ctx, tx.Conn(), "SELECT inet_server_port()"); got != primary {
				t.Errorf("a read in a read-write transaction ran on port %d, want the primary's %d", got, primary)
			}
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSplitKeepsPrimaryWork: under the split, a read-write session is a
// session on the primary to its client, and the statements that only
// look read-only stay there: SHOW transaction_read_only says off and
// pg_is_in_recovery() false (a replica said on and true, in a session
// whose writes succeed), pg_current_wal_lsn() and txid_current() work
// (PostgreSQL refuses them during recovery: 55000, 25006), and every
// advisory-lock function takes its lock on the primary, where the other
// clients' locks are (pg_try_advisory_lock ran on a replica and "got" a
// lock the primary's holder had). Each statement in a session of its own
// (no read-your-writes stickiness), with psql (simple protocol) and pgx
// (extended).
func TestSplitKeepsPrimaryWork(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, cs := splitProxy(t, ctx)
	su := superuser(t, ctx, cs[0])
	dsn := p.dsn("postgres", cs[0].Password)
	if got := port(t, ctx, connect(t, ctx, dsn), "SELECT inet_server_port()"); got != cs[1].Port {
		t.Fatalf("a plain read ran on port %d, want the replica's %d: the split is not on", got, cs[1].Port)
	}
	// The primary's own session holds advisory lock 7: a lock taken on
	// the primary through the proxy is refused.
	if _, err := su.Exec(ctx, "SELECT pg_advisory_lock(7)"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ sql, want string }{
		{"SHOW transaction_read_only", "off"},
		{"SELECT pg_is_in_recovery()::text", "false"},
		{"SELECT (pg_current_wal_lsn() > '0/0')::text", "true"},
		{"SELECT (txid_current() > 0)::text", "true"},
		{"SELECT (pg_current_xact_id()::text::bigint > 0)::text", "true"},
		{"SELECT pg_try_advisory_lock(7)::text", "false"},
		{"SELECT pg_try_advisory_lock_shared(7)::text", "false"},
		{"SELECT pg_try_advisory_xact_lock(7)::text", "false"},
		{"SELECT pg_notify('split', 'x')::text", ""},
	} {
		conn := connect(t, ctx, dsn)
		var got string
		if err := conn.QueryRow(ctx, c.sql).Scan(&got); err != nil || got != c.want {
			t.Errorf("pgx: %s = %q, %v; want %q", c.sql, got, err, c.want)
		}
		conn.Close(ctx)
		if out, err := psql(t, cs[0], dsn, cs[0].Password, c.sql); err != nil || out != c.want {
			t.Errorf("psql: %s = %q, %v; want %q", c.sql, out, err, c.want)
		}
	}
}

// connect opens a pgx session to dsn, closed when the test ends.
func connect(t *testing.T, ctx context.Context, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestReadYourWrites: after a transaction that may have written, the
// session's split reads go to the primary until the replica is known to
// have replayed it; then they go to the replica, and see the write.
func TestReadYourWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, cs := splitProxy(t, ctx)
	primary, replica := cs[0].Port, cs[1].Port
	conn, err := pgx.Connect(ctx, p.dsn("postgres", cs[0].Password))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Hold replay, so that the replica cannot have the write.
	if err := cs[1].PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	if got := port(t, ctx, conn, "INSERT INTO writes (tag) VALUES ('ryw') RETURNING at_port"); got != primary {
		t.Fatalf("write ran on port %d, want the primary's %d", got, primary)
	}
	const read = "SELECT inet_server_port(), count(*) FROM writes WHERE tag = 'ryw'"
	check := func(what string) (port int) {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, read).Scan(&port, &n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("%s: the read on port %d sees %d of the session's rows, want 1", what, port, n)
		}
		return port
	}
	for i := range 5 {
		if got := check(fmt.Sprint("read ", i, " with replay paused")); got != primary {
			t.Errorf("read %d ran on port %d before the replica replayed the write, want the primary's %d", i, got, primary)
		}
	}
	if err := cs[1].ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	// The proxy learns at a health check that the replica caught up.
	for check("read after replay resumed") != replica {
		select {
		case <-ctx.Done():
			t.Fatalf("reads never went back to the replica: %v", roles(p.Snapshot()))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestSettingsAreNotWrites: a session's SET, RESET and SHOW (which drivers
// send right after their login: pgjdbc sets extra_float_digits and
// application_name) write nothing, so its next split reads go to the
// replica at once. Before, each counted as a write for read-your-writes,
// and the reads stayed on the primary until the replica was known to have
// replayed whatever the primary had written by then: with a short-lived
// session (or a replica a little behind), never. Replay is paused here
// with the replica behind the primary, so that such a wait never ends.
func TestSettingsAreNotWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, cs := splitProxy(t, ctx)
	replica := cs[1].Port
	if err := cs[1].PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cs[0].Exec(ctx, "INSERT INTO writes (tag) VALUES ('not replayed')"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, p.dsn("postgres", cs[0].Password))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, sql := range []string{"SET extra_float_digits = 3", "SET application_name = 'PostgreSQL JDBC Driver'", "RESET search_path"} {
		if _, err := conn.Exec(ctx, sql); err != nil { // simple protocol
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, sql, pgx.QueryExecModeExec); err != nil { // extended
			t.Fatal(err)
		}
		if got := port(t, ctx, conn, "SELECT inet_server_port()"); got != replica {
			t.Errorf("read after %q ran on port %d, want the replica's %d", sql, got, replica)
		}
	}
	var name string
	if err := conn.QueryRow(ctx, "SHOW application_name").Scan(&name); err != nil || name != "PostgreSQL JDBC Driver" {
		t.Errorf("SHOW application_name = %q, %v", name, err)
	}
	if got := port(t, ctx, conn, "SELECT inet_server_port()"); got != replica {
		t.Errorf("read after SHOW ran on port %d, want the replica's %d", got, replica)
	}
	// A write still keeps the session's reads off the replica.
	if _, err := conn.Exec(ctx, "INSERT INTO writes (tag) VALUES ('mine')"); err != nil {
		t.Fatal(err)
	}
	if got := port(t, ctx, conn, "SELECT inet_server_port()"); got == replica {
		t.Errorf("read after the session's write ran on the replica, which has not replayed it")
	}
}

// TestSplitStatementParsedWithItsBind: a named statement whose Parse
// comes in the same request as its first Bind (pgjdbc does so from the
// fifth execution of a PreparedStatement, prepareThreshold) is split by
// its text like any other. Before, the Bind's statement was not known yet
// when the request was judged: it went to the primary, counted as a
// possible write, and with read-your-writes every read of the session
// after it went to the primary too.
func TestSplitStatementParsedWithItsBind(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, cs := splitProxy(t, ctx)
	replica := cs[1].Port
	conn, err := pgx.Connect(ctx, p.dsn("postgres", cs[0].Password))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for i := range 3 {
		name := fmt.Sprint("S_", i+1)
		pl := conn.PgConn().StartPipeline(ctx)
		pl.SendPrepare(name, "SELECT inet_server_port()", nil)
		pl.SendQueryPrepared(name, nil, nil, nil)
		pl.SendPipelineSync()
		if err := pl.Flush(); err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			res, err := pl.GetResults()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if rr, ok := res.(*pgconn.ResultReader); ok {
				r := rr.Read()
				if r.Err != nil || len(r.Rows) != 1 {
					t.Fatalf("%s: %v, %d rows", name, r.Err, len(r.Rows))
				}
				got = append(got, string(r.Rows[0][0]))
			}
			if _, ok := res.(*pgconn.PipelineSync); ok {
				break
			}
		}
		if err := pl.Close(); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprint(replica); len(got) != 1 || got[0] != want {
			t.Errorf("%s prepared and run in one request ran on port %v, want the replica's %s", name, got, want)
		}
		if got := port(t, ctx, conn, "SELECT inet_server_port()"); got != replica {
			t.Errorf("read after %s ran on port %d, want the replica's %d", name, got, replica)
		}
	}
}

// TestSplitExtendedBeginReadOnly: pgjdbc with setReadOnly(true) and
// autocommit off sends BEGIN READ ONLY in the extended protocol, in one
// request with the transaction's first statement; the whole transaction
// goes to the replica, as a simple-protocol BEGIN READ ONLY does. Before,
// it went to the primary (two statements in one request).
func TestSplitExtendedBeginReadOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, cs := splitProxy(t, ctx)
	replica := fmt.Sprint(cs[1].Port)
	conn, err := pgx.Connect(ctx, p.dsn("postgres", cs[0].Password))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	pl := conn.PgConn().StartPipeline(ctx)
	pl.SendQueryParams("BEGIN READ ONLY", nil, nil, nil, nil)
	pl.SendQueryParams("SELECT inet_server_port()", nil, nil, nil, nil)
	pl.SendPipelineSync()
	if err := pl.Flush(); err != nil {
		t.Fatal(err)
	}
	var ports []string
	for {
		res, err := pl.GetResults()
		if err != nil {
			t.Fatal(err)
		}
		if rr, ok := res.(*pgconn.ResultReader); ok {
			r := rr.Read()
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			for _, row := range r.Rows {
				ports = append(ports, string(row[0]))
			}
		}
		if _, ok := res.(*pgconn.PipelineSync); ok {
			break
		}
	}
	if err := pl.Close(); err != nil {
		t.Fatal(err)
	}
	if len(ports) != 1 || ports[0] != replica {
		t.Errorf("first statement of the BEGIN READ ONLY transaction ran on port %v, want the replica's %s", ports, replica)
	}
	var again int
	if err := conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&again); err != nil || fmt.Sprint(again) != replica {
		t.Errorf("next statement of the transaction on port %d (%v), want the replica's %s", again, err, replica)
	}
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
}

// TestWritesWaitForPromotion: a session that needs a primary while there
// is none (killed, its replica not yet promoted) waits for the promotion
// (backends.primary_wait_timeout) instead of failing at once.
func TestWritesWaitForPromotion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, cs := replicated(t, ctx, 1, func(cfg *config.Config) {
		cfg.Backends.PrimaryWaitTimeout = config.Duration{Duration: 30 * time.Second}
	})
	if err := cs[0].Kill(); err != nil {
		t.Fatal(err)
	}
	// The proxy sees the primary gone.
	waitStatus(t, ctx, p, "the primary's circuit open", func(snap status.Snapshot) bool {
		return backendStatus(snap, "pg-a").CircuitState != status.Closed
	})
	done := make(chan error, 1)
	var landed int
	go func() {
		var err error
		landed, err = write(ctx, p.dsn("postgres", ""), "waited")
		done <- err
	}()
	// Its session is under way (routing, waiting for a primary) before
	// the promotion: without the wait it would fail with 57P03.
	for p.front.Sessions() == 0 {
		select {
		case err := <-done:
			t.Fatalf("the write ended before its session showed: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	if err := cs[1].Promote(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the waiting write failed: %v", err)
	}
	if landed != cs[1].Port {
		t.Errorf("the waiting write landed on port %d, want the promoted %d", landed, cs[1].Port)
	}
}
