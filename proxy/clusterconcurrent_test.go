package proxy

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heliosdb/heliosproxy/config"
	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/status"
)

// TestClusterConcurrentOverrides: operators change the same override on
// A and B at the same moment, again and again (a backend's and a role's).
// Each time the three instances must end with the same one: the change
// that wins by its clock everywhere. Before, a change from B that arrived
// on A between the stamp of A's own change and its application was
// overwritten there by A's older one, and A kept it for good.
func TestClusterConcurrentOverrides(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg := pgtest.New(t, pgtest.Options{Name: "cc-a"})
	log := testLogger()
	ins := threeInstances()
	startInstances(t, log, ins, "local", func(_ int, cfg *config.Config) {
		*cfg = testConfig(t, pg)
		cfg.CircuitBreaker.UserLevelBreakersEnabled = true
	})
	roleAuthor := func(in *instance) string {
		for _, o := range in.srv.UserOverrides() {
			if o.Role == "app" && o.Database == "postgres" {
				return o.Author
			}
		}
		return ""
	}
	for round := range 20 {
		var wg sync.WaitGroup
		for _, in := range ins[:2] {
			author := fmt.Sprintf("%s-%d", in.name, round)
			wg.Go(func() {
				if err := in.srv.SetOverride(ctx, status.Override{Backend: "pg-a", State: status.Closed, Reason: "race", Author: author}); err != nil {
					t.Error(err)
				}
			})
			wg.Go(func() {
				if err := in.srv.SetUserOverride(ctx, status.UserOverride{Role: "app", Database: "postgres", Exempt: true, Reason: "race", Author: author}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		poll(t, 5*time.Second, fmt.Sprintf("round %d: A, B and C hold the same overrides", round), func() (bool, string) {
			var backend, role []string
			for _, in := range ins {
				backend = append(backend, backendOf(in.srv.Snapshot(), "pg-a").OverrideAuthor)
				role = append(role, roleAuthor(in))
			}
			same := func(s []string) bool {
				return s[0] != "" && s[0] == s[1] && s[1] == s[2] && s[0][len(s[0])-len(fmt.Sprint(round)):] == fmt.Sprint(round)
			}
			return same(backend) && same(role), fmt.Sprint("backend ", backend, ", role ", role)
		})
	}
}
