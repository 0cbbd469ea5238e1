package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/health"
	"github.com/heliosdb/heliosproxy/proxy/pool"
	"github.com/heliosdb/heliosproxy/proxy/session"
	"github.com/heliosdb/heliosproxy/status"
)

// SetOverride forces a backend's circuit OPEN or CLOSED until the override
// is cleared or expires. It is persisted before it takes effect.
func (s *Server) SetOverride(_ context.Context, o status.Override) error {
	b := s.backend(o.Backend)
	if b == nil {
		return fmt.Errorf("%w: %q", status.ErrUnknownBackend, o.Backend)
	}
	if !o.State.Forcible() {
		return fmt.Errorf("override state must be OPEN or CLOSED, got %q", o.State)
	}
	now := s.clock.Now()
	if o.Created.IsZero() {
		o.Created = now
	}
	apply := func(o status.Override) error {
		if err := s.overrides.Update(func(m map[string]status.Override) { m[o.Backend] = o }); err != nil {
			return err
		}
		b.Note(b.Breaker.Force(o.State.Breaker(), now))
		s.announce(status.Event{Type: status.OverrideSet, Time: now, Backend: o.Backend, To: o.State, Reason: "override",
			Detail: o.Reason, Author: o.Author})
		return nil
	}
	n := s.cluster.Load()
	if n == nil {
		return apply(o)
	}
	c := n.Override(o.Backend, o.Author, &o, now)
	_, err := n.Local(c, func() error { return apply(*c.Set) })
	return err
}

// ClearOverride returns a backend's circuit to automatic decisions.
// Clearing when no override is set is not an error.
func (s *Server) ClearOverride(_ context.Context, backend, author string) error {
	b := s.backend(backend)
	if b == nil {
		return fmt.Errorf("%w: %q", status.ErrUnknownBackend, backend)
	}
	return s.clearOverride(b, author, "cleared")
}

func (s *Server) clearOverride(b *backend.Backend, author, why string) error {
	apply := func() error {
		if _, ok := s.overrides.Get(b.Config.Name); !ok {
			return nil
		}
		if err := s.overrides.Update(func(m map[string]status.Override) { delete(m, b.Config.Name) }); err != nil {
			return err
		}
		s.overrideEnded(b, author, why, s.clock.Now())
		return nil
	}
	n := s.cluster.Load()
	if n == nil {
		return apply()
	}
	// Shared even when not set here (it may be set on a member whose
	// change has not arrived yet: the later change wins), but not when
	// it could not be persisted here.
	_, err := n.Local(n.Override(b.Config.Name, author, nil, s.clock.Now()), apply)
	return err
}

// overrideEnded returns b's circuit to automatic decisions and says so.
func (s *Server) overrideEnded(b *backend.Backend, author, why string, now time.Time) {
	b.Note(b.Breaker.Unforce(now))
	s.announce(status.Event{Type: status.OverrideCleared, Time: now, Backend: b.Config.Name, Reason: "override", Detail: why, Author: author})
}

// expireOverrides ends the overrides whose time is up. It runs on the
// tick, so it does no disk I/O: persistOverrides writes the change.
func (s *Server) expireOverrides(now time.Time) {
	for _, o := range s.overrides.Expire(now) {
		if b := s.backend(o.Backend); b != nil {
			s.overrideEnded(b, "expiry", "expired", now)
		}
	}
}

// announce publishes an event that is not a breaker transition.
func (s *Server) announce(ev status.Event) {
	s.log.Info("operator action", "event", string(ev.Type), "backend", ev.Backend, "state", ev.To, "author", ev.Author, "detail", ev.Detail)
	s.events.Publish(ev)
}

// Ready reports whether the proxy can take a session now: its client
// listener accepts and some backend can serve. When not, why says so in a
// sentence for operators.
func (s *Server) Ready() (ok bool, why string) {
	if t := s.acceptTrouble.Load(); t != nil {
		return false, *t
	}
	for _, b := range s.list() {
		if !b.Draining.Load() && b.Breaker.State() != breaker.Open {
			return true, ""
		}
	}
	return false, "no backend can take a session: every circuit is open or its backend draining"
}

// EffectiveConfig returns the running configuration as JSON with the
// file's key names, secrets redacted.
func (s *Server) EffectiveConfig() ([]byte, error) { return s.config().RedactedJSON() }

// startChecker starts the health checker of b, and the probe of its
// authentication (which runs even without health checks), as goroutines
// of Run. The caller holds runMu.
func (s *Server) startChecker(b *backend.Backend, hc config.HealthChecks) error {
	pc, err := health.ConnConfig(b.Config, hc)
	if err != nil {
		return err
	}
	s.runChecker(b, hc, pc)
	return nil
}

