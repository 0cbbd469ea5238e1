// Command promote measures how fast writes follow a promotion, over
// repeated trials, through HeliosProxy and, in the same trials, straight
// to PostgreSQL with a multi-host connection string
// (target_session_attrs=read-write, as libpq and pgx read it), and prints
// p50 / p99 / max as Markdown tables.
//
//	go run ./bench/promote [-trials 20] [-interval 1s] [-tls]
//
// Each trial has a primary with one streaming replica (pg_basebackup -R)
// and a proxy in-process in front of both, roles left to the health check
// (role = "auto"). Two writers insert a row every -every, one through the
// proxy and one straight to the clusters; each opens a new connection
// after an error. Then the primary is SIGKILLed and the replica promoted
// with pg_promote() (returning once it is promoted), and the trial
// measures, for each writer, promotion → first successful write (on the
// new primary) and kill → first successful write (the write outage the
// client saw). The old primary is removed and a new replica of the new
// primary made for the next trial.
//
// -tls runs the clusters TLS-only (hostssl) with the proxy's backend
// connections and the direct writer at sslmode=require.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heliosdb/heliosproxy/bench/internal/inproc"
	"github.com/heliosdb/heliosproxy/bench/internal/machine"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgcluster"
)

func main() {
	trials := flag.Int("trials", 20, "failovers to measure")
	interval := flag.Duration("interval", time.Second, "the proxy's health_checks.interval")
	every := flag.Duration("every", 5*time.Millisecond, "pause between two writes of a writer")
	useTLS := flag.Bool("tls", false, "TLS-only clusters; the proxy and the direct writer use sslmode=require")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *trials, *interval, *every, *useTLS); err != nil {
		fmt.Fprintln(os.Stderr, "promote:", err)
		os.Exit(1)
	}
}

// result is one trial as one writer saw it.
type result struct {
	afterPromotion time.Duration // promotion done → first successful write
	outage         time.Duration // kill → first successful write
}

func run(ctx context.Context, trials int, interval, every time.Duration, useTLS bool) error {
	start := time.Now()
	opts := pgcluster.Options{Name: "promote-0"}
	if useTLS {
		var remove func()
		var err error
		if opts, remove, err = pgcluster.WithThrowawayTLS(opts); err != nil {
			return err
		}
		defer remove()
	}
	primary, err := pgcluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { primary.Destroy() }()
	if err := primary.Exec(ctx, "CREATE TABLE writes (at timestamptz NOT NULL DEFAULT now())"); err != nil {
		return err
	}
	var proxied, direct []result
	for i := range trials {
		replica, err := pgcluster.Start(ctx, pgcluster.Options{Name: fmt.Sprintf("promote-%d", i+1), ReplicaOf: primary})
		if err != nil {
			return err
		}
		p, d, err := trial(ctx, primary, replica, interval, every, useTLS)
		primary.Destroy()
		primary = replica
		if err != nil {
			return fmt.Errorf("trial %d: %w", i+1, err)
		}
		fmt.Fprintf(os.Stderr, "trial %2d: proxy %v after promotion (outage %v), direct %v (outage %v)\n",
			i+1, p.afterPromotion.Round(time.Millisecond), p.outage.Round(time.Millisecond),
			d.afterPromotion.Round(time.Millisecond), d.outage.Round(time.Millisecond))
		proxied, direct = append(proxied, p), append(direct, d)
	}
	fmt.Printf("Command: `go run ./bench/promote -trials %d -interval %s -every %s -tls=%v`; %d × %s, %s, load average %s; %s.\n\n",
		trials, interval, every, useTLS, runtime.NumCPU(), machine.CPUModel(), runtime.Version(), machine.LoadAvg(), time.Since(start).Round(time.Second))
	fmt.Println("| writer | promotion → first write p50 | p99 | max | kill → first write (outage) p50 | p99 | max |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, w := range []struct {
		name string
		rs   []result
	}{{"HeliosProxy", proxied}, {"direct, multi-host target_session_attrs=read-write", direct}} {
		a := quantiles(w.rs, func(r result) time.Duration { return r.afterPromotion })
		o := quantiles(w.rs, func(r result) time.Duration { return r.outage })
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", w.name, a[0], a[1], a[2], o[0], o[1], o[2])
	}
	return nil
}

