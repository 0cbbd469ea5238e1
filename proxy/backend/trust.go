package backend

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Trust is what the probes of one backend found.
type Trust struct {
	roles  atomic.Pointer[[]string] // the roles let in without a password at the last answer; nil: none (or no answer yet)
	probed chan struct{}            // closed when the first probe has finished
	once   sync.Once
}

// Roles returns the roles the backend lets in without a password, nil
// when none. The slice must not be modified.
func (ts *Trust) Roles() []string {
	if p := ts.roles.Load(); p != nil {
		return *p
	}
	return nil
}

// Status returns whether the backend trusts the proxy and a copy of the
// roles, for a Status.Backend.
func (ts *Trust) Status() (bool, []string) {
	roles := ts.Roles()
	return roles != nil, slices.Clone(roles)
}

// Set records roles and returns the previous ones.
func (ts *Trust) Set(roles []string) []string {
	var p *[]string
	if len(roles) > 0 {
		p = &roles
	}
	if old := ts.roles.Swap(p); old != nil {
		return *old
	}
	return nil
}

func (ts *Trust) MarkProbed() { ts.once.Do(func() { close(ts.probed) }) }

// Wait waits for the first probe, at most d; it reports whether the probe
// has finished.
func (ts *Trust) Wait(ctx context.Context, d time.Duration) bool {
	select {
	case <-ts.probed:
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ts.probed:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}