// runChecker is startChecker with the health checker's settings made: pc
// nil runs the probe of authentication alone. The caller holds runMu.
func (s *Server) runChecker(b *backend.Backend, hc config.HealthChecks, pc *pgconn.Config) {
	ctx, cancel := context.WithCancel(s.runCtx)
	s.checkers[b] = cancel
	s.runWG.Go(func() { s.watchTrust(ctx, b, hc) })
	if pc != nil {
		h := health.New(checkTarget{s: s, b: b}, b.Check, hc, pc, s.clock, s.log.With("backend", b.Config.Name))
		s.runWG.Go(func() { h.Run(ctx) })
	}
}

func (s *Server) stopChecker(b *backend.Backend) {
	if cancel, ok := s.checkers[b]; ok {
		cancel()
		delete(s.checkers, b)
	}
}

// errNotRunning is returned by Reload when ctx ends before Run started.
var errNotRunning = errors.New("the proxy is not running")

// Reload reads the configuration again and applies it as a whole, or not
// at all: on any error the running configuration stays and the error lists
// every problem. Live client sessions are not touched: removed backends
// drain (their sessions finish, no new ones come), threshold changes keep
// circuit state and statistics. Called before Run has started, it waits
// for it until ctx ends.
func (s *Server) Reload(ctx context.Context) (status.ReloadResult, error) {
	select {
	case <-s.started:
	case <-ctx.Done():
		return status.ReloadResult{}, errNotRunning
	}
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.source == nil {
		return status.ReloadResult{}, errors.New("no configuration file to reload from")
	}
	next, warnings, err := s.source()
	if err != nil {
		return status.ReloadResult{}, err
	}
	for _, w := range warnings {
		s.log.Warn("config: "+w.Message, "key", w.Key, "at", fmt.Sprintf("%s:%d", w.File, w.Line))
	}
	p, err := s.planReload(s.config(), next)
	if err != nil {
		return status.ReloadResult{}, err
	}
	s.applyReload(p)
	if n := s.cluster.Load(); n != nil {
		n.SetConfigHash(configHash(&p.next)) // the others compare it with theirs
		// Overrides the cluster set on added backends meanwhile.
		n.Added(p.res.Added)
	}
	for _, fn := range s.reloaded {
		fn(p.next)
	}
	res := p.res
	// The drained backends (removed, or replaced by another server under
	// the same name) are named for the alerts, which resolve their
	// incidents: nothing would close those circuits any more.
	var drained []string
	for _, b := range p.drain {
		drained = append(drained, b.Config.Name)
	}
	slices.Sort(drained)
	s.announce(status.Event{Type: status.ConfigReloaded, Time: s.clock.Now(), Reason: "reload",
		Backends: drained,
		Detail:   fmt.Sprintf("added %v, removed %v, changed %v, restart required for %v", res.Added, res.Removed, res.Changed, res.RestartRequired)})
	return res, nil
}

// reloadPlan is everything a reload changes, made before anything changes,
// so that applying it cannot fail.
type reloadPlan struct {
	next     config.Config
	backends []plannedBackend   // in the new configuration's order
	drain    []*backend.Backend // removed, or replaced by another server under the same name
	users    map[string]*pool.User
	tls      *tls.Config // TLS with clients, read again from its files
	res      status.ReloadResult
}

// plannedBackend is one backend of the new configuration.
type plannedBackend struct {
	cfg   config.Backend
	old   *backend.Backend // the serving backend it keeps (same name and address); nil: a new one
	check bool             // its checkers start (a new backend) or restart (health checks changed)
	pc    *pgconn.Config   // its health checker's settings when check; nil: health checks are off
}

// planReload makes the plan of a reload from old to next; it changes
// nothing. The caller holds runMu.
func (s *Server) planReload(old *config.Config, next config.Config) (reloadPlan, error) {
	p := reloadPlan{next: next}
	p.res.Changed, p.res.RestartRequired = config.Changes(old, &next)
	oldByName := make(map[string]*backend.Backend)
	for _, b := range s.list() {
		oldByName[b.Config.Name] = b
	}
	checksChanged := !reflect.DeepEqual(old.HealthChecks, next.HealthChecks)
	for _, bc := range next.Backends.Instances {
		pb := plannedBackend{cfg: bc, check: true}
		if b, ok := oldByName[bc.Name]; ok {
			delete(oldByName, bc.Name)
			if b.Config.Address() == bc.Address() {
				pb.old, pb.check = b, checksChanged
			} else {
				p.drain = append(p.drain, b) // same name, another server: the old one drains
			}
		}
		if pb.old == nil {
			p.res.Added = append(p.res.Added, bc.Name)
		}
		if pb.check {
			pc, err := health.ConnConfig(bc, next.HealthChecks)
			if err != nil {
				return reloadPlan{}, err
			}
			pb.pc = pc
		}
		p.backends = append(p.backends, pb)
	}
	for name, b := range oldByName {
		p.drain = append(p.drain, b)
		p.res.Removed = append(p.res.Removed, name)
	}
	slices.Sort(p.res.Removed)
	users, err := s.usersFor(next)
	if err != nil {
		return reloadPlan{}, err
	}
	p.users = users
	// The files are read at every reload: a certificate renewed under the
	// same names (certbot, cert-manager) applies to the next handshakes.
	if p.tls, err = session.LoadTLS(next.Proxy); err != nil {
		return reloadPlan{}, err
	}
	if s.front.TLSChanges(p.tls) && !slices.Contains(p.res.Changed, "proxy") {
		p.res.Changed = append([]string{"proxy"}, p.res.Changed...) // Changes' order: proxy first
	}
	return p, nil
}

