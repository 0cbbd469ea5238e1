package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy"
	"github.com/heliosdb/heliosproxy/status"
)

// The proxy is what cmd passes to New.
var _ Controller = (*proxy.Server)(nil)

// pgPassword is the clusters' superuser password, which the proxy's health
// checks use: a secret like the admin token.
const pgPassword = "pg-monitor-secret-5b1e93"

// proxyConfigFile writes a config file for the clusters and returns its
// path. extra is appended as written.
func proxyConfigFile(t *testing.T, path, stateDir string, clusters []*pgtest.Cluster, extra string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `[proxy]
listen_address = "127.0.0.1:0"

[circuit_breaker]
open_duration = "1s"
recovery_ramp_up_duration = "2s"

[health_checks]
interval = "1s"
timeout = "1s"
user = "postgres"
password = %q

[api]
admin_token = %q

[state]
dir = %q
`, pgPassword, testToken, stateDir)
	for i, c := range clusters {
		fmt.Fprintf(&b, "\n[[backends.instances]]\nname = %q\nhost = %q\nport = %d\n", []string{"pg-a", "pg-b", "pg-c"}[i], c.Host, c.Port)
	}
	b.WriteString(extra)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// runProxy starts a proxy from the config file at path until the test
// ends; its log goes to logs.
func runProxy(t *testing.T, path string, logs *syncBuffer) (*proxy.Server, string) {
	t.Helper()
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	srv, err := proxy.New(cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	srv.SetConfigSource(func() (config.Config, []config.Warning, error) { return config.Load(path) })
	ln, err := net.Listen("tcp", cfg.Proxy.ListenAddress)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy Run: %v", err)
		}
	})
	return srv, ln.Addr().String()
}

// backendStatus GETs one backend's status.
func backendStatus(t *testing.T, h *harness, name string) map[string]any {
	t.Helper()
	resp, b := h.do(req{method: "GET", path: "/circuit-breaker/status/" + name})
	var m map[string]any
	if err := json.Unmarshal(b, &m); resp.StatusCode != 200 || err != nil {
		t.Fatalf("GET status of %s = %d %s", name, resp.StatusCode, b)
	}
	return m
}

