package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy"
)

// alive reports whether the child still runs.
func (c *child) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// status returns a field of /proc/PID/status, such as VmRSS.
func (c *child) status(field string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func (c *child) openFiles() int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.cmd.Process.Pid))
	return len(ents)
}

// count returns how many output lines contain sub.
func (l *lines) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.all {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// getReady returns GET /ready's status code and body; 0 when it did not
// answer within 5s.
func getReady(api string) (int, string) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(api + "/ready")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitReady(t *testing.T, api string, want int, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, body := getReady(api)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /ready = %d %s, want %d within %v", code, body, want, within)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
}

// flood opens n idle TCP connections to addr that never send a byte, and
// returns them; the proxy answers those it refuses with an ErrorResponse.
func flood(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("flood connection %d: %v", len(conns)+1, err)
		}
		conns = append(conns, c)
	}
	return conns
}

// held reads every connection for a moment: those the proxy refused
// answer 53300 and close; the rest the proxy holds.
func held(t *testing.T, conns []net.Conn) (heldN, refusedN int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			b, err := io.ReadAll(c)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case isTimeoutErr(err) && len(b) == 0:
				heldN++
			case len(b) > 0 && b[0] == 'E' && bytes.Contains(b, []byte("53300")) && bytes.Contains(b, []byte("sorry, too many clients already")):
				refusedN++
			default:
				t.Errorf("flood connection read %q, %v: want 53300 or nothing", b, err)
			}
		})
	}
	wg.Wait()
	return heldN, refusedN
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestFileLimitFlood is the "dead listener that reports healthy" attack
// from outside: heliosproxy as a process of its own under a 256 open-file limit, flooded with
// more idle connections than that. It must stay up, refuse what it cannot
// hold with 53300 (never a hang), say so on /ready, log the episode once,
// and serve again when the flood goes.
func TestFileLimitFlood(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Fatalf("prlimit (util-linux) is needed: %v", err)
	}
	// A backend that asks for passwords: a trusting one is logged at Error
	// level (BackendTrustsProxy), and this test counts the log's warnings.
	pg := pgtest.New(t, pgtest.Options{Name: "fdlimit", Auth: "scram-sha-256"})
	path := filepath.Join(t.TempDir(), "heliosproxy.toml")
	body := fmt.Sprintf(`[proxy]
listen_address = "127.0.0.1:0"
startup_timeout = "5m"
[api]
listen_address = "127.0.0.1:0"
[observability]
metrics_enabled = false
[health_checks]
password = %q
[[backends.instances]]
name = "pg"
host = "127.0.0.1"
port = %d
`, pg.Password, pg.Port)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	const limit = 256
	p := startChildUnder(t, []string{"prlimit", fmt.Sprintf("--nofile=%d:%d", limit, limit)}, "run", "--config", path)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	line, _ := p.out.wait(t, ctx, 0, "proxy listening")
	addr := field(line, "addr")
	line, _ = p.out.wait(t, ctx, 0, "serving the REST API")
	api := strings.TrimSuffix(field(line, "url"), "/")
	if line, _ := p.out.wait(t, ctx, 0, "open-file limit"); !strings.Contains(line, fmt.Sprintf("soft=%d hard=%d", limit, limit)) {
		t.Errorf("start-up log: %s, want soft=%d hard=%d", line, limit, limit)
	}
	waitReady(t, api, 200, 30*time.Second)
	dsn := "postgres://postgres:" + pg.Password + "@" + addr + "/postgres?sslmode=disable&connect_timeout=10"

	conns := flood(t, addr, 2*limit)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	why := waitReady(t, api, 503, 30*time.Second)
	if !strings.Contains(why, "open-file limit 256") {
		t.Errorf("GET /ready during the flood = %s, want the reason with the open-file limit", why)
	}
	heldN, refusedN := held(t, conns)
	t.Logf("under a %d open-file limit: %d idle connections held, %d refused with 53300, %d open files, VmRSS %s",
		limit, heldN, refusedN, p.openFiles(), p.status("VmRSS"))
	if refusedN == 0 || heldN == 0 || heldN >= limit {
		t.Errorf("held %d, refused %d of %d idle connections: want some of each, fewer held than the limit", heldN, refusedN, len(conns))
	}

	// A real client during the flood: a clear error or served, never a hang.
	start := time.Now()
	conn, err := pgx.Connect(ctx, dsn)
	var pe *pgconn.PgError
	switch {
	case err == nil:
		conn.Close(ctx)
		t.Logf("a client during the flood was served")
	case errors.As(err, &pe) && pe.Code == "53300":
		t.Logf("a client during the flood was refused in %v: %s (%s)", time.Since(start).Round(time.Millisecond), pe.Message, pe.Detail)
	default:
		t.Errorf("a client during the flood: %v, want SQLSTATE 53300 or a session", err)
	}
	if !p.alive() {
		t.Fatalf("heliosproxy exited during the flood: %v\n%s", p.err, p.out)
	}
	if code, b := getReady(api); code != 503 {
		t.Errorf("GET /ready while the flood holds = %d %s, want 503", code, b)
	}

	for _, c := range conns {
		c.Close()
	}
	waitReady(t, api, 200, 30*time.Second)
	conn, err = pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect after the flood: %v", err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("SELECT 1 after the flood = %d, %v", one, err)
	}
	conn.Close(ctx)
	if !p.alive() {
		t.Fatalf("heliosproxy exited: %v", p.err)
	}
	failing, recovered := p.out.count("accept failing"), p.out.count("accept recovered")
	if failing != 1 || recovered != 1 {
		t.Errorf("log has %d \"accept failing\" and %d \"accept recovered\" lines, want one each:\n%s", failing, recovered, p.out)
	}
	// Besides the API's access log of each 503: the low limit at start,
	// and the episode.
	if n := p.out.count("level=WARN") + p.out.count("level=ERROR") - p.out.count(`msg="http request"`); n != 2 {
		t.Errorf("log has %d warnings and errors besides requests, want 2 (the low limit, the episode):\n%s", n, p.out)
	}
}

