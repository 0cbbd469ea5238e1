package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// Tests of routing by replication role over real streaming replication:
// a primary and its replicas made by pg_basebackup, promoted with
// pg_promote, paused with pg_wal_replay_pause.

// replicated starts a primary with n streaming replicas and a proxy in
// front of them (pg-a the primary, pg-b, pg-c … the replicas), edited by
// edit, and waits until the proxy knows every role.
func replicated(t *testing.T, ctx context.Context, n int, edit func(*config.Config)) (*runningProxy, []*pgtest.Cluster) {
	t.Helper()
	primary := pgtest.New(t, pgtest.Options{Name: "repl-primary"})
	if err := primary.Exec(ctx, "CREATE TABLE writes (id serial PRIMARY KEY, tag text, at_port int DEFAULT inet_server_port())"); err != nil {
		t.Fatal(err)
	}
	cs := []*pgtest.Cluster{primary}
	for i := range n {
		cs = append(cs, pgtest.New(t, pgtest.Options{Name: fmt.Sprintf("repl-replica%d", i+1), ReplicaOf: primary}))
	}
	cfg := testConfig(t, cs...)
	if edit != nil {
		edit(&cfg)
	}
	p := startProxy(t, cfg)
	waitStatus(t, ctx, p, "every role known", func(snap status.Snapshot) bool {
		for i, b := range snap.Backends {
			if want := map[bool]status.Role{true: status.RolePrimary, false: status.RoleReplica}[i == 0]; b.Role != want {
				return false
			}
		}
		return true
	})
	return p, cs
}

// waitStatus polls the proxy's status until done accepts it, failing the
// test when ctx ends first.
func waitStatus(t *testing.T, ctx context.Context, p *runningProxy, what string, done func(status.Snapshot) bool) status.Snapshot {
	t.Helper()
	for {
		snap := p.Snapshot()
		if done(snap) {
			return snap
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; status: %+v", what, ctx.Err(), roles(snap))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// roles summarizes a snapshot's replication columns for failure messages.
func roles(snap status.Snapshot) []string {
	var out []string
	for _, b := range snap.Backends {
		out = append(out, fmt.Sprintf("%s: %s %s tl=%d lag=%.0fms/%dB routing=%s %s %s", b.Name, b.CircuitState, b.Role, b.Timeline,
			b.ReplicationLagMs, b.ReplicationLagBytes, b.Routing, b.FencedReason, b.OpenReason))
	}
	return out
}

func backendStatus(snap status.Snapshot, name string) status.Backend {
	for _, b := range snap.Backends {
		if b.Name == name {
			return b
		}
	}
	return status.Backend{}
}

// write opens a read-write session through the proxy and inserts a row
// tagged tag, returning the port of the server it landed on.
func write(ctx context.Context, dsn, tag string) (int, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var port int
	err = conn.QueryRow(ctx, "INSERT INTO writes (tag) VALUES ($1) RETURNING at_port", tag).Scan(&port)
	return port, err
}

const readOnlyOption = " options='-c default_transaction_read_only=on'"

// TestRolesRouteWritesToPrimaryReadsToReplicas: sessions that may write
// land on the primary only, read-only sessions on the replicas, and a
// write on a read-only session gets PostgreSQL's own 25006, which does not
// count against the replica. The status shows the roles in SQL too.
func TestRolesRouteWritesToPrimaryReadsToReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, cs := replicated(t, ctx, 2, nil)
	dsn := p.dsn("postgres", "")
	for i := range 10 {
		port, err := write(ctx, dsn, fmt.Sprint("w", i))
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if port != cs[0].Port {
			t.Errorf("write %d landed on port %d, want the primary's %d", i, port, cs[0].Port)
		}
	}
	seen := map[int]int{}
	for range 10 {
		conn, err := pgx.Connect(ctx, dsn+readOnlyOption)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background()) // held, so that the next one balances away
		var port int
		if err := conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&port); err != nil {
			t.Fatal(err)
		}
		seen[port]++
		if _, err := conn.Exec(ctx, "INSERT INTO writes (tag) VALUES ('on a replica')"); pgCode(err) != "25006" {
			t.Errorf("write on a read-only session: %v, want SQLSTATE 25006", err)
		}
	}
	if seen[cs[0].Port] != 0 || seen[cs[1].Port] == 0 || seen[cs[2].Port] == 0 {
		t.Errorf("read-only sessions landed on %v; want them spread over the replicas %d and %d only", seen, cs[1].Port, cs[2].Port)
	}
	snap := p.Snapshot()
	for _, b := range snap.Backends[1:] {
		if b.FailuresTotal != 0 || b.CircuitState != status.Closed {
			t.Errorf("%s after writes refused with 25006: %d failures, %s; want none, CLOSED", b.Name, b.FailuresTotal, b.CircuitState)
		}
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT backend_name, role, timeline, replication_lag_bytes, routing, fenced_reason FROM helios_proxy.circuit_breaker_status ORDER BY backend_name")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var name, role, routing string
		var timeline *int64
		var lag int64
		var fenced *string
		if err := rows.Scan(&name, &role, &timeline, &lag, &routing, &fenced); err != nil {
			t.Fatal(err)
		}
		if timeline == nil || *timeline != 1 || fenced != nil || lag < 0 {
			t.Errorf("%s: timeline %v, lag %d, fenced %v; want timeline 1, no fence", name, timeline, lag, fenced)
		}
		got = append(got, name+" "+role+" "+routing)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"pg-a primary read-write", "pg-b replica read-only", "pg-c replica read-only"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("circuit_breaker_status roles = %q, want %q", got, want)
	}
}

