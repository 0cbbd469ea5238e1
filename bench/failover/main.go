// Command failover measures how HeliosProxy takes a failed backend out of
// rotation under load and brings it back, over repeated trials, and prints
// p50 / p95 / max as Markdown tables.
//
//	go run ./bench/failover [-trials 20] [-clients 12] [-scenarios kill,hang]
//
// Detection is fault → the victim's CircuitOpened event; isolation is
// CircuitOpened → no client session left on the victim; recovery is the
// victim accepting connections again → CircuitClosed. It also counts the
// errors the load clients see.
//
// It starts three throwaway PostgreSQL clusters and the proxy in-process
// (session mode) with the health checks at their defaults (1s interval,
// 500ms timeout), so that detection comes from the traffic path. The kill
// scenario SIGKILLs the victim's postmaster and backends, then restarts it;
// hang SIGSTOPs them and continues them once the victim is isolated. The
// victim rotates among the three backends. Everything is removed on exit,
// Ctrl-C included.
//
// In session mode the proxy leaves the sessions on an OPEN backend to their
// clients, so isolation from a hung backend is bounded by how the clients
// give up: -query-timeout, and -hard-close instead of pgx's graceful close.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/bench/internal/inproc"
	"github.com/heliosdb/heliosproxy/bench/internal/machine"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy"
	"github.com/heliosdb/heliosproxy/status"
)

const (
	minVictimRate  = 200.0                  // queries/s the victim must serve before a fault
	rateInterval   = 500 * time.Millisecond // over which that rate is measured
	reconnectEvery = 200                    // queries per client session, so that traffic rebalances after a recovery
	connectTimeout = 10 * time.Second       // a load client's connect: the proxy may spend 2s on a hung backend first
	sampleInterval = 2 * time.Millisecond   // of the victim's session count
	eventTimeout   = 30 * time.Second       // for each awaited circuit event
	isolationCap   = 30 * time.Second       // the victim may keep sessions this long after OPEN
	pollInterval   = 5 * time.Millisecond   // of the victim while waiting for it to accept connections
	readyTimeout   = 60 * time.Second       // for the load to spread over all backends
	errorWindow    = time.Second            // client errors count from the fault to OPEN + errorWindow
)

var backendNames = []string{"pg-a", "pg-b", "pg-c"}

// scenario is one way of failing a backend and bringing it back.
type scenario struct {
	name    string
	call    string // the pgtest method that injects the fault
	fault   string // for the report
	inject  func(c *pgtest.Cluster) error
	restore func(ctx context.Context, c *pgtest.Cluster) error
}

var scenarios = []scenario{
	{
		name:    "kill",
		call:    "Kill",
		fault:   "SIGKILL of the postmaster and all its processes (pgtest Kill); Restart once the victim is isolated",
		inject:  (*pgtest.Cluster).Kill,
		restore: func(ctx context.Context, c *pgtest.Cluster) error { return c.Restart(ctx) },
	},
	{
		name:    "hang",
		call:    "Pause",
		fault:   "SIGSTOP of the postmaster and all its processes (pgtest Pause); Resume once the victim is isolated",
		inject:  (*pgtest.Cluster).Pause,
		restore: func(_ context.Context, c *pgtest.Cluster) error { return c.Resume() },
	},
}

