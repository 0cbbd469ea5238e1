package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// service is one run of the whole service (proxy, API, metrics) as the
// binary wires it.
type service struct {
	srv  *proxy.Server
	pg   string // proxy address
	stop func()
}

func startService(t *testing.T, path string) *service {
	t.Helper()
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := make(chan *service, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(s *proxy.Server, addr net.Addr) {
			s.SetConfigSource(func() (config.Config, []config.Warning, error) { return config.Load(path) })
			started <- &service{srv: s, pg: addr.String()}
		})
	}()
	var sv *service
	select {
	case sv = <-started:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	var once bool
	sv.stop = func() {
		if !once {
			once = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	t.Cleanup(sv.stop)
	return sv
}

func httpDo(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestOverrideEverywhere is issue 4's override proof with the whole
// service: set through the API, visible in the status JSON, the SQL table
// and /metrics, kept across a reload and a restart, expiring on time.
func TestOverrideEverywhere(t *testing.T) {
	a := pgtest.New(t, pgtest.Options{Name: "ovw-a"})
	b := pgtest.New(t, pgtest.Options{Name: "ovw-b"})
	apiPort, metricsPort := freePort(t), freePort(t)
	const token = "override-test-token-0123456789"
	path := filepath.Join(t.TempDir(), "heliosproxy.toml")
	body := fmt.Sprintf(`[proxy]
listen_address = "127.0.0.1:0"
[api]
listen_address = "127.0.0.1:%d"
admin_token = "%s"
[observability]
metrics_port = %d
[state]
dir = %q
[health_checks]
password = %q
[[backends.instances]]
name = "pg-a"
host = "127.0.0.1"
port = %d
[[backends.instances]]
name = "pg-b"
host = "127.0.0.1"
port = %d
`, apiPort, token, metricsPort, t.TempDir(), a.Password, a.Port, b.Port)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	api := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	check := func(sv *service, when string) {
		t.Helper()
		code, js := httpDo(t, "GET", api+"/circuit-breaker/status/pg-b", "", "")
		if code != 200 || !strings.Contains(js, `"circuit_state":"OPEN"`) || !strings.Contains(js, `"override":"OPEN"`) || !strings.Contains(js, `"override_author":"carol"`) {
			t.Errorf("%s: GET status/pg-b = %d %s", when, code, js)
		}
		conn, err := pgx.Connect(ctx, "postgres://postgres@"+sv.pg+"/helios_proxy?sslmode=disable")
		if err != nil {
			t.Fatal(err)
		}
		var override string
		if err := conn.QueryRow(ctx, "SELECT override FROM helios_proxy.circuit_breaker_status WHERE backend_name = 'pg-b'").Scan(&override); err != nil || override != "OPEN" {
			t.Errorf("%s: SQL override = %q, %v", when, override, err)
		}
		conn.Close(ctx)
		if _, m := httpDo(t, "GET", metricsURL, "", ""); !strings.Contains(m, `helios_circuit_breaker_override{backend="pg-b",state="OPEN"} 1`) {
			t.Errorf("%s: /metrics lacks the override series", when)
		}
	}

	sv := startService(t, path)
	if code, js := httpDo(t, "PUT", api+"/circuit-breaker/backends/pg-b/override", "", `{"state":"OPEN","reason":"maintenance"}`); code != 401 {
		t.Errorf("override without the token = %d %s, want 401", code, js)
	}
	req := `{"state":"OPEN","reason":"maintenance","ttl":"1h"}`
	hreq, _ := http.NewRequest("PUT", api+"/circuit-breaker/backends/pg-b/override", strings.NewReader(req))
	hreq.Header.Set("Authorization", "Bearer "+token)
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("X-Helios-Author", "carol")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT override: %v %v", resp, err)
	}
	resp.Body.Close()
	check(sv, "after PUT")

	if code, js := httpDo(t, "POST", api+"/config/reload", token, ""); code != 200 {
		t.Errorf("reload = %d %s", code, js)
	}
	check(sv, "after a reload")

	sv.stop()
	sv = startService(t, path)
	check(sv, "after a restart")

	// Expiry: a short TTL ends the override by itself.
	hreq, _ = http.NewRequest("PUT", api+"/circuit-breaker/backends/pg-a/override", strings.NewReader(`{"state":"CLOSED","reason":"pin","ttl":"1s"}`))
	hreq.Header.Set("Authorization", "Bearer "+token)
	hreq.Header.Set("Content-Type", "application/json")
	events := sv.srv.Subscribe(ctx)
	if resp, err := http.DefaultClient.Do(hreq); err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT override with ttl: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for ev := range events {
		if ev.Type == "OverrideCleared" && ev.Backend == "pg-a" {
			if ev.Author != "expiry" {
				t.Errorf("pg-a override cleared by %q, want expiry", ev.Author)
			}
			break
		}
	}
	if _, js := httpDo(t, "GET", api+"/circuit-breaker/status/pg-a", "", ""); !strings.Contains(js, `"override":null`) {
		t.Errorf("pg-a after its ttl: %s", js)
	}
}

// TestCorruptOverridesFileIsKept: the proxy starts without overrides it
// cannot read back (a file torn or edited by hand), says where the file
// went, and keeps it: the next override written does not replace it.
// Before, the next change overwrote it, losing every override in it, and
// a file whose second entry was invalid had its first applied while the
// log said the proxy started without them.
func TestCorruptOverridesFileIsKept(t *testing.T) {
	pg := pgtest.New(t, pgtest.Options{Name: "corrupt"})
	const token = "corrupt-test-token-0123456789"
	for _, tt := range []struct {
		name, file string
	}{
		{"torn", `[{"Backend": "pg-a", "State": "OPEN", "Reason": "reindexing", "Au`},
		{"an invalid entry", `[{"Backend": "pg-a", "State": "OPEN", "Reason": "reindexing"}, {"Backend": "pg-a", "State": "HALF_OPEN"}]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			apiPort := freePort(t)
			state := t.TempDir()
			path := stateConfig(t, apiPort, token, state, pg)
			if err := os.WriteFile(filepath.Join(state, "overrides.json"), []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			startService(t, path)
			api := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
			if code, js := httpDo(t, "GET", api+"/circuit-breaker/status/pg-a", "", ""); code != 200 || !strings.Contains(js, `"override":null`) {
				t.Errorf("GET status/pg-a after starting with a bad overrides file = %d %s, want no override", code, js)
			}
			if code, js := httpDo(t, "PUT", api+"/circuit-breaker/backends/pg-a/override", token, `{"state":"CLOSED","reason":"pin"}`); code != 200 {
				t.Fatalf("PUT override = %d %s", code, js)
			}
			kept, err := filepath.Glob(filepath.Join(state, "overrides.json.corrupt-*"))
			if err != nil || len(kept) != 1 {
				t.Fatalf("files set aside: %v %v, want one overrides.json.corrupt-*", kept, err)
			}
			if b, err := os.ReadFile(kept[0]); err != nil || string(b) != tt.file {
				t.Errorf("%s holds %q (%v), want the file as it was: %q", kept[0], b, err, tt.file)
			}
			if b, err := os.ReadFile(filepath.Join(state, "overrides.json")); err != nil || !strings.Contains(string(b), `"pin"`) {
				t.Errorf("overrides.json after the PUT = %q (%v), want the new override", b, err)
			}
		})
	}
}

// TestOverrideNotSaved: when [state] dir cannot take the override (here
// its file is a directory, which stops root as well as anyone), the API
// answers 500 saying the override was not saved and nothing changed, and
// nothing did. Before, the answer was a bare "setting the override failed"
// and the CLI printed just that, with no hint of the state directory.
func TestOverrideNotSaved(t *testing.T) {
	pg := pgtest.New(t, pgtest.Options{Name: "notsaved"})
	const token = "notsaved-test-token-0123456789"
	apiPort := freePort(t)
	state := t.TempDir()
	path := stateConfig(t, apiPort, token, state, pg)
	startService(t, path)
	api := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	blocker := filepath.Join(state, "overrides.json")
	if err := os.Mkdir(blocker, 0o700); err != nil {
		t.Fatal(err)
	}
	code, js := httpDo(t, "PUT", api+"/circuit-breaker/backends/pg-a/override", token, `{"state":"OPEN","reason":"maintenance"}`)
	if code != 500 || !strings.Contains(js, "could not be saved under [state] dir, so nothing changed") || !strings.Contains(js, "log has the cause") {
		t.Errorf("PUT override with [state] dir unwritable = %d %s, want 500 saying it was not saved", code, js)
	}
	if strings.Contains(js, state) {
		t.Errorf("the answer names the state directory's path: %s", js)
	}
	if code, js := httpDo(t, "GET", api+"/circuit-breaker/status/pg-a", "", ""); code != 200 || !strings.Contains(js, `"override":null`) {
		t.Errorf("GET status/pg-a after the failed PUT = %d %s, want no override", code, js)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if code, js := httpDo(t, "PUT", api+"/circuit-breaker/backends/pg-a/override", token, `{"state":"OPEN","reason":"maintenance"}`); code != 200 {
		t.Errorf("PUT override once [state] dir is writable = %d %s", code, js)
	}
}

// stateConfig writes the configuration of a proxy in front of pg (as
// pg-a) with its API on apiPort, admin token token and state under state,
// and returns its path.
func stateConfig(t *testing.T, apiPort int, token, state string, pg *pgtest.Cluster) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "heliosproxy.toml")
	body := fmt.Sprintf(`[proxy]
listen_address = "127.0.0.1:0"
[api]
listen_address = "127.0.0.1:%d"
admin_token = %q
[observability]
metrics_enabled = false
[state]
dir = %q
[health_checks]
password = %q
[[backends.instances]]
name = "pg-a"
host = "127.0.0.1"
port = %d
`, apiPort, token, state, pg.Password, pg.Port)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
