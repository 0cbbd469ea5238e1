package backend

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/proxy/health"
)

// Role is what a backend is in its replication group.
type Role uint8

// The roles.
const (
	RoleUnknown Role = iota // not observed yet (or health checks are off), and not configured
	RolePrimary             // writes WAL: takes sessions that may write
	RoleReplica             // replays WAL (a standby): read-only
)

func (r Role) String() string {
	switch r {
	case RolePrimary:
		return "primary"
	case RoleReplica:
		return "replica"
	}
	return "unknown"
}

// Verdict is what routing may send to a backend by its role, whatever its
// circuit says.
type Verdict uint8

// The verdicts.
const (
	// ReadWrite takes every session: a primary, or a backend whose role
	// is not known (health checks off, or none has answered yet), as
	// before roles existed.
	ReadWrite Verdict = iota
	// ReadOnly takes read-only sessions only: a replica within its lag
	// limit, or a backend with allowed_query_types = ["SELECT"].
	ReadOnly
	// Lagging is a replica beyond max_replication_lag_ms: no sessions
	// until its lag is back under half of it. Not a failure.
	Lagging
	// Fenced is a backend that claims to be primary while another one is
	// (a higher timeline, or the incumbent on the same one): no sessions.
	Fenced
)

func (v Verdict) String() string {
	switch v {
	case ReadOnly:
		return "read-only"
	case Lagging:
		return "lagging"
	case Fenced:
		return "fenced"
	}
	return "read-write"
}

// RoleView is a backend's replication role and routing verdict as last
// assessed (Topology.Observe). The zero value is a backend never
// observed: role unknown, read-write.
type RoleView struct {
	Role     Role // the effective role: the configured one if asserted, else Observed
	Observed Role // what the last health check found; RoleUnknown before one
	// Asserted is true when the configuration sets the role
	// (role = "primary" or "replica"), false for "auto".
	Asserted bool
	SystemID uint64 // 0 if unknown
	Timeline int64  // 0 if unknown
	// LagBytes and Lag are a replica's replication lag behind its group's
	// primary (0 on a primary or when unknown): the primary's WAL position
	// less what the replica replayed, and how long ago the primary first
	// wrote what the replica has not replayed (0 when it replayed all the
	// primary had written, however long the primary was idle).
	LagBytes uint64
	Lag      time.Duration
	Verdict  Verdict
	// BehindTimeline is the timeline of the group's primary when this
	// replica is sure to be on an older one (health.Observation.
	// TimelineSure): it does not follow the current primary — it follows
	// a former primary, diverged from the new timeline, or has not
	// switched to it yet — and its WAL positions cannot be compared with
	// the primary's, so it is out of read routing whatever its lag. 0
	// otherwise.
	BehindTimeline int64
	// FencedReason says why the backend is fenced; "" when it is not.
	FencedReason string
}

// Mismatch reports whether an asserted role differs from what the health
// check found.
func (v RoleView) Mismatch() bool {
	return v.Asserted && v.Observed != RoleUnknown && v.Observed != v.Role
}

// roleState is a Backend's part of the Topology.
type roleState struct {
	view atomic.Pointer[RoleView]
	// Guarded by Topology.mu.
	obs        health.Observation // the latest with RoleKnown
	observed   bool               // obs is set
	claimSince time.Time          // since when it claims to be primary (incumbency among equals)
	// heldUntil (unix nanos) keeps the backend out of routing until its
	// first health check has finished, at the latest until then; 0: not
	// held (HoldForRole).
	heldUntil atomic.Int64
}

// HoldForRole keeps b, which a reload added (or moved to another
// address), out of routing until its first health check has finished,
// so that its role is known if it can be, or until deadline: until then
// its role is unknown, and a replica or a fenced former primary would
// take sessions that may write. Run waits for the first checks before it
// accepts clients instead.
func (b *Backend) HoldForRole(deadline time.Time) { b.role.heldUntil.Store(deadline.UnixNano()) }

// Held reports whether b is out of routing at now (HoldForRole).
func (b *Backend) Held(now time.Time) bool {
	until := b.role.heldUntil.Load()
	if until == 0 {
		return false
	}
	select {
	case <-b.Check.First():
	default:
		if now.UnixNano() < until {
			return true
		}
	}
	b.role.heldUntil.Store(0)
	return false
}

