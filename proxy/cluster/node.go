// Package cluster makes several HeliosProxy instances act as one over
// hashicorp/memberlist (SWIM gossip): it keeps the members and their
// states, and shares between them the operators' overrides (last writer
// wins by a hybrid logical clock) and the circuits opened for hard
// failures. It knows the proxy only through Host, which the proxy
// implements; all its work runs on its own goroutines and on memberlist's,
// never on a session's.
package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/status"
)

// Host is the proxy as the cluster sees it. Its methods are called from
// the Node's own goroutine, one at a time. A backend this instance does
// not have is ignored by each of them.
type Host interface {
	// ApplyOverride applies a change of a backend's override made on
	// another member (c.Set nil: cleared): persist it, then force or
	// unforce the circuit.
	ApplyOverride(c Change)
	// ApplyUserOverride applies a change of a role's override made on
	// another member (c.SetUser nil: cleared): persist it, then apply it.
	ApplyUserOverride(c Change)
	// PeerOpened opens backend's CLOSED circuit because member node
	// opened its own: for a hard failure (hard), or for an error-rate,
	// latency or saturation trip under decision "any"; detail says what
	// node saw.
	PeerOpened(backend, node string, hard bool, detail string)
	// Confirm asks for a health check of backend now: under decision
	// "quorum" another member's hard failure is a vote, and this
	// instance looks for itself.
	Confirm(backend string)
	// QuorumOpen opens backend's CLOSED circuit because a majority of the
	// live members see it failing.
	QuorumOpen(backend, detail string)
	// Recover closes backend's OPEN circuit on the cluster's word: the
	// prober found it healthy, or the quorum that opened it is gone.
	Recover(backend, detail string)
	// Follow says whether another member probes backend's recovery for
	// this one (on), or this one probes for itself.
	Follow(backend string, on bool)
	// Circuits returns this instance's circuits as they are now.
	Circuits() []View
}

// Options configure a Node.
type Options struct {
	Config     config.Cluster
	Version    string // heliosproxy's version, shown to the other members
	ConfigHash string // see status.Member.ConfigHash; SetConfigHash changes it
	// Overrides and UserOverrides are the backend and role overrides this
	// instance holds at start (from its state dir): they enter the
	// register with their stamps.
	Overrides     []status.Override
	UserOverrides []status.UserOverride
	Host          Host
	Log           *slog.Logger
	// StateDir, when set, is [state] dir: the Node keeps there the clears
	// of overrides it knows (clearsFile), so that after a restart of
	// every member a member that slept through a clear does not bring
	// the override back. Empty: they are kept in memory only.
	StateDir string
	// Tune, when set, adjusts memberlist's settings after Node's own (tests
	// shorten the probe timing).
	Tune func(*memberlist.Config)
}

// Node is this instance's membership in the cluster. Create it with New;
// Run joins and serves until its context ends. The methods that report
// local changes (Override, Opened) never block on the network.
type Node struct {
	opts Options
	name string
	log  *slog.Logger
	clk  hlc
	reg  *register

	// hash is this instance's config hash as the others are told it
	// (Options.ConfigHash, then SetConfigHash's).
	hash   atomic.Pointer[string]
	rehash chan struct{} // asks Run to tell the others the new hash (capacity 1)

	// synced is closed once Run's first join is over and what its state
	// exchange brought is applied (or Run ended first).
	synced     chan struct{}
	syncedOnce sync.Once

	// conflict gets the address of another member that holds this
	// instance's node name, when it comes up before the first join is
	// over (this instance is the one that came second).
	conflict  chan string
	conflicts map[string]bool // "name addr" of other members' name conflicts logged (under mu)

	inbox     chan message  // from memberlist's goroutines to Run's
	out       chan message  // local changes to send, from the proxy to Run's
	decideNow chan struct{} // asks Run to judge the circuits again (capacity 1)
	bcast     *memberlist.TransmitLimitedQueue

	// ml is set while Run runs. Nothing calls memberlist while holding
	// mu: memberlist calls the delegate holding its own locks.
	ml atomic.Pointer[memberlist.Memberlist]
	// selfAddr is this instance's gossip address, set by Start before ml:
	// the node LocalNode returns is memberlist's own, which UpdateNode
	// (a reload's new config hash) rewrites under memberlist's lock.
	selfAddr string

	saveMu sync.Mutex // one write of clearsFile at a time
	// applyMu: one override change applied at a time, local (Local) or
	// from another member (receive), in register order.
	applyMu sync.Mutex

	mu      sync.Mutex
	probe   time.Duration        // memberlist's probe interval, for suspect
	members map[string]*member   // by node name, self excluded
	opened  map[string]time.Time // "node/backend" → time of the last opening taken from it
	// views are the members' circuits: node → backend → latest view,
	// this instance's own included; a member's go when it dies or leaves.
	views map[string]map[string]View
	held  map[string]bool                // backends whose recovery another member probes for this one (as told to Host.Follow)
	nflog map[string]status.Notification // the notification log: key → latest notification sent by any member

	judged atomic.Uint64 // judge rounds done, for tests that wait for one
	prop   propagation   // how long other members' circuit changes took to arrive
}

