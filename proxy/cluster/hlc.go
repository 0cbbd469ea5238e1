package cluster

import (
	"sync"
	"time"
)

// hlc is a hybrid logical clock: a stamp is the wall clock in milliseconds
// (the high 48 bits) and a counter (the low 16 bits). Stamps it issues
// increase, and exceed every stamp it has observed, so that a change made
// after seeing another wins over it even when the wall clocks disagree a
// little; between concurrent changes the later wall clock wins.
type hlc struct {
	mu   sync.Mutex
	last uint64
}

const hlcLogicalBits = 16

// stampAt returns the stamp of wall time t with counter 0.
func stampAt(t time.Time) uint64 { return uint64(t.UnixMilli()) << hlcLogicalBits }

// Now returns a new stamp, later than every stamp issued or observed.
func (c *hlc) Now(wall time.Time) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = max(c.last+1, stampAt(wall))
	return c.last
}

// Observe makes later stamps exceed s.
func (c *hlc) Observe(s uint64) {
	c.mu.Lock()
	c.last = max(c.last, s)
	c.mu.Unlock()
}

// stampTime is the wall-clock part of s.
func stampTime(s uint64) time.Time { return time.UnixMilli(int64(s >> hlcLogicalBits)) }
