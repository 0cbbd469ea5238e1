package proxy

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/health"
	"github.com/heliosdb/heliosproxy/status"
)

// Every client reaches a backend from the proxy's address. A backend whose
// pg_hba.conf trusts that address (`host all all 127.0.0.1/32 trust` on a
// host that runs both) would let any client of the proxy log in, with any
// password, as any role it names. The proxy finds such backends by
// logging in without a password, warns, and refuses pass-through logins
// from other hosts to them unless the backend's allow_trust_pass_through
// says the operator accepts that.

// trustProbeEvery is how many health-check intervals pass between two
// probes of a backend once a probe has answered. A probe forks up to three
// backend processes and, on a backend that trusts the proxy, writes a FATAL
// line to its log for the made-up role; pg_hba.conf changes rarely, so every
// tenth interval (10 s by default) finds a change soon enough. A probe that
// could not tell (the backend was down or slow) is repeated at the next
// interval.
const trustProbeEvery = 10

// watchTrust probes b at once and then every trustProbeEvery health-check
// intervals (every interval while a probe cannot tell) until ctx ends.
func (s *Server) watchTrust(ctx context.Context, b *backend.Backend, hc config.HealthChecks) {
	defer b.Trust.MarkProbed() // nobody waits for a probe that will not come
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		wait := hc.Interval.Duration
		roles, err := s.probeTrust(ctx, b, hc)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.Debug("trust probe could not tell", "backend", b.Config.Name, "err", err)
		default:
			s.noteTrust(b, roles)
			wait *= trustProbeEvery
		}
		b.Trust.MarkProbed()
		t.Reset(wait)
	}
}

// probeTrust logs in to b without a password as a role that cannot exist,
// as postgres and as the health-check user, and returns the roles it let in.
func (s *Server) probeTrust(ctx context.Context, b *backend.Backend, hc config.HealthChecks) ([]string, error) {
	return health.ProbeTrust(ctx, checkTarget{s: s, b: b}.Dial, hc, s.config().Proxy.ConnectTimeout.Duration)
}

// noteTrust records what a probe found and tells operators when it
// changes: an Error-level log and a BackendTrustsProxy event when the
// backend trusts the proxy (or trusts other roles), an Info log and a
// BackendTrustCleared event when it no longer does.
func (s *Server) noteTrust(b *backend.Backend, roles []string) {
	old := b.Trust.Set(roles)
	if slices.Equal(old, roles) {
		return
	}
	ev := status.Event{Time: s.clock.Now(), Backend: b.Config.Name}
	if len(roles) == 0 {
		ev.Type, ev.Reason = status.BackendTrustCleared, "trust_cleared"
		ev.Detail = "the backend asks the proxy's connections for a password again"
		s.log.Info("backend no longer trusts the proxy's connections", "backend", b.Config.Name)
		s.events.Publish(ev)
		return
	}
	ev.Type = status.BackendTrustsProxy
	names := strings.Join(roles, ", ")
	if slices.Contains(roles, health.AnyRole) {
		names = "any role (" + names + ")"
	}
	if b.Live().AllowTrustPassThrough {
		ev.Reason = "pass_through_allowed"
		ev.Detail = "the backend lets the proxy's connections in without a password as " + names +
			"; allow_trust_pass_through = true lets clients on other hosts log in through the proxy without a valid password"
	} else {
		ev.Reason = "pass_through_refused"
		ev.Detail = "the backend lets the proxy's connections in without a password as " + names +
			"; pass-through logins from other hosts are refused until pg_hba.conf asks for a password (or allow_trust_pass_through = true)"
	}
	if old == nil {
		s.log.Error("backend trusts the proxy's connections: fix pg_hba.conf on the backend", "backend", b.Config.Name, "roles", roles, "detail", ev.Detail)
	} else {
		s.log.Warn("backend trusts the proxy's connections for other roles now", "backend", b.Config.Name, "roles", roles, "before", old)
	}
	s.events.Publish(ev)
}
