package proxy

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy/session"
)

// sqlBombs are statements on the status schema nested or sized beyond what
// the C parser survives, with the guard's answer. `SELECT 1+1+...` with
// 25,000 terms (50 KB) once overflowed the C stack inside libpg_query and
// killed the process.
func sqlBombs() []struct{ name, sql, code string } {
	const from = " FROM helios_proxy.backends"
	rep := strings.Repeat
	return []struct{ name, sql, code string }{
		{"25,000 terms", "SELECT 1" + rep("+1", 25000) + from, "54001"},
		{"250,000 terms", "SELECT 1" + rep("+1", 250000) + from, "54001"},
		{"1,000,000 terms", "SELECT 1" + rep("+1", 1000000) + from, "54001"},
		{"|| chain", "SELECT 'a'" + rep("||'a'", 12000) + from, "54001"},
		{"casts", "SELECT 1" + rep("::int", 12000) + from, "54001"},
		{"UNION chain", "SELECT 1" + from + rep(" UNION SELECT 1", 4000), "54001"},
		{"JOIN chain", "SELECT 1" + from + rep(" JOIN t ON true", 4000), "54001"},
		{"parentheses", "SELECT " + rep("(", 30000) + "1" + rep(")", 30000) + from, "54001"},
		{"NOT chain", "SELECT " + rep("NOT ", 9000) + "true" + from, "54001"},
		{"nested CASE", "SELECT " + rep("CASE WHEN true THEN ", 1900) + "1" + rep(" END", 1900) + from, "54001"},
		{"nested calls", "SELECT " + rep("abs(", 4900) + "1" + rep(")", 4900) + from, "54001"},
		{"nested subqueries", "SELECT " + rep("(SELECT ", 3000) + "1" + rep(")", 3000) + from, "54001"},
		{"nested arrays", "SELECT " + rep("ARRAY[", 4900) + "1" + rep("]", 4900) + from, "54001"},
		{"IN list of 900 KB", "SELECT 1" + from + " WHERE port IN (" + rep("1,", 450000) + "1)", "54000"},
	}
}

// TestSQLBombs sends each bomb through a real proxy, to the helios_proxy
// database and to a backend's, in both protocols. The answer is an error
// with PostgreSQL's SQLSTATE (54001 "stack depth limit exceeded", as
// PostgreSQL 15 answers for such expressions; 54000 for a statement too
// long to parse), the session stays usable, and the proxy keeps serving
// other clients. A statement of any size that names helios_proxy is the
// proxy's on a backend's database too; the status database refuses
// messages over session.MaxStatusMessage as a protocol violation (08P01, closing
// the session). That this test
// process is still running afterwards is the main assertion: a crash in
// the parser would have killed it.
func TestSQLBombs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := pgtest.New(t, pgtest.Options{Name: "sqlbomb"})
	p := startProxy(t, testConfig(t, c))
	host, port, _ := net.SplitHostPort(p.Addr)
	bombs := sqlBombs()
	for _, db := range []string{"helios_proxy", "postgres"} {
		dsn := fmt.Sprintf("host=%s port=%s user=postgres dbname=%s sslmode=disable", host, port, db)
		for _, proto := range protocols {
			t.Run(db+"/"+proto.name, func(t *testing.T) {
				conn, err := pgconn.Connect(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { conn.Close(ctx) }()
				for _, b := range bombs {
					want := b.code
					switch {
					case db == "helios_proxy" && len(b.sql) > session.MaxStatusMessage:
						want = "08P01"
					}
					_, err := proto.run(ctx, conn, b.sql)
					if code := pgCode(err); code != want || code == "" {
						t.Errorf("%s (%d bytes): %v (SQLSTATE %q), want SQLSTATE %s", b.name, len(b.sql), err, code, want)
					}
					if want == "08P01" {
						conn.Close(ctx)
						if conn, err = pgconn.Connect(ctx, dsn); err != nil {
							t.Fatalf("reconnect after %s: %v", b.name, err)
						}
					}
					// The session goes on.
					if tag, err := proto.run(ctx, conn, "SELECT count(*) FROM helios_proxy.backends"); err != nil || tag != "SELECT 1" {
						t.Fatalf("status query after %s: %q, %v", b.name, tag, err)
					}
				}
				// Another client is served.
				other, err := pgx.Connect(ctx, dsn)
				if err != nil {
					t.Fatalf("another client after the bombs: %v", err)
				}
				defer other.Close(ctx)
				var n int
				if err := other.QueryRow(ctx, "SELECT count(*) FROM helios_proxy.backends").Scan(&n); err != nil || n != 1 {
					t.Errorf("another client's status query: %d, %v; want 1", n, err)
				}
			})
		}
	}
}

