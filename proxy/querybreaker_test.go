package proxy

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
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

// queryBreakerProxy starts a SCRAM cluster with the role app (password
// app-secret) and a proxy with query-level breakers (slowMs, open) in
// front of it; mode "pooled" pools app's connections in transaction mode,
// "pass-through" relays them.
func queryBreakerProxy(t *testing.T, ctx context.Context, name, mode string, slowMs int, open time.Duration) (*pgtest.Cluster, *runningProxy) {
	t.Helper()
	c := pgtest.New(t, pgtest.Options{Name: name, Auth: "scram-sha-256", Password: "pg-secret"})
	if err := c.CreateUser(ctx, "app", "app-secret"); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, c)
	cfg.CircuitBreaker.QueryLevelBreakersEnabled = true
	cfg.CircuitBreaker.SlowQueryThresholdMs = slowMs
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: open}
	if mode == "pooled" {
		cfg.Pool.Mode = "transaction"
		cfg.Users = []config.User{{Name: "app", Password: "app-secret"}}
	}
	return c, startProxy(t, cfg)
}

// TestQueryBreaker: a slow pattern (SELECT pg_sleep($1), by pgx's
// extended protocol and, with the argument inlined, its simple protocol)
// opens its own breaker; its executions are then refused with 53400
// naming the pattern, while a fast pattern from the same role keeps
// succeeding and the backend's circuit stays CLOSED; once the pattern is
// fast again it recovers through HALF_OPEN. Pass-through and pooled
// (transaction mode) sessions alike.
func TestQueryBreaker(t *testing.T) {
	for _, mode := range []string{"pass-through", "pooled"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			// The slow threshold above latency_threshold_p95_ms (500); open
			// long enough for the checks below to run while it is OPEN.
			c, p := queryBreakerProxy(t, ctx, "qb-"+mode, mode, 1000, 5*time.Second)
			events := p.Subscribe(ctx)

			var (
				mu        sync.Mutex
				seen      []status.Event
				slowArg   atomic.Value // string: the pg_sleep argument
				refused   atomic.Int64
				refusal   atomic.Value // *pgconn.PgError: the first refusal
				fastOK    atomic.Int64
				fastErr   atomic.Value // error: the first error of the fast pattern
				otherErrs atomic.Value // error: the first unexpected error of the slow pattern
			)
			slowArg.Store("1.5")
			// The fast pattern's latencies before the slow one starts
			// (phase 0) and while its breaker is open (phase 1), logged for
			// the note (not asserted: wall-clock speed belongs in
			// benchmarks).
			var phase atomic.Int32
			lat := &latencies{}
			go func() {
				for ev := range events {
					mu.Lock()
					seen = append(seen, ev)
					mu.Unlock()
				}
			}()
			has := func(typ status.EventType) bool {
				mu.Lock()
				defer mu.Unlock()
				return slices.ContainsFunc(seen, func(ev status.Event) bool { return ev.Type == typ })
			}
			wctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			defer func() { stop(); wg.Wait() }()
			// Statements cached by name (Parse once, then Bind/Execute),
			// the simple protocol, and the unnamed statement (Parse, Bind,
			// Execute in one batch, refused after its Parse went out).
			modes := []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec}
			connect := func(mode pgx.QueryExecMode) *pgx.Conn {
				cc, err := pgx.ParseConfig(p.dsn("app", "app-secret"))
				if err != nil {
					t.Fatal(err)
				}
				cc.DefaultQueryExecMode = mode
				conn, err := pgx.ConnectConfig(ctx, cc)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { conn.Close(context.Background()) })
				return conn
			}
			// The fast pattern runs first: until the slow one's executions
			// pass slow_query_threshold_ms they are the backend's latency,
			// which a backend with no other traffic would trip on.
			var slowConns []*pgx.Conn
			for i := range 6 {
				slowConns = append(slowConns, connect(modes[i%3]))
			}
			for i := range 3 {
				conn := connect(modes[i])
				wg.Go(func() {
					for n := 0; wctx.Err() == nil; n++ {
						var v int
						t0 := time.Now()
						err := conn.QueryRow(wctx, "SELECT $1::int + 1", n).Scan(&v)
						switch {
						case err == nil:
							fastOK.Add(1)
							lat.add(phase.Load(), time.Since(t0))
						case wctx.Err() == nil:
							fastErr.CompareAndSwap(nil, err)
						}
					}
				})
			}
			poll := func(what string, cond func() bool) {
				t.Helper()
				for !cond() {
					if ctx.Err() != nil {
						t.Fatalf("waiting for %s: %v", what, ctx.Err())
					}
					time.Sleep(10 * time.Millisecond)
				}
			}

			poll("the fast load", func() bool { return fastOK.Load() >= 300 })
			for _, conn := range slowConns {
				wg.Go(func() {
					for wctx.Err() == nil {
						_, err := conn.Exec(wctx, "SELECT pg_sleep($1)", slowArg.Load().(string))
						var pe *pgconn.PgError
						switch {
						case err == nil || wctx.Err() != nil:
						case errors.As(err, &pe) && pe.Code == "53400":
							refused.Add(1)
							refusal.CompareAndSwap(nil, pe)
							// Pacing, not synchronization: a refused client retries soon.
							time.Sleep(20 * time.Millisecond)
						default:
							otherErrs.CompareAndSwap(nil, err)
						}
					}
				})
			}

			poll("the slow pattern's breaker to open", func() bool { return has(status.QueryBreakerOpened) })
			phase.Store(1)
			okAtOpen := fastOK.Load()
			poll("refused executions of the slow pattern", func() bool { return refused.Load() >= 8 })
			poll("fast queries while the pattern is open", func() bool { return fastOK.Load() > okAtOpen+100 })
			pe := refusal.Load().(*pgconn.PgError)
			// The example is whichever form was seen first: pgx's simple
			// protocol inlines the argument as "pg_sleep( '1.5' )".
			isSleep := func(s string) bool { return strings.Contains(s, "pg_sleep(") && strings.Contains(s, "$1") }
			if !isSleep(pe.Detail) || !strings.Contains(pe.Hint, "Retry after") {
				t.Errorf("refusal: %s DETAIL %q HINT %q; want the pattern in DETAIL and a retry time in HINT", pe.Message, pe.Detail, pe.Hint)
			}
			snap := p.Snapshot()
			if len(snap.QueryBreakers) == 0 || snap.QueryBreakers[0].CircuitState == status.Closed ||
				!isSleep(snap.QueryBreakers[0].Query) {
				t.Errorf("Snapshot().QueryBreakers = %+v; want the pg_sleep pattern first, not CLOSED", snap.QueryBreakers)
			}

			phase.Store(2)
			t.Logf("fast pattern p50/p99: %v / %v before, %v / %v while the slow pattern is open",
				lat.quantile(0, 0.5), lat.quantile(0, 0.99), lat.quantile(1, 0.5), lat.quantile(1, 0.99))

			// The same through SQL, answered by the proxy.
			tx := connect(pgx.QueryExecModeSimpleProtocol)
			var state, query string
			var rejected int64
			if err := tx.QueryRow(ctx, "SELECT circuit_state, query, rejected_total FROM helios_proxy.query_breakers WHERE query LIKE '%pg_sleep%' ORDER BY rejected_total DESC LIMIT 1").Scan(&state, &query, &rejected); err != nil {
				t.Errorf("helios_proxy.query_breakers: %v", err)
			} else if state == "CLOSED" || rejected == 0 {
				t.Errorf("helios_proxy.query_breakers: %s %q rejected %d; want it not CLOSED, with refusals", state, query, rejected)
			}

			// psql and psycopg2 (both inline the argument) get the same.
			if out, err := psql(t, c, p.dsn("app", "app-secret"), "app-secret", "SELECT pg_sleep(1.5)"); err == nil || !strings.Contains(out, "query pattern temporarily refused") {
				t.Errorf("psql while the pattern is open: %v, %q; want the refusal", err, out)
			}
			py := `
import sys, psycopg2
conn = psycopg2.connect(sys.argv[1])
try:
    conn.cursor().execute("SELECT pg_sleep(%s)", (1.5,))
    print("ran")
except psycopg2.Error as e:
    print(e.pgcode, e.diag.message_detail)
`
			if out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", py, p.dsn("app", "app-secret")).CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "53400 ") || !strings.Contains(string(out), "pg_sleep(") {
				t.Errorf("psycopg2 while the pattern is open: %v, %q; want 53400 with the pattern in DETAIL", err, out)
			}

			// A refusal inside a transaction block aborts it, as any error does.
			if _, err := tx.Exec(ctx, "BEGIN"); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, "SELECT pg_sleep(1.5)"); pgCode(err) != "53400" {
				t.Errorf("slow pattern in a transaction block: %v, want 53400", err)
			}
			if _, err := tx.Exec(ctx, "SELECT 1"); pgCode(err) != "25P02" {
				t.Errorf("after the refusal in the block: %v, want 25P02", err)
			}
			if _, err := tx.Exec(ctx, "ROLLBACK"); err != nil {
				t.Errorf("ROLLBACK: %v", err)
			}

			// Fast again: probes pass, and it closes.
			slowArg.Store("0.001")
			poll("the pattern to go HALF_OPEN", func() bool { return has(status.QueryBreakerHalfOpened) })
			poll("the pattern to close", func() bool { return has(status.QueryBreakerClosed) })
			stop()
			wg.Wait()

			if err, _ := fastErr.Load().(error); err != nil {
				t.Errorf("the fast pattern failed: %v", err)
			}
			if err, _ := otherErrs.Load().(error); err != nil {
				t.Errorf("the slow pattern failed otherwise than by refusal: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range seen {
				if ev.Type == status.CircuitOpened || ev.Type == status.CircuitHalfOpened {
					t.Errorf("backend event %s (%s: %s); want the backend CLOSED throughout", ev.Type, ev.Reason, ev.Detail)
				}
			}
			if b := p.Snapshot().Backends[0]; b.CircuitState != status.Closed {
				t.Errorf("backend %s is %s, want CLOSED", b.Name, b.CircuitState)
			}
			var order []string
			for _, ev := range seen {
				if strings.HasPrefix(string(ev.Type), "QueryBreaker") {
					order = append(order, fmt.Sprintf("%s(%s)", ev.Type, ev.Reason))
				}
			}
			t.Logf("pattern events: %v; %d fast queries, %d refusals", order, fastOK.Load(), refused.Load())
		})
	}
}

