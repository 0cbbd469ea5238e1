package api

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// TestTrustAgainstProxy: a backend that trusts the proxy's address shows
// in the REST status and the event history and stream, every response
// valid against openapi.yaml; a backend that asks for passwords does not.
func TestTrustAgainstProxy(t *testing.T) {
	trusting := pgtest.New(t, pgtest.Options{Name: "api-trust", Password: pgPassword})
	scram := pgtest.New(t, pgtest.Options{Name: "api-scram", Auth: "scram-sha-256", Password: pgPassword})
	dir := t.TempDir()
	path := filepath.Join(dir, "helios.toml")
	proxyConfigFile(t, path, filepath.Join(dir, "state"), []*pgtest.Cluster{trusting, scram}, "")
	p, _ := runProxy(t, path, &syncBuffer{})
	h := newHarness(t, p, Options{AdminToken: testToken})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	eventually(t, 30*time.Second, "pg-a trusts_proxy", func() bool { return backendStatus(t, h, "pg-a")["trusts_proxy"] == true })
	a := backendStatus(t, h, "pg-a")
	if roles, _ := a["trusted_roles"].([]any); !slices.Equal(roles, []any{"*", "postgres"}) {
		t.Errorf("pg-a trusted_roles = %v, want [* postgres]", a["trusted_roles"])
	}
	b := backendStatus(t, h, "pg-b")
	if b["trusts_proxy"] != false || b["trusted_roles"] != nil {
		t.Errorf("pg-b (scram): trusts_proxy %v, trusted_roles %v; want false, null", b["trusts_proxy"], b["trusted_roles"])
	}

	resp, body := h.do(req{method: "GET", path: "/circuit-breaker/events"})
	var evs eventsJSON
	if err := json.Unmarshal(body, &evs); resp.StatusCode != 200 || err != nil {
		t.Fatalf("GET /circuit-breaker/events = %d %s", resp.StatusCode, body)
	}
	var found bool
	for _, e := range evs.Events {
		if e.EventType == "BackendTrustsProxy" {
			found = *e.BackendName == "pg-a" && *e.Reason == "pass_through_refused" && strings.Contains(*e.Detail, "without a password")
			if !found {
				t.Errorf("event %+v, want pg-a's, refusing pass-through", e)
			}
		}
	}
	if !found {
		t.Errorf("no BackendTrustsProxy event in %s", body)
	}

	// The stream replays it under its own event name, which the dashboard
	// listens for.
	_, stream := openStream(t, ctx, h, map[string]string{"Last-Event-ID": "0"})
	for {
		ev, err := stream.nextEvent()
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		if ev.event == "BackendTrustsProxy" {
			if !strings.Contains(ev.data, `"backend_name":"pg-a"`) {
				t.Errorf("streamed BackendTrustsProxy = %s, want pg-a's", ev.data)
			}
			break
		}
	}
}
