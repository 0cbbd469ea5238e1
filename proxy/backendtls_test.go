package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy/dial"
	"github.com/heliosdb/heliosproxy/status"
)

// plainDial dials addr without TLS, as sslmode=disable does.
func plainDial(addr string) func(context.Context) (net.Conn, error) {
	var t dial.TLS
	return func(ctx context.Context) (net.Conn, error) { return t.Dial(ctx, addr) }
}

// tlsCluster starts a cluster that takes TCP connections over TLS only
// (pg_hba.conf hostssl, scram-sha-256), with a server certificate for
// "localhost" only, and a role app with password app-pw.
func tlsCluster(t *testing.T, name string) (*pgtest.Cluster, *pgtest.PKI) {
	t.Helper()
	pki := pgtest.NewPKI(t, []string{"localhost"}, "postgres")
	c := pgtest.New(t, pki.TLSOptions(pgtest.Options{Name: name, Auth: "scram-sha-256"}))
	if err := c.CreateUser(t.Context(), "app", "app-pw"); err != nil {
		t.Fatal(err)
	}
	return c, pki
}

// superuser connects to c as postgres over its unix socket.
func superuser(t *testing.T, ctx context.Context, c *pgtest.Cluster) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, "host="+c.SocketDir+" port="+strconv.Itoa(c.Port)+" user=postgres dbname=postgres sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// overTLS reports whether the session on conn reaches its backend over TLS.
func overTLS(t *testing.T, ctx context.Context, conn *pgx.Conn) bool {
	t.Helper()
	var ssl bool
	if err := conn.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
		t.Fatalf("pg_stat_ssl: %v", err)
	}
	return ssl
}

