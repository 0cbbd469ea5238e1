package proxy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/status"
)

// TestTransactionLoginWithoutServerConnection: in transaction mode a
// client logs in while every server connection of its pool is in another
// client's transaction, once a login with the same settings went through
// on the pool (it is told the same parameters), and its first statement
// waits for a connection as any transaction does. A login with settings
// the pool has not seen still goes through a connection: after the
// transaction ends it logs in with the server's answer, and a bad value
// is refused at login as PostgreSQL does. After the backend's circuit
// opened and closed again, the pool's connections are new and a login
// goes through one again.
func TestTransactionLoginWithoutServerConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clusters, p := pooledSetup(t, 1, "transaction", func(cfg *config.Config) { cfg.Pool.DefaultPoolSize = 1 })
	c := clusters[0]
	direct, err := pgx.Connect(ctx, c.DSN("postgres", c.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	appConnections := func() int {
		var n int
		if err := direct.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	connect := func(params map[string]string) (*pgx.Conn, error) {
		cc, err := pgx.ParseConfig(p.dsn("app", "app-secret"))
		if err != nil {
			t.Fatal(err)
		}
		cc.ConnectTimeout = 5 * time.Second
		for k, v := range params {
			cc.RuntimeParams[k] = v
		}
		return pgx.ConnectConfig(ctx, cc)
	}
	tokyo := map[string]string{"TimeZone": "Asia/Tokyo", "application_name": "app-1"}
	first, err := connect(tokyo)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close(ctx)
	tx := holdConnection(t, ctx, first) // the pool's only connection

	second, err := connect(tokyo)
	if err != nil {
		t.Fatalf("a login while the pool's only connection is in a transaction: %v", err)
	}
	defer second.Close(ctx)
	for _, name := range []string{"TimeZone", "application_name", "server_version", "DateStyle", "client_encoding"} {
		if a, b := first.PgConn().ParameterStatus(name), second.PgConn().ParameterStatus(name); a != b || a == "" {
			t.Errorf("%s: %q at the login through a connection, %q at the one without", name, a, b)
		}
	}
	answered := make(chan error, 1)
	var tz string
	go func() { answered <- second.QueryRow(ctx, "SHOW TimeZone").Scan(&tz) }()
	other := make(chan error, 1)
	var third *pgx.Conn
	go func() {
		var err error
		third, err = connect(map[string]string{"application_name": "app-3"})
		other <- err
	}()
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-answered; err != nil || tz != "Asia/Tokyo" {
		t.Errorf("the first statement of the client that logged in without a connection: %q, %v", tz, err)
	}
	if err := <-other; err != nil {
		t.Fatalf("a login with a setting the pool had not seen: %v", err)
	}
	defer third.Close(ctx)
	if got := third.PgConn().ParameterStatus("application_name"); got != "app-3" {
		t.Errorf("application_name of a login through a connection = %q, want app-3", got)
	}
	if _, err := connect(map[string]string{"DateStyle": "nonsense"}); pgCode(err) != "22023" {
		t.Errorf("a login with a bad DateStyle: %v, want 22023", err)
	}
	// The server's SQLSTATE, as PostgreSQL gives it at login: 42704.
	if _, err := connect(map[string]string{"no_such_setting": "1"}); pgCode(err) != "42704" {
		t.Errorf("a login with an unknown parameter: %v, want 42704", err)
	}

	// New connections after the circuit opened (Isolate): a login goes
	// through one, and knows the pool again after it.
	forceOpen(t, ctx, p, p.Snapshot().Backends[0].Name)
	if err := p.SetOverride(ctx, status.Override{Backend: p.Snapshot().Backends[0].Name, State: status.Closed, Reason: "test", Author: "test"}); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "the circuit closed", func() (bool, string) {
		b := p.Snapshot().Backends[0]
		return b.CircuitState == status.Closed, string(b.CircuitState)
	})
	poll(t, 10*time.Second, "the pool's connections closed", func() (bool, string) {
		n := appConnections()
		return n == 0, fmt.Sprintf("%d open", n)
	})
	fourth, err := connect(tokyo)
	if err != nil {
		t.Fatalf("a login after the circuit closed again: %v", err)
	}
	defer fourth.Close(ctx)
	if n := appConnections(); n != 1 {
		t.Errorf("%d server connections after the first login of the new epoch, want the 1 it went through", n)
	}
	if got := fourth.PgConn().ParameterStatus("TimeZone"); got != "Asia/Tokyo" {
		t.Errorf("TimeZone after the circuit closed again = %q", got)
	}
}