type member struct {
	addr    string
	state   status.MemberState
	contact time.Time
	meta    nodeMeta
	left    bool // it said it is leaving
	// suspected: this instance's last probe of it failed (memberlist
	// suspects it); an answered probe or an alive message clears it.
	suspected bool
}

// nodeMeta is what each member tells the others about itself (memberlist's
// node metadata, at most 512 bytes).
type nodeMeta struct {
	Version    string `json:"v"`
	ConfigHash string `json:"h"`
}

// message is what members send each other: one change.
type message struct {
	Override *Change  `json:"o,omitempty"`
	Opening  *Opening `json:"x,omitempty"`
	View     *View    `json:"v,omitempty"`
	Notice   *Notice  `json:"n,omitempty"`
	// Leaving names a member about to leave on purpose (shut down):
	// memberlist does not tell its delegates a departure from a death.
	Leaving string `json:"l,omitempty"`
	// synced: it came in a full state exchange (not sent on the wire).
	synced bool
}

// Opening says that Node opened Backend's circuit at At on its own
// observations: for a hard failure (Hard), or for another trip under
// decision "any".
type Opening struct {
	Backend string
	Node    string
	At      time.Time
	Hard    bool `json:",omitempty"`
	Detail  string
}

// openingMaxAge is how old an opening may be when it arrives and still
// open the circuit here; older ones (delayed gossip, a clock far off) are
// only logged, so that a late message cannot reopen a recovered backend.
const openingMaxAge = 5 * time.Second

// ErrDuplicateName is wrapped by Run's error when this instance, joining,
// finds another live member with its node name: it does not join (two
// instances under one name would overwrite each other's circuit views,
// votes and leave messages in every member).
var ErrDuplicateName = errors.New("duplicate cluster node name")

// New makes a Node; it binds nothing until Run.
func New(opts Options) (*Node, error) {
	name := opts.Config.NodeName
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("cluster.node_name is empty and the host name is unknown: %w", err)
		}
		name = h
	}
	n := &Node{
		opts:      opts,
		name:      name,
		log:       opts.Log.With("component", "cluster", "node", name),
		reg:       newRegister(),
		inbox:     make(chan message, 1024),
		out:       make(chan message, 1024),
		decideNow: make(chan struct{}, 1),
		rehash:    make(chan struct{}, 1),
		conflict:  make(chan string, 1),
		conflicts: make(map[string]bool),
		synced:    make(chan struct{}),
		members:   make(map[string]*member),
		opened:    make(map[string]time.Time),
		views:     make(map[string]map[string]View),
		held:      make(map[string]bool),
		nflog:     make(map[string]status.Notification),
	}
	for _, o := range opts.Overrides {
		c := Change{Backend: o.Backend, Stamp: o.Stamp, Node: o.Node, Author: o.Author, Set: &o}
		n.reg.merge(c)
		n.clk.Observe(o.Stamp)
	}
	for _, o := range opts.UserOverrides {
		c := Change{Role: o.Role, Database: o.Database, Stamp: o.Stamp, Node: o.Node, Author: o.Author, SetUser: &o}
		n.reg.merge(c)
		n.clk.Observe(o.Stamp)
	}
	n.loadClears()
	n.hash.Store(&opts.ConfigHash)
	n.bcast = &memberlist.TransmitLimitedQueue{NumNodes: n.numNodes, RetransmitMult: 3}
	return n, nil
}

// ConfigHash is the config hash this instance shows the other members.
func (n *Node) ConfigHash() string { return *n.hash.Load() }

// SetConfigHash changes the config hash this instance shows the other
// members (after a reload changed its settings) and has Run tell them.
// It never blocks.
func (n *Node) SetConfigHash(h string) {
	if old := n.hash.Swap(&h); *old == h {
		return
	}
	select {
	case n.rehash <- struct{}{}:
	default: // already asked; the latest hash goes
	}
}

