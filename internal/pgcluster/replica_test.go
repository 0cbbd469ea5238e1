package pgcluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// waitTimeout bounds every wait for replication; nothing here should take
// more than a second.
const waitTimeout = 30 * time.Second

// dial connects over TCP as the superuser, verifying the server's
// certificate when the cluster is TLS-only, and closes the connection when
// the test ends.
func dial(t *testing.T, c *pgtest.Cluster, pki *pgtest.PKI) *pgx.Conn {
	t.Helper()
	dsn := c.DSN(c.User, c.Password, "postgres")
	if pki != nil {
		dsn = strings.Replace(dsn, "sslmode=disable", "sslmode=verify-full&sslrootcert="+pki.CAFile, 1)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", c.Name, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// scan returns the one value of sql's one row.
func scan[T any](t *testing.T, conn *pgx.Conn, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func exec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// pollTrue runs the boolean query sql until it returns true.
func pollTrue(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	for !scan[bool](t, conn, sql, args...) {
		select {
		case <-ctx.Done():
			t.Fatalf("%s is still false after %v", sql, waitTimeout)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func waitCaughtUp(t *testing.T, replica, primary *pgtest.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := replica.WaitCaughtUp(ctx, primary); err != nil {
		t.Fatalf("WaitCaughtUp: %v", err)
	}
}

func inRecovery(t *testing.T, c *pgtest.Cluster) bool {
	t.Helper()
	r, err := c.InRecovery(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// timeline returns the timeline of the cluster's latest checkpoint, after
// making one.
func timeline(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	exec(t, conn, "CHECKPOINT")
	return scan[int](t, conn, "SELECT timeline_id FROM pg_control_checkpoint()")
}

// TestReplica checks that a replica streams what its primary writes, with
// each authentication method and over TLS from a TLS-only primary, and that
// it refuses writes.
func TestReplica(t *testing.T) {
	t.Parallel()
	pki := pgtest.NewPKI(t, []string{"127.0.0.1"}, "postgres")
	tests := []struct {
		name string
		o    pgtest.Options
	}{
		{"trust", pgtest.Options{Name: "repl-trust"}},
		{"md5", pgtest.Options{Name: "repl-md5", Auth: "md5", Password: "it's-s3cret"}},
		{"scram-sha-256", pgtest.Options{Name: "repl-scram", Auth: "scram-sha-256"}},
		{"tls-only", pki.TLSOptions(pgtest.Options{Name: "repl-tls", Auth: "scram-sha-256"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var clientPKI *pgtest.PKI
			if tt.o.TLSOnly {
				clientPKI = pki
			}
			primary := pgtest.New(t, tt.o)
			pconn := dial(t, primary, clientPKI)
			exec(t, pconn, "CREATE TABLE before (x int); INSERT INTO before VALUES (1)")

			start := time.Now()
			replica := pgtest.New(t, pgtest.Options{ReplicaOf: primary})
			t.Logf("replica of %s started in %v", tt.name, time.Since(start))
			if replica.Name != tt.o.Name+"-replica" || replica.Port == primary.Port || replica.Dir == primary.Dir ||
				replica.Host != primary.Host || replica.Auth != primary.Auth || replica.Password != primary.Password {
				t.Errorf("replica Name, Host, Port, Dir, Auth = %s, %s, %d, %s, %s; primary's %s, %s, %d, %s, %s",
					replica.Name, replica.Host, replica.Port, replica.Dir, replica.Auth,
					primary.Name, primary.Host, primary.Port, primary.Dir, primary.Auth)
			}

			exec(t, pconn, "CREATE TABLE after (x int); INSERT INTO after VALUES (2)")
			waitCaughtUp(t, replica, primary)
			// The replica has the primary's pg_hba.conf, roles and certificate.
			rconn := dial(t, replica, clientPKI)
			if got := scan[int](t, rconn, "SELECT (SELECT x FROM before) + (SELECT x FROM after)"); got != 3 {
				t.Errorf("rows on the replica add up to %d, want 3", got)
			}
			if !inRecovery(t, replica) || inRecovery(t, primary) {
				t.Errorf("InRecovery() of replica, primary = %v, %v; want true, false", inRecovery(t, replica), inRecovery(t, primary))
			}
			_, err := rconn.Exec(t.Context(), "INSERT INTO after VALUES (3)")
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "25006" {
				t.Errorf("INSERT on the replica: %v, want SQLSTATE 25006", err)
			}

			var state string
			var ssl bool
			err = pconn.QueryRow(t.Context(), `SELECT r.state, s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)
				WHERE r.application_name = $1`, replica.Name).Scan(&state, &ssl)
			if err != nil || state != "streaming" || ssl != tt.o.TLSOnly {
				t.Errorf("pg_stat_replication of %s: state %q, ssl %v, %v; want streaming, ssl %v", replica.Name, state, ssl, err, tt.o.TLSOnly)
			}
		})
	}
}

// TestReplayPause checks that a paused replica keeps receiving WAL but
// replays none of it until it is resumed.
func TestReplayPause(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	primary := pgtest.New(t, pgtest.Options{Name: "pause-primary"})
	replica := pgtest.New(t, pgtest.Options{ReplicaOf: primary})
	pconn, rconn := dial(t, primary, nil), dial(t, replica, nil)
	exec(t, pconn, "CREATE TABLE t (x int)")
	waitCaughtUp(t, replica, primary)

	if err := replica.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	if got := scan[string](t, rconn, "SELECT pg_get_wal_replay_pause_state()"); got != "paused" {
		t.Errorf("pg_get_wal_replay_pause_state() after PauseReplay = %q, want paused", got)
	}
	paused := scan[string](t, rconn, "SELECT pg_last_wal_replay_lsn()::text")
	var lag int64
	for round := 1; round <= 2; round++ {
		// With synchronous_commit on, the commit is flushed, and so can be
		// sent, when INSERT returns.
		exec(t, pconn, "SET synchronous_commit = on; INSERT INTO t SELECT generate_series(1, 1000)")
		flushed := scan[string](t, pconn, "SELECT pg_current_wal_flush_lsn()::text")
		pollTrue(t, rconn, "SELECT pg_last_wal_receive_lsn() >= $1::pg_lsn", flushed)
		if got := scan[string](t, rconn, "SELECT pg_last_wal_replay_lsn()::text"); got != paused {
			t.Errorf("round %d: pg_last_wal_replay_lsn() = %s, want %s as when paused", round, got, paused)
		}
		if n := scan[int](t, rconn, "SELECT count(*) FROM t"); n != 0 {
			t.Errorf("round %d: count(*) on the paused replica = %d, want 0", round, n)
		}
		was := lag
		lag = scan[int64](t, rconn, "SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint")
		if lag <= was {
			t.Errorf("round %d: replay lag = %d bytes, want more than %d", round, lag, was)
		}
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := replica.WaitCaughtUp(short, primary); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitCaughtUp of a paused replica: %v, want context.DeadlineExceeded", err)
	}

	if err := replica.ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, replica, primary)
	if n := scan[int](t, rconn, "SELECT count(*) FROM t"); n != 2000 {
		t.Errorf("count(*) on the replica after ResumeReplay = %d, want 2000", n)
	}
}

// TestFailover checks that after its primary crashes a replica can be
// promoted to a primary on a new timeline, and that the old primary can be
// started again on its old timeline, as in a split brain.
func TestFailover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		stop func(*pgtest.Cluster) error
	}{
		{"Kill", (*pgtest.Cluster).Kill},
		{"StopImmediate", (*pgtest.Cluster).StopImmediate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			primary := pgtest.New(t, pgtest.Options{Name: "failover-" + tt.name, Auth: "scram-sha-256"})
			replica := pgtest.New(t, pgtest.Options{ReplicaOf: primary})
			pconn := dial(t, primary, nil)
			exec(t, pconn, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
			waitCaughtUp(t, replica, primary)
			rconn := dial(t, replica, nil) // opened before the promotion
			if tl := timeline(t, pconn); tl != 1 {
				t.Errorf("timeline of the primary = %d, want 1", tl)
			}

			if err := tt.stop(primary); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := replica.Promote(ctx); err != nil {
				t.Fatal(err)
			}
			t.Logf("Promote took %v", time.Since(start))
			if inRecovery(t, replica) {
				t.Errorf("InRecovery() after Promote = true, want false")
			}
			exec(t, rconn, "INSERT INTO t VALUES (2)")
			if tl := timeline(t, rconn); tl != 2 {
				t.Errorf("timeline of the promoted replica = %d, want 2", tl)
			}
			err := replica.Promote(ctx)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "55000" {
				t.Errorf("Promote of a promoted replica: %v, want SQLSTATE 55000", err)
			}

			if err := primary.Restart(ctx); err != nil {
				t.Fatalf("Restart of the old primary: %v", err)
			}
			if inRecovery(t, primary) {
				t.Errorf("InRecovery() of the restarted old primary = true, want false")
			}
			pconn = dial(t, primary, nil)
			exec(t, pconn, "INSERT INTO t VALUES (3)")
			if tl := timeline(t, pconn); tl != 1 {
				t.Errorf("timeline of the restarted old primary = %d, want 1", tl)
			}
			const rows = "SELECT string_agg(x::text, ',' ORDER BY x) FROM t"
			if old, promoted := scan[string](t, pconn, rows), scan[string](t, rconn, rows); old != "1,3" || promoted != "1,2" {
				t.Errorf("rows of the old primary, the promoted replica = %s, %s; want 1,3 and 1,2", old, promoted)
			}
		})
	}
}

// TestReplicaLifecycle checks that a replica catches up after it or its
// primary was stopped, killed or paused and started again, and that Destroy
// removes it.
func TestReplicaLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	primary := pgtest.New(t, pgtest.Options{Name: "lifecycle"})
	replica := pgtest.New(t, pgtest.Options{ReplicaOf: primary, Settings: map[string]string{"work_mem": "7MB"}})
	pconn := dial(t, primary, nil)
	exec(t, pconn, "CREATE TABLE t (x int)")
	if got := scan[string](t, dial(t, replica, nil), "SHOW work_mem"); got != "7MB" {
		t.Errorf("work_mem on the replica = %s, want 7MB from Options.Settings", got)
	}

	restart := func(c *pgtest.Cluster) func() error { return func() error { return c.Restart(ctx) } }
	steps := []struct {
		name          string
		before, after func() error // around a write on the primary
	}{
		{"replica killed", replica.Kill, restart(replica)},
		{"replica stopped", replica.Stop, restart(replica)},
		{"replica paused", replica.Pause, replica.Resume},
		{"primary stopped", primary.Stop, restart(primary)},
		{"primary killed", primary.Kill, restart(primary)},
	}
	var want []string
	for i, s := range steps {
		if err := s.before(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if primary.Running() {
			exec(t, pconn, fmt.Sprintf("INSERT INTO t VALUES (%d)", i))
		}
		if err := s.after(); err != nil {
			t.Fatalf("%s, then started: %v", s.name, err)
		}
		if !primary.Running() || !replica.Running() {
			t.Fatalf("%s: primary or replica not running", s.name)
		}
		pconn = dial(t, primary, nil)
		exec(t, pconn, fmt.Sprintf("INSERT INTO t VALUES (%d)", 10+i))
		want = append(want, fmt.Sprint(10+i))
		waitCaughtUp(t, replica, primary)
		got := scan[string](t, dial(t, replica, nil), "SELECT string_agg(x::text, ',' ORDER BY x) FROM t WHERE x >= 10")
		if got != strings.Join(want, ",") {
			t.Errorf("%s: rows on the replica = %s, want %s", s.name, got, strings.Join(want, ","))
		}
		if !inRecovery(t, replica) {
			t.Errorf("%s: replica not in recovery", s.name)
		}
	}

	if err := replica.Destroy(); err != nil {
		t.Fatalf("Destroy of the replica: %v", err)
	}
	if _, err := os.Stat(replica.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat %s after Destroy: %v, want not exist", replica.Dir, err)
	}
	exec(t, pconn, "INSERT INTO t VALUES (100)")
}
