// Package health checks one backend actively. A Checker runs the check
// query, and the metrics query when metrics are collected, on its own
// connection every health_checks.interval, or at once when asked (State),
// and hands each result to the backend for its circuit breaker and each
// Observation for its status. ProbeTrust finds out whether the backend
// lets the proxy's connections in without a password.
//
// It owns the checks' connections, their timing and timeouts, and the
// classification of their errors. It does not own the breaker, dialing
// and the backend's TLS settings, the publication of transitions, nor
// what the proxy does about a backend that trusts it (refusing
// pass-through logins): the proxy implements Backend for those.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/dial"
)

// Clock tells the time; tests may substitute their own.
type Clock interface{ Now() time.Time }

// Backend is what a Checker needs from the backend it checks.
type Backend interface {
	// Dial opens a connection to the backend with its current TLS
	// settings.
	Dial(ctx context.Context) (net.Conn, error)
	// TLS returns the backend's current TLS settings: when they change,
	// the Checker closes its connection and dials again.
	TLS() config.TLS
	// Record records a check's result in the backend's breaker and
	// publishes the transition it makes, if any.
	Record(res breaker.Result, now time.Time)
	// Observe stores what a check's metrics query found.
	Observe(o Observation)
}

// Observation is what one check's metrics query found on the backend.
type Observation struct {
	At             time.Time // when the query's answer arrived
	ClientBackends int64     // client backends in pg_stat_activity
	MaxConnections int64     // max_connections less superuser_reserved_connections; 0 if unknown
	// ConnectionMetrics is health_checks.collect_connection_metrics: the
	// breaker takes the connections in use as the backend's saturation.
	ConnectionMetrics bool
	// Waiting is how many client backends are active and waiting on a
	// lock (pg_stat_activity.wait_event_type Lock, LWLock or BufferPin:
	// work queued inside the server, not on its clients); -1 when
	// health_checks.collect_query_queue_depth is off.
	Waiting int64

	// Replication: what the backend says it is. RoleKnown is false when
	// the query did not say (an old server); the rest is then zero.
	RoleKnown  bool
	InRecovery bool   // pg_is_in_recovery(): a replica (standby)
	SystemID   uint64 // pg_control_system().system_identifier: the same on a primary and its replicas
	// Timeline is the WAL timeline: on a primary the one it writes, read
	// from pg_walfile_name(pg_current_wal_lsn()) (right from the moment a
	// promotion ends; pg_control_checkpoint() changes only at the next
	// checkpoint); on a replica the one it receives, or that of its last
	// restart point. 0 if unknown.
	Timeline int64
	// TimelineSure is, on a replica, whether Timeline is the one it
	// follows now: its WAL receiver's (pg_stat_wal_receiver.received_tli,
	// seen with pg_read_all_stats), or its restart point's while no WAL
	// receiver runs (nothing newer is arriving). False when a receiver
	// runs whose timeline the monitor may not see: the restart point's
	// may be older (until the next restart point after a failover).
	TimelineSure bool
	// WAL is, on a primary, pg_current_wal_lsn(); on a replica,
	// pg_last_wal_receive_lsn(), what it has received (0 if nothing since
	// it started). As a byte position.
	WAL uint64
	// Replayed is, on a replica, pg_last_wal_replay_lsn(); 0 on a primary.
	Replayed uint64
	// ReplayAge is, on a replica, the time since the commit of the last
	// transaction it replayed (now() − pg_last_xact_replay_timestamp());
	// -1 when unknown or on a primary. It overstates the lag when the
	// primary is idle: the proxy measures lag from WAL positions and uses
	// it only beyond what those tell.
	ReplayAge time.Duration
}

// Saturation returns the share of the backend's usable connections in
// use, at most 1, and whether the breaker takes it as the backend's
// saturation: connection metrics are collected and MaxConnections is
// known. When not, the breaker's saturation is left as it is.
func (o Observation) Saturation() (float64, bool) {
	if !o.ConnectionMetrics || o.MaxConnections <= 0 {
		return 0, false
	}
	return min(1, float64(o.ClientBackends)/float64(o.MaxConnections)), true
}

// Checker actively checks one backend with its own connection. Make it
// with New and run it with Run.
type Checker struct {
	b     Backend
	st    *State
	hc    config.HealthChecks
	cfg   *pgconn.Config
	clock Clock
	log   *slog.Logger

	pc *pgconn.PgConn
	// configProblem remembers the last reported configuration error so that
	// it is logged once, not every interval.
	configProblem string
	tlsAt         config.TLS // the TLS settings pc was opened with
}

