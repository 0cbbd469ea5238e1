package proxy

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/breaker"
)

// relayPaths are the three ways a client's requests reach a backend
// through pooledSetup's proxy: a pass-through session (postgres, a role
// not in [[users]]), a pooled session and transaction mode (app).
var relayPaths = []struct{ name, mode, user, password string }{
	{"pass-through", "session", "postgres", "pg-secret"},
	{"pooled session", "session", "app", "app-secret"},
	{"transaction", "transaction", "app", "app-secret"},
}

// failingReader gives COPY some rows, then fails, as an application's
// generator that raises does: the driver sends CopyFail.
type failingReader struct{ rows io.Reader }

func (r *failingReader) Read(p []byte) (int, error) {
	n, err := r.rows.Read(p)
	if errors.Is(err, io.EOF) {
		return n, errors.New("the application gave up")
	}
	return n, err
}

// TestCopyFailIsTheClients: a COPY FROM STDIN the client aborts with
// CopyFail is answered by PostgreSQL with 57014 ("COPY from stdin
// failed"), the SQLSTATE of a statement_timeout too; it is the client's
// doing, not a slow backend, and must not count as a request slower than
// every latency threshold (two of them opened a lone backend's circuit
// on latency_p95). A statement_timeout's 57014 still does. Pass-through,
// pooled session and transaction mode.
func TestCopyFailIsTheClients(t *testing.T) {
	for _, tc := range relayPaths {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cs, p := pooledSetup(t, 1, tc.mode, nil)
			if err := cs[0].Exec(ctx, "CREATE TABLE copy_t(a int); GRANT ALL ON copy_t TO app"); err != nil {
				t.Fatal(err)
			}
			conn, err := pgx.Connect(ctx, p.dsn(tc.user, tc.password))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			b := p.backend("pg-a")
			threshold := time.Duration(p.config().CircuitBreaker.LatencyThresholdP95Ms) * time.Millisecond
			for range 2 {
				_, err := conn.PgConn().CopyFrom(ctx, &failingReader{strings.NewReader("1\n2\n")}, "COPY copy_t FROM STDIN")
				var pe *pgconn.PgError
				if !errors.As(err, &pe) || pe.Code != "57014" {
					t.Fatalf("COPY the client failed: %v, want 57014", err)
				}
			}
			// Its ReadyForQuery went by before this answer, and with it the
			// COPY's record.
			if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatal(err)
			}
			if st := b.Breaker.Stats(p.clock.Now()); st.P99 >= threshold || st.State != breaker.Closed {
				t.Errorf("after two COPYs the client failed: %s, p99 %v (threshold %v), want CLOSED and fast", st.State, st.P99, threshold)
			}

			if _, err := conn.PgConn().Exec(ctx, "SET statement_timeout = 50; SELECT pg_sleep(2)").ReadAll(); pgCode(err) != "57014" {
				t.Fatalf("a statement over its statement_timeout: %v, want 57014", err)
			}
			if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatal(err)
			}
			if st := b.Breaker.Stats(p.clock.Now()); st.P99 < threshold {
				t.Errorf("after a statement_timeout: p99 %v, want a slow request (≥ %v)", st.P99, threshold)
			}
		})
	}
}
