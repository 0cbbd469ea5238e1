// Command soak runs a mixed load through HeliosProxy for a long time while
// backends are killed and restarted, and reports whether the proxy stays
// flat (memory, goroutines) and correct (no protocol errors).
//
//	go run ./bench/soak [-duration 30m] [-clients 8] [-kill-every 3m] [-down 15s] [-mode session|pooled-session|transaction] [-reconnect-every N] [-tls]
//
// Three throwaway PostgreSQL clusters each hold a table of 1,000 accounts;
// the proxy runs in this process (so its RSS and goroutines are this
// process's; the load's goroutines are a constant -clients). Each client
// keeps a connection (a new one after losing it, or after
// -reconnect-every queries: logins in the load) and runs pgbench's mix:
// nine in ten a select of one account (select-only), one in ten a
// transaction that updates an account and reads it back (tpcb-like). Every
// -kill-every, the next backend in turn is SIGKILLed and restarted after
// -down. Errors are counted by class: what a killed backend or an open
// circuit explains (connection loss, 57P0x, 08xxx but 08P01, 53300), and
// protocol errors (08P01, or a client error that is neither a server's
// error nor a lost connection), which must stay at zero. Every -sample it
// prints RSS, goroutines and throughput; at the end, the growth from the
// first quarter to the last. Exit status 1 on a protocol error or growth
// over -max-growth. With -tls, the clusters accept TLS only, the proxy
// reaches them with sslmode = require and offers TLS to the clients, which
// use it (sslmode=require).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/bench/internal/inproc"
	"github.com/heliosdb/heliosproxy/bench/internal/machine"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgcluster"
)

type options struct {
	duration, killEvery, down, sample time.Duration
	clients, reconnectEvery           int
	mode                              string
	maxGrowth                         float64
	tls                               bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 30*time.Minute, "how long the load runs")
	flag.IntVar(&o.clients, "clients", 8, "concurrent clients")
	flag.DurationVar(&o.killEvery, "kill-every", 3*time.Minute, "time between backend kills")
	flag.DurationVar(&o.down, "down", 15*time.Second, "how long a killed backend stays down")
	flag.DurationVar(&o.sample, "sample", 30*time.Second, "time between samples")
	flag.StringVar(&o.mode, "mode", "session", "session (pass-through), pooled-session ([[users]] in session mode) or transaction (pooled)")
	flag.IntVar(&o.reconnectEvery, "reconnect-every", 0, "a client connects anew after this many queries (0: it keeps its connection)")
	flag.Float64Var(&o.maxGrowth, "max-growth", 0.25, "largest RSS or goroutine growth from the first to the last quarter")
	flag.BoolVar(&o.tls, "tls", false, "TLS everywhere: TLS-only clusters (sslmode = require) and TLS clients")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// counts are the load's outcomes.
type counts struct {
	queries, logins, expected, protocol atomic.Int64
	mu                                  sync.Mutex
	byClass                             map[string]int64
	examples                            []string
}

func (c *counts) failed(err error) {
	class, protocol := classify(err)
	if protocol {
		c.protocol.Add(1)
	} else {
		c.expected.Add(1)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byClass[class]++
	if protocol && len(c.examples) < 5 {
		c.examples = append(c.examples, err.Error())
	}
}

// classify names an error's class and says whether it is a protocol
// error, which no backend failure explains.
func classify(err error) (string, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code, pe.Code == "08P01"
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed") {
		return "connection lost", false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "timeout", false
	}
	return "client: " + err.Error(), true
}

func run(ctx context.Context, o options) (bool, error) {
	var clusters []*pgcluster.Cluster
	defer func() {
		for _, c := range clusters {
			if err := c.Destroy(); err != nil {
				fmt.Fprintf(os.Stderr, "remove cluster %s: %v\n", c.Name, err)
			}
		}
	}()
	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: 2 * time.Second}
	sslmode := "disable"
	var pki *pgcluster.PKI
	if o.tls {
		dir, err := os.MkdirTemp("", "heliossoak-pki-")
		if err != nil {
			return false, err
		}
		defer os.RemoveAll(dir)
		if pki, err = pgcluster.NewPKI(dir, []string{"127.0.0.1"}, "postgres"); err != nil {
			return false, err
		}
		cfg.Proxy.TLSCertFile, cfg.Proxy.TLSKeyFile = pki.ServerCert, pki.ServerKey
		cfg.Backends.SSLMode = "require"
		sslmode = "require"
	}
	for i := range 3 {
		opts := pgcluster.Options{Name: "soak-" + strconv.Itoa(i)}
		if pki != nil {
			opts = pki.TLSOptions(opts)
		}
		c, err := pgcluster.Start(ctx, opts)
		if err != nil {
			return false, err
		}
		clusters = append(clusters, c)
		if err := c.Exec(ctx, "CREATE TABLE soak_accounts (id int PRIMARY KEY, balance bigint NOT NULL); "+
			"INSERT INTO soak_accounts SELECT g, 0 FROM generate_series(1, 1000) g"); err != nil {
			return false, err
		}
		b := config.DefaultBackend()
		b.Name, b.Host, b.Port = "pg-"+strconv.Itoa(i), c.Host, c.Port
		cfg.Backends.Instances = append(cfg.Backends.Instances, b)
		cfg.HealthChecks.Password = c.Password
	}
	switch o.mode {
	case "session":
	case "pooled-session", "transaction":
		if o.mode == "transaction" {
			cfg.Pool.Mode = "transaction"
		}
		cfg.Users = []config.User{{Name: clusters[0].User, AuthMethod: "trust"}}
		cfg.Pool.DefaultPoolSize = max(cfg.Pool.DefaultPoolSize, o.clients)
	default:
		return false, fmt.Errorf("-mode %q: session, pooled-session or transaction", o.mode)
	}
	if err := cfg.Validate(); err != nil {
		return false, err
	}
	_, addr, stopProxy, err := inproc.Start(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return false, err
	}
	defer stopProxy()
	host, port, _ := net.SplitHostPort(addr)
	// An application_name, as most drivers send one: a pooled login sets it.
	dsn := fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=postgres sslmode=%s connect_timeout=5 application_name=soak", host, port, clusters[0].User, clusters[0].Password, sslmode)

	fmt.Printf("soak: %s, %d clients, %s mode, TLS %v, reconnecting every %d queries (0: never), a backend killed every %s for %s; %s, %d CPUs, load %s\n",
		o.duration, o.clients, o.mode, o.tls, o.reconnectEvery, o.killEvery, o.down, machine.CPUModel(), runtime.NumCPU(), machine.LoadAvg())
	loadCtx, stopLoad := context.WithTimeout(ctx, o.duration)
	defer stopLoad()
	c := &counts{byClass: map[string]int64{}}
	var wg sync.WaitGroup
	for range o.clients {
		wg.Go(func() { client(loadCtx, dsn, o.reconnectEvery, c) })
	}
	wg.Go(func() { killer(loadCtx, clusters, o) })
	rss, gor := sampler(loadCtx, o, c)
	wg.Wait()

	fmt.Printf("\nqueries %d, logins %d, errors explained by the faults %d, protocol errors %d\n", c.queries.Load(), c.logins.Load(), c.expected.Load(), c.protocol.Load())
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range c.byClass {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Printf("  %-24s %d\n", k, c.byClass[k])
	}
	for _, e := range c.examples {
		fmt.Println("  protocol error:", e)
	}
	gR, gG := growth(rss), growth(gor)
	fmt.Printf("growth from the first quarter to the last (medians): RSS %+.1f%%, goroutines %+.1f%%\n", 100*gR, 100*gG)
	return c.protocol.Load() == 0 && gR <= o.maxGrowth && gG <= o.maxGrowth, nil
}

