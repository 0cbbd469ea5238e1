package proxy

import (
	"context"
	"crypto/tls"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// TestReloadClientTLS: a reload reads the TLS files for clients again, as
// PostgreSQL and PgBouncer do on SIGHUP, so that a certificate renewed
// under the same names (certbot, cert-manager) is what the next clients
// are shown, while sessions under way keep theirs; before, the files were
// read once at start and a renewed certificate needed a restart (and a
// new file name was "restart_required"). Files that cannot be read fail
// the reload, which then changes nothing; a reload without them stops
// offering TLS.
func TestReloadClientTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := pgtest.New(t, pgtest.Options{Name: "reloadtls", Auth: "scram-sha-256", Password: "pg-secret"})
	cfg := testConfig(t, c)
	dir := t.TempDir()
	cfg.Proxy.TLSCertFile, cfg.Proxy.TLSKeyFile = writeSelfSigned(t, dir, "first")
	p := startProxy(t, cfg)
	next := cfg
	p.SetConfigSource(func() (config.Config, []config.Warning, error) { return next, nil, nil })
	dsn := p.dsn("postgres", "pg-secret")
	tlsDSN := strings.Replace(dsn, "sslmode=disable", "sslmode=require", 1)

	first := connectTLS(t, ctx, tlsDSN, "first")
	defer first.Close(context.Background())

	// Renewed in place, then reloaded.
	writeSelfSigned(t, dir, "second")
	res, err := p.Reload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Changed, "proxy") || len(res.RestartRequired) != 0 {
		t.Errorf("reload = changed %v, restart required %v; want proxy changed and nothing to restart", res.Changed, res.RestartRequired)
	}
	second := connectTLS(t, ctx, tlsDSN, "second")
	second.Close(ctx)
	var one int
	if err := first.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Errorf("session begun before the reload: %v", err)
	}

	// A reload with the same files reports no change.
	if res, err := p.Reload(ctx); err != nil || len(res.Changed) != 0 {
		t.Errorf("reload of the same files = changed %v, %v; want nothing", res.Changed, err)
	}

	// A key that cannot be read fails the reload, naming the setting; the
	// clients are still shown the second certificate.
	if err := os.WriteFile(cfg.Proxy.TLSKeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Reload(ctx); err == nil || !strings.Contains(err.Error(), "proxy.tls_cert_file/tls_key_file") {
		t.Errorf("reload with a broken key: %v, want an error naming proxy.tls_cert_file/tls_key_file", err)
	}
	connectTLS(t, ctx, tlsDSN, "second").Close(ctx)

	// Without the files, clients are told TLS is not offered.
	next.Proxy.TLSCertFile, next.Proxy.TLSKeyFile = "", ""
	if res, err := p.Reload(ctx); err != nil || !slices.Contains(res.Changed, "proxy") {
		t.Fatalf("reload without TLS = changed %v, %v", res.Changed, err)
	}
	if conn, err := pgx.Connect(ctx, tlsDSN); err == nil || !strings.Contains(err.Error(), "server refused TLS connection") {
		t.Errorf("sslmode=require without TLS files: %v, want the server's refusal of TLS", err)
		if err == nil {
			conn.Close(ctx)
		}
	}
	plain, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("plaintext after TLS was turned off: %v", err)
	}
	plain.Close(ctx)
}

// connectTLS connects over TLS and checks the certificate the proxy showed.
func connectTLS(t *testing.T, ctx context.Context, dsn, cn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	tc, ok := conn.PgConn().Conn().(*tls.Conn)
	if !ok {
		t.Fatalf("connection is %T, want TLS", conn.PgConn().Conn())
	}
	if got := tc.ConnectionState().PeerCertificates[0].Subject.CommonName; got != cn {
		t.Errorf("certificate shown: %q, want %q", got, cn)
	}
	return conn
}
