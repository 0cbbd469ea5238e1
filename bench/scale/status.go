package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/bench/internal/inproc"
	"github.com/heliosdb/heliosproxy/bench/internal/machine"
	"github.com/heliosdb/heliosproxy/internal/pgcluster"
)

// statusQuery is the query the issue times.
const statusQuery = "SELECT * FROM helios_proxy.circuit_breaker_status"

// statusWarmUp queries run before the measured ones.
const statusWarmUp = 100

type statusResult struct {
	backends int
	checks   bool
	times    []time.Duration // sorted
	cpu      time.Duration   // process CPU time over the measured queries: proxy and pgx client
}

func (r statusResult) pct(p float64) time.Duration {
	return r.times[min(len(r.times)-1, int(p*float64(len(r.times))))]
}

// statusFigure times the status query through the proxy, over one pgx
// connection with the simple protocol, with 3 and with 1,000 backends.
func statusFigure(ctx context.Context, c *pgcluster.Cluster, o options, out *strings.Builder) error {
	var results []statusResult
	for _, n := range []int{3, 1000} {
		cfg := baseConfig(c, n)
		// 1,000 health check connections to one cluster are more than it
		// takes; the status has the same columns without them.
		cfg.HealthChecks.Enabled = n <= 100
		_, addr, stop, err := inproc.Start(ctx, cfg, proxyLog())
		if err != nil {
			return err
		}
		r, err := timeStatus(ctx, addr, c, n, o.statusQueries)
		if serr := stop(); err == nil {
			err = serr
		}
		if err != nil {
			return err
		}
		r.checks = cfg.HealthChecks.Enabled
		fmt.Fprintf(os.Stderr, "status %4d backends: p50 %s p99 %s max %s\n", n, r.pct(0.5), r.pct(0.99), r.times[len(r.times)-1])
		results = append(results, r)
	}

	fmt.Fprintf(out, "### Status query latency\n\n")
	fmt.Fprintf(out, "`%s` through the proxy (a session on the database postgres, so relayed to a backend; the proxy answers this query itself), "+
		"pgx %s over one connection, simple protocol, every row read; %d queries after %d warm-up. "+
		"Latencies are wall-clock and grow with the machine's other load; CPU per query is the process's CPU time over the measured queries divided by their number, "+
		"proxy and pgx client together (same process).\n\n",
		statusQuery, machine.PGXVersion(), o.statusQueries, statusWarmUp)
	fmt.Fprintln(out, "| backends | health checks | p50 µs | p95 µs | p99 µs | max µs | CPU µs / query | target p99 ≤ 1 ms at 1,000 backends |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		target := "n/a"
		if r.backends == 1000 {
			target = verdict(float64(r.pct(0.99)), float64(targetStatusP99))
		}
		checks := "off"
		if r.checks {
			checks = "1 s"
		}
		fmt.Fprintf(out, "| %d | %s | %d | %d | %d | %d | %d | %s |\n", r.backends, checks,
			r.pct(0.5).Microseconds(), r.pct(0.95).Microseconds(), r.pct(0.99).Microseconds(), r.times[len(r.times)-1].Microseconds(),
			(r.cpu / time.Duration(len(r.times))).Microseconds(), target)
	}
	fmt.Fprintln(out)
	return nil
}

// timeStatus runs the status query through the proxy on addr and returns
// the sorted latencies of the measured queries.
func timeStatus(ctx context.Context, addr string, c *pgcluster.Cluster, backends, n int) (statusResult, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://%s@%s/postgres?sslmode=disable", c.User, addr))
	if err != nil {
		return statusResult{}, err
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return statusResult{}, err
	}
	defer conn.Close(context.Background())
	r := statusResult{backends: backends}
	var u0, s0 time.Duration
	for i := range statusWarmUp + n {
		if i == statusWarmUp {
			u0, s0 = cpuTime()
		}
		start := time.Now()
		rows, err := conn.Query(ctx, statusQuery)
		if err != nil {
			return r, err
		}
		k := 0
		for rows.Next() {
			k++
		}
		if err := rows.Err(); err != nil {
			return r, err
		}
		d := time.Since(start)
		if k != backends {
			return r, fmt.Errorf("status query returned %d rows, want %d", k, backends)
		}
		if i >= statusWarmUp {
			r.times = append(r.times, d)
		}
	}
	u1, s1 := cpuTime()
	r.cpu = u1 - u0 + s1 - s0
	slices.Sort(r.times)
	return r, nil
}
