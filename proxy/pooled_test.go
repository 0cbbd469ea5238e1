package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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

// pooledSetup starts n SCRAM clusters with the role app (password
// app-secret) and a proxy that pools app's connections in mode.
func pooledSetup(t *testing.T, n int, mode string, edit func(*config.Config)) ([]*pgtest.Cluster, *runningProxy) {
	t.Helper()
	clusters, cfg := pooledConfig(t, n, mode, edit)
	return clusters, startProxy(t, cfg)
}

// pooledConfig is pooledSetup's clusters and configuration, for a test
// that starts the proxy itself.
func pooledConfig(t *testing.T, n int, mode string, edit func(*config.Config)) ([]*pgtest.Cluster, config.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var clusters []*pgtest.Cluster
	for i := range n {
		c := pgtest.New(t, pgtest.Options{Name: fmt.Sprintf("pooled-%d", i), Auth: "scram-sha-256", Password: "pg-secret"})
		if err := c.CreateUser(ctx, "app", "app-secret"); err != nil {
			t.Fatal(err)
		}
		if err := c.Exec(ctx, "GRANT ALL ON SCHEMA public TO app"); err != nil {
			t.Fatal(err)
		}
		clusters = append(clusters, c)
	}
	cfg := testConfig(t, clusters...)
	cfg.Pool.Mode = mode
	cfg.Users = []config.User{{Name: "app", Password: "app-secret"}}
	if edit != nil {
		edit(&cfg)
	}
	return clusters, cfg
}

// backendPort returns the port of the backend that runs conn's next
// statement.
func backendPort(t *testing.T, ctx context.Context, conn *pgx.Conn) int {
	t.Helper()
	var port int
	if err := conn.QueryRow(ctx, "select inet_server_port()").Scan(&port); err != nil {
		t.Fatalf("inet_server_port: %v", err)
	}
	return port
}

// forceOpen forces the circuit of the backend named name open and waits
// for its CircuitOpened event.
func forceOpen(t *testing.T, ctx context.Context, p *runningProxy, name string) {
	t.Helper()
	sub, cancel := context.WithCancel(ctx)
	defer cancel()
	events := p.Subscribe(sub)
	if err := p.SetOverride(ctx, status.Override{Backend: name, State: status.Open, Reason: "test", Author: "test"}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, events, isEvent(status.CircuitOpened, name))
}

// holdConnection begins a transaction on conn and runs a statement in
// it: in transaction mode it holds its server connection until it ends.
func holdConnection(t *testing.T, ctx context.Context, conn *pgx.Conn) pgx.Tx {
	t.Helper()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	return tx
}

