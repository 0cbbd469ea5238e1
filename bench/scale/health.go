package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/heliosdb/heliosproxy/bench/internal/inproc"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgcluster"
	"github.com/heliosdb/heliosproxy/proxy"
	"github.com/heliosdb/heliosproxy/status"
)

// idleRun is one configuration whose idle CPU is measured.
type idleRun struct {
	backends int     // 0: no proxy, the bench process alone
	checks   bool    // health checks on, at the default interval and timeout
	window   float64 // share of -window to measure for
}

var idleRuns = []idleRun{
	{0, false, 0.25},
	{3, true, 1},
	{100, true, 1},
	// Without checks, what is left is the 10 ms breaker ticker's work for
	// every backend, which the checked runs include.
	{100, false, 0.5},
	{1000, false, 0.5},
}

type idleResult struct {
	idleRun
	user, sys time.Duration
	wall      time.Duration
	notClosed int // backends whose circuit was not CLOSED at the end
}

// core returns the CPU time as a percentage of one core.
func (r idleResult) core() float64 { return 100 * float64(r.user+r.sys) / float64(r.wall) }

// healthFigure measures the proxy's CPU with no client traffic, with the
// health checks of 3 and of 100 backends at the default 1 s interval, and
// without checks for 100 and 1,000 backends.
func healthFigure(ctx context.Context, c *pgcluster.Cluster, o options, out *strings.Builder) error {
	res := map[idleRun]idleResult{}
	for _, run := range idleRuns {
		r, err := measureIdleCPU(ctx, c, run, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "health %4d backends, checks %-5v: %.2f %% of a core; %d not CLOSED\n",
			run.backends, run.checks, r.core(), r.notClosed)
		res[run] = r
	}

	fmt.Fprintf(out, "### CPU of health monitoring per backend\n\n")
	fmt.Fprintf(out, "No client traffic. Every backend entry (b000, b001 …) points at the one cluster, so each has its own health check connection to it. "+
		"Health checks at the defaults: every 1 s, 500 ms timeout, `SELECT 1` and then the connection and replication lag query; "+
		"checked backends are added %d at a time by Reload, each batch once the previous one passed its first check (100 connection starts at once "+
		"on one cluster of this loaded machine took longer than the 500 ms timeout, every second again). "+
		"After the last, the proxy settles for %s, then the process's CPU time (user + system, getrusage) is measured over the window; "+
		"the cluster's own CPU is not counted. Rows without checks show the 10 ms breaker ticker alone, which the checked rows include; "+
		"the first row is the bench process with no proxy.\n\n", addStep, o.settle)
	fmt.Fprintln(out, "| backends | health checks | window | % of one core | user ms/s | system ms/s | % of a core per backend | circuits not CLOSED | target ≤ 0.1 % per backend |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|")
	for _, run := range idleRuns {
		r := res[run]
		name, per, checks, target := "none (no proxy)", "", "", ""
		if run.backends > 0 {
			name = fmt.Sprint(run.backends)
			per = fmt.Sprintf("%.3f", r.core()/float64(run.backends))
			checks = "off"
			if run.checks {
				checks = "1 s"
			}
		}
		if run.backends == 100 && run.checks {
			target = verdict(r.core()/float64(run.backends), targetCorePerBackend)
		}
		fmt.Fprintf(out, "| %s | %s | %s | %.2f | %.2f | %.2f | %s | %d | %s |\n",
			name, checks, r.wall.Round(time.Second), r.core(),
			msPerSec(r.user, r.wall), msPerSec(r.sys, r.wall), per, r.notClosed, target)
	}
	fmt.Fprintln(out)
	none, three, hundred := res[idleRuns[0]], res[idleRuns[1]], res[idleRuns[2]]
	hundredOff, thousandOff := res[idleRuns[3]], res[idleRuns[4]]
	marginal := (hundred.core() - three.core()) / 97
	fmt.Fprintf(out, "Fixed cost (3 checked backends − no proxy): %.2f %% of a core. "+
		"Marginal cost of a checked backend, (100 − 3 checked) / 97: %.3f %% of a core (target ≤ %.1f %%: %s); "+
		"of that, the checks, (100 checked − 100 unchecked) / 100: %.3f %%, and the breaker ticker, (1,000 − 100 unchecked) / 900: %.4f %%.\n\n",
		three.core()-none.core(), marginal, targetCorePerBackend, verdict(marginal, targetCorePerBackend),
		(hundred.core()-hundredOff.core())/100, (thousandOff.core()-hundredOff.core())/900)
	return nil
}

