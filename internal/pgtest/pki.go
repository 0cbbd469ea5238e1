package pgtest

import (
	"testing"

	"github.com/heliosdb/heliosproxy/internal/pgcluster"
)

// PKI is pgcluster's throwaway certificate authority, for tests.
type PKI = pgcluster.PKI

// NewPKI makes a CA, a server certificate for hosts (host names and IP
// addresses) and a client certificate whose common name is client, in a
// directory of the test's.
func NewPKI(t testing.TB, hosts []string, client string) *PKI {
	t.Helper()
	p, err := pgcluster.NewPKI(t.TempDir(), hosts, client)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
