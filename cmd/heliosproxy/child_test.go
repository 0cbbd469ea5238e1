package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// childEnv makes the test binary run as heliosproxy: a test starts it as
// a child process to read its log as an operator would, or to kill it.
const childEnv = "HELIOSPROXY_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// child is heliosproxy running as a child process of the test.
type child struct {
	cmd  *exec.Cmd
	out  *lines // its stdout and stderr
	done chan struct{}
	err  error // how it exited, once done is closed
}

// startChild runs heliosproxy with args until the test ends: at cleanup,
// if it still runs, it must stop cleanly on SIGTERM.
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	return startChildUnder(t, nil, args...)
}

// startChildUnder is startChild through wrapper, a command that execs the
// rest of its arguments (such as prlimit --nofile=256:256).
func startChildUnder(t *testing.T, wrapper []string, args ...string) *child {
	t.Helper()
	argv := append(append(slices.Clone(wrapper), os.Args[0]), args...)
	c := &child{cmd: exec.Command(argv[0], argv[1:]...), out: newLines(), done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), childEnv+"=1")
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
			return // the test stopped it
		default:
		}
		if err := c.stop(syscall.SIGTERM); err != nil {
			t.Errorf("heliosproxy (pid %d) after SIGTERM: %v", c.cmd.Process.Pid, err)
		}
	})
	return c
}

// stop sends sig to the child, by its PID, and waits for it to exit;
// after 30s it kills it.
func (c *child) stop(sig syscall.Signal) error {
	select {
	case <-c.done:
		return c.err
	default:
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
		return c.err
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		return context.DeadlineExceeded
	}
}

// childToken is the [api] admin_token of childConfig.
const childToken = "child-admin-token-0123456789"

// childConfig writes a configuration for a child and returns its path:
// the proxy and the API on loopback ports the child picks (their log lines
// say which), no metrics endpoint, pg as the backend "pg", then extra
// (more TOML sections).
func childConfig(t *testing.T, pg *pgtest.Cluster, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "heliosproxy.toml")
	body := fmt.Sprintf(`[proxy]
listen_address = "127.0.0.1:0"
[api]
listen_address = "127.0.0.1:0"
admin_token = %q
[observability]
metrics_enabled = false
[health_checks]
password = %q
[[backends.instances]]
name = "pg"
host = "127.0.0.1"
port = %d
`, childToken, pg.Password, pg.Port) + extra
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// field returns the value of key=value in a log line, or "".
func field(line, key string) string {
	_, v, ok := strings.Cut(line, " "+key+"=")
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, " ")
	return v
}
