// Command pgbench compares pgbench through HeliosProxy and through PgBouncer
// with pgbench straight to PostgreSQL, rounds interleaved so that machine
// noise hits all three alike, and prints the medians as Markdown tables.
//
//	go run ./bench/pgbench [-mode session|transaction] [-rounds 5] [-duration 10s] [-only '-S -c 8']
//	go run ./bench/pgbench -current bin/heliosproxy -baseline /tmp/heliosproxy-old
//
// It starts a throwaway PostgreSQL cluster, the proxy in-process and
// PgBouncer (as the user pgcluster runs servers as, when root), both in the
// same pool mode with the same pool size in front of the one cluster, and
// stops and removes everything on exit, Ctrl-C included.
// scripts/ensure-deps.sh --bench installs PgBouncer; scripts/bench.sh
// (make bench) runs this command and writes its output into
// docs/benchmarks.md.
//
// -baseline adds a heliosproxy binary built from another commit as the
// target heliosproxy@base, in the same rounds, and a table comparing the
// two; -current runs the version under test from a binary too.
// scripts/bench-compare.sh (make bench-compare) builds both and runs that.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/heliosdb/heliosproxy/bench/internal/inproc"
	"github.com/heliosdb/heliosproxy/bench/internal/machine"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgcluster"
	heliosproxy "github.com/heliosdb/heliosproxy/proxy"
)

type scenario struct {
	name string
	args []string
}

// scenarios are the pgbench runs, all on the simple query protocol unless
// their name says otherwise.
var scenarios = []scenario{
	{"-S -c 1", []string{"-S", "-c", "1", "-j", "1"}},
	{"-S -c 8", []string{"-S", "-c", "8", "-j", "2"}},
	{"-S -c 32", []string{"-S", "-c", "32", "-j", "2"}},
	{"tpcb -c 8", []string{"-c", "8", "-j", "2"}},
	{"-S -C -c 8", []string{"-S", "-C", "-c", "8", "-j", "2"}},
	{"-S -c 8 -M extended", []string{"-S", "-M", "extended", "-c", "8", "-j", "2"}},
	{"-S -c 8 -M prepared", []string{"-S", "-M", "prepared", "-c", "8", "-j", "2"}},
}

// txScenarios are the runs in transaction mode. No -M prepared: PgBouncer
// 1.18 keeps no prepared statements across transactions.
var txScenarios = []scenario{
	{"-S -c 1", []string{"-S", "-c", "1", "-j", "1"}},
	{"-S -c 8", []string{"-S", "-c", "8", "-j", "2"}},
	{"-S -c 32", []string{"-S", "-c", "32", "-j", "2"}},
	{"tpcb -c 8", []string{"-c", "8", "-j", "2"}},
	{"-S -C -c 8", []string{"-S", "-C", "-c", "8", "-j", "2"}},
}

// In session mode both proxies get enough server connections for every
// client of the largest scenario, so that no client waits for one; in
// transaction mode they share the default pool of 20.
const (
	sessionPoolSize = 64
	txPoolSize      = 20
	maxClients      = 200
)

// healthTimeout is HeliosProxy's health check interval and timeout here
// (defaults 1s and 500ms).
const healthTimeout = 2 * time.Second

type target struct {
	name, port string
	cpu        func() time.Duration // the proxy's CPU time so far; nil for direct
}

// baseTarget is the target of -baseline.
const baseTarget = "heliosproxy@base"

// pooled lists pgbench's user in [[users]], so that HeliosProxy
// authenticates it and pools its server connections as PgBouncer does;
// without it, session mode is HeliosProxy's pass-through relay, which opens
// a backend connection per client connection.
var queryBreakers = flag.Bool("query-breakers", false, "run the HeliosProxy under test with [circuit_breaker] query_level_breakers_enabled (no pattern open); the -baseline target keeps them off, so that -baseline with a binary of this tree measures their cost")

var pooled = flag.Bool("pooled", true, "session mode: pool the user's server connections ([[users]]) as PgBouncer does; false measures the pass-through relay")

// backendTLS makes the cluster TLS-only: both proxies then reach it over
// TLS (HeliosProxy's [backends] sslmode and PgBouncer's server_tls_sslmode
// "require"), and the direct target connects with sslmode=require.
var backendTLS = flag.Bool("backend-tls", false, "TLS-only cluster (hostssl): HeliosProxy sslmode = \"require\", PgBouncer server_tls_sslmode = require, the direct target sslmode=require")

