package backend

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/proxy/pattern"
)

func TestWaitingFactor(t *testing.T) {
	tests := []struct {
		waiting, clients int64
		want             float64
	}{
		{-1, 10, 1}, // not collected
		{0, 10, 1},
		{5, 10, 0.75},
		{10, 10, 0.5},
		{20, 10, 0.5}, // at most halved
		{1, 0, 0.5},
	}
	for _, tt := range tests {
		if got := WaitingFactor(tt.waiting, tt.clients); got != tt.want {
			t.Errorf("WaitingFactor(%d waiting, %d clients) = %v, want %v", tt.waiting, tt.clients, got, tt.want)
		}
	}
}

// tracked is a session as Track sees it, waiting since its number.
type tracked struct {
	since int64
	gen   uint64 // of the breaker's ticket
	slot  atomic.Int64
}

func (s *tracked) Waiting() (int64, uint64, bool) { return s.since, s.gen, true }
func (s *tracked) Running() (int64, pattern.Key)  { return s.since, 0 }
func (s *tracked) TrackSlot() *atomic.Int64       { return &s.slot }
func sinces(list []Tracked) (out []int64) {
	for _, t := range list {
		out = append(out, t.(*tracked).since)
	}
	slices.Sort(out)
	return out
}

// TestTrack: sessions come and go in any order, tracked twice is tracked
// once, a session moves from one backend to another, and what Inflight
// counts follows.
func TestTrack(t *testing.T) {
	bs := testBackends("a", "b")
	a, b := bs[0], bs[1]
	s := make([]*tracked, 5)
	for i := range s {
		s[i] = &tracked{since: int64(i + 1), gen: a.Breaker.Current().Generation()}
		a.Track(s[i])
	}
	if b.Breaker.Current().Generation() != s[0].gen {
		t.Fatal("the two breakers' generations differ")
	}
	a.Track(s[2]) // again
	check := func(b *Backend, want ...int64) {
		t.Helper()
		if got := sinces(b.Tracked()); !slices.Equal(got, want) {
			t.Fatalf("%s tracks %v, want %v", b.Config.Name, got, want)
		}
		if in := b.Inflight(time.Unix(0, 100), 0, 0); in.Count != len(want) {
			t.Fatalf("%s: Inflight counts %d, want %d", b.Config.Name, in.Count, len(want))
		}
	}
	check(a, 1, 2, 3, 4, 5)
	a.Untrack(s[1]) // from the middle: the last takes its place
	a.Untrack(s[1]) // not tracked any more: nothing
	check(a, 1, 3, 4, 5)
	a.Untrack(s[0])
	check(a, 3, 4, 5)
	b.Track(s[3]) // s[3] on both: its slot is b's now
	b.Untrack(s[0])
	check(b, 4)
	a.Untrack(s[3]) // found without its slot
	check(a, 3, 5)
	b.Untrack(s[3])
	check(b)
	a.Untrack(s[4])
	a.Untrack(s[2])
	check(a)
	a.Track(s[0])
	check(a, 1)
}
