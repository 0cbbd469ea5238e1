package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// fill opens direct connections to c until it refuses with its own 53300
// and returns them; they close when the test ends.
func fill(t *testing.T, ctx context.Context, c *pgtest.Cluster) []*pgconn.PgConn {
	t.Helper()
	var conns []*pgconn.PgConn
	t.Cleanup(func() {
		for _, pc := range conns {
			pc.Close(context.Background())
		}
	})
	for {
		pc, err := pgconn.Connect(ctx, c.DSN(c.User, c.Password, "postgres"))
		if err != nil {
			if pgCode(err) != "53300" {
				t.Fatalf("filling %s after %d connections: %v, want its 53300", c.Name, len(conns), err)
			}
			return conns
		}
		conns = append(conns, pc)
	}
}

// waitHealthConnection waits until the proxy's health check holds a
// connection to c.
func waitHealthConnection(t *testing.T, ctx context.Context, c *pgtest.Cluster) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := pgx.Connect(ctx, c.DSN(c.User, c.Password, "postgres"))
		if err != nil {
			t.Fatal(err)
		}
		var n int
		err = conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'heliosproxy-health'").Scan(&n)
		conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("no health-check connection to %s", c.Name)
		}
	}
}

// TestFullBackendsAnswer53300: backends that are merely full (their own
// 53300) are not an outage. A client, relayed or pooled, gets PostgreSQL's
// 53300 with a DETAIL naming the full backends, not 57P03 blaming CLOSED
// circuits, and no circuit opens.
func TestFullBackendsAnswer53300(t *testing.T) {
	settings := map[string]string{"max_connections": "6"}
	a := pgtest.New(t, pgtest.Options{Name: "full-a", Settings: settings})
	b := pgtest.New(t, pgtest.Options{Name: "full-b", Settings: settings})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range []*pgtest.Cluster{a, b} {
		if err := c.CreateUser(ctx, "app", "app-secret"); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig(t, a, b)
	cfg.Users = []config.User{{Name: "app", AuthMethod: "trust"}} // pooled; postgres is relayed
	p := startProxy(t, cfg)
	events := p.Subscribe(ctx)
	// The health checks keep their connections: they are in before the
	// backends fill up.
	waitHealthConnection(t, ctx, a)
	waitHealthConnection(t, ctx, b)
	heldA := fill(t, ctx, a)
	fill(t, ctx, b)

	for _, user := range []string{"postgres", "app", "postgres", "app"} {
		_, err := pgx.Connect(ctx, p.dsn(user, ""))
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			t.Fatalf("connect as %s with both backends full: err = %v, want a PostgreSQL error", user, err)
		}
		t.Logf("%s: %s %s: %s / %s / %s", user, pe.Severity, pe.Code, pe.Message, pe.Detail, pe.Hint)
		if pe.Code != "53300" || pe.Severity != "FATAL" || pe.Message != "sorry, too many clients already" {
			t.Errorf("error = %s %s %q, want FATAL 53300 %q", pe.Severity, pe.Code, pe.Message, "sorry, too many clients already")
		}
		if !strings.HasPrefix(pe.Detail, "Backends pg-") || !strings.Contains(pe.Detail, "pg-a") || !strings.Contains(pe.Detail, "pg-b") ||
			!strings.Contains(pe.Detail, "are at their connection limit.") || strings.Contains(pe.Detail, "CLOSED") || strings.Contains(pe.Detail, "Not tried") {
			t.Errorf("DETAIL = %q, want both backends named as at their connection limit, and nothing else", pe.Detail)
		}
		if !strings.Contains(pe.Hint, "max_connections") {
			t.Errorf("HINT = %q, want advice on max_connections", pe.Hint)
		}
	}
	for _, sb := range p.Snapshot().Backends {
		if sb.CircuitState != status.Closed {
			t.Errorf("%s circuit = %s after its backend was full, want CLOSED", sb.Name, sb.CircuitState)
		}
	}
drain:
	for {
		select {
		case ev := <-events:
			if ev.Type == status.CircuitOpened {
				t.Errorf("circuit of %s opened because its backend was full: %+v", ev.Backend, ev)
			}
		default:
			break drain
		}
	}

	// pg-b's circuit open too: the DETAIL says pg-a is full and why pg-b
	// was not tried.
	forceOpen(t, ctx, p, "pg-b")
	_, err := pgx.Connect(ctx, p.dsn("postgres", ""))
	if pgCode(err) != "53300" {
		t.Fatalf("connect with pg-a full and pg-b open: err = %v, want 53300", err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe); !strings.HasPrefix(pe.Detail, "Backend pg-a is at its connection limit. Not tried: pg-b: OPEN (") {
		t.Errorf("DETAIL = %q, want pg-a at its connection limit and pg-b's open circuit", pe.Detail)
	}

	// A free slot on pg-a: the next client gets in, once PostgreSQL has
	// ended the closed session's process (it does so after the close).
	heldA[0].Close(ctx)
	var conn *pgx.Conn
	poll(t, 10*time.Second, "a session on pg-a once a slot is free", func() (bool, string) {
		conn, err = pgx.Connect(ctx, p.dsn("postgres", ""))
		return err == nil, fmt.Sprint(err)
	})
	var port int
	if err := conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&port); err != nil || port != a.Port {
		t.Errorf("session landed on port %d (%v), want pg-a's %d", port, err, a.Port)
	}
	conn.Close(ctx)
}

// TestFullBackendCountsAsOverload: a login a full backend refuses with
// 53300 (max_connections reached), relayed or pooled, is an overload answer
// and reaches the OnQuery hook (helios_query_duration_seconds{outcome=
// "overload"}, which the HeliosLoadShedding alert reads). Before, logins
// were recorded in the breaker only: a backend refusing every new session
// with "sorry, too many clients already" raised no alert.
func TestFullBackendCountsAsOverload(t *testing.T) {
	a := pgtest.New(t, pgtest.Options{Name: "fullcount-a", Settings: map[string]string{"max_connections": "6"}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := a.CreateUser(ctx, "app", "app-secret"); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, a)
	cfg.Users = []config.User{{Name: "app", AuthMethod: "trust"}} // pooled; postgres is relayed
	srv, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	overloads := 0
	srv.OnQuery(func(backend string, _ time.Duration, o breaker.Outcome) {
		if backend == "pg-a" && o == breaker.Overload {
			mu.Lock()
			overloads++
			mu.Unlock()
		}
	})
	p := &runningProxy{Server: srv, Addr: runServer(t, srv, cfg.Proxy.ListenAddress)}
	waitHealthConnection(t, ctx, a)
	fill(t, ctx, a)
	for _, user := range []string{"postgres", "app"} {
		if _, err := pgx.Connect(ctx, p.dsn(user, "")); pgCode(err) != "53300" {
			t.Fatalf("connect as %s with the backend full: %v, want 53300", user, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if overloads < 2 {
		t.Errorf("OnQuery saw %d overloads of pg-a, want the two logins it refused", overloads)
	}
}