// Roles returns b's replication role and routing verdict as last assessed.
func (b *Backend) Roles() RoleView {
	if v := b.role.view.Load(); v != nil {
		return *v
	}
	return RoleView{Role: configuredRole(b.Live().RoleOrAuto()), Asserted: b.Live().RoleOrAuto() != config.RoleAuto, Verdict: baseVerdict(b, configuredRole(b.Live().RoleOrAuto()))}
}

func configuredRole(role string) Role {
	switch role {
	case config.RolePrimary:
		return RolePrimary
	case config.RoleReplica:
		return RoleReplica
	}
	return RoleUnknown
}

// baseVerdict is the verdict of b by its role alone.
func baseVerdict(b *Backend, r Role) Verdict {
	if r == RoleReplica || b.Live().ReadOnly() {
		return ReadOnly
	}
	return ReadWrite
}

// Change is something Topology.Observe found changed, for the proxy to
// publish as an event.
type Change struct {
	Backend *Backend
	Kind    ChangeKind
	From    string // the previous role or verdict, for RoleChanged
	To      string // the new role, for RoleChanged
	Detail  string // what an operator reads
}

// ChangeKind is a kind of Change.
type ChangeKind uint8

// The kinds of Change.
const (
	RoleChanged  ChangeKind = iota + 1 // the effective role changed (a promotion, a demotion, the first observation)
	Fence                              // the backend was fenced; Detail is the reason
	Unfence                            // the backend is no longer fenced
	LagExceeded                        // a replica left read routing for its lag
	LagRecovered                       // it came back
	RoleMismatch                       // an asserted role contradicts the health check
)

// Topology is the replication groups of the backends and the routing
// verdicts it gives them: which backend is each group's primary, which
// are fenced, which replicas lag. A group is the backends that share a
// system identifier (a primary and its streaming replicas); backends that
// do not say are each a group of their own. Make it with NewTopology.
type Topology struct {
	mu     sync.Mutex
	groups map[uint64]*group
	// timelines is the highest timeline a primary of each group (by
	// system identifier) was seen on, kept across restarts by the proxy
	// (Timelines, Remember): a primary on a lower one is a former primary
	// that came back, whatever else is reachable.
	timelines map[uint64]int64
	grew      bool // timelines grew since Timelines last reported it
}

// group is one replication group's history.
type group struct {
	incumbent  *Backend // the primary it routes writes to; nil if none
	hadPrimary bool     // a primary was known once: losing it makes checks urgent
	// samples are the WAL positions of sampled, the primary, in the order
	// seen, each when first seen: strictly increasing in both.
	samples []walSample
	sampled *Backend
	seenAt  time.Time // the latest observation of sampled (its position then is the last sample's)
}

// walSample is a group primary's WAL position at a time.
type walSample struct {
	at  time.Time
	lsn uint64
}

// maxSamples bounds a group's WAL history: samples are kept when the
// position moves, so an idle primary adds none.
const maxSamples = 1024

// NewTopology returns a Topology that has seen nothing.
func NewTopology() *Topology {
	return &Topology{groups: make(map[uint64]*group), timelines: make(map[uint64]int64)}
}

// Remember takes the highest timelines seen before (by system
// identifier), as Timelines returned them.
func (t *Topology) Remember(timelines map[uint64]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, tl := range timelines {
		t.timelines[id] = max(t.timelines[id], tl)
	}
}

// Timelines returns the highest timeline seen per group, and whether it
// grew since the last call: the proxy then persists it.
func (t *Topology) Timelines() (map[uint64]int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	grew := t.grew
	t.grew = false
	return maps.Clone(t.timelines), grew
}

// Observe takes a health check's observation of b and assesses again the
// backends of b's group among list (the serving backends). maxLag gives
// each backend's lag limit (0: none). It returns what changed.
func (t *Topology) Observe(b *Backend, o health.Observation, list []*Backend, maxLag func(*Backend) time.Duration) []Change {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o.RoleKnown {
		if !o.InRecovery && (!b.role.observed || b.role.obs.InRecovery) {
			b.role.claimSince = o.At
		}
		b.role.obs, b.role.observed = o, true
	}
	return t.assess(groupKey(b), list, maxLag, b, o.At)
}

