package breaker_test

import (
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/breaker"
)

func benchBreaker() *breaker.Breaker {
	g := breaker.NewGroup(breaker.GroupConfig{})
	g.Add("b", defaults())
	g.Add("c", defaults())
	return g.Add("a", defaults())
}

func BenchmarkRecord(b *testing.B) {
	br := benchBreaker()
	tk, _ := br.Allow(t0)
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Microsecond)
		br.Record(tk, breaker.Result{Outcome: breaker.Success, Latency: time.Duration(i%400) * time.Millisecond}, now)
	}
}

func BenchmarkAllowRecord(b *testing.B) {
	br := benchBreaker()
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Microsecond)
		tk, err := br.Allow(now)
		if err != nil {
			b.Fatal(err)
		}
		br.Record(tk, breaker.Result{Outcome: breaker.Success, Latency: time.Duration(i%400) * time.Millisecond}, now)
	}
}

func BenchmarkAllowRecordParallel(b *testing.B) {
	br := benchBreaker()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := t0
		for pb.Next() {
			now = now.Add(time.Microsecond)
			tk, _ := br.Allow(now)
			br.Record(tk, breaker.Result{Outcome: breaker.Success, Latency: 3 * time.Millisecond}, now)
		}
	})
}

func BenchmarkTick(b *testing.B) {
	br := benchBreaker()
	tk, _ := br.Allow(t0)
	for range 1000 {
		br.Record(tk, breaker.Result{Outcome: breaker.Success, Latency: 3 * time.Millisecond}, t0)
	}
	now := t0
	in := breaker.Inflight{Count: 5, OverP95: 1}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(10 * time.Millisecond)
		br.Tick(now, in)
	}
}

func BenchmarkStats(b *testing.B) {
	br := benchBreaker()
	tk, _ := br.Allow(t0)
	for i := range 1000 {
		br.Record(tk, breaker.Result{Outcome: breaker.Success, Latency: time.Duration(i) * time.Millisecond / 3}, t0)
	}
	b.ReportAllocs()
	for b.Loop() {
		br.Stats(t0)
	}
}
