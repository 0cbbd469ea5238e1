package main

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heliosdb/heliosproxy/bench/internal/inproc"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgcluster"
)

// pgbenchClients and pgbenchThreads are pgbench's -c and -j.
const (
	pgbenchClients = 8
	pgbenchThreads = 2
)

type cpuResult struct {
	mode      string
	queries   int
	user, sys time.Duration
	wall      time.Duration
	tps       float64
}

// perTenK returns CPU milliseconds per 10,000 queries.
func (r cpuResult) perTenK(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond) * 10000 / float64(r.queries)
}

// cpuFigure measures the proxy's CPU time per relayed simple query with
// pgbench -S through it, in session and in transaction mode.
func cpuFigure(ctx context.Context, c *pgcluster.Cluster, o options, out *strings.Builder) error {
	pgbench, err := pgbenchPath(c)
	if err != nil {
		return err
	}
	env := append(os.Environ(), "PGPASSWORD="+c.Password)
	init := exec.CommandContext(ctx, pgbench, "-i", "-s", "1", "-q", "-h", c.Host, "-p", strconv.Itoa(c.Port), "-U", c.User, "postgres")
	init.Env = env
	if b, err := init.CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %v\n%s", err, b)
	}
	perClient := o.queries / pgbenchClients
	modes := []string{"session", "transaction"}
	if o.queryBreakers {
		modes = []string{"session", "session + query breakers", "transaction", "transaction + query breakers"}
	}
	byMode := map[string][]cpuResult{}
	for round := range max(o.cpuRounds, 1) {
		for i := range modes {
			// Every other round in reverse, so that no configuration
			// always runs right after the same one.
			mode := modes[i]
			if round%2 == 1 {
				mode = modes[len(modes)-1-i]
			}
			cfg := baseConfig(c, 1)
			if strings.HasPrefix(mode, "transaction") {
				cfg = withPooling(cfg, c)
			}
			cfg.CircuitBreaker.QueryLevelBreakersEnabled = strings.HasSuffix(mode, "query breakers")
			cfg.HealthChecks.Interval = config.Duration{Duration: noisyHealth}
			cfg.HealthChecks.Timeout = config.Duration{Duration: noisyHealth}
			r, err := measureQueries(ctx, cfg, pgbench, env, c.User, perClient)
			if err != nil {
				return err
			}
			r.mode = mode
			fmt.Fprintf(os.Stderr, "cpu    %-30s %d queries: %.0f ms CPU per 10,000 (user %.0f, system %.0f), %.0f tps\n",
				mode, r.queries, r.perTenK(r.user+r.sys), r.perTenK(r.user), r.perTenK(r.sys), r.tps)
			byMode[mode] = append(byMode[mode], r)
		}
	}
	var results []cpuResult
	for _, mode := range modes {
		results = append(results, medianCPU(byMode[mode]))
	}

	fmt.Fprintf(out, "### Proxy CPU per 10,000 relayed simple queries\n\n")
	fmt.Fprintf(out, "`pgbench -n -S -M simple -c %d -j %d -t %d` (scale 1) through the proxy: one `SELECT` per transaction, %d in all, pgbench's connections included. "+
		"CPU is the proxy process's user + system time over the run (nothing else runs in it meanwhile but the health checks, every %s); "+
		"TPS is wall-clock and moves with the machine's other load. Transaction mode: the user is a [[users]] entry (trust), pool size 20. "+
		"%d measurement(s) per configuration, interleaved; the median by CPU.\n\n",
		pgbenchClients, pgbenchThreads, perClient, perClient*pgbenchClients, noisyHealth, max(o.cpuRounds, 1))
	fmt.Fprintln(out, "| pool mode | queries | CPU ms / 10,000 queries | user ms | system ms | CPU µs / query | cores busy | TPS |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		total := r.user + r.sys
		fmt.Fprintf(out, "| %s | %d | %.0f | %.0f | %.0f | %.1f | %.2f | %.0f |\n",
			r.mode, r.queries, r.perTenK(total), r.perTenK(r.user), r.perTenK(r.sys),
			r.perTenK(total)/10, float64(total)/float64(r.wall), r.tps)
	}
	fmt.Fprintln(out)
	return nil
}

// medianCPU returns the measurement of rs with the median CPU time.
func medianCPU(rs []cpuResult) cpuResult {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b cpuResult) int { return cmp.Compare(a.user+a.sys, b.user+b.sys) })
	return rs[len(rs)/2]
}

// measureQueries runs pgbench -S with perClient transactions per client
// through a proxy started with cfg, and returns the proxy's CPU time.
func measureQueries(ctx context.Context, cfg config.Config, pgbench string, env []string, user string, perClient int) (cpuResult, error) {
	_, addr, stop, err := inproc.Start(ctx, cfg, proxyLog())
	if err != nil {
		return cpuResult{}, err
	}
	defer stop()
	host, port, _ := net.SplitHostPort(addr)
	// Let the first health check connect before the clock starts.
	if err := sleep(ctx, time.Second); err != nil {
		return cpuResult{}, err
	}
	cmd := exec.CommandContext(ctx, pgbench, "-n", "-S", "-M", "simple",
		"-c", strconv.Itoa(pgbenchClients), "-j", strconv.Itoa(pgbenchThreads), "-t", strconv.Itoa(perClient),
		"-h", host, "-p", port, "-U", user, "postgres")
	cmd.Env = env
	u0, s0 := cpuTime()
	t0 := time.Now()
	b, err := cmd.CombinedOutput()
	wall := time.Since(t0)
	u1, s1 := cpuTime()
	if err != nil {
		return cpuResult{}, fmt.Errorf("pgbench: %v\n%s", err, b)
	}
	r := cpuResult{queries: perClient * pgbenchClients, user: u1 - u0, sys: s1 - s0, wall: wall}
	if m := tpsRe.FindSubmatch(b); m != nil {
		r.tps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := processedRe.FindSubmatch(b); m == nil || string(m[1]) != strconv.Itoa(r.queries) {
		return r, fmt.Errorf("pgbench did not process %d transactions:\n%s", r.queries, b)
	}
	return r, nil
}

var (
	tpsRe       = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	processedRe = regexp.MustCompile(`number of transactions actually processed: (\d+)`)
)

// pgbenchPath returns the pgbench next to the server binaries, else the
// one on PATH.
func pgbenchPath(c *pgcluster.Cluster) (string, error) {
	p := filepath.Join(c.BinDir, "pgbench")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	p, err := exec.LookPath("pgbench")
	if err != nil {
		return "", fmt.Errorf("pgbench not found: install postgresql-client")
	}
	return p, nil
}

// serverVersion returns "PostgreSQL N.M" from the server's postgres
// --version.
func serverVersion(ctx context.Context, c *pgcluster.Cluster) string {
	b, err := exec.CommandContext(ctx, filepath.Join(c.BinDir, "postgres"), "--version").Output()
	if err != nil {
		return "PostgreSQL"
	}
	if m := regexp.MustCompile(`\(PostgreSQL\) (\S+)`).FindSubmatch(b); m != nil {
		return "PostgreSQL " + string(m[1])
	}
	return "PostgreSQL"
}
