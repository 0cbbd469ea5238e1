package breaker

import (
	"math"
	"time"
)

// The latency histogram has log-scale bins 2^(1/4) apart (about 19%) from
// 100µs to 60s: bin 0 holds [0, 100µs), bin i holds
// [histBounds[i-1], histBounds[i]), and the last bin everything from 60s on.
const (
	histFirst = 100 * time.Microsecond
	histLast  = 60 * time.Second
	nBounds   = 78
	nBins     = nBounds + 1
)

var histBounds = makeBounds()

func makeBounds() [nBounds]time.Duration {
	var b [nBounds]time.Duration
	for i := range nBounds - 1 {
		b[i] = time.Duration(math.Round(float64(histFirst) * math.Pow(2, float64(i)/4)))
	}
	b[nBounds-1] = histLast
	if b[nBounds-2] >= histLast {
		panic("breaker: histogram bounds out of order")
	}
	return b
}

// binOf returns the histogram bin of a latency.
func binOf(d time.Duration) int {
	lo, hi := 0, nBounds
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if d < histBounds[m] {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// counts are the exact counters of a bucket or a whole window.
type counts struct {
	requests  int // successes, failures and slow (Slow outcomes)
	failures  int
	overloads int // not part of requests
	slow95    int // requests slower than LatencyP95 (and every Slow outcome)
	slow99    int // requests slower than LatencyP99 (and every Slow outcome)
}

func (c *counts) add(o counts) {
	c.requests += o.requests
	c.failures += o.failures
	c.overloads += o.overloads
	c.slow95 += o.slow95
	c.slow99 += o.slow99
}

func (c *counts) sub(o counts) {
	c.requests -= o.requests
	c.failures -= o.failures
	c.overloads -= o.overloads
	c.slow95 -= o.slow95
	c.slow99 -= o.slow99
}

type bucket struct {
	c    counts
	hist [nBins]uint32
}

// window is a ring of buckets of width each, keyed by the absolute bucket
// number floor(unix nanoseconds / width). It holds the current (partial)
// bucket and the len(ring)-1 full buckets before it, so a read at any
// instant covers between Window-Bucket and Window of history. sum and hist
// are running totals over the ring, so reads and writes are O(1) apart from
// rotation, which touches each bucket once per width.
type window struct {
	width   time.Duration
	ring    []bucket
	head    int64 // bucket number of the newest bucket
	started bool
	sum     counts
	hist    [nBins]uint32
}

func newWindow(width time.Duration, n int) window {
	return window{width: width, ring: make([]bucket, n)}
}

func (w *window) number(now time.Time) int64 {
	ns, wd := now.UnixNano(), int64(w.width)
	q := ns / wd
	if ns%wd < 0 {
		q--
	}
	return q
}

func (w *window) slot(number int64) *bucket {
	n := int64(len(w.ring))
	return &w.ring[((number%n)+n)%n]
}

// advance rotates the ring so that now falls in the newest bucket and
// returns that bucket. A now earlier than the newest bucket (callers on
// other goroutines passing a slightly older clock reading) is clamped to it.
func (w *window) advance(now time.Time) *bucket {
	e := w.number(now)
	switch {
	case !w.started:
		w.started, w.head = true, e
	case e > w.head:
		if e-w.head >= int64(len(w.ring)) {
			w.clear()
		} else {
			for i := w.head + 1; i <= e; i++ {
				w.drop(w.slot(i))
			}
		}
		w.head = e
	}
	return w.slot(w.head)
}

func (w *window) drop(b *bucket) {
	w.sum.sub(b.c)
	for i, v := range b.hist {
		w.hist[i] -= v
	}
	*b = bucket{}
}

func (w *window) clear() {
	clear(w.ring)
	w.sum = counts{}
	w.hist = [nBins]uint32{}
}

// reset starts a fresh, empty window.
func (w *window) reset() {
	w.clear()
	w.started = false
}

// add counts one sample at now; bin < 0 means no latency sample.
func (w *window) add(now time.Time, c counts, bin int) {
	b := w.advance(now)
	b.c.add(c)
	w.sum.add(c)
	if bin >= 0 {
		b.hist[bin]++
		w.hist[bin]++
	}
}

// resize returns the window re-cut to n buckets of width. With the same
// width the newest buckets that fit are kept; a different width cannot be
// re-bucketed exactly, so it starts a fresh window.
func (w *window) resize(width time.Duration, n int) window {
	nw := newWindow(width, n)
	if width != w.width || !w.started {
		return nw
	}
	nw.started, nw.head = true, w.head
	keep := min(n, len(w.ring))
	for i := w.head - int64(keep) + 1; i <= w.head; i++ {
		src, dst := w.slot(i), nw.slot(i)
		*dst = *src
		nw.sum.add(src.c)
		for j, v := range src.hist {
			nw.hist[j] += v
		}
	}
	return nw
}

// percentile estimates the q-quantile (0 < q ≤ 1) of the latency samples
// in the window by linear interpolation inside the histogram bin; 0 without
// samples. Samples at or above 60s report 60s.
func (w *window) percentile(q float64) time.Duration {
	var total uint64
	for _, v := range w.hist {
		total += uint64(v)
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(1, min(rank, total))
	var cum uint64
	for i, v := range w.hist {
		if v == 0 || cum+uint64(v) < rank {
			cum += uint64(v)
			continue
		}
		if i == nBounds {
			return histLast
		}
		var lo time.Duration
		if i > 0 {
			lo = histBounds[i-1]
		}
		hi := histBounds[i]
		frac := float64(rank-cum) / float64(v)
		return lo + time.Duration(frac*float64(hi-lo))
	}
	return histLast
}
