package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestCheckConfig(t *testing.T) {
	t.Setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.example/T000/B000/very-secret-token")
	t.Setenv("PAGERDUTY_KEY", "pd-routing-key-secret")
	var out, errOut bytes.Buffer
	if code := run([]string{"check-config", "../../config/testdata/sample.toml"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("check-config sample.toml = exit %d, stderr:\n%s", code, errOut.String())
	}
	for _, want := range []string{"listen_address = '0.0.0.0:5432'", "name = 'primary-1'", "[redacted]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("effective config lacks %q:\n%s", want, out.String())
		}
	}
	for _, secret := range []string{"very-secret-token", "pd-routing-key-secret"} {
		if strings.Contains(out.String()+errOut.String(), secret) {
			t.Errorf("check-config printed the secret %q", secret)
		}
	}
	if strings.Contains(errOut.String(), "not implemented") {
		t.Errorf("the seed's configuration warns of a key not implemented:\n%s", errOut.String())
	}

	// URLs with a password (an HTTP proxy in front of PagerDuty, a
	// dashboard behind basic authentication): printed without it. Before,
	// check-config, GET /config and the start-up log showed them whole.
	withURLs := filepath.Join(t.TempDir(), "urls.toml")
	if err := os.WriteFile(withURLs, []byte("[[backends.instances]]\nname = \"a\"\nhost = \"h\"\n[alerts]\n"+
		"pagerduty_events_url = \"https://pd:pd-url-secret@pd.example.com/v2/enqueue\"\n"+
		"dashboard_url = \"https://ops:dash-url-secret@dash.example.com/\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"check-config", withURLs}, nil, &out, &errOut); code != 0 {
		t.Fatalf("check-config urls.toml = exit %d, stderr:\n%s", code, errOut.String())
	}
	if strings.Contains(out.String(), "url-secret") || !strings.Contains(out.String(), "https://pd:xxxxx@pd.example.com/v2/enqueue") {
		t.Errorf("check-config with URL passwords printed:\n%s", out.String())
	}

	for _, tc := range []struct {
		body string
		want []string
	}{
		{"[proxy]\nlisten_address = \"127.0.0.1:6432\"\nlisten_adress = \"x\"\n[[backends.instances]]\nname = \"a\"\nhost = \"h\"\n",
			[]string{"bad.toml:3:", "listen_adress"}},
		{"[[backends.instances]]\nname = \"a\"\nhost = \"h\"\nport = 70000\n[circuit_breaker]\nopen_duration = \"0s\"\n",
			[]string{"bad.toml:4:", "70000", "bad.toml:6:", "open_duration"}},
	} {
		bad := filepath.Join(t.TempDir(), "bad.toml")
		if err := os.WriteFile(bad, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		errOut.Reset()
		if code := run([]string{"check-config", bad}, nil, &out, &errOut); code != 1 {
			t.Errorf("check-config %q = exit %d, want 1", tc.body, code)
		}
		for _, want := range tc.want {
			if !strings.Contains(errOut.String(), want) {
				t.Errorf("errors lack %q:\n%s", want, errOut.String())
			}
		}
		if out.Len() != 0 {
			t.Errorf("check-config printed a config for an invalid file:\n%s", out.String())
		}
	}
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"frobnicate"}, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown command") {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut.String())
	}
	out.Reset()
	if code := run([]string{"version"}, nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "heliosproxy ") {
		t.Errorf("version: exit %d, stdout %q", code, out.String())
	}
	// health's usage errors are usage errors (2), not an unhealthy proxy
	// (1): before, "health --help" fetched the URL "--help".
	for _, args := range [][]string{{"health", "--help"}, {"health", "-h"}, {"health", "http://127.0.0.1:1/health", "extra"}} {
		errOut.Reset()
		if code := run(args, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "usage: heliosproxy health") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and the usage", args, code, errOut.String())
		}
	}
}

// lines collects written lines and lets a test wait for one.
type lines struct {
	mu   sync.Mutex
	buf  []byte
	all  []string
	more chan struct{} // closed and replaced on every complete line
}

func newLines() *lines { return &lines{more: make(chan struct{})} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.all = append(l.all, string(l.buf[:i]))
		l.buf = l.buf[i+1:]
		close(l.more)
		l.more = make(chan struct{})
	}
	return len(p), nil
}

