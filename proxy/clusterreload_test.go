package proxy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
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

// TestClusterOverrideForBackendAddedByReload: a new backend is rolled out
// by reloading one member after another. B has it first, and the
// operator forces it OPEN through B until it is ready; A, which does not
// have it yet, ignores the change. When A's reload adds the backend, A
// forces it OPEN too (before, it stayed CLOSED and took traffic while B
// kept it out, until A restarted). And a clear made while A had not got
// the backend ends the override A kept for it from before (removed by a
// reload, then added again).
func TestClusterOverrideForBackendAddedByReload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg := pgtest.New(t, pgtest.Options{Name: "cl-a"})
	pg2 := pgtest.New(t, pgtest.Options{Name: "cl-b"})
	log := testLogger()
	ins := threeInstances()[:2]
	startInstances(t, log, ins, "local", func(_ int, cfg *config.Config) { *cfg = testConfig(t, pg) })
	a, b := ins[0], ins[1]
	withB := testConfig(t, pg, pg2).Backends
	reload := func(in *instance, backends config.Backends) {
		t.Helper()
		next := in.cfg
		next.Backends = backends
		in.srv.SetConfigSource(func() (config.Config, []config.Warning, error) { return next, nil, nil })
		if _, err := in.srv.Reload(ctx); err != nil {
			t.Fatalf("%s: Reload = %v", in.name, err)
		}
	}
	reload(b, withB)
	if err := b.srv.SetOverride(ctx, status.Override{Backend: "pg-b", State: status.Open, Reason: "not ready", Author: "ops"}); err != nil {
		t.Fatal(err)
	}
	// A change made after it on B arrives after it on A (one queue).
	if err := b.srv.SetOverride(ctx, status.Override{Backend: "pg-a", State: status.Closed, Reason: "sync", Author: "sync"}); err != nil {
		t.Fatal(err)
	}
	poll(t, 5*time.Second, "A has B's later override", func() (bool, string) {
		o := backendOf(a.srv.Snapshot(), "pg-a")
		return o.OverrideAuthor == "sync", o.OverrideAuthor
	})
	reload(a, withB)
	if o := backendOf(a.srv.Snapshot(), "pg-b"); o.Override != status.Open || o.CircuitState != status.Open || o.OverrideAuthor != "ops" {
		t.Errorf("A after the reload that added pg-b: override %q by %q, circuit %s; want forced OPEN by ops as on B", o.Override, o.OverrideAuthor, o.CircuitState)
	}

	// A drops pg-b (its override stays in A's state dir); B clears it;
	// A adds pg-b again: the clear wins.
	reload(a, testConfig(t, pg).Backends)
	if err := b.srv.ClearOverride(ctx, "pg-b", "ops"); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.SetOverride(ctx, status.Override{Backend: "pg-a", State: status.Closed, Reason: "sync", Author: "sync2"}); err != nil {
		t.Fatal(err)
	}
	poll(t, 5*time.Second, "A has B's later override", func() (bool, string) {
		o := backendOf(a.srv.Snapshot(), "pg-a")
		return o.OverrideAuthor == "sync2", o.OverrideAuthor
	})
	reload(a, withB)
	if o := backendOf(a.srv.Snapshot(), "pg-b"); o.Override != status.NoState {
		t.Errorf("A after adding pg-b again: override %q by %q; want none (cleared on B)", o.Override, o.OverrideAuthor)
	}
	poll(t, 5*time.Second, "A's pg-b CLOSED", func() (bool, string) {
		o := backendOf(a.srv.Snapshot(), "pg-b")
		return o.CircuitState == status.Closed, string(o.CircuitState)
	})
}
