package pgcluster

import (
	"context"
	"os"
	"path/filepath"
)

// TB is the part of testing.TB that ForTest uses; declaring it here keeps
// package testing out of the production binary.
type TB interface {
	Helper()
	Cleanup(func())
	Failed() bool
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
}

// ForTest starts a cluster for a test, failing the test if it can't, and
// destroys it in its cleanup. If the test failed, the end of the server
// log (when Options.Log is nil) is logged first.
func ForTest(t TB, o Options) *Cluster {
	t.Helper()
	c, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("pgcluster.Start: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() && o.Log == nil {
			if b, err := os.ReadFile(filepath.Join(c.Dir, "server.log")); err == nil {
				t.Logf("server log of %s:\n%s", c.Name, b[max(0, len(b)-8192):])
			}
		}
		if err := c.Destroy(); err != nil {
			t.Errorf("destroy %s: %v", c.Name, err)
		}
	})
	return c
}
