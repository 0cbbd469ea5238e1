package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func TestCheckOutcome(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want breaker.Outcome
	}{
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, breaker.Failure},
		{"timeout", context.DeadlineExceeded, breaker.Failure},
		{"canceled as too slow (57014)", &pgconn.PgError{Code: "57014"}, breaker.Failure},
		{"the check query is wrong (42601)", &pgconn.PgError{Code: "42601"}, breaker.ConfigError},
		{"wrong password (28P01)", fmt.Errorf("connect: %w", &pgconn.PgError{Code: "28P01"}), breaker.ConfigError},
		{"full (53300)", &pgconn.PgError{Code: "53300"}, breaker.Overload},
		{"shutting down (57P01)", &pgconn.PgError{Code: "57P01"}, breaker.Failure},
	}
	for _, tc := range tests {
		if got := checkOutcome(tc.err); got != tc.want {
			t.Errorf("%s: checkOutcome = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestConnConfig(t *testing.T) {
	b := config.Backend{Name: "pg-a", Host: "db'1", Port: 6543}
	hc := config.HealthChecks{Enabled: true, User: `o'brien\x`, Password: "pw ' \\", Database: "my db",
		Timeout: config.Duration{Duration: 1500 * time.Millisecond}}
	cfg, err := ConnConfig(b, hc)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "db'1" || cfg.Port != 6543 || cfg.User != `o'brien\x` || cfg.Password != "pw ' \\" || cfg.Database != "my db" {
		t.Errorf("ConnConfig = host %q port %d user %q password %q database %q, want them as configured", cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database)
	}
	if cfg.ConnectTimeout != 2*time.Second || cfg.TLSConfig != nil || cfg.RuntimeParams["application_name"] != "heliosproxy-health" {
		t.Errorf("ConnConfig = connect timeout %v, TLS %v, application_name %q; want 2s, none, heliosproxy-health",
			cfg.ConnectTimeout, cfg.TLSConfig != nil, cfg.RuntimeParams["application_name"])
	}
	hc.Timeout.Duration = 200 * time.Millisecond
	if cfg, _ := ConnConfig(b, hc); cfg.ConnectTimeout != time.Second {
		t.Errorf("ConnConfig(timeout 200ms) connect timeout = %v, want 1s", cfg.ConnectTimeout)
	}
	hc.Enabled = false
	if cfg, err := ConnConfig(b, hc); cfg != nil || err != nil {
		t.Errorf("ConnConfig(health checks off) = %v, %v; want nil, nil", cfg, err)
	}
}

func TestSaturation(t *testing.T) {
	tests := []struct {
		o    Observation
		want float64
		ok   bool
	}{
		{Observation{ClientBackends: 25, MaxConnections: 100, ConnectionMetrics: true}, 0.25, true},
		{Observation{ClientBackends: 120, MaxConnections: 100, ConnectionMetrics: true}, 1, true},
		{Observation{ClientBackends: 25, MaxConnections: 0, ConnectionMetrics: true}, 0, false},
		{Observation{ClientBackends: 25, MaxConnections: 100}, 0, false},
	}
	for _, tc := range tests {
		if got, ok := tc.o.Saturation(); got != tc.want || ok != tc.ok {
			t.Errorf("%+v.Saturation() = %v, %v; want %v, %v", tc.o, got, ok, tc.want, tc.ok)
		}
	}
}

// TestStateTimesOut: the tick's view of a check that runs from t0 with a
// 500ms timeout.
func TestStateTimesOut(t *testing.T) {
	tests := []struct {
		name        string
		done, slow  bool
		later       time.Duration
		p95         time.Duration
		wantOverdue bool
		want        breaker.Inflight // its Check fields
	}{
		{"running, in time", false, false, 300 * time.Millisecond, time.Second, false,
			breaker.Inflight{CheckRunning: true}},
		{"running, over p95", false, false, 300 * time.Millisecond, 200 * time.Millisecond, false,
			breaker.Inflight{CheckRunning: true, CheckOver: true}},
		{"running, past its deadline", false, false, 600 * time.Millisecond, 0, true,
			breaker.Inflight{CheckRunning: true, CheckTimedOut: true}},
		{"done in time", true, false, 600 * time.Millisecond, 200 * time.Millisecond, false,
			breaker.Inflight{}},
		{"done, timed out", true, true, 600 * time.Millisecond, 0, false,
			breaker.Inflight{CheckOver: true, CheckTimedOut: true}},
	}
	for _, tc := range tests {
		st := NewState()
		r := &Run{start: t0.UnixNano(), deadline: t0.Add(500 * time.Millisecond).UnixNano()}
		r.done.Store(tc.done)
		st.latest.Store(r)
		st.slow.Store(tc.slow)
		now := t0.Add(tc.later)
		var in breaker.Inflight
		st.Fill(&in, now, tc.p95)
		tc.want.CheckStarted = t0
		if !in.CheckStarted.Equal(t0) {
			t.Errorf("%s: CheckStarted = %v, want t0", tc.name, in.CheckStarted)
		}
		in.CheckStarted = t0
		if in != tc.want {
			t.Errorf("%s: Fill(t0+%v) = %+v, want %+v", tc.name, tc.later, in, tc.want)
		}
		res, ok := st.Overdue(now)
		want := breaker.Result{Kind: breaker.HealthCheck, Outcome: breaker.Failure, Latency: tc.later}
		if ok != tc.wantOverdue || ok && res != want {
			t.Errorf("%s: Overdue(t0+%v) = %+v, %v; want %v", tc.name, tc.later, res, ok, tc.wantOverdue)
		}
		if _, again := st.Overdue(now.Add(time.Second)); ok && again {
			t.Errorf("%s: Overdue(t0+%v) again = true, want false (once only)", tc.name, tc.later+time.Second)
		}
	}
	var in breaker.Inflight
	NewState().Fill(&in, t0, time.Second)
	if in != (breaker.Inflight{}) {
		t.Errorf("Fill before the first check = %+v, want zero", in)
	}
}

// recorder is a Backend that dials a cluster and passes what the Checker
// tells it on.
type recorder struct {
	addr     string
	results  chan breaker.Result
	observed chan Observation
}

func (r *recorder) Dial(ctx context.Context) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, "tcp", r.addr)
}
func (r *recorder) TLS() config.TLS                        { return config.TLS{} }
func (r *recorder) Observe(o Observation)                  { r.observed <- o }
func (r *recorder) Record(res breaker.Result, _ time.Time) { r.results <- res }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// TestChecker runs Checkers against a real cluster: a check succeeds and
// reports the backend's connections, Request makes one at once, a wrong
// check query is a configuration problem, a dead backend a hard failure.
func TestChecker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := pgtest.New(t, pgtest.Options{Name: "health"})
	bc := config.Backend{Name: "pg-a", Host: c.Host, Port: c.Port}
	hc := config.HealthChecks{Enabled: true, User: c.User, Password: c.Password, Database: "postgres", CheckQuery: "SELECT 1",
		Interval: config.Duration{Duration: time.Hour}, Timeout: config.Duration{Duration: 5 * time.Second},
		CollectConnectionMetrics: true}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// start runs a Checker under hc until the test ends.
	start := func(hc config.HealthChecks) (*recorder, *State) {
		t.Helper()
		cfg, err := ConnConfig(bc, hc)
		if err != nil {
			t.Fatal(err)
		}
		r := &recorder{addr: c.Addr(), results: make(chan breaker.Result, 8), observed: make(chan Observation, 8)}
		st := NewState()
		cctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			New(r, st, hc, cfg, realClock{}, log).Run(cctx)
		}()
		t.Cleanup(func() { stop(); <-done })
		return r, st
	}
	result := func(r *recorder) breaker.Result {
		t.Helper()
		select {
		case res := <-r.results:
			return res
		case <-ctx.Done():
			t.Fatal("no check recorded")
			return breaker.Result{}
		}
	}

	r, st := start(hc)
	if res := result(r); res.Kind != breaker.HealthCheck || res.Outcome != breaker.Success {
		t.Errorf("first check = %+v, want a successful health check", res)
	}
	if o := <-r.observed; o.MaxConnections <= 0 || o.ClientBackends < 1 || !o.ConnectionMetrics {
		t.Errorf("observation = %+v, want the connections in use (at least the check's) of those usable", o)
	} else if !o.RoleKnown || o.InRecovery || o.Timeline != 1 || o.SystemID == 0 || o.WAL == 0 || o.Replayed != 0 || o.ReplayAge != -1 {
		t.Errorf("observation = %+v, want a primary on timeline 1 with a system identifier and a WAL position", o)
	}
	// Slow is set before the result is recorded, done after.
	if run := st.Latest(); run == nil || st.Slow() {
		t.Errorf("after the first check: latest %v, slow %v; want a check, not slow", run, st.Slow())
	}
	st.Request()
	if res := result(r); res.Outcome != breaker.Success {
		t.Errorf("requested check = %+v, want success", res)
	}

	wrong := hc
	wrong.CheckQuery = "SELEC 1"
	r, _ = start(wrong)
	if res := result(r); res.Outcome != breaker.ConfigError {
		t.Errorf("check with a wrong query = %+v, want a configuration error", res)
	}

	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	r, st = start(hc)
	if res := result(r); res.Outcome != breaker.Failure {
		t.Errorf("check of a dead backend = %+v, want a failure", res)
	}
	if st.Slow() {
		t.Error("refused check counted as slow")
	}
}

