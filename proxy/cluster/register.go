package cluster

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// Change is the latest change of one override in the cluster: a
// backend's (Backend) or a role's on a database (Role and Database, the
// user-level breakers'), set (Set or SetUser non-nil) or cleared. Changes
// are ordered by (Stamp, Node): the greater one wins everywhere, whatever
// order they arrive in.
type Change struct {
	Backend string `json:",omitempty"`
	// Role and Database name a role override's role and database
	// (Backend empty).
	Role     string `json:",omitempty"`
	Database string `json:",omitempty"`
	Stamp    uint64 // hybrid logical clock of the change
	Node     string // the member where it was made
	Author   string // who made it
	// Set is the backend override set, with Node and Stamp filled in;
	// nil: the override was cleared.
	Set *status.Override `json:",omitempty"`
	// SetUser is the role override set, likewise.
	SetUser *status.UserOverride `json:",omitempty"`
}

// User reports whether c changes a role's override (else a backend's).
func (c Change) User() bool { return c.Role != "" || c.Database != "" }

// Cleared reports whether c clears its override.
func (c Change) Cleared() bool { return c.Set == nil && c.SetUser == nil }

// Expires is when the override c sets ends; zero: never, or a clear.
func (c Change) Expires() time.Time {
	switch {
	case c.Set != nil:
		return c.Set.Expires
	case c.SetUser != nil:
		return c.SetUser.Expires
	}
	return time.Time{}
}

// key is c's entry in the register: the backend's name, or the role's
// and database's names after a NUL (which no name from the
// configuration or a startup packet holds).
func (c Change) key() string {
	if c.User() {
		return "\x00" + c.Role + "\x00" + c.Database
	}
	return c.Backend
}

// newer reports whether c wins over d.
func (c Change) newer(d Change) bool {
	if c.Stamp != d.Stamp {
		return c.Stamp > d.Stamp
	}
	return c.Node > d.Node
}

// register holds the winning Change of every override that has had one:
// a last-writer-wins map, merged with what peers send. Cleared overrides
// stay in it (tombstones), 30 days, so that a member that still has an
// override which was cleared meanwhile loses it when it merges; the Node
// keeps them in the state dir too (clearsFile).
type register struct {
	mu sync.Mutex
	m  map[string]Change
}

func newRegister() *register { return &register{m: make(map[string]Change)} }

// merge keeps c when it wins over what the register holds for its backend
// and reports whether it did.
func (r *register) merge(c Change) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.m[c.key()]; ok && !c.newer(old) {
		return false
	}
	r.m[c.key()] = c
	return true
}

// swap keeps c when it wins over what the register holds for its key,
// and returns what it held before (had false: nothing) for restore.
func (r *register) swap(c Change) (old Change, had, won bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, had = r.m[c.key()]
	if had && !c.newer(old) {
		return old, had, false
	}
	r.m[c.key()] = c
	return old, had, true
}

// restore puts back what swap replaced with c, unless c was replaced
// meanwhile.
func (r *register) restore(c, old Change, had bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.m[c.key()]; !ok || cur.Stamp != c.Stamp || cur.Node != c.Node {
		return
	}
	if had {
		r.m[c.key()] = old
	} else {
		delete(r.m, c.key())
	}
}

// get returns the Change held for a backend.
func (r *register) get(backend string) (Change, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.m[backend]
	return c, ok
}

// all returns every Change held.
func (r *register) all() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Change, 0, len(r.m))
	for _, c := range r.m {
		out = append(out, c)
	}
	return out
}

// forget drops expired overrides older than keepExpired and tombstones
// older than keepClears, so that the register of a long-lived cluster
// does not keep backends long gone; it reports whether it dropped a
// tombstone.
func (r *register) forget(now time.Time, keepExpired, keepClears time.Duration) (tombstones bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, c := range r.m {
		keep, ended := keepClears, c.Cleared()
		if !ended {
			keep, ended = keepExpired, !c.Expires().IsZero() && now.After(c.Expires())
		}
		if ended && now.Sub(stampTime(c.Stamp)) > keep {
			delete(r.m, k)
			tombstones = tombstones || c.Cleared()
		}
	}
	return tombstones
}

// clears returns the tombstones, by backend, then role and database.
func (r *register) clears() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Change
	for _, c := range r.m {
		if c.Cleared() {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Change) int { return cmp.Compare(a.key(), b.key()) })
	return out
}