// updateMeta tells the other members this instance's metadata anew (its
// config hash changed); it waits at most a second for memberlist to send
// it.
func (n *Node) updateMeta(ml *memberlist.Memberlist) {
	if err := ml.UpdateNode(time.Second); err != nil {
		n.log.Info("cluster member's new config hash not yet sent; it goes with later gossip", "err", err)
	}
}

// Name is this instance's node name.
func (n *Node) Name() string { return n.name }

// Override stamps a change of a backend's override made on this instance
// (set nil: cleared) and returns it; the caller persists and applies it,
// then calls Share.
func (n *Node) Override(backend, author string, set *status.Override, now time.Time) Change {
	c := Change{Backend: backend, Stamp: n.clk.Now(now), Node: n.name, Author: author}
	if set != nil {
		o := *set
		o.Node, o.Stamp = c.Node, c.Stamp
		c.Set = &o
	}
	return c
}

// UserOverride is Override for a role's override on a database.
func (n *Node) UserOverride(role, database, author string, set *status.UserOverride, now time.Time) Change {
	c := Change{Role: role, Database: database, Stamp: n.clk.Now(now), Node: n.name, Author: author}
	if set != nil {
		o := *set
		o.Node, o.Stamp = c.Node, c.Stamp
		c.SetUser = &o
	}
	return c
}

// Share records a change made here and sends it to the other members.
// Local is Share for a change that still has to be applied here.
func (n *Node) Share(c Change) {
	if n.reg.merge(c) && c.Cleared() {
		n.saveClears()
	}
	n.send(message{Override: &c})
}

// Added applies the override changes the register holds for backends
// that this instance has just configured (a reload added them): a change
// received while a backend was not configured here was ignored then, and
// the others do not send it again.
func (n *Node) Added(backends []string) {
	n.applyMu.Lock()
	defer n.applyMu.Unlock()
	for _, name := range backends {
		if c, ok := n.reg.get(name); ok {
			n.opts.Host.ApplyOverride(c)
		}
	}
}

// Local records a change made on this instance (stamped by Override or
// UserOverride), applies it with apply (persist, then force or clear)
// and sends it to the other members. It does so one at a time with the
// changes other members send, whose Host calls run under the same lock,
// so that the change that wins the register is the one applied here
// too: a concurrent change from another member that arrives between the
// stamp and the application cannot be overwritten by an older local
// one. A change that another one already beat is neither applied nor
// sent (applied false, no error: the later change stands). When apply
// fails, the register is restored and nothing is sent.
func (n *Node) Local(c Change, apply func() error) (applied bool, err error) {
	n.applyMu.Lock()
	defer n.applyMu.Unlock()
	old, had, won := n.reg.swap(c)
	if !won {
		n.log.Info("override change superseded by a later one from a cluster member before it applied", "stamp", c.Stamp, "later_from", old.Node)
		return false, nil
	}
	if err := apply(); err != nil {
		n.reg.restore(c, old, had)
		return false, err
	}
	if c.Cleared() {
		n.saveClears()
	}
	n.send(message{Override: &c})
	return true, nil
}

// Opened tells the other members that this instance opened backend's
// circuit on its own observations: for a hard failure (hard), or for an
// error-rate, latency or saturation trip, which only decision "any"
// shares (for the others, Opened does nothing). It never blocks: when the
// queue is full (the network far behind), the opening is dropped and
// logged.
func (n *Node) Opened(backend string, hard bool, detail string, at time.Time) {
	if !hard && n.opts.Config.Decision != "any" {
		return
	}
	n.send(message{Opening: &Opening{Backend: backend, Node: n.name, At: at, Hard: hard, Detail: detail}})
}

func (n *Node) send(m message) {
	select {
	case n.out <- m:
	default:
		n.log.Warn("cluster send queue full; change not sent (peers learn overrides at the next state sync)")
	}
}

// Start binds the gossip listener (TCP and UDP); Run does the rest. An
// error (the address in use) leaves nothing behind.
func (n *Node) Start() error {
	ml, err := memberlist.Create(n.memberlistConfig())
	if err != nil {
		return fmt.Errorf("cluster.bind_address %s: %w", n.opts.Config.BindAddress, err)
	}
	n.selfAddr = ml.LocalNode().Address() // before any goroutine of memberlist's changes the node
	n.ml.Store(ml)
	return nil
}

