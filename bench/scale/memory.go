package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/bench/internal/inproc"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgcluster"
)

// childArg, as the first argument, makes this program the child that
// holds idle clients instead of the benchmark.
const childArg = "-idle-clients-child"

// warmUp clients connect and disconnect before the baseline, so that the
// baseline already has what the first session allocates once (pools,
// buffers of the runtime, the status of the backend).
const warmUp = 10

// In session mode: clients connecting at a time at most, and the latency
// threshold (p95; p99 is twice that) in milliseconds.
const (
	sessionWorkers    = 10
	sessionLatencyP95 = 5000
)

// memSample is the proxy process's memory at one moment.
type memSample struct {
	rssGC      uint64 // VmRSS after a GC, before FreeOSMemory
	rss        uint64 // VmRSS after the GC and debug.FreeOSMemory
	heap       uint64 // runtime HeapInuse
	stack      uint64 // runtime StackInuse: goroutine stacks
	goroutines int
}

// sampleMem collects garbage, reads VmRSS, returns the free heap to the
// OS (as the runtime's scavenger does in a few minutes on its own) and
// reads VmRSS again.
func sampleMem() (memSample, error) {
	runtime.GC()
	rssGC, err := vmRSS()
	if err != nil {
		return memSample{}, err
	}
	debug.FreeOSMemory()
	rss, err := vmRSS()
	if err != nil {
		return memSample{}, err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{rssGC: rssGC, rss: rss, heap: ms.HeapInuse, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}, nil
}

// vmRSS returns this process's resident set size from /proc/self/status.
func vmRSS() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/self/status")
}

type memResult struct {
	name          string
	clients       int
	before, after memSample
	connect       time.Duration // for the child to connect every client
}

// perClient returns the growth from before to after per client.
func (r memResult) perClient(f func(memSample) uint64) float64 {
	return (float64(f(r.after)) - float64(f(r.before))) / float64(r.clients)
}

// memoryFigure measures the proxy's memory per idle client in transaction
// mode (no server connection while idle) and in session mode (one server
// connection per client).
func memoryFigure(ctx context.Context, c *pgcluster.Cluster, o options, out *strings.Builder) error {
	cfg := withPooling(baseConfig(c, 1), c)
	tx, err := measureIdle(ctx, c, cfg, "transaction", o.idleClients, o, o.memprofile)
	if err != nil {
		return err
	}
	// In session mode every client's startup starts a PostgreSQL backend
	// process; many at once on a loaded machine take longer than the
	// default 500 ms p95 threshold, and the circuit opens (connects count
	// as requests). This measures memory, not that: fewer connects at a
	// time, and thresholds out of the way.
	cfg = baseConfig(c, 1)
	cfg.CircuitBreaker.LatencyThresholdP95Ms = sessionLatencyP95
	cfg.CircuitBreaker.LatencyThresholdP99Ms = 2 * sessionLatencyP95
	so := o
	so.connectWorkers = min(o.connectWorkers, sessionWorkers)
	sess, err := measureIdle(ctx, c, cfg, "session", o.sessionClients, so, "")
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "### Memory per idle client connection\n\n")
	fmt.Fprintf(out, "Idle clients (pgconn, startup only, then nothing) connect %d at a time (session mode: %d) from a child process, so that only the proxy's memory is counted. "+
		"Before: after %d clients connected and disconnected, then GC. After: all clients connected and idle for 2 s, then GC. "+
		"RSS is VmRSS after GC and debug.FreeOSMemory (what the runtime's scavenger returns to the OS within minutes by itself); "+
		"\"RSS, GC only\" takes the after figure before FreeOSMemory. The kernel's socket buffers are not in VmRSS. One backend, health checks every %s with a %s timeout, pool.max_client_conn 0 (no limit); "+
		"session mode with circuit_breaker.latency_threshold_p95_ms %d and p99 %d, since a backend process start counts as a request.\n\n",
		o.connectWorkers, min(o.connectWorkers, sessionWorkers), warmUp, noisyHealth, noisyHealth, sessionLatencyP95, 2*sessionLatencyP95)
	fmt.Fprintln(out, "| pool mode | idle clients | RSS before | RSS after | RSS / client | RSS / client, GC only | heap / client | stacks / client | goroutines / client | connect time | target ≤ 32 KiB / client |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range []memResult{tx, sess} {
		rss := r.perClient(func(m memSample) uint64 { return m.rss })
		target := verdict(rss, targetBytesPerIdleClient)
		if r.name == "session" {
			target = "n/a: holds a server connection (" + target + ")"
		}
		fmt.Fprintf(out, "| %s | %d | %s | %s | %s | %s | %s | %s | %.2f | %s | %s |\n",
			r.name, r.clients, mib(r.before.rss), mib(r.after.rss), kib(rss),
			kib((float64(r.after.rssGC)-float64(r.before.rss))/float64(r.clients)),
			kib(r.perClient(func(m memSample) uint64 { return m.heap })),
			kib(r.perClient(func(m memSample) uint64 { return m.stack })),
			float64(r.after.goroutines-r.before.goroutines)/float64(r.clients),
			r.connect.Round(100*time.Millisecond), target)
	}
	fmt.Fprintln(out)
	return nil
}

