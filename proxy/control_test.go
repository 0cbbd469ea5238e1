package proxy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy/overrides"
	"github.com/heliosdb/heliosproxy/status"
)

func TestOverridesPersistAndExpire(t *testing.T) {
	a := pgtest.New(t, pgtest.Options{Name: "ov-a"})
	b := pgtest.New(t, pgtest.Options{Name: "ov-b"})
	cfg := testConfig(t, a, b)
	cfg.State.Dir = t.TempDir()
	p := startProxy(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	events := p.Subscribe(ctx)

	if err := p.SetOverride(ctx, status.Override{Backend: "nope", State: status.Open}); !errors.Is(err, status.ErrUnknownBackend) {
		t.Errorf("override of an unknown backend: err = %v, want ErrUnknownBackend", err)
	}
	o := status.Override{Backend: "pg-b", State: status.Open, Reason: "maintenance", Author: "alice"}
	if err := p.SetOverride(ctx, o); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, events, isEvent(status.OverrideSet, "pg-b"))
	sb := p.Snapshot().Backends[1]
	if sb.CircuitState != status.Open || sb.Override != status.Open || sb.OverrideReason != "maintenance" || sb.OverrideAuthor != "alice" {
		t.Errorf("snapshot of pg-b = %s override %q %q %q; want OPEN override OPEN maintenance alice", sb.CircuitState, sb.Override, sb.OverrideReason, sb.OverrideAuthor)
	}
	if got := landings(t, ctx, p.dsn("postgres", ""), 6); got[b.Port] != 0 {
		t.Errorf("sessions landed on %v while pg-b is forced OPEN", got)
	}
	var state, override string
	conn, err := pgx.Connect(ctx, p.dsn("postgres", ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT circuit_state, override FROM helios_proxy.circuit_breaker_status WHERE backend_name = 'pg-b'").Scan(&state, &override); err != nil || state != "OPEN" || override != "OPEN" {
		t.Errorf("SQL view of the override: %s %s, %v", state, override, err)
	}
	conn.Close(ctx)

	// A new proxy process over the same state directory restores it.
	again := startProxy(t, cfg)
	if sb := again.Snapshot().Backends[1]; sb.CircuitState != status.Open || sb.Override != status.Open || sb.OverrideAuthor != "alice" {
		t.Errorf("after a restart pg-b = %s override %q by %q; want OPEN, OPEN, alice", sb.CircuitState, sb.Override, sb.OverrideAuthor)
	}

	// Expiry: an override with a TTL clears itself.
	if err := p.SetOverride(ctx, status.Override{Backend: "pg-a", State: status.Closed, Reason: "pin", Author: "bob", Expires: time.Now().Add(300 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	cleared := waitEvent(t, ctx, events, isEvent(status.OverrideCleared, "pg-a"))
	if cleared.Author != "expiry" {
		t.Errorf("override cleared by %q, want expiry", cleared.Author)
	}
	if sb := p.Snapshot().Backends[0]; sb.Override != status.NoState {
		t.Errorf("pg-a override after expiry = %q, want none", sb.Override)
	}
	if err := p.ClearOverride(ctx, "pg-b", "alice"); err != nil {
		t.Fatal(err)
	}
	if sb := p.Snapshot().Backends[1]; sb.Override != status.NoState || sb.CircuitState != status.Closed {
		t.Errorf("pg-b after clearing: %s override %q; want CLOSED without override", sb.CircuitState, sb.Override)
	}
}

func TestCorruptOverrideFileDoesNotStopStartUp(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "ov-corrupt"})
	cfg := testConfig(t, c)
	cfg.State.Dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(cfg.State.Dir, overrides.File), []byte(`[{"Backend":"pg-a","State":"OP`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, cfg)
	if sb := p.Snapshot().Backends[0]; sb.Override != status.NoState || sb.CircuitState != status.Closed {
		t.Errorf("with a torn state file: %s override %q; want CLOSED, none", sb.CircuitState, sb.Override)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got := landings(t, ctx, p.dsn("postgres", ""), 2); got[c.Port] != 2 {
		t.Errorf("sessions: %v", got)
	}
}

// writeConfig writes cfg as the TOML file Reload reads.
func writeConfig(t *testing.T, path string, cfg config.Config) {
	t.Helper()
	data, err := cfg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReload(t *testing.T) {
	a := pgtest.New(t, pgtest.Options{Name: "rl-a"})
	b := pgtest.New(t, pgtest.Options{Name: "rl-b"})
	c := pgtest.New(t, pgtest.Options{Name: "rl-c"})
	cfg := testConfig(t, a, b)
	path := filepath.Join(t.TempDir(), "heliosproxy.toml")
	writeConfig(t, path, cfg)
	p := startProxy(t, cfg)
	p.SetConfigSource(func() (config.Config, []config.Warning, error) { return config.Load(path) })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	load := startLoad(t, p.dsn("postgres", ""), 8)
	waitSessions(t, ctx, p)
	before := p.Snapshot().Backends[0].RequestsTotal

	// An invalid file: every error reported, nothing changed.
	if err := os.WriteFile(path, []byte("[proxy]\nlisten_adress = 1\n[[backends.instances]]\nname = \"x\"\nhost = \"h\"\nport = \"abc\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := p.Reload(ctx)
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) < 2 || !strings.Contains(err.Error(), "heliosproxy.toml:2") || !strings.Contains(err.Error(), "heliosproxy.toml:6") {
		t.Errorf("reload of an invalid file: err = %v, want every problem with file:line", err)
	}
	if n := len(p.Snapshot().Backends); n != 2 {
		t.Errorf("after a failed reload: %d backends, want the old 2", n)
	}

	// A valid file: pg-c added, pg-a removed, a threshold changed.
	next := testConfig(t, a, b, c)
	next.Backends.Instances = next.Backends.Instances[1:] // pg-b, pg-c
	next.CircuitBreaker.LatencyThresholdP95Ms = 800
	writeConfig(t, path, next)
	res, err := p.Reload(ctx)
	if err != nil {
		t.Fatalf("valid reload: %v", err)
	}
	if strings.Join(res.Added, ",") != "pg-c" || strings.Join(res.Removed, ",") != "pg-a" {
		t.Errorf("reload result %+v, want pg-c added and pg-a removed", res)
	}
	snap := p.Snapshot()
	if len(snap.Backends) != 2 || snap.Backends[0].Name != "pg-b" || snap.Backends[1].Name != "pg-c" {
		t.Errorf("backends after reload: %+v", snap.Backends)
	}
	// New sessions reach the added backend and never the removed one.
	got := landings(t, ctx, p.dsn("postgres", ""), 10)
	if got[a.Port] != 0 || got[c.Port] == 0 {
		t.Errorf("new sessions after reload landed on %v; want some on pg-c (%d), none on pg-a (%d)", got, c.Port, a.Port)
	}
	// Live sessions survived: the load saw no error across both reloads.
	load.stop()
	if n := load.errs.Load(); n != 0 {
		t.Errorf("clients saw %d errors across the reloads, want 0", n)
	}
	if before == 0 {
		t.Error("no traffic before the reload")
	}
	if b := p.Snapshot().Backends[0]; b.RequestsTotal == 0 {
		t.Error("pg-b's statistics were reset by the reload")
	}
}
