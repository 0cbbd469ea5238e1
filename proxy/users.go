package proxy

import (
	"context"
	"fmt"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/tenant"
	"github.com/heliosdb/heliosproxy/status"
)

// tenantConfig maps the file's user-level settings onto the role
// registry: each role's breaker has the [circuit_breaker] thresholds.
func tenantConfig(c config.Config) tenant.Config {
	cb := c.CircuitBreaker
	return tenant.Config{
		Enabled:   cb.UserLevelBreakersEnabled,
		Rate:      cb.PerUserRateLimit,
		Wait:      cb.PerUserRateLimitWait.Duration,
		Isolation: cb.UserIsolationOnAbuse,
		Breaker:   backend.BreakerConfig(c, config.Backend{}),
	}
}

// newTenants builds the role registry of cfg, with its persisted
// overrides, publishing its breakers' transitions as events.
func (s *Server) newTenants(cfg config.Config) *tenant.Registry {
	r := tenant.New(tenantConfig(cfg), cfg.State.Dir, s.log)
	if err := r.Load(); err != nil {
		s.log.Error("persisted user overrides not loaded; starting without them", "err", err)
	}
	r.OnTransition = s.publishUser
	return r
}

// publishUser turns a role breaker's transition into an event.
func (s *Server) publishUser(role, db string, tr breaker.Transition) {
	ev := status.Event{
		Time: tr.At, Role: role, Database: db,
		From: status.StateOf(tr.From), To: status.StateOf(tr.To),
		Reason: tr.Reason.String(), Detail: fmt.Sprintf("role %s on database %s: %s", role, db, tr.Detail),
		InPrevious:   tr.InFrom,
		LatencyP95Ms: ms(tr.Stats.P95), LatencyP99Ms: ms(tr.Stats.P99), ErrorRate: tr.Stats.ErrorRate,
	}
	switch tr.To {
	case breaker.Open:
		ev.Type = status.UserBreakerOpened
		s.log.Warn("role isolated: its breaker opened", "user", role, "database", db, "reason", ev.Reason, "detail", tr.Detail)
	case breaker.HalfOpen:
		ev.Type = status.UserBreakerHalfOpened
		s.log.Info("role breaker half-open: probing", "user", role, "database", db)
	default:
		ev.Type = status.UserBreakerClosed
		s.log.Info("role breaker closed", "user", role, "database", db)
	}
	s.events.Publish(ev)
}

// Users returns the roles' limits and breakers (nil when
// user_level_breakers_enabled is off).
func (s *Server) Users() []status.UserBreaker { return s.tenants.Users(s.clock.Now()) }

// UserOverrides returns the operators' role overrides.
func (s *Server) UserOverrides() []status.UserOverride { return s.tenants.Overrides() }

// SetUserOverride stores an operator's override for a role and database
// (persisted before it applies); a bad one wraps tenant.ErrBadOverride.
func (s *Server) SetUserOverride(_ context.Context, o status.UserOverride) error {
	if o.Created.IsZero() {
		o.Created = s.clock.Now()
	}
	if err := s.tenants.SetOverride(o); err != nil {
		return err
	}
	s.log.Info("user override set", "user", o.Role, "database", o.Database, "exempt", o.Exempt, "rate_limit", o.RateLimit, "author", o.Author)
	return nil
}

// ClearUserOverride removes a role's override; false when it had none.
func (s *Server) ClearUserOverride(_ context.Context, role, db, author string) (bool, error) {
	ok, err := s.tenants.ClearOverride(role, db)
	if ok && err == nil {
		s.log.Info("user override cleared", "user", role, "database", db, "author", author)
	}
	return ok, err
}

// admissionStatus fills sb's load-shedding fields from b's limiter.
func admissionStatus(sb *status.Backend, b *backend.Backend) {
	a := b.Admission
	sb.AdmissionLimit, sb.AdmissionInflight, sb.AdmissionQueued = a.Limit(), a.Inflight(), a.Queued()
	_, sb.ShedTotal = a.Totals()
}

// rampAdmission starts a backend's admission limit over at its minimum
// when its circuit closes after an opening, so that the traffic that
// comes back ramps up as the backend proves able to carry it.
func rampAdmission(b *backend.Backend, tr breaker.Transition) {
	if tr.To == breaker.Closed && tr.From != breaker.Closed {
		b.Admission.Reset()
	}
}