// measureIdle starts the proxy with cfg and measures its memory before and
// with n idle clients of c.User.
func measureIdle(ctx context.Context, c *pgcluster.Cluster, cfg config.Config, name string, n int, o options, heapProfile string) (memResult, error) {
	cfg.Pool.MaxClientConn = 0
	cfg.HealthChecks.Interval = config.Duration{Duration: noisyHealth}
	cfg.HealthChecks.Timeout = config.Duration{Duration: noisyHealth}
	_, addr, stop, err := inproc.Start(ctx, cfg, proxyLog())
	if err != nil {
		return memResult{}, err
	}
	defer stop()
	r := memResult{name: name, clients: n}

	// Warm up: the first sessions allocate the pool, the runtime's
	// per-P caches and so on once.
	warm, err := startClients(ctx, addr, c.User, warmUp, o.connectWorkers)
	if err != nil {
		return r, err
	}
	if err := warm.stop(); err != nil {
		return r, err
	}
	if err := sleep(ctx, time.Second); err != nil {
		return r, err
	}
	if r.before, err = sampleMem(); err != nil {
		return r, err
	}

	t0 := time.Now()
	cl, err := startClients(ctx, addr, c.User, n, o.connectWorkers)
	if err != nil {
		return r, err
	}
	defer cl.stop()
	r.connect = time.Since(t0)
	// Let the last sessions finish their startup and, in transaction
	// mode, hand their server connections back.
	if err := sleep(ctx, 2*time.Second); err != nil {
		return r, err
	}
	if r.after, err = sampleMem(); err != nil {
		return r, err
	}
	// Every session has a goroutine of its own.
	if got := r.after.goroutines - r.before.goroutines; got < n {
		return r, fmt.Errorf("%s mode: %d clients connected, but only %d more goroutines than before: sessions ended", name, n, got)
	}
	fmt.Fprintf(os.Stderr, "memory %-11s %5d idle clients: RSS %s → %s, %s per client; %d goroutines\n",
		name, n, mib(r.before.rss), mib(r.after.rss), kib(r.perClient(func(m memSample) uint64 { return m.rss })), r.after.goroutines)
	if heapProfile != "" {
		if err := writeHeapProfile(heapProfile); err != nil {
			return r, err
		}
	}
	return r, cl.stop()
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// clients is a running child process that holds idle clients.
type clients struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	once  sync.Once
	err   error
}

// startClients runs the child with n clients of user on addr and returns
// once all are connected.
func startClients(ctx context.Context, addr, user string, n, workers int) (*clients, error) {
	cmd := exec.CommandContext(ctx, os.Args[0], childArg,
		"-n", strconv.Itoa(n), "-addr", addr, "-user", user, "-workers", strconv.Itoa(workers))
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 10 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	cl := &clients{cmd: cmd, stdin: stdin}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		err := cl.stop()
		return nil, fmt.Errorf("the client process did not connect %d clients (%v); see its error above", n, err)
	}
	return cl, nil
}

// stop closes the child's stdin, which makes it exit, and waits for it.
func (cl *clients) stop() error {
	cl.once.Do(func() {
		cl.stdin.Close()
		cl.err = cl.cmd.Wait()
	})
	return cl.err
}

// runClients is the child: it connects -n clients to -addr, prints "ready"
// and keeps them idle until its stdin closes.
func runClients(args []string) error {
	fs := flag.NewFlagSet(childArg, flag.ContinueOnError)
	n := fs.Int("n", 0, "clients")
	addr := fs.String("addr", "", "proxy host:port")
	user := fs.String("user", "", "user")
	workers := fs.Int("workers", 50, "clients connecting at a time")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := raiseFileLimit(); err != nil {
		return err
	}
	host, port, ok := strings.Cut(*addr, ":")
	if !ok {
		return fmt.Errorf("-addr: want host:port, got %q", *addr)
	}
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("host=%s port=%s user=%s dbname=postgres sslmode=disable connect_timeout=60", host, port, *user))
	if err != nil {
		return err
	}
	ctx := context.Background()
	conns := make([]*pgconn.PgConn, *n)
	errs := make(chan error, *workers)
	next := make(chan int)
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			for i := range next {
				pc, err := pgconn.ConnectConfig(ctx, cfg)
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				conns[i] = pc
			}
		})
	}
	var failed error
feed:
	for i := range *n {
		select {
		case next <- i:
		case failed = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if failed == nil {
		select {
		case failed = <-errs:
		default:
		}
	}
	if failed != nil {
		return failed
	}
	fmt.Println("ready")
	// Idle until the parent closes our stdin (or dies).
	_, _ = io.Copy(io.Discard, os.Stdin)
	// Closing the sockets here also keeps conns reachable until now: an
	// unreachable net.Conn is closed by its finalizer at the next GC,
	// which ended the sessions of an earlier version in the middle of
	// the measurement.
	for _, pc := range conns {
		pc.Conn().Close()
	}
	return nil
}

func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }
func mib(b uint64) string  { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
