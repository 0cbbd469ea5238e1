package proxy

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/health"
	"github.com/heliosdb/heliosproxy/status"
)

// watchCheck is the tick's part in health checking. A check that has run
// past health_checks.timeout counts as failed now, not when it returns. And
// when requests go unanswered (breaker.WantsCheck), a check runs now
// rather than at its next interval: only a check that times out too tells
// a hung backend, whose circuit opens whatever other circuits are open,
// from a slow one.
func (s *Server) watchCheck(b *backend.Backend, now time.Time, in breaker.Inflight) {
	if res, ok := b.Check.Overdue(now); ok {
		s.log.Debug("health check timed out", "backend", b.Config.Name)
		b.Checked(res, now)
	}
	if b.Breaker.WantsCheck(now, in) {
		b.Check.Request()
	}
	s.abandonSilent(b)
}

// abandonSilent gives up the connections to a backend whose circuit is
// OPEN and which has answered none of its last connection_failure_threshold
// health checks (each timed out): a hung server, or one cut off by the
// network without a reset. Its sockets stay open, so nothing else would
// end the requests waiting there: clients would wait until the backend
// came back, or TCP gave up minutes later. Once per opening.
func (s *Server) abandonSilent(b *backend.Backend) {
	n := b.Breaker.Config().ConnectionFailureThreshold
	if n <= 0 || b.Check.Unanswered() < n {
		return
	}
	if b.Breaker.State() != breaker.Open {
		return
	}
	gen := b.Breaker.Current().Generation() + 1
	if b.Abandoned == gen {
		return
	}
	b.Abandoned = gen
	detail := fmt.Sprintf("Its circuit is OPEN and its last %d health checks went unanswered (timeout %v).", b.Check.Unanswered(), s.config().HealthChecks.Timeout.Duration)
	s.spawn(func() { s.front.Abandon(b, detail) })
}

// checkTarget is b as its health checker sees it (a health.Backend):
// checks dial with b's TLS settings, their results go to b's breaker and
// their observations to b's status.
type checkTarget struct {
	s *Server
	b *backend.Backend
}

func (t checkTarget) Dial(ctx context.Context) (net.Conn, error) { return t.b.Dial(ctx, t.s.config()) }

func (t checkTarget) TLS() config.TLS { return t.s.config().BackendTLS(*t.b.Live()) }

func (t checkTarget) Record(res breaker.Result, now time.Time) {
	t.b.Checked(res, now)
}

func (t checkTarget) Observe(o health.Observation) {
	t.b.ClientBackends.Store(o.ClientBackends)
	t.b.MaxConns.Store(o.MaxConnections)
	t.b.Waiting.Store(o.Waiting)
	if sat, ok := o.Saturation(); ok {
		t.b.Breaker.SetSaturation(sat)
	}
	if t.b.Draining.Load() {
		return // a drained backend's last check: it routes nothing
	}
	t.s.roleChanges(t.s.topology.Observe(t.b, o, t.s.list(), t.s.maxLag))
	t.s.saveTimelines()
}

// maxLag returns b's max_replication_lag_ms under the running
// configuration.
func (s *Server) maxLag(b *backend.Backend) time.Duration { return s.config().MaxLag(*b.Live()) }

// changeEvents maps each kind of role change to its event type, the log
// level and message it is logged with, and its machine-readable reason
// ("" for the new role).
var changeEvents = map[backend.ChangeKind]struct {
	typ    status.EventType
	level  slog.Level
	msg    string
	reason string
}{
	backend.RoleChanged:  {status.BackendRoleChanged, slog.LevelWarn, "backend role changed", ""},
	backend.Fence:        {status.BackendFenced, slog.LevelError, "backend fenced: it claims to be primary while another backend is", "fenced"},
	backend.Unfence:      {status.BackendUnfenced, slog.LevelWarn, "backend no longer fenced", "unfenced"},
	backend.LagExceeded:  {status.ReplicaLagging, slog.LevelWarn, "replica out of read routing: lagging", "replication_lag"},
	backend.LagRecovered: {status.ReplicaCaughtUp, slog.LevelInfo, "replica back in read routing", "replication_lag"},
	backend.RoleMismatch: {status.BackendRoleMismatch, slog.LevelError, "backend role differs from its configuration", ""},
}

// roleChanges publishes what an assessment of the backends' roles found
// changed, and wakes sessions waiting for a primary.
func (s *Server) roleChanges(changes []backend.Change) {
	s.router.Changed()
	now := s.clock.Now()
	for _, c := range changes {
		e, ok := changeEvents[c.Kind]
		if !ok {
			continue
		}
		ev := status.Event{Type: e.typ, Time: now, Backend: c.Backend.Config.Name, Detail: c.Detail, Reason: cmp.Or(e.reason, c.To)}
		s.log.Log(context.Background(), e.level, e.msg, "backend", ev.Backend, "from", c.From, "to", c.To, "detail", c.Detail)
		s.events.Publish(ev)
		if c.Kind == backend.Fence {
			// Sessions already on it must not go on writing there either.
			b := c.Backend
			s.spawn(func() { s.front.Fence(b, c.Detail) })
		}
	}
}

// urgentCheckInterval is how often, while a replication group that had a
// primary has none that can take sessions (or its primary just failed),
// every backend is checked:
// a promotion is then seen within this (plus a check) rather than within
// health_checks.interval.
const urgentCheckInterval = 50 * time.Millisecond

// followPrimary is the tick's part in following a failover: while a group
// lacks its primary, it asks every backend for a check at once.
func (s *Server) followPrimary(now time.Time, last *time.Time) {
	if now.Sub(*last) < urgentCheckInterval {
		return
	}
	*last = now
	list := s.list()
	if !s.topology.WantsPrimary(list, now, s.config().HealthChecks.Interval.Duration) {
		return
	}
	for _, b := range list {
		b.Check.Request()
	}
}
