package main

import (
	"log/slog"
	"syscall"

	"github.com/heliosdb/heliosproxy/config"
)

// logFileLimit logs the open-file limit the proxy runs with, and warns
// when it is too low for pool.max_client_conn clients.
//
// Every client connection is a file descriptor, and so is its backend
// connection in pass-through. The limit is not raised here because Go
// already does it: since Go 1.19 the syscall package's init (syscall/
// rlimit.go) raises the soft RLIMIT_NOFILE to the hard limit on every Unix
// (to hard − 1, so that it can tell a prlimit from outside), and os/exec
// gives child processes the original soft limit back — which calling
// Setrlimit here would turn off for the demo's PostgreSQL processes. What
// an operator can change is the hard limit: LimitNOFILE= in a systemd
// unit, ulimit -Hn, or the container runtime's nofile ulimit.
func logFileLimit(log *slog.Logger, cfg config.Config) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		log.Warn("open-file limit unknown", "err", err)
		return
	}
	log.Info("open-file limit", "soft", l.Cur, "hard", l.Max)
	// Two descriptors per client (its own, its backend's in pass-through)
	// and some for everything else.
	if need := 2*uint64(cfg.Pool.MaxClientConn) + 64; cfg.Pool.MaxClientConn > 0 && l.Cur < need {
		log.Warn("the open-file limit is too low for pool.max_client_conn clients; clients beyond it are refused with 53300 (raise LimitNOFILE or ulimit -n)",
			"soft", l.Cur, "max_client_conn", cfg.Pool.MaxClientConn, "want_at_least", need)
	}
}
