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

	"github.com/heliosdb/heliosproxy/internal/pgcluster"
)

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

// startPgBouncer starts PgBouncer in mode in front of c, with its files in
// a new directory under c.Dir (so c.Destroy removes them), as the user
// pgcluster runs servers as when we are root: PgBouncer refuses to run as
// root. It returns once PgBouncer accepts connections, with its version.
// The caller must call Stop before destroying c.
func startPgBouncer(ctx context.Context, c *pgcluster.Cluster, mode string, poolSize, maxClients int) (*process, string, error) {
	bin, err := pgBouncerBinary()
	if err != nil {
		return nil, "", err
	}
	cred, err := pgcluster.Credential()
	if err != nil {
		return nil, "", err
	}
	version := "PgBouncer"
	if out, err := exec.CommandContext(ctx, bin, "--version").Output(); err == nil {
		version, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}
	dir := filepath.Join(c.Dir, "pgbouncer")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, "", err
	}
	// trust still needs the user listed in auth_file; the cluster trusts
	// TCP connections from 127.0.0.1, as HeliosProxy's backend does.
	userlist := filepath.Join(dir, "userlist.txt")
	if err := os.WriteFile(userlist, []byte(`"`+c.User+`" ""`+"\n"), 0o644); err != nil {
		return nil, "", err
	}
	var clientTLSConf string
	if *clientTLS {
		// PgBouncer runs as the cluster's user: its own copy of the key.
		cert, key := filepath.Join(dir, "client-tls.crt"), filepath.Join(dir, "client-tls.key")
		for _, f := range [][2]string{{clientCert, cert}, {clientKey, key}} {
			b, err := os.ReadFile(f[0])
			if err != nil {
				return nil, "", err
			}
			if err := os.WriteFile(f[1], b, 0o600); err != nil {
				return nil, "", err
			}
			if cred == nil {
				continue
			}
			if err := os.Chown(f[1], int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, "", err
			}
		}
		clientTLSConf = fmt.Sprintf("client_tls_sslmode = allow\nclient_tls_cert_file = %s\nclient_tls_key_file = %s\n", cert, key)
	}
	p, err := onFreePort(func(port int) (*process, error) {
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
server_tls_sslmode = %s
%s`, c.Host, c.Port, port, userlist, mode, maxClients, poolSize, serverTLSMode(), clientTLSConf)
		if err := os.WriteFile(ini, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, ini)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return startProcess(ctx, "pgbouncer", cmd, filepath.Join(dir, "pgbouncer.log"), port)
	})
	return p, version, err
}

// serverTLSMode is PgBouncer's server_tls_sslmode for this run.
func serverTLSMode() string {
	if *backendTLS {
		return "require"
	}
	return "disable"
}