// wait returns the first line from index from on that contains every one
// of subs, and the index after it.
func (l *lines) wait(t *testing.T, ctx context.Context, from int, subs ...string) (string, int) {
	t.Helper()
	return l.waitFor(t, ctx, from, fmt.Sprintf("%q", subs), func(line string) bool {
		for _, s := range subs {
			if !strings.Contains(line, s) {
				return false
			}
		}
		return true
	})
}

// waitFor returns the first line from index from on that match accepts,
// and the index after it; what describes such a line for the failure.
func (l *lines) waitFor(t *testing.T, ctx context.Context, from int, what string, match func(string) bool) (string, int) {
	t.Helper()
	for {
		l.mu.Lock()
		for i := from; i < len(l.all); i++ {
			if match(l.all[i]) {
				line := l.all[i]
				l.mu.Unlock()
				return line, i + 1
			}
		}
		from = len(l.all)
		more := l.more
		l.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			l.mu.Lock()
			tail := l.all[max(0, len(l.all)-30):]
			l.mu.Unlock()
			t.Fatalf("no output line with %s; the last lines:\n%s", what, strings.Join(tail, "\n"))
		}
	}
}

func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stdin, commands := io.Pipe()
	out := newLines()
	exit := make(chan int, 1)
	go func() {
		exit <- run([]string{"demo", "--listen", "127.0.0.1:0", "--metrics-port", "0", "--api", "127.0.0.1:0"}, stdin, out, out)
	}()
	t.Cleanup(func() { commands.Close() })

	line, next := out.wait(t, ctx, 0, "HeliosProxy is running on ")
	addr := strings.Fields(strings.TrimPrefix(line, "HeliosProxy is running on "))[0]
	conn, err := pgx.Connect(ctx, "postgres://postgres:"+demoPassword+"@"+addr+"/postgres?sslmode=disable")
	if err != nil {
		t.Fatalf("connect to the demo proxy at %s: %v", addr, err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("query through the demo: %d, %v", one, err)
	}
	conn.Close(ctx)

	if _, err := io.WriteString(commands, "kill replica-1\n"); err != nil {
		t.Fatal(err)
	}
	_, next = out.wait(t, ctx, next, "CircuitOpened", "replica-1")
	if _, err := io.WriteString(commands, "status\n"); err != nil {
		t.Fatal(err)
	}
	out.wait(t, ctx, next, "replica-1", "OPEN", "hard_failure")
	if _, err := io.WriteString(commands, "quit\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("demo exit code = %d, want 0", code)
		}
	case <-ctx.Done():
		t.Fatal("demo did not stop after quit")
	}
}

// TestDemoNodes: demo --nodes 3 runs three instances as one cluster in
// front of the demo's PostgreSQL servers: each sees the three alive, and a
// backend killed through the demo is OPEN on the third instance too.
func TestDemoNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stdin, commands := io.Pipe()
	out := newLines()
	exit := make(chan int, 1)
	go func() {
		exit <- run([]string{"demo", "--nodes", "3", "--gossip-port", "0", "--listen", "127.0.0.1:0", "--metrics-port", "0", "--api", "127.0.0.1:0"}, stdin, out, out)
	}()
	t.Cleanup(func() { commands.Close() })

	line, next := out.wait(t, ctx, 0, "demo-3:  proxy ")
	third := strings.TrimSuffix(strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "demo-3:  proxy "))[0], ",")
	sql := func(q string) (string, error) {
		conn, err := pgx.Connect(ctx, "postgres://postgres:"+demoPassword+"@"+third+"/helios_proxy?sslmode=disable")
		if err != nil {
			return "", err
		}
		defer conn.Close(ctx)
		var v string
		err = conn.QueryRow(ctx, q).Scan(&v)
		return v, err
	}
	// until polls query on demo-3 until it answers want (or the test's
	// deadline passes).
	until := func(what, query, want string) {
		t.Helper()
		for {
			got, err := sql(query)
			if err == nil && got == want {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("demo-3: %s = %q (%v), want %q", what, got, err, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	until("alive members", "SELECT count(*)::text FROM helios_proxy.cluster_members WHERE state = 'alive'", "3")
	if _, err := io.WriteString(commands, "kill replica-1\n"); err != nil {
		t.Fatal(err)
	}
	out.wait(t, ctx, next, "CircuitOpened", "replica-1")
	until("replica-1's circuit", "SELECT circuit_state FROM helios_proxy.circuit_breaker_status WHERE backend_name = 'replica-1'", "OPEN")
	if _, err := io.WriteString(commands, "quit\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("demo exit code = %d, want 0", code)
		}
	case <-ctx.Done():
		t.Fatal("demo did not stop after quit")
	}
}
