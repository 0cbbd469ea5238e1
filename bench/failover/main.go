// Command failover measures how HeliosProxy takes a failed backend out of
// rotation under load and brings it back, over repeated trials, and prints
// p50 / p95 / max as Markdown tables.
//
//	go run ./bench/failover [-trials 20] [-clients 12] [-scenarios kill,hang,slow] [-mode session|transaction] [-rate N] [-slow-delay D] [-open-other]
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
// victim rotates among the three backends (in transaction mode, see
// waitReady). Everything is removed on exit, Ctrl-C included.
//
// The slow scenario degrades latency inside PostgreSQL: each cluster gets
// a table helios_bench_delay(ms) and a function helios_bench_work() that
// sleeps that many milliseconds, which the load calls instead of SELECT 1.
// The fault sets ms to -slow-delay (default 3 × latency_threshold_p95_ms,
// which -latency-p95 sets: no query is slow before it) on the victim over a superuser connection opened before it; the victim
// goes on accepting connections and answering, only slowly. ms goes back
// to 0 once the victim is isolated or its circuit leaves OPEN, whichever
// comes first, and recovery counts from that UPDATE's commit.
//
// In session mode the proxy leaves the sessions on an OPEN backend to their
// clients while it answers its health checks; a hung backend's end once
// connection_failure_threshold checks in a row went unanswered (FATAL
// 08006), unless the clients give up sooner: -query-timeout, and
// -hard-close instead of pgx's graceful close.
//
// With -mode transaction the load's role is a [[users]] entry in
// transaction pooling: each client keeps one connection for the whole run
// and goes on with it after an error, and each query, SELECT
// inet_server_port(), is a transaction that says which backend ran it. Per
// trial the report then compares the client errors with the transactions
// in flight on the victim when the fault began. -rate paces the load to N
// queries (transactions) per second over all clients.
//
// With -open-other, each trial first forces another backend's circuit OPEN
// (an operator override, cleared once the victim's circuit has closed):
// with one circuit of three open, the max-ejection guard (50%) holds back
// every latency trip, so only hard failures and hung backends open the
// victim's. The slow scenario is then never detected, by design.
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
	maxLag         = 50 * time.Millisecond  // a paced client skips the query slots older than this, so that a stall is not followed by a burst
	settleCap      = 30 * time.Second       // the longest wait for the transactions begun before CLOSED to end
	keepRecords    = 2 * time.Second        // transactions that ended this long before a trial's fault are forgotten
	reopenMargin   = 500 * time.Millisecond // slow: after the restore plus the delay, for the queries begun before the restore to end
)

var backendNames = []string{"pg-a", "pg-b", "pg-c"}

// scenario is one way of failing a backend and bringing it back.
type scenario struct {
	name  string
	call  string // what injects the fault: a pgcluster method, or UPDATE
	fault string // for the report
	// slow is set for the latency scenario: the load calls
	// helios_bench_work(), inject and restore use victim.conn, the victim
	// never stops accepting connections, and the restore comes once the
	// victim is isolated or its circuit leaves OPEN.
	slow    bool
	delay   time.Duration // slow: the added latency
	inject  func(ctx context.Context, v victim) error
	restore func(ctx context.Context, v victim) error
}

// victim is the backend a trial fails.
type victim struct {
	c    *pgcluster.Cluster
	conn *pgconn.PgConn // a superuser connection opened before the fault; nil unless the scenario is slow
}

// The slow scenario's delay lives in each cluster, so that the load's
// queries are slow in PostgreSQL itself. The load's role is the
// superuser, which needs no grant; the grant is for any other role.
const (
	delaySetup = `CREATE TABLE helios_bench_delay (ms int NOT NULL);
INSERT INTO helios_bench_delay VALUES (0);
CREATE FUNCTION helios_bench_work() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_sleep((SELECT ms FROM helios_bench_delay) / 1000.0);
	RETURN 1;
END
$$;
GRANT SELECT ON helios_bench_delay TO PUBLIC;`
	workQuery   = "SELECT helios_bench_work()"                         // session mode's query in the slow scenario
	workTxQuery = "SELECT inet_server_port() FROM helios_bench_work()" // transaction mode's
)

// newScenarios returns every scenario; slow sets helios_bench_delay.ms to
// delay.
func newScenarios(delay time.Duration) []scenario {
	setDelay := func(ms int64) func(ctx context.Context, v victim) error {
		return func(ctx context.Context, v victim) error {
			_, err := v.conn.Exec(ctx, "UPDATE helios_bench_delay SET ms = "+strconv.FormatInt(ms, 10)).ReadAll()
			return err
		}
	}
	return []scenario{
		{
			name:    "kill",
			call:    "pgcluster Kill",
			fault:   "SIGKILL of the postmaster and all its processes (pgcluster Kill); Restart once the victim is isolated",
			inject:  func(_ context.Context, v victim) error { return v.c.Kill() },
			restore: func(ctx context.Context, v victim) error { return v.c.Restart(ctx) },
		},
		{
			name:    "hang",
			call:    "pgcluster Pause",
			fault:   "SIGSTOP of the postmaster and all its processes (pgcluster Pause); Resume once the victim is isolated",
			inject:  func(_ context.Context, v victim) error { return v.c.Pause() },
			restore: func(_ context.Context, v victim) error { return v.c.Resume() },
		},
		{
			name: "slow",
			call: "UPDATE",
			fault: fmt.Sprintf("every query on the victim takes %v more (helios_bench_delay.ms = %d); ms = 0 once the victim is isolated or its circuit leaves OPEN",
				delay, delay.Milliseconds()),
			slow:    true,
			delay:   delay,
			inject:  setDelay(delay.Milliseconds()),
			restore: setDelay(0),
		},
	}
}

