package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Streaming replicas: Start with Options.ReplicaOf makes one, and the
// methods below promote it, pause its replay and wait for it. A replica is
// otherwise a Cluster like any other: Stop, Kill, Pause, Restart and Destroy
// work the same way. It uses no replication slot; the primary keeps
// wal_keep_size (128MB) of WAL for a replica that was stopped.

// basebackup fills the empty c.DataDir with a copy of primary's data
// directory, made by pg_basebackup over TCP as the primary's superuser, the
// way a replica on another host would be made. -R adds standby.signal and a
// primary_conninfo of the same connection string, password included.
func (c *Cluster) basebackup(ctx context.Context, primary *Cluster) error {
	// A TLSOnly primary's pg_hba.conf has hostssl lines only.
	sslmode := "disable"
	if primary.tls {
		sslmode = "require"
	}
	conninfo := fmt.Sprintf("host=%s port=%d user=%s sslmode=%s application_name=%s",
		quoteConninfo(primary.Host), primary.Port, quoteConninfo(primary.User), sslmode, quoteConninfo(c.Name))
	// runTool drops our PG* variables, which -R would write into
	// primary_conninfo too.
	env := []string{"PGPASSWORD=" + primary.Password}
	return c.runTool(ctx, env, "pg_basebackup", "-D", c.DataDir, "-d", conninfo,
		"-R", "-X", "stream", "--checkpoint=fast", "--no-sync", "--no-password")
}

// withReplicaSettings returns o.Settings with pgcluster's replica settings in
// front of them, so that the caller's still win.
func withReplicaSettings(o Options) map[string]string {
	// After its primary restarts, a replica tries again this soon rather
	// than in 5 seconds.
	s := map[string]string{"wal_retrieve_retry_interval": "250ms"}
	maps.Copy(s, o.Settings)
	return s
}

