package session

import (
	"net"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/internal/wiretest"
)

// TestListedRolesTakeBackendTime: a [[users]] role's first challenge
// comes no sooner than pass-through logins' do, so timing does not tell
// which roles the proxy lists.
func TestListedRolesTakeBackendTime(t *testing.T) {
	p := startFront(t, scramConfig(t, "hard-timing", "session"))
	// Pass-through logins teach the proxy how long the backend takes.
	for range 5 {
		firstChallenge(t, p.Addr, "nobody_listed")
	}
	if d := p.challenges.sample(); d <= 0 {
		t.Fatalf("no pass-through challenge time recorded")
	}
	// Make the backend's recorded time unmistakable and check the proxy's
	// own challenge waits for it.
	const backendTime = 80 * time.Millisecond
	for range len(p.challenges.d) {
		p.challenges.add(backendTime)
	}
	for range 3 {
		if d := firstChallenge(t, p.Addr, "app"); d < backendTime {
			t.Errorf("listed role's first challenge after %v, want at least the pass-through time %v", d, backendTime)
		}
	}
}

// firstChallenge logs in as user and returns how long the first
// authentication request took to arrive.
func firstChallenge(t *testing.T, addr, user string) time.Duration {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	wiretest.SendStartup(t, conn, user, "postgres")
	wiretest.ReadAuthRequest(t, conn)
	return time.Since(start)
}