func main() {
	trials := flag.Int("trials", 20, "trials per scenario")
	clients := flag.Int("clients", 12, "concurrent load clients")
	names := flag.String("scenarios", "kill,hang", "comma-separated scenarios to run: kill, hang, slow")
	slowDelay := flag.Duration("slow-delay", 0, "the slow scenario's added latency per query; 0 means 3 × circuit_breaker.latency_threshold_p95_ms")
	queryTimeout := flag.Duration("query-timeout", 2*time.Second, "load clients' timeout per query; 0 means none")
	hardClose := flag.Bool("hard-close", false, "on a query error, close the client's socket at once instead of pgx's graceful close\n(cancel request, Terminate, then up to 15s waiting for the server to close)")
	verbose := flag.Bool("v", false, "log the proxy's state changes to stderr")
	mode := flag.String("mode", "session", "pool mode of the load's role: session (relayed, pass-through authentication) or transaction ([[users]] entry)")
	rate := flag.Float64("rate", 0, "queries (transactions) per second over all clients; 0 means as fast as they go")
	latencyP95 := flag.Duration("latency-p95", 0, "circuit_breaker.latency_threshold_p95_ms; 0 means the default, 500ms. Latency degradation cannot be detected sooner than this")
	openOther := flag.Bool("open-other", false, "force another backend's circuit OPEN before each fault (cleared after the victim's CLOSED), so that the max-ejection guard holds back latency trips")
	flag.Parse()
	if *latencyP95 < 0 || *latencyP95%time.Millisecond != 0 {
		fmt.Fprintf(os.Stderr, "failover: -latency-p95 must be whole milliseconds, not negative, got %v\n", *latencyP95)
		os.Exit(2)
	}
	if *latencyP95 == 0 {
		*latencyP95 = time.Duration(config.Default().CircuitBreaker.LatencyThresholdP95Ms) * time.Millisecond
	}
	if *slowDelay < 0 || *slowDelay%time.Millisecond != 0 {
		fmt.Fprintf(os.Stderr, "failover: -slow-delay must be whole milliseconds, not negative, got %v\n", *slowDelay)
		os.Exit(2)
	}
	if *slowDelay == 0 {
		*slowDelay = 3 * *latencyP95
	}
	scenarios := newScenarios(*slowDelay)
	var chosen []scenario
	for name := range strings.SplitSeq(*names, ",") {
		i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == strings.TrimSpace(name) })
		if i < 0 {
			fmt.Fprintf(os.Stderr, "failover: -scenarios: unknown scenario %q (want kill, hang, slow)\n", name)
			os.Exit(2)
		}
		chosen = append(chosen, scenarios[i])
	}
	if *trials < 1 || *clients < 1 || *queryTimeout < 0 || *rate < 0 {
		fmt.Fprintf(os.Stderr, "failover: -trials and -clients must be positive and -query-timeout and -rate not negative, got %d, %d, %v, %g\n", *trials, *clients, *queryTimeout, *rate)
		os.Exit(2)
	}
	if *mode != "session" && *mode != "transaction" {
		fmt.Fprintf(os.Stderr, "failover: -mode must be session or transaction, got %q\n", *mode)
		os.Exit(2)
	}
	if *openOther && slices.ContainsFunc(chosen, func(sc scenario) bool { return sc.slow }) {
		fmt.Fprintln(os.Stderr, "failover: -open-other holds back the slow scenario's latency trips by design; run it with kill or hang")
		os.Exit(2)
	}
	if *mode == "transaction" && *hardClose {
		fmt.Fprintln(os.Stderr, "failover: -hard-close is for session mode: in transaction mode the clients keep their connections")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := options{trials: *trials, clients: *clients, scenarios: chosen, queryTimeout: *queryTimeout, hardClose: *hardClose, verbose: *verbose,
		txMode: *mode == "transaction", rate: *rate, latencyP95: *latencyP95, openOther: *openOther}
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
	txMode       bool
	rate         float64 // queries/s over all clients; 0: unpaced
	latencyP95   time.Duration
	openOther    bool // force another backend OPEN during each trial
}

// victimRate is the query rate the victim must serve before a fault:
// minVictimRate, or under a -rate too low for that, half its share.
func (o options) victimRate() float64 {
	if o.rate > 0 {
		return min(minVictimRate, o.rate/float64(len(backendNames))/2)
	}
	return minVictimRate
}

// trial is what one fault measured.
type trial struct {
	n         int
	victim    string
	rate      float64       // victim's queries/s before the fault
	share     float64       // victim's share of all requests then
	sessions  int           // sessions on the victim at the fault
	inject    time.Duration // how long Kill, Pause or the UPDATE took to return
	detection time.Duration
	isolation time.Duration
	isolated  bool          // false: the victim still had sessions when the wait ended (isolationCap after OPEN; slow: when the circuit left OPEN)
	left      int           // sessions on the victim when the wait for isolation ended
	restore   time.Duration // restore call → the victim accepts connections (Restart includes crash recovery; slow: the UPDATE's commit)
	recovery  time.Duration // the victim accepts connections → CLOSED
	halfOpen  time.Duration // the victim accepts connections → the last HALF_OPEN before CLOSED
	reason    string
	detail    string
	errsEarly int            // client errors from the fault to OPEN + errorWindow
	errsAll   int            // client errors from the fault to CLOSED
	firstErr  time.Duration  // fault → the first client error; negative if none
	kinds     map[string]int // errsAll by kind
	failed    int            // RecoveryFailed events of the victim
	reopened  time.Duration  // slow: CLOSED → the victim's next CircuitOpened while queries begun before the restore could still run; negative if none
	reopenBy  string         // its rule (see tripRule) and detail
	reopens   int            // slow: such openings in all
	settled   time.Duration  // slow: the victim is back → the CLOSED not followed by such an opening
	others    []string       // events of other backends during the trial
	tx        txStats        // transaction mode only
}