// quoteConninfo quotes s as a value in a libpq connection string.
func quoteConninfo(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// waitStreaming waits until a replica's WAL receiver streams from the
// primary.
func (c *Cluster) waitStreaming(ctx context.Context) error {
	err := c.withConn(ctx, func(conn *pgconn.PgConn) error {
		return poll(ctx, conn, "SELECT EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming')", isTrue)
	})
	if err != nil {
		return fmt.Errorf("replica %s does not stream from its primary: %w; the server log ends with:\n%s",
			c.Name, err, c.proc.Load().tail)
	}
	return nil
}

// InRecovery reports whether the server replays WAL rather than writes it
// (pg_is_in_recovery): true for a replica until it is promoted.
func (c *Cluster) InRecovery(ctx context.Context) (bool, error) {
	v, err := c.queryValue(ctx, "SELECT pg_is_in_recovery()")
	if err != nil {
		return false, fmt.Errorf("ask %s whether it is in recovery: %w", c.Name, err)
	}
	return isTrue(v), nil
}

// Promote makes a replica a primary on a new timeline with pg_promote and
// returns once it accepts writes, or fails after a minute (or when ctx ends).
// Its primary may be running, stopped or killed. Promoting a cluster that is
// not in recovery fails with SQLSTATE 55000.
func (c *Cluster) Promote(ctx context.Context) error {
	// pg_promote waits until recovery has ended, as pg_is_in_recovery sees it.
	v, err := c.queryValue(ctx, "SELECT pg_promote(true, 60)")
	if err == nil && !isTrue(v) {
		err = errors.New("not promoted within 60 seconds")
	}
	if err != nil {
		return fmt.Errorf("promote %s: %w", c.Name, err)
	}
	return nil
}

// PauseReplay pauses a replica's replay (pg_wal_replay_pause) and returns once
// it has paused: from then on pg_last_wal_replay_lsn stays put and queries see
// no newer data, while the replica keeps receiving WAL
// (pg_last_wal_receive_lsn advances). ResumeReplay continues it; Promote
// ends the pause too.
func (c *Cluster) PauseReplay(ctx context.Context) error {
	err := c.withConn(ctx, func(conn *pgconn.PgConn) error {
		if _, err := conn.Exec(ctx, "SELECT pg_wal_replay_pause()").ReadAll(); err != nil {
			return err
		}
		// Until then the state is "pause requested", and replay may still
		// apply the record it is at.
		return poll(ctx, conn, "SELECT pg_get_wal_replay_pause_state()", func(v string) bool { return v == "paused" })
	})
	if err != nil {
		return fmt.Errorf("pause replay on %s: %w", c.Name, err)
	}
	return nil
}

// ResumeReplay continues the replay of a replica paused by PauseReplay.
// Resuming a replica that is not paused does nothing.
func (c *Cluster) ResumeReplay(ctx context.Context) error {
	if err := c.Exec(ctx, "SELECT pg_wal_replay_resume()"); err != nil {
		return fmt.Errorf("resume replay on %s: %w", c.Name, err)
	}
	return nil
}

// WaitReplayed waits until a replica has replayed the WAL up to lsn, a
// pg_lsn such as "0/3000148" that a primary's pg_current_wal_insert_lsn or a
// commit returned, so that what was committed before it is visible on the
// replica. It fails on a cluster that never was a replica, and when ctx
// ends.
func (c *Cluster) WaitReplayed(ctx context.Context, lsn string) error {
	err := c.withConn(ctx, func(conn *pgconn.PgConn) error {
		return poll(ctx, conn, "SELECT pg_last_wal_replay_lsn() >= "+quoteLiteral(lsn)+"::pg_lsn", isTrue)
	})
	if err != nil {
		return fmt.Errorf("wait for %s to replay up to %s: %w", c.Name, lsn, err)
	}
	return nil
}

// WaitCaughtUp waits until a replica has replayed everything that primary
// has written so far, committed asynchronously or not, so that a test can
// read on the replica what it just wrote on the primary. primary must not be
// in recovery; for a cascade, pass the one at its top. It fails when ctx
// ends, for example because replay is paused.
func (c *Cluster) WaitCaughtUp(ctx context.Context, primary *Cluster) error {
	lsn, err := primary.queryValue(ctx, walEndSQL)
	if err != nil {
		return fmt.Errorf("find the end of the WAL of %s: %w", primary.Name, err)
	}
	return c.WaitReplayed(ctx, lsn)
}

// walEndSQL returns the end of the last WAL record a primary inserted. The
// insert position is where the next record goes: if the last one ended at a
// page boundary, that is after the next page's header (24 bytes, 40 at the
// start of a segment, on 64-bit machines), where a replica's replay position
// never gets until the next record.
const walEndSQL = `SELECT CASE
	WHEN (lsn - '0/0') % seg = 40 THEN lsn - 40
	WHEN (lsn - '0/0') % blk = 24 THEN lsn - 24
	ELSE lsn END
FROM pg_current_wal_insert_lsn() AS lsn,
	(SELECT setting::numeric FROM pg_settings WHERE name = 'wal_segment_size') AS s(seg),
	(SELECT setting::numeric FROM pg_settings WHERE name = 'wal_block_size') AS b(blk)`

// poll runs sql, which returns one value, on conn until done accepts the
// value. It fails when sql does or ctx ends.
func poll(ctx context.Context, conn *pgconn.PgConn, sql string, done func(string) bool) error {
	delay := time.Millisecond
	for {
		v, err := value(ctx, conn, sql)
		if err != nil {
			return err
		}
		if done(v) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%s returned %s)", ctx.Err(), sql, v)
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// queryValue runs sql, which returns one value, as the superuser over a new
// connection (see withConn) and returns that value as text.
func (c *Cluster) queryValue(ctx context.Context, sql string) (v string, err error) {
	err = c.withConn(ctx, func(conn *pgconn.PgConn) error {
		v, err = value(ctx, conn, sql)
		return err
	})
	return v, err
}

// value runs sql on conn and returns the one value of its one row, as text.
func value(ctx context.Context, conn *pgconn.PgConn, sql string) (string, error) {
	res, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		return "", err
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 1 || res[0].Rows[0][0] == nil {
		return "", fmt.Errorf("%s returned no single value", sql)
	}
	return string(res[0].Rows[0][0]), nil
}

func isTrue(v string) bool {
	b, _ := strconv.ParseBool(v) // "t" or "f"
	return b
}
