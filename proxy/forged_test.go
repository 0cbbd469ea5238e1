package proxy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// TestRaisedFailureCodesLeaveCircuitClosed: an ordinary client raises the
// SQLSTATEs of a failing backend itself (PL/pgSQL RAISE … USING ERRCODE,
// with a short message and with one long enough to push the error's
// routine far past its first bytes), in a loop, on a pass-through session
// and on a pooled one in transaction mode. They are the application's
// own errors: the client gets each of them, another client on the same
// backend is served all along, and the backend's circuit stays CLOSED with
// no failure counted. (Before the fix, five of them opened the circuit on
// its error rate, and everyone else got 57P03.)
func TestRaisedFailureCodesLeaveCircuitClosed(t *testing.T) {
	c := pgtest.New(t, pgtest.Options{Name: "forged"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, u := range []string{"app", "other"} {
		if err := c.CreateUser(ctx, u, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	codes := []string{"XX000", "08006", "58030", "53100", "53200", "57P01", "57P02", "57014", "53300", "25006"}
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig(t, c)
			cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: time.Minute}
			cfg.Pool.Mode = mode
			// app is pooled in transaction mode; other is relayed.
			cfg.Users = []config.User{{Name: "app", Password: "pw"}}
			p := startProxy(t, cfg)
			for _, role := range []string{"other", "app"} {
				attacker, err := pgx.Connect(ctx, p.dsn(role, "pw"))
				if err != nil {
					t.Fatal(err)
				}
				victim, err := pgx.Connect(ctx, p.dsn(map[string]string{"app": "other", "other": "app"}[role], "pw"))
				if err != nil {
					t.Fatal(err)
				}
				for i := range 200 {
					code := codes[i%len(codes)]
					msg := "forged"
					if i%2 == 1 {
						msg = fmt.Sprintf("%0400d", i)
					}
					stmt := fmt.Sprintf("DO $$BEGIN RAISE EXCEPTION '%s' USING ERRCODE = '%s'; END$$", msg, code)
					if _, err := attacker.Exec(ctx, stmt); sqlState(err) != code {
						t.Fatalf("%s raising %s: %v, want its own %s", role, code, err, code)
					}
					if i%4 == 0 {
						var one int
						if err := victim.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
							t.Fatalf("the other client after %d raised errors: %v", i+1, err)
						}
					}
				}
				attacker.Close(ctx)
				victim.Close(ctx)
			}
			b := p.Snapshot().Backends[0]
			if b.CircuitState != status.Closed || b.FailuresTotal != 0 || b.ErrorRate != 0 {
				t.Errorf("backend %s, %d failures, error rate %g; want CLOSED, 0, 0: the errors were the application's own",
					b.CircuitState, b.FailuresTotal, b.ErrorRate)
			}
		})
	}
}
