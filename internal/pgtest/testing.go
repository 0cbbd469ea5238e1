// Package pgtest gives integration tests throwaway PostgreSQL clusters:
// New starts one for a test, or a streaming replica of one with
// Options.ReplicaOf, and removes it when the test ends. The clusters
// themselves are package pgcluster's.
package pgtest

import (
	"testing"

	"github.com/heliosdb/heliosproxy/internal/pgcluster"
)

// Cluster and Options are pgcluster's.
type (
	Cluster = pgcluster.Cluster
	Options = pgcluster.Options
)

// New starts a cluster for the test, failing the test if it can't, and
// destroys it in t.Cleanup (see pgcluster.ForTest).
func New(t testing.TB, o Options) *Cluster {
	t.Helper()
	return pgcluster.ForTest(t, o)
}
