package proxy

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// TestEventLoopPooledClient: a plain client of a pooled user is read by
// the event loop too, and what the loop cannot do without waiting goes to
// the session's goroutine and back: a statement the proxy answers in the
// middle of a pipeline, transactions that wait for the only connection of
// a full pool, a request larger than the client's buffer; the client's
// socket leaves the loop when it sends Terminate or vanishes mid-query,
// and the server connection goes on serving others.
func TestEventLoopPooledClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	clusters, p := pooledSetup(t, 1, "transaction", func(cfg *config.Config) {
		cfg.Proxy.Workers = 1
		cfg.Pool.DefaultPoolSize = 1
		cfg.Pool.QueryWaitTimeout = config.Duration{Duration: 3 * time.Second}
		cfg.CircuitBreaker.LatencyThresholdP95Ms = 0
		cfg.CircuitBreaker.LatencyThresholdP99Ms = 0
	})
	c := clusters[0]
	poll(t, 10*time.Second, "the event loops", func() (bool, string) { return p.front.Loops() != nil, "none" })
	loops := p.front.Loops()
	// onLoop waits until the loop reads clients plain clients and the
	// pool's connection.
	onLoop := func(t *testing.T, clients int) {
		t.Helper()
		poll(t, 10*time.Second, "clients and the server connection on the loop", func() (bool, string) {
			n := serverConnections(t, ctx, c)
			r := loops.Relays()
			return n == 1 && r == int64(clients+1), fmt.Sprintf("%d on the loop, %d server connections, %d clients", r, n, clients)
		})
	}

	t.Run("PipelineAcrossTheHandOver", func(t *testing.T) {
		// Three Queries in one write: the loop relays the first, hands
		// the second (the proxy's) to the goroutine, which goes on with
		// the third; the answers come in order.
		pc, err := pgconn.Connect(ctx, p.dsn("app", "app-secret"))
		if err != nil {
			t.Fatal(err)
		}
		pipelineAcrossHandOver(t, pc.Conn())
		onLoop(t, 1)
		pc.Close(ctx)
		onLoop(t, 0) // Terminate: off the loop
	})

	t.Run("WaitsForAFullPool", func(t *testing.T) {
		const clients, each = 3, 100
		conns := make([]*pgx.Conn, clients)
		for i := range conns {
			conns[i] = appConn(t, ctx, p)
		}
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for i, conn := range conns {
			wg.Go(func() {
				for k := range each {
					var n int
					if err := conn.QueryRow(ctx, "SELECT $1::int * 10 + $2::int", k, i).Scan(&n); err != nil || n != k*10+i {
						errs <- fmt.Errorf("client %d, transaction %d: %d, %v", i, k, n, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		// One server connection served them all, and every client is
		// back on the loop after its waits.
		onLoop(t, clients)
		for _, conn := range conns {
			conn.Close(ctx)
		}
		onLoop(t, 0)
	})

	t.Run("TimesOutWaitingForAFullPool", func(t *testing.T) {
		holder, waiter := appConn(t, ctx, p), appConn(t, ctx, p)
		tx := holdConnection(t, ctx, holder)
		// The other client's request waits on the loop for the only
		// connection: it shows in the queue, and is shed after
		// pool.query_wait_timeout.
		done := make(chan error, 1)
		go func() {
			_, err := waiter.Exec(ctx, "SELECT 2")
			done <- err
		}()
		poll(t, 10*time.Second, "the request in the pool's queue", func() (bool, string) {
			d := p.Snapshot().Backends[0].QueueDepth
			return d == 1, fmt.Sprint(d)
		})
		if err := <-done; sqlState(err) != "53300" || !strings.Contains(err.Error(), "every connection of the pool is busy") {
			t.Fatalf("request waiting for a full pool: %v, want 53300", err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		// Both go on, back on the loop.
		for _, conn := range []*pgx.Conn{holder, waiter} {
			if _, err := conn.Exec(ctx, "SELECT 3"); err != nil {
				t.Fatal(err)
			}
		}
		onLoop(t, 2)
		holder.Close(ctx)
		waiter.Close(ctx)
		onLoop(t, 0)
	})

	t.Run("LargeRequest", func(t *testing.T) {
		conn := appConn(t, ctx, p)
		big := strings.Repeat("w", 6<<20)
		var n int
		if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT length('%s')", big)).Scan(&n); err != nil || n != len(big) {
			t.Fatalf("6 MiB Query: %d, %v", n, err)
		}
		onLoop(t, 1)
	})

	t.Run("ClientGoneMidQuery", func(t *testing.T) {
		pc, err := pgconn.Connect(ctx, p.dsn("app", "app-secret"))
		if err != nil {
			t.Fatal(err)
		}
		raw := pc.Conn()
		q, _ := (&pgproto3.Query{String: "SELECT pg_sleep(0.3)"}).Encode(nil)
		if _, err := raw.Write(q); err != nil {
			t.Fatal(err)
		}
		if tc, ok := raw.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, not a goodbye
		}
		_ = raw.Close()
		// Its socket leaves the loop; the connection goes on serving.
		poll(t, 10*time.Second, "the vanished client off the loop", func() (bool, string) {
			r := loops.Relays()
			return r <= 1, fmt.Sprint(r)
		})
		conn := appConn(t, ctx, p)
		var s string
		if err := conn.QueryRow(ctx, "SELECT 'still here'").Scan(&s); err != nil || s != "still here" {
			t.Fatalf("after a client vanished mid-query: %q, %v", s, err)
		}
		onLoop(t, 1)
	})
}

// pipelineAcrossHandOver writes three Queries in one write to conn, a
// pooled session on a loop with one backend: the loop relays the first,
// hands the second (the proxy's) to the session's goroutine, which goes
// on with the third; the answers must come in order.
func pipelineAcrossHandOver(t *testing.T, conn net.Conn) {
	t.Helper()
	var batch []byte
	for _, sql := range []string{"SELECT 1", "SELECT count(*) FROM helios_proxy.circuit_breaker_status", "SELECT 3"} {
		batch, _ = (&pgproto3.Query{String: sql}).Encode(batch)
	}
	if _, err := conn.Write(batch); err != nil {
		t.Fatal(err)
	}
	if got := receiveRows(t, conn, 3); fmt.Sprint(got) != "[1 1 3]" {
		t.Fatalf("pipeline answered %v, want [1 1 3] (one backend)", got)
	}
}

// TestEventLoopPooledShutdown: a pooled client on the loop, idle or
// waiting for its answer, is told when the proxy shuts down.
func TestEventLoopPooledShutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := pgtest.New(t, pgtest.Options{Name: "poolstop", Auth: "scram-sha-256", Password: "pg-secret"})
	if err := c.CreateUser(ctx, "app", "app-secret"); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, c)
	cfg.Pool.Mode = "session"
	cfg.Users = []config.User{{Name: "app", Password: "app-secret"}}
	srv, err := New(cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := runUntilStop(t, ctx, srv)
	dsn := fmt.Sprintf("postgres://app:app-secret@%s/postgres?sslmode=disable", addr)
	idle, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close(ctx)
	busy, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close(ctx)
	poll(t, 10*time.Second, "both clients on the loop", func() (bool, string) {
		n := srv.front.Loops().Relays()
		return n == 4, fmt.Sprint(n) // two clients, two server connections
	})
	q, _ := (&pgproto3.Query{String: "SELECT pg_sleep(30)"}).Encode(nil)
	if _, err := busy.Conn().Write(q); err != nil {
		t.Fatal(err)
	}
	stop()
	expectShutdown(t, idle.Conn(), "idle client")
	expectShutdown(t, busy.Conn(), "busy client")
}
