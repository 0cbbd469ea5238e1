package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/bench/internal/inproc"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgcluster"
	"github.com/heliosdb/heliosproxy/proxy"
	"github.com/heliosdb/heliosproxy/status"
)

// options size one run of the scenario.
type options struct {
	Shedding bool          // backends.load_shedding_enabled
	Rate     int           // requests per second offered, open loop
	Clients  int           // client connections (pass-through sessions)
	Slots    int           // requests a backend runs at once (advisory locks)
	Work     time.Duration // each request's time on its backend, holding a slot
	TripP95  time.Duration // latency_threshold_p95_ms of every backend
	MinLimit int           // backends.load_shedding_min_limit
	Before   time.Duration // load before the kill
	After    time.Duration // load after the kill, measured
}

func defaults() options {
	return options{Shedding: true, Rate: 900, Clients: 96, Slots: 4, Work: 10 * time.Millisecond,
		TripP95: 200 * time.Millisecond, MinLimit: 4, Before: 3 * time.Second, After: 8 * time.Second}
}

// result is what one run saw after the kill.
type result struct {
	Shedding      bool
	Offered       int64          // arrivals after the kill
	Admitted      int64          // requests answered without error
	Refused       int64          // 53300 from the proxy (shed)
	Unavailable   int64          // 57P03: no backend could serve
	Lost          int64          // the killed backend's sessions failing, and other errors
	Dropped       int64          // arrivals the client could not send: every connection busy
	P50, P99      time.Duration  // latency of admitted requests, measured by the client
	BackendP99    map[string]int // survivors' P99 in ms as their breakers saw it at the end
	Opened        []string       // survivors whose circuit opened, with the reason
	AdmissionLast map[string]int // survivors' admission limits at the end
}

// query holds one of a backend's Slots advisory locks for Work: a backend
// with Slots slots serves Slots/Work requests per second, and more
// requests queue inside it, their latency growing, as on a saturated
// server. A request takes a free slot if there is one (trying each), and
// waits for a random one otherwise.
func query(o options) string {
	return fmt.Sprintf("SELECT pg_advisory_xact_lock(coalesce((SELECT s FROM generate_series(0, %d) s WHERE pg_try_advisory_xact_lock(s) LIMIT 1), floor(random() * %d)::int)), pg_sleep(%g)",
		o.Slots-1, o.Slots, o.Work.Seconds())
}

