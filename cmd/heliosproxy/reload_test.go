package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// TestReloadRotatesAdminToken: an operator rotates a leaked admin token
// (and lets the API answer a new DNS name) by editing [api] and reloading.
// The reload answers that nothing needs a restart, so from then on the old
// token must be refused and the new one, and the new name, work. Before,
// the API kept the token and hosts it started with: the old token went on
// changing overrides, the new one got 401, the name 421.
func TestReloadRotatesAdminToken(t *testing.T) {
	pg := pgtest.New(t, pgtest.Options{Name: "rotate"})
	apiPort, metricsPort := freePort(t), freePort(t)
	const oldToken, newToken = "rotate-old-token-0123456789", "rotate-new-token-9876543210"
	path := filepath.Join(t.TempDir(), "heliosproxy.toml")
	write := func(token, hosts string) {
		t.Helper()
		body := fmt.Sprintf(`[proxy]
listen_address = "127.0.0.1:0"
[api]
listen_address = "127.0.0.1:%d"
admin_token = %q
allowed_hosts = [%s]
[observability]
metrics_port = %d
[health_checks]
password = %q
[[backends.instances]]
name = "pg-a"
host = "127.0.0.1"
port = %d
`, apiPort, token, hosts, metricsPort, pg.Password, pg.Port)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(oldToken, "")
	startService(t, path)
	api := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	healthFor := func(host string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", api+"/health", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	override := `{"state":"OPEN","reason":"maintenance"}`
	if code, js := httpDo(t, "PUT", api+"/circuit-breaker/backends/pg-a/override", oldToken, override); code != 200 {
		t.Fatalf("PUT override with the token = %d %s", code, js)
	}
	if code := healthFor("proxy.example.com"); code != http.StatusMisdirectedRequest {
		t.Errorf("GET /health for proxy.example.com before it is allowed = %d, want 421", code)
	}

	write(newToken, `"proxy.example.com"`)
	code, js := httpDo(t, "POST", api+"/config/reload", oldToken, "")
	if code != 200 || !strings.Contains(js, `"changed":["api"]`) || !strings.Contains(js, `"restart_required":[]`) {
		t.Fatalf("reload = %d %s, want 200 with api changed and no restart required", code, js)
	}
	if code, js := httpDo(t, "DELETE", api+"/circuit-breaker/backends/pg-a/override", oldToken, ""); code != http.StatusUnauthorized {
		t.Errorf("DELETE override with the rotated-out token = %d %s, want 401", code, js)
	}
	if code, js := httpDo(t, "DELETE", api+"/circuit-breaker/backends/pg-a/override", newToken, ""); code != http.StatusNoContent {
		t.Errorf("DELETE override with the new token = %d %s, want 204", code, js)
	}
	if code := healthFor("proxy.example.com"); code != http.StatusOK {
		t.Errorf("GET /health for proxy.example.com once allowed = %d, want 200", code)
	}

	// A reload that removes the token (loopback only) disables changes.
	write("", "")
	if code, js := httpDo(t, "POST", api+"/config/reload", newToken, ""); code != 200 {
		t.Fatalf("reload without a token = %d %s", code, js)
	}
	if code, js := httpDo(t, "POST", api+"/config/reload", newToken, ""); code != http.StatusForbidden {
		t.Errorf("reload once no token is configured = %d %s, want 403", code, js)
	}
}

// TestReloadChangesLogLevel: log_level = "debug" and a SIGHUP is how an
// operator turns on debug logging without ending every client session;
// back to "info" turns it off. Before, the reload answered that nothing
// needed a restart and the level stayed what the process started with.
func TestReloadChangesLogLevel(t *testing.T) {
	pg := pgtest.New(t, pgtest.Options{Name: "loglevel"})
	path := childConfig(t, pg, "")
	conf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	setLevel := func(level string) {
		t.Helper()
		body := strings.Replace(string(conf), "metrics_enabled = false\n", "metrics_enabled = false\nlog_level = \""+level+"\"\n", 1)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := startChild(t, "run", "--config", path)
	line, next := c.out.wait(t, ctx, 0, "serving the REST API and dashboard")
	api := strings.TrimSuffix(field(line, "url"), "/")
	// A successful GET is logged at Debug; /ready marks where a step's
	// requests end, since the log is read as it comes.
	get := func(p string) {
		t.Helper()
		if code, js := httpDo(t, "GET", api+p, "", ""); code != 200 {
			t.Fatalf("GET %s = %d %s", p, code, js)
		}
	}
	hangup := func(from int) int {
		t.Helper()
		if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		_, n := c.out.wait(t, ctx, from, "config reloaded")
		return n
	}

	setLevel("debug")
	next = hangup(next)
	get("/health")
	if line, _ := c.out.wait(t, ctx, next, "http request", "path=/health"); field(line, "level") != "DEBUG" {
		t.Errorf("after log_level = \"debug\" and SIGHUP: %s", line)
	}
	c.out.wait(t, ctx, 0, "log level changed", "from=INFO", "to=DEBUG")

	setLevel("info")
	next = hangup(next)
	get("/health")
	get("/circuit-breaker/status")
	// Logged at Info: a 404.
	httpDo(t, "GET", api+"/circuit-breaker/status/nope", "", "")
	_, end := c.out.wait(t, ctx, next, "http request", "path=/circuit-breaker/status/nope")
	c.out.mu.Lock()
	for _, l := range c.out.all[next:end] {
		if strings.Contains(l, "http request") && strings.Contains(l, "level=DEBUG") {
			t.Errorf("after log_level = \"info\" and SIGHUP, a Debug line: %s", l)
		}
	}
	c.out.mu.Unlock()
}
