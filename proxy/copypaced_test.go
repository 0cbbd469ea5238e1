package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/breaker"
)

// pacedReader is a loader that produces its COPY rows at its own pace,
// one every every, as a client streaming events does: its pauses are the
// workload here, not a synchronisation.
type pacedReader struct {
	rows  int
	every time.Duration
	sent  int
}

func (r *pacedReader) Read(p []byte) (int, error) {
	if r.sent == r.rows {
		return 0, io.EOF
	}
	time.Sleep(r.every)
	r.sent++
	return copy(p, fmt.Sprintf("%d\n", r.sent)), nil
}

// TestClientPacedStreamsAreNotLatency: while a backend awaits a client's
// COPY data (after its CopyInResponse, or a replication stream's
// CopyBothResponse) the time is the client's, as when a client does not
// read: neither the backend's latency nor a stall. Before, one COPY FROM
// STDIN that a client fed for 3 s opened a lone backend's circuit on
// latency_p99, and two idle pg_receivewal streams after a burst of
// queries opened it as a stall, again and again.
func TestClientPacedStreamsAreNotLatency(t *testing.T) {
	for _, tc := range relayPaths {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cs, p := pooledSetup(t, 1, tc.mode, nil)
			if err := cs[0].Exec(ctx, "CREATE TABLE paced_t(a int); GRANT ALL ON paced_t TO app"); err != nil {
				t.Fatal(err)
			}
			b := p.backend("pg-a")
			p95 := time.Duration(p.config().CircuitBreaker.LatencyThresholdP95Ms) * time.Millisecond
			connect := func() *pgx.Conn {
				conn, err := pgx.Connect(ctx, p.dsn(tc.user, tc.password))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { conn.Close(context.Background()) })
				return conn
			}
			loaders := []*pgx.Conn{connect(), connect()}
			burst := func() {
				t.Helper()
				// The window's volume (minimum_requests), then silence but
				// for the streams.
				for range 25 {
					if _, err := loaders[0].Exec(ctx, "SELECT 1"); err != nil {
						t.Fatal(err)
					}
				}
			}
			unchanged := func(what string, since time.Time) {
				t.Helper()
				if _, err := loaders[0].Exec(ctx, "SELECT 1"); err != nil { // the streams' records are in
					t.Fatal(err)
				}
				st := b.Breaker.Stats(p.clock.Now())
				if st.State != breaker.Closed || !st.Since.Equal(since) || st.P99 >= p95 {
					t.Errorf("after %s: %s since %v (%s %s), p99 %v; want CLOSED since %v, p99 under %v",
						what, st.State, st.Since, st.Reason, st.Detail, st.P99, since, p95)
				}
			}

			since := b.Breaker.Stats(p.clock.Now()).Since
			burst()
			var wg sync.WaitGroup
			errs := make([]error, len(loaders))
			for i, conn := range loaders {
				wg.Go(func() {
					_, errs[i] = conn.PgConn().CopyFrom(ctx, &pacedReader{rows: 25, every: 100 * time.Millisecond}, "COPY paced_t FROM STDIN")
				})
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatalf("paced COPY: %v", err)
				}
			}
			unchanged("two COPYs fed for 2.5 s each", since)

			if tc.user != "postgres" {
				return // pooled roles' replication logins are refused (TestPooledStartupOptions)
			}
			burst()
			host, port, err := net.SplitHostPort(p.Addr)
			if err != nil {
				t.Fatal(err)
			}
			sctx, stop := context.WithTimeout(ctx, 3*time.Second)
			defer stop()
			for i := range 2 {
				dir := t.TempDir()
				cmd := exec.CommandContext(sctx, filepath.Join(cs[0].BinDir, "pg_receivewal"), "-h", host, "-p", port, "-U", "postgres", "-w", "-D", dir, "-n")
				cmd.Env = append(cmd.Environ(), "PGPASSWORD=pg-secret")
				wg.Go(func() {
					if out, err := cmd.CombinedOutput(); sctx.Err() == nil {
						t.Errorf("pg_receivewal %d ended before it was stopped: %v\n%s", i, err, out)
					}
				})
			}
			wg.Wait()
			unchanged("two idle replication streams for 3 s", since)
		})
	}
}

// countingReader closes reached once at reads of r have returned data.
type countingReader struct {
	r       io.Reader
	at, n   int
	reached chan struct{}
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		if c.n++; c.n == c.at {
			close(c.reached)
		}
	}
	return n, err
}

// TestCopyLostWithItsConnection: a pooled client's COPY FROM STDIN whose
// server connection dies under it leaves nothing behind: the client's
// next request is its backend's latency again (a COPY still counted as
// under way would make it the client's time, recorded as 0).
func TestCopyLostWithItsConnection(t *testing.T) {
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cs, p := pooledSetup(t, 1, mode, nil)
			if err := cs[0].Exec(ctx, "CREATE TABLE lost_t(a int); GRANT ALL ON lost_t TO app"); err != nil {
				t.Fatal(err)
			}
			conn := appConn(t, ctx, p)
			loader := &countingReader{r: &pacedReader{rows: 100, every: 50 * time.Millisecond}, at: 20, reached: make(chan struct{})}
			killed := make(chan error, 1)
			go func() {
				admin, err := pgx.Connect(ctx, cs[0].DSN("postgres", "pg-secret", "postgres"))
				if err != nil {
					killed <- err
					return
				}
				defer admin.Close(ctx)
				// A COPY a second long (longer than the statement after
				// it) when its connection dies.
				select {
				case <-loader.reached:
				case <-ctx.Done():
					killed <- ctx.Err()
					return
				}
				for {
					var n int
					err := admin.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'COPY lost_t%' AND pid <> pg_backend_pid()").Scan(&n)
					if err != nil || n > 0 {
						killed <- err
						return
					}
				}
			}()
			_, err := conn.PgConn().CopyFrom(ctx, loader, "COPY lost_t FROM STDIN")
			if err == nil {
				t.Fatal("COPY went through its server connection's end")
			}
			if err := <-killed; err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(ctx, "SELECT pg_sleep(0.6)"); err != nil {
				t.Fatalf("the next request after the lost COPY: %v", err)
			}
			if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatal(err)
			}
			p95 := time.Duration(p.config().CircuitBreaker.LatencyThresholdP95Ms) * time.Millisecond
			if st := p.backend("pg-a").Breaker.Stats(p.clock.Now()); st.P99 < p95 {
				t.Errorf("after a 600 ms statement: p99 %v, want it recorded (≥ %v)", st.P99, p95)
			}
		})
	}
}