// txStats is what transaction mode's records tell about one fault, by
// when the client began each transaction: before the fault, between the
// fault and CircuitOpened, or between that and CircuitClosed.
type txStats struct {
	inFlight   int            // on the victim at the fault: begun before, ended at or after it, and ran there or failed
	inFlightOK int            // of those, the ones that succeeded: the victim's backend answered before it was killed
	errBefore  int            // failed, begun before the fault (in flight at it)
	errDuring  int            // failed, begun from the fault to OPEN: sent to the victim while it was being killed, before the proxy knew
	errKilled  int            // of those, begun after the fault call returned: every process of the victim was gone
	errAfter   int            // failed, begun from OPEN to CLOSED: the proxy knew
	kinds      map[string]int // of those errors
	victimOK   int            // succeeded on the victim, begun from the fault to OPEN
	reconnects int            // connections found closed, from the fault to CLOSED
	longest    time.Duration  // the longest transaction begun from the fault to CLOSED
	longestAt  time.Duration  // when it began, after the fault
	longestOn  string         // the port that ran it, or its error
	rate       float64        // transactions begun per second in the second before the fault
	unfinished int            // transactions begun before CLOSED still running settleCap after it
	victimPort int            // the port of the victim's cluster, which inet_server_port() returns there
}

func (x txStats) errs() int { return x.errBefore + x.errDuring + x.errAfter }

func run(ctx context.Context, o options) (err error) {
	loadStart := machine.LoadAvg()
	var clusters []*pgcluster.Cluster
	defer func() {
		for _, c := range clusters {
			if derr := c.Destroy(); derr != nil {
				fmt.Fprintf(os.Stderr, "remove cluster %s: %v\n", c.Name, derr)
			}
		}
	}()
	for _, name := range backendNames {
		c, err := pgcluster.Start(ctx, pgcluster.Options{Name: "failover-" + name})
		if err != nil {
			return err
		}
		clusters = append(clusters, c)
	}
	if slices.ContainsFunc(o.scenarios, func(sc scenario) bool { return sc.slow }) {
		for _, c := range clusters {
			if err := c.Exec(ctx, delaySetup); err != nil {
				return fmt.Errorf("create helios_bench_work on %s: %w", c.Name, err)
			}
		}
	}

	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	// As in the proxy's tests, so that a trial takes seconds; the health
	// checks keep their defaults, so that detection comes from traffic.
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: time.Second}
	cfg.CircuitBreaker.RecoveryRampUpDuration = config.Duration{Duration: 2 * time.Second}
	cfg.CircuitBreaker.LatencyThresholdP95Ms = int(o.latencyP95 / time.Millisecond)
	for i, c := range clusters {
		b := config.DefaultBackend()
		b.Name, b.Host, b.Port = backendNames[i], c.Host, c.Port
		cfg.Backends.Instances = append(cfg.Backends.Instances, b)
		cfg.HealthChecks.Password = c.Password
	}
	if o.txMode {
		// The proxy authenticates the load's role itself; the clusters
		// trust it. Each client holds at most one server connection at a
		// time, so no client waits for one.
		cfg.Pool.Mode = "transaction"
		cfg.Users = []config.User{{Name: clusters[0].User, AuthMethod: "trust"}}
		cfg.Pool.DefaultPoolSize = max(cfg.Pool.DefaultPoolSize, o.clients)
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
		busy:      make([]atomic.Int64, o.clients),
	}
	if o.rate > 0 {
		l.pace = &pacer{start: time.Now(), rate: o.rate}
	}
	l.work.Store(o.scenarios[0].slow)
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	loadFrom := time.Now()
	for k := range o.clients {
		if o.txMode {
			wg.Go(func() { l.txClient(lctx, k) })
		} else {
			wg.Go(func() { l.client(lctx) })
		}
	}
	defer wg.Wait()
	defer stopLoad()
	if o.txMode {
		// So that the first trial's rate before the fault is not the
		// clients' connecting.
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}

	results := make(map[string][]trial)
	var runErr error
	started := time.Now()
scenarios:
	for _, sc := range o.scenarios {
		l.work.Store(sc.slow)
		for n := range o.trials {
			t, err := runTrial(ctx, o, srv, events, l, sc, clusters, n%len(clusters))
			if err != nil {
				runErr = fmt.Errorf("%s trial %d (victim %s): %w", sc.name, n+1, cmp.Or(t.victim, "not chosen"), err)
				break scenarios
			}
			t.n = n + 1
			results[sc.name] = append(results[sc.name], t)
			progress(sc, o.trials, t, o.txMode)
		}
	}
	elapsed := time.Since(started)
	stopLoad()
	wg.Wait()
	l.ran = time.Since(loadFrom)
	report(o, cfg, l, results, elapsed, loadStart, machine.LoadAvg())
	if runErr != nil {
		fmt.Printf("\n**Stopped early:** %v\n", runErr)
	}
	return runErr
}