// client runs the mix on one connection, reconnecting after losing it and,
// when reconnectEvery is above 0, after that many queries.
func client(ctx context.Context, dsn string, reconnectEvery int, c *counts) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	done := 0 // queries on this connection
	for ctx.Err() == nil {
		if conn != nil && reconnectEvery > 0 && done == reconnectEvery {
			conn.Close(ctx)
			conn = nil
		}
		if conn == nil || conn.IsClosed() {
			var err error
			if conn, err = pgx.Connect(ctx, dsn); err != nil {
				if ctx.Err() == nil {
					c.failed(err)
					time.Sleep(100 * time.Millisecond) // pace reconnections to a proxy refusing them
				}
				conn = nil
				continue
			}
			c.logins.Add(1)
			done = 0
		}
		id := 1 + rand.IntN(1000)
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var err error
		if rand.IntN(10) == 0 {
			err = pgx.BeginFunc(qctx, conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(qctx, "UPDATE soak_accounts SET balance = balance + $2 WHERE id = $1", id, rand.IntN(1000)-500); err != nil {
					return err
				}
				var b int64
				return tx.QueryRow(qctx, "SELECT balance FROM soak_accounts WHERE id = $1", id).Scan(&b)
			})
		} else {
			var b int64
			err = conn.QueryRow(qctx, "SELECT balance FROM soak_accounts WHERE id = $1", id).Scan(&b)
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			c.failed(err)
			continue
		}
		c.queries.Add(1)
		done++
	}
}

// killer SIGKILLs the backends in turn and restarts each after o.down.
func killer(ctx context.Context, clusters []*pgcluster.Cluster, o options) {
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(o.killEvery):
		}
		c := clusters[i%len(clusters)]
		fmt.Printf("%s kill %s\n", time.Now().Format(time.TimeOnly), c.Name)
		if err := c.Kill(); err != nil {
			fmt.Fprintln(os.Stderr, "kill:", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(o.down):
		}
		if err := c.Restart(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "restart:", err)
		}
	}
}

// sampler prints RSS, goroutines and throughput every o.sample until ctx
// ends, and returns the samples.
func sampler(ctx context.Context, o options, c *counts) (rss, goroutines []float64) {
	fmt.Printf("%-8s %10s %11s %10s %10s\n", "time", "RSS MiB", "goroutines", "queries/s", "errors")
	last, lastErr, start := int64(0), int64(0), time.Now()
	t := time.NewTicker(o.sample)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return rss, goroutines
		case <-t.C:
		}
		runtime.GC()
		r, g := rssMiB(), float64(runtime.NumGoroutine())
		q, e := c.queries.Load(), c.expected.Load()+c.protocol.Load()
		fmt.Printf("%-8s %10.1f %11.0f %10.0f %10d\n", time.Since(start).Round(time.Second), r, g, float64(q-last)/o.sample.Seconds(), e-lastErr)
		last, lastErr = q, e
		rss, goroutines = append(rss, r), append(goroutines, g)
	}
}

// rssMiB is this process's resident set size.
func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// growth is the median of the last quarter of xs over that of the first,
// minus one; 0 with fewer than four samples.
func growth(xs []float64) float64 {
	if len(xs) < 4 {
		return 0
	}
	q := len(xs) / 4
	first, last := slices.Clone(xs[:q]), slices.Clone(xs[len(xs)-q:])
	slices.Sort(first)
	slices.Sort(last)
	if m := first[len(first)/2]; m > 0 {
		return last[len(last)/2]/m - 1
	}
	return 0
}
