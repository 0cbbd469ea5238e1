package breaker

import (
	"testing"
	"time"
)

func TestHistogramBins(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
	}{
		{0, 0},
		{99 * time.Microsecond, 0},
		{100 * time.Microsecond, 1},
		{118 * time.Microsecond, 1},
		{119 * time.Microsecond, 2}, // 100µs × 2^(1/4) ≈ 118.9µs
		{200 * time.Microsecond, 5}, // 100µs × 2^(4/4)
		{time.Second, 54},           // 100µs × 2^13.29 → bin 4×13.29 = 53.2 → 54
		{60*time.Second - 1, nBounds - 1},
		{60 * time.Second, nBounds},
		{time.Hour, nBounds},
	}
	for _, tt := range tests {
		if got := binOf(tt.d); got != tt.want {
			t.Errorf("binOf(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
	for i := 1; i < nBounds; i++ {
		if histBounds[i] <= histBounds[i-1] {
			t.Errorf("histBounds[%d] = %v ≤ histBounds[%d] = %v", i, histBounds[i], i-1, histBounds[i-1])
		}
		if r := float64(histBounds[i]) / float64(histBounds[i-1]); i < nBounds-1 && (r < 1.18 || r > 1.19) {
			t.Errorf("histBounds[%d]/histBounds[%d] = %g, want 2^(1/4)", i, i-1, r)
		}
	}
}

func TestWindowRunningTotals(t *testing.T) {
	t0 := time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)
	w := newWindow(time.Second, 10)
	for i := range 100 {
		now := t0.Add(time.Duration(i) * 370 * time.Millisecond)
		w.add(now, counts{requests: 1, failures: i % 2, slow95: i % 3 / 2}, binOf(time.Duration(i)*time.Millisecond))
		// The running totals equal the sum of the buckets.
		var sum counts
		var hist [nBins]uint32
		for _, b := range w.ring {
			sum.add(b.c)
			for j, v := range b.hist {
				hist[j] += v
			}
		}
		if sum != w.sum || hist != w.hist {
			t.Fatalf("after sample %d at t0+%v: running totals %+v differ from the buckets' %+v", i, now.Sub(t0), w.sum, sum)
		}
	}
}

func TestWindowBeforeEpoch(t *testing.T) {
	w := newWindow(time.Second, 3)
	early := time.Date(1969, 12, 31, 23, 59, 58, 500_000_000, time.UTC)
	w.add(early, counts{requests: 1}, -1)
	w.add(early.Add(time.Second), counts{requests: 1}, -1)
	w.advance(early.Add(2 * time.Second))
	if w.sum.requests != 2 {
		t.Errorf("requests at 1970-01-01T00:00:00.5 = %d, want 2", w.sum.requests)
	}
	w.advance(early.Add(3 * time.Second))
	if w.sum.requests != 1 {
		t.Errorf("requests at 1970-01-01T00:00:01.5 = %d, want 1", w.sum.requests)
	}
}