// TestPromotionFollowedAndOldPrimaryFenced kills the primary and promotes
// a replica: writes resume on it through the same proxy (the time from
// the promotion to the first successful write is logged). The old
// primary, restarted, comes back as a primary on its old timeline: it is
// fenced and receives no write.
func TestPromotionFollowedAndOldPrimaryFenced(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	p, cs := replicated(t, ctx, 2, nil)
	events := p.Subscribe(ctx)
	dsn := p.dsn("postgres", "")
	if _, err := write(ctx, dsn, "before"); err != nil {
		t.Fatal(err)
	}
	old, promoted := cs[0], cs[1]
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := promoted.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	promotedAt := time.Now()
	var attempts int
	for {
		attempts++
		port, err := write(ctx, dsn, "after")
		if err == nil {
			if port != promoted.Port {
				t.Fatalf("write after the promotion landed on port %d, want the new primary's %d", port, promoted.Port)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no write succeeded after the promotion: %v; status %v", err, roles(p.Snapshot()))
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	interval := p.config().HealthChecks.Interval.Duration
	t.Logf("promotion to first successful write through the proxy: %s (%d attempts; health_checks.interval %s)",
		time.Since(promotedAt).Round(time.Millisecond), attempts, interval)
	ev := waitEvent(t, ctx, events, isEvent(status.BackendRoleChanged, "pg-b"))
	if ev.Reason != "primary" {
		t.Errorf("role change of pg-b: %+v, want to primary", ev)
	}
	if b := backendStatus(p.Snapshot(), "pg-b"); b.Role != status.RolePrimary || b.Timeline != 2 || b.Routing != status.RoutingReadWrite {
		t.Errorf("pg-b after its promotion: %+v", roles(p.Snapshot()))
	}

	// The old primary comes back, as a primary on timeline 1.
	if err := old.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, err := old.InRecovery(ctx); err != nil || rec {
		t.Fatalf("restarted old primary: in recovery %v, %v; want a primary", rec, err)
	}
	snap := waitStatus(t, ctx, p, "pg-a fenced and CLOSED", func(snap status.Snapshot) bool {
		b := backendStatus(snap, "pg-a")
		return b.Routing == status.RoutingFenced && b.CircuitState == status.Closed
	})
	if b := backendStatus(snap, "pg-a"); b.Role != status.RolePrimary || b.Timeline != 1 || b.FencedReason == "" {
		t.Errorf("fenced old primary: %v", roles(snap))
	}
	// Fenced as soon as the new primary was seen on a higher timeline: its
	// last claim was to be primary on the old one.
	fenced := false
	for _, ev := range p.Events(0) {
		fenced = fenced || isEvent(status.BackendFenced, "pg-a")(ev)
	}
	if !fenced {
		t.Errorf("no BackendFenced event for pg-a in %+v", p.Events(0))
	}
	for i := range 20 {
		port, err := write(ctx, dsn, "after-restart")
		if err != nil {
			t.Fatalf("write %d after the old primary came back: %v", i, err)
		}
		if port != promoted.Port {
			t.Errorf("write %d landed on port %d, want the new primary's %d", i, port, promoted.Port)
		}
		conn, err := pgx.Connect(ctx, dsn+readOnlyOption)
		if err != nil {
			t.Fatalf("read-only session %d: %v", i, err)
		}
		if err := conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&port); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		if port == old.Port {
			t.Errorf("read-only session %d landed on the fenced old primary", i)
		}
	}
	conn, err := pgx.Connect(ctx, old.DSN(old.User, old.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM writes WHERE tag <> 'before'").Scan(&n); err != nil || n != 0 {
		t.Errorf("the old primary holds %d rows written after it was killed (%v), want none", n, err)
	}
}

// TestFencedPrimarySessionsEnd promotes a replica while the primary runs
// on (a failover manager that lost sight of it): the old primary is
// fenced, and the sessions already on it stop writing there. A
// pass-through session is ended with FATAL 57P01 naming the fence, and
// its client's next session writes on the new primary; a pooled session
// (session mode) moves to the new primary with its next transaction.
// Before, both went on writing on the fenced server, whose writes the
// failover loses, for as long as they stayed connected.
func TestFencedPrimarySessionsEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	p, cs := replicated(t, ctx, 1, func(c *config.Config) {
		c.Users = []config.User{{Name: "pooled", Password: "pooled-pw", PoolMode: "session"}}
	})
	old, promoted := cs[0], cs[1]
	if err := old.CreateUser(ctx, "pooled", "pooled-pw"); err != nil {
		t.Fatal(err)
	}
	if err := old.Exec(ctx, "GRANT ALL ON writes, writes_id_seq TO pooled"); err != nil {
		t.Fatal(err)
	}
	insert := func(conn *pgx.Conn, tag string) (int, error) {
		var port int
		err := conn.QueryRow(ctx, "INSERT INTO writes (tag) VALUES ($1) RETURNING at_port", tag).Scan(&port)
		return port, err
	}
	passThrough := connect(t, ctx, p.dsn("postgres", old.Password))
	pooled := connect(t, ctx, p.dsn("pooled", "pooled-pw"))
	var pids []int32 // their server processes on the old primary
	for _, conn := range []*pgx.Conn{passThrough, pooled} {
		if port, err := insert(conn, "before"); err != nil || port != old.Port {
			t.Fatalf("write before the promotion: port %d, %v; want the primary's %d", port, err, old.Port)
		}
		var pid int32
		if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	if err := promoted.WaitCaughtUp(ctx, old); err != nil { // the role too
		t.Fatal(err)
	}

	if err := promoted.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	snap := waitStatus(t, ctx, p, "pg-a fenced", func(snap status.Snapshot) bool {
		return backendStatus(snap, "pg-a").Routing == status.RoutingFenced
	})
	fencedAt := time.Now()
	t.Logf("fenced: %v", roles(snap))
	// The proxy lets go of both sessions' server connections there.
	su := superuser(t, ctx, old)
	for {
		var n int
		if err := su.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", pids).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the sessions' server connections stay open on the fenced primary")
		case <-time.After(10 * time.Millisecond): // polling the backend's view
		}
	}
	t.Logf("server connections on the fenced primary closed %s after the fence showed", time.Since(fencedAt).Round(time.Millisecond))

	// The pass-through session was ended; its client learns it at its
	// next statement.
	_, err := insert(passThrough, "after")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57P01" || pe.Severity != "FATAL" || !strings.Contains(pe.Message, "fenced") || pe.Detail == "" {
		t.Errorf("pass-through write on the fenced primary: %v; want FATAL 57P01 naming the fence, with the reason in DETAIL", err)
	}
	if port, err := insert(connect(t, ctx, p.dsn("postgres", old.Password)), "after"); err != nil || port != promoted.Port {
		t.Errorf("write in a new pass-through session: port %d, %v; want the new primary's %d", port, err, promoted.Port)
	}
	// The pooled session's next transaction runs on the new primary.
	if port, err := insert(pooled, "after"); err != nil || port != promoted.Port {
		t.Errorf("pooled write after the fence: port %d, %v; want the new primary's %d", port, err, promoted.Port)
	}
	var n int
	if err := su.QueryRow(ctx, "SELECT count(*) FROM writes WHERE tag = 'after'").Scan(&n); err != nil || n != 0 {
		t.Errorf("the fenced primary took %d writes after the fence (%v), want none", n, err)
	}
}

