package proxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/status"
)

// psql runs psql against the proxy and returns its trimmed output.
func psql(t *testing.T, c *pgtest.Cluster, dsn, password, sql string) (string, error) {
	t.Helper()
	bin := filepath.Join(c.BinDir, "psql")
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("psql"); err != nil {
			t.Fatalf("psql not found: %v", err)
		}
	}
	cmd := exec.Command(bin, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestAuthPassThrough(t *testing.T) {
	for _, auth := range []string{"trust", "md5", "scram-sha-256"} {
		t.Run(auth, func(t *testing.T) {
			c := pgtest.New(t, pgtest.Options{Name: "auth-" + auth, Auth: auth})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.CreateUser(ctx, "app", "app-secret"); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(t, c)
			// Only the clients' own traffic may feed the breaker here.
			cfg.HealthChecks.Enabled = false
			p := startProxy(t, cfg)

			conn, err := pgx.Connect(ctx, p.dsn("app", "app-secret"))
			if err != nil {
				t.Fatalf("pgx through the proxy: %v", err)
			}
			var user string
			var port int
			if err := conn.QueryRow(ctx, "SELECT current_user::text, inet_server_port()").Scan(&user, &port); err != nil {
				t.Fatal(err)
			}
			conn.Close(ctx)
			if user != "app" || port != c.Port {
				t.Errorf("current_user, inet_server_port() = %q, %d; want \"app\", %d", user, port, c.Port)
			}

			out, err := psql(t, c, p.dsn("app", "app-secret"), "app-secret", "SELECT current_user")
			if err != nil || out != "app" {
				t.Errorf("psql through the proxy = %q, %v; want \"app\"", out, err)
			}

			_, err = pgx.Connect(ctx, p.dsn("app", "wrong"))
			if auth == "trust" {
				if err != nil {
					t.Errorf("trust with any password: %v", err)
				}
			} else if pgCode(err) != "28P01" {
				t.Errorf("wrong password: err = %v, want SQLSTATE 28P01", err)
			}
			// A client's wrong password says nothing about the backend's health.
			if b := p.Snapshot().Backends[0]; b.CircuitState != status.Closed || b.FailuresTotal != 0 {
				t.Errorf("after a wrong password: state %s, failures %d; want CLOSED, 0", b.CircuitState, b.FailuresTotal)
			}
		})
	}
}

func TestCancelRequestThroughProxy(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "cancel"})
	cfg := testConfig(t, c)
	cfg.HealthChecks.Enabled = false // only the session's traffic feeds the breaker
	p := startProxy(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.dsn("postgres", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	direct, err := pgx.Connect(ctx, c.DSN("postgres", c.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)

	queryErr := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "SELECT pg_sleep(10)")
		queryErr <- err
	}()
	// Wait until the backend runs the statement, then cancel it through the proxy.
	awaitActive(t, ctx, direct, queryErr, "query = 'SELECT pg_sleep(10)'")
	if err := conn.PgConn().CancelRequest(ctx); err != nil {
		t.Fatalf("CancelRequest: %v", err)
	}
	if err := <-queryErr; pgCode(err) != "57014" {
		t.Fatalf("cancelled query: err = %v, want SQLSTATE 57014", err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("session after cancel: %d, %v", one, err)
	}
	// A client's own cancel is not a backend failure.
	if b := p.Snapshot().Backends[0]; b.FailuresTotal != 0 {
		t.Errorf("failures_total after a client cancel = %d, want 0", b.FailuresTotal)
	}
}

// selfSignedCert writes a certificate and key for 127.0.0.1 and returns
// their paths.
func selfSignedCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	return writeSelfSigned(t, t.TempDir(), "heliosproxy-test")
}

// writeSelfSigned writes a certificate for 127.0.0.1 with common name cn
// and its key to cert.pem and key.pem in dir (replacing them), and
// returns their paths.
func writeSelfSigned(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLSFromClient(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "tls", Auth: "scram-sha-256"})
	cfg := testConfig(t, c)
	cfg.Proxy.TLSCertFile, cfg.Proxy.TLSKeyFile = selfSignedCert(t)
	p := startProxy(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	dsn := strings.Replace(p.dsn("postgres", c.Password), "sslmode=disable", "sslmode=require", 1)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgx with sslmode=require: %v", err)
	}
	defer conn.Close(ctx)
	if _, ok := conn.PgConn().Conn().(*tls.Conn); !ok {
		t.Errorf("client connection is %T, want *tls.Conn", conn.PgConn().Conn())
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("query over TLS: %d, %v", one, err)
	}
	out, err := psql(t, c, dsn, c.Password, "SELECT 42")
	if err != nil || out != "42" {
		t.Errorf("psql with sslmode=require = %q, %v; want 42", out, err)
	}

	// Without a certificate the proxy declines TLS: require fails, prefer works.
	plain := startProxy(t, testConfig(t, c))
	if _, err := pgx.Connect(ctx, strings.Replace(plain.dsn("postgres", c.Password), "sslmode=disable", "sslmode=require", 1)); err == nil {
		t.Error("sslmode=require against a proxy without TLS: connected, want an error")
	}
	pc, err := pgx.Connect(ctx, strings.Replace(plain.dsn("postgres", c.Password), "sslmode=disable", "sslmode=prefer", 1))
	if err != nil {
		t.Fatalf("sslmode=prefer against a proxy without TLS: %v", err)
	}
	pc.Close(ctx)
}

