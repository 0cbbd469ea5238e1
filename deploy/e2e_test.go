package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/heliosdb/heliosproxy/internal/pgcluster"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	p, err := pgcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// process is a command started by startProcess.
type process struct {
	name    string
	logPath string        // its stdout and stderr
	done    chan struct{} // closed when it has exited
}

// startProcess runs a command until the test ends (SIGTERM, then wait),
// with its output in a file that is printed if the test fails.
func startProcess(t *testing.T, name string, args ...string) *process {
	t.Helper()
	p := &process{name: filepath.Base(name), logPath: filepath.Join(t.TempDir(), filepath.Base(name)+".log"), done: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		logFile.Close()
		if t.Failed() {
			out, _ := os.ReadFile(p.logPath)
			t.Logf("output of %s:\n%s", p.name, out)
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logged waits until the process's JSON log has a line with message msg
// and returns that line's string field key. It fails the test if the
// process exits first or ctx ends.
func (p *process) logged(t *testing.T, ctx context.Context, msg, key string) string {
	t.Helper()
	var v string
	poll(t, ctx, fmt.Sprintf("%s to log %q", p.name, msg), func() bool {
		if p.exited() {
			t.Fatalf("%s exited before it logged %q", p.name, msg)
		}
		out, _ := os.ReadFile(p.logPath)
		for line := range strings.Lines(string(out)) {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
				v, _ = rec[key].(string)
				return true
			}
		}
		return false
	})
	return v
}

// startPrometheus runs Prometheus with promDir/prometheus.yml and returns
// its URL once it is ready. Its listen address is a port free a moment
// before; if Prometheus exits before it is ready (another process took the
// port meanwhile), it starts again on another.
func startPrometheus(t *testing.T, ctx context.Context, bin, promDir string) string {
	t.Helper()
	for range 3 {
		port := freePort(t)
		p := startProcess(t, bin, "--config.file="+filepath.Join(promDir, "prometheus.yml"),
			"--storage.tsdb.path="+filepath.Join(promDir, "data"),
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn")
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		poll(t, ctx, "Prometheus to be ready", func() bool {
			var info map[string]any
			return p.exited() || getJSON(ctx, url+"/api/v1/status/buildinfo", &info)
		})
		if !p.exited() {
			return url
		}
	}
	t.Fatal("Prometheus exited before it was ready, three times")
	return ""
}

// getJSON GETs url and decodes its JSON body into v; it reports whether
// that worked with a 2xx.
func getJSON(ctx context.Context, url string, v any) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode/100 == 2 && json.NewDecoder(resp.Body).Decode(v) == nil
}

// poll calls f until it returns true or ctx ends; then it fails the test
// with what.
func poll(t *testing.T, ctx context.Context, what string, f func() bool) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !f() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-tick.C:
		}
	}
}

// promAlert is an alert of Prometheus's /api/v1/alerts.
type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// firing returns the alerts Prometheus has firing now.
func firing(ctx context.Context, promURL string) ([]promAlert, bool) {
	var doc struct {
		Status string `json:"status"`
		Data   struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	if !getJSON(ctx, promURL+"/api/v1/alerts", &doc) || doc.Status != "success" {
		return nil, false
	}
	var out []promAlert
	for _, a := range doc.Data.Alerts {
		if a.State == "firing" {
			out = append(out, a)
		}
	}
	return out, true
}

// has reports whether alerts hold one named name whose labels include want.
func has(alerts []promAlert, name string, want map[string]string) bool {
	for _, a := range alerts {
		ok := a.Labels["alertname"] == name
		for k, v := range want {
			ok = ok && a.Labels[k] == v
		}
		if ok {
			return true
		}
	}
	return false
}

// scrape reads the proxy's /metrics as Prometheus would and returns each
// metric name with its label names (a histogram as its _bucket, _sum and
// _count series).
func scrape(t *testing.T, ctx context.Context, url string) series {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := series{}
	add := func(name string, labels []string) {
		for _, l := range labels {
			if !slices.Contains(out[name], l) {
				out[name] = append(out[name], l)
			}
		}
		if out[name] == nil {
			out[name] = []string{}
		}
	}
	for name, mf := range mfs {
		for _, m := range mf.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName())
			}
			if m.Histogram != nil {
				add(name+"_bucket", append(slices.Clone(labels), "le"))
				add(name+"_sum", labels)
				add(name+"_count", labels)
				continue
			}
			add(name, labels)
		}
	}
	return out
}

// buildProxy builds the heliosproxy binary as shipped.
func buildProxy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "heliosproxy")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/heliosdb/heliosproxy/cmd/heliosproxy").CombinedOutput()
	if err != nil {
		t.Fatalf("go build heliosproxy: %v\n%s", err, out)
	}
	return bin
}

