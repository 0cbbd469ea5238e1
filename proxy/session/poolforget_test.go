package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestUnusedPoolsForgotten: a pool is made for each database a pooled
// user's client attaches to, also one that does not exist (3D000 from
// the server); without clients, connections or waiters it is forgotten at
// the next maintenance, so that an authenticated client trying database
// after database cannot grow the proxy's memory for as long as it runs.
// Pools with a client logged in stay.
func TestUnusedPoolsForgotten(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tf := startFront(t, scramConfig(t, "poolforget", "transaction"))
	b := tf.backends[0]
	count := func() int { return len(tf.pools.of(b)) }

	kept, err := pgx.Connect(ctx, tf.dsn("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close(context.Background())
	if _, err := kept.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		dsn := strings.Replace(tf.dsn("app", "app-secret"), "dbname=postgres", fmt.Sprintf("dbname=nosuch_%d", i), 1)
		_, err := pgx.Connect(ctx, dsn)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "3D000" {
			t.Fatalf("login to nosuch_%d: %v, want 3D000", i, err)
		}
	}
	if n := count(); n != 21 {
		t.Fatalf("%d pools after 20 databases that do not exist and postgres, want 21", n)
	}
	tf.MaintainPools(ctx, b, time.Now(), func(fn func()) { fn() })
	if n := count(); n != 1 {
		t.Errorf("%d pools after maintenance, want 1 (postgres: a client is logged in)", n)
	}
	var one int
	if err := kept.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Errorf("the client whose pool stayed: %v", err)
	}
	kept.Close(ctx)
	// Once its last client has left (the session ends when the proxy has
	// read its Terminate) and its connections were given up (closed
	// here), the last pool goes too.
	for count() != 0 {
		if ctx.Err() != nil {
			t.Fatalf("%d pools once every client left and no connection is open, want 0", count())
		}
		for _, p := range tf.pools.of(b) {
			p.CloseIdle()
		}
		tf.MaintainPools(ctx, b, time.Now(), func(fn func()) { fn() })
		time.Sleep(10 * time.Millisecond)
	}
}