// loadGen runs clients that query the proxy in a loop, reconnecting after
// errors, and counts the sessions that land on each backend port.
type loadGen struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	ports  map[int]int // queries answered per backend port
	errs   atomic.Int64
}

func startLoad(t *testing.T, dsn string, clients int) *loadGen {
	ctx, cancel := context.WithCancel(context.Background())
	l := &loadGen{cancel: cancel, ports: make(map[int]int)}
	for range clients {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				conn, err := pgx.Connect(ctx, dsn)
				if err != nil {
					l.errs.Add(1)
					select { // pace reconnects; this is load shaping, not synchronisation
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
					continue
				}
				for ctx.Err() == nil {
					var port int
					if err := conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&port); err != nil {
						if ctx.Err() == nil {
							l.errs.Add(1)
						}
						break
					}
					l.mu.Lock()
					l.ports[port]++
					l.mu.Unlock()
				}
				conn.Close(context.Background())
			}
		})
	}
	t.Cleanup(l.stop)
	return l
}

func (l *loadGen) stop() { l.cancel(); l.wg.Wait() }

// waitSessions waits until every backend has sessions that have answered
// at least 100 queries.
func waitSessions(t *testing.T, ctx context.Context, p *runningProxy) {
	t.Helper()
	for {
		all := true
		for _, b := range p.Snapshot().Backends {
			all = all && b.ActiveConnections > 0 && b.RequestsTotal >= 100
		}
		if all {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("backends never all had sessions: %+v", p.Snapshot().Backends)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// landings opens n new sessions and returns how many landed on each port.
func landings(t *testing.T, ctx context.Context, dsn string, n int) map[int]int {
	t.Helper()
	got := make(map[int]int)
	for range n {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("new session: %v", err)
		}
		var port int
		if err := conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&port); err != nil {
			t.Fatalf("new session query: %v", err)
		}
		conn.Close(ctx)
		got[port]++
	}
	return got
}

func TestKilledBackendOpensAndRecovers(t *testing.T) {
	var cs []*pgtest.Cluster
	for _, n := range []string{"kill-a", "kill-b", "kill-c"} {
		cs = append(cs, pgtest.New(t, pgtest.Options{Name: n}))
	}
	p := startProxy(t, testConfig(t, cs...))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	events := p.Subscribe(ctx)
	dsn := p.dsn("postgres", "")
	load := startLoad(t, dsn, 12)
	waitSessions(t, ctx, p)

	victim := cs[1]
	killed := time.Now()
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	opened := waitEvent(t, ctx, events, isEvent(status.CircuitOpened, "pg-b"))
	detection := opened.Time.Sub(killed)
	t.Logf("hard failure under load: SIGKILL → OPEN in %v (reason %s: %s)", detection, opened.Reason, opened.Detail)
	if opened.Reason != "hard_failure" {
		t.Errorf("open reason = %q, want hard_failure", opened.Reason)
	}
	if got := landings(t, ctx, dsn, 30); got[victim.Port] != 0 || got[cs[0].Port]+got[cs[2].Port] != 30 {
		t.Errorf("new sessions while pg-b is OPEN landed on %v; want all 30 on ports %d and %d", got, cs[0].Port, cs[2].Port)
	}

	if err := victim.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ctx, events, isEvent(status.CircuitHalfOpened, "pg-b"))
	closed := waitEvent(t, ctx, events, isEvent(status.CircuitClosed, "pg-b"))
	t.Logf("recovery: OPEN → CLOSED after %v", closed.RecoveryDuration)
	// Traffic comes back: new sessions reach the recovered backend again.
	back := false
	for i := 0; i < 100 && !back; i++ {
		back = landings(t, ctx, dsn, 1)[victim.Port] > 0
	}
	if !back {
		t.Error("no new session reached pg-b after its circuit closed")
	}
	load.stop()
	load.mu.Lock()
	defer load.mu.Unlock()
	if load.ports[victim.Port] == 0 || load.ports[cs[0].Port] == 0 || load.ports[cs[2].Port] == 0 {
		t.Errorf("load spread over ports %v; want all three backends used", load.ports)
	}
}

