package proxy

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestPgIsReadyPooledRoleWhenNothingCanServe: with every circuit open,
// pg_isready -U <a [[users]] role> says "rejecting connections" (exit 1),
// as for any other role and as PostgreSQL says while it cannot serve
// logins; a client of the role gets 57P03 before it is asked for a
// password. Before, the proxy asked a pooled role's client for its
// password first, which pg_isready takes for a server accepting
// connections (exit 0) although no backend could serve it. Once the
// circuit closes, it says "accepting connections" again.
func TestPgIsReadyPooledRoleWhenNothingCanServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			cs, p := pooledSetup(t, 1, mode, nil)
			bin := filepath.Join(cs[0].BinDir, "pg_isready")
			if _, err := exec.LookPath(bin); err != nil {
				if bin, err = exec.LookPath("pg_isready"); err != nil {
					t.Fatalf("pg_isready not found: %v", err)
				}
			}
			host, port, _ := net.SplitHostPort(p.Addr)
			isReady := func(user string) (int, string) {
				t.Helper()
				out, err := exec.CommandContext(ctx, bin, "-h", host, "-p", port, "-U", user, "-d", "postgres", "-t", "10").CombinedOutput()
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					return ee.ExitCode(), strings.TrimSpace(string(out))
				}
				if err != nil {
					t.Fatal(err)
				}
				return 0, strings.TrimSpace(string(out))
			}
			// A login first, so that a transaction-mode login needs no
			// server connection.
			c, err := pgconn.Connect(ctx, p.dsn("app", "app-secret"))
			if err != nil {
				t.Fatal(err)
			}
			c.Close(ctx)
			if code, out := isReady("app"); code != 0 {
				t.Fatalf("pg_isready -U app with the backend up: exit %d %q, want 0", code, out)
			}
			forceOpen(t, ctx, p, "pg-a")
			for _, user := range []string{"app", "postgres"} {
				if code, out := isReady(user); code != 1 || !strings.Contains(out, "rejecting connections") {
					t.Errorf("pg_isready -U %s with every circuit open: exit %d %q, want 1, rejecting connections", user, code, out)
				}
			}
			_, err = pgconn.Connect(ctx, p.dsn("app", "app-secret"))
			if code := pgCode(err); code != "57P03" {
				t.Errorf("login as app with every circuit open: %v, want 57P03", err)
			}
		})
	}
}
