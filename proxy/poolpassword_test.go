package proxy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestPooledLoginRefusedByBackendSaysWhy: when the role's password
// changes on the server (ALTER ROLE … PASSWORD, or psql's \password
// through the proxy) and its [[users]] entry is not updated, a client
// that gives the proxy the right password is told that the server
// refused the proxy's credentials for the role, and what to do. Before,
// it got only PostgreSQL's 'password authentication failed for user
// "app"', the same words as for a wrong password of its own, and the
// proxy logged it at Info like any refused client.
func TestPooledLoginRefusedByBackendSaysWhy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, p := pooledSetup(t, 1, "transaction", nil)
	if err := cs[0].Exec(ctx, "ALTER ROLE app PASSWORD 'rotated'"); err != nil {
		t.Fatal(err)
	}
	c, err := pgconn.Connect(ctx, p.dsn("app", "app-secret"))
	if err == nil {
		c.Close(ctx)
		t.Fatal("logged in with the proxy's stale credentials for app")
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("login: %v, want a server error", err)
	}
	if pe.Code != "28P01" || pe.Severity != "FATAL" || pe.Message != `password authentication failed for user "app"` {
		t.Errorf("login: %s %s %q, want PostgreSQL's FATAL 28P01", pe.Severity, pe.Code, pe.Message)
	}
	if !strings.Contains(pe.Detail, "[[users]]") || !strings.Contains(pe.Hint, `\password`) || !strings.Contains(pe.Hint, "reload") {
		t.Errorf("login: detail %q, hint %q; want them to name the proxy's [[users]] credentials, a changed password and a reload", pe.Detail, pe.Hint)
	}
	for _, secret := range []string{"app-secret", "rotated", "pg-secret"} {
		if strings.Contains(pe.Detail+pe.Hint+pe.Message, secret) {
			t.Errorf("the error shows a password: %+v", pe)
		}
	}
	// A client's own wrong password stays PostgreSQL's words alone.
	_, err = pgconn.Connect(ctx, p.dsn("app", "wrong"))
	if !errors.As(err, &pe) || pe.Code != "28P01" || pe.Detail != "" || pe.Hint != "" {
		t.Errorf("login with a wrong password: %v (detail %q, hint %q), want 28P01 alone", err, pe.Detail, pe.Hint)
	}
}
