package cluster

import (
	"sync"
	"time"

	"github.com/heliosdb/heliosproxy/status"
)

// propagationBounds are the buckets of the propagation histogram, in
// seconds: 1 ms to 10 s.
var propagationBounds = []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10}

// propagation counts how long other members' circuit changes took to
// arrive: from the change on the sender (its clock) to its arrival here
// (ours), so that clock skew between hosts shows in it. Changes that
// arrive in a full state exchange are not counted: they are repairs, not
// propagation.
type propagation struct {
	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	count  uint64
	sum    float64
}

func (p *propagation) observe(d time.Duration) {
	s := max(d.Seconds(), 0)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counts == nil {
		p.counts = make([]uint64, len(propagationBounds)+1)
	}
	i := 0
	for i < len(propagationBounds) && s > propagationBounds[i] {
		i++
	}
	p.counts[i]++
	p.count++
	p.sum += s
}

// Propagation returns the histogram of how long the other members'
// circuit changes (openings and views) took to reach this instance.
func (n *Node) Propagation() status.Histogram {
	p := &n.prop
	p.mu.Lock()
	defer p.mu.Unlock()
	h := status.Histogram{Bounds: propagationBounds, Counts: make([]uint64, len(propagationBounds)), Count: p.count, Sum: p.sum}
	var cum uint64
	for i := range propagationBounds {
		if p.counts != nil {
			cum += p.counts[i]
		}
		h.Counts[i] = cum
	}
	return h
}
