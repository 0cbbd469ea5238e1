package session

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// challengeTimes remembers how long recent pass-through logins took to
// reach the backend's first authentication request, so that the proxy's
// own logins ([[users]] roles) can take as long: otherwise the speed of
// the first answer would tell anyone which role names the proxy lists.
type challengeTimes struct {
	mu   sync.Mutex
	d    [64]time.Duration
	n    int // samples held, up to len(d)
	next int
}

func (c *challengeTimes) add(d time.Duration) {
	c.mu.Lock()
	c.d[c.next] = d
	c.next = (c.next + 1) % len(c.d)
	c.n = min(c.n+1, len(c.d))
	c.mu.Unlock()
}

// sample returns one of the recent times at random, 0 when none is known.
func (c *challengeTimes) sample() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		return 0
	}
	return c.d[rand.IntN(c.n)]
}

// mimicBackendLogin waits as long as a pass-through login recently took
// to its first authentication request, before the proxy answers a
// [[users]] login itself.
func (ss *session) mimicBackendLogin(ctx context.Context) {
	d := ss.s.challenges.sample()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
