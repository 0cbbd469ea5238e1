package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/heliosdb/heliosproxy/internal/pgcluster"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgBouncer is a PgBouncer process in session mode in front of one cluster,
// listening on 127.0.0.1:Port. Stop ends it.
type pgBouncer struct {
	Port    int
	Version string

	cmd  *exec.Cmd
	log  string        // its stderr, in the cluster's directory
	done chan struct{} // closed once the process is reaped
}

// pgBouncerBinary finds pgbouncer on PATH or where Debian installs it.
func pgBouncerBinary() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer", nil
	}
	return "", errors.New("pgbouncer not found: install it with scripts/ensure-deps.sh --bench (Debian package pgbouncer)")
}

// startPgBouncer starts PgBouncer in front of c, with its files in a new
// directory under c.Dir (so c.Destroy removes them), as the user pgcluster runs
// servers as when we are root: PgBouncer refuses to run as root. It returns
// once PgBouncer accepts connections. The caller must call Stop before
// destroying c.
func startPgBouncer(ctx context.Context, c *pgcluster.Cluster, mode string, poolSize, maxClients int) (*pgBouncer, error) {
	bin, err := pgBouncerBinary()
	if err != nil {
		return nil, err
	}
	cred, err := pgcluster.Credential()
	if err != nil {
		return nil, err
	}
	version := "PgBouncer"
	if out, err := exec.CommandContext(ctx, bin, "--version").Output(); err == nil {
		version, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}
	dir := filepath.Join(c.Dir, "pgbouncer")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	// trust still needs the user listed in auth_file; the cluster trusts
	// TCP connections from 127.0.0.1, as HeliosProxy's backend does.
	userlist := filepath.Join(dir, "userlist.txt")
	if err := os.WriteFile(userlist, []byte(`"`+c.User+`" ""`+"\n"), 0o644); err != nil {
		return nil, err
	}
	const attempts = 5 // the free port may be taken before PgBouncer binds it
	for attempt := 1; ; attempt++ {
		port, err := pgcluster.FreePort()
		if err != nil {
			return nil, err
		}
		b, err := tryPgBouncer(ctx, bin, dir, userlist, c, port, mode, poolSize, maxClients, cred)
		if err == nil {
			b.Version = version
			return b, nil
		}
		if attempt == attempts || !strings.Contains(err.Error(), "in use") {
			return nil, err
		}
	}
}

func tryPgBouncer(ctx context.Context, bin, dir, userlist string, c *pgcluster.Cluster, port int, mode string, poolSize, maxClients int, cred *syscall.Credential) (*pgBouncer, error) {
	ini := filepath.Join(dir, "pgbouncer.ini")
	conf := fmt.Sprintf(`[databases]
postgres = host=%s port=%d dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = %s
max_client_conn = %d
default_pool_size = %d
server_reset_query = DISCARD ALL
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
`, c.Host, c.Port, port, userlist, mode, maxClients, poolSize)
	if err := os.WriteFile(ini, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "pgbouncer.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy
	cmd := exec.Command(bin, ini)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Credential: cred,
		// If this command dies without stopping it, the kernel does.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pgbouncer: %w", err)
	}
	b := &pgBouncer{Port: port, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // its log says why it exited
		close(b.done)
	}()
	if err := b.waitReady(ctx); err != nil {
		b.Stop()
		return nil, err
	}
	return b, nil
}

func (b *pgBouncer) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	dsn := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", b.Port)
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgconn.Connect(attempt, dsn)
		cancelAttempt()
		if err == nil {
			_ = conn.Close(ctx) // it answered, which is all we wanted
			return nil
		}
		select {
		case <-b.done:
			return fmt.Errorf("pgbouncer on port %d exited during startup (%v); its log:\n%s", b.Port, err, b.logTail())
		case <-ctx.Done():
			return fmt.Errorf("pgbouncer on port %d does not accept connections: %w (last attempt: %v); its log:\n%s", b.Port, ctx.Err(), err, b.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop ends PgBouncer by its PID: SIGTERM, then SIGKILL after 5 seconds.
// It returns once the process is reaped.
func (b *pgBouncer) Stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM) // fails only if it already exited
	select {
	case <-b.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = b.cmd.Process.Kill()
	<-b.done
}

func (b *pgBouncer) logTail() string {
	out, _ := os.ReadFile(b.log)
	if len(out) > 2048 {
		out = out[len(out)-2048:]
	}
	return string(out)
}
