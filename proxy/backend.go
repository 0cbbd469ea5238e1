package proxy

import (
	"context"
	"math"
	"net"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/health"
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
		b.Note(b.Breaker.RecordCheck(res, now))
	}
	if b.Breaker.WantsCheck(now, in) {
		b.Check.Request()
	}
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
	t.b.Note(t.b.Breaker.RecordCheck(res, now))
}

func (t checkTarget) Observe(o health.Observation) {
	t.b.ClientBackends.Store(o.ClientBackends)
	t.b.MaxConns.Store(o.MaxConnections)
	t.b.LagMs.Store(math.Float64bits(o.ReplicationLagMs))
	if sat, ok := o.Saturation(); ok {
		t.b.Breaker.SetSaturation(sat)
	}
}
