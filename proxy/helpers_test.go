package proxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy/listen"
	"github.com/heliosdb/heliosproxy/status"
)

// testConfig is a valid configuration in front of clusters, with settings
// that make tests fast: short open duration and ramp. Health checks keep a
// generous timeout: test machines are shared and slow at times.
func testConfig(t testing.TB, clusters ...*pgtest.Cluster) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: time.Second}
	cfg.CircuitBreaker.RecoveryRampUpDuration = config.Duration{Duration: 2 * time.Second}
	cfg.HealthChecks.Interval = config.Duration{Duration: 500 * time.Millisecond}
	cfg.HealthChecks.Timeout = config.Duration{Duration: 500 * time.Millisecond}
	for i, c := range clusters {
		b := config.DefaultBackend()
		b.Name = []string{"pg-a", "pg-b", "pg-c", "pg-d"}[i]
		b.Host, b.Port = c.Host, c.Port
		cfg.Backends.Instances = append(cfg.Backends.Instances, b)
		cfg.HealthChecks.Password = c.Password
	}
	return cfg
}

// runningProxy is a Server serving on a loopback port for one test.
type runningProxy struct {
	*Server
	Addr string
}

// startProxy runs a Server for cfg until the test ends.
func startProxy(t testing.TB, cfg config.Config) *runningProxy {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	srv, err := New(cfg, log)
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	return &runningProxy{Server: srv, Addr: runServer(t, srv, cfg.Proxy.ListenAddress)}
}

// runUntilStop runs srv on a loopback listener until stop, which returns
// once Run has (failing the test if Run failed).
func runUntilStop(t *testing.T, ctx context.Context, srv *Server) (addr string, stop func()) {
	t.Helper()
	ln, err := listen.Listen("127.0.0.1:0") // as heliosproxy run listens
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx, ln) }()
	return ln.Addr().String(), func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
}

// runServer runs srv on a listener on addr until the test ends, and
// returns the listener's address.
func runServer(t testing.TB, srv *Server, addr string) string {
	t.Helper()
	ln, err := listen.Listen(addr) // as heliosproxy run listens
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ln.Addr().String()
}

// dsn is a connection string to the proxy.
func (p *runningProxy) dsn(user, password string) string {
	host, port, _ := net.SplitHostPort(p.Addr)
	return "host=" + host + " port=" + port + " user=" + user + " password='" + password + "' dbname=postgres sslmode=disable"
}

// waitEvent waits for the first event that matches, failing the test when
// ctx ends first.
func waitEvent(t testing.TB, ctx context.Context, events <-chan status.Event, match func(status.Event) bool) status.Event {
	t.Helper()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream closed")
			}
			if match(ev) {
				return ev
			}
		case <-ctx.Done():
			t.Fatalf("no matching event: %v", ctx.Err())
		}
	}
}

func isEvent(typ status.EventType, backend string) func(status.Event) bool {
	return func(ev status.Event) bool { return ev.Type == typ && ev.Backend == backend }
}

// awaitActive polls a backend through su until exactly one of its
// processes that match where (a condition on pg_stat_activity, with args)
// runs a statement, so that a cancel finds it running; the statement's
// result arriving on done first fails the test.
func awaitActive(t *testing.T, ctx context.Context, su *pgx.Conn, done <-chan error, where string, args ...any) {
	t.Helper()
	for {
		var n int
		if err := su.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "+where, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the statement ended before it was cancelled: %v", err)
		case <-time.After(10 * time.Millisecond): // polling the backend's view
		}
	}
}
