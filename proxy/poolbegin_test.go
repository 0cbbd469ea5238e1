package proxy

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
)

// TestTransactionModeBeginLostIsRetried: in transaction mode, a client
// idle between transactions whose BEGIN reaches a server connection that
// ends before answering it (here its server process terminated, as by
// pg_ctl stop -m fast, with the BEGIN unread) gets its BEGIN answered and
// its transaction run on another connection: a bare BEGIN has no effect
// to lose or to repeat. Before, the client got ERROR 57P01 for its
// BEGIN, and psycopg 3, which counts the transaction block it is
// entering before BEGIN's answer, then failed every later transaction of
// that connection with an AssertionError (its connection idle, its count
// of open blocks not).
func TestTransactionModeBeginLostIsRetried(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clusters, p := pooledSetup(t, 1, "transaction", func(c *config.Config) {
		c.Pool.DefaultPoolSize = 1 // the client's transactions all take the same connection
	})
	su := superuser(t, ctx, clusters[0])
	if _, err := su.Exec(ctx, "CREATE TABLE begin_lost (x int); GRANT ALL ON begin_lost TO app"); err != nil {
		t.Fatal(err)
	}
	clients := []struct {
		name string
		run  func(t *testing.T, stop func()) // stop ends the server process under the client's next BEGIN
	}{
		{"pgx", func(t *testing.T, stop func()) {
			conn := appConn(t, ctx, p)
			if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatal(err)
			}
			stop()
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, "INSERT INTO begin_lost VALUES (1)")
				return err
			})
			if err != nil {
				t.Fatalf("transaction whose BEGIN's server connection ended: %v, want it committed", err)
			}
		}},
		{"psycopg3", func(t *testing.T, stop func()) {
			host, port, _ := strings.Cut(p.Addr, ":")
			cmd := exec.CommandContext(ctx, "/usr/bin/python3", "-c", `
import sys, psycopg
conn = psycopg.connect(sys.argv[1])
conn.execute("SELECT 1"); conn.commit()
print("ready", flush=True)
sys.stdin.readline()
for i in (2, 3):
    try:
        with conn.transaction():
            conn.execute("INSERT INTO begin_lost VALUES (%s)", (i,))
        print("committed", i, flush=True)
    except Exception as e:
        print("failed", i, type(e).__name__, str(e).splitlines()[0] if str(e) else "", flush=True)
`, fmt.Sprintf("host=%s port=%s user=app password=app-secret dbname=postgres sslmode=disable", host, port))
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			out := bufio.NewScanner(stdout)
			if !out.Scan() || out.Text() != "ready" {
				t.Fatalf("psycopg: %q, want ready", out.Text())
			}
			stop()
			fmt.Fprintln(stdin, "go")
			for _, want := range []string{"committed 2", "committed 3"} {
				if !out.Scan() || out.Text() != want {
					t.Errorf("psycopg: %q, want %q", out.Text(), want)
				}
			}
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("psycopg: %v", err)
			}
		}},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, func() { stopUnderNextRequest(t, ctx, su, clusters[0].Port) })
		})
	}
	var rows []int
	r, err := su.Query(ctx, "SELECT x FROM begin_lost ORDER BY x")
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var x int
		_ = r.Scan(&x)
		rows = append(rows, x)
	}
	if fmt.Sprint(rows) != "[1 2 3]" {
		t.Errorf("rows committed: %v, want [1 2 3]", rows)
	}
}

// stopUnderNextRequest makes the app role's server connection end as
// pg_ctl stop -m fast ends it, with the next request sent to it unread:
// it stops the server process (SIGSTOP) and, from another goroutine,
// waits until bytes wait in that process's socket, then terminates it
// (SIGTERM) and lets it go on (SIGCONT), so that it ends with FATAL
// 57P01 before it reads them.
func stopUnderNextRequest(t *testing.T, ctx context.Context, su *pgx.Conn, pgPort int) {
	t.Helper()
	var pid, clientPort int
	if err := su.QueryRow(ctx, "SELECT pid, client_port FROM pg_stat_activity WHERE usename = 'app' AND backend_type = 'client backend'").Scan(&pid, &clientPort); err != nil {
		t.Fatalf("the app role's server process: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer syscall.Kill(pid, syscall.SIGCONT)
		for ctx.Err() == nil && unread(pgPort, clientPort) == 0 {
			time.Sleep(time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}()
}

// unread is how many bytes wait unread in the receive queue of the TCP
// socket from local port local to remote port remote (/proc/net/tcp).
func unread(local, remote int) int {
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0
	}
	want := fmt.Sprintf(":%04X", local)
	wantRemote := fmt.Sprintf(":%04X", remote)
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasSuffix(f[1], want) || !strings.HasSuffix(f[2], wantRemote) {
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		n, _ := strconv.ParseInt(rx, 16, 64)
		return int(n)
	}
	return 0
}

// TestTransactionModeRollbackLostSucceeds: in transaction mode, a
// ROLLBACK whose server connection ends before answering it succeeds: the
// transaction it ends is rolled back with the connection, which is what
// the client asked for. Before, the client got ERROR 57P01 for its
// ROLLBACK (JDBC's Connection.rollback threw it).
func TestTransactionModeRollbackLostSucceeds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clusters, p := pooledSetup(t, 1, "transaction", func(c *config.Config) {
		c.Pool.DefaultPoolSize = 1
	})
	su := superuser(t, ctx, clusters[0])
	if _, err := su.Exec(ctx, "CREATE TABLE rollback_lost (x int); GRANT ALL ON rollback_lost TO app"); err != nil {
		t.Fatal(err)
	}
	conn := appConn(t, ctx, p)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO rollback_lost VALUES (1)"); err != nil {
			t.Fatal(err)
		}
		stopUnderNextRequest(t, ctx, su, clusters[0].Port)
		if _, err := conn.Exec(ctx, "ROLLBACK", mode); err != nil {
			t.Errorf("ROLLBACK (%v) whose server connection ended: %v, want it done", mode, err)
		}
		if st := conn.PgConn().TxStatus(); st != 'I' {
			t.Errorf("after the ROLLBACK (%v): transaction status %c, want I", mode, st)
		}
	}
	var n int
	if err := su.QueryRow(ctx, "SELECT count(*) FROM rollback_lost").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("rows of the rolled back transactions: %d, want 0", n)
	}
}