// runTrial waits for the load to reach the victim, injects the fault,
// and measures detection, isolation and recovery.
func runTrial(ctx context.Context, o options, srv *proxy.Server, events <-chan status.Event, l *load, sc scenario, clusters []*pgcluster.Cluster, i int) (t trial, err error) {
	if i, t.rate, t.share, err = waitReady(ctx, srv, i, o.victimRate(), o.txMode); err != nil {
		return t, err
	}
	name, v := backendNames[i], victim{c: clusters[i]}
	t.victim = name
	if sc.slow {
		// Opened now, so that the fault is one UPDATE on a connection
		// that is ready.
		if v.conn, err = pgconn.Connect(ctx, v.c.DSN(v.c.User, v.c.Password, "postgres")); err != nil {
			return t, fmt.Errorf("connect to %s: %w", v.c.Name, err)
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = v.conn.Close(cctx) // only the bench used it
			cancel()
		}()
	}
	l.forget(time.Now().Add(-keepRecords))
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

	if o.openOther {
		other := backendNames[(i+1)%len(backendNames)]
		if err := srv.SetOverride(ctx, status.Override{Backend: other, State: status.Open, Reason: "bench -open-other", Author: "failover"}); err != nil {
			return t, err
		}
		defer func() {
			if cerr := srv.ClearOverride(ctx, other, "failover"); cerr != nil && err == nil {
				err = cerr
			}
		}()
	}
	stopSampling := sampleSessions(ctx, srv, i)
	faultAt := time.Now()
	if err := sc.inject(ctx, v); err != nil {
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
	// happened. A slowed victim keeps its sessions in session mode: their
	// queries still succeed, and the proxy leaves relayed sessions to
	// their clients. Its delay is removed when the circuit leaves OPEN,
	// not after isolationCap, so that the half-open probes do not keep
	// the circuit flapping and drawing new sessions to a slow backend.
	deadline := opened.Time.Add(isolationCap)
	var last sample
	for {
		snap := srv.Snapshot()
		last = sample{snap.Taken, snap.Backends[i].ActiveConnections}
		if last.active == 0 || time.Now().After(deadline) || sc.slow && snap.Backends[i].CircuitState != status.Open {
			break
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			stopSampling()
			return t, err
		}
	}
	ss := append(stopSampling(), last)
	slices.SortStableFunc(ss, func(a, b sample) int { return a.at.Compare(b.at) })
	t.sessions, t.left = ss[0].active, last.active
	t.isolation, t.isolated = isolation(ss, opened.Time)

	restoreAt := time.Now()
	back, err := restore(ctx, sc, v)
	if err != nil {
		return t, err
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
	t.reopened, t.settled = -1, t.recovery
	// Queries begun before the UPDATE that removed the delay still sleep,
	// and CLOSED starts a fresh window in which they are slow samples.
	from := closed.Time
	for sc.slow {
		ev, ok, err := nextEvent(ctx, events, status.CircuitOpened, name, from, back.Add(sc.delay+reopenMargin), seen)
		if err != nil {
			return t, err
		}
		if !ok {
			break
		}
		if t.reopens++; t.reopens == 1 {
			t.reopened, t.reopenBy = ev.Time.Sub(closed.Time), tripRule(ev.Reason, ev.Detail)+": "+ev.Detail
		}
		again, err := waitEvent(ctx, events, status.CircuitClosed, name, ev.Time, seen)
		if err != nil {
			return t, err
		}
		from = again.Time
		t.settled = again.Time.Sub(back)
	}
	if o.txMode {
		unfinished, err := l.settle(ctx, closed.Time)
		if err != nil {
			return t, err
		}
		t.tx = l.around(faultAt, faultAt.Add(t.inject), opened.Time, closed.Time, v.c.Port)
		t.tx.unfinished = unfinished
	}
	return t, nil
}

// restore brings the victim back and returns when it was: when the
// restore call returns or, if earlier, when a connection to it first
// succeeds (Restart polls only every 200 ms). A slowed victim never stopped
// accepting connections; it is back when the UPDATE that removes the delay
// has committed.
func restore(ctx context.Context, sc scenario, v victim) (time.Time, error) {
	if sc.slow {
		err := sc.restore(ctx, v)
		return time.Now(), err
	}
	pctx, stopPolling := context.WithCancel(ctx)
	accepting := acceptingAt(pctx, v.c)
	err := sc.restore(ctx, v)
	back := time.Now()
	if err != nil {
		stopPolling()
		<-accepting
		return back, err
	}
	at, ok := <-accepting
	stopPolling()
	for range accepting { // closed once the poller has hung up
	}
	if ok && at.Before(back) {
		back = at
	}
	return back, nil
}

// waitReady waits until every circuit is CLOSED and, in session mode,
// every backend has sessions and backend i serves at least need
// queries/s. In transaction mode the proxy routes each transaction on its
// own, and at a low concurrency it sends most of them to one backend: i
// is ignored and the victim is the backend that serves the most, at least
// need transactions/s. It returns the victim, its rate, and its share of
// all the requests.
func waitReady(ctx context.Context, srv *proxy.Server, i int, need float64, txMode bool) (victim int, rate, share float64, err error) {
	deadline := time.Now().Add(readyTimeout)
	for {
		s0 := srv.Snapshot()
		if err := sleep(ctx, rateInterval); err != nil {
			return 0, 0, 0, err
		}
		s1 := srv.Snapshot()
		served := make([]float64, len(s1.Backends))
		for j, b := range s1.Backends {
			served[j] = float64(b.RequestsTotal - s0.Backends[j].RequestsTotal)
		}
		if txMode {
			i = slices.Index(served, slices.Max(served))
		}
		rate = served[i] / s1.Taken.Sub(s0.Taken).Seconds()
		ok := rate >= need
		var state []string
		for j, b := range s1.Backends {
			ok = ok && b.CircuitState == status.Closed
			if txMode {
				state = append(state, fmt.Sprintf("%s %s with %.0f requests", b.Name, b.CircuitState, served[j]))
				continue
			}
			ok = ok && b.ActiveConnections > 0 && s0.Backends[j].ActiveConnections > 0
			state = append(state, fmt.Sprintf("%s %s with %d sessions", b.Name, b.CircuitState, b.ActiveConnections))
		}
		if ok {
			total := 0.0
			for _, n := range served {
				total += n
			}
			return i, rate, served[i] / total, nil
		}
		if time.Now().After(deadline) {
			return 0, 0, 0, fmt.Errorf("load not ready after %v: %s at %.0f queries/s (want %.0f); %s",
				readyTimeout, s1.Backends[i].Name, rate, need, strings.Join(state, ", "))
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

// nextEvent returns the first event of typ for backend at or after since,
// or false if none comes before until; the other events it reads go to
// seen.
func nextEvent(ctx context.Context, events <-chan status.Event, typ status.EventType, backend string, since, until time.Time, seen func(status.Event)) (status.Event, bool, error) {
	timer := time.NewTimer(time.Until(until))
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return ev, false, cmp.Or(ctx.Err(), errors.New("event stream closed"))
			}
			if ev.Time.Before(since) {
				continue
			}
			if ev.Type == typ && ev.Backend == backend {
				return ev, true, nil
			}
			seen(ev)
		case <-timer.C:
			return status.Event{}, false, nil
		case <-ctx.Done():
			return status.Event{}, false, ctx.Err()
		}
	}
}

// acceptingAt connects to c over TCP every pollInterval until a connection
// succeeds, and sends the time it did; the channel closes without a value
// when ctx ends or eventTimeout passes first.
func acceptingAt(ctx context.Context, c *pgcluster.Cluster) <-chan time.Time {
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
// before that, taken before opened, had none already. If every sample had
// sessions, it returns false and the time from opened to the last one.
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
	return ss[len(ss)-1].at.Sub(opened), false
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

// load is the client side. In session mode each client loops SELECT 1
// through the proxy, reconnecting every reconnectEvery queries and after
// any error. In transaction mode each client keeps one connection and
// loops SELECT inet_server_port(), recording every transaction; it
// reconnects only when it finds its connection closed. While work is set
// (the slow scenario) the queries call helios_bench_work() as well. Every
// error a client sees is kept with its time.
type load struct {
	dsn       string
	timeout   time.Duration  // per query; 0 means none
	hardClose bool           // close the socket on a query error, without pgx's cancel and Terminate
	pace      *pacer         // nil: unpaced
	work      atomic.Bool    // the queries call helios_bench_work()
	busy      []atomic.Int64 // per client: when its current transaction began (Unix ns), 0 between them
	done      atomic.Int64   // queries that succeeded or failed
	ran       time.Duration  // how long the load ran, set once it stopped

	mu         sync.Mutex
	errs       []clientError
	txs        []txRecord  // transaction mode: since the last forget
	reconnects []time.Time // transaction mode: when a client found its connection closed
}

type clientError struct {
	at   time.Time
	kind string
}

// txRecord is one transaction of transaction mode's load.
type txRecord struct {
	start, end time.Time
	port       int    // the port of the backend that ran it; 0 if it failed
	kind       string // the error's kind; "" if it succeeded
}

// pacer spaces the queries of all clients rate per second: slot k is due
// at start + k/rate. A client that draws a slot more than maxLag overdue
// skips it, so that the load does not catch up in a burst after a stall.
type pacer struct {
	start time.Time
	rate  float64
	next  atomic.Int64
}

// wait returns when the caller's next slot is due.
func (p *pacer) wait(ctx context.Context) error {
	for {
		k := p.next.Add(1) - 1
		due := p.start.Add(time.Duration(float64(k) / p.rate * float64(time.Second)))
		if late := time.Since(due); late <= maxLag {
			return sleep(ctx, -late)
		}
	}
}

// connect opens a load connection. On failure it records the error,
// paces the next attempt and returns nil.
func (l *load) connect(ctx context.Context) *pgx.Conn {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	conn, err := pgx.Connect(cctx, l.dsn)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			l.fail("connect", err)
			_ = sleep(ctx, 20*time.Millisecond) // pace reconnects; this is load shaping
		}
		return nil
	}
	return conn
}

func (l *load) client(ctx context.Context) {
	for ctx.Err() == nil {
		conn := l.connect(ctx)
		if conn == nil {
			continue
		}
		for range reconnectEvery {
			if l.pace != nil && l.pace.wait(ctx) != nil {
				break
			}
			err := l.query(ctx, conn)
			l.done.Add(1)
			if err != nil {
				if ctx.Err() == nil {
					l.fail("query", err)
				}
				if l.hardClose {
					_ = conn.PgConn().Conn().Close() // pgx's own close then finds it closed
				}
				break
			}
		}
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(cctx) // a broken connection has nothing left to say
		cancel()
	}
}

// queryContext bounds one query by -query-timeout, if any.
func (l *load) queryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if l.timeout > 0 {
		return context.WithTimeout(ctx, l.timeout)
	}
	return ctx, func() {}
}

