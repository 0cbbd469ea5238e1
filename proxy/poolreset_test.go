package proxy

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestResetRestoresSessionParameters: RESET ALL, DISCARD ALL (Npgsql's
// reset when it pools a connection) and RESET of one parameter give a
// pooled session the values it began with — its startup parameters
// (libpq's PGTZ and PGAPPNAME here), else the server's — as PostgreSQL
// does, in session and transaction mode, compared with psql run against
// PostgreSQL itself. Before, a pooled session got the server connection's
// login values: an empty application_name after either, and in session
// mode the server's TimeZone (UTC) instead of the client's, so every
// timestamptz it read afterwards was shown in the wrong zone.
func TestResetRestoresSessionParameters(t *testing.T) {
	const script = `SET application_name = 'changed';
SET timezone = 'Asia/Tokyo';
SET datestyle = 'SQL, DMY';
RESET ALL;
SHOW application_name;
SHOW timezone;
SHOW datestyle;
SET application_name = 'again';
SET timezone = 'Asia/Tokyo';
DISCARD ALL;
SHOW application_name;
SHOW timezone;
SET timezone = 'Asia/Tokyo';
SET datestyle = 'SQL, DMY';
RESET timezone;
SHOW timezone;
SHOW datestyle;
BEGIN;
RESET ALL;
ROLLBACK;
SHOW timezone;
SELECT '2024-01-01 12:00:00+00'::timestamptz;
`
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			cs, p := pooledSetup(t, 1, mode, nil)
			run := func(dsn, password string) string {
				t.Helper()
				cmd := exec.Command(psqlPath(t, cs[0]), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", "-")
				cmd.Stdin = strings.NewReader(script)
				cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGTZ=Europe/Paris", "PGAPPNAME=myapp", "PGCONNECT_TIMEOUT=10")
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("psql: %v\n%s", err, out)
				}
				return string(out)
			}
			want := run(cs[0].DSN("app", "app-secret", "postgres"), "app-secret")
			got := run(p.dsn("app", "app-secret"), "app-secret")
			if got != want {
				t.Errorf("through the proxy:\n%s\nPostgreSQL itself:\n%s", got, want)
			}
		})
	}
}