// measureIdleCPU starts the proxy for run, lets it settle and measures the
// process's CPU time over the run's window.
func measureIdleCPU(ctx context.Context, c *pgcluster.Cluster, run idleRun, o options) (r idleResult, err error) {
	r.idleRun = run
	if run.backends > 0 {
		var srv *proxy.Server
		var stop func() error
		srv, stop, err = startChecked(ctx, c, run.backends, run.checks)
		defer func() {
			if srv == nil {
				return
			}
			for _, b := range srv.Snapshot().Backends {
				if b.CircuitState != status.Closed {
					r.notClosed++
				}
			}
			if serr := stop(); err == nil {
				err = serr
			}
		}()
		if err != nil {
			return r, err
		}
	}
	if err := sleep(ctx, o.settle); err != nil {
		return r, err
	}
	u0, s0 := cpuTime()
	t0 := time.Now()
	err = sleep(ctx, time.Duration(float64(o.window)*run.window))
	u1, s1 := cpuTime()
	r.wall, r.user, r.sys = time.Since(t0), u1-u0, s1-s0
	return r, err
}

// addStep is how many health-checked backends are added at a time.
const addStep = 10

// startChecked starts the proxy with n backends that all point at c. With
// health checks, it starts with addStep of them and adds addStep more by
// Reload each time all have passed a check: every checker opens its
// connection when it starts, and 100 PostgreSQL connection starts at once
// on one loaded machine take longer than the 500 ms timeout, again and
// again, since all checkers retry together. Against 100 servers, 100
// connects at once would be nothing.
func startChecked(ctx context.Context, c *pgcluster.Cluster, n int, checks bool) (*proxy.Server, func() error, error) {
	k := n
	if checks {
		k = min(n, addStep)
	}
	cfg := func() config.Config {
		cfg := baseConfig(c, k)
		cfg.HealthChecks.Enabled = checks
		return cfg
	}
	srv, _, stop, err := inproc.Start(ctx, cfg(), proxyLog())
	if err != nil {
		return nil, nil, err
	}
	srv.SetConfigSource(func() (config.Config, []config.Warning, error) {
		next := cfg()
		return next, nil, next.Validate()
	})
	for checks {
		if err := waitChecked(ctx, srv, k); err != nil {
			return srv, stop, err
		}
		if k == n {
			break
		}
		k = min(n, k+addStep)
		if _, err := srv.Reload(ctx); err != nil {
			return srv, stop, fmt.Errorf("add backends up to %d: %w", k, err)
		}
	}
	return srv, stop, nil
}

// waitChecked waits until the proxy has n backends and each has passed a
// health check (its max_connections is known) with its circuit CLOSED.
func waitChecked(ctx context.Context, srv *proxy.Server, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting, open []string
		backends := srv.Snapshot().Backends
		for _, b := range backends {
			switch {
			case b.CircuitState != status.Closed:
				open = append(open, b.Name)
			case b.MaxConnections == 0:
				waiting = append(waiting, b.Name)
			}
		}
		if len(open) > 0 {
			return fmt.Errorf("circuits opened while the health checks started: %s", strings.Join(open, ", "))
		}
		if len(backends) == n && len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("backends without a passing health check after 30s: %s", strings.Join(waiting, ", "))
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// msPerSec returns d in milliseconds per second of wall.
func msPerSec(d, wall time.Duration) float64 {
	return float64(d) / float64(time.Millisecond) / wall.Seconds()
}