// New returns a Checker of b under hc that connects with cfg (from
// ConnConfig) and keeps its checks in st, the backend's, which outlives
// it. log should name the backend.
func New(b Backend, st *State, hc config.HealthChecks, cfg *pgconn.Config, clock Clock, log *slog.Logger) *Checker {
	return &Checker{b: b, st: st, hc: hc, cfg: cfg, clock: clock, log: log}
}

// metricsQuery reads connection use and the backend's replication role
// and WAL positions in one round trip. Every function it calls may be run
// by any role (received_tli is NULL without pg_read_all_stats; the
// restart point's timeline stands in; the last column says whether the
// replica's timeline is sure: received, or no WAL receiver runs). r is
// read once, so that a
// promotion between two reads cannot call pg_current_wal_lsn() in
// recovery.
const metricsQuery = `SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
 ` + waitingColumn + `,
 current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int,
 r,
 (pg_control_system()).system_identifier,
 CASE WHEN r THEN COALESCE((SELECT received_tli FROM pg_stat_wal_receiver), (pg_control_checkpoint()).timeline_id)
  ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int8 END,
 CASE WHEN r THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END - '0/0',
 CASE WHEN r THEN pg_last_wal_replay_lsn() END - '0/0',
 CASE WHEN r THEN EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000 END,
 r AND NOT EXISTS (SELECT FROM pg_stat_wal_receiver WHERE received_tli IS NULL)
FROM pg_is_in_recovery() AS r`

// waitingColumn counts the client backends queued inside the server
// (Observation.Waiting); without collect_query_queue_depth the checker
// sends metricsQueryNoWaiting, which reads NULL there instead.
const waitingColumn = `(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND state = 'active' AND wait_event_type IN ('Lock', 'LWLock', 'BufferPin'))`

var metricsQueryNoWaiting = strings.Replace(metricsQuery, waitingColumn, "NULL::int8", 1)

// Run checks the backend at once, then every health_checks.interval and
// whenever State.Request asks, until ctx ends; it closes its connection
// before it returns.
func (c *Checker) Run(ctx context.Context) {
	defer c.close()
	t := time.NewTicker(c.hc.Interval.Duration)
	defer t.Stop()
	for {
		c.checkOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.st.now:
		}
	}
}

func (c *Checker) close() {
	if c.pc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_ = c.pc.Close(ctx)
		cancel()
		c.pc = nil
	}
}

func (c *Checker) checkOnce(ctx context.Context) {
	select {
	case <-c.st.now: // this check answers a request made before it
	default:
	}
	start := c.clock.Now()
	timeout := c.hc.Timeout.Duration
	run := &Run{start: start.UnixNano(), deadline: start.Add(timeout).UnixNano()}
	c.st.latest.Store(run)
	defer c.st.finished()
	defer run.done.Store(true)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	outcome, err := c.query(cctx)
	if ctx.Err() != nil {
		return // shutting down: not an observation of the backend
	}
	now := c.clock.Now()
	// mine is false when the tick has recorded the check as failed on its
	// deadline (State.Overdue); the result is not recorded again. It is
	// recorded before closing the connection, which may take a while on a
	// hung server.
	mine := run.settled.CompareAndSwap(false, true)
	slow := !mine || err != nil && (errors.Is(err, context.DeadlineExceeded) || cctx.Err() != nil || now.Sub(start) >= timeout)
	c.st.slow.Store(slow)
	if slow {
		c.st.unanswered.Add(1)
	} else {
		c.st.unanswered.Store(0)
	}
	if mine {
		c.b.Record(breaker.Result{Kind: breaker.HealthCheck, Outcome: outcome, Latency: now.Sub(start)}, now)
	}
	if err != nil {
		c.close()
		if outcome == breaker.ConfigError || errors.As(err, new(*dial.Error)) {
			if msg := err.Error(); msg != c.configProblem {
				c.configProblem = msg
				c.log.Error("health check cannot run: fix the [health_checks] credentials or database, or the backend's TLS settings (sslmode, sslrootcert)", "err", err)
			}
		} else {
			c.log.Debug("health check failed", "err", err)
		}
	} else {
		c.configProblem = ""
	}
}

