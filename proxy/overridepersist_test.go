package proxy

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/overrides"
	"github.com/heliosdb/heliosproxy/status"
)

// TestOverrideWriteFailuresLoggedOnce: while the state directory cannot be
// written, expiries still take effect, an operator's override is refused
// with an error, and the failure is logged once, not on every tick; when
// writes work again, one line says so and the file holds the overrides.
func TestOverrideWriteFailuresLoggedOnce(t *testing.T) {
	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	cfg.HealthChecks.Enabled = false
	port := closedPort(t) // the backends are never reached: the test is about the state file
	for _, name := range []string{"pg-a", "pg-b"} {
		b := config.DefaultBackend()
		b.Name, b.Host, b.Port = name, "127.0.0.1", port
		cfg.Backends.Instances = append(cfg.Backends.Instances, b)
	}
	dir := filepath.Join(t.TempDir(), "state")
	cfg.State.Dir = dir
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := newRecordLog()
	srv, err := New(cfg, slog.New(log))
	if err != nil {
		t.Fatal(err)
	}
	clock := &skewClock{}
	srv.clock = clock
	runServer(t, srv, cfg.Proxy.ListenAddress)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	events := srv.Subscribe(ctx)

	now := clock.Now()
	for _, o := range []status.Override{
		{Backend: "pg-a", State: status.Open, Author: "alice", Expires: now.Add(time.Hour)},
		{Backend: "pg-b", State: status.Closed, Author: "bob", Expires: now.Add(2 * time.Hour)},
	} {
		if err := srv.SetOverride(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if got := readOverrides(t, dir); len(got) != 2 {
		t.Fatalf("state file holds %d overrides, want 2", len(got))
	}

	// A regular file where the directory was: writes fail, for root too.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	waitEvent(t, ctx, events, isEvent(status.OverrideCleared, "pg-a"))
	log.wait(t, ctx, slog.LevelError, "overrides not persisted; retrying until a write succeeds")
	clock.Advance(time.Hour)
	waitEvent(t, ctx, events, isEvent(status.OverrideCleared, "pg-b"))
	if err := srv.SetOverride(ctx, status.Override{Backend: "pg-a", State: status.Open, Author: "carol"}); err == nil {
		t.Error("SetOverride with the state directory unwritable: no error, want one")
	}
	if sb := srv.Snapshot().Backends[0]; sb.Override != status.NoState || sb.CircuitState != status.Closed {
		t.Errorf("pg-a after a refused override: %s, override %q; want CLOSED without override", sb.CircuitState, sb.Override)
	}

	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	again := log.wait(t, ctx, slog.LevelInfo, "overrides persisted again")
	if n := attrInt(again, "failed_writes"); n < 2 {
		t.Errorf("overrides persisted again after %d failed writes, want at least 2 (an expiry's and the operator's)", n)
	}
	if got := readOverrides(t, dir); len(got) != 0 {
		t.Errorf("state file after writes work again = %+v, want no override (both expired)", got)
	}
	if err := srv.SetOverride(ctx, status.Override{Backend: "pg-b", State: status.Open, Author: "carol"}); err != nil {
		t.Fatal(err)
	}
	if got := readOverrides(t, dir); len(got) != 1 || got[0].Backend != "pg-b" || got[0].State != status.Open {
		t.Errorf("state file after a new override = %+v, want pg-b OPEN", got)
	}
	if n := log.count(slog.LevelError, "overrides not persisted; retrying until a write succeeds"); n != 1 {
		t.Errorf("%d error lines for one run of failed writes, want 1", n)
	}
	if n := log.count(slog.LevelInfo, "overrides persisted again"); n != 1 {
		t.Errorf("%d lines saying writes work again, want 1", n)
	}
}

// closedPort returns a loopback TCP port that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func readOverrides(t *testing.T, dir string) []status.Override {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, overrides.File))
	if err != nil {
		t.Fatal(err)
	}
	var list []status.Override
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	return list
}

// skewClock is the real clock moved forward by what Advance adds, so that
// a test jumps to an override's expiry while everything else runs.
type skewClock struct{ skew atomic.Int64 }

func (c *skewClock) Now() time.Time          { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *skewClock) Advance(d time.Duration) { c.skew.Add(int64(d)) }

// recordLog is a slog.Handler that keeps every record, so that a test can
// wait for a line and count lines.
type recordLog struct {
	mu    sync.Mutex
	recs  []slog.Record
	added chan struct{} // a token after each record
}

func newRecordLog() *recordLog { return &recordLog{added: make(chan struct{}, 1)} }

func (l *recordLog) Enabled(context.Context, slog.Level) bool { return true }

func (l *recordLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r.Clone())
	l.mu.Unlock()
	select {
	case l.added <- struct{}{}:
	default:
	}
	return nil
}

func (l *recordLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *recordLog) WithGroup(string) slog.Handler      { return l }

func (l *recordLog) find(level slog.Level, msg string) (first slog.Record, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.Level == level && r.Message == msg {
			if n == 0 {
				first = r
			}
			n++
		}
	}
	return first, n
}

func (l *recordLog) count(level slog.Level, msg string) int {
	_, n := l.find(level, msg)
	return n
}

// wait returns the first record of level with msg, waiting for it until
// ctx ends. One goroutine waits at a time.
func (l *recordLog) wait(t *testing.T, ctx context.Context, level slog.Level, msg string) slog.Record {
	t.Helper()
	for {
		if r, n := l.find(level, msg); n > 0 {
			return r
		}
		select {
		case <-l.added:
		case <-ctx.Done():
			t.Fatalf("no %s line %q: %v", level, msg, ctx.Err())
		}
	}
}

func attrInt(r slog.Record, key string) int64 {
	var v int64 = -1
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.Int64()
			return false
		}
		return true
	})
	return v
}