// Reassess assesses every group again (after a reload changed roles or
// lag limits).
func (t *Topology) Reassess(list []*Backend, maxLag func(*Backend) time.Duration, now time.Time) []Change {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Change
	seen := map[uint64]bool{}
	for _, b := range list {
		if k := groupKey(b); !seen[k] {
			seen[k] = true
			out = append(out, t.assess(k, list, maxLag, nil, now)...)
		}
	}
	return out
}

// groupKey is b's group: its system identifier, or for a backend that has
// none (not observed), a key of its own. The caller holds t.mu.
func groupKey(b *Backend) uint64 {
	if b.role.observed && b.role.obs.SystemID != 0 {
		return b.role.obs.SystemID
	}
	return uint64(1)<<63 | uint64(b.id)
}

// assess decides the roles and verdicts of the group key's members.
// observed is the backend whose observation (at now) prompted it, if any.
// The caller holds t.mu.
func (t *Topology) assess(key uint64, list []*Backend, maxLag func(*Backend) time.Duration, observed *Backend, now time.Time) []Change {
	var members []*Backend
	for _, b := range list {
		if groupKey(b) == key {
			members = append(members, b)
		}
	}
	g := t.groups[key]
	if g == nil {
		g = &group{}
		t.groups[key] = g
	}
	views := make([]RoleView, len(members))
	var maxTL int64
	var maxTLName string
	for i, b := range members {
		live := b.Live()
		v := RoleView{Asserted: live.RoleOrAuto() != config.RoleAuto}
		if b.role.observed {
			o := b.role.obs
			v.SystemID, v.Timeline = o.SystemID, o.Timeline
			v.Observed = RolePrimary
			if o.InRecovery {
				v.Observed = RoleReplica
			}
			if o.Timeline > maxTL {
				maxTL, maxTLName = o.Timeline, b.Config.Name
			}
		}
		v.Role = v.Observed
		if v.Asserted {
			v.Role = configuredRole(live.RoleOrAuto())
		}
		views[i] = v
	}
	if key>>63 == 0 { // a real system identifier
		if maxTL > t.timelines[key] {
			t.timelines[key], t.grew = maxTL, true
		} else if known := t.timelines[key]; known > maxTL {
			maxTL, maxTLName = known, "a primary seen before (the proxy keeps the highest timeline in [state] dir)"
		}
	}
	// The primary: an asserted one; else the incumbent if it still claims
	// the highest timeline; else the claimant on the highest timeline that
	// claimed first.
	winner := -1
	for i, v := range views {
		if v.Role == RolePrimary && v.Asserted {
			winner = i
			break
		}
	}
	if winner < 0 {
		for i, v := range views {
			if v.Role != RolePrimary || v.Timeline < maxTL {
				continue
			}
			switch {
			case winner < 0, members[i] == g.incumbent:
				winner = i
			case members[winner] != g.incumbent && members[i].role.claimSince.Before(members[winner].role.claimSince):
				winner = i
			}
		}
	}
	var primary *Backend
	if winner >= 0 {
		primary = members[winner]
		g.hadPrimary = true
	}
	g.incumbent = primary
	if primary != nil && observed == primary && primary.role.observed && !primary.role.obs.InRecovery {
		if g.sampled != primary {
			// Another server's WAL: after a promotion, the new primary's
			// positions start below what the old one may have written.
			g.samples, g.sampled = g.samples[:0], primary
		}
		g.record(primary.role.obs)
	}
	var out []Change
	for i, b := range members {
		v := &views[i]
		switch {
		case v.Role == RolePrimary && v.Asserted:
		case v.Role == RolePrimary && i != winner && v.Timeline < maxTL:
			v.FencedReason = fmt.Sprintf("claims to be primary on timeline %d, behind timeline %d of %s: a former primary, whose writes since the failover would be lost (rebuild it as a replica, e.g. with pg_rewind)", v.Timeline, maxTL, maxTLName)
		case v.Role == RolePrimary && i != winner && primary != nil:
			v.FencedReason = fmt.Sprintf("claims to be primary on timeline %d, as %s does, which was primary first", v.Timeline, primary.Config.Name)
		}
		if v.Role == RoleReplica && b.role.observed {
			v.LagBytes, v.Lag = g.lag(b.role.obs)
			if o := b.role.obs; primary != nil && primary.role.observed && o.InRecovery && o.TimelineSure &&
				o.Timeline != 0 && o.Timeline < primary.role.obs.Timeline {
				v.BehindTimeline = primary.role.obs.Timeline
			}
		}
		prev := b.Roles()
		switch {
		case v.FencedReason != "":
			v.Verdict = Fenced
		case v.BehindTimeline != 0:
			v.Verdict = Lagging
		case v.Role == RoleReplica && lagging(prev, *v, maxLag(b)):
			v.Verdict = Lagging
		default:
			v.Verdict = baseVerdict(b, v.Role)
		}
		b.role.view.Store(v)
		out = append(out, changes(b, prev, *v, maxLag(b))...)
	}
	return out
}

