package admission

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestNext(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		limit int64
		iv    interval
		want  int64
	}{
		{"healthy and unused stays", 100, interval{samples: 50, peak: 10, mean: 5 * ms}, 100},
		{"healthy and used grows by a quarter", 20, interval{samples: 50, peak: 18, mean: 5 * ms}, 25},
		{"small limit grows by one", 3, interval{samples: 50, peak: 3, mean: 5 * ms}, 4},
		{"a few slow within the 5% rule", 20, interval{samples: 100, slow: 5, peak: 20, mean: 5 * ms}, 25},
		{"slow beyond 5% shrinks by a tenth at least", 20, interval{samples: 100, slow: 6, peak: 20, mean: 5 * ms}, 18},
		{"mean latency 3× the target: a third of the peak", 1000, interval{samples: 100, slow: 80, peak: 48, mean: 30 * ms}, 16},
		{"far beyond the target: a quarter at most", 1000, interval{samples: 100, slow: 100, peak: 48, mean: time.Second}, 12},
		{"a failure shrinks", 20, interval{samples: 100, bad: 1, peak: 20, mean: 5 * ms}, 18},
	}
	for _, tt := range tests {
		if got := next(tt.limit, tt.iv, 10*ms); got != tt.want {
			t.Errorf("%s: next(%d, %+v, target 10ms) = %d, want %d", tt.name, tt.limit, tt.iv, got, tt.want)
		}
	}
}

func cfg() Config {
	return Config{Enabled: true, MinLimit: 2, MaxLimit: 100, MaxQueue: 2, QueueTimeout: 50 * time.Millisecond, Target: 10 * time.Millisecond}
}

func TestObserveShrinksOnSlowAndRecovers(t *testing.T) {
	l := New(cfg())
	now := t0
	// Ten requests in flight, all slow: the limit drops from 100 to what
	// was in use, halved.
	for range 10 {
		l.Force()
	}
	for i := range 10 {
		l.Observe(50*time.Millisecond, false, now.Add(time.Duration(i)*Interval/5))
		l.Release()
	}
	if got := l.Limit(); got >= 10 {
		t.Fatalf("Limit after a slow interval = %d, want below 10", got)
	}
	low := l.Limit()
	// Fast and fully used: it grows again.
	now = now.Add(time.Second)
	for i := range 40 {
		for range l.Limit() {
			l.Force()
		}
		l.Observe(time.Millisecond, false, now.Add(time.Duration(i)*Interval/4))
		for range l.Limit() {
			l.Release()
		}
	}
	if got := l.Limit(); got <= low {
		t.Errorf("Limit after fast, used intervals = %d, want above %d", got, low)
	}
	l.Reset()
	if got := l.Limit(); got != 2 {
		t.Errorf("Limit after Reset = %d, want the minimum 2", got)
	}
}

// TestReleaseWithoutWaitersWakesNobody: what Release reports tells an
// event loop whether it made a goroutine runnable (evloop.Loop.Yield).
func TestReleaseWithoutWaitersWakesNobody(t *testing.T) {
	l := New(cfg())
	if err := l.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l.Release() {
		t.Error("Release without waiters reported one woken")
	}
}

func TestAcquireQueuesThenRefuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := cfg()
		c.MaxLimit = 2
		l := New(c)
		ctx := context.Background()
		for range 2 {
			if err := l.Acquire(ctx); err != nil {
				t.Fatalf("Acquire below the limit: %v", err)
			}
		}
		// The third waits and is admitted when a slot frees.
		var wg sync.WaitGroup
		var waited error
		wg.Go(func() { waited = l.Acquire(ctx) })
		synctest.Wait()
		if q := l.Queued(); q != 1 {
			t.Fatalf("Queued = %d, want 1", q)
		}
		if !l.Release() {
			t.Error("Release with a waiter reported none woken")
		}
		wg.Wait()
		if waited != nil {
			t.Fatalf("Acquire after a Release: %v", waited)
		}

		// Two wait (the queue's size) and time out; a third is refused at once.
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() { errs[i] = l.Acquire(ctx) })
		}
		synctest.Wait()
		var r *Refusal
		if err := l.Acquire(ctx); !errors.As(err, &r) || !r.QueueFul {
			t.Errorf("Acquire with a full queue = %v, want a Refusal with QueueFul", err)
		}
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, ErrShed) {
				t.Errorf("queued Acquire %d = %v, want ErrShed after the timeout", i, err)
			}
		}
		if l.Inflight() != 2 || l.Queued() != 0 {
			t.Errorf("Inflight, Queued = %d, %d, want 2, 0", l.Inflight(), l.Queued())
		}
		admitted, shed := l.Totals()
		if admitted != 3 || shed != 3 {
			t.Errorf("Totals = %d admitted, %d shed, want 3, 3", admitted, shed)
		}
	})
}

func TestDisabledAdmitsEverything(t *testing.T) {
	c := cfg()
	c.Enabled, c.MaxLimit = false, 2
	l := New(c)
	for range 10 {
		if err := l.Acquire(context.Background()); err != nil {
			t.Fatalf("Acquire with shedding off: %v", err)
		}
	}
	if l.Inflight() != 10 {
		t.Errorf("Inflight = %d, want 10", l.Inflight())
	}
}

// TestAdmitNowTakesNothingWhenFull: an event loop asks AdmitNow first;
// at the limit it gets false, and nothing is counted (the goroutine it
// hands the request to counts what Acquire decides).
func TestAdmitNowTakesNothingWhenFull(t *testing.T) {
	c := cfg()
	c.MinLimit, c.MaxLimit = 1, 1
	l := New(c)
	if !l.AdmitNow() {
		t.Fatal("AdmitNow below the limit refused")
	}
	if l.AdmitNow() {
		t.Fatal("AdmitNow at the limit admitted")
	}
	if admitted, shed := l.Totals(); admitted != 1 || shed != 0 || l.Inflight() != 1 {
		t.Fatalf("admitted %d, shed %d, in flight %d; want 1, 0, 1", admitted, shed, l.Inflight())
	}
}
