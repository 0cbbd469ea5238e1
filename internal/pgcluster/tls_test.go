package pgcluster_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// TestTLSOnly checks that a TLSOnly cluster refuses plaintext TCP, serves
// TLS with the given certificate, and still lets pgcluster in over its
// unix socket.
func TestTLSOnly(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pki := pgtest.NewPKI(t, []string{"127.0.0.1"}, "postgres")
	c := pgtest.New(t, pki.TLSOptions(pgtest.Options{Name: "tls-only", Auth: "scram-sha-256"}))
	if err := c.CreateUser(ctx, "app", "app-pw"); err != nil { // over the unix socket
		t.Fatal(err)
	}
	plain := c.DSN("app", "app-pw", "postgres")
	_, err := pgx.Connect(ctx, plain)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "28000" || !strings.Contains(pe.Message, "no encryption") {
		t.Errorf("plaintext connection to a TLS-only cluster: %v, want 28000 no pg_hba.conf entry … no encryption", err)
	}
	verified := strings.Replace(plain, "sslmode=disable", "sslmode=verify-full&sslrootcert="+pki.CAFile, 1)
	conn, err := pgx.Connect(ctx, verified)
	if err != nil {
		t.Fatalf("verify-full connection: %v", err)
	}
	defer conn.Close(ctx)
	var ssl bool
	if err := conn.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
		t.Errorf("pg_stat_ssl.ssl = %v, %v; want true", ssl, err)
	}
}