func main() {
	trials := flag.Int("trials", 20, "trials per scenario")
	clients := flag.Int("clients", 12, "concurrent load clients")
	names := flag.String("scenarios", "kill,hang", "comma-separated scenarios to run: kill, hang")
	queryTimeout := flag.Duration("query-timeout", 2*time.Second, "load clients' timeout per query; 0 means none")
	hardClose := flag.Bool("hard-close", false, "on a query error, close the client's socket at once instead of pgx's graceful close\n(cancel request, Terminate, then up to 15s waiting for the server to close)")
	verbose := flag.Bool("v", false, "log the proxy's state changes to stderr")
	flag.Parse()
	var chosen []scenario
	for name := range strings.SplitSeq(*names, ",") {
		i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == strings.TrimSpace(name) })
		if i < 0 {
			fmt.Fprintf(os.Stderr, "failover: -scenarios: unknown scenario %q (want kill, hang)\n", name)
			os.Exit(2)
		}
		chosen = append(chosen, scenarios[i])
	}
	if *trials < 1 || *clients < 1 || *queryTimeout < 0 {
		fmt.Fprintf(os.Stderr, "failover: -trials and -clients must be positive and -query-timeout not negative, got %d, %d, %v\n", *trials, *clients, *queryTimeout)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := options{trials: *trials, clients: *clients, scenarios: chosen, queryTimeout: *queryTimeout, hardClose: *hardClose, verbose: *verbose}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

type options struct {
	trials       int
	clients      int
	scenarios    []scenario
	queryTimeout time.Duration
	hardClose    bool
	verbose      bool
}

// trial is what one fault measured.
type trial struct {
	n         int
	victim    string
	rate      float64       // victim's queries/s before the fault
	sessions  int           // sessions on the victim at the fault
	inject    time.Duration // how long Kill or Pause took to return
	detection time.Duration
	isolation time.Duration
	isolated  bool          // false: the victim still had sessions isolationCap after OPEN
	restore   time.Duration // restore call → the victim accepts connections (Restart includes crash recovery)
	recovery  time.Duration // the victim accepts connections → CLOSED
	halfOpen  time.Duration // the victim accepts connections → the last HALF_OPEN before CLOSED
	reason    string
	detail    string
	errsEarly int            // client errors from the fault to OPEN + errorWindow
	errsAll   int            // client errors from the fault to CLOSED
	firstErr  time.Duration  // fault → the first client error; negative if none
	kinds     map[string]int // errsAll by kind
	failed    int            // RecoveryFailed events of the victim
	others    []string       // events of other backends during the trial
}

func run(ctx context.Context, o options) (err error) {
	loadStart := loadAvg()
	var clusters []*pgtest.Cluster
	defer func() {
		for _, c := range clusters {
			if derr := c.Destroy(); derr != nil {
				fmt.Fprintf(os.Stderr, "remove cluster %s: %v\n", c.Name, derr)
			}
		}
	}()
	for _, name := range backendNames {
		c, err := pgtest.Start(ctx, pgtest.Options{Name: "failover-" + name})
		if err != nil {
			return err
		}
		clusters = append(clusters, c)
	}

	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	// As in the proxy's tests, so that a trial takes seconds; the health
	// checks keep their defaults, so that detection comes from traffic.
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: time.Second}
	cfg.CircuitBreaker.RecoveryRampUpDuration = config.Duration{Duration: 2 * time.Second}
	for i, c := range clusters {
		b := config.DefaultBackend()
		b.Name, b.Host, b.Port = backendNames[i], c.Host, c.Port
		cfg.Backends.Instances = append(cfg.Backends.Instances, b)
		cfg.HealthChecks.Password = c.Password
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	srv, addr, stop, err := inproc.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := stop(); rerr != nil && err == nil {
			err = rerr
		}
	}()
	events := srv.Subscribe(ctx)

	host, port, _ := net.SplitHostPort(addr)
	l := &load{
		dsn:       "host=" + host + " port=" + port + " user=postgres dbname=postgres sslmode=disable",
		timeout:   o.queryTimeout,
		hardClose: o.hardClose,
	}
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range o.clients {
		wg.Go(func() { l.client(lctx) })
	}
	defer wg.Wait()
	defer stopLoad()

	results := make(map[string][]trial)
	var runErr error
	started := time.Now()
scenarios:
	for _, sc := range o.scenarios {
		for n := range o.trials {
			i := n % len(clusters)
			t, err := runTrial(ctx, srv, events, l, sc, clusters[i], i)
			if err != nil {
				runErr = fmt.Errorf("%s trial %d (victim %s): %w", sc.name, n+1, backendNames[i], err)
				break scenarios
			}
			t.n = n + 1
			results[sc.name] = append(results[sc.name], t)
			progress(sc, o.trials, t)
		}
	}
	elapsed := time.Since(started)
	stopLoad()
	wg.Wait()
	report(o, cfg, results, elapsed, loadStart, loadAvg())
	if runErr != nil {
		fmt.Printf("\n**Stopped early:** %v\n", runErr)
	}
	return runErr
}