// clientTLS has pgbench reach both proxies over TLS (sslmode=require):
// HeliosProxy with [proxy] tls_cert_file, PgBouncer with
// client_tls_sslmode = allow (its readiness check is plaintext), both with one throwaway certificate
// (clientCert, clientKey); the direct target stays in plaintext.
var (
	clientTLS             = flag.Bool("client-tls", false, "clients reach both proxies over TLS (pgbench with sslmode=require): HeliosProxy [proxy] tls_cert_file, PgBouncer client_tls_sslmode = allow; direct in plaintext")
	clientCert, clientKey string
)

// The heliosproxy binaries of -current and -baseline; empty when not given.
var (
	currentBin = flag.String("current", "", "run the HeliosProxy under test from `PATH`, a heliosproxy binary (usually built from this tree), as a child process (PATH run --config FILE) instead of in-process. "+
		"Give it with -baseline: both versions then run alike, each in a process of its own built the same way, so that a difference between them is the code's, "+
		"not that of sharing this command's process, heap and runtime; -cpuprofile needs the in-process proxy")
	baselineBin = flag.String("baseline", "", "also measure `PATH`, a heliosproxy binary built from another commit, as the target "+
		baseTarget+" in the same rounds: a child process (PATH run --config FILE) with this run's configuration and proxy.workers, "+
		"written with only the keys that differ from the defaults so that an older binary reads it; a table compares it with HeliosProxy")
)

// baseWorkers runs -baseline with another proxy.workers, to compare
// settings of one binary (give it as both -current and -baseline).
var baseWorkers = flag.Int("baseline-workers", -1, "proxy.workers of the -baseline target; -1: the same as -workers")

