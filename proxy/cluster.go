package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/backend"
	"github.com/heliosdb/heliosproxy/proxy/cluster"
	"github.com/heliosdb/heliosproxy/status"
)

// SetVersion sets the version this instance shows to the other members of
// its cluster; call it before Run. Default "dev".
func (s *Server) SetVersion(v string) {
	s.runMu.Lock()
	s.version = v
	s.runMu.Unlock()
}

// startCluster binds the gossip listener of [cluster] and runs the member
// as a goroutine of Run (wg); without [cluster] it does nothing. The
// caller is Run, before anything else starts; fail ends Run with the
// member's error when the member refuses to join (another instance has
// its node name).
func (s *Server) startCluster(ctx context.Context, wg interface{ Go(func()) }, fail func(error)) error {
	cfg := s.config()
	if !cfg.Cluster.Enabled {
		return nil
	}
	s.runMu.Lock()
	version := s.version
	s.runMu.Unlock()
	if version == "" {
		version = "dev"
	}
	n, err := cluster.New(cluster.Options{
		Config: cfg.Cluster, Version: version, ConfigHash: configHash(cfg),
		Overrides: s.overrides.All(), UserOverrides: s.tenants.Overrides(), StateDir: cfg.State.Dir, Host: clusterHost{s}, Log: s.log, Tune: s.tuneCluster,
	})
	if err != nil {
		return err
	}
	if err := n.Start(); err != nil {
		return err
	}
	s.cluster.Store(n)
	s.alertLog.Store(n)
	wg.Go(func() {
		defer s.cluster.Store(nil)
		if err := n.Run(ctx); err != nil {
			s.log.Error("cluster member stopped", "err", err)
			if errors.Is(err, cluster.ErrDuplicateName) {
				fail(err)
			}
		}
	})
	return nil
}

