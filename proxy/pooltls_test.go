package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/config"
)

// TestPooledTLSOnTheLoops: pooled sessions whose client and server
// connections are TLS — the proxy offers TLS to clients (tls_cert_file)
// and reaches a TLS-only backend (sslmode = require) — are read and
// written by the event loop like plain ones, next to plain clients: many
// small transactions, a pipeline across a hand-over to the session's
// goroutine, messages larger than a TLS record and than the buffers,
// COPY both ways, transactions that wait for a full pool, libpq's
// Terminate with close_notify, a client that vanishes mid-query, and the
// proxy's shutdown told to a TLS client (57P01) after its socket went
// back to Go's poller.
func TestPooledTLSOnTheLoops(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, _ := tlsCluster(t, "tls-loop")
	su := superuser(t, ctx, c)
	cfg := testConfig(t, c)
	cfg.Proxy.Workers = 1
	cfg.Proxy.TLSCertFile, cfg.Proxy.TLSKeyFile = selfSignedCert(t)
	cfg.Backends.SSLMode = "require"
	cfg.Pool.Mode = "transaction"
	cfg.Pool.DefaultPoolSize = 2
	cfg.Pool.QueryWaitTimeout = config.Duration{Duration: 30 * time.Second}
	cfg.Users = []config.User{{Name: "app", Password: "app-pw"}}
	// Large messages are slow by nature under -race: no latency rule.
	cfg.CircuitBreaker.LatencyThresholdP95Ms = 0
	cfg.CircuitBreaker.LatencyThresholdP99Ms = 0
	srv, err := New(cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := runUntilStop(t, ctx, srv)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	poll(t, 10*time.Second, "the event loops", func() (bool, string) { return srv.front.Loops() != nil, "none" })
	loops := srv.front.Loops()
	dsn := func(sslmode string) string {
		return fmt.Sprintf("postgres://app:app-pw@%s/postgres?sslmode=%s", addr, sslmode)
	}
	connect := func(t *testing.T, sslmode string) *pgx.Conn {
		t.Helper()
		conn, err := pgx.Connect(ctx, dsn(sslmode))
		if err != nil {
			t.Fatal(err)
		}
		_, isTLS := conn.PgConn().Conn().(*tls.Conn)
		if isTLS != (sslmode == "require") {
			t.Fatalf("sslmode=%s: client connection is %T", sslmode, conn.PgConn().Conn())
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	// onLoop waits until the loop has clients clients and every server
	// connection app has, each over TLS.
	onLoop := func(t *testing.T, clients int) {
		t.Helper()
		poll(t, 20*time.Second, "clients and server connections on the loop", func() (bool, string) {
			var n, plain int
			if err := su.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE NOT s.ssl)
				FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = 'app'`).Scan(&n, &plain); err != nil {
				t.Fatal(err)
			}
			r := loops.Relays()
			return plain == 0 && r == int64(clients+n), fmt.Sprintf("%d on the loop, %d server connections (%d plain), %d clients", r, n, plain, clients)
		})
	}

	t.Run("Transactions", func(t *testing.T) {
		tlsConn, plain := connect(t, "require"), connect(t, "disable")
		for i := range 200 {
			for _, conn := range []*pgx.Conn{tlsConn, plain} {
				var n int
				if err := conn.QueryRow(ctx, "SELECT $1::int * 2", i).Scan(&n); err != nil || n != 2*i {
					t.Fatalf("query %d: %d, %v", i, n, err)
				}
			}
		}
		onLoop(t, 2)
	})

	t.Run("PipelineAcrossTheHandOver", func(t *testing.T) {
		pc, err := pgconn.Connect(ctx, dsn("require"))
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close(ctx)
		pipelineAcrossHandOver(t, pc.Conn()) // the *tls.Conn: one write, one record
	})

	t.Run("LargeMessages", func(t *testing.T) {
		conn := connect(t, "require")
		big := strings.Repeat("z", 8<<20)
		var got string
		if err := conn.QueryRow(ctx, "SELECT $1::text", big).Scan(&got); err != nil || got != big {
			t.Fatalf("8 MiB both ways: %d bytes, %v", len(got), err)
		}
		rows, err := conn.Query(ctx, "SELECT i, repeat(md5(i::text), 40) FROM generate_series(1, 20000) i")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var i int
			var s string
			if err := rows.Scan(&i, &s); err != nil {
				t.Fatal(err)
			}
			if n++; i != n || len(s) != 1280 {
				t.Fatalf("row %d: %d, %d bytes", n, i, len(s))
			}
		}
		if rows.Err() != nil || n != 20000 {
			t.Fatalf("%d rows, %v; want 20000", n, rows.Err())
		}
	})

	t.Run("Copy", func(t *testing.T) {
		conn := connect(t, "require")
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "CREATE TEMP TABLE tls_copy (i int, s text) ON COMMIT DROP"); err != nil {
			t.Fatal(err)
		}
		const rows = 50000
		in := make([][]any, rows)
		for i := range in {
			in[i] = []any{i, strings.Repeat("c", i%300)}
		}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"tls_copy"}, []string{"i", "s"}, pgx.CopyFromRows(in))
		if err != nil || n != rows {
			t.Fatalf("COPY FROM: %d rows, %v", n, err)
		}
		var buf strings.Builder
		tag, err := conn.PgConn().CopyTo(ctx, &buf, "COPY tls_copy TO STDOUT")
		if err != nil || tag.RowsAffected() != rows {
			t.Fatalf("COPY TO: %v, %v", tag, err)
		}
		if lines := strings.Count(buf.String(), "\n"); lines != rows {
			t.Fatalf("COPY TO gave %d lines, want %d", lines, rows)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("WaitsForAFullPool", func(t *testing.T) {
		// Four TLS clients on two connections, each transaction two
		// statements long: most wait for a connection on the loop.
		const clients, each = 4, 50
		conns := make([]*pgx.Conn, clients)
		for i := range conns {
			conns[i] = connect(t, "require")
		}
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for i, conn := range conns {
			wg.Go(func() {
				for j := range each {
					tx, err := conn.Begin(ctx)
					if err != nil {
						errs <- err
						return
					}
					var n int
					if err := tx.QueryRow(ctx, "SELECT $1::int + $2::int", i, j).Scan(&n); err != nil || n != i+j {
						errs <- fmt.Errorf("client %d, transaction %d: %d, %v", i, j, n, err)
						return
					}
					if err := tx.Commit(ctx); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})

	t.Run("LibpqTerminate", func(t *testing.T) {
		// psql sends Terminate and close_notify as it leaves: the session
		// ends as a Terminate does, and the loop lets the socket go.
		onLoop(t, 0)
		out, err := psql(t, c, dsn("require"), "app-pw", "SELECT 6 * 7; SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
		if err != nil || out != "42\nt" {
			t.Fatalf("psql over TLS: %q, %v", out, err)
		}
		onLoop(t, 0)
	})

	t.Run("ClientGoneMidQuery", func(t *testing.T) {
		pc, err := pgconn.Connect(ctx, dsn("require"))
		if err != nil {
			t.Fatal(err)
		}
		q, _ := (&pgproto3.Query{String: "SELECT pg_sleep(0.3)"}).Encode(nil)
		if _, err := pc.Conn().Write(q); err != nil {
			t.Fatal(err)
		}
		// The TCP socket under TLS, closed without a word.
		_ = pc.Conn().(*tls.Conn).NetConn().Close()
		onLoop(t, 0)
		conn := connect(t, "require")
		var n int
		if err := conn.QueryRow(ctx, "SELECT 5").Scan(&n); err != nil || n != 5 {
			t.Fatalf("after a client vanished: %d, %v", n, err)
		}
	})

	t.Run("Shutdown", func(t *testing.T) {
		idle, err := pgconn.Connect(ctx, dsn("require"))
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close(ctx)
		busy, err := pgconn.Connect(ctx, dsn("require"))
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close(ctx)
		q, _ := (&pgproto3.Query{String: "SELECT pg_sleep(30)"}).Encode(nil)
		if _, err := busy.Conn().Write(q); err != nil {
			t.Fatal(err)
		}
		poll(t, 10*time.Second, "the busy client's query on the backend", func() (bool, string) {
			var n int
			if err := su.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n == 1, fmt.Sprint(n)
		})
		stopped = true
		stop()
		expectShutdown(t, idle.Conn(), "idle TLS client")
		expectShutdown(t, busy.Conn(), "busy TLS client")
	})
}