// TestQueryBreakerLockedTable: executions of a pattern blocked on a table
// the test locks count as slow while they run: its breaker opens before
// any of them ends, new executions are refused at once, the backend stays
// CLOSED, and once the lock is gone the pattern recovers through
// HALF_OPEN.
func TestQueryBreakerLockedTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := pgtest.New(t, pgtest.Options{Name: "qb-locked"})
	if err := c.Exec(ctx, "CREATE TABLE locked (id int)"); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, c)
	cfg.CircuitBreaker.QueryLevelBreakersEnabled = true
	cfg.CircuitBreaker.SlowQueryThresholdMs = 1000
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: 2 * time.Second}
	p := startProxy(t, cfg)
	events := p.Subscribe(ctx)

	holder, err := pgx.Connect(ctx, c.DSN("postgres", c.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	lock, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, "LOCK TABLE locked IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	connect := func() *pgx.Conn {
		conn, err := pgx.Connect(ctx, p.dsn("postgres", c.Password))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	var fastOK atomic.Int64
	var fastErr, lockedErr atomic.Value
	for range 3 {
		conn := connect()
		wg.Go(func() {
			for wctx.Err() == nil {
				_, err := conn.Exec(wctx, "SELECT count(*) FROM locked WHERE id > $1", 0)
				if err != nil && wctx.Err() == nil && pgCode(err) != "53400" {
					lockedErr.CompareAndSwap(nil, err)
				}
				if pgCode(err) == "53400" {
					time.Sleep(20 * time.Millisecond) // pacing a refused client, not synchronization
				}
			}
		})
	}
	for range 2 {
		conn := connect()
		wg.Go(func() {
			for n := 0; wctx.Err() == nil; n++ {
				var v int
				if err := conn.QueryRow(wctx, "SELECT $1::int * 2", n).Scan(&v); err == nil {
					fastOK.Add(1)
				} else if wctx.Err() == nil {
					fastErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	var seen []status.Event
	wait := func(typ status.EventType) status.Event {
		t.Helper()
		for {
			select {
			case ev := <-events:
				seen = append(seen, ev)
				if ev.Type == typ {
					return ev
				}
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %v (events %v)", typ, ctx.Err(), seen)
			}
		}
	}
	opened := wait(status.QueryBreakerOpened)
	if !strings.Contains(opened.Detail, "3 of them still running") {
		t.Errorf("opening: %q; want the 3 executions still running counted", opened.Detail)
	}
	refused := connect()
	start := time.Now()
	if _, err := refused.Exec(ctx, "SELECT count(*) FROM locked WHERE id > 7"); pgCode(err) != "53400" {
		t.Errorf("a new execution while the pattern is open: %v, want 53400", err)
	}
	t.Logf("refused in %v while the table is locked", time.Since(start))
	// Tracked before any execution ended, the pattern's text comes from
	// the next Parse of it (the refused one's).
	if qb := p.Snapshot().QueryBreakers; len(qb) == 0 || !strings.Contains(qb[0].Query, "FROM locked WHERE id > $1") {
		t.Errorf("Snapshot().QueryBreakers = %+v, want the locked table's pattern first", qb)
	}
	okAt := fastOK.Load()
	for fastOK.Load() < okAt+50 {
		if ctx.Err() != nil {
			t.Fatal("the fast pattern stopped while the locked one is open")
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wait(status.QueryBreakerHalfOpened)
	wait(status.QueryBreakerClosed)
	stop()
	wg.Wait()
	if err, _ := fastErr.Load().(error); err != nil {
		t.Errorf("the fast pattern failed: %v", err)
	}
	if err, _ := lockedErr.Load().(error); err != nil {
		t.Errorf("the locked pattern failed otherwise than by refusal: %v", err)
	}
	for _, ev := range seen {
		if ev.Type == status.CircuitOpened || ev.Type == status.CircuitHalfOpened {
			t.Errorf("backend event %s (%s: %s); want the backend CLOSED throughout", ev.Type, ev.Reason, ev.Detail)
		}
	}
	if b := p.Snapshot().Backends[0]; b.CircuitState != status.Closed {
		t.Errorf("backend %s is %s, want CLOSED", b.Name, b.CircuitState)
	}
}

// TestQueryBreakerOpenedNamesQuery: the opening of a pattern tracked from
// its executions (here still running past slow_query_threshold_ms when it
// opens) is announced with the pattern's text, in the event's Query and
// Detail (which the Slack message and circuit_events show), over the
// simple and the extended protocol. Before, the event of a pattern's first
// opening had an empty Query (Slack: "Query pattern refused (its breaker
// is OPEN): –"): its text was known only at its next execution.
func TestQueryBreakerOpenedNamesQuery(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := pgtest.New(t, pgtest.Options{Name: "qb-named"})
	cfg := testConfig(t, c)
	cfg.CircuitBreaker.QueryLevelBreakersEnabled = true
	cfg.CircuitBreaker.SlowQueryThresholdMs = 500
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: 10 * time.Second}
	p := startProxy(t, cfg)
	events := p.Subscribe(ctx)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		// Each mode its own pattern: the column's name differs.
		col := strings.ReplaceAll(mode.String(), " ", "_")
		query := "SELECT pg_sleep($1) AS " + col
		var wg sync.WaitGroup
		for range 3 {
			cc, err := pgx.ParseConfig(p.dsn("postgres", c.Password))
			if err != nil {
				t.Fatal(err)
			}
			cc.DefaultQueryExecMode = mode
			conn, err := pgx.ConnectConfig(ctx, cc)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			wg.Go(func() {
				// Until refused: the opening comes while they run.
				for ctx.Err() == nil {
					_, err := conn.Exec(ctx, query, 0.8)
					if code := pgCode(err); code == "53400" {
						return
					} else if err != nil {
						t.Errorf("%s: %v, want success or 53400", mode, err)
						return
					}
				}
			})
		}
		ev := waitEvent(t, ctx, events, func(ev status.Event) bool { return ev.Type == status.QueryBreakerOpened })
		wg.Wait()
		// pgx's simple protocol inlines the argument as "pg_sleep( 0.8 )".
		if want := "AS " + col; !strings.Contains(ev.Query, want) || !strings.Contains(ev.Detail, want) {
			t.Errorf("%s: QueryBreakerOpened Query %q, Detail %q; want the pattern's text in both", mode, ev.Query, ev.Detail)
		}
	}
}

// TestQueryBreakerRefusalInPipeline: a client pipelines executions of a
// pattern whose breaker is open among others, each with its own Sync, on
// unnamed statements: each gets its own answer in order — its row, or
// the proxy's 53400 — and the session goes on; pass-through and pooled
// (transaction mode). Before, on a pass-through session a refusal while
// the backend still owed answers to earlier batches leaked the proxy's
// internal abort of the batch to the client (22P02 "HeliosProxy: a
// helios_proxy statement failed …") in place of the refusal, and the
// pipeline's answers went out of step.
func TestQueryBreakerRefusalInPipeline(t *testing.T) {
	for _, mode := range []string{"pass-through", "pooled"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			_, p := queryBreakerProxy(t, ctx, "qb-pipe-"+mode, mode, 500, time.Minute)
			events := p.Subscribe(ctx)
			const slow = "SELECT pg_sleep($1)"
			var wg sync.WaitGroup
			for range 3 {
				conn, err := pgx.Connect(ctx, p.dsn("app", "app-secret"))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(context.Background())
				wg.Go(func() {
					for ctx.Err() == nil {
						if _, err := conn.Exec(ctx, slow, 0.8); pgCode(err) == "53400" {
							return
						} else if err != nil {
							t.Errorf("%s: %v", slow, err)
							return
						}
					}
				})
			}
			waitEvent(t, ctx, events, func(ev status.Event) bool { return ev.Type == status.QueryBreakerOpened })
			wg.Wait()

			conn, err := pgx.Connect(ctx, p.dsn("app", "app-secret"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			seq := "FFSFSSF" // F: SELECT $1::int, S: the open pattern
			pl := conn.PgConn().StartPipeline(ctx)
			for i, k := range seq {
				if k == 'S' {
					pl.SendQueryParams(slow, [][]byte{[]byte("0.8")}, nil, nil, nil)
				} else {
					pl.SendQueryParams("SELECT $1::int", [][]byte{[]byte(strconv.Itoa(i))}, nil, nil, nil)
				}
				pl.SendPipelineSync()
			}
			if err := pl.Flush(); err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for i, k := range seq {
				if k == 'S' {
					want = append(want, "53400")
				} else {
					want = append(want, strconv.Itoa(i))
				}
			}
			for i := 0; i < len(seq); {
				res, err := pl.GetResults()
				if err != nil && pgCode(err) == "" {
					t.Fatalf("pipeline, after %q: %v", got, err)
				}
				switch res := res.(type) {
				case *pgconn.PipelineSync:
					i++
				case *pgconn.ResultReader:
					r := res.Read()
					if r.Err != nil {
						got = append(got, pgCode(r.Err))
					} else if len(r.Rows) == 1 {
						got = append(got, string(r.Rows[0][0]))
					}
				default:
					got = append(got, pgCode(err))
				}
			}
			if err := pl.Close(); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("pipeline %s answered %q, want %q", seq, got, want)
			}
			var v int
			if err := conn.QueryRow(ctx, "SELECT 5").Scan(&v); err != nil || v != 5 {
				t.Errorf("after the pipeline: %v, %d; want 5", err, v)
			}
		})
	}
}

// latencies collects durations by phase.
type latencies struct {
	mu sync.Mutex
	by [3][]time.Duration
}

func (l *latencies) add(phase int32, d time.Duration) {
	l.mu.Lock()
	l.by[phase] = append(l.by[phase], d)
	l.mu.Unlock()
}

func (l *latencies) quantile(phase int32, q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := slices.Clone(l.by[phase])
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(q*float64(len(d))))].Round(time.Microsecond)
}