// eventually polls cond until it holds or the time is up.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAgainstProxy runs every endpoint against a proxy in front of real
// PostgreSQL clusters; the harness validates every response against
// openapi.yaml.
func TestAgainstProxy(t *testing.T) {
	var clusters []*pgtest.Cluster
	for _, name := range []string{"api-a", "api-b", "api-c"} {
		clusters = append(clusters, pgtest.New(t, pgtest.Options{Name: name, Auth: "scram-sha-256", Password: pgPassword}))
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "helios.toml")
	stateDir := filepath.Join(dir, "state")
	proxyConfigFile(t, path, stateDir, clusters[:2], "")
	proxyLogs := &syncBuffer{}
	p, addr := runProxy(t, path, proxyLogs)
	h := newHarness(t, p, Options{AdminToken: testToken, ListenAddress: "127.0.0.1:8080"})
	t.Cleanup(func() {
		for _, s := range []string{testToken, pgPassword} {
			if strings.Contains(h.logs.String(), s) || strings.Contains(proxyLogs.String(), s) {
				t.Errorf("a secret appears in the log")
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Probes and status.
	if resp, b := h.do(req{method: "GET", path: "/health"}); resp.StatusCode != 200 {
		t.Errorf("GET /health = %d %s", resp.StatusCode, b)
	}
	if resp, b := h.do(req{method: "GET", path: "/ready"}); resp.StatusCode != 200 {
		t.Errorf("GET /ready = %d %s", resp.StatusCode, b)
	}
	resp, b := h.do(req{method: "GET", path: "/circuit-breaker/status"})
	var st statusJSON
	if err := json.Unmarshal(b, &st); resp.StatusCode != 200 || err != nil || len(st.Backends) != 2 {
		t.Fatalf("GET /circuit-breaker/status = %d %s", resp.StatusCode, b)
	}
	if a := st.Backends[0]; a.BackendName != "pg-a" || a.Port != clusters[0].Port || a.CircuitState != status.Closed || a.Override != nil {
		t.Errorf("pg-a = %+v", a)
	}
	if time.Since(st.Timestamp) > time.Minute {
		t.Errorf("timestamp %v is not now", st.Timestamp)
	}
	backendStatus(t, h, "pg-b")
	if resp, b := h.do(req{method: "GET", path: "/circuit-breaker/status/pg-x"}); resp.StatusCode != 404 {
		t.Errorf("GET status of pg-x = %d %s, want 404", resp.StatusCode, b)
	}

	// The effective config: secrets redacted.
	resp, b = h.do(req{method: "GET", path: "/config"})
	if resp.StatusCode != 200 || strings.Contains(string(b), pgPassword) || !strings.Contains(string(b), config.Redaction) {
		t.Errorf("GET /config = %d %s, want 200 with secrets redacted", resp.StatusCode, b)
	}

	// Live events: an override set through the API arrives on the stream.
	_, stream := openStream(t, ctx, h, nil)
	resp, b = h.do(req{method: "PUT", path: "/circuit-breaker/backends/pg-b/override",
		body: `{"state":"OPEN","reason":"maintenance: vacuum full","ttl":"1h"}`, header: map[string]string{AuthorHeader: "alice"}})
	if resp.StatusCode != 200 {
		t.Fatalf("PUT override = %d %s", resp.StatusCode, b)
	}
	nextOfType := func(typ string) sseEvent {
		t.Helper()
		for {
			ev, err := stream.nextEvent()
			if err != nil {
				t.Fatalf("waiting for %s on the stream: %v", typ, err)
			}
			if err := h.spec.validateSchema("Event", []byte(ev.data)); err != nil {
				t.Errorf("streamed %s does not match the Event schema: %v\n%s", ev.event, err, ev.data)
			}
			if ev.event == typ {
				return ev
			}
		}
	}
	if ev := nextOfType("OverrideSet"); !strings.Contains(ev.data, `"author":"alice"`) || !strings.Contains(ev.data, `"backend_name":"pg-b"`) {
		t.Errorf("OverrideSet = %s", ev.data)
	}
	bs := backendStatus(t, h, "pg-b")
	if bs["circuit_state"] != "OPEN" || bs["override"] != "OPEN" || bs["override_author"] != "alice" || bs["override_reason"] != "maintenance: vacuum full" {
		t.Errorf("pg-b after the override = %v", bs)
	}
	if exp, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(bs["override_expires"])); exp.Before(time.Now().Add(59*time.Minute)) || exp.After(time.Now().Add(61*time.Minute)) {
		t.Errorf("override_expires = %v, want in an hour", bs["override_expires"])
	}
	// The SQL table through the proxy says the same.
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres:%s@%s/postgres?sslmode=disable", pgPassword, addr))
	if err != nil {
		t.Fatal(err)
	}
	var state, override string
	if err := conn.QueryRow(ctx, "SELECT circuit_state, override FROM helios_proxy.circuit_breaker_status WHERE backend_name = 'pg-b'").Scan(&state, &override); err != nil || state != "OPEN" || override != "OPEN" {
		t.Errorf("SQL: pg-b %s override %s, %v; want OPEN, OPEN", state, override, err)
	}
	conn.Close(ctx)

	// History.
	resp, b = h.do(req{method: "GET", path: "/circuit-breaker/events?limit=10"})
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"event_type":"OverrideSet"`) {
		t.Errorf("GET events = %d %s", resp.StatusCode, b)
	}
	if resp, b := h.do(req{method: "GET", path: "/circuit-breaker/events?limit=x"}); resp.StatusCode != 400 {
		t.Errorf("GET events?limit=x = %d %s", resp.StatusCode, b)
	}

	// Errors and auth against the real proxy.
	for _, tc := range []struct {
		r    req
		want int
	}{
		{req{method: "PUT", path: "/circuit-breaker/backends/pg-x/override", body: `{"state":"OPEN","reason":"x"}`}, 404},
		{req{method: "DELETE", path: "/circuit-breaker/backends/pg-x/override"}, 404},
		{req{method: "PUT", path: "/circuit-breaker/backends/pg-a/override", body: `{"state":"HALF_OPEN","reason":"x"}`}, 400},
		{req{method: "PUT", path: "/circuit-breaker/backends/pg-a/override", body: `{"state":"OPEN","reason":"x","ttl":"forever"}`}, 400},
		{req{method: "PUT", path: "/circuit-breaker/backends/pg-a/override", body: `{"state":"OPEN","reason":"x","by":"me"}`}, 400},
		{req{method: "PUT", path: "/circuit-breaker/backends/pg-a/override", body: `{"state":"OPEN"`}, 400},
		{req{method: "PUT", path: "/circuit-breaker/backends/pg-a/override", body: `{"state":"OPEN","reason":"x"}`, noAuth: true}, 401},
		{req{method: "POST", path: "/config/reload", header: map[string]string{"Authorization": "Bearer nope"}}, 401},
		{req{method: "PUT", path: "/circuit-breaker/backends/pg-a/override", body: strings.Repeat(" ", maxBodyBytes+1)}, 413},
		{req{method: "PUT", path: "/circuit-breaker/backends/pg-a/override", body: "x", header: map[string]string{"Content-Type": "text/plain"}}, 415},
		{req{method: "PATCH", path: "/circuit-breaker/backends/pg-a/override"}, 405},
		{req{method: "GET", path: "/nope"}, 404},
		{req{method: "POST", path: "/alerts/test"}, 501},
	} {
		if resp, b := h.do(tc.r); resp.StatusCode != tc.want {
			t.Errorf("%s %s = %d %s, want %d", tc.r.method, tc.r.path, resp.StatusCode, b, tc.want)
		}
	}
	if bs := backendStatus(t, h, "pg-a"); bs["override"] != nil {
		t.Errorf("a rejected request changed pg-a: %v", bs)
	}

	// A second proxy process over the same state directory has the override.
	again, _ := runProxy(t, path, &syncBuffer{})
	h2 := newHarness(t, again, Options{AdminToken: testToken, ListenAddress: "127.0.0.1:8080"})
	if bs := backendStatus(t, h2, "pg-b"); bs["override"] != "OPEN" || bs["override_author"] != "alice" {
		t.Errorf("after a restart pg-b = %v, want the override", bs)
	}

	// Reload: the same file changes nothing; adding pg-c adds it; the
	// override survives both.
	resp, b = h.do(req{method: "POST", path: "/config/reload"})
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"added":[]`) {
		t.Errorf("reload of the same file = %d %s", resp.StatusCode, b)
	}
	proxyConfigFile(t, path, stateDir, clusters, "")
	resp, b = h.do(req{method: "POST", path: "/config/reload"})
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"added":["pg-c"]`) {
		t.Errorf("reload adding pg-c = %d %s", resp.StatusCode, b)
	}
	nextOfType("ConfigReloaded")
	backendStatus(t, h, "pg-c")
	if bs := backendStatus(t, h, "pg-b"); bs["override"] != "OPEN" {
		t.Errorf("after a reload pg-b = %v, want the override", bs)
	}

	// An invalid file: 400 with every problem as file:line, nothing changes.
	proxyConfigFile(t, path, stateDir, clusters[:1], "\n[circuit_breaker_typo]\nx = 1\n")
	if err := os.WriteFile(path, []byte(strings.Replace(mustRead(t, path), `open_duration = "1s"`, `open_duration = "soon"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, b = h.do(req{method: "POST", path: "/config/reload"})
	e := errorBody(t, b)
	if resp.StatusCode != 400 || e.Error != "invalid configuration" || len(e.Details) < 2 {
		t.Errorf("reload of an invalid file = %d %s, want 400 with at least two problems", resp.StatusCode, b)
	}
	lineRE := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `:\d+: `)
	for _, d := range e.Details {
		if !lineRE.MatchString(d) {
			t.Errorf("problem %q is not file:line: message", d)
		}
	}
	_, b = h.do(req{method: "GET", path: "/circuit-breaker/status"})
	var kept struct{ Backends []map[string]any }
	if err := json.Unmarshal(b, &kept); err != nil || len(kept.Backends) != 3 {
		t.Errorf("after a rejected reload: %d backends, want 3 (kept): %v %s", len(kept.Backends), err, b)
	}

	// Not ready when no backend can take a session (all forced open).
	for _, name := range []string{"pg-a", "pg-c"} {
		if resp, b := h.do(req{method: "PUT", path: "/circuit-breaker/backends/" + name + "/override", body: `{"state":"OPEN","reason":"drill"}`}); resp.StatusCode != 200 {
			t.Fatalf("PUT override of %s = %d %s", name, resp.StatusCode, b)
		}
	}
	if resp, b := h.do(req{method: "GET", path: "/ready"}); resp.StatusCode != 503 || !strings.Contains(string(b), "every circuit is open") {
		t.Errorf("GET /ready with every circuit open = %d %s, want 503 with the reason", resp.StatusCode, b)
	}

	// Clearing: 204, and again 204.
	for _, name := range []string{"pg-a", "pg-b", "pg-c", "pg-b"} {
		if resp, b := h.do(req{method: "DELETE", path: "/circuit-breaker/backends/" + name + "/override", header: map[string]string{AuthorHeader: "bob"}}); resp.StatusCode != 204 {
			t.Errorf("DELETE override of %s = %d %s", name, resp.StatusCode, b)
		}
	}
	if ev := nextOfType("OverrideCleared"); !strings.Contains(ev.data, `"author":"bob"`) {
		t.Errorf("OverrideCleared = %s", ev.data)
	}
	if bs := backendStatus(t, h, "pg-b"); bs["override"] != nil {
		t.Errorf("pg-b after clearing = %v", bs)
	}
	if _, ok := backendStatus(t, h, "pg-b")["override_reason"]; ok {
		t.Errorf("override_reason present without an override")
	}
	eventually(t, 10*time.Second, "ready again", func() bool {
		resp, _ := h.do(req{method: "GET", path: "/ready"})
		return resp.StatusCode == 200
	})

	// Expiry: a short ttl clears itself.
	if resp, b := h.do(req{method: "PUT", path: "/circuit-breaker/backends/pg-a/override", body: `{"state":"CLOSED","reason":"pin","ttl":"300ms"}`}); resp.StatusCode != 200 {
		t.Fatalf("PUT override with ttl = %d %s", resp.StatusCode, b)
	}
	eventually(t, 10*time.Second, "override expiry", func() bool { return backendStatus(t, h, "pg-a")["override"] == nil })
	for {
		ev := nextOfType("OverrideCleared")
		if strings.Contains(ev.data, `"backend_name":"pg-a"`) && strings.Contains(ev.data, `"author":"expiry"`) {
			break
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
