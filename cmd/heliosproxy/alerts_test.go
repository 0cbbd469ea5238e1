package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy"
	"github.com/heliosdb/heliosproxy/status"
)

// receiver stands in for Slack or PagerDuty: it records every request body.
type receiver struct {
	*httptest.Server
	bodies chan map[string]any
}

func newReceiver(t *testing.T, status int, reply string) *receiver {
	r := &receiver{bodies: make(chan map[string]any, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body map[string]any
		b, _ := io.ReadAll(req.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("receiver got non-JSON %q", b)
		}
		r.bodies <- body
		w.WriteHeader(status)
		_, _ = io.WriteString(w, reply)
	}))
	t.Cleanup(r.Close)
	return r
}

// next returns the next request body, failing the test if none comes.
func (r *receiver) next(t *testing.T, ctx context.Context, what string) map[string]any {
	t.Helper()
	select {
	case b := <-r.bodies:
		return b
	case <-ctx.Done():
		t.Fatalf("no %s", what)
		return nil
	}
}

// TestAlertsForAKilledBackend is issue 5's end-to-end proof: a real backend
// killed behind the proxy pages once and posts once to Slack; once it is
// back and its circuit closed, the page resolves with the same key.
func TestAlertsForAKilledBackend(t *testing.T) {
	slack := newReceiver(t, http.StatusOK, "ok")
	pd := newReceiver(t, http.StatusAccepted, `{"status":"success","message":"Event processed"}`)
	// Backends that ask for passwords: trusting ones would also page
	// (BackendTrustsProxy), and this test counts the pages.
	a := pgtest.New(t, pgtest.Options{Name: "alert-a", Auth: "scram-sha-256"})
	b := pgtest.New(t, pgtest.Options{Name: "alert-b", Auth: "scram-sha-256"})

	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	cfg.Observability.MetricsPort = 0 // a free port
	cfg.API.ListenAddress = "127.0.0.1:0"
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: time.Second}
	cfg.HealthChecks.Interval = config.Duration{Duration: 500 * time.Millisecond}
	cfg.HealthChecks.Timeout = config.Duration{Duration: 500 * time.Millisecond}
	cfg.HealthChecks.Password = a.Password
	for name, c := range map[string]*pgtest.Cluster{"pg-a": a, "pg-b": b} {
		be := config.DefaultBackend()
		be.Name, be.Host, be.Port = name, c.Host, c.Port
		cfg.Backends.Instances = append(cfg.Backends.Instances, be)
	}
	cfg.Alerts.SlackWebhookURL = slack.URL + "/services/T000/B000/secret"
	cfg.Alerts.PagerdutyIntegrationKey = "routing-key-for-test"
	cfg.Alerts.PagerdutyEventsURL = pd.URL
	cfg.Alerts.ClusterName = "test-cluster"
	cfg.Alerts.FlapWindow = config.Duration{Duration: 300 * time.Millisecond}
	cfg.Alerts.CascadeDelay = config.Duration{}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	started := make(chan *proxy.Server, 1)
	go func() {
		done <- serve(runCtx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(s *proxy.Server, _ net.Addr) { started <- s })
	}()
	t.Cleanup(func() { stop(); <-done })
	<-started

	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	trigger := pd.next(t, ctx, "PagerDuty trigger")
	if trigger["event_action"] != "trigger" || trigger["dedup_key"] != "heliosproxy/test-cluster/pg-b" || trigger["routing_key"] != "routing-key-for-test" {
		t.Errorf("PagerDuty event = %v, want a trigger with dedup_key heliosproxy/test-cluster/pg-b", trigger)
	}
	if payload, _ := trigger["payload"].(map[string]any); payload["severity"] != "error" || !strings.Contains(payload["summary"].(string), "pg-b") {
		t.Errorf("trigger payload = %v, want severity error and a summary naming pg-b", payload)
	}
	opened := slack.next(t, ctx, "Slack message")
	if text, _ := opened["text"].(string); !strings.Contains(text, "pg-b") || !strings.Contains(text, "OPEN") {
		t.Errorf("Slack message text = %q, want it to name pg-b and OPEN", text)
	}

	if err := b.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	resolve := pd.next(t, ctx, "PagerDuty resolve")
	if resolve["event_action"] != "resolve" || resolve["dedup_key"] != trigger["dedup_key"] {
		t.Errorf("PagerDuty event after recovery = %v, want a resolve with dedup_key %v", resolve, trigger["dedup_key"])
	}
	recovered := slack.next(t, ctx, "Slack recovery message")
	if text, _ := recovered["text"].(string); !strings.Contains(text, "pg-b") {
		t.Errorf("Slack recovery text = %q, want it to name pg-b", text)
	}
	// Exactly one of each: nothing else arrived for this one failure.
	select {
	case extra := <-pd.bodies:
		t.Errorf("extra PagerDuty event: %v", extra)
	case extra := <-slack.bodies:
		t.Errorf("extra Slack message: %v", extra)
	default:
	}
}

