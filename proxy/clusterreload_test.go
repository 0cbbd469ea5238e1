package proxy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// TestClusterReloadConfigHash: members compare config hashes to warn about
// an instance configured differently. A reload that changes
// circuit_breaker on A alone makes B warn (GET /cluster/status); the same
// reload on B ends the warning. The hashes follow reloads, not only
// starts: a restarted member would otherwise differ from members that
// reloaded the same file.
func TestClusterReloadConfigHash(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg := pgtest.New(t, pgtest.Options{Name: "cl-a"})
	log := testLogger()
	ins := threeInstances()[:2]
	startInstances(t, log, ins, "local", func(_ int, cfg *config.Config) { *cfg = testConfig(t, pg) })
	a, b := ins[0], ins[1]

	type clusterStatus struct {
		Members []struct {
			Node       string `json:"node"`
			ConfigHash string `json:"config_hash"`
		} `json:"members"`
		Warnings []string `json:"warnings"`
	}
	// hashes returns what B's REST API says: every member's config hash
	// and its warnings.
	hashes := func() (map[string]string, []string, error) {
		var st clusterStatus
		if err := b.rest("/cluster/status", &st); err != nil {
			return nil, nil, err
		}
		m := make(map[string]string)
		for _, x := range st.Members {
			m[x.Node] = x.ConfigHash
		}
		return m, st.Warnings, nil
	}
	before, warnings, err := hashes()
	if err != nil || before["node-a"] == "" || before["node-a"] != before["node-b"] || len(warnings) != 0 {
		t.Fatalf("B's /cluster/status before any reload: hashes %v, warnings %q, %v; want equal hashes, no warning", before, warnings, err)
	}

	reload := func(in *instance) {
		t.Helper()
		next := in.cfg
		next.CircuitBreaker.MinimumRequests = in.cfg.CircuitBreaker.MinimumRequests + 5
		in.srv.SetConfigSource(func() (config.Config, []config.Warning, error) { return next, nil, nil })
		res, err := in.srv.Reload(ctx)
		if err != nil || len(res.RestartRequired) != 0 {
			t.Fatalf("%s: Reload = %+v, %v", in.name, res, err)
		}
	}
	reload(a)
	poll(t, 5*time.Second, "B warns that A is configured differently", func() (bool, string) {
		h, w, err := hashes()
		return err == nil && h["node-a"] != before["node-a"] && h["node-b"] == before["node-b"] && len(w) == 1,
			fmt.Sprint(h, w, err)
	})
	reload(b)
	poll(t, 5*time.Second, "the warning ends once B reloaded the same", func() (bool, string) {
		h, w, err := hashes()
		return err == nil && h["node-a"] == h["node-b"] && h["node-b"] != before["node-b"] && len(w) == 0,
			fmt.Sprint(h, w, err)
	})
}
