package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardCluster: the cluster panel is hidden for a lone proxy;
// with a cluster it lists the members (a suspect one marked, one
// configured differently flagged, with the API's warning) and, per backend
// whose circuit differs between instances, each instance's state and why.
func TestDashboardCluster(t *testing.T) {
	f := newFakeAPI(t, 3)
	b := newBrowser(t)
	b.open(f.URL)
	b.within(10*time.Second, "cards rendered", chromedp.WaitVisible(chromedp.CSS(`.card`)))
	if !eval[bool](b, `document.getElementById('cluster').hidden`) {
		t.Errorf("cluster panel shown for a lone proxy")
	}

	now := time.Now().UTC().Format(time.RFC3339)
	f.mu.Lock()
	f.cluster = map[string]any{
		"members": []any{
			map[string]any{"node": "node-a", "address": "10.0.0.1:7946", "state": "alive", "last_contact": now, "version": "v1", "config_hash": "abc", "is_self": true},
			map[string]any{"node": "node-b", "address": "10.0.0.2:7946", "state": "alive", "last_contact": now, "version": "v1", "config_hash": "abc", "is_self": false},
			map[string]any{"node": "node-c", "address": "10.0.0.3:7946", "state": "suspect", "last_contact": now, "version": "v1", "config_hash": "xyz", "is_self": false},
		},
		"circuits": []any{
			map[string]any{"node": "node-a", "backend_name": "backend-001", "circuit_state": "OPEN", "reason": "hard_failure", "detail": "connect failed",
				"state_since": now, "failing": true, "recovery_role": "prober", "received": now, "is_self": true},
			map[string]any{"node": "node-b", "backend_name": "backend-001", "circuit_state": "CLOSED", "reason": nil, "detail": nil,
				"state_since": now, "failing": false, "recovery_role": nil, "received": now, "is_self": false},
		},
		"disagreements": []any{map[string]any{"backend_name": "backend-001", "states": map[string]any{"node-a": "OPEN", "node-b": "CLOSED"}}},
		"config_hashes": map[string]any{"abc": []string{"node-a", "node-b"}, "xyz": []string{"node-c"}},
		"warnings":      []any{"node-c is configured differently (config hash xyz, this instance's abc)"},
		"timestamp":     now,
	}
	f.mu.Unlock()
	b.within(10*time.Second, "cluster panel shown", chromedp.WaitVisible(chromedp.CSS(`#cluster`)))

	if got := eval[int](b, `document.querySelectorAll('#cluster-members tbody tr').length`); got != 3 {
		t.Errorf("%d member rows, want 3", got)
	}
	if s := b.text(`#cluster-summary`); s != "2 of 3 instances alive, 2 different configurations" {
		t.Errorf("cluster summary %q", s)
	}
	if w := b.text(`#cluster-warnings`); !strings.Contains(w, "node-c is configured differently") {
		t.Errorf("warnings %q, want node-c's", w)
	}
	if c := eval[string](b, `document.querySelector('#cluster-members tr[data-node="node-c"] td:nth-child(2)').className`); c != "m-suspect" {
		t.Errorf("node-c's state cell class %q, want m-suspect", c)
	}
	if c := eval[string](b, `document.querySelector('#cluster-members tr[data-node="node-c"] td:nth-child(6)').className`); c != "differs" {
		t.Errorf("node-c's config cell class %q, want differs", c)
	}
	row := b.text(`#cluster-disagreements tr[data-backend="backend-001"]`)
	if !strings.Contains(row, "OPEN (hard_failure, prober)") || !strings.Contains(row, "CLOSED") {
		t.Errorf("disagreement row %q, want node-a's OPEN (hard_failure, prober) and node-b's CLOSED", row)
	}
	if !eval[bool](b, `document.getElementById('cluster-agree').hidden`) {
		t.Errorf("'every instance agrees' shown beside a disagreement")
	}
	b.screenshot("dashboard-cluster.png")
}
