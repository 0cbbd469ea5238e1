package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// txHangBound is how long one transaction may take before the kill loop
// test calls it a stall: a killed backend's transactions fail within a
// second or two, and nothing else is slow.
const txHangBound = 15 * time.Second

// txHangReconnect: each client reconnects after this many transactions.
const txHangReconnect = 40

// txHangModes are the ways the kill loop's clients talk: pgx's default
// (cached prepared statements), the simple protocol, one round trip per
// statement without preparing, and pipelined batches.
var txHangModes = []string{"cache", "simple", "exec", "batch"}

// TestTransactionModeKillLoop: in transaction mode, backends killed and
// restarted one after another while many clients run short transactions
// never leave a client waiting: each transaction commits or fails with a
// SQLSTATE within txHangBound. A stall dumps every goroutine and what each
// backend's server connections are doing, then fails.
func TestTransactionModeKillLoop(t *testing.T) {
	const (
		clients = 40
		kills   = 24
		rows    = 50
	)
	clusters, p := pooledSetup(t, 3, "transaction", func(c *config.Config) {
		// Connections idle longer than this are checked on checkout,
		// with the pool's lock released meanwhile: make that common.
		c.Pool.ServerCheckDelay = config.Duration{Duration: 20 * time.Millisecond}
		c.Pool.DefaultPoolSize = 8
		// A pool wait longer than the stall bound shows as a stall.
		c.Pool.QueryWaitTimeout = config.Duration{Duration: 2 * txHangBound}
		// Under test is the reaction to killed backends: the machine's own
		// slowness under -race must not open circuits.
		c.CircuitBreaker.LatencyThresholdP95Ms = 10000
		c.CircuitBreaker.LatencyThresholdP99Ms = 20000
		c.Proxy.ConnectTimeout = config.Duration{Duration: 5 * time.Second}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, c := range clusters {
		if err := c.Exec(ctx, fmt.Sprintf(`CREATE TABLE acct (id int PRIMARY KEY, n bigint NOT NULL);
			INSERT INTO acct SELECT g, 0 FROM generate_series(1, %d) g;
			CREATE TABLE ledger (worker int, n int, at int);
			GRANT ALL ON acct, ledger TO app`, rows)); err != nil {
			t.Fatalf("schema on %s: %v", c.Name, err)
		}
		// synchronous_commit is off in pgtest clusters: make the schema
		// survive the first kill.
		if err := c.Exec(ctx, "CHECKPOINT"); err != nil {
			t.Fatal(err)
		}
	}

	var (
		stop      = make(chan struct{})
		stalled   = make(chan struct{})
		stallOnce sync.Once
		commits   atomic.Int64
		failures  atomic.Int64
		reconns   atomic.Int64
		mu        sync.Mutex
		codes     = make(map[string]int) // failures by SQLSTATE
		noCode    []string               // failures that reached a connected client without a SQLSTATE
	)
	stall := func(w int, step string, err error) {
		stallOnce.Do(func() {
			fmt.Fprintf(os.Stderr, "=== worker %d stalled for %s at %s: %v\n", w, txHangBound, step, err)
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
			for _, c := range clusters {
				fmt.Fprintf(os.Stderr, "=== pg_stat_activity of %s (port %d)\n%s", c.Name, c.Port, activity(c))
			}
			t.Errorf("worker %d: transaction stalled for %s at %s: %v (goroutines and pg_stat_activity on stderr)", w, txHangBound, step, err)
			close(stalled)
		})
	}
	var workers sync.WaitGroup
	dsn := p.dsn("app", "app-secret")
	for w := range clients {
		workers.Go(func() {
			mode := txHangModes[w%len(txHangModes)]
			var conn *pgx.Conn
			defer func() {
				if conn != nil {
					conn.Close(context.Background())
				}
			}()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-stalled:
					return
				default:
				}
				if conn == nil || conn.IsClosed() {
					c, err := txHangConnect(ctx, dsn, mode)
					switch {
					case err == nil:
					case ctx.Err() != nil:
						return
					case errors.Is(err, context.DeadlineExceeded):
						stall(w, "connect", err)
						return
					default:
						failures.Add(1)
						continue // every backend may be down for a moment
					}
					conn = c
					reconns.Add(1)
				}
				if n%txHangReconnect == txHangReconnect-1 {
					// New sessions too meet the kills: their startup takes
					// a connection and sets their parameters on it.
					conn.Close(ctx)
					conn = nil
					continue
				}
				tctx, tcancel := context.WithTimeout(ctx, txHangBound)
				step, err := txHangTransaction(tctx, conn, mode, w, n, rows)
				tcancel()
				switch {
				case err == nil:
					commits.Add(1)
				case ctx.Err() != nil:
					return
				case errors.Is(tctx.Err(), context.DeadlineExceeded):
					stall(w, step, err)
					return
				default:
					failures.Add(1)
					code := pgCode(err)
					mu.Lock()
					codes[code]++
					if code == "" && !conn.IsClosed() {
						noCode = append(noCode, fmt.Sprintf("worker %d (%s) at %s: %v", w, mode, step, err))
					}
					mu.Unlock()
				}
			}
		})
	}

	killErr := txHangKillLoop(ctx, t, p, clusters, kills, stalled)
	close(stop)
	workers.Wait()
	if killErr != nil {
		t.Errorf("kill loop: %v", killErr)
	}
	t.Logf("%d kills; %d transactions committed, %d failed %v, %d connects", kills, commits.Load(), failures.Load(), codes, reconns.Load())
	if len(noCode) > 0 {
		t.Errorf("%d failures on open connections without a SQLSTATE, e.g. %s", len(noCode), noCode[0])
	}
	if commits.Load() < clients*kills {
		t.Errorf("only %d transactions committed during %d kills", commits.Load(), kills)
	}
}

