// Command scale measures HeliosProxy's scale figures and prints them as
// Markdown tables, each next to its target.
//
//	go run ./bench/scale [-only memory,cpu,health,status] [-idle-clients 5000] [-cpuprofile cpu.out] [-memprofile heap.out]
//
// The figures:
//   - memory per idle client connection: 5,000 idle clients in transaction
//     pooling (target ≤ 32 KiB each), and 150 in session mode, where every
//     client holds a backend connection;
//   - proxy CPU per 10,000 relayed simple queries (pgbench -S), in session
//     and in transaction mode;
//   - CPU of health monitoring per backend: 100 backends checked every
//     second, with no client traffic (target ≤ 0.1 % of a core each), next
//     to 3 backends, which shows the fixed cost;
//   - latency of SELECT * FROM helios_proxy.circuit_breaker_status with 3
//     and with 1,000 configured backends (target p99 ≤ 1 ms at 1,000).
//
// It starts one throwaway PostgreSQL cluster and, per measurement, the
// proxy in-process, so that the proxy's memory and CPU time are this
// process's own (VmRSS, getrusage). The idle clients connect from a child
// process (this program run again) so that their memory is not counted;
// pgbench runs as a child process too. The backends of one configuration
// all point at the one cluster: backend names must be unique, addresses
// may repeat. Everything is stopped and removed on exit, Ctrl-C included.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/heliosdb/heliosproxy/bench/internal/machine"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgcluster"
)

// Targets from the benchmark issue.
const (
	targetBytesPerIdleClient = 32 << 10                // resident memory per idle client
	targetCorePerBackend     = 0.1                     // % of one core per health-checked backend
	targetStatusP99          = 1000 * time.Microsecond // status query at 1,000 backends
)

// maxConnections is the cluster's max_connections: enough for the session
// mode clients and for one health check connection per backend of the
// largest health-checked configuration, plus pgbench.
const maxConnections = 300

// noisyHealth is the health check interval and timeout where the machine is
// loaded on purpose (5,000 connecting clients, pgbench): the default 500 ms
// timeout could open a circuit in the middle of a measurement, as it did in
// bench/pgbench.
const noisyHealth = 2 * time.Second

var figures = []string{"memory", "cpu", "health", "status"}

type options struct {
	only           []string
	idleClients    int           // transaction mode idle clients
	sessionClients int           // session mode idle clients
	connectWorkers int           // concurrent connects in the child
	queries        int           // pgbench transactions (one SELECT each) per mode
	settle         time.Duration // after the proxy starts, before a health CPU measurement
	window         time.Duration // of a health CPU measurement
	statusQueries  int           // measured status queries per configuration
	memprofile     string
	queryBreakers  bool // cpu: also with query-level breakers on
	cpuRounds      int  // cpu: measurements per configuration, interleaved; medians reported
}