// runTrial waits for the load to reach the victim, injects the fault,
// and measures detection, isolation and recovery.
func runTrial(ctx context.Context, srv *proxy.Server, events <-chan status.Event, l *load, sc scenario, victim *pgtest.Cluster, i int) (trial, error) {
	name := backendNames[i]
	t := trial{victim: name}
	var err error
	if t.rate, err = waitReady(ctx, srv, i); err != nil {
		return t, err
	}
	drain(events)
	var halfOpenAt time.Time
	seen := func(ev status.Event) {
		switch {
		case ev.Type == status.CascadeDetected:
			t.others = append(t.others, fmt.Sprintf("%s of %s", ev.Type, strings.Join(ev.Backends, ", ")))
		case ev.Backend != name:
			t.others = append(t.others, fmt.Sprintf("%s %s (%s)", ev.Type, ev.Backend, ev.Reason))
		case ev.Type == status.RecoveryFailed:
			t.failed++
		case ev.Type == status.CircuitHalfOpened:
			halfOpenAt = ev.Time
		}
	}

	stopSampling := sampleSessions(ctx, srv, i)
	faultAt := time.Now()
	if err := sc.inject(victim); err != nil {
		stopSampling()
		return t, err
	}
	t.inject = time.Since(faultAt)
	opened, err := waitEvent(ctx, events, status.CircuitOpened, name, faultAt, seen)
	if err != nil {
		stopSampling()
		return t, err
	}
	t.detection = opened.Time.Sub(faultAt)
	t.reason, t.detail = opened.Reason, opened.Detail

	// Isolation: wait until the victim has no session, then read the
	// samples taken since the fault, with this last look, for when that
	// happened.
	deadline := opened.Time.Add(isolationCap)
	var last sample
	for {
		snap := srv.Snapshot()
		last = sample{snap.Taken, snap.Backends[i].ActiveConnections}
		if last.active == 0 || time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			stopSampling()
			return t, err
		}
	}
	ss := append(stopSampling(), last)
	slices.SortStableFunc(ss, func(a, b sample) int { return a.at.Compare(b.at) })
	t.sessions = ss[0].active
	t.isolation, t.isolated = isolation(ss, opened.Time)

	// The victim is back when the restore call returns or, if earlier, when
	// a connection to it first succeeds: Restart polls only every 200 ms.
	restoreAt := time.Now()
	pctx, stopPolling := context.WithCancel(ctx)
	accepting := acceptingAt(pctx, victim)
	err = sc.restore(ctx, victim)
	back := time.Now()
	if err != nil {
		stopPolling()
		<-accepting
		return t, err
	}
	at, ok := <-accepting
	stopPolling()
	for range accepting { // closed once the poller has hung up
	}
	if ok && at.Before(back) {
		back = at
	}
	t.restore = back.Sub(restoreAt)
	closed, err := waitEvent(ctx, events, status.CircuitClosed, name, opened.Time, seen)
	if err != nil {
		return t, err
	}
	t.recovery = closed.Time.Sub(back)
	t.halfOpen = halfOpenAt.Sub(back)

	// Errors up to OPEN + errorWindow are complete only once that has passed.
	if err := sleep(ctx, time.Until(opened.Time.Add(errorWindow))); err != nil {
		return t, err
	}
	t.errsEarly, _ = l.errorsBetween(faultAt, opened.Time.Add(errorWindow))
	t.errsAll, t.kinds = l.errorsBetween(faultAt, closed.Time)
	t.firstErr = -1
	if at := l.firstErrorAfter(faultAt); !at.IsZero() {
		t.firstErr = at.Sub(faultAt)
	}
	return t, nil
}

