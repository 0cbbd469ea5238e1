package proxy

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
)

// TestPooledParametersStartFromServerDefaults: a pooled client that asks
// for no TimeZone, DateStyle or application_name gets the server's
// defaults, told at login and in effect, even on the server connection
// another client gave its own (startup parameters and a SET) a moment
// before; and that client keeps its own. In transaction mode the two
// share the one server connection turn by turn; in session mode the
// second comes after the first ended.
func TestPooledParametersStartFromServerDefaults(t *testing.T) {
	names := []string{"TimeZone", "DateStyle", "application_name"}
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, p := pooledSetup(t, 1, mode, func(cfg *config.Config) { cfg.Pool.DefaultPoolSize = 1 })
			show := func(conn *pgx.Conn) map[string]string {
				t.Helper()
				m := map[string]string{}
				for _, name := range names {
					var v string
					if err := conn.QueryRow(ctx, "SHOW "+name).Scan(&v); err != nil {
						t.Fatalf("SHOW %s: %v", name, err)
					}
					m[name] = v
				}
				return m
			}
			check := func(who string, conn *pgx.Conn, want map[string]string) {
				t.Helper()
				got := show(conn)
				for _, name := range names {
					if got[name] != want[name] {
						t.Errorf("%s: SHOW %s = %q, want %q", who, name, got[name], want[name])
					}
					// pgx keeps what the server last reported; "" for a
					// parameter never reported.
					if r := conn.PgConn().ParameterStatus(name); r != want[name] {
						t.Errorf("%s: %s reported %q, want %q", who, name, r, want[name])
					}
				}
			}

			first := appConn(t, ctx, p)
			defaults := show(first)
			first.Close(ctx)
			if defaults["TimeZone"] == "Asia/Tokyo" || defaults["DateStyle"] == "SQL, DMY" || defaults["application_name"] != "" {
				t.Fatalf("the server's defaults %v are what the test sets", defaults)
			}

			xc, err := pgx.ParseConfig(p.dsn("app", "app-secret"))
			if err != nil {
				t.Fatal(err)
			}
			xc.RuntimeParams["TimeZone"] = "Asia/Tokyo"
			xc.RuntimeParams["DateStyle"] = "SQL, DMY"
			xc.RuntimeParams["application_name"] = "x-app"
			x, err := pgx.ConnectConfig(ctx, xc)
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close(ctx)
			own := map[string]string{"TimeZone": "Asia/Tokyo", "DateStyle": "SQL, DMY", "application_name": "x-app"}
			check("the client that set them", x, own)
			if _, err := x.Exec(ctx, "SET TimeZone = 'America/New_York'"); err != nil {
				t.Fatal(err)
			}
			own["TimeZone"] = "America/New_York"
			check("the client after its SET", x, own)
			if mode == "session" {
				x.Close(ctx) // its server connection goes back to the pool
			}

			y := appConn(t, ctx, p)
			check("a client that asked for nothing", y, defaults)
			if mode == "transaction" {
				check("the client that set them, again", x, own)
				check("the client that asked for nothing, again", y, defaults)
			}
		})
	}
}
