package proxy

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/overrides"
	"github.com/heliosdb/heliosproxy/status"
)

// TestStaleOverrideTempsRemovedAtStartUp: the temporary files of override
// writes cut short by kill -9 are removed when the next proxy starts, and
// only those; the overrides themselves load.
func TestStaleOverrideTempsRemovedAtStartUp(t *testing.T) {
	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	b := config.DefaultBackend()
	b.Name, b.Host, b.Port = "pg-a", "127.0.0.1", 5432 // never dialled: the servers are not run
	cfg.Backends.Instances = append(cfg.Backends.Instances, b)
	cfg.State.Dir = t.TempDir()
	dir := cfg.State.Dir

	first, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.SetOverride(context.Background(), status.Override{Backend: "pg-a", State: status.Open, Reason: "maintenance", Author: "alice"}); err != nil {
		t.Fatal(err)
	}
	stale := []string{"overrides.json.12345", "overrides.json.4294967295"}
	keep := []string{"overrides.json.bak", "overrides.json.123.bak", "overrides.json.12a", "overrides.json.", "other.json.123", "notes.txt"}
	for _, name := range append(stale, keep...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(`[{"Backend":"pg-a","St`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "overrides.json.777"), 0o700); err != nil { // not a file the writer makes
		t.Fatal(err)
	}
	keep = append(keep, "overrides.json.777")

	var logBuf bytes.Buffer
	again, err := New(cfg, slog.New(slog.NewTextHandler(&logBuf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range stale {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s after start-up: %v, want it removed", name, err)
		}
	}
	for _, name := range append(keep, overrides.File) {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s after start-up: %v, want it kept", name, err)
		}
	}
	if !strings.Contains(logBuf.String(), "removed temporary files of interrupted override writes") || !strings.Contains(logBuf.String(), "removed=2") {
		t.Errorf("start-up log does not say 2 temporary files were removed:\n%s", logBuf.String())
	}
	if sb := again.Snapshot().Backends[0]; sb.Override != status.Open || sb.CircuitState != status.Open || sb.OverrideAuthor != "alice" {
		t.Errorf("pg-a after start-up: %s override %q by %q; want OPEN, OPEN, alice", sb.CircuitState, sb.Override, sb.OverrideAuthor)
	}
}