// Run starts the Node unless Start did, joins the members of cluster.join
// (again every rejoin_interval while some are missing) and applies what
// the others send, until ctx ends; then it leaves the cluster and shuts
// memberlist down (its goroutines end shortly after: it does not wait for
// them).
func (n *Node) Run(ctx context.Context) error {
	if n.ml.Load() == nil {
		if err := n.Start(); err != nil {
			return err
		}
	}
	ml := n.ml.Load()
	var wg sync.WaitGroup
	duplicate := false
	defer func() {
		wg.Wait()       // the senders and the join under way (it ends with memberlist's TCP timeout at most)
		if !duplicate { // a duplicate's leave would say the other one left
			n.sayLeaving(ml)
			if err := ml.Leave(time.Second); err != nil {
				n.log.Info("leaving the cluster", "err", err)
			}
		}
		if err := ml.Shutdown(); err != nil {
			n.log.Warn("cluster shutdown", "err", err)
		}
		n.ml.Store(nil)
		n.markSynced()
	}()
	n.log.Info("cluster member started", "addr", n.selfAddr, "join", n.opts.Config.Join,
		"encrypted", len(n.opts.Config.Key()) > 0)
	// Joins run on goroutines of their own, one round at a time: a join
	// address that accepts and does not answer (a stopped or hung member)
	// holds its join for memberlist's TCP timeout, and what the others
	// send must not wait behind it.
	n.reconcile() // this instance's views, for the state exchange of the join
	joined := make(chan struct{}, 1)
	reached := make(chan struct{}, 1) // a join of the round got a state exchange
	reach := func() {
		select {
		case reached <- struct{}{}:
		default:
		}
	}
	joining := true
	wg.Go(func() { n.join(ctx, reach); joined <- struct{}{} })
	first := true
	// synced: what the state exchange of the first join brought (the
	// notification log, overrides, views) is queued: apply it before
	// saying synced.
	synced := func() {
		if first {
			first = false
			for range len(n.inbox) {
				n.receive(<-n.inbox)
			}
			n.markSynced()
		}
	}
	rejoin := time.NewTicker(n.opts.Config.RejoinInterval.Duration)
	defer rejoin.Stop()
	judge := time.NewTicker(judgeInterval)
	defer judge.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case addr := <-n.conflict:
			duplicate = true
			return fmt.Errorf("%w: cluster.node_name %q is already used by the member at %s; give every instance its own node_name",
				ErrDuplicateName, n.name, addr)
		case m := <-n.inbox:
			n.receive(m)
		case m := <-n.out:
			n.deliver(&wg, ml, m)
		case <-n.decideNow:
			n.judge()
		case <-n.rehash:
			wg.Go(func() { n.updateMeta(ml) })
		case <-judge.C:
			n.reconcile()
			n.judge()
		case <-reached:
			synced()
		case <-joined:
			joining = false
			synced() // every join of the first round failed, or there was none
		case <-rejoin.C:
			if !joining {
				joining = true
				wg.Go(func() { n.join(ctx, reach); joined <- struct{}{} })
			}
			if n.reg.forget(time.Now(), time.Hour, clearsKeep) {
				n.saveClears()
			}
			n.forgetDead(time.Now())
			n.forgetNotices(time.Now())
		}
	}
}

func (n *Node) markSynced() { n.syncedOnce.Do(func() { close(n.synced) }) }

// syncWait is the longest NotifyPosition waits for the first join (which
// takes memberlist's TCP timeout, 10 s, for a seed that does not answer).
const syncWait = 10 * time.Second

// judgeInterval is how often Run judges the circuits without a change
// to prompt it (suspicion sets in with time), and compares its circuits
// with what it told the others. A view received or made, or a member
// joining or leaving, prompts a judgement at once.
const judgeInterval = time.Second

// judge decides every backend again from the live members' views.
func (n *Node) judge() {
	live := n.live(time.Now())
	n.mu.Lock()
	vs := n.decide(live)
	n.mu.Unlock()
	n.act(vs)
	n.judged.Add(1)
}