func main() {
	// The child that holds the idle clients; see runClients.
	if len(os.Args) > 1 && os.Args[1] == childArg {
		if err := runClients(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "scale clients:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	only := flag.String("only", strings.Join(figures, ","), "comma-separated figures to measure: "+strings.Join(figures, ", "))
	flag.IntVar(&o.idleClients, "idle-clients", 5000, "idle clients in transaction mode")
	flag.IntVar(&o.sessionClients, "session-clients", 150, "idle clients in session mode (each holds a PostgreSQL connection)")
	flag.IntVar(&o.connectWorkers, "connect-workers", 50, "idle clients connecting at a time")
	flag.IntVar(&o.queries, "queries", 40000, "pgbench transactions (one SELECT each) per pool mode, over 8 clients")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "wait after the proxy starts before measuring health check CPU")
	flag.DurationVar(&o.window, "window", 30*time.Second, "length of one health check CPU measurement")
	flag.BoolVar(&o.queryBreakers, "query-breakers", false, "cpu: also measure each pool mode with [circuit_breaker] query_level_breakers_enabled (no pattern open)")
	flag.IntVar(&o.cpuRounds, "cpu-rounds", 1, "cpu: measurements per configuration, interleaved round by round; the medians are reported")
	flag.IntVar(&o.statusQueries, "status-queries", 2000, "measured status queries per configuration (after 100 warm-up)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (the proxy is in-process) to this file")
	flag.BoolVar(&verbose, "v", false, "log the in-process proxy to stderr, at debug level")
	flag.StringVar(&o.memprofile, "memprofile", "", "write a heap profile to this file while the transaction mode idle clients are connected")
	flag.Parse()
	for name := range strings.SplitSeq(*only, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(figures, name) {
			fmt.Fprintf(os.Stderr, "scale: -only: unknown figure %q (want %s)\n", name, strings.Join(figures, ", "))
			os.Exit(2)
		}
		o.only = append(o.only, name)
	}
	if o.idleClients < 1 || o.sessionClients < 1 || o.sessionClients > maxConnections-20 || o.connectWorkers < 1 || o.queries < 8 || o.statusQueries < 1 || o.window <= 0 {
		fmt.Fprintf(os.Stderr, "scale: -idle-clients, -connect-workers, -status-queries and -window must be positive, -session-clients between 1 and %d, -queries at least 8\n", maxConnections-20)
		os.Exit(2)
	}
	if err := raiseFileLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scale:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "scale:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	start := time.Now()
	load0 := machine.LoadAvg()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Name: "scale", Settings: map[string]string{"max_connections": fmt.Sprint(maxConnections)}})
	if err != nil {
		return err
	}
	defer c.Destroy()

	var out strings.Builder
	for _, fig := range o.only {
		var err error
		switch fig {
		case "memory":
			err = memoryFigure(ctx, c, o, &out)
		case "cpu":
			err = cpuFigure(ctx, c, o, &out)
		case "health":
			err = healthFigure(ctx, c, o, &out)
		case "status":
			err = statusFigure(ctx, c, o, &out)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", fig, err)
		}
	}

	host, _ := os.Hostname()
	fmt.Printf("Machine: %s, %d CPUs (%s), %s; load average %s at the start, %s at the end; %s in all.\n\n",
		host, runtime.NumCPU(), machine.CPUModel(), runtime.Version(), load0, machine.LoadAvg(), time.Since(start).Round(time.Second))
	fmt.Printf("Setup: %s (pgcluster, trust, max_connections %d), one cluster behind every configured backend; HeliosProxy in-process, "+
		"other settings default unless a table says otherwise. CPU figures are the proxy process's own CPU time (getrusage), "+
		"which other load on the machine changes much less than wall-clock time (the kernel samples the split between user and system time; the sum is exact); "+
		"wall-clock figures (TPS, latency) move with that load.\n\n",
		serverVersion(ctx, c), maxConnections)
	fmt.Print(out.String())
	return nil
}

// baseConfig is the proxy's configuration for n backends named b000, b001 …
// that all point at c.
func baseConfig(c *pgcluster.Cluster, n int) config.Config {
	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	for i := range n {
		b := config.DefaultBackend()
		b.Name, b.Host, b.Port = fmt.Sprintf("b%03d", i), c.Host, c.Port
		cfg.Backends.Instances = append(cfg.Backends.Instances, b)
	}
	cfg.HealthChecks.Password = c.Password
	return cfg
}

// withPooling makes c.User a [[users]] entry in transaction pooling: the
// proxy authenticates it itself (the cluster trusts it, as PgBouncer's
// auth_type = trust does) and idle clients hold no server connection.
func withPooling(cfg config.Config, c *pgcluster.Cluster) config.Config {
	cfg.Pool.Mode = "transaction"
	cfg.Users = []config.User{{Name: c.User, AuthMethod: "trust"}}
	return cfg
}

// verbose sends the proxy's log to stderr (-v).
var verbose bool

// proxyLog returns the in-process proxy's logger: stderr at Debug with -v,
// else nothing.
func proxyLog() *slog.Logger {
	if verbose {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// raiseFileLimit raises the soft limit on open files to the hard limit:
// 5,000 clients need 5,000 descriptors on each side.
func raiseFileLimit() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur >= lim.Max {
		return nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", lim.Max, err)
	}
	return nil
}

// cpuTime returns the CPU time this process has used, user and system.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err) // cannot fail with RUSAGE_SELF and a valid pointer
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// verdict compares a figure with its target, which it must not exceed.
func verdict(got, target float64) string {
	if got <= target {
		return "met"
	}
	return fmt.Sprintf("missed by %.0f %%", 100*(got-target)/target)
}

// sleep waits for d or for ctx to end.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