func (l *load) query(ctx context.Context, conn *pgx.Conn) error {
	ctx, cancel := l.queryContext(ctx)
	defer cancel()
	sql := "SELECT 1"
	if l.work.Load() {
		sql = workQuery
	}
	_, err := conn.Exec(ctx, sql)
	return err
}

// txClient is client number k of transaction mode. After a failed query
// it goes on with the same connection: the proxy keeps the client's
// connection when a backend fails, and this measures that it does.
func (l *load) txClient(ctx context.Context, k int) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(cctx)
			cancel()
		}
	}()
	for ctx.Err() == nil {
		if conn != nil && conn.IsClosed() {
			l.mu.Lock()
			l.reconnects = append(l.reconnects, time.Now())
			l.mu.Unlock()
			conn = nil
		}
		if conn == nil {
			if conn = l.connect(ctx); conn == nil {
				continue
			}
		}
		if l.pace != nil && l.pace.wait(ctx) != nil {
			return
		}
		start := time.Now()
		l.busy[k].Store(start.UnixNano())
		port, err := l.txQuery(ctx, conn)
		end := time.Now()
		l.busy[k].Store(0)
		if err != nil && ctx.Err() != nil {
			return // stopped
		}
		l.done.Add(1)
		r := txRecord{start: start, end: end, port: port}
		if err != nil {
			r.kind = l.fail("query", err)
		}
		l.mu.Lock()
		l.txs = append(l.txs, r)
		l.mu.Unlock()
	}
}

// txQuery runs one transaction, which returns the port of the backend
// that ran it.
func (l *load) txQuery(ctx context.Context, conn *pgx.Conn) (int, error) {
	ctx, cancel := l.queryContext(ctx)
	defer cancel()
	sql := "SELECT inet_server_port()"
	if l.work.Load() {
		sql = workTxQuery
	}
	var port int
	err := conn.QueryRow(ctx, sql, pgx.QueryExecModeSimpleProtocol).Scan(&port)
	return port, err
}

// fail records a client error and returns its kind.
func (l *load) fail(op string, err error) string {
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
	return kind
}

// forget drops the transactions that ended before t.
func (l *load) forget(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.txs = slices.DeleteFunc(l.txs, func(r txRecord) bool { return r.end.Before(t) })
}

// settle waits until no client is in a transaction it began before t,
// and returns how many still were after settleCap.
func (l *load) settle(ctx context.Context, t time.Time) (int, error) {
	deadline := time.Now().Add(settleCap)
	for {
		n := 0
		for k := range l.busy {
			if b := l.busy[k].Load(); b != 0 && b < t.UnixNano() {
				n++
			}
		}
		if n == 0 || time.Now().After(deadline) {
			return n, nil
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return n, err
		}
	}
}

