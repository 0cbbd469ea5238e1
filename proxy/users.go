package proxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/cluster"
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
// (persisted before it applies; in a cluster, stamped and shared with
// the other members as a backend's override is); a bad one wraps
// tenant.ErrBadOverride.
func (s *Server) SetUserOverride(_ context.Context, o status.UserOverride) error {
	now := s.clock.Now()
	if o.Created.IsZero() {
		o.Created = now
	}
	apply := func(o status.UserOverride) error {
		if err := s.tenants.SetOverride(o); err != nil {
			return err
		}
		s.log.Info("user override set", "user", o.Role, "database", o.Database, "exempt", o.Exempt, "rate_limit", o.RateLimit, "author", o.Author)
		s.userOverrideEvent(status.UserOverrideSet, o.Role, o.Database, o.Author, o.Reason, "")
		return nil
	}
	n := s.cluster.Load()
	if n == nil {
		return apply(o)
	}
	c := n.UserOverride(o.Role, o.Database, o.Author, &o, now)
	_, err := n.Local(c, func() error { return apply(*c.SetUser) })
	return err
}

// ClearUserOverride removes a role's override; false when it had none
// here. In a cluster the clear is shared even then (the override may be
// set on a member whose change has not arrived yet: the later change
// wins), unless it could not be persisted here.
func (s *Server) ClearUserOverride(_ context.Context, role, db, author string) (bool, error) {
	var had bool
	apply := func() error {
		ok, err := s.tenants.ClearOverride(role, db)
		if ok && err == nil {
			had = true
			s.log.Info("user override cleared", "user", role, "database", db, "author", author)
			s.userOverrideEvent(status.UserOverrideCleared, role, db, author, "cleared", "")
		}
		return err
	}
	n := s.cluster.Load()
	if n == nil {
		err := apply()
		return had, err
	}
	_, err := n.Local(n.UserOverride(role, db, author, nil, s.clock.Now()), apply)
	return had, err
}

// userOverrideEvent announces a role override set or ended (on cluster
// member node when not ""), with what in the detail: the reason, or
// why it ended.
func (s *Server) userOverrideEvent(typ status.EventType, role, db, author, what, node string) {
	detail := fmt.Sprintf("role %s on database %s: %s", role, db, what)
	if node != "" && typ == status.UserOverrideSet {
		detail += " (set on cluster member " + node + ")"
	}
	s.events.Publish(status.Event{Type: typ, Time: s.clock.Now(), Role: role, Database: db,
		Reason: "override", Detail: detail, Author: author, Node: node})
}

// expireUserOverrides ends the role overrides whose time is up (they no
// longer apply from that time on: the registry ignores them). It runs on
// the tick, so the removal, which writes the state dir, runs on a
// goroutine of its own, one at a time. Every member of a cluster ends an
// override at its own expiry: the time is the same everywhere.
func (s *Server) expireUserOverrides(now time.Time) {
	expired := s.tenants.Expired(now)
	if len(expired) == 0 || !s.userExpiring.CompareAndSwap(false, true) {
		return
	}
	s.spawn(func() {
		defer s.userExpiring.Store(false)
		for _, o := range expired {
			ended, err := s.tenants.EndOverride(o)
			if err != nil {
				s.log.Error("expired user override not removed from the state dir; removed in memory only", "user", o.Role, "database", o.Database, "err", err)
			}
			if ended {
				s.log.Info("user override expired", "user", o.Role, "database", o.Database, "author", o.Author)
				s.userOverrideEvent(status.UserOverrideCleared, o.Role, o.Database, "expiry", "expired", "")
			}
		}
	})
}

// ApplyUserOverride persists and applies a role override change made on
// another member.
func (h clusterHost) ApplyUserOverride(c cluster.Change) {
	s := h.s
	if c.SetUser == nil {
		s.endUserOverride(c, "cleared on "+c.Node, c.Author)
		return
	}
	o := *c.SetUser
	if o.Expired(s.clock.Now()) {
		// Expired before it arrived (a member that rejoins is handed
		// the changes of the last hour): it ended everywhere at its
		// time; here it only ends an older override it replaced.
		s.endUserOverride(c, "expired (replaced on "+c.Node+")", "expiry")
		return
	}
	if err := s.tenants.SetOverride(o); err != nil {
		if errors.Is(err, tenant.ErrBadOverride) {
			s.log.Warn("user override from a cluster member not valid here; ignored", "user", o.Role, "database", o.Database, "peer", c.Node, "err", err)
			return
		}
		s.log.Error("user override set on a cluster member not persisted here; applied in memory only", "user", o.Role, "database", o.Database, "peer", c.Node, "err", err)
		s.tenants.RememberOverride(o)
	}
	s.log.Info("user override set on a cluster member", "user", o.Role, "database", o.Database, "exempt", o.Exempt, "rate_limit", o.RateLimit, "author", o.Author, "peer", c.Node)
	s.userOverrideEvent(status.UserOverrideSet, o.Role, o.Database, o.Author, o.Reason, c.Node)
}

// endUserOverride ends the role override that a cluster member's change
// c ends (a clear, or an expiry that replaced it), if there is one here.
func (s *Server) endUserOverride(c cluster.Change, detail, author string) {
	if _, ok := s.tenants.Override(c.Role, c.Database); !ok {
		return
	}
	if _, err := s.tenants.ClearOverride(c.Role, c.Database); err != nil {
		s.log.Error("user override ended on a cluster member not removed from the state dir here; removed in memory only", "user", c.Role, "database", c.Database, "peer", c.Node, "err", err)
		s.tenants.ForgetOverride(c.Role, c.Database)
	}
	s.log.Info("user override ended on a cluster member", "user", c.Role, "database", c.Database, "detail", detail, "peer", c.Node)
	s.userOverrideEvent(status.UserOverrideCleared, c.Role, c.Database, author, detail, c.Node)
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