// TestPrometheusEndToEnd runs a real Prometheus server, configured from
// deploy/prometheus/prometheus.yml with heliosproxy-rules.yml unchanged,
// scraping the heliosproxy binary in front of three real PostgreSQL
// clusters (pg-a and pg-b in tier 100, pg-c in tier 50 and forced CLOSED
// by an operator). Killing pg-a fires HeliosCircuitOpen with backend and
// reason, and nothing else; killing pg-b too fires the cascade and
// tier-100 alerts. A scrape taken meanwhile holds every metric and label
// that the dashboard and the rules use.
//
// Only the scrape target and the intervals (0.5 s instead of 15 s) differ
// from the deployed configuration; the rules are the deployed ones: the
// alerts checked here have no `for`, and promtool's unit tests cover the
// timing of those that do.
func TestPrometheusEndToEnd(t *testing.T) {
	promBin := tool(t, "prometheus")
	bin := buildProxy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	a := pgtest.New(t, pgtest.Options{Name: "e2e-a"})
	b := pgtest.New(t, pgtest.Options{Name: "e2e-b"})
	c := pgtest.New(t, pgtest.Options{Name: "e2e-c"})
	const token = "e2e-admin-token-0123456789"
	cfgPath := filepath.Join(t.TempDir(), "heliosproxy.toml")
	// The proxy, the API and metrics listen on ports the proxy picks; its
	// log says which (ports picked here and released could be taken by
	// another test before the proxy binds them).
	cfg := fmt.Sprintf(`[proxy]
listen_address = "127.0.0.1:0"
[api]
listen_address = "127.0.0.1:0"
admin_token = %q
[observability]
metrics_port = 0
log_format = "json"
[health_checks]
password = %q
[[backends.instances]]
name = "pg-a"
host = "127.0.0.1"
port = %d
priority = 100
[[backends.instances]]
name = "pg-b"
host = "127.0.0.1"
port = %d
priority = 100
[[backends.instances]]
name = "pg-c"
host = "127.0.0.1"
port = %d
priority = 50
allowed_query_types = ["SELECT"]
`, token, a.Password, a.Port, b.Port, c.Port)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	proxy := startProcess(t, bin, "run", "--config", cfgPath)
	proxyAddr := proxy.logged(t, ctx, "proxy listening", "addr")
	api := strings.TrimSuffix(proxy.logged(t, ctx, "serving the REST API and dashboard", "url"), "/")
	metricsURL := proxy.logged(t, ctx, "serving metrics", "url")
	var st struct {
		Backends []struct {
			Name  string `json:"backend_name"`
			State string `json:"circuit_state"`
		} `json:"backends"`
	}
	poll(t, ctx, "the proxy's API", func() bool { return getJSON(ctx, api+"/circuit-breaker/status", &st) })

	// Queries through the proxy, so that the query histograms exist.
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres:%s@%s/postgres?sslmode=disable", a.Password, proxyAddr))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close(ctx)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, api+"/circuit-breaker/backends/pg-c/override",
		strings.NewReader(`{"state":"CLOSED","reason":"e2e: keep the replica tier in service"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("override pg-c: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Prometheus from the deployed configuration.
	pc := loadPromConfig(t)
	pc.Global.ScrapeInterval, pc.Global.ScrapeTimeout, pc.Global.EvaluationInterval = "500ms", "400ms", "500ms"
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range pc.RuleFiles {
		pc.RuleFiles[i] = filepath.Join(filepath.Dir(rules), f)
	}
	pc.ScrapeConfigs[0].StaticConfigs[0].Targets = []string{strings.TrimSuffix(strings.TrimPrefix(metricsURL, "http://"), "/metrics")}
	promYAML, err := yaml.Marshal(pc)
	if err != nil {
		t.Fatal(err)
	}
	promDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(promDir, "prometheus.yml"), promYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	promURL := startPrometheus(t, ctx, promBin, promDir)
	poll(t, ctx, "Prometheus to scrape the proxy", func() bool {
		var q struct {
			Data struct {
				Result []struct {
					Value []any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		return getJSON(ctx, promURL+`/api/v1/query?query=up{job="heliosproxy"}`, &q) &&
			len(q.Data.Result) == 1 && q.Data.Result[0].Value[1] == "1"
	})
	if alerts, _ := firing(ctx, promURL); len(alerts) != 0 {
		t.Errorf("alerts firing with every backend healthy: %v", alerts)
	}

	// pg-a dies: its circuit-open alert fires with its reason, and only it.
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	var alerts []promAlert
	poll(t, ctx, "HeliosCircuitOpen for pg-a", func() bool {
		var ok bool
		alerts, ok = firing(ctx, promURL)
		return ok && has(alerts, "HeliosCircuitOpen", map[string]string{"backend": "pg-a"})
	})
	if !has(alerts, "HeliosCircuitOpen", map[string]string{"backend": "pg-a", "reason": "hard_failure", "severity": "warning", "job": "heliosproxy"}) || len(alerts) != 1 {
		t.Errorf("firing after pg-a was killed: %v; want HeliosCircuitOpen{backend=pg-a,reason=hard_failure,severity=warning} alone", alerts)
	}

	// A scrape now has an open circuit and an override: every series the
	// dashboard and the rules select.
	scraped := scrape(t, ctx, metricsURL)
	scraped["up"] = []string{}
	t.Run("dashboard names only scraped metrics", func(t *testing.T) {
		for _, e := range loadDashboard(t).expressions(t) {
			for _, p := range unknownNames(e, scraped) {
				t.Error(p)
			}
		}
	})
	t.Run("rules name only scraped metrics", func(t *testing.T) {
		for _, r := range loadRules(t) {
			for _, p := range unknownNames(promQL{"rule " + r.Alert, r.Expr}, scraped) {
				t.Error(p)
			}
		}
	})

	// pg-b dies too: tier 100 is gone and two circuits are open.
	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "HeliosTierUnavailable for tier 100 and HeliosCircuitsCascade", func() bool {
		var ok bool
		alerts, ok = firing(ctx, promURL)
		return ok && has(alerts, "HeliosTierUnavailable", map[string]string{"priority": "100", "severity": "critical"}) &&
			has(alerts, "HeliosCircuitsCascade", map[string]string{"severity": "critical"})
	})
	for _, al := range alerts {
		if al.Labels["alertname"] == "HeliosTierUnavailable" && al.Labels["priority"] != "100" {
			t.Errorf("tier %s reported unavailable; only tier 100 is", al.Labels["priority"])
		}
		if al.Labels["alertname"] == "HeliosCircuitOpen" && al.Labels["backend"] == "pg-c" {
			t.Error("HeliosCircuitOpen fired for pg-c, which is healthy")
		}
	}
}