// around sorts the transactions of one fault by when they began; port is
// the victim's, and injected when the fault call returned.
func (l *load) around(fault, injected, opened, closed time.Time, port int) txStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	x := txStats{kinds: make(map[string]int), victimPort: port}
	before := 0
	for _, r := range l.txs {
		if !r.start.Before(fault.Add(-time.Second)) && r.start.Before(fault) {
			before++
		}
		if r.start.Before(fault) && r.end.Before(fault) || r.start.After(closed) {
			continue
		}
		if d := r.end.Sub(r.start); !r.start.Before(fault) && d > x.longest {
			x.longest, x.longestAt = d, r.start.Sub(fault)
			x.longestOn = cmp.Or(r.kind, "port "+strconv.Itoa(r.port))
		}
		failed := r.kind != ""
		switch {
		case r.start.Before(fault) && failed:
			x.inFlight++
			x.errBefore++
		case r.start.Before(fault) && r.port == port:
			x.inFlight++
			x.inFlightOK++
		case r.start.Before(fault):
		case r.start.Before(opened) && failed:
			x.errDuring++
			if !r.start.Before(injected) {
				x.errKilled++
			}
		case r.start.Before(opened) && r.port == port:
			x.victimOK++
		case failed:
			x.errAfter++
		}
		if failed {
			x.kinds[strings.TrimPrefix(r.kind, "query ")]++
		}
	}
	x.rate = float64(before)
	for _, at := range l.reconnects {
		if !at.Before(fault) && !at.After(closed) {
			x.reconnects++
		}
	}
	return x
}

// totals returns the transaction mode's client errors and reconnects over
// the whole run.
func (l *load) totals() (errs, reconnects int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.errs), len(l.reconnects)
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