// lagging applies max_replication_lag_ms with hysteresis: a replica
// leaves read routing when its lag exceeds the limit, and comes back once
// it is at most half of it.
func lagging(prev, v RoleView, limit time.Duration) bool {
	if limit <= 0 {
		return false
	}
	if prev.Verdict == Lagging {
		return v.Lag > limit/2
	}
	return v.Lag > limit
}

// changes lists what differs between a backend's previous view and its
// new one.
func changes(b *Backend, prev, v RoleView, limit time.Duration) []Change {
	var out []Change
	// The first observation of an unconfigured role is not a change.
	if prev.Role != v.Role && prev.Role != RoleUnknown {
		detail := fmt.Sprintf("%s is now %s", b.Config.Name, v.Role)
		if v.Timeline != 0 {
			detail += fmt.Sprintf(" on timeline %d", v.Timeline)
		}
		detail += fmt.Sprintf(" (was %s)", prev.Role)
		out = append(out, Change{Backend: b, Kind: RoleChanged, From: prev.Role.String(), To: v.Role.String(), Detail: detail})
	}
	if v.Mismatch() && !prev.Mismatch() {
		out = append(out, Change{Backend: b, Kind: RoleMismatch, From: v.Role.String(), To: v.Observed.String(),
			Detail: fmt.Sprintf("%s is configured as %s but its health check finds a %s; routing follows the configuration", b.Config.Name, v.Role, v.Observed)})
	}
	switch {
	case v.Verdict == Fenced && (prev.Verdict != Fenced || prev.FencedReason != v.FencedReason):
		out = append(out, Change{Backend: b, Kind: Fence, Detail: b.Config.Name + " is fenced: it " + v.FencedReason})
	case v.Verdict != Fenced && prev.Verdict == Fenced:
		out = append(out, Change{Backend: b, Kind: Unfence, Detail: fmt.Sprintf("%s is no longer fenced: it is %s", b.Config.Name, v.Role)})
	}
	switch {
	case v.BehindTimeline != 0 && (prev.Verdict != Lagging || prev.BehindTimeline == 0):
		out = append(out, Change{Backend: b, Kind: LagExceeded,
			Detail: fmt.Sprintf("%s replays timeline %d, behind timeline %d of its primary: it does not follow the current primary (it follows a former one, has diverged from the new timeline, or has not switched to it yet): out of read routing", b.Config.Name, v.Timeline, v.BehindTimeline)})
	case v.Verdict == Lagging && prev.Verdict != Lagging:
		out = append(out, Change{Backend: b, Kind: LagExceeded,
			Detail: fmt.Sprintf("%s lags %s (%d bytes) behind its primary, beyond max_replication_lag_ms (%s): out of read routing", b.Config.Name, v.Lag.Round(time.Millisecond), v.LagBytes, limit)})
	case v.Verdict != Lagging && prev.Verdict == Lagging:
		out = append(out, Change{Backend: b, Kind: LagRecovered,
			Detail: fmt.Sprintf("%s lags %s (%d bytes), within half of max_replication_lag_ms (%s): back in read routing", b.Config.Name, v.Lag.Round(time.Millisecond), v.LagBytes, limit)})
	}
	return out
}