func main() {
	rounds := flag.Int("rounds", 5, "rounds per scenario and target")
	duration := flag.Duration("duration", 10*time.Second, "length of one pgbench run")
	only := flag.String("only", "", "run only the scenarios whose name contains this")
	mode := flag.String("mode", "session", "pool mode of both proxies: session or transaction")
	workers := flag.Int("workers", 1, "HeliosProxy's proxy.workers (threads running Go code, GOMAXPROCS); 1 matches PgBouncer's single thread, 0 means one per CPU")
	floor := flag.Bool("floor", false, "also measure two minimal Go relays (bench/pgbench/floor.go) as the floor of a Go relay on this machine")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (the proxy is in-process) to this file")
	memprofile := flag.String("memprofile", "", "write the allocations of the whole run (the proxy is in-process; go tool pprof -sample_index=alloc_space) to this file")
	flag.Parse()
	if (*cpuprofile != "" || *memprofile != "") && *currentBin != "" {
		fmt.Fprintln(os.Stderr, "pgbench: -cpuprofile and -memprofile profile the in-process proxy, which -current replaces")
		os.Exit(2)
	}
	if *workers > 0 {
		// The proxy runs in this process, as `heliosproxy run` applies
		// proxy.workers.
		runtime.GOMAXPROCS(*workers)
	}
	poolSize := sessionPoolSize
	switch *mode {
	case "session":
	case "transaction":
		scenarios, poolSize = txScenarios, txPoolSize
	default:
		fmt.Fprintf(os.Stderr, "pgbench: -mode must be session or transaction, got %q\n", *mode)
		os.Exit(2)
	}
	if *only != "" {
		scenarios = slices.DeleteFunc(scenarios, func(sc scenario) bool { return !strings.Contains(sc.name, *only) })
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgbench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "pgbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *mode, poolSize, *workers, *rounds, *duration, *floor); err != nil {
		fmt.Fprintln(os.Stderr, "pgbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
	if *memprofile != "" {
		if err := writeAllocs(*memprofile); err != nil {
			fmt.Fprintln(os.Stderr, "pgbench:", err)
			os.Exit(1)
		}
	}
}

// writeAllocs writes the allocation profile of this process to file.
func writeAllocs(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func run(ctx context.Context, mode string, poolSize, workers, rounds int, duration time.Duration, floor bool) error {
	start := time.Now()
	load0 := machine.LoadAvg()
	opts := pgcluster.Options{Name: "bench", Settings: map[string]string{"max_connections": "200"}}
	if *backendTLS {
		var remove func()
		var err error
		if opts, remove, err = pgcluster.WithThrowawayTLS(opts); err != nil {
			return err
		}
		defer remove()
	}
	if *clientTLS {
		dir, err := os.MkdirTemp("", "heliosbench-pki-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		pki, err := pgcluster.NewPKI(dir, []string{"127.0.0.1"}, "postgres")
		if err != nil {
			return err
		}
		clientCert, clientKey = pki.ServerCert, pki.ServerKey
	}
	c, err := pgcluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Destroy()
	pgbench := filepath.Join(c.BinDir, "pgbench")
	if _, err := os.Stat(pgbench); err != nil {
		if pgbench, err = exec.LookPath("pgbench"); err != nil {
			return fmt.Errorf("pgbench not found: install postgresql-client")
		}
	}

	cfg := proxyConfig(c, mode, poolSize, workers)
	under := cfg // the HeliosProxy under test's
	under.CircuitBreaker.QueryLevelBreakersEnabled = *queryBreakers
	var proxyPort, proxyDesc, baseDesc string
	var proxyCPU func() time.Duration
	if *currentBin == "" {
		_, addr, stop, err := inproc.Start(ctx, under, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			return err
		}
		defer stop()
		_, proxyPort, _ = net.SplitHostPort(addr)
		proxyDesc = "in-process"
		proxyCPU = selfCPU
	} else {
		p, version, err := startHeliosProxy(ctx, "heliosproxy", *currentBin, filepath.Join(c.Dir, "heliosproxy"), under)
		if err != nil {
			return err
		}
		defer p.Stop()
		proxyPort, proxyDesc = strconv.Itoa(p.port), describeChild(*currentBin, version)
		proxyCPU = procCPU(p.cmd.Process.Pid)
	}

	bouncer, bouncerVersion, err := startPgBouncer(ctx, c, mode, poolSize, maxClients)
	if err != nil {
		return err
	}
	defer bouncer.Stop()

	targets := []target{
		{"direct", strconv.Itoa(c.Port), nil},
		{"heliosproxy", proxyPort, proxyCPU},
		{"pgbouncer", strconv.Itoa(bouncer.port), procCPU(bouncer.cmd.Process.Pid)},
	}
	if *baselineBin != "" {
		bcfg := cfg
		if *baseWorkers >= 0 {
			bcfg.Proxy.Workers = *baseWorkers
		}
		p, version, err := startHeliosProxy(ctx, baseTarget, *baselineBin, filepath.Join(c.Dir, baseTarget), bcfg)
		if err != nil {
			return err
		}
		defer p.Stop()
		// Next to HeliosProxy, so that the rotation puts the two next to each other.
		targets = slices.Insert(targets, 2, target{baseTarget, strconv.Itoa(p.port), procCPU(p.cmd.Process.Pid)})
		baseDesc = describeChild(*baselineBin, version)
		if *baseWorkers >= 0 {
			baseDesc += fmt.Sprintf(" with proxy.workers = %d", *baseWorkers)
		}
	}
	if floor {
		ft, stopFloor, err := startFloor(net.JoinHostPort(c.Host, strconv.Itoa(c.Port)))
		if err != nil {
			return err
		}
		defer stopFloor()
		targets = append(targets, ft...)
	}
	env := append(os.Environ(), "PGPASSWORD="+c.Password)
	base := []string{"-h", "127.0.0.1", "-U", "postgres", "postgres"}
	init := exec.CommandContext(ctx, pgbench, append([]string{"-i", "-s", "10", "-q", "-p", targets[0].port}, base...)...)
	init.Env = env
	if *backendTLS {
		init.Env = append(env, "PGSSLMODE=require")
	}
	if out, err := init.CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %v\n%s", err, out)
	}

	tps := map[string][]float64{}
	lat := map[string][]float64{}
	cpu := map[string][]float64{}    // µs of the proxy's CPU per transaction
	ratios := map[string][]float64{} // scenario → HeliosProxy/base TPS of each round
	var failed []string
	for r := range rounds {
		for _, sc := range scenarios {
			round := map[string]float64{} // target → TPS
			// Rotate which target goes first, and run every other round in
			// reverse, so that none always runs right after the same one
			// (a target run right after direct lost ~15%: an A/A run of one
			// binary in two slots read 0.84 on -S -c 8 transaction mode).
			for i := range targets {
				k := i
				if r%2 == 1 {
					k = len(targets) - 1 - i
				}
				tg := targets[(k+r)%len(targets)]
				args := append([]string{"-n", "-T", strconv.Itoa(int(duration.Seconds())), "-p", tg.port}, sc.args...)
				cmd := exec.CommandContext(ctx, pgbench, append(args, base...)...)
				cmd.Env = env
				if *backendTLS && tg.name == "direct" || *clientTLS && tg.name != "direct" {
					cmd.Env = append(env, "PGSSLMODE=require")
				}
				var cpu0 time.Duration
				if tg.cpu != nil {
					cpu0 = tg.cpu()
				}
				out, err := cmd.CombinedOutput()
				if ctx.Err() != nil {
					return ctx.Err()
				}
				key := sc.name + "|" + tg.name
				if err != nil {
					// One failed cell should not cost the whole run; the
					// report lists it.
					fmt.Fprintf(os.Stderr, "round %d %-20s %-16s FAILED: %v\n%s", r+1, sc.name, tg.name, err, out)
					failed = append(failed, fmt.Sprintf("round %d `%s` via %s: %s", r+1, sc.name, tg.name, firstError(string(out))))
					continue
				}
				t, l, err := parse(string(out))
				if err != nil {
					return err
				}
				tps[key] = append(tps[key], t)
				lat[key] = append(lat[key], l)
				perTx := 0.0
				if tg.cpu != nil {
					if perTx = cpuPerTx(tg.cpu()-cpu0, transactions(string(out))); perTx > 0 {
						cpu[key] = append(cpu[key], perTx)
					}
				}
				round[tg.name] = t
				fmt.Fprintf(os.Stderr, "round %d %-20s %-16s %9.0f tps  %.3f ms  %5.1f µs CPU/tx\n", r+1, sc.name, tg.name, t, l, perTx)
			}
			if h, b := round["heliosproxy"], round[baseTarget]; h > 0 && b > 0 {
				ratios[sc.name] = append(ratios[sc.name], h/b)
			}
		}
	}
	report(reportInfo{
		mode: mode, poolSize: poolSize, workers: workers, proxy: proxyDesc, base: baseDesc, rounds: rounds, duration: duration, pgVersion: serverVersion(ctx, pgbench), bouncer: bouncerVersion,
		load0: load0, load1: machine.LoadAvg(), elapsed: time.Since(start), failed: failed,
	}, tps, lat)
	reportCPU(targets, cpu)
	if *baselineBin != "" {
		reportBaseline(tps, lat, ratios)
	}
	if floor {
		fmt.Println()
		fmt.Println("| pgbench | go-copy TPS | go-raw TPS | go-epoll TPS | go-raw/PgBouncer | go-epoll/PgBouncer | HeliosProxy/go-epoll |")
		fmt.Println("|---|---|---|---|---|---|---|")
		for _, sc := range scenarios {
			m := func(tg string) float64 { return median(tps[sc.name+"|"+tg]) }
			fmt.Printf("| `%s` | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f |\n", sc.name, m("go-copy"), m("go-raw"), m("go-epoll"), m("go-raw")/m("pgbouncer"), m("go-epoll")/m("pgbouncer"), m("heliosproxy")/m("go-epoll"))
		}
	}
	return nil
}

// proxyConfig is HeliosProxy's configuration in front of c, in process or
// in a child process.
func proxyConfig(c *pgcluster.Cluster, mode string, poolSize, workers int) config.Config {
	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	// The in-process proxy runs with this command's GOMAXPROCS, set from
	// -workers in main; a child process applies it itself.
	cfg.Proxy.Workers = workers
	b := config.DefaultBackend()
	b.Name, b.Host, b.Port = "bench", c.Host, c.Port
	cfg.Backends.Instances = []config.Backend{b}
	if *backendTLS {
		cfg.Backends.SSLMode = "require"
	}
	if *clientTLS {
		cfg.Proxy.TLSCertFile, cfg.Proxy.TLSKeyFile = clientCert, clientKey
	}
	cfg.HealthChecks.Password = c.Password
	cfg.Pool.DefaultPoolSize = poolSize
	cfg.Pool.MaxClientConn = maxClients
	if *pooled || mode == "transaction" {
		// Pooling needs the proxy to authenticate the user itself; the
		// cluster trusts it, as PgBouncer's auth_type = trust does.
		cfg.Pool.Mode = mode
		cfg.Users = []config.User{{Name: c.User, AuthMethod: "trust"}}
	}
	// With pgbench saturating both cores a new backend connection takes
	// 200 ms or more, and the default 500 ms health check then opened the
	// circuit in the middle of a run (a full `make bench` failed that way).
	// This measures the relay, so give the checks room.
	cfg.HealthChecks.Interval = config.Duration{Duration: healthTimeout}
	cfg.HealthChecks.Timeout = config.Duration{Duration: healthTimeout}
	return cfg
}

type reportInfo struct {
	mode         string
	workers      int    // proxy.workers of HeliosProxy
	proxy        string // how HeliosProxy runs: "in-process" or a child process
	base         string // how heliosproxy@base runs; empty without -baseline
	poolSize     int
	rounds       int
	duration     time.Duration
	pgVersion    string
	bouncer      string
	load0, load1 string
	elapsed      time.Duration
	failed       []string // pgbench runs that failed, left out of the medians
}

// report prints the Markdown: the machine, then TPS and latency tables of
// the medians per scenario and target.
func report(in reportInfo, tps, lat map[string][]float64) {
	host, _ := os.Hostname()
	fmt.Printf("Machine: %s, %d CPUs (%s), %s; load average %s at the start, %s at the end; %s in all.\n\n",
		host, runtime.NumCPU(), machine.CPUModel(), runtime.Version(), in.load0, in.load1, in.elapsed.Round(time.Second))
	relay := "pooled ([[users]])"
	if !*pooled && in.mode == "session" {
		relay = "pass-through relay (no [[users]])"
	}
	proxy := "HeliosProxy " + in.proxy
	if in.base != "" {
		proxy += " and " + baseTarget + ", " + in.base + " with the same configuration,"
	}
	workers := fmt.Sprintf("proxy.workers = %d", in.workers)
	if in.workers == 0 {
		loops := "event loops"
		if heliosproxy.Loops(0) == 1 {
			loops = "event loop"
		}
		workers += fmt.Sprintf(" (the default: %d %s on %d CPUs)", heliosproxy.Loops(0), loops, runtime.NumCPU())
	}
	fmt.Printf("Setup: %s (pgcluster, trust, scale 10); %s %s, with %s and %s (one thread), both %s mode, pool size %d, max %d clients, reset query DISCARD ALL; "+
		"HeliosProxy's health checks every %s with a %s timeout (defaults 1s and 500ms), other settings default. "+
		"%d rounds of %s per cell, targets interleaved within each round (the first one rotating); medians.\n\n",
		in.pgVersion, proxy, relay, workers, in.bouncer, in.mode, in.poolSize, maxClients, healthTimeout, healthTimeout, in.rounds, in.duration)
	if *backendTLS {
		fmt.Printf("Backend TLS: the cluster accepts TLS only (hostssl); HeliosProxy [backends] sslmode = \"require\", PgBouncer server_tls_sslmode = require, direct with sslmode=require; clients to the proxies in plaintext.\n\n")
	}
	if *clientTLS {
		fmt.Printf("Client TLS: pgbench reaches both proxies with sslmode=require (HeliosProxy [proxy] tls_cert_file, PgBouncer client_tls_sslmode = allow; one throwaway ECDSA certificate); direct in plaintext.\n\n")
	}
	if len(in.failed) > 0 {
		fmt.Printf("Failed runs, left out of the medians: %s.\n\n", strings.Join(in.failed, "; "))
	}
	med := func(m map[string][]float64, sc, tg string) float64 { return median(m[sc+"|"+tg]) }

	fmt.Println("| pgbench | direct TPS | HeliosProxy TPS | PgBouncer TPS | HeliosProxy/PgBouncer | HeliosProxy/direct | PgBouncer/direct |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, sc := range scenarios {
		d, h, b := med(tps, sc.name, "direct"), med(tps, sc.name, "heliosproxy"), med(tps, sc.name, "pgbouncer")
		fmt.Printf("| `%s` | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f |\n", sc.name, d, h, b, h/b, h/d, b/d)
	}
	fmt.Println()
	fmt.Println("| pgbench | direct latency ms | HeliosProxy latency ms | PgBouncer latency ms | HeliosProxy added ms | PgBouncer added ms |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, sc := range scenarios {
		d, h, b := med(lat, sc.name, "direct"), med(lat, sc.name, "heliosproxy"), med(lat, sc.name, "pgbouncer")
		fmt.Printf("| `%s` | %.3f | %.3f | %.3f | %.3f | %.3f |\n", sc.name, d, h, b, h-d, b-d)
	}
	for _, sc := range scenarios {
		if sc.name != "-S -c 1" {
			continue
		}
		d, h, b := med(lat, sc.name, "direct"), med(lat, sc.name, "heliosproxy"), med(lat, sc.name, "pgbouncer")
		fmt.Printf("\nAdded latency per query at `-S -c 1` (one SELECT per transaction): HeliosProxy %.0f µs, PgBouncer %.0f µs.\n",
			1000*(h-d), 1000*(b-d))
	}
}

// reportCPU prints the proxies' CPU per transaction.
func reportCPU(targets []target, cpu map[string][]float64) {
	var names []string
	for _, tg := range targets {
		if tg.cpu != nil {
			names = append(names, tg.name)
		}
	}
	fmt.Println()
	fmt.Print("| pgbench |")
	for _, n := range names {
		fmt.Printf(" %s CPU µs/tx |", n)
	}
	fmt.Println(" HeliosProxy/PgBouncer CPU |")
	fmt.Println("|---|" + strings.Repeat("---|", len(names)+1))
	for _, sc := range scenarios {
		fmt.Printf("| `%s` |", sc.name)
		for _, n := range names {
			fmt.Printf(" %.1f |", median(cpu[sc.name+"|"+n]))
		}
		h, b := median(cpu[sc.name+"|heliosproxy"]), median(cpu[sc.name+"|pgbouncer"])
		if h > 0 && b > 0 {
			fmt.Printf(" %.2f |\n", h/b)
		} else {
			fmt.Println(" – |")
		}
	}
	fmt.Println("\nCPU per transaction: the proxy process's user + system time across each pgbench run (/proc/PID/stat; the in-process HeliosProxy: getrusage of this command, whose pgbench runs are child processes) divided by the transactions pgbench processed; medians.")
}

// reportBaseline prints a table comparing HeliosProxy with
// heliosproxy@base: their medians, and the range of the ratio of the two
// runs of each round, which ran minutes apart at most, for the noise.
func reportBaseline(tps, lat map[string][]float64, ratios map[string][]float64) {
	fmt.Println()
	fmt.Println("| pgbench | HeliosProxy TPS | base TPS | HeliosProxy/base | per round, min–max | HeliosProxy latency ms | base latency ms | HeliosProxy − base ms |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	logSum, n := 0.0, 0
	for _, sc := range scenarios {
		m := func(x map[string][]float64, tg string) float64 { return median(x[sc.name+"|"+tg]) }
		h, b := m(tps, "heliosproxy"), m(tps, baseTarget)
		spread := "–"
		if r := ratios[sc.name]; len(r) > 0 {
			spread = fmt.Sprintf("%.2f–%.2f", slices.Min(r), slices.Max(r))
		}
		fmt.Printf("| `%s` | %.0f | %.0f | %.3f | %s | %.3f | %.3f | %+.3f |\n", sc.name, h, b, h/b, spread, m(lat, "heliosproxy"), m(lat, baseTarget), m(lat, "heliosproxy")-m(lat, baseTarget))
		if h > 0 && b > 0 {
			logSum += math.Log(h / b)
			n++
		}
	}
	if n > 0 {
		fmt.Printf("\nHeliosProxy/base TPS over the %d scenarios (geometric mean of the ratios of medians): %.3f.\n", n, math.Exp(logSum/float64(n)))
	}
}

// serverVersion returns "PostgreSQL N.M" from pgbench --version; the pgbench
// next to the server binaries has the server's version.
func serverVersion(ctx context.Context, pgbench string) string {
	out, err := exec.CommandContext(ctx, pgbench, "--version").Output()
	if err != nil {
		return "PostgreSQL"
	}
	if m := regexp.MustCompile(`\(PostgreSQL\) (\S+)`).FindSubmatch(out); m != nil {
		return "PostgreSQL " + string(m[1])
	}
	return "PostgreSQL"
}

var (
	// With -C pgbench says "(including reconnection times)" instead.
	tpsRe = regexp.MustCompile(`tps = ([0-9.]+) \((?:without initial connection time|including reconnection times)\)`)
	latRe = regexp.MustCompile(`latency average = ([0-9.]+) ms`)
)

func parse(out string) (tps, latency float64, err error) {
	m1, m2 := tpsRe.FindStringSubmatch(out), latRe.FindStringSubmatch(out)
	if m1 == nil || m2 == nil {
		return 0, 0, fmt.Errorf("cannot read pgbench output:\n%s", out)
	}
	tps, _ = strconv.ParseFloat(m1[1], 64)
	latency, _ = strconv.ParseFloat(m2[1], 64)
	return tps, latency, nil
}

// firstError returns pgbench's first error line, for the report.
func firstError(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "FATAL") || strings.Contains(line, "error") {
			return strings.TrimSpace(line)
		}
	}
	return "no error message"
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
