package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// New starts a cluster for the test, failing the test if it can't, and
// destroys it in t.Cleanup. If the test failed, the end of the server log
// (when Options.Log is nil) is logged first.
func New(t testing.TB, o Options) *Cluster {
	t.Helper()
	c, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("pgtest.Start: %v", err)
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