// record adds a primary's observation to the group's WAL history.
func (g *group) record(o health.Observation) {
	g.seenAt = o.At
	if n := len(g.samples); n > 0 && g.samples[n-1].lsn >= o.WAL {
		return // no new WAL (or an older answer): the first time it got there stays
	}
	if len(g.samples) == maxSamples {
		g.samples = slices.Delete(g.samples, 0, maxSamples/4)
	}
	g.samples = append(g.samples, walSample{at: o.At, lsn: o.WAL})
}

// lag measures a replica's lag from its observation o against the
// group's WAL history. In bytes: the primary's position when o was taken,
// less what the replica replayed (or, with no primary known, what it
// received and has not replayed). In time: how long before o the primary
// first wrote beyond what the replica replayed; beyond the history kept,
// at least as old as that history and as the replica's last replayed
// commit.
func (g *group) lag(o health.Observation) (uint64, time.Duration) {
	var bytes uint64
	if o.WAL > o.Replayed {
		bytes = o.WAL - o.Replayed
	}
	// The latest sample taken by the time of o.
	i := sort.Search(len(g.samples), func(k int) bool { return g.samples[k].at.After(o.At) })
	if i > 0 && g.samples[i-1].lsn > o.Replayed {
		bytes = max(bytes, g.samples[i-1].lsn-o.Replayed)
	}
	// The first sample beyond what it replayed.
	j, _ := slices.BinarySearchFunc(g.samples, o.Replayed+1, func(s walSample, lsn uint64) int {
		switch {
		case s.lsn < lsn:
			return -1
		case s.lsn > lsn:
			return 1
		}
		return 0
	})
	if j == len(g.samples) {
		return bytes, 0 // it replayed all the primary wrote, as far as the proxy knows
	}
	d := o.At.Sub(g.samples[j].at)
	if j == 0 && o.ReplayAge > d {
		d = o.ReplayAge
	}
	return bytes, max(d, 0)
}

// Replayed reports whether b, a replica, is known to have replayed all
// that its group's primary had written by at: a health check of the
// primary at or after at found a WAL position that b's latest observation
// has replayed. It serves read-your-writes (the read/write split): a
// session's reads go to b only once b has what the session wrote.
func (t *Topology) Replayed(b *Backend, at time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !b.role.observed || !b.role.obs.InRecovery {
		return false
	}
	g := t.groups[groupKey(b)]
	if g == nil || len(g.samples) == 0 || g.seenAt.Before(at) {
		return false // the primary has not been checked since
	}
	// The first position seen at or after at; with none, the primary has
	// stayed where it was since the last one.
	i := sort.Search(len(g.samples), func(k int) bool { return !g.samples[k].at.Before(at) })
	i = min(i, len(g.samples)-1)
	return b.role.obs.Replayed >= g.samples[i].lsn
}

// WantsPrimary reports whether a group that had a primary has none that
// can take sessions now (none, fenced, or its circuit OPEN), or one that
// failed within recent (a killed primary fails its sessions well before
// its circuit opens): the proxy then checks every backend at once, to
// follow a promotion without waiting for the next interval.
func (t *Topology) WantsPrimary(list []*Backend, now time.Time, recent time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, g := range t.groups {
		if !g.hadPrimary {
			continue
		}
		p := g.incumbent
		if p == nil || p.Draining.Load() || p.Breaker.State() == breaker.Open || !slices.Contains(list, p) ||
			now.Sub(p.CurrentStats(now).LastFailure) < recent {
			return true
		}
	}
	return false
}

// Forget drops groups none of list belongs to (backends removed by a
// reload, or whose system identifier changed).
func (t *Topology) Forget(list []*Backend) {
	t.mu.Lock()
	defer t.mu.Unlock()
	keep := map[uint64]bool{}
	for _, b := range list {
		keep[groupKey(b)] = true
	}
	for k := range t.groups {
		if !keep[k] {
			delete(t.groups, k)
		}
	}
}
