package cluster

import (
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// View is one member's circuit of one backend, as it tells the others:
// its state and why, whether it sees the backend failing itself (its vote
// under decision "quorum"), and whether it just closed it after its own
// probes (the verdict its followers take).
type View struct {
	Node    string
	Backend string
	State   status.CircuitState
	// Reason is why it is open (a breaker reason's name: "hard_failure",
	// "latency_p95", "peer_hard_failure", "quorum", …), "override" while
	// an override holds it; "" while CLOSED.
	Reason string `json:",omitempty"`
	Detail string `json:",omitempty"`
	Since  time.Time
	// Failing: open on the member's own observations (its own trip or a
	// failed recovery), not on another member's word or an operator's.
	Failing bool `json:",omitempty"`
	// Recovered: the member closed the circuit after its own HALF_OPEN
	// probes; the members that follow its probing close theirs.
	Recovered bool `json:",omitempty"`
	// Stamp orders a member's views of one backend (its hybrid logical
	// clock when it sent the view): the greater wins.
	Stamp uint64
	// Received is when this instance got it (for its own views: made it).
	Received time.Time `json:"-"`
}

// Role is what a member does for a backend's recovery in the cluster.
const (
	RoleProber   = "prober"   // probes the recovery (HALF_OPEN) for every member
	RoleFollower = "follower" // stays OPEN and takes the prober's verdict
	RoleQuorum   = "quorum"   // held OPEN while a majority sees the backend failing
)

// Circuit records a change of this instance's circuit of a backend (set
// from breaker Stats: Backend, State, Reason, Detail, Since, Failing,
// Recovered) and sends it to the other members. It never blocks: the
// proxy calls it from publish, on whatever goroutine made the transition.
func (n *Node) Circuit(v View) {
	now := time.Now()
	v.Node, v.Stamp, v.Received = n.name, n.clk.Now(now), now
	n.mu.Lock()
	n.viewsOf(n.name)[v.Backend] = v
	n.mu.Unlock()
	n.send(message{View: &v})
	n.poke()
}

// poke asks Run to decide again now.
func (n *Node) poke() {
	select {
	case n.decideNow <- struct{}{}:
	default:
	}
}

// viewsOf returns node's views, making the map; n.mu is held.
func (n *Node) viewsOf(node string) map[string]View {
	m := n.views[node]
	if m == nil {
		m = make(map[string]View)
		n.views[node] = m
	}
	return m
}

// takeView keeps another member's view when it is newer than the one
// held, and reports whether it did. Views of members not alive here are
// not kept: a dead member's observations do not count.
func (n *Node) takeView(v View, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if v.Node == n.name {
		return false
	}
	if m := n.members[v.Node]; m == nil || m.state != status.MemberAlive {
		return false
	}
	views := n.viewsOf(v.Node)
	if old, ok := views[v.Backend]; ok && old.Stamp >= v.Stamp {
		return false
	}
	v.Received = now
	views[v.Backend] = v
	return true
}

// reconcile sends the views of the circuits whose state differs from
// what this instance last told (a change whose publication raced with
// another's), and the first view of every backend.
func (n *Node) reconcile() {
	for _, v := range n.opts.Host.Circuits() {
		n.mu.Lock()
		old, ok := n.views[n.name][v.Backend]
		n.mu.Unlock()
		if !ok || old.State != v.State || old.Reason != v.Reason || old.Failing != v.Failing {
			n.Circuit(v)
		}
	}
}

// live returns the names of the members alive now (self included) in
// name order: a member that answered no probe for two rounds, dead or
// gone does not count, for votes or for the choice of a prober. One that
// memberlist only just suspects (shown suspect) still counts: one
// missed probe on a busy host must not move votes and probers.
func (n *Node) live(now time.Time) []string {
	out := []string{n.name}
	n.mu.Lock()
	for name, m := range n.members {
		if m.state == status.MemberAlive && n.answering(m, now) {
			out = append(out, name)
		}
	}
	n.mu.Unlock()
	slices.Sort(out)
	return out
}

// verdict is what this instance decided for one backend.
type verdict struct {
	backend string
	votes   []string // live members that see it failing, with why: "node-a (hard_failure)"
	live    int
	quorum  bool   // decision quorum, and a majority of the live members see it failing
	prober  string // the member that probes its recovery; "" when no member has it open
	role    string // this instance's: RoleProber, RoleFollower, RoleQuorum or ""
}

// decide judges every backend some member has a view of, from the views
// of the live members. The caller holds n.mu.
func (n *Node) decide(live []string) []verdict {
	backends := make(map[string]bool)
	for _, views := range n.views {
		for b := range views {
			backends[b] = true
		}
	}
	names := make([]string, 0, len(backends))
	for b := range backends {
		names = append(names, b)
	}
	slices.Sort(names)
	out := make([]verdict, 0, len(names))
	for _, b := range names {
		v := verdict{backend: b, live: len(live)}
		var candidates []string
		// A member's recovery verdict outdates the failures seen before
		// it: the members that saw them follow it and close, and a vote
		// they cast before they heard of it must not open the circuit
		// again for the quorum in between (on the prober itself, or on a
		// member that followed before the others). A member that sees
		// the backend fail again says so with a later view.
		var recovered uint64
		for _, node := range live {
			if view := n.views[node][b]; view.Recovered && view.State == status.Closed {
				recovered = max(recovered, view.Stamp)
			}
		}
		for _, node := range live {
			view := n.views[node][b]
			if view.Failing && view.Stamp > recovered {
				v.votes = append(v.votes, fmt.Sprintf("%s (%s)", node, view.Reason))
			}
			if view.State != status.Closed && view.State != status.NoState && view.Reason != "override" && view.Reason != "quorum" {
				candidates = append(candidates, node)
			}
		}
		v.quorum = n.opts.Config.Decision == "quorum" && 2*len(v.votes) > len(live)
		v.prober = rendezvous(b, candidates)
		self := n.views[n.name][b]
		switch {
		case self.Reason == "quorum" && self.State != status.Closed:
			v.role = RoleQuorum
		case v.prober == n.name:
			v.role = RoleProber
		case slices.Contains(candidates, n.name):
			v.role = RoleFollower
		}
		out = append(out, v)
	}
	return out
}

// act applies this instance's verdicts through the Host: a quorum opens
// or releases the circuit, and a member follows the prober (or the
// quorum) instead of probing itself. The caller does not hold n.mu.
func (n *Node) act(vs []verdict) {
	for _, v := range vs {
		n.mu.Lock()
		self := n.views[n.name][v.backend]
		wasHeld := n.held[v.backend]
		hold := v.role == RoleFollower || v.role == RoleQuorum && v.quorum
		n.held[v.backend] = hold
		n.mu.Unlock()
		if hold != wasHeld {
			n.opts.Host.Follow(v.backend, hold)
		}
		switch {
		case v.quorum && (self.State == status.Closed || self.State == status.NoState) && self.Reason != "override":
			n.opts.Host.QuorumOpen(v.backend, fmt.Sprintf("quorum: %d of %d live cluster members see it failing: %s",
				len(v.votes), v.live, strings.Join(v.votes, ", ")))
		case v.role == RoleQuorum && !v.quorum:
			n.opts.Host.Recover(v.backend, fmt.Sprintf("quorum gone: %d of %d live cluster members see it failing", len(v.votes), v.live))
		}
	}
}

// follow takes a member's recovery verdict: this instance's circuit, OPEN
// on its own or another's observations, closes with it.
func (n *Node) follow(v View) {
	n.mu.Lock()
	self := n.views[n.name][v.Backend]
	n.mu.Unlock()
	if self.State != status.Open || self.Reason == "override" || self.Reason == "quorum" {
		return
	}
	n.opts.Host.Recover(v.Backend, fmt.Sprintf("recovered: cluster member %s probed it (%s)", v.Node, v.Detail))
}

// rendezvous picks the member that probes backend among candidates: the
// highest FNV-1a hash of backend and member name, so that every member
// picks the same one from the same candidates, and a candidate's
// departure moves only its own backends.
func rendezvous(backend string, candidates []string) string {
	var best string
	var top uint64
	for _, c := range candidates {
		h := fnv.New64a()
		h.Write([]byte(backend))
		h.Write([]byte{0})
		h.Write([]byte(c))
		if s := h.Sum64(); best == "" || s > top {
			best, top = c, s
		}
	}
	return best
}

// Circuits returns every live member's view of every backend as this
// instance holds them (this instance's first, then by node and backend),
// with each one's role in the recovery.
func (n *Node) Circuits(now time.Time) []status.CircuitView {
	live := n.live(now)
	n.mu.Lock()
	defer n.mu.Unlock()
	vs := n.decide(live)
	byBackend := make(map[string]verdict, len(vs))
	for _, v := range vs {
		byBackend[v.backend] = v
	}
	var out []status.CircuitView
	for _, node := range append([]string{n.name}, slices.DeleteFunc(slices.Clone(live), func(s string) bool { return s == n.name })...) {
		views := n.views[node]
		for _, b := range slices.Sorted(maps.Keys(views)) {
			v := views[b]
			cv := status.CircuitView{Node: node, Backend: b, State: v.State, Reason: v.Reason, Detail: v.Detail,
				Since: v.Since, Failing: v.Failing, Received: v.Received}
			if d := byBackend[b]; d.prober == node {
				cv.Role = RoleProber
			} else if v.Reason == "quorum" && v.State != status.Closed {
				cv.Role = RoleQuorum
			} else if d.prober != "" && v.State == status.Open && v.Reason != "override" {
				cv.Role = RoleFollower
			}
			out = append(out, cv)
		}
	}
	return out
}