func TestHungBackendOpensOnLatency(t *testing.T) {
	var cs []*pgtest.Cluster
	for _, n := range []string{"hang-a", "hang-b", "hang-c"} {
		cs = append(cs, pgtest.New(t, pgtest.Options{Name: n}))
	}
	cfg := testConfig(t, cs...)
	// Default health checks (1s, 500ms timeout): the latency path must see
	// the hang before three failed checks would.
	cfg.HealthChecks.Interval.Duration, cfg.HealthChecks.Timeout.Duration = time.Second, 500*time.Millisecond
	p := startProxy(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	events := p.Subscribe(ctx)
	load := startLoad(t, p.dsn("postgres", ""), 12)
	waitSessions(t, ctx, p)

	victim := cs[1]
	opened := pauseUntilOpen(t, ctx, events, victim, "pg-b")
	if opened.Reason != "latency_p95" {
		t.Errorf("open reason = %q, want latency_p95", opened.Reason)
	}
	if err := victim.Resume(); err != nil {
		t.Fatal(err)
	}
	load.stop()
}

func TestAllBackendsDown(t *testing.T) {
	a := pgtest.New(t, pgtest.Options{Name: "down-a"})
	b := pgtest.New(t, pgtest.Options{Name: "down-b"})
	p := startProxy(t, testConfig(t, a, b))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	events := p.Subscribe(ctx)
	for _, c := range []*pgtest.Cluster{a, b} {
		if err := c.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	open := map[string]bool{}
	for len(open) < 2 {
		ev := waitEvent(t, ctx, events, func(ev status.Event) bool { return ev.Type == status.CircuitOpened })
		open[ev.Backend] = true
	}

	start := time.Now()
	_, err := pgx.Connect(ctx, p.dsn("postgres", ""))
	elapsed := time.Since(start)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("connect with every backend down: err = %v, want a PostgreSQL error", err)
	}
	t.Logf("all backends down: 57P03 answered in %v: %s / %s / %s", elapsed, pe.Message, pe.Detail, pe.Hint)
	if pe.Code != "57P03" || pe.Severity != "FATAL" {
		t.Errorf("error = %s %s, want FATAL 57P03", pe.Severity, pe.Code)
	}
	for _, want := range []string{"pg-a: OPEN", "pg-b: OPEN"} {
		if !strings.Contains(pe.Detail, want) {
			t.Errorf("DETAIL %q does not contain %q", pe.Detail, want)
		}
	}
	if !strings.Contains(pe.Hint, "Retry") {
		t.Errorf("HINT %q gives no retry advice", pe.Hint)
	}
	// No backend was dialled: open circuits reject before any I/O. Snapshots
	// show statistics at most one tick old.
	tick := time.NewTicker(backend.TickInterval)
	defer tick.Stop()
	for rejected := 0; rejected < 2; <-tick.C {
		rejected = 0
		for _, be := range p.Snapshot().Backends {
			if be.RejectedTotal > 0 {
				rejected++
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("rejected_total: %d of 2 backends counted the session rejected by its open circuit", rejected)
		}
	}
}

func TestReadOnlyBackendGetsOnlyReadOnlySessions(t *testing.T) {
	rw := pgtest.New(t, pgtest.Options{Name: "ro-rw"})
	ro := pgtest.New(t, pgtest.Options{Name: "ro-ro"})
	cfg := testConfig(t, rw, ro)
	cfg.Backends.Instances[1].AllowedQueryTypes = []string{"SELECT"}
	p := startProxy(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if got := landings(t, ctx, p.dsn("postgres", ""), 10); got[rw.Port] != 10 {
		t.Errorf("read-write sessions landed on %v; want all 10 on port %d", got, rw.Port)
	}
	seen := map[int]bool{}
	for range 10 {
		conn, err := pgx.Connect(ctx, p.dsn("postgres", "")+" options='-c default_transaction_read_only=on'")
		if err != nil {
			t.Fatal(err)
		}
		var port int
		var readOnly string
		if err := conn.QueryRow(ctx, "SELECT inet_server_port(), current_setting('default_transaction_read_only')").Scan(&port, &readOnly); err != nil {
			t.Fatal(err)
		}
		seen[port] = true
		if readOnly != "on" {
			t.Errorf("read-only session has default_transaction_read_only = %s", readOnly)
		}
		// Hold the session so that the next one balances away from it.
		defer conn.Close(ctx)
	}
	if !seen[ro.Port] {
		t.Errorf("read-only sessions landed on ports %v; want some on the read-only backend %d", seen, ro.Port)
	}
}