// TestReplicaBehindPrimaryTimelineLeavesReadRouting promotes one replica
// while the primary runs on: the other replica goes on streaming from the
// old primary, on timeline 1, and does not follow the new primary on
// timeline 2. It leaves read routing at once (routing 'lagging', a
// ReplicaLagging event saying why), without counting as failed, and
// read-only sessions go elsewhere. Before, its WAL positions were
// compared with the new primary's as if on one history: lag 0 while the
// new primary was idle, and it served reads of the old primary's history.
func TestReplicaBehindPrimaryTimelineLeavesReadRouting(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	p, cs := replicated(t, ctx, 2, nil)
	events := p.Subscribe(ctx)
	if err := cs[1].Promote(ctx); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, p, "pg-b primary, pg-a fenced", func(snap status.Snapshot) bool {
		return backendStatus(snap, "pg-b").Role == status.RolePrimary && backendStatus(snap, "pg-a").Routing == status.RoutingFenced
	})
	// Within a few checks (the new primary idle, so that no lag builds).
	wctx, wcancel := context.WithTimeout(ctx, 10*p.config().HealthChecks.Interval.Duration)
	defer wcancel()
	ev := waitEvent(t, wctx, events, isEvent(status.ReplicaLagging, "pg-c"))
	if !strings.Contains(ev.Detail, "timeline 1") || !strings.Contains(ev.Detail, "timeline 2") {
		t.Errorf("ReplicaLagging for pg-c: %q, want it to name timelines 1 and 2", ev.Detail)
	}
	snap := p.Snapshot()
	if b := backendStatus(snap, "pg-c"); b.Routing != status.RoutingLagging || b.CircuitState != status.Closed || b.FailuresTotal != 0 {
		t.Errorf("pg-c on timeline 1 behind a primary on timeline 2: %v; want lagging, CLOSED, no failures", roles(snap))
	}
	for i := range 6 {
		conn := connect(t, ctx, p.dsn("postgres", cs[0].Password)+readOnlyOption)
		if got := port(t, ctx, conn, "SELECT inet_server_port()"); got != cs[1].Port {
			t.Errorf("read-only session %d on port %d, want the new primary's %d (the only backend on timeline 2)", i, got, cs[1].Port)
		}
		conn.Close(ctx)
	}
}