// applyReload swaps a reload's plan in; nothing in it can fail. The
// caller holds runMu.
func (s *Server) applyReload(p reloadPlan) {
	now := s.clock.Now()
	s.front.SetTLS(p.tls)
	if len(p.drain) > 0 {
		carried := make(map[string]totals)
		if c := s.carried.Load(); c != nil {
			maps.Copy(carried, *c)
		}
		for _, b := range p.drain {
			carried[b.Config.Name] = carried[b.Config.Name].plus(totalsOf(b, now))
		}
		s.carried.Store(&carried)
	}
	for _, b := range p.drain {
		s.drain(b)
		s.group.Remove(b.Config.Name)
	}
	list := make([]*backend.Backend, 0, len(p.backends))
	var redial []*backend.Backend // kept backends reached over TLS
	for _, pb := range p.backends {
		b := pb.old
		bc := backend.BreakerConfig(p.next, pb.cfg)
		if b != nil {
			b.SetLive(pb.cfg)
			b.Reconfigure(bc, backend.AdmissionConfig(p.next, bc))
		} else {
			b = backend.New(pb.cfg, s.group.Add(pb.cfg.Name, bc), backend.AdmissionConfig(p.next, bc), &s.hooks)
			if o, ok := s.overrides.Get(pb.cfg.Name); ok {
				b.Breaker.Force(o.State.Breaker(), now)
			}
		}
		if pb.check {
			if pb.old == nil && pb.pc != nil && pb.cfg.RoleOrAuto() == config.RoleAuto {
				// As Run waits for the first checks: not routed as a
				// primary before its role is known.
				b.HoldForRole(now.Add(p.next.HealthChecks.Timeout.Duration))
			}
			s.stopChecker(b)
			s.runChecker(b, p.next.HealthChecks, pb.pc)
		} else if p.next.BackendTLS(pb.cfg).Mode() != "disable" {
			redial = append(redial, b)
		}
		list = append(list, b)
	}
	s.backends.Store(&list)
	s.users.Store(&p.users)
	s.cfg.Store(&p.next)
	for _, b := range redial {
		// The reload read the TLS files again (a rotated CA or client
		// certificate): new connections use them, and so does the next
		// check, at once, so that a rotation that fails shows now rather
		// than at the next new session. Asked only now: a check that
		// dialled before the new configuration was stored would verify
		// with the old files.
		b.Check.Redial()
	}
	s.breakersOnSet(p.next)
	s.patterns.SetConfig(patternsConfig(p.next))
	s.tenants.SetConfig(tenantConfig(p.next))
	s.front.Buffers.Limit.Store(p.next.Proxy.MaxBufferMemory)
	// Roles and lag limits may have changed.
	s.topology.Forget(list)
	s.roleChanges(s.topology.Reassess(list, s.maxLag, now))
}

// totals are a backend's counters that the status and the metrics show as
// totals (requests_total, …): what a reload carries over from a backend it
// drains to the next one of the same name.
type totals struct {
	requests, failures, successes, rejected, transitions, shed uint64
}

func totalsOf(b *backend.Backend, now time.Time) totals {
	st := b.CurrentStats(now)
	_, shed := b.Admission.Totals()
	return totals{requests: st.RequestsTotal, failures: st.FailuresTotal, successes: st.SuccessesTotal,
		rejected: st.RejectedTotal, transitions: st.TransitionsTotal, shed: shed}
}

func (t totals) plus(u totals) totals {
	return totals{t.requests + u.requests, t.failures + u.failures, t.successes + u.successes,
		t.rejected + u.rejected, t.transitions + u.transitions, t.shed + u.shed}
}

func (t totals) addTo(sb *status.Backend) {
	sb.RequestsTotal += t.requests
	sb.FailuresTotal += t.failures
	sb.SuccessesTotal += t.successes
	sb.RejectedTotal += t.rejected
	sb.TransitionsTotal += t.transitions
	sb.ShedTotal += t.shed
}

// drain stops new sessions to b and its health checks; its live sessions
// finish on their own.
func (s *Server) drain(b *backend.Backend) {
	b.Draining.Store(true)
	s.stopChecker(b)
}