func progress(sc scenario, trials int, t trial, txMode bool) {
	iso := ms(t.isolation)
	if !t.isolated {
		iso = fmt.Sprintf("not within %s (%d left)", iso, t.left)
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
	fmt.Fprintf(os.Stderr, "; CircuitOpened: %s", t.detail)
	if t.reopened >= 0 {
		fmt.Fprintf(os.Stderr, "; opened again %s after CLOSED (%d times in all, CLOSED for good %s after the restore): %s", ms(t.reopened), t.reopens, ms(t.settled), t.reopenBy)
	}
	if len(t.others) > 0 {
		fmt.Fprintf(os.Stderr, "; other backends: %s", strings.Join(t.others, ", "))
	}
	if txMode {
		x := t.tx
		fmt.Fprintf(os.Stderr, "; transactions: %.0f/s before the fault, %d in flight on the victim at it (%d of them succeeded), errors begun before the fault %d, fault→OPEN %d (%d after the fault call returned), OPEN→CLOSED %d (%s), victim served %d begun fault→OPEN, longest %s (begun %s after the fault, %s; victim port %d), reconnects %d",
			x.rate, x.inFlight, x.inFlightOK, x.errBefore, x.errDuring, x.errKilled, x.errAfter, cmp.Or(tally(x.kinds), "none"), x.victimOK, ms(x.longest), ms(x.longestAt), x.longestOn, x.victimPort, x.reconnects)
		if x.unfinished > 0 {
			fmt.Fprintf(os.Stderr, ", %d still running %v after CLOSED", x.unfinished, settleCap)
		}
	}
	fmt.Fprintln(os.Stderr)
}

func report(o options, cfg config.Config, l *load, results map[string][]trial, elapsed time.Duration, loadStart, loadEnd string) {
	host, _ := os.Hostname()
	cb, hc := cfg.CircuitBreaker, cfg.HealthChecks
	timeout := "none"
	if o.queryTimeout > 0 {
		timeout = o.queryTimeout.String()
	}
	fmt.Printf("\nMachine: %s, %d CPUs (%s), %s; load average %s at the start, %s at the end; %s in all.\n\n",
		host, runtime.NumCPU(), machine.CPUModel(), runtime.Version(), loadStart, loadEnd, elapsed.Round(time.Second))
	fmt.Printf("Command: `go run ./bench/failover%s`\n\n", strings.TrimRight(" "+strings.Join(os.Args[1:], " "), " "))
	mode := cfg.Pool.Mode
	if o.txMode {
		mode = fmt.Sprintf("%s for the load's role ([[users]] %s, auth_method trust), pool.default_pool_size %d (at least -clients)",
			cfg.Pool.Mode, cfg.Users[0].Name, cfg.Pool.DefaultPoolSize)
	}
	fmt.Printf("Setup: 3 PostgreSQL clusters (pgcluster, trust), proxy in-process, pool.mode %s. Changed from the defaults: "+
		"circuit_breaker.open_duration %v, recovery_ramp_up_duration %v. Defaults: health_checks.interval %v, timeout %v; "+
		"connection_failure_threshold %d, latency_threshold_p95_ms %d, p99 %d, failure_threshold_percentage %g, minimum_requests %d, "+
		"metrics_window_size %v, half_open_max_concurrent %d, half_open_success_threshold %g, recovery_step_percentage %g, "+
		"max_ejection_percent %g, proxy.connect_timeout %v.\n\n",
		mode, cb.OpenDuration.Duration, cb.RecoveryRampUpDuration.Duration, hc.Interval.Duration, hc.Timeout.Duration,
		cb.ConnectionFailureThreshold, cb.LatencyThresholdP95Ms, cb.LatencyThresholdP99Ms, cb.FailureThresholdPercentage, cb.MinimumRequests,
		cb.MetricsWindowSize.Duration, cb.HalfOpenMaxConcurrent, cb.HalfOpenSuccessThreshold, cb.RecoveryStepPercentage,
		cb.MaxEjectionPercent, cfg.Proxy.ConnectTimeout.Duration)
	if o.openOther {
		fmt.Printf("Another circuit open: before each fault the backend after the victim (pg-a → pg-b → pg-c → pg-a) is forced OPEN by an override, "+
			"cleared once the victim's circuit has closed; with 1 of 3 open the max-ejection guard (%g%%) holds back latency trips.\n\n", cb.MaxEjectionPercent)
	}
	closing := "pgx's own close after a failed query (cancel request, Terminate, then waiting up to 15s for the server to close)"
	if o.hardClose {
		closing = "the socket closed at once after a failed query"
	}
	achieved := float64(l.done.Load()) / l.ran.Seconds()
	paced := ""
	if o.rate > 0 {
		paced = fmt.Sprintf(", paced to %.0f queries/s over all clients (achieved %.0f/s over the run)", o.rate, achieved)
	}
	work := ""
	if slices.ContainsFunc(o.scenarios, func(sc scenario) bool { return sc.slow }) {
		work = fmt.Sprintf(" (in the slow scenario `%s`, a PL/pgSQL function that runs `pg_sleep` for helios_bench_delay.ms, 0 but during the fault)",
			cond(o.txMode, workTxQuery, workQuery))
	}
	if o.txMode {
		errs, reconnects := l.totals()
		fmt.Printf("Load: %d clients, each keeping one connection for the whole run and looping `SELECT inet_server_port()`%s "+
			"(pgx %s, simple protocol; each query is a transaction and names the backend that ran it) with a %s timeout per query%s; "+
			"after an error a client goes on with the same connection, and reconnects only if it finds it closed (reconnects over the run: %d; "+
			"client errors over the run: %d). The victim is the backend serving the most transactions before each fault "+
			"(the proxy routes each transaction, and does not spread a light load evenly), at least %.0f transactions/s.\n",
			o.clients, work, machine.PGXVersion(), timeout, cmp.Or(paced, fmt.Sprintf(", unpaced (%.0f/s over the run)", achieved)), reconnects, errs,
			o.victimRate())
	} else {
		fmt.Printf("Load: %d clients, each looping `SELECT 1`%s (pgx %s, simple protocol) with a %s timeout per query%s, "+
			"reconnecting after every %d queries and after any error, %s; at least %.0f queries/s on the victim before each fault. "+
			"The victim rotates over %s.\n",
			o.clients, work, machine.PGXVersion(), timeout, paced, reconnectEvery, closing, o.victimRate(), strings.Join(backendNames, ", "))
	}
	holder := cond(o.txMode, "transaction attached", "client session")
	fmt.Printf("\nDetection: fault → CircuitOpened. Isolation: CircuitOpened → the victim has no %s (sampled every 2 ms; 0 if it had none left at the opening). "+
		"Recovery: the victim accepts connections again (first successful direct connection, polled every 5 ms) → CircuitClosed. "+
		"Errors: what the load clients saw from the fault to OPEN+1s, and to CLOSED.\n", holder)
	if o.txMode {
		fmt.Println("\nTransactions (by when the client began each one; the fault is the start of the call that injects it): " +
			"in flight on the victim = begun before the fault, ended at or after it, and either answered by the victim's port or failed " +
			"(a failed transaction's backend is unknown); errors begun before the fault, from the fault to CircuitOpened " +
			"(routed to the victim before the proxy knew; also counted: those begun after the fault call returned, when all its processes were dead), " +
			"and from CircuitOpened to CircuitClosed (should be none); " +
			"victim's successes begun fault → OPEN (its backends are killed one by one during the call); reconnects = connections found closed.")
	}
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
		if sc.slow {
			row("↳ from the UPDATE's return", func(t trial) time.Duration { return t.detection - t.inject })
		}
		iso := "isolation"
		if n := howMany(ts, func(t trial) bool { return !t.isolated }); n > 0 {
			iso = fmt.Sprintf("isolation (%d of %d trials not isolated: OPEN → the end of the wait)", n, len(ts))
		}
		row(iso, func(t trial) time.Duration { return t.isolation })
		row("recovery", func(t trial) time.Duration { return t.recovery })
		row("↳ back → HALF_OPEN", func(t trial) time.Duration { return t.halfOpen })
		row("↳ HALF_OPEN → CLOSED", func(t trial) time.Duration { return t.recovery - t.halfOpen })
		if sc.slow {
			row("recovery to a CLOSED that stays (see below)", func(t trial) time.Duration { return t.settled })
		}
		count("client errors, fault → OPEN+1s", func(t trial) int { return t.errsEarly })
		count("client errors, fault → CLOSED", func(t trial) int { return t.errsAll })

		reasons, rules, kinds, victims := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
		var failed, notIsolated int
		var left []float64
		var others []string
		minRate := math.Inf(1)
		for _, t := range ts {
			reasons[t.reason]++
			if t.reason == "latency_p95" || t.reason == "latency_p99" {
				rules[tripRule(t.reason, t.detail)]++
			}
			victims[t.victim]++
			for k, n := range t.kinds {
				kinds[k] += n
			}
			failed += t.failed
			if !t.isolated {
				notIsolated++
				left = append(left, float64(t.left))
			}
			for _, e := range t.others {
				others = append(others, fmt.Sprintf("trial %d: %s", t.n, e))
			}
			minRate = min(minRate, t.rate)
		}
		slowest := slices.MaxFunc(ts, func(a, b trial) int { return cmp.Compare(a.detection, b.detection) })
		fmt.Printf("\nOpen reasons: %s. Victims: %s. Victim load before the fault: at least %.0f queries/s.\n",
			tally(reasons), tally(victims), minRate)
		if len(rules) > 0 {
			fmt.Printf("Latency rules that opened the circuit: %s.\n", tally(rules))
		}
		if o.txMode {
			var shares []float64
			for _, t := range ts {
				shares = append(shares, 100*t.share)
			}
			fmt.Printf("Victim's share of the proxy's requests before the fault: p50 %.0f%%, min %.0f%%.\n", pct(shares, 50), pct(shares, 0))
		}
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
		first := "none in any trial"
		if len(firstErr) > 0 {
			first = fmt.Sprintf("p50 %s, max %s (%d trials had one)", ms(time.Duration(pct(firstErr, 50))), ms(time.Duration(pct(firstErr, 100))), len(firstErr))
		}
		fmt.Printf("%s on the victim at the fault: %.0f to %.0f. First client error after the fault: %s.\n",
			cond(o.txMode, "Transactions attached", "Sessions"), pct(sessions, 0), pct(sessions, 100), first)
		if sc.slow {
			fmt.Printf("The UPDATE that sets the delay returned after p50 %s, max %s (detection counts from before it was sent), the one that removes it after p50 %s, max %s; "+
				"recovery counts from that commit (the victim never stopped accepting connections; queries begun before it still sleep).\n",
				ms(time.Duration(pct(inject, 50))), ms(time.Duration(pct(inject, 100))), ms(time.Duration(pct(restore, 50))), ms(time.Duration(pct(restore, 100))))
		} else {
			fmt.Printf("%s returned after p50 %s, max %s (detection counts from before the call); the restore call to the victim accepting connections took p50 %s, max %s.\n",
				sc.call, ms(time.Duration(pct(inject, 50))), ms(time.Duration(pct(inject, 100))), ms(time.Duration(pct(restore, 50))), ms(time.Duration(pct(restore, 100))))
		}
		fmt.Printf("Slowest detection: trial %d (%s) %s: %s.\n", slowest.n, slowest.victim, ms(slowest.detection), slowest.detail)
		if failed > 0 {
			fmt.Printf("Failed recoveries (RecoveryFailed): %d.\n", failed)
		}
		if sc.slow {
			var again []float64
			by := map[string]int{}
			for _, t := range ts {
				if t.reopened >= 0 {
					again = append(again, float64(t.reopened))
					rule, _, _ := strings.Cut(t.reopenBy, ": ")
					by[rule]++
				}
			}
			reopens := 0
			for _, t := range ts {
				reopens += t.reopens
			}
			fmt.Printf("Opened again after CLOSED, before the queries begun under the delay could all end (restore + %v + %v): %d of %d trials",
				sc.delay, reopenMargin, len(again), len(ts))
			if len(again) > 0 {
				fmt.Printf(", the first time p50 %s, max %s after CLOSED (%s), %d times in all; "+
					"recovery to a CLOSED that stays counts to the CLOSED after the last of these",
					ms(time.Duration(pct(again, 50))), ms(time.Duration(pct(again, 100))), tally(by), reopens)
			}
			fmt.Println(".")
		}
		if notIsolated > 0 {
			until := fmt.Sprintf("within %v", isolationCap)
			if sc.slow {
				until = fmt.Sprintf("while the circuit was OPEN (the wait ends there, or after %v)", isolationCap)
			}
			fmt.Printf("Not isolated %s, counted as OPEN → the end of the wait: %d trials, with %.0f to %.0f %s left on the victim then.\n",
				until, notIsolated, pct(left, 0), pct(left, 100), cond(o.txMode, "transactions attached", "sessions"))
		}
		if len(others) > 0 {
			fmt.Printf("Events of other backends during trials: %s.\n", strings.Join(others, "; "))
		}
		if o.txMode {
			txReport(ts)
		}
	}
}