// waitReady waits until every circuit is CLOSED, every backend has
// sessions, and backend i serves at least minVictimRate queries/s, which it
// returns.
func waitReady(ctx context.Context, srv *proxy.Server, i int) (float64, error) {
	deadline := time.Now().Add(readyTimeout)
	for {
		s0 := srv.Snapshot()
		if err := sleep(ctx, rateInterval); err != nil {
			return 0, err
		}
		s1 := srv.Snapshot()
		rate := float64(s1.Backends[i].RequestsTotal-s0.Backends[i].RequestsTotal) / s1.Taken.Sub(s0.Taken).Seconds()
		ok := rate >= minVictimRate
		var state []string
		for j, b := range s1.Backends {
			ok = ok && b.CircuitState == "CLOSED" && b.ActiveConnections > 0 && s0.Backends[j].ActiveConnections > 0
			state = append(state, fmt.Sprintf("%s %s with %d sessions", b.Name, b.CircuitState, b.ActiveConnections))
		}
		if ok {
			return rate, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("load not ready after %v: %s at %.0f queries/s (want %.0f); %s",
				readyTimeout, s1.Backends[i].Name, rate, minVictimRate, strings.Join(state, ", "))
		}
	}
}

// drain discards the events published before a trial.
func drain(events <-chan status.Event) {
	for {
		select {
		case <-events:
		default:
			return
		}
	}
}

// waitEvent returns the first event of typ for backend at or after since;
// the other events it reads go to seen.
func waitEvent(ctx context.Context, events <-chan status.Event, typ status.EventType, backend string, since time.Time, seen func(status.Event)) (status.Event, error) {
	timer := time.NewTimer(eventTimeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return ev, cmp.Or(ctx.Err(), errors.New("event stream closed"))
			}
			if ev.Time.Before(since) {
				continue
			}
			if ev.Type == typ && ev.Backend == backend {
				return ev, nil
			}
			seen(ev)
		case <-timer.C:
			return status.Event{}, fmt.Errorf("no %s event for %s within %v", typ, backend, eventTimeout)
		case <-ctx.Done():
			return status.Event{}, ctx.Err()
		}
	}
}

// acceptingAt connects to c over TCP every pollInterval until a connection
// succeeds, and sends the time it did; the channel closes without a value
// when ctx ends or eventTimeout passes first.
func acceptingAt(ctx context.Context, c *pgtest.Cluster) <-chan time.Time {
	out := make(chan time.Time, 1)
	go func() {
		defer close(out)
		ctx, cancel := context.WithTimeout(ctx, eventTimeout)
		defer cancel()
		for ctx.Err() == nil {
			actx, acancel := context.WithTimeout(ctx, time.Second)
			conn, err := pgconn.Connect(actx, c.DSN(c.User, "", "postgres"))
			acancel()
			if err == nil {
				// The end of the attempt: one that started while the
				// server was paused succeeds only once it continues.
				out <- time.Now()
				_ = conn.Close(ctx)
				return
			}
			_ = sleep(ctx, pollInterval)
		}
	}()
	return out
}

type sample struct {
	at     time.Time
	active int
}

// sampleSessions records backend i's session count every sampleInterval
// until the returned function is called, which returns the samples.
func sampleSessions(ctx context.Context, srv *proxy.Server, i int) func() []sample {
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan []sample, 1)
	go func() {
		t := time.NewTicker(sampleInterval)
		defer t.Stop()
		var ss []sample
		for {
			snap := srv.Snapshot()
			ss = append(ss, sample{snap.Taken, snap.Backends[i].ActiveConnections})
			select {
			case <-ctx.Done():
				out <- ss
				return
			case <-t.C:
			}
		}
	}()
	return func() []sample { cancel(); return <-out }
}

