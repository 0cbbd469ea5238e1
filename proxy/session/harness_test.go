package session

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/pool"
	"github.com/heliosdb/heliosproxy/proxy/route"
	"github.com/heliosdb/heliosproxy/status"
	"github.com/heliosdb/heliosproxy/statusdb"
)

// testHost is a Host over a fixed configuration: the proxy's Server
// without health checks, reloads or a status of its own.
type testHost struct {
	cfg   config.Config
	users map[string]*pool.User
	// status, when set, is what every status query sees (the rows of the
	// helios_proxy tables), fixed so that a copy of them can be compared.
	status *statusdb.Input
}

func (h *testHost) Config() *config.Config      { return &h.cfg }
func (h *testHost) User(name string) *pool.User { return h.users[name] }
func (h *testHost) Snapshot(dst []status.Backend) status.Snapshot {
	if h.status != nil {
		snap := h.status.Snapshot
		snap.Backends = append(dst[:0], snap.Backends...)
		return snap
	}
	return status.Snapshot{Taken: time.Now(), Backends: dst[:0]}
}

func (h *testHost) Events(int) []status.Event {
	if h.status != nil {
		return h.status.Events
	}
	return nil
}

// Replayed: no replica is known to have anything.
func (h *testHost) Replayed(*backend.Backend, time.Time) bool { return false }

// testFront is a Front routing to cfg's backends, serving on Addr when
// started with startFront.
type testFront struct {
	*Front
	host     *testHost
	backends []*backend.Backend
	Addr     string
}

// newFront builds the Front of cfg without serving.
func newFront(t testing.TB, cfg config.Config) *testFront {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	host := &testHost{cfg: cfg, users: make(map[string]*pool.User)}
	for _, u := range cfg.Users {
		pu, err := pool.NewUser(u, cfg.Pool.Mode, []byte(rand.Text()))
		if err != nil {
			t.Fatal(err)
		}
		host.users[u.Name] = pu
	}
	tf := &testFront{host: host}
	hooks := &backend.Hooks{Publish: func(*backend.Backend, breaker.Transition) {}}
	group := breaker.NewGroup(breaker.GroupConfig{MaxEjectionPercent: cfg.CircuitBreaker.MaxEjectionPercent})
	for _, bc := range cfg.Backends.Instances {
		brc := backend.BreakerConfig(cfg, bc)
		tf.backends = append(tf.backends, backend.New(bc, group.Add(bc.Name, brc), backend.AdmissionConfig(cfg, brc), hooks))
	}
	router := &route.Router{Backends: func() []*backend.Backend { return tf.backends }, Now: time.Now}
	router.BreakersOn.Store(true)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	f, err := New(cfg, host, router, realClock{}, log)
	if err != nil {
		t.Fatal(err)
	}
	tf.Front = f
	return tf
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// startFront serves cfg's clients on a loopback port until the test ends.
func startFront(t testing.TB, cfg config.Config) *testFront {
	t.Helper()
	return serveFront(t, newFront(t, cfg))
}

// serveFront serves tf's clients on a loopback port until the test ends.
func serveFront(t testing.TB, tf *testFront) *testFront {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tf.Addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { tf.Serve(ctx, conn) })
		}
	})
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
		tf.ClosePools()
	})
	return tf
}

// dsn is a connection string to the front.
func (tf *testFront) dsn(user, password string) string {
	host, port, _ := net.SplitHostPort(tf.Addr)
	return fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=postgres sslmode=disable", host, port, user, password)
}

// scramConfig is a configuration in front of one new SCRAM cluster that
// has the role app (password app-secret), listed in [[users]] with mode.
func scramConfig(t *testing.T, name, mode string) config.Config {
	t.Helper()
	c := pgtest.New(t, pgtest.Options{Name: name, Auth: "scram-sha-256", Password: "pg-secret"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.CreateUser(ctx, "app", "app-secret"); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	b := config.DefaultBackend()
	b.Name, b.Host, b.Port = "pg-a", c.Host, c.Port
	cfg.Backends.Instances = []config.Backend{b}
	cfg.HealthChecks.Enabled = false
	cfg.Pool.Mode = mode
	cfg.Users = []config.User{{Name: "app", Password: "app-secret"}}
	return cfg
}
