package proxy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/config"
)

// TestEventLoopPooled: plain pooled server connections are read by the
// proxy's event loop (proxy.workers = 1) from their login to their close,
// in transaction mode, where they change sessions at every transaction;
// what the goroutine reader guaranteed still holds: a client that does
// not read holds up its own server connection only and then gets every
// row, a server that does not read holds up its client's writes, large
// messages and COPY cross whole, and a connection the server ends while
// idle leaves the pool.
func TestEventLoopPooled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	clusters, p := pooledSetup(t, 1, "transaction", func(cfg *config.Config) {
		cfg.Proxy.Workers = 1
		cfg.Proxy.ClientWriteTimeout = config.Duration{Duration: time.Minute}
		cfg.HealthChecks.Interval = config.Duration{Duration: 5 * time.Second}
		cfg.HealthChecks.Timeout = config.Duration{Duration: 5 * time.Second}
		// Large requests are slow by nature under -race: no latency rule.
		cfg.CircuitBreaker.LatencyThresholdP95Ms = 0
		cfg.CircuitBreaker.LatencyThresholdP99Ms = 0
	})
	c := clusters[0]
	poll(t, 10*time.Second, "the event loops", func() (bool, string) { return p.front.Loops() != nil, "none" })
	loops := p.front.Loops()
	direct, err := pgx.Connect(ctx, c.DSN("postgres", c.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	// onLoop waits until the loop reads every server connection app has,
	// and the sockets of its plain clients open now.
	onLoop := func(t *testing.T, clients int) int {
		t.Helper()
		var n int
		poll(t, 10*time.Second, "app's server connections and plain clients on the loop", func() (bool, string) {
			n = serverConnections(t, ctx, c)
			r := loops.Relays()
			return n > 0 && r == int64(n+clients), fmt.Sprintf("%d on the loop, %d server connections, %d clients", r, n, clients)
		})
		return n
	}

	t.Run("ServerConnectionsOnTheLoop", func(t *testing.T) {
		conn := appConn(t, ctx, p)
		for i := range 100 {
			var n int
			if err := conn.QueryRow(ctx, "SELECT $1::int + 1", i).Scan(&n); err != nil || n != i+1 {
				t.Fatalf("query %d: %d, %v", i, n, err)
			}
		}
		onLoop(t, 1)
		// The server ends an idle pooled connection: the loop sees it go,
		// the pool forgets it, and the next transaction gets another.
		if _, err := direct.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app'"); err != nil {
			t.Fatal(err)
		}
		poll(t, 10*time.Second, "the ended connections off the loop", func() (bool, string) {
			return loops.Relays() == 1, fmt.Sprint(loops.Relays()) // the client
		})
		var n int
		if err := conn.QueryRow(ctx, "SELECT 7").Scan(&n); err != nil || n != 7 {
			t.Fatalf("after the server ended the idle connections: %d, %v", n, err)
		}
		onLoop(t, 1)
	})

	t.Run("LargeMessagesAndCopy", func(t *testing.T) {
		largeMessagesAndCopy(t, ctx, appConn(t, ctx, p), "CREATE TABLE looped (n int, s text)")
		onLoop(t, 1)
	})

	t.Run("ClientThatDoesNotRead", func(t *testing.T) {
		stuck, err := pgconn.Connect(ctx, p.dsn("app", "app-secret"))
		if err != nil {
			t.Fatal(err)
		}
		defer stuck.Close(ctx)
		// More than the sockets on the way hold (a few MiB each on
		// loopback); a small receive buffer would stall on TCP's
		// zero-window probes once the client reads.
		const rows = 50000
		rr := stuck.ExecParams(ctx, fmt.Sprintf("SELECT g, repeat('x', 2000) FROM generate_series(1, %d) g", rows), nil, nil, nil, nil)
		// The server fills what the proxy lets through and then waits on
		// its client: the proxy stopped reading it.
		poll(t, 30*time.Second, "the stuck client's server connection waits on ClientWrite", func() (bool, string) {
			var w string
			err := direct.QueryRow(ctx, "SELECT coalesce(string_agg(wait_event, ','), '') FROM pg_stat_activity WHERE usename = 'app' AND state = 'active'").Scan(&w)
			return err == nil && w == "ClientWrite", fmt.Sprint(w, err)
		})
		// Other sessions on the same loop go on.
		conn := appConn(t, ctx, p)
		for i := range 200 {
			var n int
			if err := conn.QueryRow(ctx, "SELECT $1::int", i).Scan(&n); err != nil || n != i {
				t.Fatalf("query %d while a client does not read: %d, %v", i, n, err)
			}
		}
		// Then the client reads: every row arrives, in order.
		n := 0
		for rr.NextRow() {
			n++
			if got := string(rr.Values()[0]); got != fmt.Sprint(n) {
				t.Fatalf("row %d is %s", n, got)
			}
		}
		if _, err := rr.Close(); err != nil || n != rows {
			t.Fatalf("%d rows, want %d: %v", n, rows, err)
		}
		onLoop(t, 2)
	})

	t.Run("ServerThatDoesNotRead", func(t *testing.T) {
		// The server sleeps while the client pipelines a 16 MiB query
		// behind: what the server's socket does not take waits for the
		// loop, and the client's next batch for that.
		conn := appConn(t, ctx, p)
		big := strings.Repeat("y", 16<<20)
		b := &pgx.Batch{}
		b.Queue("SELECT pg_sleep(1)::text")
		b.Queue("SELECT length($1::text)::text", big)
		b.Queue("SELECT 'after'")
		res := conn.SendBatch(ctx, b)
		var got []string
		for range 3 {
			var s string
			if err := res.QueryRow().Scan(&s); err != nil {
				t.Fatalf("after %q: %v", got, err)
			}
			got = append(got, s)
		}
		if err := res.Close(); err != nil {
			t.Fatal(err)
		}
		if want := []string{"", fmt.Sprint(len(big)), "after"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}
