package proxy

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
)

// TestPooledStartupOptions: the settings of the options startup parameter
// (libpq's PGOPTIONS, psycopg2's and JDBC's options) are a pooled
// session's parameters as much as the startup's own ones: in effect on
// every server connection the client gets and on no other client's,
// refused at login when the server refuses them, and a parameter given
// both ways takes the startup parameter's value, as in PostgreSQL. A
// switch other than a setting is refused with 0A000, as is a replication
// connection. Before, pooled
// sessions dropped options without a word: PGOPTIONS='-c
// search_path=app' wrote to public.
func TestPooledStartupOptions(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cs, p := pooledSetup(t, 1, mode, func(cfg *config.Config) { cfg.Pool.DefaultPoolSize = 1 })
			connect := func(params map[string]string) (*pgx.Conn, error) {
				cfg, err := pgx.ParseConfig(p.dsn("app", "app-secret"))
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range params {
					cfg.RuntimeParams[k] = v
				}
				return pgx.ConnectConfig(ctx, cfg)
			}
			show := func(conn *pgx.Conn, name string) string {
				t.Helper()
				var v string
				if err := conn.QueryRow(ctx, "SHOW "+name).Scan(&v); err != nil {
					t.Fatalf("SHOW %s: %v", name, err)
				}
				return v
			}
			plain := appConn(t, ctx, p)
			defaults := map[string]string{}
			for _, name := range []string{"search_path", "statement_timeout", "work_mem"} {
				defaults[name] = show(plain, name)
			}
			if mode == "session" {
				plain.Close(ctx) // the one server connection goes to the next session
			}

			opt, err := connect(map[string]string{"options": `-c search_path=opt_schema,public -cstatement_timeout=1234 --work-mem=8MB -c application_name=with\ space`})
			if err != nil {
				t.Fatalf("options with settings: %v", err)
			}
			want := map[string]string{"search_path": "opt_schema,public", "statement_timeout": "1234ms", "work_mem": "8MB", "application_name": "with space"}
			check := func(when string) {
				t.Helper()
				for name, v := range want {
					if got := show(opt, name); got != v {
						t.Errorf("%s: SHOW %s = %q, want %q (from options)", when, name, got, v)
					}
				}
			}
			check("at login")
			if mode == "transaction" {
				// The other client gets the one server connection in
				// between, with the server's defaults; then this one again.
				for name, v := range defaults {
					if got := show(plain, name); got != v {
						t.Errorf("a client without options after one with them: SHOW %s = %q, want the default %q", name, got, v)
					}
				}
				check("after another client's transaction")
			}
			opt.Close(ctx)

			both, err := connect(map[string]string{"options": "-c search_path=from_options", "search_path": "from_parameter"})
			if err != nil {
				t.Fatal(err)
			}
			if got := show(both, "search_path"); got != "from_parameter" {
				t.Errorf("search_path given both ways = %q, want the startup parameter's from_parameter", got)
			}
			both.Close(ctx)

			for _, tc := range []struct {
				params map[string]string
				code   string // "": logs in
			}{
				{map[string]string{"options": "-d 5"}, "0A000"},
				{map[string]string{"options": "-c work_mem"}, "42601"},
				{map[string]string{"options": "-c statement_timeout=bogus"}, "22023"},
				// A walsender's protocol (pg_recvlogical, Debezium) is not
				// a pooled connection's: refused, not turned into a plain
				// session that answers IDENTIFY_SYSTEM with 42601.
				{map[string]string{"replication": "database"}, "0A000"},
				{map[string]string{"replication": "true"}, "0A000"},
				{map[string]string{"replication": "off"}, ""},
			} {
				conn, err := connect(tc.params)
				if err == nil {
					conn.Close(ctx)
				}
				if got := pgCode(err); got != tc.code || tc.code == "" && err != nil {
					t.Errorf("startup with %v: %v, want SQLSTATE %q", tc.params, err, tc.code)
				}
			}

			// psql's PGOPTIONS, as an operator would use it.
			cmd := exec.CommandContext(ctx, psqlPath(t, cs[0]), "-X", "-A", "-t", "-d", p.dsn("app", "app-secret"), "-c", "SHOW statement_timeout")
			cmd.Env = append(os.Environ(), "PGOPTIONS=-c statement_timeout=4321")
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "4321ms" {
				t.Errorf("psql with PGOPTIONS: %v %s, want 4321ms", err, out)
			}
		})
	}
}