// quantiles returns p50, p99 and max of f over rs, rounded for the table.
func quantiles(rs []result, f func(result) time.Duration) [3]string {
	ds := make([]time.Duration, 0, len(rs))
	for _, r := range rs {
		ds = append(ds, f(r))
	}
	slices.Sort(ds)
	at := func(q float64) string {
		if len(ds) == 0 {
			return "-"
		}
		i := min(len(ds)-1, int(q*float64(len(ds))+0.5)-1)
		return ds[max(i, 0)].Round(time.Millisecond).String()
	}
	return [3]string{at(0.50), at(0.99), at(1)}
}

// trial runs one failover from primary to replica.
func trial(ctx context.Context, primary, replica *pgcluster.Cluster, interval, every time.Duration, useTLS bool) (proxied, direct result, err error) {
	sslmode := "disable"
	if useTLS {
		sslmode = "require"
	}
	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	cfg.HealthChecks.Interval = config.Duration{Duration: interval}
	cfg.HealthChecks.Password = primary.Password
	cfg.Backends.SSLMode = sslmode
	for _, c := range []*pgcluster.Cluster{primary, replica} {
		b := config.DefaultBackend()
		b.Name, b.Host, b.Port = c.Name, c.Host, c.Port
		cfg.Backends.Instances = append(cfg.Backends.Instances, b)
	}
	if err := cfg.Validate(); err != nil {
		return result{}, result{}, err
	}
	_, addr, stopProxy, err := inproc.Start(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return result{}, result{}, err
	}
	defer stopProxy()
	host, port, _ := strings.Cut(addr, ":")
	viaProxy := fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=postgres sslmode=disable connect_timeout=2", host, port, primary.User, primary.Password)
	straight := fmt.Sprintf("host=%s,%s port=%d,%d user=%s password=%s dbname=postgres sslmode=%s target_session_attrs=read-write connect_timeout=2",
		primary.Host, replica.Host, primary.Port, replica.Port, primary.User, primary.Password, sslmode)

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	writers := []*writer{{dsn: viaProxy, every: every}, {dsn: straight, every: every}}
	var wg sync.WaitGroup
	for _, w := range writers {
		wg.Go(func() { w.run(wctx) })
	}
	defer wg.Wait()
	defer cancel()
	// Both writers reach the primary before the fault.
	warm := time.Now()
	for _, w := range writers {
		if err := w.succeededAfter(ctx, warm, 30*time.Second); err != nil {
			return result{}, result{}, fmt.Errorf("before the fault: %w", err)
		}
	}
	killed := time.Now()
	if err := primary.Kill(); err != nil {
		return result{}, result{}, err
	}
	if err := replica.Promote(ctx); err != nil {
		return result{}, result{}, err
	}
	promoted := time.Now()
	var rs [2]result
	for i, w := range writers {
		if err := w.succeededAfter(ctx, promoted, 60*time.Second); err != nil {
			return result{}, result{}, fmt.Errorf("after the promotion: %w", err)
		}
		first := w.firstSuccessAfter(promoted)
		rs[i] = result{afterPromotion: first.Sub(promoted), outage: first.Sub(killed)}
	}
	return rs[0], rs[1], nil
}

// writer inserts a row every pause, reconnecting after an error, and
// remembers when its writes succeeded.
type writer struct {
	dsn   string
	every time.Duration

	mu sync.Mutex
	ok []time.Time // when each successful write's answer came, in order
}

func (w *writer) run(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for ctx.Err() == nil {
		if conn == nil {
			c, err := pgx.Connect(ctx, w.dsn)
			if err != nil {
				pause(ctx, w.every)
				continue
			}
			conn = c
		}
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := conn.Exec(qctx, "INSERT INTO writes DEFAULT VALUES")
		cancel()
		if err != nil {
			conn.Close(context.Background())
			conn = nil
		} else {
			w.mu.Lock()
			w.ok = append(w.ok, time.Now())
			w.mu.Unlock()
		}
		pause(ctx, w.every)
	}
}

// firstSuccessAfter returns the first success at or after t, zero if none.
func (w *writer) firstSuccessAfter(t time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	i, _ := slices.BinarySearchFunc(w.ok, t, func(a, b time.Time) int { return a.Compare(b) })
	if i == len(w.ok) {
		return time.Time{}
	}
	return w.ok[i]
}

// succeededAfter waits up to limit for a success at or after t.
func (w *writer) succeededAfter(ctx context.Context, t time.Time, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for w.firstSuccessAfter(t).IsZero() {
		if time.Now().After(deadline) {
			return errors.New("no successful write within " + limit.String())
		}
		if err := pause(ctx, time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