// waitHealthOverTLS waits until the backend has a health-check connection
// over TLS.
func waitHealthOverTLS(t *testing.T, ctx context.Context, su *pgx.Conn) {
	t.Helper()
	for {
		var n int
		err := su.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
			WHERE a.application_name = 'heliosproxy-health' AND s.ssl`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("no health-check connection over TLS")
		case <-time.After(20 * time.Millisecond): // polling the backend's view
		}
	}
}

// TestBackendTLSModes runs relayed sessions (pass-through SCRAM), pooled
// sessions and health checks to a TLS-only backend with each sslmode that
// can reach it, and checks on the backend that each connection uses TLS.
func TestBackendTLSModes(t *testing.T) {
	c, pki := tlsCluster(t, "tls-modes")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	su := superuser(t, ctx, c)
	for _, tc := range []struct {
		mode, rootcert, host string
	}{
		{"prefer", "", "127.0.0.1"},
		{"require", "", "127.0.0.1"},
		{"require", pki.CAFile, "127.0.0.1"}, // libpq's require with a root: the chain is checked
		{"verify-ca", pki.CAFile, "127.0.0.1"},
		{"verify-full", pki.CAFile, "localhost"},
	} {
		t.Run(tc.mode+"/"+strconv.FormatBool(tc.rootcert != ""), func(t *testing.T) {
			cfg := testConfig(t, c)
			cfg.Backends.Instances[0].Host = tc.host
			cfg.Backends.SSLMode, cfg.Backends.SSLRootCert = tc.mode, tc.rootcert
			cfg.Users = []config.User{{Name: "app-pooled", Password: "app-pw"}}
			if err := c.CreateUser(ctx, "app-pooled", "app-pw"); err != nil && !strings.Contains(err.Error(), "already exists") {
				t.Fatal(err)
			}
			p := startProxy(t, cfg)

			// pgx and psql without TLS to the proxy: pass-through SCRAM
			// works over the proxy's TLS to the backend.
			for _, user := range []string{"app", "app-pooled"} {
				conn, err := pgx.Connect(ctx, p.dsn(user, "app-pw"))
				if err != nil {
					t.Fatalf("%s through the proxy: %v", user, err)
				}
				if !overTLS(t, ctx, conn) {
					t.Errorf("%s: the proxy's connection to the backend is not TLS", user)
				}
				// Over TLS too, a pass-through session is on the loop (one
				// relay for both sockets), and so are a pooled session's
				// client and its server connection.
				want := map[string]int64{"app": 1, "app-pooled": 2}[user]
				if n := p.front.Loops().Relays(); n != want {
					t.Errorf("%s: %d sockets on the event loops, want %d", user, n, want)
				}
				conn.Close(ctx)
			}
			out, err := psql(t, c, p.dsn("app", "app-pw"), "app-pw", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
			if err != nil || out != "t" {
				t.Errorf("psql through the proxy: %q, %v; want t", out, err)
			}
			waitHealthOverTLS(t, ctx, su)
			if b := p.Snapshot().Backends[0]; b.CircuitState != status.Closed || b.FailuresTotal != 0 {
				t.Errorf("backend: %s with %d failures, want CLOSED with none", b.CircuitState, b.FailuresTotal)
			}
		})
	}
}

// TestBackendTLSPrefer checks that sslmode=prefer stays in plaintext with a
// server that does not offer TLS.
func TestBackendTLSPrefer(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "tls-prefer", Auth: "scram-sha-256"})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(t, c)
	cfg.Backends.SSLMode = "prefer"
	p := startProxy(t, cfg)
	conn, err := pgx.Connect(ctx, p.dsn("postgres", c.Password))
	if err != nil {
		t.Fatalf("session with sslmode=prefer to a server without TLS: %v", err)
	}
	defer conn.Close(ctx)
	if overTLS(t, ctx, conn) {
		t.Error("the proxy's connection to a server without TLS is TLS")
	}
}

// TestBackendTLSFailures checks that a TLS failure is a hard failure with
// a clear reason: sessions fail over to nothing (57P03 naming the TLS
// failure), and health checks open the circuit. That the dial itself says
// why is dial's TestDialFailures.
func TestBackendTLSFailures(t *testing.T) {
	c, pki := tlsCluster(t, "tls-fail")
	plain := pgtest.New(t, pgtest.Options{Name: "tls-plain", Auth: "scram-sha-256"})
	other := pgtest.NewPKI(t, []string{"localhost"}, "postgres")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name     string
		cluster  *pgtest.Cluster
		settings config.TLS
		host     string
		client   string // in the client's DETAIL
	}{
		{"verify-full, wrong host name", c, config.TLS{SSLMode: "verify-full", SSLRootCert: pki.CAFile}, "127.0.0.1",
			"the backend's certificate failed verification"},
		{"verify-ca, wrong CA", c, config.TLS{SSLMode: "verify-ca", SSLRootCert: other.CAFile}, "127.0.0.1",
			"the backend's certificate failed verification"},
		{"verify-full, wrong CA", c, config.TLS{SSLMode: "verify-full", SSLRootCert: other.CAFile}, "localhost",
			"the backend's certificate failed verification"},
		{"require, server without TLS", plain, config.TLS{SSLMode: "require"}, "127.0.0.1",
			"the backend does not offer TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tc.cluster)
			cfg.Backends.Instances[0].Host = tc.host
			cfg.Backends.Instances[0].SSLMode, cfg.Backends.Instances[0].SSLRootCert = tc.settings.SSLMode, tc.settings.SSLRootCert
			cfg.HealthChecks.Enabled = false
			p := startProxy(t, cfg)
			_, err := pgx.Connect(ctx, p.dsn("app", "app-pw"))
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "57P03" || !strings.Contains(pe.Detail, tc.client) {
				t.Errorf("session: %v (detail %q), want 57P03 with %q in DETAIL", err, detail(err), tc.client)
			}
			if b := p.Snapshot().Backends[0]; b.FailuresTotal == 0 {
				t.Error("the failed connection was not recorded as a failure")
			}

			// Health checks fail the same way, and open the circuit.
			cfg.HealthChecks.Enabled = true
			p = startProxy(t, cfg)
			events := p.Subscribe(ctx)
			waitEvent(t, ctx, events, isEvent(status.CircuitOpened, "pg-a"))
		})
	}
}

func detail(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Detail
	}
	return ""
}

// TestBackendTLSDisabled checks a TLS-only backend reached with
// sslmode=disable: PostgreSQL's own refusal (28000, "no encryption")
// reaches the client, and it is a configuration problem, not the
// backend's health: the circuit stays closed.
func TestBackendTLSDisabled(t *testing.T) {
	c, _ := tlsCluster(t, "tls-off")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(t, c)
	p := startProxy(t, cfg)
	for range 5 {
		_, err := pgx.Connect(ctx, p.dsn("app", "app-pw"))
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "28000" || !strings.Contains(pe.Message, "no encryption") {
			t.Fatalf("session: %v, want 28000 no pg_hba.conf entry … no encryption", err)
		}
	}
	if b := p.Snapshot().Backends[0]; b.CircuitState != status.Closed || b.FailuresTotal != 0 {
		t.Errorf("backend: %s with %d failures, want CLOSED with none", b.CircuitState, b.FailuresTotal)
	}
}

// TestChannelBindingThroughProxy checks pass-through SCRAM when both the
// client's connection to the proxy and the proxy's to the backend are
// TLS: the backend's SCRAM-SHA-256-PLUS is not offered to the client, so
// a client that prefers channel binding (psql's and pgx's default) sends
// the gs2 flag "y", which PostgreSQL refuses; the client sees that error
// with the proxy's hint, the circuit does not count it, and
// channel_binding=disable works.
func TestChannelBindingThroughProxy(t *testing.T) {
	c, pki := tlsCluster(t, "tls-cb")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(t, c)
	cfg.Backends.SSLMode, cfg.Backends.SSLRootCert = "verify-ca", pki.CAFile
	cfg.Proxy.TLSCertFile, cfg.Proxy.TLSKeyFile = selfSignedCert(t)
	p := startProxy(t, cfg)
	dsn := strings.Replace(p.dsn("app", "app-pw"), "sslmode=disable", "sslmode=require", 1)

	_, err := pgx.Connect(ctx, dsn)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "28000" || pe.Message != "SCRAM channel binding negotiation error" || pe.Hint != dial.BindingHint {
		t.Errorf("pgx with TLS to the proxy: %v, want 28000 SCRAM channel binding negotiation error with the proxy's hint", err)
	}
	out, err := psql(t, c, dsn, "app-pw", "SELECT 1")
	if err == nil || !strings.Contains(out, "SCRAM channel binding negotiation error") || !strings.Contains(out, "channel_binding=disable") {
		t.Errorf("psql with TLS to the proxy: %q, %v; want the negotiation error and the hint", out, err)
	}

	dsn += " channel_binding=disable"
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgx with channel_binding=disable: %v", err)
	}
	if !overTLS(t, ctx, conn) {
		t.Error("the proxy's connection to the backend is not TLS")
	}
	conn.Close(ctx)
	if out, err := psql(t, c, dsn, "app-pw", "SELECT 42"); err != nil || out != "42" {
		t.Errorf("psql with channel_binding=disable: %q, %v; want 42", out, err)
	}
	if b := p.Snapshot().Backends[0]; b.CircuitState != status.Closed || b.FailuresTotal != 0 {
		t.Errorf("backend: %s with %d failures, want CLOSED with none (the refusals were the clients')", b.CircuitState, b.FailuresTotal)
	}
}

// TestBackendClientCertificate checks the client certificate: a backend
// that authenticates postgres by certificate (pg_hba.conf "cert") lets the
// health checks in without a password, and the trust probe, over the same
// TLS, sees that it lets the proxy in as postgres.
func TestBackendClientCertificate(t *testing.T) {
	c, pki := tlsCluster(t, "tls-cert")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	setHBA(t, ctx, c, "hostssl all postgres 127.0.0.1/32 cert", "hostssl all all 127.0.0.1/32 scram-sha-256")
	cfg := testConfig(t, c)
	cfg.HealthChecks.Password = ""
	cfg.Backends.SSLMode, cfg.Backends.SSLRootCert = "verify-ca", pki.CAFile
	cfg.Backends.SSLCert, cfg.Backends.SSLKey = pki.ClientCert, pki.ClientKey
	p := startProxy(t, cfg)
	waitHealthOverTLS(t, ctx, superuser(t, ctx, c))
	events := p.Subscribe(ctx)
	if b := p.Snapshot().Backends[0]; !b.TrustsProxy {
		waitEvent(t, ctx, events, isEvent(status.BackendTrustsProxy, "pg-a"))
	}
	if b := p.Snapshot().Backends[0]; b.CircuitState != status.Closed || b.FailuresTotal != 0 || !strings.Contains(strings.Join(b.TrustedRoles, ","), "postgres") {
		t.Errorf("backend: %s with %d failures, trusted roles %q; want CLOSED, none, postgres", b.CircuitState, b.FailuresTotal, b.TrustedRoles)
	}
}

// TestBackendTLSReload checks that a reload's TLS settings apply to new
// connections, health checks included.
func TestBackendTLSReload(t *testing.T) {
	c, pki := tlsCluster(t, "tls-reload")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(t, c)
	path := filepath.Join(t.TempDir(), "heliosproxy.toml")
	writeConfig(t, path, cfg)
	p := startProxy(t, cfg)
	p.SetConfigSource(func() (config.Config, []config.Warning, error) { return config.Load(path) })
	if _, err := pgx.Connect(ctx, p.dsn("app", "app-pw")); pgCode(err) != "28000" {
		t.Fatalf("session with sslmode=disable: %v, want 28000", err)
	}
	cfg.Backends.SSLMode, cfg.Backends.SSLRootCert = "verify-ca", pki.CAFile
	writeConfig(t, path, cfg)
	res, err := p.Reload(ctx)
	if err != nil || !slices.Contains(res.Changed, "backends") {
		t.Fatalf("reload: %+v, %v; want backends changed", res, err)
	}
	conn, err := pgx.Connect(ctx, p.dsn("app", "app-pw"))
	if err != nil {
		t.Fatalf("session after the reload: %v", err)
	}
	defer conn.Close(ctx)
	if !overTLS(t, ctx, conn) {
		t.Error("the proxy's connection to the backend is not TLS after the reload")
	}
	waitHealthOverTLS(t, ctx, superuser(t, ctx, c))
}

// firstBytes is a TCP forwarder to upstream that records the first 8 bytes
// each connection sends (a startup packet's length and code).
type firstBytes struct {
	addr string
	mu   sync.Mutex
	seen [][8]byte
}

func newFirstBytes(t *testing.T, upstream string) *firstBytes {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &firstBytes{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.forward(c, upstream)
		}
	}()
	return f
}

func (f *firstBytes) forward(c net.Conn, upstream string) {
	defer c.Close()
	var head [8]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return
	}
	f.mu.Lock()
	f.seen = append(f.seen, head)
	f.mu.Unlock()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	if _, err := u.Write(head[:]); err != nil {
		return
	}
	go func() {
		_, _ = io.Copy(u, c)
		_ = u.(*net.TCPConn).CloseWrite()
	}()
	_, _ = io.Copy(c, u)
}

// codes returns how many connections began with each startup packet code.
func (f *firstBytes) codes() map[uint32]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := map[uint32]int{}
	for _, h := range f.seen {
		n[binary.BigEndian.Uint32(h[4:])]++
	}
	return n
}

// TestCancelRequestOverBackendTLS cancels the statement of a pass-through
// and of a pooled session whose backend the configuration reaches over
// TLS: the proxy's CancelRequest goes after an SSLRequest and the
// handshake, never in plaintext, and it cancels (57014).
func TestCancelRequestOverBackendTLS(t *testing.T) {
	const sslRequestCode, cancelRequestCode = 80877103, 80877102
	c, _ := tlsCluster(t, "tls-cancel")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	su := superuser(t, ctx, c)
	if err := c.CreateUser(ctx, "app-pooled", "app-pw"); err != nil {
		t.Fatal(err)
	}
	rec := newFirstBytes(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)))
	cfg := testConfig(t, c)
	_, port, _ := net.SplitHostPort(rec.addr)
	cfg.Backends.Instances[0].Port, _ = strconv.Atoi(port)
	cfg.Backends.SSLMode = "require"
	cfg.Users = []config.User{{Name: "app-pooled", Password: "app-pw"}}
	p := startProxy(t, cfg)
	for _, user := range []string{"app", "app-pooled"} {
		t.Run(user, func(t *testing.T) {
			conn, err := pgx.Connect(ctx, p.dsn(user, "app-pw"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			const stmt = "SELECT pg_sleep(30)"
			done := make(chan error, 1)
			go func() {
				_, err := conn.Exec(ctx, stmt)
				done <- err
			}()
			awaitActive(t, ctx, su, done, "usename = $1 AND query = $2", user, stmt)
			before := rec.codes()[sslRequestCode]
			if err := conn.PgConn().CancelRequest(ctx); err != nil {
				t.Fatalf("CancelRequest: %v", err)
			}
			if err := <-done; pgCode(err) != "57014" {
				t.Fatalf("cancelled statement: %v, want SQLSTATE 57014", err)
			}
			codes := rec.codes()
			if codes[cancelRequestCode] != 0 {
				t.Errorf("%d CancelRequests reached the backend in plaintext; sslmode is require", codes[cancelRequestCode])
			}
			if codes[sslRequestCode] == before {
				t.Error("no connection to the backend began with an SSLRequest for the cancel")
			}
		})
	}
}

// TestBackendCertificateReplacedOpensCircuit: the backend's certificate
// is replaced (pg_reload_conf) by one the proxy's sslmode=verify-full
// refuses (another CA, another host name), as a botched rotation does.
// The health check's connection, open since before, still works; new
// connections fail. One failed session is enough for the checks to try a
// new connection too: they fail with the TLS reason, and the circuit opens
// with no further traffic, rather than passing checks resetting the count
// of failed connects for as long as the checker's connection lives.
func TestBackendCertificateReplacedOpensCircuit(t *testing.T) {
	c, pki := tlsCluster(t, "tls-replaced")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := testConfig(t, c)
	cfg.Backends.Instances[0].Host = "localhost"
	cfg.Backends.SSLMode, cfg.Backends.SSLRootCert = "verify-full", pki.CAFile
	p := startProxy(t, cfg)
	su := superuser(t, ctx, c)
	waitHealthOverTLS(t, ctx, su)
	conn, err := pgx.Connect(ctx, p.dsn("app", "app-pw"))
	if err != nil {
		t.Fatalf("session before the certificate is replaced: %v", err)
	}
	conn.Close(ctx)

	other := pgtest.NewPKI(t, []string{"db.example.com"}, "postgres")
	for src, dst := range map[string]string{other.ServerCert: "server.crt", other.ServerKey: "server.key"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		// WriteFile keeps the file's owner, the server's user.
		if err := os.WriteFile(filepath.Join(c.DataDir, dst), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := su.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	events := p.Subscribe(ctx)
	// Once the server has the new certificate, a session fails on it.
	for {
		_, err := pgx.Connect(ctx, p.dsn("app", "app-pw"))
		if err != nil {
			if d := detail(err); !strings.Contains(d, "the backend's certificate failed verification") {
				t.Fatalf("session after the certificate was replaced: %v (detail %q), want the TLS failure in DETAIL", err, d)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the server never presented its new certificate")
		case <-time.After(20 * time.Millisecond): // the server reloading
		}
	}
	ev := waitEvent(t, ctx, events, isEvent(status.CircuitOpened, "pg-a"))
	if !strings.Contains(ev.Detail, "health check failed") {
		t.Errorf("circuit opened with %q, want the health checks failing", ev.Detail)
	}
}

// TestBackendTLSReloadVerifiesRotatedFiles: the CA file is replaced on
// disk (a rotation) by one that does not sign the backend's certificate,
// and the proxy is reloaded. The health check verifies the backend with
// the new file at once, rather than on the connection it opened before,
// so that the failed rotation shows (an Error log, the circuit opening)
// with no client traffic, not at the next new session.
func TestBackendTLSReloadVerifiesRotatedFiles(t *testing.T) {
	c, pki := tlsCluster(t, "tls-rotate")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	caFile := filepath.Join(t.TempDir(), "backend-ca.crt")
	copyFile := func(src string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(caFile, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(pki.CAFile)
	cfg := testConfig(t, c)
	cfg.Backends.Instances[0].Host = "localhost"
	cfg.Backends.SSLMode, cfg.Backends.SSLRootCert = "verify-full", caFile
	path := filepath.Join(t.TempDir(), "heliosproxy.toml")
	writeConfig(t, path, cfg)
	p := startProxy(t, cfg)
	p.SetConfigSource(func() (config.Config, []config.Warning, error) { return config.Load(path) })
	waitHealthOverTLS(t, ctx, superuser(t, ctx, c))
	events := p.Subscribe(ctx)

	copyFile(pgtest.NewPKI(t, []string{"localhost"}, "postgres").CAFile)
	if _, err := p.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, ctx, events, isEvent(status.CircuitOpened, "pg-a"))
	if !strings.Contains(ev.Detail, "health check failed") {
		t.Errorf("circuit opened with %q, want the health checks failing", ev.Detail)
	}
}