// isolation returns how long after opened the backend still had sessions:
// the first sample at or after opened with none, or zero when the sample
// before that, taken before opened, had none already.
func isolation(ss []sample, opened time.Time) (time.Duration, bool) {
	for k, s := range ss {
		if s.at.Before(opened) || s.active > 0 {
			continue
		}
		if k > 0 && ss[k-1].at.Before(opened) && ss[k-1].active == 0 {
			return 0, true
		}
		return s.at.Sub(opened), true
	}
	return isolationCap, false
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// load is the client side: each client loops SELECT 1 through the proxy,
// reconnecting every reconnectEvery queries and after any error. Every
// error a client sees is kept with its time.
type load struct {
	dsn       string
	timeout   time.Duration // per query; 0 means none
	hardClose bool          // close the socket on a query error, without pgx's cancel and Terminate

	mu   sync.Mutex
	errs []clientError
}

type clientError struct {
	at   time.Time
	kind string
}

func (l *load) client(ctx context.Context) {
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, connectTimeout)
		conn, err := pgx.Connect(cctx, l.dsn)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				l.fail("connect", err)
				_ = sleep(ctx, 20*time.Millisecond) // pace reconnects; this is load shaping
			}
			continue
		}
		for range reconnectEvery {
			if err := l.query(ctx, conn); err != nil {
				if ctx.Err() == nil {
					l.fail("query", err)
				}
				if l.hardClose {
					_ = conn.PgConn().Conn().Close() // pgx's own close then finds it closed
				}
				break
			}
		}
		cctx, cancel = context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(cctx) // a broken connection has nothing left to say
		cancel()
	}
}

func (l *load) query(ctx context.Context, conn *pgx.Conn) error {
	if l.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.timeout)
		defer cancel()
	}
	_, err := conn.Exec(ctx, "SELECT 1")
	return err
}

func (l *load) fail(op string, err error) {
	kind := op + " I/O error"
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		kind = op + " " + pe.Code
	case pgconn.Timeout(err), errors.Is(err, context.DeadlineExceeded):
		kind = op + " timeout"
	}
	l.mu.Lock()
	l.errs = append(l.errs, clientError{time.Now(), kind})
	l.mu.Unlock()
}

// firstErrorAfter returns the time of the first client error at or after
// from, or the zero time if there is none.
func (l *load) firstErrorAfter(from time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.errs {
		if !e.at.Before(from) {
			return e.at
		}
	}
	return time.Time{}
}

// errorsBetween counts the client errors in [from, to], in all and by kind.
func (l *load) errorsBetween(from, to time.Time) (int, map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, kinds := 0, make(map[string]int)
	for _, e := range l.errs {
		if !e.at.Before(from) && !e.at.After(to) {
			n++
			kinds[e.kind]++
		}
	}
	return n, kinds
}

func progress(sc scenario, trials int, t trial) {
	iso := ms(t.isolation)
	if !t.isolated {
		iso = "not within " + isolationCap.String()
	}
	first := "none"
	if t.firstErr >= 0 {
		first = ms(t.firstErr)
	}
	fmt.Fprintf(os.Stderr, "%s %2d/%d %s (%4.0f q/s, %d sessions): detection %s (%s, %s returned after %s), isolation %s, back %s after restore call, recovery %s (HALF_OPEN at %s), errors %d to OPEN+1s, %d to CLOSED (first at %s)",
		sc.name, t.n, trials, t.victim, t.rate, t.sessions, ms(t.detection), t.reason, sc.call, ms(t.inject), iso, ms(t.restore), ms(t.recovery), ms(t.halfOpen), t.errsEarly, t.errsAll, first)
	if t.failed > 0 {
		fmt.Fprintf(os.Stderr, ", %d failed recoveries", t.failed)
	}
	if len(t.others) > 0 {
		fmt.Fprintf(os.Stderr, "; other backends: %s", strings.Join(t.others, ", "))
	}
	fmt.Fprintln(os.Stderr)
}

