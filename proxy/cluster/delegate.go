package cluster

import (
	"encoding/json"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/heliosdb/heliosproxy/status"
)

// delegate is the Node as memberlist calls it, on memberlist's
// goroutines: it queues messages for Run and keeps the member table, and
// never blocks.
type delegate struct{ n *Node }

// NodeMeta tells the others this instance's version and config hash.
func (d *delegate) NodeMeta(limit int) []byte {
	b, _ := json.Marshal(nodeMeta{Version: d.n.opts.Version, ConfigHash: d.n.ConfigHash()})
	if len(b) > limit {
		return nil
	}
	return b
}

// NotifyMsg takes a message from another member (sent directly or by
// gossip). memberlist reuses buf: it is decoded before returning.
func (d *delegate) NotifyMsg(buf []byte) {
	var m message
	if err := json.Unmarshal(buf, &m); err != nil {
		d.n.log.Warn("cluster message not understood", "err", err)
		return
	}
	if m.Leaving != "" {
		d.leaving(m.Leaving)
		return
	}
	d.n.queue(m)
}

func (n *Node) queue(m message) {
	select {
	case n.inbox <- m:
	default:
		n.log.Warn("cluster receive queue full; message dropped (overrides come back at the next state sync)")
	}
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.n.bcast.GetBroadcasts(overhead, limit)
}

// state is what members exchange in memberlist's periodic full state
// exchange (and the one at join).
type state struct {
	Overrides []Change `json:"o"` // every override change the member holds
	Views     []View   `json:"v"` // the member's own circuits
	Notices   []Notice `json:"n"` // the notification log
}

// LocalState is this instance's state for a full exchange.
func (d *delegate) LocalState(bool) []byte {
	n := d.n
	st := state{Overrides: n.reg.all(), Notices: n.notices()}
	n.mu.Lock()
	for _, v := range n.views[n.name] {
		st.Views = append(st.Views, v)
	}
	n.mu.Unlock()
	b, _ := json.Marshal(st)
	return b
}

// MergeRemoteState takes another member's state; each change and view is
// applied as if it had arrived alone.
func (d *delegate) MergeRemoteState(buf []byte, _ bool) {
	var st state
	if err := json.Unmarshal(buf, &st); err != nil {
		d.n.log.Warn("cluster state not understood", "err", err)
		return
	}
	for i := range st.Overrides {
		d.n.queue(message{Override: &st.Overrides[i]})
	}
	for i := range st.Views {
		d.n.queue(message{View: &st.Views[i], synced: true})
	}
	for i := range st.Notices {
		d.n.queue(message{Notice: &st.Notices[i]})
	}
}

// leaving marks a member that said it is leaving.
func (d *delegate) leaving(name string) {
	n := d.n
	n.mu.Lock()
	if m := n.members[name]; m != nil {
		m.left = true
	}
	n.mu.Unlock()
}

// The events: memberlist's Node.State is not kept up to date (its
// nodeState has its own), so the event says the state.

func (d *delegate) NotifyJoin(node *memberlist.Node) {
	d.note(node, status.MemberAlive, "cluster member joined")
}

func (d *delegate) NotifyUpdate(node *memberlist.Node) { d.note(node, status.MemberAlive, "") }

func (d *delegate) NotifyLeave(node *memberlist.Node) {
	d.note(node, status.MemberDead, "")
}

// note records a member's state and metadata, and logs what changed.
func (d *delegate) note(node *memberlist.Node, state status.MemberState, what string) {
	n := d.n
	if node.Name == n.name {
		return
	}
	var meta nodeMeta
	_ = json.Unmarshal(node.Meta, &meta) // a member without metadata shows none
	n.mu.Lock()
	m := n.members[node.Name]
	if m == nil {
		m = &member{}
		n.members[node.Name] = m
	}
	switch {
	case state == status.MemberAlive:
		m.contact, m.left, m.suspected = time.Now(), false, false
	case m.left:
		state, what = status.MemberLeft, "cluster member left"
	default:
		what = "cluster member dead"
	}
	rehashed := m.meta.ConfigHash != meta.ConfigHash && what == "" // an update: it reloaded
	m.addr, m.state, m.meta = node.Address(), state, meta
	if state != status.MemberAlive {
		delete(n.views, node.Name) // its observations age out with it
	}
	n.mu.Unlock()
	n.poke() // votes and probers change with the members
	if what != "" {
		n.log.Info(what, "peer", node.Name, "addr", node.Address(), "version", meta.Version, "config_hash", meta.ConfigHash)
	}
	if ours := n.ConfigHash(); meta.ConfigHash != "" && ours != "" && meta.ConfigHash != ours && (what == "cluster member joined" || rehashed) {
		n.log.Warn("cluster member is configured differently", "peer", node.Name, "config_hash", meta.ConfigHash, "ours", ours)
	}
}

func (d *delegate) AckPayload() []byte { return nil }

// NotifyPingComplete: an answered probe is the latest contact.
func (d *delegate) NotifyPingComplete(other *memberlist.Node, _ time.Duration, _ []byte) {
	n := d.n
	n.mu.Lock()
	if m := n.members[other.Name]; m != nil {
		m.contact, m.suspected = time.Now(), false
	}
	n.mu.Unlock()
}

// NotifyConflict: memberlist heard of a member named existing.Name at
// another address (other) than the one it holds. When the name is this
// instance's and its first join is not over, this instance is the one
// that came second: Run ends with ErrDuplicateName. When it came first,
// it stays, and says that another instance tried its name; a conflict
// between two other members is logged once per address.
func (d *delegate) NotifyConflict(existing, other *memberlist.Node) {
	n := d.n
	if existing.Name == n.name {
		select {
		case <-n.synced:
		default:
			select {
			case n.conflict <- other.Address():
			default:
			}
			return
		}
	}
	k := existing.Name + " " + other.Address()
	n.mu.Lock()
	seen := n.conflicts[k]
	n.conflicts[k] = true
	n.mu.Unlock()
	if seen {
		return
	}
	if existing.Name == n.name {
		n.log.Error("another instance uses this instance's cluster.node_name; it is refused: give every instance its own node_name",
			"other_addr", other.Address())
		return
	}
	n.log.Error("two instances use one cluster.node_name; the second is refused: give every instance its own node_name",
		"peer", existing.Name, "addr", existing.Address(), "other_addr", other.Address())
}