// TestLaggingReplicaLeavesReadRouting pauses a replica's replay while the
// primary is written to: once its lag passes max_replication_lag_ms it
// takes no read-only session (they fall back to the primary), without
// counting as failed; after its replay resumes it is back.
func TestLaggingReplicaLeavesReadRouting(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const limit = 400 * time.Millisecond
	p, cs := replicated(t, ctx, 1, func(c *config.Config) {
		// Checks every 300 ms follow the lag closely enough; a timeout of
		// as much keeps a loaded machine's slow check (100 ms did not)
		// from counting as a failure.
		c.HealthChecks.Interval = config.Duration{Duration: 300 * time.Millisecond}
		c.HealthChecks.Timeout = config.Duration{Duration: 300 * time.Millisecond}
		c.Backends.MaxReplicationLagMs = int(limit / time.Millisecond)
	})
	events := p.Subscribe(ctx)
	dsn := p.dsn("postgres", "")
	replica := cs[1]
	readsLand := func() int {
		t.Helper()
		conn, err := pgx.Connect(ctx, dsn+readOnlyOption)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var port int
		if err := conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&port); err != nil {
			t.Fatal(err)
		}
		return port
	}
	if port := readsLand(); port != replica.Port {
		t.Fatalf("read-only session on port %d before the pause, want the replica's %d", port, replica.Port)
	}

	// A writer through the proxy for the rest of the test.
	wctx, stopWriting := context.WithCancel(ctx)
	writerDone := make(chan error, 1)
	go func() {
		conn, err := pgx.Connect(wctx, dsn)
		if err != nil {
			writerDone <- err
			return
		}
		defer conn.Close(context.Background())
		for wctx.Err() == nil {
			if _, err := conn.Exec(wctx, "INSERT INTO writes (tag) VALUES ('load')"); err != nil && wctx.Err() == nil {
				writerDone <- err
				return
			}
		}
		writerDone <- nil
	}()
	defer func() {
		stopWriting()
		if err := <-writerDone; err != nil {
			t.Errorf("writer: %v", err)
		}
	}()

	if err := replica.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, ctx, events, isEvent(status.ReplicaLagging, "pg-b"))
	snap := p.Snapshot()
	b := backendStatus(snap, "pg-b")
	if b.Routing != status.RoutingLagging || b.ReplicationLagMs <= float64(limit/time.Millisecond) || b.ReplicationLagBytes == 0 {
		t.Errorf("paused replica: %v, want lagging beyond %s with a lag in bytes", roles(snap), limit)
	}
	t.Logf("%s", ev.Detail)
	if port := readsLand(); port != cs[0].Port {
		t.Errorf("read-only session on port %d while the replica lags, want the primary's %d", port, cs[0].Port)
	}
	if b.FailuresTotal != 0 || b.CircuitState != status.Closed {
		t.Errorf("lagging replica: %d failures, %s; want none, CLOSED", b.FailuresTotal, b.CircuitState)
	}

	if err := replica.ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, events, isEvent(status.ReplicaCaughtUp, "pg-b"))
	snap = p.Snapshot()
	if b := backendStatus(snap, "pg-b"); b.Routing != status.RoutingReadOnly || b.ReplicationLagMs > float64(limit/2/time.Millisecond) {
		t.Errorf("resumed replica: %v, want read-only with a lag of at most %s", roles(snap), limit/2)
	}
	if port := readsLand(); port != replica.Port {
		t.Errorf("read-only session on port %d after the resume, want the replica's %d", port, replica.Port)
	}
}
