package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/internal/pgcluster"
)

// process is a server this command runs as a child process, PgBouncer or
// a heliosproxy binary, accepting PostgreSQL clients on 127.0.0.1:port.
// Stop ends it.
type process struct {
	name string
	port int
	cmd  *exec.Cmd
	log  string        // its stdout and stderr
	done chan struct{} // closed once the process is reaped
}

// onFreePort calls start with a free port, and again with another when
// the port was taken before the server bound it.
func onFreePort(start func(port int) (*process, error)) (*process, error) {
	const attempts = 5
	for attempt := 1; ; attempt++ {
		port, err := pgcluster.FreePort()
		if err != nil {
			return nil, err
		}
		p, err := start(port)
		if err == nil || attempt == attempts || !strings.Contains(err.Error(), "in use") {
			return p, err
		}
	}
}

// startProcess starts cmd, which is to serve on port, with its output in
// the file logPath, and returns once it accepts connections. The process
// is in its own process group, so that Ctrl-C reaches only this command,
// which stops it; if this command dies without stopping it, the kernel
// kills it. On error nothing is left running.
func startProcess(ctx context.Context, name string, cmd *exec.Cmd, logPath string, port int) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, port: port, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // its log says why it exited
		close(p.done)
	}()
	if err := p.waitReady(ctx); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func (p *process) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	dsn := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", p.port)
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgconn.Connect(attempt, dsn)
		cancelAttempt()
		if err == nil {
			_ = conn.Close(ctx) // it answered, which is all we wanted
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s on port %d exited during startup (%v); its log:\n%s", p.name, p.port, err, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("%s on port %d does not accept connections: %w (last attempt: %v); its log:\n%s", p.name, p.port, ctx.Err(), err, p.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop ends the process by its PID: SIGTERM, then SIGKILL after 5 seconds.
// It returns once the process is reaped.
func (p *process) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // fails only if it already exited
	select {
	case <-p.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *process) logTail() string {
	out, _ := os.ReadFile(p.log)
	if len(out) > 2048 {
		out = out[len(out)-2048:]
	}
	return string(out)
}
