package proxy

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// hungClient is one client of TestHungBackendReleasesItsClients: it keeps
// a session and queries in a loop, reconnecting after an error.
type hungClient struct {
	mu       sync.Mutex
	lastOK   time.Time // when a query last succeeded
	lastPort int       // the port of the server that answered it
	codes    []string  // SQLSTATEs of the errors it got, "" for one without
}

func (c *hungClient) run(ctx context.Context, dsn string) {
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			c.failed(ctx, err)
			continue
		}
		for ctx.Err() == nil {
			var port int
			if err := conn.QueryRow(ctx, "SELECT inet_server_port() FROM pg_sleep(0.02)").Scan(&port); err != nil {
				c.failed(ctx, err)
				break
			}
			c.mu.Lock()
			c.lastOK, c.lastPort = time.Now(), port
			c.mu.Unlock()
		}
		conn.Close(context.Background())
	}
}

func (c *hungClient) failed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	var pe *pgconn.PgError
	code := ""
	if errors.As(err, &pe) {
		code = pe.Code
	}
	c.mu.Lock()
	c.codes = append(c.codes, code)
	c.mu.Unlock()
	select { // pace reconnects; load shaping, not synchronisation
	case <-ctx.Done():
	case <-time.After(20 * time.Millisecond):
	}
}

func (c *hungClient) state() (time.Time, int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastOK, c.lastPort, append([]string(nil), c.codes...)
}

// TestHungBackendReleasesItsClients: a backend that answers nothing
// (SIGSTOP: its sockets stay open, so no connection is ever lost) opens
// as hung, and its clients are released with it: pass-through sessions
// there end with FATAL 08006 and pooled requests there fail with 08006,
// so that every client goes on on a healthy backend instead of waiting
// for ever on the stopped one (as they did: until the backend came back,
// or TCP gave up minutes later).
func TestHungBackendReleasesItsClients(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var cs []*pgtest.Cluster
	for _, n := range []string{"a", "b", "c"} {
		c := pgtest.New(t, pgtest.Options{Name: "release-" + n})
		if err := c.CreateUser(ctx, "app", "app-secret"); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	cfg := testConfig(t, cs...)
	cfg.HealthChecks.Interval.Duration = time.Second
	cfg.Users = []config.User{{Name: "app", Password: "app-secret", PoolMode: "transaction"}}
	p := startProxy(t, cfg)
	events := p.Subscribe(ctx)

	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopLoad(); wg.Wait() }()
	clients := map[string][]*hungClient{"pass-through": nil, "transaction-pooled": nil}
	for mode, dsn := range map[string]string{"pass-through": p.dsn("postgres", ""), "transaction-pooled": p.dsn("app", "app-secret")} {
		for range 6 {
			c := &hungClient{}
			clients[mode] = append(clients[mode], c)
			wg.Go(func() { c.run(loadCtx, dsn) })
		}
	}
	waitSessions(t, ctx, p)

	victim := cs[1]
	// It opens as a stall (latency_p95), or as hung when its health check
	// times out first.
	opened := pauseUntilOpen(t, ctx, events, victim, "pg-b")

	// Every client answers again, from a healthy backend, while pg-b is
	// still stopped.
	t.Log("waiting for every client to be answered after the opening")
	for {
		waiting := 0
		for _, list := range clients {
			for _, c := range list {
				if ok, _, _ := c.state(); !ok.After(opened.Time) {
					waiting++
				}
			}
		}
		if waiting == 0 {
			break
		}
		if ctx.Err() != nil {
			for mode, list := range clients {
				for i, c := range list {
					ok, port, codes := c.state()
					t.Logf("%s client %d: last answer %v (port %d), errors %v", mode, i, ok.Format(time.RFC3339Nano), port, codes)
				}
			}
			t.Fatalf("%d clients still wait on the hung backend %v after it opened", waiting, time.Since(opened.Time))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("every client answered again %v after pg-b opened", time.Since(opened.Time))
	for mode, list := range clients {
		for i, c := range list {
			_, port, codes := c.state()
			if port == victim.Port {
				t.Errorf("%s client %d: last answered by the stopped pg-b", mode, i)
			}
			for _, code := range codes {
				if code != "08006" {
					t.Errorf("%s client %d: errors %v, want only 08006 (connection failure)", mode, i, codes)
					break
				}
			}
		}
	}
	for name, want := range map[string]breaker.State{"pg-a": breaker.Closed, "pg-b": breaker.Open, "pg-c": breaker.Closed} {
		if got := p.backend(name).Breaker.State(); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
