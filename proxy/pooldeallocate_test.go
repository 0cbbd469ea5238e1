package proxy

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// deallocatePy runs psycopg 3 with a statement cache of two, preparing
// every statement: the cache evicts with DEALLOCATE (an unnamed Parse),
// in autocommit, inside a transaction block and in pipelines (where the
// Parse follows others of the batch).
const deallocatePy = `
import sys, psycopg
out = []
for autocommit in (True, False):
    conn = psycopg.connect(sys.argv[1], autocommit=autocommit, prepare_threshold=0)
    conn.prepared_max = 2
    for i in range(6):
        out.append(conn.execute("SELECT %s::int + " + str(i), (i,)).fetchone()[0])
    conn.commit()
    conn.close()
conn = psycopg.connect(sys.argv[1], autocommit=True, prepare_threshold=0)
conn.prepared_max = 2
for j in range(3):
    with conn.pipeline():
        curs = [conn.execute("SELECT %s::int * " + str(i), (i,)) for i in range(4)]
    out += [c.fetchone()[0] for c in curs]
print(out)
`

// TestPooledDeallocate: a client's DEALLOCATE of a statement it prepared
// by the protocol succeeds through a pooled session as on PostgreSQL.
// The server knows the statement by the proxy's name, so the DEALLOCATE
// failed there with 26000: psycopg 3, which deallocates what its
// statement cache evicts, failed its third distinct prepared query.
// DEALLOCATE ALL and DISCARD ALL forget the client's statements as
// PostgreSQL does (a Bind of one fails with 26000; the proxy prepared it
// again before), and in a failed transaction block DEALLOCATE gets 25P02
// and keeps the statement. Every answer is compared with PostgreSQL's to
// the same messages.
func TestPooledDeallocate(t *testing.T) {
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			clusters, p := pooledSetup(t, 1, mode, nil)
			direct := clusters[0].DSN("app", "app-secret", "postgres")
			proxied := p.dsn("app", "app-secret")

			py := func(dsn string) string {
				out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", deallocatePy, dsn).CombinedOutput()
				if err != nil {
					t.Fatalf("psycopg: %v\n%s", err, out)
				}
				return string(out)
			}
			if got, want := py(proxied), py(direct); got != want || !strings.Contains(want, "[0, 2, 4, 6, 8, 10, 0, 2") {
				t.Errorf("psycopg 3 through the proxy: %s\nwant (PostgreSQL) %s", got, want)
			}

			if got, want := deallocateTranscript(t, ctx, proxied), deallocateTranscript(t, ctx, direct); got != want {
				t.Errorf("through the proxy:\n%s\nwant (PostgreSQL):\n%s", got, want)
			}
		})
	}
}

// deallocateTranscript sends the DEALLOCATE cases to dsn and returns the
// answers.
func deallocateTranscript(t *testing.T, ctx context.Context, dsn string) string {
	t.Helper()
	c, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var b strings.Builder
	send := func(msgs ...pgproto3.FrontendMessage) {
		for _, m := range msgs {
			c.Frontend().Send(m)
		}
		if err := c.Frontend().Flush(); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := c.ReceiveMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			switch m := m.(type) {
			case *pgproto3.ErrorResponse:
				fmt.Fprintf(&b, " E %s %s;", m.Code, m.Message)
			case *pgproto3.DataRow:
				fmt.Fprintf(&b, " D %s;", m.Values[0])
			case *pgproto3.CommandComplete:
				fmt.Fprintf(&b, " C %s;", m.CommandTag)
			case *pgproto3.ReadyForQuery:
				fmt.Fprintf(&b, " Z %c\n", m.TxStatus)
				return
			default:
				fmt.Fprintf(&b, " %T;", m)
			}
		}
	}
	parse := func(name, sql string) { send(&pgproto3.Parse{Name: name, Query: sql}, &pgproto3.Sync{}) }
	run := func(name string) {
		send(&pgproto3.Bind{PreparedStatement: name}, &pgproto3.Execute{}, &pgproto3.Sync{})
	}
	query := func(sql string) { send(&pgproto3.Query{String: sql}) }

	parse("s1", "SELECT 1")
	run("s1")
	query("DEALLOCATE s1")
	run("s1")
	parse("s1", "SELECT 2")
	run("s1")
	query("DEALLOCATE PREPARE ALL;")
	run("s1")
	parse("S2", "SELECT 3")
	query("BEGIN")
	query(`  deallocate "S2" ;`)
	run("S2")
	query("ROLLBACK")
	parse("s3", "SELECT 4")
	query("BEGIN")
	query("SELECT 1/0")
	query("DEALLOCATE s3")
	query("ROLLBACK")
	run("s3")
	send(&pgproto3.Parse{Query: "DEALLOCATE s3"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{})
	run("s3")
	query("DEALLOCATE nosuch")
	parse("s4", "SELECT 5")
	query("DISCARD ALL")
	run("s4")
	return b.String()
}