// deliver sends a local change to every other live member directly (an
// opening over UDP, an override over TCP, each on its own goroutine so
// that a dead peer's timeout delays nobody) and queues it for gossip too,
// which reaches members the direct send missed.
func (n *Node) deliver(wg *sync.WaitGroup, ml *memberlist.Memberlist, m message) {
	b, err := json.Marshal(m)
	if err != nil {
		n.log.Error("cluster message not encoded", "err", err)
		return
	}
	n.bcast.QueueBroadcast(broadcast(b))
	for _, to := range n.alivePeers() {
		wg.Go(func() {
			var err error
			if m.Opening != nil || m.View != nil { // the notification log goes over TCP: a loss would send twice
				err = ml.SendBestEffort(to, b)
			} else {
				err = ml.SendReliable(to, b)
			}
			if err != nil {
				n.log.Info("cluster message not sent directly; it goes by gossip", "to", to.Name, "err", err)
			}
		})
	}
}

// sayLeaving tells every member that this one leaves on purpose.
func (n *Node) sayLeaving(ml *memberlist.Memberlist) {
	b, _ := json.Marshal(message{Leaving: n.name})
	for _, to := range n.alivePeers() {
		_ = ml.SendBestEffort(to, b) // UDP: does not wait; a loss shows the member dead instead of left
	}
}

// alivePeers returns the other members alive in memberlist, as copies
// made from the member table: the nodes memberlist's Members returns are
// its own, which it changes under its lock while we would read them.
func (n *Node) alivePeers() []*memberlist.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*memberlist.Node, 0, len(n.members))
	for name, m := range n.members {
		if m.state != status.MemberAlive {
			continue
		}
		host, port, err := net.SplitHostPort(m.addr)
		p, _ := strconv.Atoi(port)
		if ip := net.ParseIP(host); err == nil && ip != nil {
			out = append(out, &memberlist.Node{Name: name, Addr: ip, Port: uint16(p)})
		}
	}
	return out
}

// receive applies a message from another member.
func (n *Node) receive(m message) {
	switch {
	case m.Override != nil:
		c := *m.Override
		n.clk.Observe(c.Stamp)
		if c.key() == "" {
			return // from a member that knows another kind of override
		}
		n.applyMu.Lock()
		defer n.applyMu.Unlock()
		if n.reg.merge(c) {
			if c.User() {
				n.opts.Host.ApplyUserOverride(c)
			} else {
				n.opts.Host.ApplyOverride(c)
			}
			if c.Cleared() {
				n.saveClears() // after the override left this instance's state dir
			}
		}
	case m.Opening != nil:
		o := *m.Opening
		if o.Node == n.name {
			return
		}
		key := o.Node + "/" + o.Backend
		n.mu.Lock()
		seen := !o.At.After(n.opened[key])
		if !seen {
			n.opened[key] = o.At
		}
		n.mu.Unlock()
		if seen {
			return
		}
		age := time.Since(o.At)
		n.prop.observe(age)
		if age > openingMaxAge {
			n.log.Info("peer's circuit opening arrived too late to act on", "backend", o.Backend, "peer", o.Node, "age", age)
			return
		}
		if n.opts.Config.Decision == "quorum" {
			n.opts.Host.Confirm(o.Backend) // its view is its vote
			return
		}
		n.opts.Host.PeerOpened(o.Backend, o.Node, o.Hard, o.Detail)
	case m.Notice != nil:
		n.clk.Observe(m.Notice.N.Stamp)
		n.takeNotice(*m.Notice)
	case m.View != nil:
		v := *m.View
		now := time.Now()
		if !n.takeView(v, now) {
			return
		}
		if !m.synced {
			n.prop.observe(now.Sub(stampTime(v.Stamp)))
		}
		n.clk.Observe(v.Stamp)
		if v.Recovered {
			n.follow(v)
		}
		n.judge()
	}
}