// TestDeepStatementNotOurs: a deep statement that mentions helios_proxy
// only in a comment is not parsed by the proxy at all; it goes to the
// backend, which answers as PostgreSQL does (54001 for 25,000 terms), and
// a big status query that is safe to parse still works.
func TestDeepStatementNotOurs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := pgtest.New(t, pgtest.Options{Name: "sqlbomb-relay"})
	p := startProxy(t, testConfig(t, c))
	host, port, _ := net.SplitHostPort(p.Addr)
	deep := "/* helios_proxy */ SELECT 1" + strings.Repeat("+1", 25000)
	var in strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&in, "'b-%06d', ", i)
	}
	// 55 KB of names: the proxy answers it.
	bigIn := "SELECT backend_name FROM helios_proxy.backends WHERE backend_name IN (" + in.String() + "'pg-a')"
	for _, proto := range protocols {
		t.Run(proto.name, func(t *testing.T) {
			conn, err := pgconn.Connect(ctx, fmt.Sprintf("host=%s port=%s user=postgres dbname=postgres sslmode=disable", host, port))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := proto.run(ctx, conn, deep); pgCode(err) != "54001" {
				t.Errorf("deep statement relayed: %v, want the backend's 54001", err)
			}
			if tag, err := proto.run(ctx, conn, "SELECT 1"); err != nil || tag != "SELECT 1" {
				t.Fatalf("relayed query after the deep one: %q, %v", tag, err)
			}
			if tag, err := proto.run(ctx, conn, bigIn); err != nil || tag != "SELECT 1" {
				t.Errorf("%d-byte IN list: %q, %v; want one row", len(bigIn), tag, err)
			}
		})
	}
}

// peakRSS is this process's peak resident memory (VmHWM), from /proc.
func peakRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// TestStatusQueryTextBombs: each value a status query makes is bounded
// (16 MB), but an aggregate or a function called for every row makes
// many. Before, string_agg(repeat('x', 16000000), ”) over 100 rows took
// the proxy to 7.9 GB of memory, for any client of the helios_proxy
// database or of a backend's; now what one execution makes is bounded
// too: 54000, the session goes on, and the proxy's memory stays put.
func TestStatusQueryTextBombs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := pgtest.New(t, pgtest.Options{Name: "textbomb"})
	p := startProxy(t, testConfig(t, c))
	host, port, _ := net.SplitHostPort(p.Addr)
	const rows = " FROM generate_series(1, 10) g, helios_proxy.backends"
	bombs := []struct{ name, sql string }{
		{"string_agg", "SELECT length(string_agg(repeat('x', 16000000), ''))" + rows},
		{"string_agg DISTINCT", "SELECT length(string_agg(DISTINCT repeat(g::text, 16000000), ''))" + rows},
		{"string_agg ORDER BY", "SELECT length(string_agg(repeat('x', 16000000), '' ORDER BY g))" + rows},
		{"array_agg", "SELECT cardinality(array_agg(repeat('x', 16000000)))" + rows},
		{"a function per row", "SELECT count(*) FROM (SELECT repeat('x', 16000000) AS r" + rows + ") s"},
		{"string_agg over a window", "SELECT max(l) FROM (SELECT length(string_agg(repeat('x', 1000), '') OVER (ORDER BY g)) AS l FROM generate_series(1, 5000) g, helios_proxy.backends) s"},
	}
	before := peakRSS(t)
	for _, db := range []string{"helios_proxy", "postgres"} {
		dsn := fmt.Sprintf("host=%s port=%s user=postgres dbname=%s sslmode=disable", host, port, db)
		for _, proto := range protocols {
			conn, err := pgconn.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range bombs {
				if _, err := proto.run(ctx, conn, b.sql); pgCode(err) != "54000" {
					t.Errorf("%s/%s: %s: %v, want SQLSTATE 54000", db, proto.name, b.name, err)
				}
				if tag, err := proto.run(ctx, conn, "SELECT string_agg(backend_name, ',') FROM helios_proxy.backends"); err != nil || tag != "SELECT 1" {
					t.Fatalf("%s/%s: status query after %s: %q, %v", db, proto.name, b.name, tag, err)
				}
			}
			conn.Close(ctx)
		}
	}
	if grew := peakRSS(t) - before; grew > 512<<20 {
		t.Errorf("peak memory grew by %d MB over the bombs, want under 512 MB", grew>>20)
	}
}
