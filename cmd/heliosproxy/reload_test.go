package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
