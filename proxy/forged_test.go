package proxy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// TestRaisedFailureCodesLeaveCircuitClosed: an ordinary client raises the
// SQLSTATEs of a failing backend itself (PL/pgSQL RAISE … USING ERRCODE,
// with a short message and with one long enough to push the error's
// routine far past its first bytes), in a loop, on a pass-through session
// and on a pooled one in transaction mode. They are the application's
// own errors: the client gets each of them, another client on the same
// backend is served all along, and the backend's circuit stays CLOSED with
// no failure counted. (Before the fix, five of them opened the circuit on
// its error rate, and everyone else got 57P03.)
func TestRaisedFailureCodesLeaveCircuitClosed(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "forged"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, u := range []string{"app", "other"} {
		if err := c.CreateUser(ctx, u, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	codes := []string{"XX000", "08006", "58030", "53100", "53200", "57P01", "57P02", "57014", "53300", "25006"}
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig(t, c)
			cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: time.Minute}
			cfg.Pool.Mode = mode
			// app is pooled in transaction mode; other is relayed.
			cfg.Users = []config.User{{Name: "app", Password: "pw"}}
			p := startProxy(t, cfg)
			for _, role := range []string{"other", "app"} {
				attacker, err := pgx.Connect(ctx, p.dsn(role, "pw"))
				if err != nil {
					t.Fatal(err)
				}
				victim, err := pgx.Connect(ctx, p.dsn(map[string]string{"app": "other", "other": "app"}[role], "pw"))
				if err != nil {
					t.Fatal(err)
				}
				for i := range 200 {
					code := codes[i%len(codes)]
					msg := "forged"
					if i%2 == 1 {
						msg = fmt.Sprintf("%0400d", i)
					}
					stmt := fmt.Sprintf("DO $$BEGIN RAISE EXCEPTION '%s' USING ERRCODE = '%s'; END$$", msg, code)
					if _, err := attacker.Exec(ctx, stmt); sqlState(err) != code {
						t.Fatalf("%s raising %s: %v, want its own %s", role, code, err, code)
					}
					if i%4 == 0 {
						var one int
						if err := victim.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
							t.Fatalf("the other client after %d raised errors: %v", i+1, err)
						}
					}
				}
				attacker.Close(ctx)
				victim.Close(ctx)
			}
			b := p.Snapshot().Backends[0]
			if b.CircuitState != status.Closed || b.FailuresTotal != 0 || b.ErrorRate != 0 {
				t.Errorf("backend %s, %d failures, error rate %g; want CLOSED, 0, 0: the errors were the application's own",
					b.CircuitState, b.FailuresTotal, b.ErrorRate)
			}
		})
	}
}