func report(o options, cfg config.Config, results map[string][]trial, elapsed time.Duration, loadStart, loadEnd string) {
	host, _ := os.Hostname()
	cb, hc := cfg.CircuitBreaker, cfg.HealthChecks
	timeout := "none"
	if o.queryTimeout > 0 {
		timeout = o.queryTimeout.String()
	}
	fmt.Printf("\nMachine: %s, %d CPUs (%s), %s; load average %s at the start, %s at the end; %s in all.\n\n",
		host, runtime.NumCPU(), machine.CPUModel(), runtime.Version(), loadStart, loadEnd, elapsed.Round(time.Second))
	fmt.Printf("Command: `go run ./bench/failover%s`\n\n", strings.TrimRight(" "+strings.Join(os.Args[1:], " "), " "))
	fmt.Printf("Setup: 3 PostgreSQL clusters (pgtest, trust), proxy in-process, pool.mode %s. Changed from the defaults: "+
		"circuit_breaker.open_duration %v, recovery_ramp_up_duration %v. Defaults: health_checks.interval %v, timeout %v; "+
		"connection_failure_threshold %d, latency_threshold_p95_ms %d, p99 %d, failure_threshold_percentage %g, minimum_requests %d, "+
		"metrics_window_size %v, half_open_max_concurrent %d, half_open_success_threshold %g, recovery_step_percentage %g, "+
		"max_ejection_percent %g, proxy.connect_timeout %v.\n\n",
		cfg.Pool.Mode, cb.OpenDuration.Duration, cb.RecoveryRampUpDuration.Duration, hc.Interval.Duration, hc.Timeout.Duration,
		cb.ConnectionFailureThreshold, cb.LatencyThresholdP95Ms, cb.LatencyThresholdP99Ms, cb.FailureThresholdPercentage, cb.MinimumRequests,
		cb.MetricsWindowSize.Duration, cb.HalfOpenMaxConcurrent, cb.HalfOpenSuccessThreshold, cb.RecoveryStepPercentage,
		cb.MaxEjectionPercent, cfg.Proxy.ConnectTimeout.Duration)
	closing := "pgx's own close after a failed query (cancel request, Terminate, then waiting up to 15s for the server to close)"
	if o.hardClose {
		closing = "the socket closed at once after a failed query"
	}
	fmt.Printf("Load: %d clients, each looping `SELECT 1` (pgx %s, simple protocol) with a %s timeout per query, "+
		"reconnecting after every %d queries and after any error, %s; at least %.0f queries/s on the victim before each fault. "+
		"The victim rotates over %s.\n",
		o.clients, pgxVersion(), timeout, reconnectEvery, closing, minVictimRate, strings.Join(backendNames, ", "))
	fmt.Println("\nDetection: fault → CircuitOpened. Isolation: CircuitOpened → the victim has no client session (sampled every 2 ms; 0 if it had none left at the opening). " +
		"Recovery: the victim accepts connections again (first successful direct connection, polled every 5 ms) → CircuitClosed. " +
		"Errors: what the load clients saw from the fault to OPEN+1s, and to CLOSED.")
	for _, sc := range o.scenarios {
		ts := results[sc.name]
		if len(ts) == 0 {
			continue
		}
		fmt.Printf("\n### %s: %s (%d trials)\n\n", sc.name, sc.fault, len(ts))
		fmt.Println("| per trial | p50 | p95 | max | total |")
		fmt.Println("|---|---|---|---|---|")
		row := func(what string, f func(trial) time.Duration) {
			var ds []float64
			for _, t := range ts {
				ds = append(ds, float64(f(t)))
			}
			fmt.Printf("| %s | %s | %s | %s | |\n", what, ms(time.Duration(pct(ds, 50))), ms(time.Duration(pct(ds, 95))), ms(time.Duration(pct(ds, 100))))
		}
		count := func(what string, f func(trial) int) {
			var xs []float64
			total := 0
			for _, t := range ts {
				xs = append(xs, float64(f(t)))
				total += f(t)
			}
			fmt.Printf("| %s | %.0f | %.0f | %.0f | %d |\n", what, pct(xs, 50), pct(xs, 95), pct(xs, 100), total)
		}
		row("detection", func(t trial) time.Duration { return t.detection })
		row("isolation", func(t trial) time.Duration { return t.isolation })
		row("recovery", func(t trial) time.Duration { return t.recovery })
		row("↳ back → HALF_OPEN", func(t trial) time.Duration { return t.halfOpen })
		row("↳ HALF_OPEN → CLOSED", func(t trial) time.Duration { return t.recovery - t.halfOpen })
		count("client errors, fault → OPEN+1s", func(t trial) int { return t.errsEarly })
		count("client errors, fault → CLOSED", func(t trial) int { return t.errsAll })

		reasons, kinds, victims := map[string]int{}, map[string]int{}, map[string]int{}
		var failed, notIsolated int
		var others []string
		minRate := math.Inf(1)
		for _, t := range ts {
			reasons[t.reason]++
			victims[t.victim]++
			for k, n := range t.kinds {
				kinds[k] += n
			}
			failed += t.failed
			if !t.isolated {
				notIsolated++
			}
			for _, e := range t.others {
				others = append(others, fmt.Sprintf("trial %d: %s", t.n, e))
			}
			minRate = min(minRate, t.rate)
		}
		slowest := slices.MaxFunc(ts, func(a, b trial) int { return cmp.Compare(a.detection, b.detection) })
		fmt.Printf("\nOpen reasons: %s. Victims: %s. Victim load before the fault: at least %.0f queries/s.\n",
			tally(reasons), tally(victims), minRate)
		fmt.Printf("Client errors by kind (fault → CLOSED): %s.\n", cmp.Or(tally(kinds), "none"))
		var inject, restore, sessions, firstErr []float64
		for _, t := range ts {
			inject = append(inject, float64(t.inject))
			restore = append(restore, float64(t.restore))
			sessions = append(sessions, float64(t.sessions))
			if t.firstErr >= 0 {
				firstErr = append(firstErr, float64(t.firstErr))
			}
		}
		fmt.Printf("Sessions on the victim at the fault: %.0f to %.0f. First client error after the fault: p50 %s, max %s (%d trials had one).\n",
			pct(sessions, 0), pct(sessions, 100), ms(time.Duration(pct(firstErr, 50))), ms(time.Duration(pct(firstErr, 100))), len(firstErr))
		fmt.Printf("pgtest %s returned after p50 %s, max %s (detection counts from before the call); the restore call to the victim accepting connections took p50 %s, max %s.\n",
			sc.call, ms(time.Duration(pct(inject, 50))), ms(time.Duration(pct(inject, 100))), ms(time.Duration(pct(restore, 50))), ms(time.Duration(pct(restore, 100))))
		fmt.Printf("Slowest detection: trial %d (%s) %s: %s.\n", slowest.n, slowest.victim, ms(slowest.detection), slowest.detail)
		if failed > 0 {
			fmt.Printf("Failed recoveries (RecoveryFailed): %d.\n", failed)
		}
		if notIsolated > 0 {
			fmt.Printf("Not isolated within %v (counted as %v): %d trials.\n", isolationCap, isolationCap, notIsolated)
		}
		if len(others) > 0 {
			fmt.Printf("Events of other backends during trials: %s.\n", strings.Join(others, "; "))
		}
	}
}

// pct is the p-th percentile of xs by nearest rank.
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(k, len(s)-1))]
}

func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	if math.Abs(v) < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
}

// tally writes counts as "a ×3, b ×1", most frequent first.
func tally(m map[string]int) string {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), strings.Compare(a, b))
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", cmp.Or(k, "(none)"), m[k]))
	}
	return strings.Join(parts, ", ")
}

// pgxVersion is the pgx module version this binary was built with.
func pgxVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/jackc/pgx/v5" {
				return m.Version
			}
		}
	}
	return "v5"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
