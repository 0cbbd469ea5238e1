package proxy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/status"
)

// TestFormerPrimaryFencedAcrossRestart: the proxy follows a promotion to
// timeline 2 and keeps that in [state] dir; restarted while the new
// primary is down and the old one is back on timeline 1, it fences the
// old one at once instead of taking it for the primary.
func TestFormerPrimaryFencedAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	dir := t.TempDir()
	p, cs := replicated(t, ctx, 1, func(cfg *config.Config) {
		cfg.State.Dir = dir
		cfg.Backends.PrimaryWaitTimeout = config.Duration{} // fail at once with no primary
	})
	old, promoted := cs[0], cs[1]
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := promoted.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, p, "pg-b primary on timeline 2", func(snap status.Snapshot) bool {
		b := backendStatus(snap, "pg-b")
		return b.Role == status.RolePrimary && b.Timeline == 2
	})
	// The checker writes the file right after the status shows it.
	for {
		saved, err := os.ReadFile(filepath.Join(dir, timelinesFile))
		if err == nil && strings.Contains(string(saved), ": 2") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timelines file %q (%v), want timeline 2 kept", saved, err)
		case <-time.After(5 * time.Millisecond):
		}
	}

	// A second proxy with the same state: the new primary is down, the
	// old one is back as a primary on timeline 1.
	cfg := *p.config()
	if err := promoted.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := old.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	p2 := startProxy(t, cfg)
	snap := waitStatus(t, ctx, p2, "pg-a fenced", func(snap status.Snapshot) bool {
		return backendStatus(snap, "pg-a").Routing == status.RoutingFenced
	})
	if b := backendStatus(snap, "pg-a"); b.Role != status.RolePrimary || b.Timeline != 1 || !strings.Contains(b.FencedReason, "timeline 2") {
		t.Errorf("old primary after the restart: %v", roles(snap))
	}
	if port, err := write(ctx, p2.dsn("postgres", ""), "after-restart"); err == nil {
		t.Errorf("a write succeeded on port %d with only the former primary up (old %d)", port, old.Port)
	} else if code := pgCode(err); code != "57P03" {
		t.Errorf("write with only the former primary up: %v, want 57P03", err)
	}
}