// TestCheckerObservesReplication checks a real primary and its streaming
// replica as the health check sees them: the replica in recovery with the
// primary's system identifier and timeline, having replayed what the
// primary wrote; once promoted (by a health user without privileges), a
// primary on the next timeline from its very next check.
func TestCheckerObservesReplication(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	primary := pgtest.New(t, pgtest.Options{Name: "health-primary", Auth: "scram-sha-256"})
	if err := primary.CreateUser(ctx, "monitor", "monitor-pw"); err != nil {
		t.Fatal(err)
	}
	replica := pgtest.New(t, pgtest.Options{Name: "health-replica", ReplicaOf: primary})
	hc := config.HealthChecks{Enabled: true, User: "monitor", Password: "monitor-pw", Database: "postgres", CheckQuery: "SELECT 1",
		Interval: config.Duration{Duration: time.Hour}, Timeout: config.Duration{Duration: 5 * time.Second}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	observe := func(c *pgtest.Cluster) Observation {
		t.Helper()
		cfg, err := ConnConfig(config.Backend{Name: c.Name, Host: c.Host, Port: c.Port}, hc)
		if err != nil {
			t.Fatal(err)
		}
		r := &recorder{addr: c.Addr(), results: make(chan breaker.Result, 8), observed: make(chan Observation, 8)}
		cctx, stop := context.WithCancel(ctx)
		st := NewState()
		done := make(chan struct{})
		go func() {
			defer close(done)
			New(r, st, hc, cfg, realClock{}, log).Run(cctx)
		}()
		defer func() { stop(); <-done }()
		select {
		case o := <-r.observed:
			<-st.First()
			return o
		case res := <-r.results:
			t.Fatalf("check of %s = %+v, and no observation", c.Name, res)
		case <-ctx.Done():
			t.Fatalf("no observation of %s", c.Name)
		}
		return Observation{}
	}
	if err := primary.Exec(ctx, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := replica.WaitCaughtUp(ctx, primary); err != nil {
		t.Fatal(err)
	}
	p, r := observe(primary), observe(replica)
	if !p.RoleKnown || p.InRecovery || p.Timeline != 1 {
		t.Errorf("primary: %+v, want a primary on timeline 1", p)
	}
	if !r.RoleKnown || !r.InRecovery || r.Timeline != 1 || r.SystemID != p.SystemID || r.Replayed == 0 || r.Replayed > p.WAL || r.WAL < r.Replayed || r.ReplayAge < 0 {
		t.Errorf("replica: %+v, want a replica on timeline 1 of system %d that replayed up to at most %d", r, p.SystemID, p.WAL)
	}
	if r.TimelineSure {
		t.Errorf("replica: timeline sure to a monitor without pg_read_all_stats while its WAL receiver runs: %+v", r)
	}
	if err := primary.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := replica.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	if o := observe(replica); o.InRecovery || o.Timeline != 2 || o.SystemID != p.SystemID || o.WAL < r.Replayed {
		t.Errorf("promoted replica: %+v, want a primary on timeline 2 of system %d", o, p.SystemID)
	}
}