func (c *Checker) query(ctx context.Context) (breaker.Outcome, error) {
	// A reload changed the backend's TLS settings, or a session's
	// connection failed where the check's, open since, may not (Redial).
	if redial := c.st.redial.Swap(false); c.pc != nil && (redial || c.b.TLS() != c.tlsAt) {
		c.close()
	}
	if c.pc == nil {
		c.tlsAt = c.b.TLS()
		cfg := c.cfg.Copy()
		cfg.DialFunc = func(ctx context.Context, _, _ string) (net.Conn, error) { return c.b.Dial(ctx) }
		pc, err := pgconn.ConnectConfig(ctx, cfg)
		if err != nil {
			return checkOutcome(err), err
		}
		c.pc = pc
	}
	if _, err := c.pc.Exec(ctx, c.hc.CheckQuery).ReadAll(); err != nil {
		return checkOutcome(err), err
	}
	q := metricsQuery
	if !c.hc.CollectQueryQueueDepth {
		q = metricsQueryNoWaiting
	}
	res := c.pc.ExecParams(ctx, q, nil, nil, nil, nil).Read()
	if res.Err != nil {
		return checkOutcome(res.Err), res.Err
	}
	if len(res.Rows) == 1 {
		c.b.Observe(parseObservation(res.Rows[0], c.hc.CollectConnectionMetrics, c.clock.Now()))
	}
	return breaker.Success, nil
}

// parseObservation reads a row of metricsQuery (text format).
func parseObservation(row [][]byte, connMetrics bool, at time.Time) Observation {
	o := Observation{At: at, ConnectionMetrics: connMetrics, ReplayAge: -1, Waiting: -1}
	if len(row) != 10 {
		return o
	}
	o.ClientBackends, _ = strconv.ParseInt(string(row[0]), 10, 64)
	if row[1] != nil {
		o.Waiting, _ = strconv.ParseInt(string(row[1]), 10, 64)
	}
	row = append(row[:1:1], row[2:]...)
	o.MaxConnections, _ = strconv.ParseInt(string(row[1]), 10, 64)
	if row[2] == nil {
		return o
	}
	o.RoleKnown = true
	o.InRecovery = string(row[2]) == "t"
	if id, err := strconv.ParseInt(string(row[3]), 10, 64); err == nil {
		o.SystemID = uint64(id)
	}
	o.Timeline, _ = strconv.ParseInt(string(row[4]), 10, 64)
	o.WAL = parseLSN(row[5])
	o.Replayed = parseLSN(row[6])
	if row[7] != nil {
		if ms, err := strconv.ParseFloat(string(row[7]), 64); err == nil {
			o.ReplayAge = max(0, time.Duration(ms*float64(time.Millisecond)))
		}
	}
	o.TimelineSure = string(row[8]) == "t"
	return o
}

// parseLSN reads a WAL position written as a byte count (pg_lsn − '0/0',
// a numeric); 0 for NULL or anything else.
func parseLSN(v []byte) uint64 {
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// checkOutcome classifies a health-check error: SQL errors by SQLSTATE as
// relayed requests' are, except that a check canceled as too slow failed
// and an error of the application's kind (the check query itself is
// wrong: 42601 …) is a configuration problem; everything else (refused,
// reset, timeout, TLS) is a hard failure. A backend at its connection
// limit (53300) is overloaded, not down.
func checkOutcome(err error) breaker.Outcome {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return breaker.Failure
	}
	switch o := breaker.Classify(pgErr.Code, false); o {
	case breaker.Slow:
		return breaker.Failure
	case breaker.Excluded:
		return breaker.ConfigError
	default:
		return o
	}
}

// ConnConfig returns the connection settings of b's Checker under hc; nil
// when health checks are off. Its DialFunc is replaced by the Checker's
// (Backend.Dial): pgconn's own TLS stays off (sslmode=disable here) so
// that checks use the backend's TLS settings as sessions do.
func ConnConfig(b config.Backend, hc config.HealthChecks) (*pgconn.Config, error) {
	if !hc.Enabled {
		return nil, nil
	}
	dsn := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable application_name=heliosproxy-health connect_timeout=%d",
		quoteDSN(b.Host), b.Port, quoteDSN(hc.User), quoteDSN(hc.Database), max(1, int(math.Ceil(hc.Timeout.Seconds()))))
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("health check settings for backend %s: %w", b.Name, err)
	}
	cfg.Password = hc.Password
	return cfg, nil
}

// quoteDSN quotes a keyword/value connection string value.
func quoteDSN(v string) string {
	out := make([]byte, 0, len(v)+2)
	out = append(out, '\'')
	for i := 0; i < len(v); i++ {
		if v[i] == '\'' || v[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, v[i])
	}
	return string(append(out, '\''))
}