// configHash identifies the settings that members of a cluster should
// share (circuit_breaker, backends, health_checks without its password,
// pool): 12 hex digits of their SHA-256.
func configHash(c *config.Config) string {
	hc := c.HealthChecks
	hc.Password = ""
	b, _ := json.Marshal([]any{c.CircuitBreaker, c.Backends, hc, c.Pool})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// clusterHost is the Server as its cluster member sees it.
type clusterHost struct{ s *Server }

// ApplyOverride persists and applies an override change made on another
// member.
func (h clusterHost) ApplyOverride(c cluster.Change) {
	s := h.s
	b := s.backend(c.Backend)
	if b == nil {
		s.log.Info("override from a cluster member for a backend not configured here; ignored", "backend", c.Backend, "peer", c.Node)
		return
	}
	now := s.clock.Now()
	if c.Set == nil {
		s.endOverride(b, c, now, "cleared on "+c.Node, c.Author,
			"override cleared on a cluster member not persisted here; applied in memory only")
		return
	}
	o := *c.Set
	if cur, ok := s.overrides.Get(c.Backend); ok && cur.Stamp == o.Stamp && cur.Node == o.Node {
		return // already applied (Node.Added after a reload that kept it)
	}
	if !o.Expires.IsZero() && !now.Before(o.Expires) {
		// It expired before it arrived: the members keep expired changes
		// in their registers (an hour) and hand them to a member that
		// (re)joins. It ended everywhere at its time, and was announced
		// there; here it only ends an older override it replaced.
		s.endOverride(b, c, now, "expired (replaced on "+c.Node+")", "expiry",
			"override expired on the cluster not removed from the state dir here; removed in memory only")
		return
	}
	if err := s.overrides.Update(func(m map[string]status.Override) { m[o.Backend] = o }); err != nil {
		s.log.Error("override set on a cluster member not persisted here; applied in memory only", "backend", c.Backend, "peer", c.Node, "err", err)
		s.overrides.Remember(o)
	}
	b.Note(b.Breaker.Force(o.State.Breaker(), now))
	s.announce(status.Event{Type: status.OverrideSet, Time: now, Backend: o.Backend, To: o.State, Reason: "override",
		Detail: o.Reason, Author: o.Author, Node: c.Node})
}

// endOverride ends the override of b that a cluster member's change c
// ends (a clear, or an expiry that replaced it), if b has one here: out of
// the state dir (failing that, out of memory, logged as unsaved), the
// circuit unforced, OverrideCleared announced with the member's node.
func (s *Server) endOverride(b *backend.Backend, c cluster.Change, now time.Time, detail, author, unsaved string) {
	if _, ok := s.overrides.Get(c.Backend); !ok {
		return
	}
	if err := s.overrides.Update(func(m map[string]status.Override) { delete(m, c.Backend) }); err != nil {
		s.log.Error(unsaved, "backend", c.Backend, "peer", c.Node, "err", err)
		s.overrides.Forget(c.Backend)
	}
	b.Note(b.Breaker.Unforce(now))
	s.announce(status.Event{Type: status.OverrideCleared, Time: now, Backend: c.Backend, Reason: "override",
		Detail: detail, Author: author, Node: c.Node})
}

// PeerOpened opens a backend's circuit that another member opened on its
// own observations.
func (h clusterHost) PeerOpened(name, node string, hard bool, detail string) {
	s := h.s
	if b := s.backend(name); b != nil {
		r := breaker.ReasonPeer
		if !hard {
			r = breaker.ReasonPeerTrip
		}
		b.Note(b.Breaker.TripPeer(r, fmt.Sprintf("cluster member %s: %s", node, detail), s.clock.Now()))
	}
}

// Confirm asks for a health check of the backend now.
func (h clusterHost) Confirm(name string) {
	if b := h.s.backend(name); b != nil {
		b.Check.Request()
	}
}

// QuorumOpen opens a backend's circuit that a majority sees failing.
func (h clusterHost) QuorumOpen(name, detail string) {
	if b := h.s.backend(name); b != nil {
		b.Note(b.Breaker.TripPeer(breaker.ReasonQuorum, detail, h.s.clock.Now()))
	}
}

// Recover closes a backend's circuit on the cluster's word.
func (h clusterHost) Recover(name, detail string) {
	if b := h.s.backend(name); b != nil {
		b.Note(b.Breaker.Recover(detail, h.s.clock.Now()))
	}
}

// Follow makes a backend's circuit wait for another member's probing.
func (h clusterHost) Follow(name string, on bool) {
	if b := h.s.backend(name); b != nil {
		b.Breaker.SetFollower(on)
	}
}

// Circuits is every backend's circuit as the cluster sees it.
func (h clusterHost) Circuits() []cluster.View {
	s := h.s
	now := s.clock.Now()
	list := s.list()
	out := make([]cluster.View, 0, len(list))
	for _, b := range list {
		out = append(out, circuitView(b, b.Breaker.Stats(now), false))
	}
	return out
}

// circuitView is b's circuit in st as this instance tells its cluster.
func circuitView(b *backend.Backend, st breaker.Stats, recovered bool) cluster.View {
	v := cluster.View{Backend: b.Config.Name, State: status.StateOf(st.State), Since: st.Since, Recovered: recovered}
	switch {
	case st.Forced:
		v.Reason = breaker.ReasonOverride.String()
	case st.State != breaker.Closed:
		v.Reason, v.Detail, v.Failing = st.Reason.String(), st.Detail, st.Reason.Own()
	case recovered:
		v.Detail = st.Detail
	}
	return v
}

// shareTransition tells the cluster of a transition of this instance's
// circuit: its new view, and an opening on its own observations (which
// the others follow for a hard failure, or under decision "any"). It is
// called from publish, on whatever goroutine made the transition: the
// Node only queues.
func (s *Server) shareTransition(b *backend.Backend, tr breaker.Transition) {
	n := s.cluster.Load()
	if n == nil {
		return
	}
	st := tr.Stats
	if tr.To == breaker.Closed {
		st.Detail = tr.Detail // the probes' verdict, for the followers
	}
	n.Circuit(circuitView(b, st, tr.From == breaker.HalfOpen && tr.To == breaker.Closed))
	if tr.To == breaker.Open && tr.From == breaker.Closed && tr.Reason.Own() {
		n.Opened(b.Config.Name, tr.Reason.Hard(), tr.Reason.String()+": "+tr.Detail, tr.At)
	}
}

// NotifyPosition is this instance's place among the live members of its
// cluster, for alerts (0 outside a cluster). After Run ends it is
// reckoned from the members as the member last saw them.
func (s *Server) NotifyPosition() int {
	if n := s.alertLog.Load(); n != nil {
		return max(n.NotifyPosition(), 0)
	}
	return 0
}

// Notified returns the latest alert notification a member of the cluster
// recorded under key; none outside a cluster. After Run ends it answers
// from the log as the member left it: an alert still delivered in the
// shutdown grace period must not take a peer's notification for none.
func (s *Server) Notified(key string) (status.Notification, bool) {
	if n := s.alertLog.Load(); n != nil {
		return n.Notified(key)
	}
	return status.Notification{}, false
}

// Notify records an alert notification this instance sent in its
// cluster's notification log; nothing outside a cluster (after Run ends,
// in the member's log only: it has left).
func (s *Server) Notify(key string, note status.Notification) {
	if n := s.alertLog.Load(); n != nil {
		n.Notify(key, note)
	}
}
