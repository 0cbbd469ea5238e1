package proxy

import (
	"context"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/pool"
)

// TestFailedReloadChangesNothing: a reload whose last step fails (a
// [[users]] entry the proxy cannot set up) leaves the running proxy
// exactly as it was: configuration, backends, their breakers' settings,
// health checkers and users. The same reload without the fault then
// applies in full.
func TestFailedReloadChangesNothing(t *testing.T) {
	a := pgtest.New(t, pgtest.Options{Name: "rf-a"})
	b := pgtest.New(t, pgtest.Options{Name: "rf-b"})
	cfg := testConfig(t, a, b)
	cfg.Users = []config.User{{Name: "app", Password: "app-s3cr3t"}}
	p := startProxy(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	landings(t, ctx, p.dsn("postgres", ""), 1) // a session served: Run has started the checkers

	// pg-a changes, pg-b goes, pg-c comes, health checks change (every
	// checker restarts), and a user is added. Validate would refuse the
	// broken verifier; Reload must not count on its source validating.
	next := testConfig(t, a, b)
	next.Backends.Instances[0].Weight = 7
	next.Backends.Instances[1].Name, next.Backends.Instances[1].Port = "pg-c", closedPort(t)
	next.CircuitBreaker.LatencyThresholdP95Ms = 900
	next.HealthChecks.Interval = config.Duration{Duration: 700 * time.Millisecond}
	next.Proxy.MaxBufferMemory = cfg.Proxy.MaxBufferMemory / 2
	next.Users = []config.User{
		{Name: "app", Password: "SCRAM-SHA-256$4096:c2FsdA==$bm90IGEga2V5:bm90IGEga2V5"},
		{Name: "report", Password: "report-s3cr3t"},
	}
	p.SetConfigSource(func() (config.Config, []config.Warning, error) { return next, nil, nil })

	type state struct {
		cfg      *config.Config
		backends []*backend.Backend
		confs    []*config.Backend
		breakers []breaker.Config
		group    []*breaker.Breaker // pg-a, pg-b, pg-c in the group
		checkers []*backend.Backend
		users    map[string]*pool.User
		limit    int64
	}
	read := func() state {
		st := state{cfg: p.config(), backends: p.list(), limit: p.front.Buffers.Limit.Load()}
		for _, b := range st.backends {
			st.confs = append(st.confs, b.Live())
			st.breakers = append(st.breakers, b.Breaker.Config())
		}
		for _, name := range []string{"pg-a", "pg-b", "pg-c"} {
			st.group = append(st.group, p.group.Get(name))
		}
		p.runMu.Lock()
		st.checkers = slices.SortedFunc(maps.Keys(p.checkers), func(x, y *backend.Backend) int { return strings.Compare(x.Config.Name, y.Config.Name) })
		p.runMu.Unlock()
		st.users = *p.users.Load()
		return st
	}
	before := read()
	if len(before.checkers) != 2 {
		t.Fatalf("checkers before the reload: %d, want 2", len(before.checkers))
	}

	_, err := p.Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), `users "app"`) {
		t.Fatalf("reload with a broken verifier: err = %v, want one naming users \"app\"", err)
	}
	after := read()
	if !reflect.DeepEqual(after, before) {
		t.Errorf("after a failed reload:\n%+v\nwant it as before:\n%+v", after, before)
	}
	if reflect.ValueOf(after.users).UnsafePointer() != reflect.ValueOf(before.users).UnsafePointer() {
		t.Error("the users table was replaced by a failed reload")
	}
	for _, b := range after.backends {
		if b.Draining.Load() {
			t.Errorf("%s drains after a failed reload", b.Config.Name)
		}
	}

	next.Users[0].Password = "app-s3cr3t"
	res, err := p.Reload(ctx)
	if err != nil {
		t.Fatalf("reload without the fault: %v", err)
	}
	if !slices.Equal(res.Added, []string{"pg-c"}) || !slices.Equal(res.Removed, []string{"pg-b"}) {
		t.Errorf("reload result %+v, want pg-c added and pg-b removed", res)
	}
	got := read()
	if got.cfg.Backends.Instances[0].Weight != 7 || len(got.backends) != 2 || got.backends[0] != before.backends[0] ||
		got.backends[1].Config.Name != "pg-c" || got.confs[0].Weight != 7 || got.breakers[0].LatencyP95 != 900*time.Millisecond ||
		got.group[1] != nil || got.group[2] != got.backends[1].Breaker || len(got.checkers) != 2 ||
		got.users["app"] != before.users["app"] || got.users["report"] == nil || got.limit != next.Proxy.MaxBufferMemory {
		t.Errorf("after the reload: %+v; want pg-a kept with weight 7 and p95 900ms, pg-c added, pg-b gone, users app (kept) and report", got)
	}
	if !before.backends[1].Draining.Load() {
		t.Error("pg-b does not drain after it was removed")
	}
}

// TestReloadBeforeRun: a reload asked for before Run has started (a
// SIGHUP or an API call just after heliosproxy run began) waits for Run
// and then applies. Before, it failed with "the proxy is not running" and
// the new configuration was not loaded (seen in TestReloadChangesLogLevel
// under load: the child's SIGHUP came before Run had started).
func TestReloadBeforeRun(t *testing.T) {
	a := pgtest.New(t, pgtest.Options{Name: "rbr-a"})
	cfg := testConfig(t, a)
	srv, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	next := testConfig(t, a)
	next.Backends.Instances[0].Weight = 7
	srv.SetConfigSource(func() (config.Config, []config.Warning, error) { return next, nil, nil })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reloaded := make(chan error, 1)
	go func() {
		_, err := srv.Reload(ctx)
		reloaded <- err
	}()
	runServer(t, srv, cfg.Proxy.ListenAddress)
	if err := <-reloaded; err != nil {
		t.Fatalf("reload asked for before Run: %v", err)
	}
	if w := srv.config().Backends.Instances[0].Weight; w != 7 {
		t.Errorf("weight after the reload = %v, want 7", w)
	}
}