// join joins the addresses of cluster.join that are not members yet,
// resolving names anew each time (a headless Service's pods change), all
// at once; reached is called when a join has had its state exchange.
func (n *Node) join(ctx context.Context, reached func()) {
	if len(n.opts.Config.Join) == 0 {
		return
	}
	ml := n.ml.Load()
	known := make(map[string]bool)
	for _, m := range n.alivePeers() {
		known[m.Address()] = true
	}
	known[n.selfAddr] = true
	var missing []string
	for _, j := range n.opts.Config.Join {
		host, port, err := net.SplitHostPort(j)
		if err != nil {
			continue // Validate refused it
		}
		ips, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			n.log.Info("cluster join address not resolved", "join", j, "err", err)
			continue
		}
		for _, ip := range ips {
			if a := net.JoinHostPort(ip, port); !known[a] {
				missing = append(missing, a)
			}
		}
	}
	if len(missing) == 0 {
		return
	}
	// Each address on its own goroutine: memberlist joins a list one
	// address after the other, so a first one that accepts and never
	// answers held the others for its TCP timeout (10 s).
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		joined int
		errs   []error
	)
	for _, a := range missing {
		wg.Go(func() {
			k, err := ml.Join([]string{a})
			if k > 0 {
				reached()
			}
			mu.Lock()
			defer mu.Unlock()
			joined += k
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		n.log.Info("cluster join incomplete; retrying every rejoin_interval", "tried", missing, "joined", joined, "err", errors.Join(errs...))
		return
	}
	n.log.Info("joined cluster members", "addresses", missing, "joined", joined)
}

// Members returns the members as this instance sees them, itself first,
// then by name.
func (n *Node) Members(now time.Time) []status.Member {
	self := status.Member{Node: n.name, State: status.MemberAlive, LastContact: now, Self: true,
		Version: n.opts.Version, ConfigHash: n.ConfigHash()}
	if n.ml.Load() != nil {
		self.Address = n.selfAddr
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	out := []status.Member{self}
	for name, m := range n.members {
		state := m.state
		if state == status.MemberAlive && (m.suspected || !n.answering(m, now)) {
			state = status.MemberSuspect
		}
		out = append(out, status.Member{Node: name, Address: m.addr, State: state, LastContact: m.contact,
			Version: m.meta.Version, ConfigHash: m.meta.ConfigHash})
	}
	slices.SortFunc(out[1:], func(a, b status.Member) int { return cmp.Compare(a.Node, b.Node) })
	return out
}

// answering reports whether m answered a probe lately: within two
// probe rounds over every member. memberlist tells which members it
// suspects only in its log (suspected); a member that answered no probe
// for that long is suspect too. The caller holds mu.
func (n *Node) answering(m *member, now time.Time) bool {
	return now.Sub(m.contact) <= 2*time.Duration(len(n.members)+1)*n.probe
}

// suspect marks a member whose probe from this instance failed; memberlist
// calls it (through its log) holding its own lock: it only records.
func (n *Node) suspect(name string) {
	n.mu.Lock()
	if m := n.members[name]; m != nil && m.state == status.MemberAlive {
		m.suspected = true
	}
	n.mu.Unlock()
}

// deadListed is how long a dead or departed member stays in Members.
const deadListed = 10 * time.Minute

func (n *Node) forgetDead(now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for name, m := range n.members {
		if (m.state == status.MemberDead || m.state == status.MemberLeft) && now.Sub(m.contact) > deadListed {
			delete(n.members, name)
		}
	}
}

func (n *Node) numNodes() int {
	if ml := n.ml.Load(); ml != nil {
		return ml.NumMembers()
	}
	return 1
}

// memberlistConfig is memberlist's LAN settings with ours.
func (n *Node) memberlistConfig() *memberlist.Config {
	c := n.opts.Config
	mc := memberlist.DefaultLANConfig()
	mc.Name = n.name
	host, port, _ := net.SplitHostPort(c.BindAddress)
	mc.BindAddr = cmp.Or(host, "0.0.0.0")
	mc.BindPort, _ = strconv.Atoi(port)
	if c.AdvertiseAddress != "" {
		host, port, _ := net.SplitHostPort(c.AdvertiseAddress)
		mc.AdvertiseAddr = host
		mc.AdvertisePort, _ = strconv.Atoi(port)
	} else if mc.BindAddr != "0.0.0.0" && mc.BindAddr != "::" {
		mc.AdvertiseAddr, mc.AdvertisePort = mc.BindAddr, mc.BindPort
	}
	if key := c.Key(); key != nil {
		mc.SecretKey = key
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	mc.GossipInterval = 100 * time.Millisecond
	mc.PushPullInterval = 15 * time.Second
	d := &delegate{n: n}
	mc.Delegate, mc.Events, mc.Ping, mc.Conflict = d, d, d, d
	mc.Logger = newMemberlistLogger(n.log, n.suspect)
	if n.opts.Tune != nil {
		n.opts.Tune(mc)
	}
	n.mu.Lock()
	n.probe = mc.ProbeInterval + mc.ProbeTimeout
	n.mu.Unlock()
	return mc
}

// broadcast is one message queued for gossip; no message replaces
// another.
type broadcast []byte

func (b broadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b broadcast) Message() []byte                       { return b }
func (b broadcast) Finished()                             {}