// txReport prints transaction mode's table for one scenario's trials.
func txReport(ts []trial) {
	fmt.Println("\n| per trial (transaction mode) | p50 | p95 | max | total |")
	fmt.Println("|---|---|---|---|---|")
	count := func(what string, f func(txStats) int) {
		var xs []float64
		total := 0
		for _, t := range ts {
			xs = append(xs, float64(f(t.tx)))
			total += f(t.tx)
		}
		fmt.Printf("| %s | %.0f | %.0f | %.0f | %d |\n", what, pct(xs, 50), pct(xs, 95), pct(xs, 100), total)
	}
	count("in flight on the victim at the fault", func(x txStats) int { return x.inFlight })
	count("↳ of which succeeded", func(x txStats) int { return x.inFlightOK })
	count("client errors, all", txStats.errs)
	count("↳ begun before the fault (in flight)", func(x txStats) int { return x.errBefore })
	count("↳ begun fault → OPEN", func(x txStats) int { return x.errDuring })
	count("↳ ↳ of which after the fault call returned", func(x txStats) int { return x.errKilled })
	count("↳ begun OPEN → CLOSED", func(x txStats) int { return x.errAfter })
	count("victim's successes begun fault → OPEN", func(x txStats) int { return x.victimOK })
	count("reconnects, fault → CLOSED", func(x txStats) int { return x.reconnects })
	var longest, rate []float64
	kinds := map[string]int{}
	excess, unfinished, openFirst := 0, 0, 0
	for _, t := range ts {
		if t.detection < t.inject {
			openFirst++
		}
		longest = append(longest, float64(t.tx.longest))
		rate = append(rate, t.tx.rate)
		for k, n := range t.tx.kinds {
			kinds[k] += n
		}
		if t.tx.errs() > t.tx.inFlight {
			excess++
		}
		unfinished += t.tx.unfinished
	}
	fmt.Printf("| longest transaction begun fault → CLOSED | %s | %s | %s | |\n",
		ms(time.Duration(pct(longest, 50))), ms(time.Duration(pct(longest, 95))), ms(time.Duration(pct(longest, 100))))
	fmt.Printf("| transactions/s in the second before the fault | %.0f | %.0f | %.0f | |\n", pct(rate, 50), pct(rate, 95), pct(rate, 100))
	fmt.Printf("\nSQLSTATEs of these errors: %s. Trials with more errors than transactions in flight on the victim at the fault: %d of %d. "+
		"CircuitOpened came before the fault call returned in %d of %d trials. Transactions/s before the fault: at least %.0f.\n",
		cmp.Or(tally(kinds), "none"), excess, len(ts), openFirst, len(ts), pct(rate, 0))
	if unfinished > 0 {
		fmt.Printf("Transactions begun before CLOSED and still running %v after it (not counted): %d.\n", settleCap, unfinished)
	}
}

// tripRule names the rule behind a CircuitOpened: for a latency reason,
// the stall rule (requests in flight beyond the p95 threshold and nothing
// completed for as long) or the window's percentile; otherwise the
// reason. The event carries only the reason and the detail text.
func tripRule(reason, detail string) string {
	switch {
	case reason != "latency_p95" && reason != "latency_p99":
		return reason
	case strings.HasPrefix(detail, "stall:"):
		return "stall"
	}
	return reason + " window"
}

// howMany returns how many of xs satisfy f.
func howMany[T any](xs []T, f func(T) bool) int {
	n := 0
	for _, x := range xs {
		if f(x) {
			n++
		}
	}
	return n
}

func cond(c bool, yes, no string) string {
	if c {
		return yes
	}
	return no
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
