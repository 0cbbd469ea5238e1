package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/api"
	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy/cluster/clustertest"
	"github.com/heliosdb/heliosproxy/status"
)

const clusterKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// clusterAdminToken is the [api] admin_token of the instances' REST APIs.
const clusterAdminToken = "cluster-test-admin-token"

// instance is one proxy of a cluster test: its listener, API and gossip
// on one loopback address.
type instance struct {
	name, ip string
	cfg      config.Config
	srv      *Server
	addr     string // PostgreSQL listener
	api      string // base URL of its REST API
	stop     func()
	// checks counts the health checks of each backend that passed
	// (set by start).
	checks *sync.Map // backend → *atomic.Int64
}

// passedChecks is how many health checks of backend have passed on the
// instance since it started.
func (in *instance) passedChecks(backend string) int64 {
	v, _ := in.checks.LoadOrStore(backend, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

// start runs the instance (again, after stop: a restart with the same
// state dir) with its REST API.
func (in *instance) start(t *testing.T, log *slog.Logger) {
	t.Helper()
	srv, err := New(in.cfg, log.With("instance", in.name))
	if err != nil {
		t.Fatal(err)
	}
	srv.tuneCluster = clustertest.FastProbes
	in.checks = new(sync.Map)
	srv.OnHealthCheck(func(backend string, _ time.Duration, o breaker.Outcome) {
		if o == breaker.Success {
			v, _ := in.checks.LoadOrStore(backend, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
		}
	})
	ln, err := net.Listen("tcp", in.ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	apiLn, err := net.Listen("tcp", in.ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(srv, log, api.Options{ListenAddress: apiLn.Addr().String(), AdminToken: clusterAdminToken, Users: srv})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(apiLn)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	in.srv, in.addr, in.api = srv, ln.Addr().String(), "http://"+apiLn.Addr().String()
	stopped := false
	in.stop = func() {
		if stopped {
			return
		}
		stopped = true
		hs.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: Run = %v", in.name, err)
		}
	}
	t.Cleanup(in.stop)
}

// sql runs a query on the instance's helios_proxy database and returns
// the first column of the first row ("" for none, "NULL" for NULL).
func (in *instance) sql(ctx context.Context, query string, args ...any) (string, error) {
	host, port, _ := net.SplitHostPort(in.addr)
	conn, err := pgx.Connect(ctx, "host="+host+" port="+port+" user=postgres dbname=helios_proxy sslmode=disable")
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var v *string
	if err := conn.QueryRow(ctx, query, args...).Scan(&v); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return "", nil
		}
		return "", err
	}
	if v == nil {
		return "NULL", nil
	}
	return *v, nil
}

// rest GETs path from the instance's API into out.
func (in *instance) rest(path string, out any) error {
	resp, err := http.Get(in.api + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s = %d %s", path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

// poll calls cond every 10 ms until it holds, and fails the test when
// within passes first; it returns how long it took.
func poll(t *testing.T, within time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, last := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v (last: %s)", what, within, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func backendOf(snap status.Snapshot, name string) status.Backend {
	for _, b := range snap.Backends {
		if b.Name == name {
			return b
		}
	}
	return status.Backend{}
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startInstances runs ins as one cluster under decision, each with its
// listener, API and gossip on its own loopback address and its own state
// dir; config sets instance i's configuration before the cluster's part
// is added. It returns the gossip addresses once every instance sees
// every other alive.
func startInstances(t *testing.T, log *slog.Logger, ins []*instance, decision string, config func(i int, cfg *config.Config)) []string {
	t.Helper()
	var gossip []string
	for _, in := range ins {
		gossip = append(gossip, clustertest.FreeAddr(t, in.ip))
	}
	for i, in := range ins {
		config(i, &in.cfg)
		cfg := &in.cfg
		cfg.Proxy.ListenAddress = in.ip + ":0"
		cfg.State.Dir = filepath.Join(t.TempDir(), in.name)
		var join []string
		for j, g := range gossip {
			if j != i {
				join = append(join, g)
			}
		}
		cfg.Cluster = clusterConfig(in.name, gossip[i], join, decision)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		in.start(t, log)
	}
	for _, in := range ins {
		poll(t, 10*time.Second, in.name+" sees every member alive", func() (bool, string) {
			n := 0
			for _, m := range in.srv.Snapshot().Members {
				if m.State == status.MemberAlive {
					n++
				}
			}
			return n == len(ins), fmt.Sprint(in.srv.Snapshot().Members)
		})
	}
	return gossip
}

// threeInstances are node-a, node-b and node-c on 127.0.0.1, .2 and .3.
func threeInstances() []*instance {
	return []*instance{{name: "node-a", ip: "127.0.0.1"}, {name: "node-b", ip: "127.0.0.2"}, {name: "node-c", ip: "127.0.0.3"}}
}

func clusterConfig(name, bind string, join []string, decision string) config.Cluster {
	return config.Cluster{Enabled: true, NodeName: name, BindAddress: bind, Join: join,
		RejoinInterval: config.Duration{Duration: 200 * time.Millisecond}, SecretKey: clusterKey, Decision: decision}
}

// TestClusterThreeInstances: three proxies, each with its listener, API
// and gossip on its own loopback address (127.0.0.1, .2, .3), in front of
// the same two PostgreSQL servers. They see each other alive (SQL, REST);
// an override set on A shows in B's SQL and C's REST within a second,
// survives a rolling restart of A, B and C (each with its state dir) and
// expires on all three; a
// peer with another secret_key never joins; a backend killed while only A
// checks it often opens on B and C through A.
func TestClusterThreeInstances(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var clusters []*pgtest.Cluster
	for _, name := range []string{"cl-a", "cl-b"} {
		clusters = append(clusters, pgtest.New(t, pgtest.Options{Name: name}))
	}
	log := testLogger()
	ins := threeInstances()
	gossip := startInstances(t, log, ins, "local", func(i int, cfg *config.Config) {
		*cfg = testConfig(t, clusters...)
		if i == 0 {
			cfg.HealthChecks.Interval = config.Duration{Duration: 100 * time.Millisecond}
			cfg.HealthChecks.Timeout = config.Duration{Duration: 100 * time.Millisecond}
		} else {
			// B and C would take a minute to notice a dead backend themselves.
			cfg.HealthChecks.Interval = config.Duration{Duration: time.Minute}
		}
	})
	a, b, c := ins[0], ins[1], ins[2]

	// Everyone alive, seen through each surface.
	if got, err := b.sql(ctx, "SELECT count(*)::text FROM helios_proxy.cluster_members WHERE state = 'alive' AND node IN ('node-a', 'node-b', 'node-c')"); err != nil || got != "3" {
		t.Errorf("B's cluster_members alive = %q, %v; want 3", got, err)
	}
	var members struct {
		Members []struct{ Node, State, Address string } `json:"members"`
	}
	if err := c.rest("/cluster/members", &members); err != nil || len(members.Members) != 3 || members.Members[0].Node != "node-c" ||
		members.Members[0].Address != gossip[2] {
		t.Errorf("C's /cluster/members = %+v, %v; want three, itself first at %s", members, err, gossip[2])
	}

	// An override set on A: in B's SQL and C's REST within a second.
	expires := time.Now().Add(30 * time.Second)
	set := time.Now()
	if err := a.srv.SetOverride(ctx, status.Override{Backend: "pg-b", State: status.Open, Reason: "maintenance", Author: "ops", Expires: expires}); err != nil {
		t.Fatal(err)
	}
	poll(t, time.Second, "B's SQL shows the override", func() (bool, string) {
		v, err := b.sql(ctx, "SELECT override FROM helios_proxy.circuit_breaker_status WHERE backend_name = 'pg-b'")
		return v == "OPEN", fmt.Sprint(v, err)
	})
	dB := time.Since(set)
	poll(t, time.Second, "C's REST shows the override", func() (bool, string) {
		var st struct {
			Override *string `json:"override"`
		}
		err := c.rest("/circuit-breaker/status/pg-b", &st)
		return err == nil && st.Override != nil && *st.Override == "OPEN", fmt.Sprint(err)
	})
	t.Logf("override set on A: in B's SQL after %v, in C's REST after %v", dB.Round(time.Millisecond), time.Since(set).Round(time.Millisecond))
	if bb := backendOf(b.srv.Snapshot(), "pg-b"); bb.CircuitState != status.Open || bb.OverrideAuthor != "ops" || !bb.OverrideExpires.Equal(expires) {
		t.Errorf("B's pg-b = %s, author %q, expires %v; want OPEN by ops until %v", bb.CircuitState, bb.OverrideAuthor, bb.OverrideExpires, expires)
	}

	// A rolling restart, one instance after the other, each with its state
	// dir, each back among the others' members before the next goes: the
	// override is still there on every one.
	for i, in := range ins {
		other := ins[(i+1)%len(ins)]
		in.stop()
		in.start(t, log)
		if o := backendOf(in.srv.Snapshot(), "pg-b"); o.Override != status.Open {
			t.Fatalf("after %s's restart, its pg-b override = %q, want OPEN", in.name, o.Override)
		}
		poll(t, 10*time.Second, in.name+" is back among "+other.name+"'s members", func() (bool, string) {
			for _, m := range other.srv.Snapshot().Members {
				if m.Node == in.name {
					return m.State == status.MemberAlive, string(m.State)
				}
			}
			return false, "absent"
		})
	}
	for _, in := range ins {
		if o := backendOf(in.srv.Snapshot(), "pg-b"); o.Override != status.Open || !o.OverrideExpires.Equal(expires) {
			t.Errorf("after the rolling restart, %s's pg-b override = %q until %v, want OPEN until %v", in.name, o.Override, o.OverrideExpires, expires)
		}
	}

	// A peer with another key never joins.
	xcfg := b.cfg
	xcfg.Proxy.ListenAddress = "127.0.0.1:0"
	xcfg.State.Dir = ""
	xcfg.Cluster.NodeName, xcfg.Cluster.BindAddress = "node-x", clustertest.FreeAddr(t, "127.0.0.1")
	xcfg.Cluster.Join = gossip
	xcfg.Cluster.SecretKey = "YWJjZGVmZ2hpamtsbW5vcA=="
	xlog := newRecordLog()
	x := &instance{name: "node-x", ip: "127.0.0.1", cfg: xcfg}
	x.start(t, slog.New(xlog))
	for range 3 { // three failed attempts
		xlog.wait(t, ctx, slog.LevelInfo, "cluster join incomplete; retrying every rejoin_interval")
		xlog.mu.Lock()
		xlog.recs = nil
		xlog.mu.Unlock()
	}
	for _, in := range []*instance{a, b, c, x} {
		for _, m := range in.srv.Snapshot().Members {
			if (m.Node == "node-x") != (in == x) {
				t.Errorf("%s sees %s: a member with another key joined", in.name, m.Node)
			}
		}
	}
	x.stop()

	// The override expires on all three at its time.
	for _, in := range ins {
		poll(t, time.Until(expires)+2*time.Second, in.name+"'s override expires", func() (bool, string) {
			o := backendOf(in.srv.Snapshot(), "pg-b")
			return o.Override == status.NoState, string(o.Override)
		})
		if late := time.Since(expires); late < 0 {
			t.Errorf("%s: override gone %v before it expired", in.name, -late)
		}
	}

	// Set on C, cleared on B: gone everywhere, with the author recorded.
	if err := c.srv.SetOverride(ctx, status.Override{Backend: "pg-b", State: status.Open, Reason: "again", Author: "carol"}); err != nil {
		t.Fatal(err)
	}
	for _, in := range []*instance{a, b} {
		poll(t, time.Second, in.name+" has C's override", func() (bool, string) {
			o := backendOf(in.srv.Snapshot(), "pg-b")
			return o.Override == status.Open && o.OverrideAuthor == "carol", string(o.Override)
		})
	}
	if err := b.srv.ClearOverride(ctx, "pg-b", "bob"); err != nil {
		t.Fatal(err)
	}
	for _, in := range []*instance{a, c} {
		poll(t, time.Second, in.name+" has B's clear", func() (bool, string) {
			o := backendOf(in.srv.Snapshot(), "pg-b")
			return o.Override == status.NoState && o.CircuitState == status.Closed, string(o.Override)
		})
	}

	// Kill pg-a: A's health checks find it dead; B and C, which would
	// not check it for a minute, open it from A's word.
	var subs []<-chan status.Event
	for _, in := range ins {
		subs = append(subs, in.srv.Subscribe(ctx))
	}
	if err := clusters[0].Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	opened := isEvent(status.CircuitOpened, "pg-a")
	evA := waitEvent(t, ctx, subs[0], opened)
	for i, in := range []*instance{b, c} {
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		ev := waitEvent(t, wctx, subs[i+1], opened)
		wcancel()
		if ev.Reason != "peer_hard_failure" || !strings.Contains(ev.Detail, "node-a") {
			t.Errorf("%s: pg-a opened for %q (%s), want peer_hard_failure naming node-a", in.name, ev.Reason, ev.Detail)
		}
		t.Logf("pg-a killed: A opened it after %v (%s); %s opened it %v after A",
			evA.Time.Sub(killed).Round(time.Millisecond), evA.Reason, in.name, ev.Time.Sub(evA.Time))
	}
	if r, err := c.sql(ctx, "SELECT open_reason FROM helios_proxy.circuit_breaker_status WHERE backend_name = 'pg-a'"); err != nil || !strings.Contains(r, "peer") {
		t.Errorf("C's SQL open_reason of pg-a = %q, %v; want peer_hard_failure", r, err)
	}
}