// TestOversizedAllocationLeavesCircuitClosed: a statement that asks
// PostgreSQL for a single value beyond its 1 GB allocation limit gets
// XX000 "invalid memory alloc request size" from palloc; that is the
// statement's own doing, not the backend's health: the circuit stays
// CLOSED with no failure counted, and the next query is served. (Before
// the fix two of them after nineteen other queries opened the circuit on
// its error rate: 57P03.)
func TestOversizedAllocationLeavesCircuitClosed(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "oversized"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := testConfig(t, c)
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: time.Minute}
	// Building 1 GB takes seconds on a busy machine: only the error rate
	// is judged here, over a window that holds the whole test.
	cfg.CircuitBreaker.MetricsWindowSize = config.Duration{Duration: 2 * time.Minute}
	cfg.CircuitBreaker.MetricsBucketSize = config.Duration{Duration: 10 * time.Second}
	cfg.CircuitBreaker.LatencyThresholdP95Ms, cfg.CircuitBreaker.LatencyThresholdP99Ms = 0, 0
	cfg.HealthChecks.Interval = config.Duration{Duration: 30 * time.Second}
	cfg.HealthChecks.Timeout = config.Duration{Duration: 30 * time.Second}
	p := startProxy(t, cfg)
	conn, err := pgx.Connect(ctx, p.dsn(c.User, c.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	query := func() {
		t.Helper()
		var one int
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
	}
	for range 19 {
		query()
	}
	for range 2 {
		// Two values of 540 MB each, built without a byte-by-byte loop.
		var n int64
		err := conn.QueryRow(ctx, "SELECT length(repeat(repeat('x', 1000000), 540) || repeat(repeat('x', 1000000), 540))").Scan(&n)
		if sqlState(err) != "XX000" || !strings.Contains(err.Error(), "invalid memory alloc request size") {
			t.Fatalf("oversized concatenation: %v, want XX000 invalid memory alloc request size", err)
		}
	}
	query()
	b := p.Snapshot().Backends[0]
	if b.CircuitState != status.Closed || b.FailuresTotal != 0 || b.ErrorRate != 0 {
		t.Errorf("backend %s (%s), %d failures, error rate %g; want CLOSED, 0, 0: the allocation was the statement's own", b.CircuitState, b.OpenReason, b.FailuresTotal, b.ErrorRate)
	}
}

// TestPooledClientFatalsLeaveCircuitClosed: a pooled client whose own
// idle_in_transaction_session_timeout (SET LOCAL, 1 ms) makes the backend
// end its server connection with FATAL 25P03, transaction after
// transaction, is told so each time, and the backend's circuit stays
// CLOSED with no failure counted, as on a pass-through session: the
// connection ended for the client's own reason. (Before the fix every
// such end counted as a lost connection, a hard failure: the circuit
// opened on its error rate and the other client got 57P03.)
func TestPooledClientFatalsLeaveCircuitClosed(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "pooled-fatal"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.CreateUser(ctx, "app", "pw"); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, c)
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: time.Minute}
	cfg.Pool.Mode = "transaction"
	cfg.Users = []config.User{{Name: "app", Password: "pw"}}
	p := startProxy(t, cfg)
	attacker, err := pgx.Connect(ctx, p.dsn("app", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close(ctx)
	victim, err := pgx.Connect(ctx, p.dsn(c.User, c.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close(ctx)
	ended := 0
	for i := 0; ended < 30; i++ {
		if i > 300 {
			t.Fatalf("only %d of %d transactions ended by the timeout", ended, i)
		}
		tx, err := attacker.Begin(ctx)
		if err != nil {
			t.Fatalf("BEGIN after %d timeouts: %v", ended, err)
		}
		if _, err := tx.Exec(ctx, "SET LOCAL idle_in_transaction_session_timeout = 1"); err != nil {
			t.Fatal(err)
		}
		// Idle in the transaction until the backend has ended it: the
		// next statement gets the FATAL.
		waitFor(t, func() bool {
			var n int
			err := victim.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND state = 'idle in transaction'").Scan(&n)
			return err == nil && n == 0
		})
		_, err = tx.Exec(ctx, "SELECT 1")
		switch sqlState(err) {
		case "25P03":
			ended++
		case "":
		default:
			t.Fatalf("statement after the timeout: %v, want 25P03", err)
		}
		_ = tx.Rollback(ctx)
	}
	b := p.Snapshot().Backends[0]
	if b.CircuitState != status.Closed || b.FailuresTotal != 0 {
		t.Errorf("backend %s (%s), %d failures; want CLOSED, 0: the client's own timeout ended the connections", b.CircuitState, b.OpenReason, b.FailuresTotal)
	}
}

// TestSelfTerminationLeavesCircuitClosed: PostgreSQL lets any role end its
// own sessions (pg_terminate_backend), which ends them with FATAL 57P01,
// the code a shutting-down server sends every session. A client doing so
// in a loop, on pass-through sessions (reconnecting each time) and on a
// pooled one, and killing its role's other sessions too, while the
// backend answers everyone else: the circuit stays CLOSED with no
// failure counted, and the other client is served. Then the server really
// shuts down (pg_ctl stop -m fast) under held sessions: the circuit opens
// as before. (Before the fix six self-terminations opened the circuit and
// the other client got 57P03.)
func TestSelfTerminationLeavesCircuitClosed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, p, _, served := clientFaultSetup(t, ctx, "self-term")
	events := p.Subscribe(ctx)
	for i := range 20 { // pass-through: the session ends each time
		conn, err := pgx.Connect(ctx, p.dsn("other", "pw"))
		if err != nil {
			t.Fatalf("other's login after %d self-terminations: %v", i, err)
		}
		if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())"); sqlState(err) != "57P01" {
			t.Fatalf("pass-through self-termination: %v, want 57P01", err)
		}
		conn.Close(ctx)
		served("a pass-through self-termination")
	}
	pooled, err := pgx.Connect(ctx, p.dsn("app", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer pooled.Close(ctx)
	for range 20 { // pooled: the client's session goes on, its server connection does not
		if _, err := pooled.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())"); sqlState(err) != "57P01" {
			t.Fatalf("pooled self-termination: %v, want 57P01", err)
		}
		served("a pooled self-termination")
	}
	// Three sessions of a role at once, by a fourth.
	var held []*pgx.Conn
	for range 3 {
		conn, err := pgx.Connect(ctx, p.dsn("other", "pw"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		held = append(held, conn)
	}
	killer, err := pgx.Connect(ctx, p.dsn("other", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close(ctx)
	if _, err := killer.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'other' AND pid <> pg_backend_pid()"); err != nil {
		t.Fatal(err)
	}
	for _, conn := range held {
		if _, err := conn.Exec(ctx, "SELECT 1"); sqlState(err) != "57P01" {
			t.Fatalf("a terminated session: %v, want 57P01", err)
		}
	}
	served("three sessions terminated at once")
	// Each termination asked for a health check at once; those that
	// settled the losses so far passed, so none was counted.
	if b := p.Snapshot().Backends[0]; b.CircuitState != status.Closed || b.FailuresTotal != 0 {
		t.Fatalf("backend %s (%s), %d failures; want CLOSED, 0: the sessions ended themselves", b.CircuitState, b.OpenReason, b.FailuresTotal)
	}

	// A real fast shutdown ends the held sessions with the same 57P01.
	for range 3 {
		conn, err := pgx.Connect(ctx, p.dsn("other", "pw"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, ctx, events, func(ev status.Event) bool { return ev.To == status.Open })
	t.Logf("after the shutdown: %s", ev.Detail)
}

// TestLibraryLoadFailuresLeaveCircuitClosed: PostgreSQL lets any role
// load libraries from $libdir/plugins, by a LOAD statement or by the
// local_preload_libraries startup option; one that is not there gets 58P01
// (class 58, a system error) from the dynamic loader, at the statement or
// as a FATAL refusal of the login. Both are the client's own doing: the
// client gets PostgreSQL's error, another client is served, and the
// backend's circuit stays CLOSED with no failure counted. (Before the fix
// either, in a loop, opened the circuit on its error rate.)
func TestLibraryLoadFailuresLeaveCircuitClosed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, p, _, served := clientFaultSetup(t, ctx, "load-lib")
	for _, role := range []string{"other", "app"} {
		conn, err := pgx.Connect(ctx, p.dsn(role, "pw"))
		if err != nil {
			t.Fatal(err)
		}
		for range 30 {
			if _, err := conn.Exec(ctx, "LOAD '$libdir/plugins/helios_no_such_library'"); sqlState(err) != "58P01" {
				t.Fatalf("%s: LOAD of a missing library: %v, want 58P01", role, err)
			}
			served("a LOAD of a missing library")
		}
		conn.Close(ctx)
	}
	for range 30 {
		_, err := pgx.Connect(ctx, p.dsn("other", "pw")+" options='-c local_preload_libraries=helios_no_such_library'")
		if sqlState(err) != "58P01" {
			t.Fatalf("login with a missing local_preload_libraries: %v, want PostgreSQL's 58P01", err)
		}
		served("a login with a missing local_preload_libraries")
	}
	if b := p.Snapshot().Backends[0]; b.CircuitState != status.Closed || b.FailuresTotal != 0 {
		t.Errorf("backend %s (%s), %d failures; want CLOSED, 0: the libraries were the clients' own", b.CircuitState, b.OpenReason, b.FailuresTotal)
	}
}

// TestSelfCancelLeavesCircuitClosed: any role may cancel its own
// statements with pg_cancel_backend, which PostgreSQL answers with 57014
// "canceling statement due to user request", the SQLSTATE of a
// statement_timeout too. DESIGN counts only a statement_timeout's as slow;
// a cancel is the client's own. A client cancelling itself in a loop, on
// a pass-through session and on a pooled one, gets 57014 each time,
// another client is served, and the circuit stays CLOSED and fast.
// (Before the fix every one counted as a request slower than every
// threshold: the circuit opened on latency_p95 and the other client got
// 57P03.) A statement_timeout still counts as slow (TestCopyFailIsTheClients).
func TestSelfCancelLeavesCircuitClosed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, p, _, served := clientFaultSetup(t, ctx, "self-cancel")
	for _, role := range []string{"other", "app"} {
		conn, err := pgx.Connect(ctx, p.dsn(role, "pw"))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 40; {
			// The cancel lands in the statement that asked for it, or
			// (rarely) in the next one.
			_, err := conn.Exec(ctx, "SELECT pg_cancel_backend(pg_backend_pid()), pg_sleep(0.05)")
			switch sqlState(err) {
			case "57014":
				i++
			case "":
			default:
				t.Fatalf("%s cancelling itself: %v, want 57014", role, err)
			}
			served(fmt.Sprintf("%d cancels of %s", i, role))
		}
		conn.Close(ctx)
	}
	if b := p.Snapshot().Backends[0]; b.CircuitState != status.Closed {
		t.Errorf("backend %s (%s); want CLOSED: the cancels were the client's own", b.CircuitState, b.OpenReason)
	}
}

// clientFaultSetup starts a cluster named name with the roles app and
// other (password pw) and a proxy in front of it in transaction mode, app
// pooled and the others relayed, whose circuit stays OPEN a minute once
// it opens (so that an opening cannot go unseen). victim is a superuser
// session that must be served throughout: served fails the test when it
// is not, saying after what.
func clientFaultSetup(t *testing.T, ctx context.Context, name string) (*pgtest.Cluster, *runningProxy, *pgx.Conn, func(after string)) {
	t.Helper()
	c := pgtest.New(t, pgtest.Options{Name: name})
	for _, u := range []string{"app", "other"} {
		if err := c.CreateUser(ctx, u, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig(t, c)
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: time.Minute}
	cfg.Pool.Mode = "transaction"
	cfg.Users = []config.User{{Name: "app", Password: "pw"}}
	p := startProxy(t, cfg)
	victim, err := pgx.Connect(ctx, p.dsn(c.User, c.Password))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Close(context.Background()) })
	return c, p, victim, func(after string) {
		t.Helper()
		var one int
		if err := victim.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("the other client after %s: %v", after, err)
		}
	}
}
