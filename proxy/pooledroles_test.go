package proxy

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/status"
)

// TestPooledLoginAfterPromotionIsNotHotStandby: a pooled session that
// may write is told in_hot_standby = off at its login, as the primary
// its transactions go to would tell it, also when that primary was a
// replica when the proxy opened its pooled connections. Before, the
// login repeated what the promoted replica's connections had reported
// (in_hot_standby = on), so libpq's target_session_attrs=read-write or
// primary and pgjdbc's targetServerType=primary refused the proxy after
// every failover ("server is in hot standby mode").
func TestPooledLoginAfterPromotionIsNotHotStandby(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, cs := replicated(t, ctx, 1, func(cfg *config.Config) {
		cfg.Users = []config.User{{Name: "app", Password: "app-secret"}}
		cfg.Pool.Mode = "transaction"
	})
	if err := cs[0].CreateUser(ctx, "app", "app-secret"); err != nil {
		t.Fatal(err)
	}
	if err := cs[1].WaitCaughtUp(ctx, cs[0]); err != nil {
		t.Fatal(err)
	}
	dsn := p.dsn("app", "app-secret")
	hotStandby := func(dsn string) (string, int) {
		t.Helper()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var port int
		if err := conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&port); err != nil {
			t.Fatal(err)
		}
		return conn.PgConn().ParameterStatus("in_hot_standby"), port
	}
	// Pooled connections to both, each pool's logins learned.
	for range 2 {
		if hot, port := hotStandby(dsn); hot != "off" || port != cs[0].Port {
			t.Fatalf("read-write session: in_hot_standby %q on port %d, want off on the primary's %d", hot, port, cs[0].Port)
		}
		if hot, port := hotStandby(dsn + readOnlyOption); hot != "on" || port != cs[1].Port {
			t.Fatalf("read-only session: in_hot_standby %q on port %d, want on on the replica's %d", hot, port, cs[1].Port)
		}
	}

	if err := cs[0].Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cs[1].Promote(ctx); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, p, "pg-b primary", func(snap status.Snapshot) bool {
		return backendStatus(snap, "pg-b").Role == status.RolePrimary
	})
	for i := range 3 {
		if hot, port := hotStandby(dsn); hot != "off" || port != cs[1].Port {
			t.Errorf("read-write session %d after the promotion: in_hot_standby %q on port %d, want off on the new primary's %d", i, hot, port, cs[1].Port)
		}
	}
}