// TestGoRaisesFileLimit checks what logFileLimit documents: the Go
// runtime raises the soft open-file limit by itself (to hard − 1).
func TestGoRaisesFileLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "heliosproxy.toml")
	body := fmt.Sprintf(`[proxy]
listen_address = "127.0.0.1:0"
[api]
listen_address = "127.0.0.1:%d"
[observability]
metrics_enabled = false
[health_checks]
enabled = false
[[backends.instances]]
name = "nowhere"
host = "127.0.0.1"
port = %d
`, freePort(t), freePort(t))
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startChildUnder(t, []string{"prlimit", "--nofile=256:4096"}, "run", "--config", path)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if line, _ := p.out.wait(t, ctx, 0, "open-file limit"); !strings.Contains(line, "soft=4095 hard=4096") {
		t.Errorf("started under 256:4096: %s, want soft=4095 hard=4096", line)
	}
	p.out.wait(t, ctx, 0, "proxy listening") // SIGTERM is handled from then on
}

// TestServeStopsWhenAcceptBreaks: when the client listener breaks for
// good (here shut down under the proxy's feet, so that accept fails with
// EINVAL), serve must stop the REST API too and return the error, for the
// process to exit non-zero instead of answering /health with no listener.
func TestServeStopsWhenAcceptBreaks(t *testing.T) {
	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	cfg.Observability.MetricsEnabled = false
	apiPort := freePort(t)
	cfg.API.ListenAddress = fmt.Sprintf("127.0.0.1:%d", apiPort)
	b := config.DefaultBackend()
	b.Name, b.Host, b.Port = "nowhere", "127.0.0.1", freePort(t)
	cfg.Backends.Instances = []config.Backend{b}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	started := make(chan net.Addr, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(_ *proxy.Server, a net.Addr) { started <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-started:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	api := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	if code, _ := getReady(api); code == 0 {
		t.Fatal("the API does not answer")
	}
	fd := listeningFD(t, addr.(*net.TCPAddr).Port)
	if err := syscall.Shutdown(fd, syscall.SHUT_RD); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "proxy stopped: accept on") {
			t.Errorf("serve = %v, want the accept error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return within 10s of its listener breaking")
	}
	if code, body := getReady(api); code != 0 {
		t.Errorf("GET /ready after serve returned = %d %s, want no answer", code, body)
	}
}

// listeningFD finds this process's listening socket on port.
func listeningFD(t *testing.T, port int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			continue
		}
		if in, ok := sa.(*syscall.SockaddrInet4); !ok || in.Port != port {
			continue
		}
		if v, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN); err == nil && v == 1 {
			return fd
		}
	}
	t.Fatalf("no listening socket on port %d", port)
	return -1
}
