package proxy

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/status"
)

// TestReloadedBackendWaitsForItsRole: a replica added by a reload (or a
// backend whose address a reload changed) takes no session before its
// first health check has said what it is. Before, its role was unknown
// until then, so it was routed as a primary: the least loaded backend,
// it took writes, which failed with 25006 (a pass-through session stayed
// on the replica). The checks here take 300ms, as over a slow link.
func TestReloadedBackendWaitsForItsRole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var full config.Config
	p, cs := replicated(t, ctx, 2, func(cfg *config.Config) {
		cfg.HealthChecks.CheckQuery = "SELECT pg_sleep(0.3)"
		cfg.HealthChecks.Timeout = config.Duration{Duration: 2 * time.Second}
		cfg.HealthChecks.Interval = config.Duration{Duration: 2 * time.Second}
		full = *cfg
	})
	path := filepath.Join(t.TempDir(), "heliosproxy.toml")
	less := full
	less.Backends.Instances = slices.Clone(full.Backends.Instances[:2]) // pg-c not yet
	writeConfig(t, path, less)
	p.SetConfigSource(func() (config.Config, []config.Warning, error) { return config.Load(path) })
	if res, err := p.Reload(ctx); err != nil || len(res.Removed) != 1 {
		t.Fatalf("reload without pg-c: %+v, %v", res, err)
	}

	writeConfig(t, path, full)
	if res, err := p.Reload(ctx); err != nil || !slices.Equal(res.Added, []string{"pg-c"}) {
		t.Fatalf("reload adding pg-c back: %+v, %v", res, err)
	}
	dsn := p.dsn("postgres", "")
	for i := range 6 {
		port, err := write(ctx, dsn, fmt.Sprint("after reload ", i))
		if err != nil {
			t.Fatalf("write %d right after the reload: %v (status %v)", i, err, roles(p.Snapshot()))
		}
		if port != cs[0].Port {
			t.Errorf("write %d landed on port %d, want the primary's %d", i, port, cs[0].Port)
		}
	}
	waitStatus(t, ctx, p, "pg-c known as a replica", func(snap status.Snapshot) bool {
		return backendStatus(snap, "pg-c").Role == status.RoleReplica
	})
}
