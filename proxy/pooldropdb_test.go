package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestDatabaseDDLThroughPooledDatabases: createdb -T and dropdb through
// the proxy succeed at once on a database a pooled role used, as on
// PostgreSQL alone once its clients have gone. Before, the proxy's idle
// pooled connection on it stayed for server_idle_timeout (10 minutes),
// and PostgreSQL waited 5 s for it and failed with 55006 'database "shop"
// is being accessed by other users' / 'There is 1 other session using
// the database.', with no client connected. In the extended protocol
// (CREATE) and the simple one (DROP, as psql, createdb and dropdb send
// them), from a pass-through session.
func TestDatabaseDDLThroughPooledDatabases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, p := pooledSetup(t, 1, "transaction", nil)
	if err := cs[0].Exec(ctx, "CREATE DATABASE shop OWNER app"); err != nil {
		t.Fatal(err)
	}
	app, err := pgconn.Connect(ctx, strings.Replace(p.dsn("app", "app-secret"), "dbname=postgres", "dbname=shop", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		t.Fatal(err)
	}
	app.Close(ctx)
	direct, err := pgconn.Connect(ctx, cs[0].DSN("postgres", "pg-secret", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	res, err := direct.Exec(ctx, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND datname = 'shop'").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if n := string(res[0].Rows[0][0]); n != "1" {
		t.Fatalf("%s server connections of app on shop after its client left, want the pool's idle one", n)
	}

	admin, err := pgconn.Connect(ctx, p.dsn("postgres", "pg-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.ExecParams(ctx, "CREATE DATABASE shop_copy TEMPLATE shop", nil, nil, nil, nil).Close(); err != nil {
		t.Errorf("CREATE DATABASE shop_copy TEMPLATE shop through the proxy: %v", err)
	}
	if _, err := admin.Exec(ctx, "DROP DATABASE shop").ReadAll(); err != nil {
		t.Errorf("DROP DATABASE shop through the proxy: %v", err)
	}
	// The pool's own database is usable again, from a new connection.
	app, err = pgconn.Connect(ctx, strings.Replace(p.dsn("app", "app-secret"), "dbname=postgres", "dbname=shop_copy", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	if _, err := app.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		t.Errorf("a pooled session on the copy: %v", err)
	}
}