// run drives the scenario against three clusters: load at o.Rate through a
// proxy in front of them, then clusters[2] is killed and the survivors
// carry the load for o.After. It returns what the clients and the proxy
// saw after the kill.
func run(ctx context.Context, clusters []*pgcluster.Cluster, o options, log *slog.Logger) (result, error) {
	cfg := config.Default()
	cfg.Proxy.ListenAddress = "127.0.0.1:0"
	cfg.API.ListenAddress = "127.0.0.1:0"
	cfg.Observability.MetricsEnabled = false
	cfg.CircuitBreaker.LatencyThresholdP95Ms = int(o.TripP95.Milliseconds())
	cfg.CircuitBreaker.LatencyThresholdP99Ms = int(3 * o.TripP95.Milliseconds())
	// Every backend may open: with the default 50% guard, a survivor's
	// latency trip is held back once the killed one is open, and the
	// overload would show only in latency.
	cfg.CircuitBreaker.MaxEjectionPercent = 100
	// A shorter window forgets the start (the logins) before the kill.
	cfg.CircuitBreaker.MetricsWindowSize = config.Duration{Duration: 5 * time.Second}
	cfg.CircuitBreaker.OpenDuration = config.Duration{Duration: 2 * time.Second}
	cfg.CircuitBreaker.RecoveryRampUpDuration = config.Duration{Duration: 2 * time.Second}
	cfg.Backends.LoadSheddingEnabled = o.Shedding
	cfg.Backends.LoadSheddingMinLimit = o.MinLimit
	for i, c := range clusters {
		b := config.DefaultBackend()
		b.Name, b.Host, b.Port = "pg-"+strconv.Itoa(i), c.Host, c.Port
		cfg.Backends.Instances = append(cfg.Backends.Instances, b)
		cfg.HealthChecks.Password = c.Password
	}
	if err := cfg.Validate(); err != nil {
		return result{}, err
	}
	srv, addr, stop, err := inproc.Start(ctx, cfg, log)
	if err != nil {
		return result{}, err
	}
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := srv.Subscribe(ctx)

	host, port, _ := net.SplitHostPort(addr)
	dsn := fmt.Sprintf("host=%s port=%s user=%s password='%s' dbname=postgres sslmode=disable", host, port, clusters[0].User, clusters[0].Password)
	l := &load{o: o, dsn: dsn, sql: query(o), arrivals: make(chan struct{}, o.Clients)}
	// The clients log in before the load starts: logins count in the
	// breakers' latency windows, and a burst of them is no request load.
	var wg, ready sync.WaitGroup
	for range o.Clients {
		ready.Add(1)
		wg.Go(func() { l.client(ctx, ready.Done) })
	}
	ready.Wait()
	wg.Go(func() { l.generate(ctx) })

	select {
	case <-time.After(o.Before):
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
	// A shared machine may stall long enough to trip a circuit before the
	// kill: the kill waits until every circuit has been CLOSED for a
	// second (open_duration is short here), and fails the run only when
	// three backends cannot carry the load at all.
	if err := waitClosed(ctx, srv, time.Second, 30*time.Second); err != nil {
		return result{}, fmt.Errorf("shedding %v: %w: the load is too heavy for this machine even with three backends", o.Shedding, err)
	}
	for len(events) > 0 {
		<-events // before the kill
	}
	victim := cfg.Backends.Instances[2].Name
	if err := clusters[2].Kill(); err != nil {
		return result{}, err
	}
	l.measure.Store(true)
	killed := time.Now()
	var opened []string
	deadline := time.After(o.After)
watch:
	for {
		select {
		case ev := <-events:
			if ev.Type == status.CircuitOpened && ev.Backend != victim {
				opened = append(opened, fmt.Sprintf("%s after %s (%s: %s)", ev.Backend, time.Since(killed).Round(time.Millisecond), ev.Reason, ev.Detail))
			}
		case <-deadline:
			break watch
		case <-ctx.Done():
			return result{}, ctx.Err()
		}
	}
	l.measure.Store(false)
	snap := srv.Snapshot()
	cancel()
	wg.Wait()

	r := result{Shedding: o.Shedding, Offered: l.offered.Load(), Admitted: l.admitted.Load(), Refused: l.refused.Load(),
		Unavailable: l.unavailable.Load(), Lost: l.lost.Load(), Dropped: l.dropped.Load(), Opened: opened,
		BackendP99: map[string]int{}, AdmissionLast: map[string]int{}}
	lat := l.latencies()
	if len(lat) > 0 {
		r.P50, r.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	for _, b := range snap.Backends {
		if b.Name != victim {
			r.BackendP99[b.Name] = int(b.LatencyP99Ms)
			r.AdmissionLast[b.Name] = b.AdmissionLimit
		}
	}
	return r, nil
}

// waitClosed waits until every circuit of srv has been CLOSED for stable,
// at most for limit.
func waitClosed(ctx context.Context, srv *proxy.Server, stable, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var since time.Time
	for {
		open := ""
		for _, b := range srv.Snapshot().Backends {
			if b.CircuitState != status.Closed {
				open = fmt.Sprintf("backend %s is %s (%s)", b.Name, b.CircuitState, b.OpenReason)
			}
		}
		switch {
		case open != "":
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) >= stable:
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New(cmp.Or(open, "circuits flapping") + " before the kill")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// load is an open-loop workload: arrivals at a fixed rate, each sent by a
// free client connection; an arrival that finds every connection busy for
// a whole period is dropped (counted), as a real caller would time out.
type load struct {
	o        options
	dsn, sql string
	arrivals chan struct{}
	measure  atomic.Bool

	offered, admitted, refused, unavailable, lost, dropped atomic.Int64

	mu  sync.Mutex
	lat []time.Duration
}

// generate offers l.o.Rate arrivals per second, reaching that rate over
// the first half of l.o.Before (a cold start at full rate is a burst that
// says nothing about the failover). Arrivals are counted from the elapsed
// time, not one timer each, so that a busy machine does not lower the
// rate.
func (l *load) generate(ctx context.Context) {
	start := time.Now()
	ramp := (l.o.Before / 2).Seconds()
	rate := float64(l.o.Rate)
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	sent := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		el := time.Since(start).Seconds()
		due := rate * (el - ramp/2) // the ramp's arrivals: half a full-rate ramp
		if el < ramp {
			due = rate * el * el / (2 * ramp)
		}
		for ; sent < due; sent++ {
			if l.measure.Load() {
				l.offered.Add(1)
			}
			select {
			case l.arrivals <- struct{}{}:
			default:
				if l.measure.Load() {
					l.dropped.Add(1)
				}
			}
		}
	}
}

// client sends arrivals over one connection, connected first (then
// loggedIn is called) and again after it is lost.
func (l *load) client(ctx context.Context, loggedIn func()) {
	conn, err := pgx.Connect(ctx, l.dsn)
	loggedIn()
	if err != nil {
		conn = nil
	}
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.arrivals:
		}
		if conn == nil {
			c, err := pgx.Connect(ctx, l.dsn)
			if err != nil {
				l.count(err, 0)
				continue
			}
			conn = c
		}
		start := time.Now()
		_, err := conn.Exec(ctx, l.sql, pgx.QueryExecModeSimpleProtocol)
		if ctx.Err() != nil {
			return
		}
		l.count(err, time.Since(start))
		if err != nil && conn.IsClosed() {
			conn = nil
		}
	}
}

func (l *load) count(err error, d time.Duration) {
	if !l.measure.Load() {
		return
	}
	var pe *pgconn.PgError
	switch {
	case err == nil:
		l.admitted.Add(1)
		l.mu.Lock()
		l.lat = append(l.lat, d)
		l.mu.Unlock()
	case errors.As(err, &pe) && pe.Code == "53300":
		l.refused.Add(1)
	case errors.As(err, &pe) && pe.Code == "57P03":
		l.unavailable.Add(1)
	default:
		l.lost.Add(1)
	}
}

func (l *load) latencies() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := slices.Clone(l.lat)
	slices.Sort(s)
	return s
}