// appConn connects as the pooled role app; the connection is closed when
// the test ends.
func appConn(t *testing.T, ctx context.Context, p *runningProxy) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, p.dsn("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// isolateInTransaction begins a transaction on conn and forces the circuit
// of the backend it runs on open; it returns the transaction and that
// backend's port.
func isolateInTransaction(t *testing.T, ctx context.Context, p *runningProxy, conn *pgx.Conn) (pgx.Tx, int) {
	t.Helper()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	port := backendPort(t, ctx, tx.Conn())
	forceOpen(t, ctx, p, backendOn(t, p, port))
	return tx, port
}

// backendOn returns the name of the backend listening on port.
func backendOn(t *testing.T, p *runningProxy, port int) string {
	t.Helper()
	for _, b := range p.Snapshot().Backends {
		if b.Port == port {
			return b.Name
		}
	}
	t.Fatalf("no backend on port %d", port)
	return ""
}

// serverConnections counts app's connections on c.
func serverConnections(t *testing.T, ctx context.Context, c *pgtest.Cluster) int {
	t.Helper()
	conn, err := pgx.Connect(ctx, c.DSN("postgres", c.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "select count(*) from pg_stat_activity where usename = 'app'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPooledAuthentication(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clusters, p := pooledSetup(t, 1, "transaction", func(cfg *config.Config) {})
	c := clusters[0]
	for _, role := range []string{"app_md5", "app_verifier", "other"} {
		if err := c.CreateUser(ctx, role, role+"-secret"); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := pgx.Connect(ctx, c.DSN("postgres", c.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var verifier string
	if err := admin.QueryRow(ctx, "select rolpassword from pg_authid where rolname = 'app_verifier'").Scan(&verifier); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	// A second proxy knows the three roles: plain SCRAM, md5, and a verifier
	// copied from the backend (no plain password in the file).
	cfg := *p.config()
	cfg.Users = []config.User{
		{Name: "app", Password: "app-secret"},
		{Name: "app_md5", Password: "app_md5-secret", AuthMethod: "md5"},
		{Name: "app_verifier", Password: verifier},
	}
	p = startProxy(t, cfg)

	cases := []struct{ user, password string }{
		{"app", "app-secret"}, {"app_md5", "app_md5-secret"}, {"app_verifier", "app_verifier-secret"},
		{"other", "other-secret"}, // not in [[users]]: pass-through in session mode
	}
	for _, tc := range cases {
		t.Run(tc.user, func(t *testing.T) {
			conn, err := pgx.Connect(ctx, p.dsn(tc.user, tc.password))
			if err != nil {
				t.Fatalf("pgx: %v", err)
			}
			var user string
			if err := conn.QueryRow(ctx, "select current_user").Scan(&user); err != nil || user != tc.user {
				t.Fatalf("current_user = %q, %v; want %q", user, err, tc.user)
			}
			conn.Close(ctx)
			out, err := psql(t, c, p.dsn(tc.user, tc.password), tc.password, "select current_user")
			if err != nil || out != tc.user {
				t.Fatalf("psql: %q, %v; want %q", out, err, tc.user)
			}
			// A wrong password: PostgreSQL's SQLSTATE and message, for a
			// listed role as for a role the backend checks itself.
			_, err = pgx.Connect(ctx, p.dsn(tc.user, "wrong"))
			want := fmt.Sprintf("password authentication failed for user %q", tc.user)
			if pgCode(err) != "28P01" || !strings.Contains(err.Error(), want) {
				t.Fatalf("pgx with a wrong password: %v; want 28P01 %s", err, want)
			}
			out, err = psql(t, c, p.dsn(tc.user, "wrong"), "wrong", "select 1")
			if err == nil || !strings.Contains(out, want) {
				t.Fatalf("psql with a wrong password: %q, %v; want %s", out, err, want)
			}
		})
	}
}

func TestTransactionModeSharesConnections(t *testing.T) {
	clusters, p := pooledSetup(t, 2, "transaction", func(cfg *config.Config) { cfg.Pool.DefaultPoolSize = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const clients, txs = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			conn, err := pgx.Connect(ctx, p.dsn("app", "app-secret")+fmt.Sprintf(" application_name=client-%d", i))
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, fmt.Sprintf("set timezone = 'Etc/GMT-%d'", i%12)); err != nil {
				errs <- err
				return
			}
			for n := range txs {
				tx, err := conn.Begin(ctx)
				if err != nil {
					errs <- err
					return
				}
				var app, tz string
				var sum int
				if err := tx.QueryRow(ctx, "select current_setting('application_name'), current_setting('TimeZone'), $1::int + $2::int", i, n).Scan(&app, &tz, &sum); err != nil {
					errs <- err
					return
				}
				if app != fmt.Sprintf("client-%d", i) || tz != fmt.Sprintf("Etc/GMT-%d", i%12) || sum != i+n {
					errs <- fmt.Errorf("client %d tx %d: application_name %q, TimeZone %q, sum %d", i, n, app, tz, sum)
					return
				}
				if err := tx.Commit(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// 16 clients shared at most 2 server connections per backend.
	for _, c := range clusters {
		if n := serverConnections(t, ctx, c); n > 2 {
			t.Errorf("%s has %d connections of app; pool size is 2", c.Name, n)
		}
	}
}

// TestTransactionModeCarriesParameters shares one server connection
// between sessions that want different parameters, one of which the
// server does not report (statement_timeout): each transaction sees its
// session's own, also after RESET or DISCARD ALL reset the connection's —
// which, as in PostgreSQL, brings back the value of the session's startup.
func TestTransactionModeCarriesParameters(t *testing.T) {
	_, p := pooledSetup(t, 1, "transaction", func(cfg *config.Config) { cfg.Pool.DefaultPoolSize = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	connect := func(extra string) *pgx.Conn {
		conn, err := pgx.Connect(ctx, p.dsn("app", "app-secret")+" default_query_exec_mode=simple_protocol"+extra)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	a := connect(" statement_timeout=1234 application_name=a")
	b := connect(" application_name=b")
	// check: wantApp "" is not checked.
	check := func(step string, conn *pgx.Conn, wantTimeout, wantApp string) {
		t.Helper()
		var timeout, app string
		if err := conn.QueryRow(ctx, "select current_setting('statement_timeout'), current_setting('application_name')").Scan(&timeout, &app); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if timeout != wantTimeout || wantApp != "" && app != wantApp {
			t.Fatalf("%s: statement_timeout %q, application_name %q; want %q, %q", step, timeout, app, wantTimeout, wantApp)
		}
	}
	for i := range 3 {
		check(fmt.Sprintf("round %d, a", i), a, "1234ms", "a")
		check(fmt.Sprintf("round %d, b", i), b, "0", "b")
	}
	exec := func(conn *pgx.Conn, sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(a, "set application_name = 'a2'")
	check("a after SET", a, "1234ms", "a2")
	check("b after a's SET", b, "0", "b")
	check("a again", a, "1234ms", "a2")
	exec(a, "RESET statement_timeout")
	check("a after RESET statement_timeout", a, "1234ms", "a2")
	check("b after a's RESET statement_timeout", b, "0", "b")
	// application_name is not checked after these: the proxy takes the
	// values the server reports then (its defaults), where PostgreSQL
	// would go back to the startup's ("a").
	for _, reset := range []string{"RESET ALL", "DISCARD ALL"} {
		exec(a, reset)
		check("a after "+reset, a, "1234ms", "")
		check("b after a's "+reset, b, "0", "b")
	}
}

func TestPreparedStatementsAcrossBackendSwitches(t *testing.T) {
	clusters, p := pooledSetup(t, 2, "transaction", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.dsn("app", "app-secret")) // default mode: cached prepared statements
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	names := []string{"pg-a", "pg-b"}
	ports := map[int]int{}
	for i := range 300 {
		if i%50 == 25 {
			// Force one backend open and the other closed: the next
			// transactions run on the other one.
			open, closed := names[(i/50)%2], names[1-(i/50)%2]
			if err := p.ClearOverride(ctx, closed, "test"); err != nil {
				t.Fatal(err)
			}
			forceOpen(t, ctx, p, open)
		}
		var got int
		var port int
		if err := conn.QueryRow(ctx, "select $1::int * 2, inet_server_port()", i).Scan(&got, &port); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		if got != 2*i {
			t.Fatalf("query %d returned %d", i, got)
		}
		ports[port]++
		var s string
		if err := conn.QueryRow(ctx, "select $1::text || 'x'", fmt.Sprint(i)).Scan(&s); err != nil || s != fmt.Sprint(i)+"x" {
			t.Fatalf("second statement %d: %q, %v", i, s, err)
		}
	}
	for _, c := range clusters {
		if ports[c.Port] == 0 {
			t.Errorf("no transaction ran on %s: %v", c.Name, ports)
		}
	}
	t.Logf("transactions per backend port: %v", ports)
}

func TestSessionMigratesWhenItsBackendIsIsolated(t *testing.T) {
	_, p := pooledSetup(t, 2, "session", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Like psql: the simple protocol, session state set with SET.
	cfg, err := pgconn.ParseConfig(p.dsn("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	query := func(sql string) []string {
		t.Helper()
		res, err := pc.Exec(ctx, sql).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		var out []string
		for _, r := range res {
			for _, row := range r.Rows {
				for _, v := range row {
					out = append(out, string(v))
				}
			}
		}
		return out
	}
	query("set application_name = 'migrating'")
	query("prepare twice(int) as select $1 * 2") // SQL-level: not carried (documented)
	_, err = pc.Prepare(ctx, "triple", "select $1::int * 3", nil)
	if err != nil {
		t.Fatal(err)
	}
	before := query("select inet_server_port()")[0]
	port, err := strconv.Atoi(before)
	if err != nil {
		t.Fatal(err)
	}
	forceOpen(t, ctx, p, backendOn(t, p, port))
	got := query("select inet_server_port(), current_setting('application_name'), 6 * 7")
	if got[0] == before || got[1] != "migrating" || got[2] != "42" {
		t.Fatalf("after migration: %v; want another port than %s, application_name migrating, 42", got, before)
	}
	// The protocol-level prepared statement follows the session.
	rr := pc.ExecPrepared(ctx, "triple", [][]byte{[]byte("5")}, nil, nil).Read()
	if rr.Err != nil || len(rr.Rows) != 1 || string(rr.Rows[0][0]) != "15" {
		t.Fatalf("prepared statement after migration: %v %v", rr.Rows, rr.Err)
	}
}

func TestSessionInTransactionFailsWhenIsolated(t *testing.T) {
	_, p := pooledSetup(t, 2, "session", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := appConn(t, ctx, p)
	tx, port := isolateInTransaction(t, ctx, p, conn)
	_, err := tx.Exec(ctx, "select 1")
	if pgCode(err) != "08006" || !strings.Contains(err.Error(), "isolated") {
		t.Fatalf("statement in a transaction on an isolated backend: %v; want 08006", err)
	}
	_ = tx.Rollback(ctx)
	if got := backendPort(t, ctx, conn); got == port {
		t.Fatalf("next transaction ran on the isolated backend (port %d)", got)
	}
}

func TestQueryWaitTimeout(t *testing.T) {
	_, p := pooledSetup(t, 1, "transaction", func(cfg *config.Config) {
		cfg.Pool.DefaultPoolSize = 1
		cfg.Pool.QueryWaitTimeout = config.Duration{Duration: time.Second}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	holder, err := pgx.Connect(ctx, p.dsn("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	tx := holdConnection(t, ctx, holder)
	// A second client logs in (the pool knows its settings from the
	// first login) and needs the only connection for its statement: it
	// queues, the queue shows in the status, and it is shed after
	// query_wait_timeout.
	waited := make(chan error, 1)
	go func() {
		conn, err := pgx.Connect(ctx, p.dsn("app", "app-secret"))
		if err != nil {
			waited <- err
			return
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "select 1")
		waited <- err
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for p.Snapshot().Backends[0].QueueDepth != 1 {
		select {
		case <-tick.C:
		case err := <-waited:
			t.Fatalf("waiting client ended before its wait showed as queue_depth 1: %v", err)
		}
	}
	err = <-waited
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "53300" || !strings.Contains(pe.Hint, "default_pool_size") {
		t.Fatalf("client waiting for the only connection: %v; want 53300 with a hint", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Once the connection is free, the next client gets it.
	again, err := pgx.Connect(ctx, p.dsn("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close(ctx)
	if _, err := again.Exec(ctx, "select 1"); err != nil {
		t.Fatal(err)
	}
}

// TestShedRequestsCountAsOverload: a request the proxy refuses with 53300
// for its backend's overload (no pooled connection became free within
// query_wait_timeout, or the backend's admission limit) is the backend's
// overload (DESIGN: pool-acquire timeouts), reported to the OnQuery hook
// that feeds helios_query_duration_seconds{outcome="overload"}. Before,
// nothing counted it there: a pool refusing every client with 53300 left
// the HeliosLoadShedding alert and the dashboard's "Shed for overload" at 0.
func TestShedRequestsCountAsOverload(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*config.Config)
	}{
		{"no pooled connection within query_wait_timeout", func(cfg *config.Config) {
			cfg.Pool.DefaultPoolSize = 1
			cfg.Pool.QueryWaitTimeout = config.Duration{Duration: 200 * time.Millisecond}
		}},
		{"admission limit", func(cfg *config.Config) {
			cfg.Backends.LoadSheddingEnabled = true
			cfg.Backends.LoadSheddingMinLimit, cfg.Backends.LoadSheddingMaxLimit = 1, 1
			cfg.Backends.LoadSheddingQueueTimeout = config.Duration{}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, cfg := pooledConfig(t, 1, "transaction", tt.edit)
			srv, err := New(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			outcomes := map[string]int{}
			srv.OnQuery(func(backend string, _ time.Duration, o breaker.Outcome) {
				mu.Lock()
				defer mu.Unlock()
				outcomes[backend+" "+o.String()]++
			})
			p := &runningProxy{Server: srv, Addr: runServer(t, srv, cfg.Proxy.ListenAddress)}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			tx := holdConnection(t, ctx, appConn(t, ctx, p))
			defer func() { _ = tx.Rollback(ctx) }()
			conn := appConn(t, ctx, p)
			for range 3 {
				if _, err := conn.Exec(ctx, "select 1"); pgCode(err) != "53300" {
					t.Fatalf("statement while the only connection or admission is held: %v; want 53300", err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if got := outcomes["pg-a overload"]; got != 3 {
				t.Errorf("OnQuery outcomes %v: %d overloads of pg-a, want the 3 statements shed", outcomes, got)
			}
		})
	}
}

// TestTransactionModePgbench runs pgbench's clients through transaction
// mode concurrently in the three query modes, 8 clients on a pool of 4;
// -M prepared re-prepares each client's named statements on whichever
// server connection it lands on.
func TestTransactionModePgbench(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "pgbench-tx"})
	cfg := testConfig(t, c)
	cfg.Pool.Mode = "transaction"
	cfg.Pool.DefaultPoolSize = 4
	cfg.Users = []config.User{{Name: c.User, AuthMethod: "trust"}}
	p := startProxy(t, cfg)
	_, port, _ := net.SplitHostPort(p.Addr)
	pgbench := filepath.Join(c.BinDir, "pgbench")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(pgbench, append(args, "-h", "127.0.0.1", "-p", port, "-U", c.User, "postgres")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("pgbench %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("-i", "-s", "1", "-q")
	for _, mode := range []string{"simple", "extended", "prepared"} {
		for _, script := range [][]string{{"-S"}, {}} {
			// A thread per client: pgbench prepares synchronously, so a
			// thread waiting for a pooled connection would stall the other
			// clients of its thread, which hold the connections.
			out := run(append([]string{"-n", "-M", mode, "-c", "8", "-j", "8", "-T", "2"}, script...)...)
			m := regexp.MustCompile(`number of transactions actually processed: (\d+)`).FindStringSubmatch(out)
			if m == nil || m[1] == "0" || !strings.Contains(out, "number of failed transactions: 0 ") {
				t.Fatalf("pgbench -M %s %v through transaction mode:\n%s", mode, script, out)
			}
			t.Logf("-M %s %v: %s transactions", mode, script, m[1])
		}
	}
	// 8 clients shared at most 4 server connections.
	conn, err := pgx.Connect(context.Background(), c.DSN(c.User, c.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "select count(*) from pg_stat_activity where backend_type = 'client backend' and application_name <> 'heliosproxy-health' and pid <> pg_backend_pid()").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 4 {
		t.Errorf("%d server connections for 8 clients; pool size is 4", n)
	}
}

func TestMaxClientConn(t *testing.T) {
	_, p := pooledSetup(t, 1, "transaction", func(cfg *config.Config) { cfg.Pool.MaxClientConn = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 2 {
		conn, err := pgx.Connect(ctx, p.dsn("app", "app-secret"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
	}
	_, err := pgx.Connect(ctx, p.dsn("app", "app-secret"))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "53300" || !strings.Contains(pe.Detail, "max_client_conn") {
		t.Fatalf("third client with max_client_conn = 2: %v; want 53300 naming pool.max_client_conn", err)
	}
	// The status database stays reachable.
	host, port, _ := net.SplitHostPort(p.Addr)
	st, err := pgx.Connect(ctx, "host="+host+" port="+port+" user=app dbname=helios_proxy sslmode=disable")
	if err != nil {
		t.Fatalf("status database with max_client_conn reached: %v", err)
	}
	st.Close(ctx)
}

// TestTransactionModeCopy runs COPY in both directions through transaction
// mode; the connection goes back to the pool after each, so a pool of one
// serves the next client.
func TestTransactionModeCopy(t *testing.T) {
	_, p := pooledSetup(t, 1, "transaction", func(cfg *config.Config) {
		cfg.Pool.DefaultPoolSize = 1
		cfg.Pool.QueryWaitTimeout = config.Duration{Duration: 5 * time.Second}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := appConn(t, ctx, p)
	if _, err := conn.Exec(ctx, "create table copied (n int, s text)"); err != nil {
		t.Fatal(err)
	}
	rows := [][]any{{1, "one"}, {2, "two"}, {3, "three"}}
	n, err := conn.CopyFrom(ctx, pgx.Identifier{"copied"}, []string{"n", "s"}, pgx.CopyFromRows(rows))
	if err != nil || n != 3 {
		t.Fatalf("COPY FROM: %d rows, %v", n, err)
	}
	// The only server connection is free again for another client.
	other, err := pgx.Connect(ctx, p.dsn("app", "app-secret"))
	if err != nil {
		t.Fatalf("another client after COPY FROM: %v", err)
	}
	defer other.Close(ctx)
	var out strings.Builder
	if _, err := other.PgConn().CopyTo(ctx, &out, "copy copied to stdout"); err != nil {
		t.Fatal(err)
	}
	if out.String() != "1\tone\n2\ttwo\n3\tthree\n" {
		t.Fatalf("COPY TO returned %q", out.String())
	}
	var count int
	if err := conn.QueryRow(ctx, "select count(*) from copied").Scan(&count); err != nil || count != 3 {
		t.Fatalf("first client after COPY TO: %d rows, %v", count, err)
	}
}

// TestTransactionModeSpreadsAtLightLoad: one client's transactions, one at
// a time, spread over equal backends although nothing is ever attached
// when the router chooses.
func TestTransactionModeSpreadsAtLightLoad(t *testing.T) {
	clusters, p := pooledSetup(t, 3, "transaction", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := appConn(t, ctx, p)
	ports := map[int]int{}
	const n = 600
	for range n {
		ports[backendPort(t, ctx, conn)]++
	}
	for _, c := range clusters {
		if share := float64(ports[c.Port]) / n; share < 0.2 {
			t.Errorf("%s ran %.0f%% of the transactions; want about a third each: %v", c.Name, 100*share, ports)
		}
	}
}

// TestTransactionModeIsolationLetsTransactionsFinish: in transaction mode
// a transaction under way when its backend is isolated finishes there; the
// next one runs elsewhere. With every backend isolated, a client cleaning
// up with ROLLBACK or COMMIT outside a transaction still gets PostgreSQL's
// answer, not an error.
func TestTransactionModeIsolationLetsTransactionsFinish(t *testing.T) {
	_, p := pooledSetup(t, 2, "transaction", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var notices []string
	cfg, err := pgx.ParseConfig(p.dsn("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		notices = append(notices, n.Severity+" "+n.Code+" "+n.Message)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, port := isolateInTransaction(t, ctx, p, conn)
	if got := backendPort(t, ctx, tx.Conn()); got != port {
		t.Fatalf("the transaction moved from port %d to %d", port, got)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit on the isolated backend: %v", err)
	}
	if got := backendPort(t, ctx, conn); got == port {
		t.Fatalf("the next transaction ran on the isolated backend (port %d)", got)
	}
	for _, b := range p.Snapshot().Backends {
		if b.Port != port {
			forceOpen(t, ctx, p, b.Name)
		}
	}
	for _, sql := range []string{"rollback", "commit"} {
		res, err := conn.PgConn().Exec(ctx, sql).ReadAll()
		if err != nil || len(res) != 1 || res[0].CommandTag.String() != strings.ToUpper(sql) {
			t.Fatalf("%s outside a transaction with every backend isolated: %v %v", sql, res, err)
		}
	}
	want := "WARNING 25P01 there is no transaction in progress"
	if len(notices) != 2 || notices[0] != want || notices[1] != want {
		t.Fatalf("notices %q; want %q twice, as PostgreSQL gives", notices, want)
	}
	if _, err := conn.Exec(ctx, "select 1"); pgCode(err) != "57P03" {
		t.Fatalf("a statement with every backend isolated: %v; want 57P03", err)
	}
}

// TestSessionLoginReusesAcceptedParameters: a session-mode login whose
// startup parameters its pooled connection took before goes on without
// awaiting their SETs, and is told the values the server reported for
// them; should one fail after all (its object dropped since), the session
// still starts with the others made, and the next login awaits that value
// again and is refused, as PostgreSQL refuses it.
func TestSessionLoginReusesAcceptedParameters(t *testing.T) {
	clusters, p := pooledSetup(t, 1, "session", func(cfg *config.Config) { cfg.Pool.DefaultPoolSize = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := clusters[0].Exec(ctx, "CREATE TEXT SEARCH CONFIGURATION public.helios_ts (COPY = english)"); err != nil {
		t.Fatal(err)
	}
	// DateStyle and TimeZone come back normalized: "ISO, MDY", "UTC".
	dsn := p.dsn("app", "app-secret") + " application_name=first DateStyle=iso TimeZone=utc default_text_search_config=public.helios_ts"
	type login struct {
		pid                      int
		app, dateStyle, tz, tsCf string // current_setting
		reported                 [3]string
	}
	connect := func(step string) login {
		t.Helper()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		defer conn.Close(context.Background())
		var l login
		pc := conn.PgConn()
		l.reported = [3]string{pc.ParameterStatus("application_name"), pc.ParameterStatus("DateStyle"), pc.ParameterStatus("TimeZone")}
		if err := conn.QueryRow(ctx, "select pg_backend_pid(), current_setting('application_name'), current_setting('DateStyle'), current_setting('TimeZone'), current_setting('default_text_search_config')").
			Scan(&l.pid, &l.app, &l.dateStyle, &l.tz, &l.tsCf); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if want := [3]string{"first", "ISO, MDY", "UTC"}; l.reported != want {
			t.Errorf("%s: reported application_name, DateStyle, TimeZone %q, want %q", step, l.reported, want)
		}
		if l.app != "first" || l.dateStyle != "ISO, MDY" || l.tz != "UTC" {
			t.Errorf("%s: application_name %q, DateStyle %q, TimeZone %q; want first, ISO, MDY, UTC", step, l.app, l.dateStyle, l.tz)
		}
		return l
	}
	first := connect("first login")
	again := connect("second login") // its connection took these before
	if again.pid != first.pid {
		t.Fatalf("second login on server process %d, want the pooled %d", again.pid, first.pid)
	}
	for _, l := range []login{first, again} {
		if l.tsCf != "public.helios_ts" {
			t.Errorf("default_text_search_config %q, want public.helios_ts", l.tsCf)
		}
	}

	if err := clusters[0].Exec(ctx, "DROP TEXT SEARCH CONFIGURATION public.helios_ts"); err != nil {
		t.Fatal(err)
	}
	after := connect("login after the drop") // the others are still made
	if after.pid != first.pid {
		t.Fatalf("login after the drop on server process %d, want the pooled %d", after.pid, first.pid)
	}
	if after.tsCf == "public.helios_ts" {
		t.Errorf("default_text_search_config %q after its configuration was dropped", after.tsCf)
	}
	_, err := pgx.Connect(ctx, dsn)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "22023" || !strings.Contains(pgErr.Message, "default_text_search_config") {
		t.Fatalf("next login with the dropped text search configuration: %v; want 22023 naming default_text_search_config", err)
	}
}