// txHangKillLoop kills the backends in turn, each once its circuit has
// closed again after the previous kill, and restarts it once its circuit
// opened. It stops early when a worker stalled.
func txHangKillLoop(ctx context.Context, t *testing.T, p *runningProxy, clusters []*pgtest.Cluster, kills int, stalled <-chan struct{}) error {
	sub, cancel := context.WithCancel(ctx)
	defer cancel()
	events := p.Subscribe(sub)
	wait := func(typ status.EventType, name string, within time.Duration) error {
		timer := time.NewTimer(within)
		defer timer.Stop()
		for {
			select {
			case ev := <-events:
				if ev.Type == typ && ev.Backend == name {
					return nil
				}
			case <-stalled:
				return nil
			case <-timer.C:
				return fmt.Errorf("no %s event for %s within %s", typ, name, within)
			}
		}
	}
	names := make([]string, len(clusters))
	for i, b := range p.Snapshot().Backends {
		names[i] = b.Name
	}
	for k := range kills {
		select {
		case <-stalled:
			return nil
		default:
		}
		i := k % len(clusters)
		if err := clusters[i].Kill(); err != nil {
			return err
		}
		if err := wait(status.CircuitOpened, names[i], 30*time.Second); err != nil {
			return err
		}
		if err := clusters[i].Restart(ctx); err != nil {
			return err
		}
		if err := wait(status.CircuitClosed, names[i], time.Minute); err != nil {
			return err
		}
		t.Logf("kill %d: %s killed, isolated, restarted and closed again", k+1, names[i])
	}
	return nil
}

// txHangConnect connects a client that talks in mode.
func txHangConnect(ctx context.Context, dsn, mode string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	switch mode {
	case "simple":
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	case "exec":
		cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	cctx, cancel := context.WithTimeout(ctx, txHangBound)
	defer cancel()
	return pgx.ConnectConfig(cctx, cfg)
}

// txHangTransaction runs one short transaction and returns the step it
// ended at.
func txHangTransaction(ctx context.Context, conn *pgx.Conn, mode string, w, n, rows int) (string, error) {
	id := (w*7+n)%rows + 1
	tx, err := conn.Begin(ctx)
	if err != nil {
		return "begin", err
	}
	step := "update"
	err = func() error {
		if mode == "batch" {
			b := &pgx.Batch{}
			b.Queue("UPDATE acct SET n = n + 1 WHERE id = $1", id)
			b.Queue("INSERT INTO ledger VALUES ($1, $2, inet_server_port())", w, n)
			step = "batch"
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
		} else {
			if _, err := tx.Exec(ctx, "UPDATE acct SET n = n + 1 WHERE id = $1", id); err != nil {
				return err
			}
			step = "insert"
			if _, err := tx.Exec(ctx, "INSERT INTO ledger VALUES ($1, $2, inet_server_port())", w, n); err != nil {
				return err
			}
		}
		step = "commit"
		return tx.Commit(ctx)
	}()
	if err != nil {
		// The rollback's own failure is of no interest (the connection may
		// be gone), only whether it stalled.
		if rb := tx.Rollback(ctx); rb != nil && ctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
			return "rollback", fmt.Errorf("%w; rollback: %w", err, rb)
		}
	}
	return step, err
}

// activity lists what app's server connections on c are doing.
func activity(c *pgtest.Cluster) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, c.DSN("postgres", c.Password, "postgres"))
	if err != nil {
		return fmt.Sprintf("not reachable: %v\n", err)
	}
	defer conn.Close(ctx)
	res := conn.ExecParams(ctx, `SELECT pid, coalesce(state, ''), coalesce(backend_xid::text, ''),
		coalesce(extract(epoch FROM now() - state_change)::int::text, ''), query
		FROM pg_stat_activity WHERE usename = 'app' ORDER BY state_change`, nil, nil, nil, nil).Read()
	if res.Err != nil {
		return fmt.Sprintf("query failed: %v\n", res.Err)
	}
	var out bytes.Buffer
	for _, r := range res.Rows {
		f := make([]string, len(r))
		for i, v := range r {
			f[i] = string(v)
		}
		fmt.Fprintf(&out, "  pid %s %-20s xid %-8s for %ss: %s\n", f[0], f[1], f[2], f[3], strings.Join(strings.Fields(f[4]), " "))
	}
	return out.String()
}
