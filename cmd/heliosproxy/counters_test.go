package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// TestCountersSurviveReload: the totals of a backend (requests_total and
// the rest, in /metrics and the REST status) never go back when a reload
// replaces its server under the same name (a new host for it) or removes
// it and adds it again. Before, they started again at 0: Prometheus took
// that for a restart of the proxy, and the status's requests_total fell.
func TestCountersSurviveReload(t *testing.T) {
	// Two servers: one server under two names would be two primaries of
	// one system, and one of them fenced.
	pgA := pgtest.New(t, pgtest.Options{Name: "counters-a"})
	pg := pgtest.New(t, pgtest.Options{Name: "counters-b"})
	apiPort, metricsPort := freePort(t), freePort(t)
	path := filepath.Join(t.TempDir(), "heliosproxy.toml")
	write := func(host string, withB bool) {
		t.Helper()
		body := fmt.Sprintf(`[proxy]
listen_address = "127.0.0.1:0"
[api]
listen_address = "127.0.0.1:%d"
[observability]
metrics_port = %d
[health_checks]
password = %q
[[backends.instances]]
name = "pg-a"
host = "127.0.0.1"
port = %d
`, apiPort, metricsPort, pg.Password, pgA.Port)
		if withB {
			// The higher tier: every session goes to pg-b.
			body += fmt.Sprintf("[[backends.instances]]\nname = \"pg-b\"\nhost = %q\nport = %d\npriority = 100\n", host, pg.Port)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("127.0.0.1", true)
	sv := startService(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	api := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	requests := func() (fromMetrics, fromStatus int) {
		t.Helper()
		_, m := httpDo(t, "GET", metricsURL, "", "")
		if g := regexp.MustCompile(`(?m)^helios_circuit_breaker_requests_total\{backend="pg-b"\} (\d+)$`).FindStringSubmatch(m); g != nil {
			fromMetrics, _ = strconv.Atoi(g[1])
		}
		_, js := httpDo(t, "GET", api+"/circuit-breaker/status/pg-b", "", "")
		if g := regexp.MustCompile(`"requests_total":(\d+)`).FindStringSubmatch(js); g != nil {
			fromStatus, _ = strconv.Atoi(g[1])
		}
		return fromMetrics, fromStatus
	}
	// Sessions until pg-b has served some (its health check may pass after
	// the first ones).
	for n := 0; ; n++ {
		if m, _ := requests(); m >= 5 {
			break
		}
		if n == 200 {
			t.Fatal("pg-b served no requests")
		}
		conn, err := pgx.Connect(ctx, "postgres://postgres:"+pg.Password+"@"+sv.pg+"/postgres?sslmode=disable")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
	}
	before, beforeStatus := requests()

	for _, step := range []struct {
		what  string
		host  string
		withB bool
	}{
		{"replaced by another server (a new host)", "localhost", true},
		{"removed", "localhost", false},
		{"added again", "127.0.0.1", true},
	} {
		write(step.host, step.withB)
		if _, err := sv.srv.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if !step.withB {
			continue
		}
		if m, st := requests(); m < before || st < beforeStatus {
			t.Errorf("pg-b %s: requests_total %d in /metrics, %d in the status; before %d and %d: a counter went back",
				step.what, m, st, before, beforeStatus)
		}
	}
}
