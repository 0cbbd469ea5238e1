package proxy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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

// TestTransactionModeSetLastsItsTransaction: in transaction mode a
// client's SET of a parameter PostgreSQL does not report lasts until its
// server connection is given back (the end of its transaction), and never
// reaches the client that gets the connection next, nor the setter's own
// later transactions; SET LOCAL, a SET and a statement in one request,
// and the client's startup parameters (search_path here) work as before.
func TestTransactionModeSetLastsItsTransaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, p := pooledSetup(t, 1, "transaction", func(cfg *config.Config) { cfg.Pool.DefaultPoolSize = 1 })
	setting := func(who string, conn *pgx.Conn, name string) string {
		t.Helper()
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting('"+name+"')").Scan(&v); err != nil {
			t.Fatalf("%s: current_setting(%s): %v", who, name, err)
		}
		return v
	}
	xc, err := pgx.ParseConfig(p.dsn("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	xc.RuntimeParams["search_path"] = "pg_catalog, public"
	x, err := pgx.ConnectConfig(ctx, xc)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close(ctx)
	y := appConn(t, ctx, p)
	workMem := setting("y", y, "work_mem")
	if workMem == "7MB" || workMem == "9MB" {
		t.Fatalf("the server's work_mem is %s, which the test sets", workMem)
	}

	if _, err := x.Exec(ctx, "SET work_mem = '7MB'"); err != nil {
		t.Fatal(err)
	}
	if v := setting("y after x's SET", y, "work_mem"); v != workMem {
		t.Errorf("y after x's SET work_mem: %s, want the server's %s", v, workMem)
	}
	if v := setting("x after its SET", x, "work_mem"); v != workMem {
		t.Errorf("x's next transaction after its SET work_mem: %s, want the server's %s", v, workMem)
	}
	if v := setting("x", x, "search_path"); v != "pg_catalog, public" {
		t.Errorf("x's startup search_path after the reset: %q", v)
	}

	tx, err := x.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SET work_mem = '7MB'"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = '9s'"); err != nil {
		t.Fatal(err)
	}
	var wm, st string
	if err := tx.QueryRow(ctx, "SELECT current_setting('work_mem'), current_setting('statement_timeout')").Scan(&wm, &st); err != nil || wm != "7MB" || st != "9s" {
		t.Errorf("inside the transaction: work_mem %s, statement_timeout %s, %v; want 7MB, 9s", wm, st, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if v := setting("y after x's committed SET", y, "work_mem"); v != workMem {
		t.Errorf("y after x's committed SET work_mem: %s, want the server's %s", v, workMem)
	}

	// One request: the SET and the statement after it share the
	// connection (simple protocol, two statements in one Query).
	res, err := x.PgConn().Exec(ctx, "SET work_mem = '9MB'; SELECT current_setting('work_mem')").ReadAll()
	if err != nil || len(res) != 2 || len(res[1].Rows) != 1 || string(res[1].Rows[0][0]) != "9MB" {
		t.Errorf("SET and SELECT in one request: %v, %v; want 9MB", res, err)
	}
	if v := setting("y after x's request", y, "work_mem"); v != workMem {
		t.Errorf("y after x's SET in a request: %s, want the server's %s", v, workMem)
	}
}

// TestTransactionModeSetConfigLastsItsTransaction: set_config(…, false)
// in transaction mode, the way row-level security policies are often fed
// (app.user_id), lasts until its connection goes back to the pool, like a
// SET: the next client of the connection does not see the first one's
// value, in a simple query, an unnamed statement or a prepared one.
func TestTransactionModeSetConfigLastsItsTransaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, p := pooledSetup(t, 1, "transaction", func(cfg *config.Config) { cfg.Pool.DefaultPoolSize = 1 })
	x := appConn(t, ctx, p) // pgx's default: statements prepared and cached
	y := appConn(t, ctx, p)
	userID := func(who string, conn *pgx.Conn) string {
		t.Helper()
		var v string
		if err := conn.QueryRow(ctx, "SELECT coalesce(current_setting('app.user_id', true), '')").Scan(&v); err != nil {
			t.Fatalf("%s: %v", who, err)
		}
		return v
	}
	for i, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheStatement} {
		id := fmt.Sprintf("user-%d", i)
		var got string
		if err := x.QueryRow(ctx, "SELECT set_config('app.user_id', $1, false)", mode, id).Scan(&got); err != nil || got != id {
			t.Fatalf("set_config with %v: %q, %v", mode, got, err)
		}
		if v := userID("y", y); v != "" {
			t.Errorf("after x's set_config with %v, y's app.user_id = %q, want none", mode, v)
		}
	}
}

// TestTransactionModeRoleLastsItsTransaction: SET ROLE (and SET SESSION
// AUTHORIZATION, for a superuser pool) in transaction mode lasts until the
// connection goes back to the pool, as other SETs do; RESET ALL alone
// leaves them, and the connection's next client ran with the previous
// client's role and its privileges.
func TestTransactionModeRoleLastsItsTransaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, p := pooledSetup(t, 1, "transaction", func(cfg *config.Config) { cfg.Pool.DefaultPoolSize = 1 })
	if err := cs[0].Exec(ctx, "CREATE ROLE boss; GRANT boss TO app"); err != nil {
		t.Fatal(err)
	}
	x := appConn(t, ctx, p)
	y := appConn(t, ctx, p)
	users := func(who string, conn *pgx.Conn) string {
		t.Helper()
		var cur, sess string
		if err := conn.QueryRow(ctx, "SELECT current_user, session_user").Scan(&cur, &sess); err != nil {
			t.Fatalf("%s: %v", who, err)
		}
		return cur + "/" + sess
	}
	for _, set := range []string{"SET ROLE boss", "SELECT set_config('role', 'boss', false)"} {
		tx, err := x.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, set); err != nil {
			t.Fatalf("%s: %v", set, err)
		}
		var who string
		if err := tx.QueryRow(ctx, "SELECT current_user").Scan(&who); err != nil || who != "boss" {
			t.Fatalf("%s: current_user %q, %v", set, who, err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if got := users("y", y); got != "app/app" {
			t.Errorf("after x's %s, y runs as %s, want app/app", set, got)
		}
		if got := users("x", x); got != "app/app" {
			t.Errorf("x's next transaction after its %s runs as %s, want app/app (a SET lasts its transaction)", set, got)
		}
	}
}

// TestTransactionModeListenLastsItsTransaction: a LISTEN in transaction
// mode lasts until its server connection goes back to the pool, as a SET
// does; before, the connection went on listening, and the next client
// that got it was sent the first client's notifications.
func TestTransactionModeListenLastsItsTransaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, p := pooledSetup(t, 1, "transaction", func(cfg *config.Config) { cfg.Pool.DefaultPoolSize = 1 })
	x := appConn(t, ctx, p)
	cfg, err := pgx.ParseConfig(p.dsn("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	cfg.OnNotification = func(_ *pgconn.PgConn, n *pgconn.Notification) { got = append(got, n.Channel+":"+n.Payload) }
	y, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close(ctx)
	if _, err := x.Exec(ctx, "LISTEN x_channel"); err != nil {
		t.Fatal(err)
	}
	// y gets the one server connection, and holds it while x's channel
	// is notified.
	tx, err := y.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cs[0].Exec(ctx, "NOTIFY x_channel, 'for x'"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// A notification is delivered when its listener's transaction ends
	// (the commit above) at the latest; one more round trip reads it.
	if _, err := y.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("y was sent %v, notifications of a channel x listened on", got)
	}
}
