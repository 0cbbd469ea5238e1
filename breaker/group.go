package breaker

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Group holds the breakers of one set of backends and what spans them: the
// max-ejection guard and cascade detection. All methods are safe for
// concurrent use.
//
// Locking: a Breaker takes its own mutex and then, when a transition needs
// the group, the group's; the group never takes a breaker's mutex while it
// holds its own.
type Group struct {
	cfg GroupConfig // normalized by NewGroup; immutable

	mu        sync.Mutex
	members   map[string]*Breaker
	open      int       // members that are not CLOSED (OPEN or HALF_OPEN, forced or not)
	openings  []opening // automatic CLOSED → OPEN trips within CascadeWindow, oldest first
	cascading bool      // a cascade has been reported and the window has not cleared since
}

type opening struct {
	name string
	at   time.Time
}

// NewGroup returns an empty group. Zero or negative fields of gc get the
// defaults: MaxEjectionPercent 50, CascadeWindow 10s, CascadeMinOpen 2,
// CascadeFraction 0.5, Rand math/rand/v2's Float64. Rand is called with a
// breaker's mutex held and must be safe for concurrent use.
func NewGroup(gc GroupConfig) *Group {
	if gc.MaxEjectionPercent <= 0 {
		gc.MaxEjectionPercent = 50
	}
	if gc.CascadeWindow <= 0 {
		gc.CascadeWindow = 10 * time.Second
	}
	if gc.CascadeMinOpen <= 0 {
		gc.CascadeMinOpen = 2
	}
	if gc.CascadeFraction <= 0 {
		gc.CascadeFraction = 0.5
	}
	if gc.Rand == nil {
		gc.Rand = rand.Float64
	}
	return &Group{cfg: gc, members: make(map[string]*Breaker)}
}

// Add adds a CLOSED breaker for the backend name and returns it. If the
// group already has one by that name, Add applies cfg to it with SetConfig
// (keeping its state) and returns the existing breaker.
func (g *Group) Add(name string, cfg Config) *Breaker {
	g.mu.Lock()
	b := g.members[name]
	if b == nil {
		b = newBreaker(name, cfg, g)
		g.members[name] = b
		g.mu.Unlock()
		return b
	}
	g.mu.Unlock()
	b.SetConfig(cfg) // outside g.mu: the lock order is breaker, then group
	return b
}

// Remove takes the backend out of the group: it no longer counts towards
// the max-ejection guard or cascades. The removed breaker keeps working on
// its own for whoever still holds it.
func (g *Group) Remove(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.members[name]
	if b == nil {
		return
	}
	delete(g.members, name)
	if b.counted {
		b.counted = false
		g.open--
	}
	b.removed = true
	// A backend no longer served is no part of a cascade: its earlier
	// opening must not complete one with the next backend to open.
	g.openings = slices.DeleteFunc(g.openings, func(o opening) bool { return o.name == name })
}

// Get returns the breaker of the backend name, nil if there is none.
func (g *Group) Get(name string) *Breaker {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.members[name]
}

// Len returns the number of backends in the group.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.members)
}

// guardRefusal tells why the max-ejection guard held a trip back.
type guardRefusal struct {
	open, members int
}

// admitOpen counts b as open. For a guarded trip it first checks the
// max-ejection guard: the trip is refused when it would leave more than
// MaxEjectionPercent of the members open, except that one circuit may
// always open when no other is (Envoy ejects at least one host whatever the
// percentage; without that a group of one could never open on latency, and
// its clients would hang on a stalled backend). For a CLOSED → OPEN trip
// (trip true) it also records the opening for cascade detection and
// returns the cascade, if this opening completes one.
func (g *Group) admitOpen(b *Breaker, guarded, trip bool, now time.Time) (ok bool, cascade []string, why guardRefusal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if b.removed {
		return true, nil, guardRefusal{}
	}
	if !b.counted {
		n := len(g.members)
		if guarded && g.open > 0 && float64(g.open+1)*100 > g.cfg.MaxEjectionPercent*float64(n) {
			return false, nil, guardRefusal{open: g.open, members: n}
		}
		b.counted = true
		g.open++
	}
	if trip {
		cascade = g.noteOpening(b.name, now)
	}
	return true, cascade, guardRefusal{}
}

// markClosed stops counting b as open.
func (g *Group) markClosed(b *Breaker) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if b.counted && !b.removed {
		b.counted = false
		g.open--
	}
}

// cascadeThreshold is the number of distinct backends whose openings within
// CascadeWindow make a cascade: min(CascadeMinOpen, ceil(CascadeFraction ×
// backends)), but never below 2, since one backend opening is not a
// cascade. A group of one therefore never reports one; a group of two
// reports one when both open.
func (g *Group) cascadeThreshold() int {
	t := min(g.cfg.CascadeMinOpen, int(math.Ceil(g.cfg.CascadeFraction*float64(len(g.members))-1e-9)))
	return max(t, 2)
}

// noteOpening records an automatic opening of name at now and returns the
// backends that opened within CascadeWindow (oldest first, each backend once
// with its latest opening) if this opening completes a cascade. A cascade is
// reported once per episode: the episode lasts while openings keep coming
// less than CascadeWindow apart, and only an opening after a full
// CascadeWindow without any other backend opening starts a new one.
func (g *Group) noteOpening(name string, now time.Time) []string {
	cut := now.Add(-g.cfg.CascadeWindow)
	kept := g.openings[:0]
	for _, o := range g.openings {
		if !o.at.Before(cut) && o.name != name {
			kept = append(kept, o)
		}
	}
	// Clear the tail so dropped names can be collected.
	clear(g.openings[len(kept):])
	// An episode ends once no other backend has opened within the window
	// (a backend's own earlier opening alone never made a cascade).
	if len(kept) == 0 {
		g.cascading = false
	}
	g.openings = append(kept, opening{name: name, at: now})
	if g.cascading || len(g.openings) < g.cascadeThreshold() {
		return nil
	}
	g.cascading = true
	names := make([]string, len(g.openings))
	for i, o := range g.openings {
		names[i] = o.name
	}
	return names
}