// TestAlertsForARemovedBackend: an operator removes a dead backend from the
// configuration and reloads. Its page resolves then, since nothing would
// ever close its circuit, and an opening whose page was still held
// (cascade_delay) is not paged after the backend is gone. Before, the
// incident stayed open in PagerDuty for good, and the held page went out
// for a backend already removed.
func TestAlertsForARemovedBackend(t *testing.T) {
	slack := newReceiver(t, http.StatusOK, "ok")
	pd := newReceiver(t, http.StatusAccepted, `{"status":"success","message":"Event processed"}`)
	// Backends that ask for passwords: trusting ones would also page.
	a := pgtest.New(t, pgtest.Options{Name: "rm-a", Auth: "scram-sha-256"})
	b := pgtest.New(t, pgtest.Options{Name: "rm-b", Auth: "scram-sha-256"})
	c := pgtest.New(t, pgtest.Options{Name: "rm-c", Auth: "scram-sha-256"})
	const cascadeDelay = 2 * time.Second
	path := filepath.Join(t.TempDir(), "heliosproxy.toml")
	write := func(backends ...*pgtest.Cluster) {
		t.Helper()
		var bs []namedBackend
		for _, be := range backends {
			bs = append(bs, namedBackend{"pg-" + strings.TrimPrefix(be.Name, "rm-"), be.Port})
		}
		writeAlertsConfig(t, path, a.Password, slack, pd, cascadeDelay, bs...)
	}
	write(a, b, c)
	sv := startService(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	reload := func() {
		t.Helper()
		res, err := sv.srv.Reload(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("reload: %+v", res)
	}

	// pg-b dies and is paged; then it is removed.
	trigger := killPaged(t, ctx, b, pd, slack)
	write(a, c)
	reload()
	resolve := pd.next(t, ctx, "PagerDuty resolve")
	if resolve["event_action"] != "resolve" || resolve["dedup_key"] != trigger["dedup_key"] {
		t.Errorf("PagerDuty event after pg-b's removal = %v, want the resolve of %v", resolve, trigger["dedup_key"])
	}
	if text, _ := slack.next(t, ctx, "Slack message of pg-b's removal")["text"].(string); !strings.Contains(text, "pg-b") || !strings.Contains(text, "removed") {
		t.Errorf("Slack message after pg-b's removal = %q, want it to say pg-b was removed", text)
	}

	// pg-c dies and is removed while its page is held.
	events := sv.srv.Subscribe(ctx)
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	for ev := range events {
		if ev.Type == status.CircuitOpened && ev.Backend == "pg-c" {
			break
		}
	}
	write(a)
	reload()
	// The held page was due cascade_delay after the opening.
	quiet := time.NewTimer(cascadeDelay + time.Second)
	defer quiet.Stop()
	select {
	case ev := <-pd.bodies:
		t.Errorf("PagerDuty event after pg-c's removal: %v", ev)
	case msg := <-slack.bodies:
		t.Errorf("Slack message after pg-c's removal: %v", msg)
	case <-quiet.C:
	}
}

// TestOverrideAlertsOncePerAction: an operator forcing a backend OPEN and
// clearing it again posts one Slack message each, naming the operator and
// the reason, and pages nobody. Before, each action posted twice: first
// for the transition it caused ("forced open by operator", without who or
// why), then for the action itself (with a "– → OPEN" transition and empty
// metrics), and a clear said "circuit –".
func TestOverrideAlertsOncePerAction(t *testing.T) {
	slack := newReceiver(t, http.StatusOK, "ok")
	pd := newReceiver(t, http.StatusAccepted, `{"status":"success","message":"Event processed"}`)
	pg := pgtest.New(t, pgtest.Options{Name: "ov-alert", Auth: "scram-sha-256"})
	const token = "override-alert-token-0123456789"
	apiPort := freePort(t)
	path := filepath.Join(t.TempDir(), "heliosproxy.toml")
	body := fmt.Sprintf(`[proxy]
listen_address = "127.0.0.1:0"
[api]
listen_address = "127.0.0.1:%d"
admin_token = %q
[observability]
metrics_enabled = false
[health_checks]
password = %q
[alerts]
slack_webhook_url = %q
pagerduty_integration_key = "routing-key-for-test"
pagerduty_events_url = %q
cluster_name = "test-cluster"
[[backends.instances]]
name = "pg-a"
host = "127.0.0.1"
port = %d
`, apiPort, token, pg.Password, slack.URL+"/services/T000/B000/secret", pd.URL, pg.Port)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	startService(t, path)
	api := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	req, _ := http.NewRequest("PUT", api+"/circuit-breaker/backends/pg-a/override", strings.NewReader(`{"state":"OPEN","reason":"reindexing"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Helios-Author", "carol")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT override: %v %v", resp, err)
	}
	resp.Body.Close()
	if text, _ := slack.next(t, ctx, "Slack message of the override")["text"].(string); !strings.Contains(text, "pg-a forced OPEN by carol") || !strings.Contains(text, "reindexing") {
		t.Errorf("first Slack message after the override = %q, want pg-a forced OPEN by carol: reindexing", text)
	}
	req, _ = http.NewRequest("DELETE", api+"/circuit-breaker/backends/pg-a/override", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Helios-Author", "carol")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("DELETE override: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// Messages arrive in order: a duplicate of the first would come now.
	if text, _ := slack.next(t, ctx, "Slack message of the clear")["text"].(string); !strings.Contains(text, "Override on pg-a cleared by carol") {
		t.Errorf("second Slack message = %q, want the clear by carol", text)
	}
	select {
	case ev := <-pd.bodies:
		t.Errorf("PagerDuty event for an override: %v", ev)
	default:
	}
}

// namedBackend is a [[backends.instances]] entry on 127.0.0.1.
type namedBackend struct {
	name string
	port int
}

// writeAlertsConfig writes a configuration with Slack and PagerDuty at the
// receivers, short health checks and open_duration, no metrics endpoint.
func writeAlertsConfig(t *testing.T, path, password string, slack, pd *receiver, cascadeDelay time.Duration, backends ...namedBackend) {
	t.Helper()
	body := fmt.Sprintf(`[proxy]
listen_address = "127.0.0.1:0"
[circuit_breaker]
open_duration = "1s"
[api]
listen_address = "127.0.0.1:0"
[observability]
metrics_enabled = false
[health_checks]
interval = "500ms"
timeout = "500ms"
password = %q
[alerts]
slack_webhook_url = %q
pagerduty_integration_key = "routing-key-for-test"
pagerduty_events_url = %q
cluster_name = "test-cluster"
cascade_delay = %q
flap_window = "300ms"
`, password, slack.URL+"/services/T000/B000/secret", pd.URL, cascadeDelay.String())
	for _, be := range backends {
		body += fmt.Sprintf("[[backends.instances]]\nname = %q\nhost = \"127.0.0.1\"\nport = %d\n", be.name, be.port)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAlertsForAMovedBackend: an operator points a dead backend's name at
// another server (a replacement) and reloads. The new server starts with a
// closed circuit of its own, so the old one's page resolves then. Before,
// it stayed open until the new server happened to open and close.
func TestAlertsForAMovedBackend(t *testing.T) {
	slack := newReceiver(t, http.StatusOK, "ok")
	pd := newReceiver(t, http.StatusAccepted, `{"status":"success","message":"Event processed"}`)
	a := pgtest.New(t, pgtest.Options{Name: "mv-a", Auth: "scram-sha-256"})
	b := pgtest.New(t, pgtest.Options{Name: "mv-b", Auth: "scram-sha-256"})
	c := pgtest.New(t, pgtest.Options{Name: "mv-c", Auth: "scram-sha-256"})
	path := filepath.Join(t.TempDir(), "heliosproxy.toml")
	writeAlertsConfig(t, path, a.Password, slack, pd, 100*time.Millisecond, namedBackend{"pg-a", a.Port}, namedBackend{"pg-b", b.Port})
	sv := startService(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	trigger := killPaged(t, ctx, b, pd, slack)
	// pg-b is now the server c.
	writeAlertsConfig(t, path, a.Password, slack, pd, 100*time.Millisecond, namedBackend{"pg-a", a.Port}, namedBackend{"pg-b", c.Port})
	res, err := sv.srv.Reload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reload: %+v", res)
	resolve := pd.next(t, ctx, "PagerDuty resolve")
	if resolve["event_action"] != "resolve" || resolve["dedup_key"] != trigger["dedup_key"] {
		t.Errorf("PagerDuty event after pg-b moved = %v, want the resolve of %v", resolve, trigger["dedup_key"])
	}
}

// killPaged kills b, the server of pg-b, and returns PagerDuty's trigger
// of its opening, once Slack has its message too.
func killPaged(t *testing.T, ctx context.Context, b *pgtest.Cluster, pd, slack *receiver) map[string]any {
	t.Helper()
	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	trigger := pd.next(t, ctx, "PagerDuty trigger")
	if trigger["event_action"] != "trigger" || trigger["dedup_key"] != "heliosproxy/test-cluster/pg-b" {
		t.Fatalf("PagerDuty event = %v, want the trigger of pg-b", trigger)
	}
	slack.next(t, ctx, "Slack message of pg-b's opening")
	return trigger
}
