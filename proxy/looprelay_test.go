package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// TestEventLoopRelay: plain pass-through sessions are relayed by the
// proxy's event loop (proxy.workers = 1: one loop for every session
// here), and what the goroutine relay guaranteed still holds there: a
// client that does not read holds up its own backend only, large
// messages and COPY cross whole, and a statement the proxy answers or an
// admission that would wait hands the session to the goroutines without
// losing a byte.
func TestEventLoopRelay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := pgtest.New(t, pgtest.Options{Name: "looprelay"})
	p := startLoopProxy(t, c, func(cfg *config.Config) {
		cfg.Proxy.ClientWriteTimeout = config.Duration{Duration: time.Minute}
		// The 24 MiB round trip and the COPYs are slow requests by nature
		// (over 500 ms under -race on a loaded machine): two of a window
		// of twenty opened the only backend on latency.
		cfg.CircuitBreaker.LatencyThresholdP95Ms = 0
		cfg.CircuitBreaker.LatencyThresholdP99Ms = 0
	})
	loops := p.front.Loops()
	if loops.Size() != 1 {
		t.Fatalf("%d event loops, want one (proxy.workers = 1)", loops.Size())
	}
	connect := func(t *testing.T) *pgx.Conn {
		t.Helper()
		conn, err := pgx.Connect(ctx, p.dsn("postgres", c.Password))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	onLoop := func(t *testing.T, want int64) {
		t.Helper()
		poll(t, 10*time.Second, fmt.Sprintf("%d sessions on the loop", want), func() (bool, string) {
			n := loops.Relays()
			return n == want, fmt.Sprint(n)
		})
	}

	t.Run("PlainSession", func(t *testing.T) {
		conn := connect(t)
		var n int
		if err := conn.QueryRow(ctx, "SELECT 41 + $1::int", 1).Scan(&n); err != nil || n != 42 {
			t.Fatalf("query: %d, %v", n, err)
		}
		onLoop(t, 1)
		conn.Close(ctx)
		onLoop(t, 0)
	})

	t.Run("LargeMessagesAndCopy", func(t *testing.T) {
		conn := connect(t)
		onLoop(t, 1)
		largeMessagesAndCopy(t, ctx, conn, "CREATE TEMP TABLE looped (n int, s text)")
		onLoop(t, 1)
	})

	t.Run("ClientThatDoesNotRead", func(t *testing.T) {
		stuck, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer stuck.Close()
		_ = stuck.(*net.TCPConn).SetReadBuffer(4096)
		if err := rawStartupDB(stuck, "postgres", "postgres"); err != nil {
			t.Fatal(err)
		}
		q, _ := (&pgproto3.Query{String: "SELECT g, repeat('x', 1000) FROM generate_series(1, 10000000) g"}).Encode(nil)
		if _, err := stuck.Write(q); err != nil {
			t.Fatal(err)
		}
		// The backend fills what the proxy lets through and then waits on
		// its client: the proxy stopped reading it, it does not buffer the
		// result.
		direct, err := pgconn.Connect(ctx, c.DSN("postgres", c.Password, "postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer direct.Close(ctx)
		poll(t, 30*time.Second, "the stuck client's backend waits on ClientWrite", func() (bool, string) {
			res, err := direct.Exec(ctx, "SELECT coalesce(string_agg(wait_event, ','), '') FROM pg_stat_activity WHERE application_name = 'malformed_test' AND state = 'active'").ReadAll()
			if err != nil || len(res) == 0 || len(res[0].Rows) == 0 {
				return false, fmt.Sprint(err)
			}
			w := string(res[0].Rows[0][0])
			return w == "ClientWrite", w
		})
		// Other sessions on the same loop go on.
		conn := connect(t)
		for i := range 200 {
			var n int
			if err := conn.QueryRow(ctx, "SELECT $1::int", i).Scan(&n); err != nil || n != i {
				t.Fatalf("query %d while a client does not read: %d, %v", i, n, err)
			}
		}
		onLoop(t, 2)
	})

	t.Run("BackendThatDoesNotRead", func(t *testing.T) {
		// The backend sleeps while the client pipelines a 16 MiB query
		// behind: the proxy's writes fill the backend's socket and the
		// rest waits in the client's buffer, the client unread, until the
		// backend reads again.
		conn, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := rawStartupDB(conn, "postgres", "postgres"); err != nil {
			t.Fatal(err)
		}
		onLoop(t, 1)
		big := strings.Repeat("y", 16<<20)
		var out []byte
		out, _ = (&pgproto3.Query{String: "SELECT pg_sleep(1)"}).Encode(out)
		out, _ = (&pgproto3.Query{String: "SELECT length('" + big + "')"}).Encode(out)
		out, _ = (&pgproto3.Query{String: "SELECT 'after'"}).Encode(out)
		werr := make(chan error, 1)
		go func() { _, err := conn.Write(out); werr <- err }()
		rows := receiveRows(t, conn, 3)
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
		if want := []string{"", fmt.Sprint(len(big)), "after"}; fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Fatalf("rows %q, want %q", rows, want)
		}
		onLoop(t, 1)
	})

	t.Run("StatusStatementHandsOver", func(t *testing.T) {
		conn := connect(t)
		onLoop(t, 1)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var a, n, b int
		if err := tx.QueryRow(ctx, "SELECT 1").Scan(&a); err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM helios_proxy.backends").Scan(&n); err != nil || n != 1 {
			t.Fatalf("status statement: %d, %v", n, err)
		}
		onLoop(t, 0) // the goroutines relay the rest of the session
		if err := tx.QueryRow(ctx, "SELECT 2").Scan(&b); err != nil || a != 1 || b != 2 {
			t.Fatalf("after the status statement: %d %d, %v", a, b, err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// largeMessagesAndCopy sends and reads back a 24 MiB value (both
// directions in many reads, the client's message held whole within the
// memory budget), then copies 100,000 rows into the table looped that
// create makes, and out again, byte for byte.
func largeMessagesAndCopy(t *testing.T, ctx context.Context, conn *pgx.Conn, create string) {
	t.Helper()
	big := strings.Repeat("0123456789abcdef", 3<<19)
	var got string
	if err := conn.QueryRow(ctx, "SELECT $1::text || 'end'", big).Scan(&got); err != nil || got != big+"end" {
		t.Fatalf("24 MiB round trip: %d bytes, %v", len(got), err)
	}
	if _, err := conn.Exec(ctx, create); err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	for i := range 100000 {
		fmt.Fprintf(&in, "%d\t%s\n", i, strings.Repeat("x", 100))
	}
	sent := bytes.Clone(in.Bytes())
	tag, err := conn.PgConn().CopyFrom(ctx, &in, "COPY looped FROM STDIN")
	if err != nil || tag.RowsAffected() != 100000 {
		t.Fatalf("COPY FROM: %v, %v", tag, err)
	}
	var out bytes.Buffer
	tag, err = conn.PgConn().CopyTo(ctx, &out, "COPY looped TO STDOUT")
	if err != nil || tag.RowsAffected() != 100000 || !bytes.Equal(out.Bytes(), sent) {
		t.Fatalf("COPY TO: %v, %d bytes (sent %d), %v", tag, out.Len(), len(sent), err)
	}
}

// startLoopProxy starts a proxy in front of c with one event loop
// (proxy.workers = 1), edited by edit, and waits for the loop.
func startLoopProxy(t *testing.T, c *pgtest.Cluster, edit func(*config.Config)) *runningProxy {
	t.Helper()
	cfg := testConfig(t, c)
	cfg.Proxy.Workers = 1
	// One backend, probed on a machine that may be loaded (-race, other
	// packages' tests): a health check must not time out and open it.
	cfg.HealthChecks.Interval = config.Duration{Duration: 5 * time.Second}
	cfg.HealthChecks.Timeout = config.Duration{Duration: 5 * time.Second}
	edit(&cfg)
	p := startProxy(t, cfg)
	poll(t, 10*time.Second, "the event loops", func() (bool, string) { return p.front.Loops() != nil, "none" })
	return p
}

// TestEventLoopAdmissionHandsOver: with a role's rate limit, requests
// within it are admitted on the event loop; the first that would wait
// for its turn hands the session to the goroutines, which make it wait
// (per_user_rate_limit_wait) rather than refuse it, as they always did.
func TestEventLoopAdmissionHandsOver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := pgtest.New(t, pgtest.Options{Name: "loopadmit"})
	cfg := testConfig(t, c)
	cfg.CircuitBreaker.UserLevelBreakersEnabled = true
	cfg.CircuitBreaker.PerUserRateLimit = 20
	cfg.CircuitBreaker.PerUserRateLimitWait = config.Duration{Duration: 10 * time.Second}
	p := startProxy(t, cfg)
	conn, err := pgx.Connect(ctx, p.dsn("postgres", c.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// The bucket holds one second's worth: 20 requests go at once, the
	// next ones wait for their turn, and none is refused.
	for i := range 40 {
		var n int
		if err := conn.QueryRow(ctx, "SELECT $1::int", i).Scan(&n); err != nil || n != i {
			t.Fatalf("request %d: %d, %v", i, n, err)
		}
	}
	if n := p.front.Loops().Relays(); n != 0 {
		t.Errorf("%d sessions still on the loop after requests that had to wait", n)
	}
	var delayed uint64
	for _, u := range p.Snapshot().Users {
		if u.Role == "postgres" {
			delayed = u.DelayedTotal
		}
	}
	if delayed == 0 {
		t.Errorf("no request waited for its turn (users: %+v)", p.Snapshot().Users)
	}
}

// TestEventLoopShutdown: sessions on the event loop are told when the
// proxy shuts down, as those of the goroutines are.
func TestEventLoopShutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := pgtest.New(t, pgtest.Options{Name: "loopstop"})
	srv, err := New(testConfig(t, c), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := runUntilStop(t, ctx, srv)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := rawStartupDB(conn, "postgres", "postgres"); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "the session on the loop", func() (bool, string) {
		n := srv.front.Loops().Relays()
		return n == 1, fmt.Sprint(n)
	})
	stop()
	expectShutdown(t, conn, "client")
}

// expectShutdown reads what the proxy sends conn's client until its
// ErrorResponse, which must say the proxy is shutting down (57P01).
func expectShutdown(t *testing.T, conn net.Conn, who string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	fe := pgproto3.NewFrontend(conn, io.Discard)
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("%s: connection ended without an error message: %v", who, err)
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			if e.Code != "57P01" {
				t.Fatalf("%s told %s %s, want 57P01", who, e.Code, e.Message)
			}
			return
		}
	}
}

// TestEventLoopSessionEnds: the common ends of a pass-through session
// happen on the loop, and end the whole session: the client closes
// without a word (its backend connection closes with it), the client
// sends Terminate (the session ends when the backend has closed after
// it), and the backend hangs after the Terminate (the session still ends,
// after proxy.connect_timeout).
func TestEventLoopSessionEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := pgtest.New(t, pgtest.Options{Name: "loopends"})
	const connectTimeout = time.Second
	p := startLoopProxy(t, c, func(cfg *config.Config) {
		cfg.Proxy.ConnectTimeout = config.Duration{Duration: connectTimeout}
	})
	direct, err := pgx.Connect(ctx, c.DSN("postgres", c.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	// open starts a session on the loop and returns its connection and
	// its backend's pid.
	open := func(t *testing.T) (net.Conn, int) {
		t.Helper()
		conn, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if err := rawStartupDB(conn, "postgres", "postgres"); err != nil {
			t.Fatal(err)
		}
		q, _ := (&pgproto3.Query{String: "SELECT pg_backend_pid()"}).Encode(nil)
		if _, err := conn.Write(q); err != nil {
			t.Fatal(err)
		}
		fe := pgproto3.NewFrontend(conn, io.Discard)
		pid := 0
		for {
			msg, err := fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			if d, ok := msg.(*pgproto3.DataRow); ok {
				fmt.Sscan(string(d.Values[0]), &pid)
			}
			if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
				break
			}
		}
		poll(t, 10*time.Second, "the session on the loop", func() (bool, string) {
			n := p.front.Loops().Relays()
			return n == 1, fmt.Sprint(n)
		})
		return conn, pid
	}
	ended := func(t *testing.T, pid int) {
		t.Helper()
		poll(t, 10*time.Second, "the session's end", func() (bool, string) {
			n := p.front.Sessions()
			return n == 0, fmt.Sprintf("%d sessions", n)
		})
		poll(t, 10*time.Second, "its backend's end", func() (bool, string) {
			var n int
			if err := direct.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n); err != nil {
				return false, err.Error()
			}
			return n == 0, "still there"
		})
	}
	terminate := func(t *testing.T, conn net.Conn) {
		t.Helper()
		x, _ := (&pgproto3.Terminate{}).Encode(nil)
		if _, err := conn.Write(x); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("ClientCloses", func(t *testing.T) {
		conn, pid := open(t)
		conn.Close()
		ended(t, pid)
	})

	t.Run("Terminate", func(t *testing.T) {
		conn, pid := open(t)
		terminate(t, conn)
		// The proxy closes the client's connection once the backend closed.
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		if n, err := conn.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("after Terminate, read %d bytes, %v; want EOF", n, err)
		}
		ended(t, pid)
	})

	t.Run("BackendHangsAfterTerminate", func(t *testing.T) {
		conn, pid := open(t)
		if err := c.Pause(); err != nil {
			t.Fatal(err)
		}
		resumed := false
		resume := func() {
			if !resumed {
				resumed = true
				if err := c.Resume(); err != nil {
					t.Fatal(err)
				}
			}
		}
		defer resume()
		sent := time.Now()
		terminate(t, conn)
		poll(t, 30*time.Second, "the session's end with its backend hung", func() (bool, string) {
			n := p.front.Sessions()
			return n == 0, fmt.Sprintf("%d sessions", n)
		})
		if waited := time.Since(sent); waited < connectTimeout {
			t.Fatalf("the session ended %v after Terminate, before its backend closed or connect_timeout (%v) passed", waited, connectTimeout)
		}
		resume()
		ended(t, pid)
	})
}

// TestLoopsFollowGOMAXPROCS: the default number of event loops is one per
// two of the CPUs the process may use (GOMAXPROCS, which Go sets from the
// CPU affinity and a cgroup's CPU limit), not of the host's.
func TestLoopsFollowGOMAXPROCS(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, c := range []struct{ procs, want int }{{1, 1}, {2, 1}, {3, 1}, {4, 2}, {8, 4}} {
		runtime.GOMAXPROCS(c.procs)
		if got := Loops(0); got != c.want {
			t.Errorf("GOMAXPROCS %d: %d loops, want %d", c.procs, got, c.want)
		}
	}
	if got := Loops(3); got != 3 {
		t.Errorf("workers = 3: %d loops", got)
	}
}
