package session

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/proxy/pool"
)

// TestStatementRegistryBounded: 100,000 distinct prepared statements,
// each closed after use as clients with inlined constants do, leave the
// proxy's statement registry and its server connections no bigger than
// what clients hold at once.
func TestStatementRegistryBounded(t *testing.T) {
	p := startFront(t, scramConfig(t, "stmtbound", "transaction"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pc, err := pgconn.Connect(ctx, p.dsn("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	const total, batch = 100_000, 1_000
	for first := 0; first < total; first += batch {
		pipe := pc.StartPipeline(ctx)
		for i := first; i < first+batch; i++ {
			name := fmt.Sprintf("s%d", i)
			pipe.SendPrepare(name, fmt.Sprintf("SELECT %d AS n", i), nil)
			pipe.SendQueryPrepared(name, nil, nil, nil)
			pipe.SendDeallocate(name)
		}
		pipe.SendPipelineSync()
		if err := pipe.Flush(); err != nil {
			t.Fatal(err)
		}
		for {
			res, err := pipe.GetResults()
			if err != nil {
				t.Fatalf("batch from %d: %v", first, err)
			}
			if _, ok := res.(*pgconn.PipelineSync); ok {
				break
			}
			if rr, ok := res.(*pgconn.ResultReader); ok {
				if _, err := rr.Close(); err != nil {
					t.Fatalf("batch from %d: %v", first, err)
				}
			}
		}
		if err := pipe.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.stmts.Len(); n != 0 {
		t.Errorf("statement registry holds %d statements after all were closed, want 0", n)
	}
	for _, b := range p.backends {
		for _, cp := range p.pools.of(b) {
			for _, sc := range cp.Idle() {
				if n := len(sc.stmts); n > pool.MaxServerStatements {
					t.Errorf("an idle server connection holds %d statements, want at most %d", n, pool.MaxServerStatements)
				}
			}
		}
	}
}
