package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
)

// A protocol script is a sequence of frontend messages; each Query and
// Sync is answered up to its ReadyForQuery.
type script struct {
	name string
	msgs []pgproto3.FrontendMessage
}

// mixingScripts send status and backend statements in one request, which
// pooled sessions refuse (0A000, by design: design notes, "Requests that
// mix").
var mixingScripts = map[string]bool{"cursor and transaction control in one Query string": true, "unknown portal after a status Parse": true}

func pq(sql string) *pgproto3.Query { return &pgproto3.Query{String: sql} }
func pparse(name, sql string, oids ...uint32) *pgproto3.Parse {
	return &pgproto3.Parse{Name: name, Query: sql, ParameterOIDs: oids}
}
func pbind(portal, stmt string, resultFormats []int16, params ...string) *pgproto3.Bind {
	b := &pgproto3.Bind{DestinationPortal: portal, PreparedStatement: stmt, ResultFormatCodes: resultFormats}
	for _, p := range params {
		b.Parameters = append(b.Parameters, []byte(p))
	}
	return b
}
func pexec(portal string, max uint32) *pgproto3.Execute {
	return &pgproto3.Execute{Portal: portal, MaxRows: max}
}
func pdesc(kind byte, name string) *pgproto3.Describe {
	return &pgproto3.Describe{ObjectType: kind, Name: name}
}
func psync() *pgproto3.Sync   { return &pgproto3.Sync{} }
func pflush() *pgproto3.Flush { return &pgproto3.Flush{} }

// rawRun runs a script on a fresh connection to dsn and returns every
// message the server sent, normalized to text: an ErrorResponse or
// NoticeResponse by its severity, SQLSTATE, message, detail, hint and
// position (not PostgreSQL's source file and line). A Flush is answered
// up to what ends a statement's description (RowDescription or NoData)
// or an ErrorResponse: scripts send it after Parse and Describe, as
// asyncpg prepares a statement.
func rawRun(t *testing.T, ctx context.Context, dsn string, s script) []string {
	t.Helper()
	conn, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := conn.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Conn.Close()
	_ = hc.Conn.SetDeadline(time.Now().Add(30 * time.Second))
	fe := hc.Frontend
	var out []string
	for _, m := range s.msgs {
		fe.Send(m)
		_, flush := m.(*pgproto3.Flush)
		switch m.(type) {
		case *pgproto3.Query, *pgproto3.Sync, *pgproto3.Flush:
		default:
			continue
		}
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		for {
			msg, err := fe.Receive()
			if err != nil {
				t.Fatalf("%s: %v (after %q)", s.name, err, out)
			}
			out = append(out, normalize(msg))
			if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
				break
			}
			switch msg.(type) {
			case *pgproto3.RowDescription, *pgproto3.NoData, *pgproto3.ErrorResponse:
				if flush {
					break
				}
				continue
			default:
				continue
			}
			break
		}
	}
	return out
}

func normalize(msg pgproto3.BackendMessage) string {
	switch m := msg.(type) {
	case *pgproto3.ErrorResponse:
		return fmt.Sprintf("Error %s %s: %s detail=%q hint=%q pos=%d", m.Severity, m.Code, m.Message, m.Detail, m.Hint, m.Position)
	case *pgproto3.NoticeResponse:
		return fmt.Sprintf("Notice %s %s: %s", m.Severity, m.Code, m.Message)
	case *pgproto3.ParameterStatus:
		return "ParameterStatus " + m.Name
	case *pgproto3.RowDescription:
		var f []string
		for _, d := range m.Fields {
			f = append(f, fmt.Sprintf("%s:%d/%d/%d/%d", d.Name, d.DataTypeOID, d.DataTypeSize, d.TypeModifier, d.Format))
		}
		return "RowDescription " + strings.Join(f, ",")
	case *pgproto3.DataRow:
		var v []string
		for _, b := range m.Values {
			if b == nil {
				v = append(v, "NULL")
			} else {
				v = append(v, fmt.Sprintf("%q", b))
			}
		}
		return "DataRow " + strings.Join(v, ",")
	case *pgproto3.CopyData:
		return fmt.Sprintf("CopyData %q", m.Data)
	}
	b, _ := json.Marshal(msg)
	return string(b)
}

// protocolTargets starts a proxy over one PostgreSQL that holds a copy of
// helios_proxy.backends (three backends, all of them that cluster) and
// returns the three places the same scripts run: PostgreSQL itself, the
// proxy on a backend database (status statements intercepted), and the
// proxy's helios_proxy database.
func protocolTargets(t *testing.T, ctx context.Context) (map[string]string, *pgtest.Cluster, *runningProxy) {
	c := pgtest.New(t, pgtest.Options{Name: "protocol"})
	p := startProxy(t, testConfig(t, c, c, c))
	mixedCopy(t, ctx, c, p)
	return map[string]string{
		"postgres": c.DSN("postgres", c.Password, "postgres"),
		"backend":  p.dsn("postgres", ""),
		"status":   strings.Replace(p.dsn("postgres", ""), "dbname=postgres", "dbname=helios_proxy", 1),
	}, c, p
}

// protocolScripts are the message sequences of issue 12 item 4: Execute
// with a row limit (JDBC's fetch size), cursors (psycopg2's named
// cursors), COPY TO STDOUT (psql's \copy) and PostgreSQL's SQLSTATEs.
func protocolScripts() []script {
	const sel = "SELECT backend_name, port, weight, read_only FROM helios_proxy.backends ORDER BY port, backend_name"
	return []script{
		{"execute with a row limit", []pgproto3.FrontendMessage{
			pparse("", sel), pbind("", "", nil), pdesc('P', ""),
			pexec("", 1), pexec("", 1), pexec("", 1), pexec("", 1), pexec("", 1), psync()}},
		{"row limit, binary, exactly the rows", []pgproto3.FrontendMessage{
			pparse("s", sel), pbind("p", "s", []int16{1}), pexec("p", 2), pexec("p", 1), pexec("p", 1), pexec("p", 0), psync()}},
		{"row limit larger than the rows", []pgproto3.FrontendMessage{
			pparse("", sel), pbind("", "", nil), pexec("", 10), pexec("", 10), psync()}},
		{"run to the end, then again", []pgproto3.FrontendMessage{
			pparse("", sel), pbind("", "", nil), pexec("", 0), pexec("", 0), pexec("", 1), psync()}},
		{"portal ends at Sync outside a transaction", []pgproto3.FrontendMessage{
			pparse("s", sel), pbind("p", "s", nil), pexec("p", 1), psync(), pexec("p", 1), psync()}},
		{"portal lives until COMMIT", []pgproto3.FrontendMessage{
			pq("BEGIN"), pparse("s", sel), pbind("p", "s", nil), pexec("p", 2), psync(),
			pexec("p", 2), psync(), pq("COMMIT"), pexec("p", 1), psync()}},
		{"two portals interleaved", []pgproto3.FrontendMessage{
			pq("BEGIN"), pparse("s", sel), pbind("a", "s", nil), pbind("b", "s", nil),
			pexec("a", 1), pexec("b", 2), pexec("a", 5), pexec("b", 5), psync(), pq("ROLLBACK")}},
		{"parameters and a row limit", []pgproto3.FrontendMessage{
			pparse("", "SELECT backend_name FROM helios_proxy.backends WHERE port > $1 ORDER BY 1"), pbind("", "", nil, "0"),
			pexec("", 2), pexec("", 2), psync()}},

		{"cursors as psql sends them", []pgproto3.FrontendMessage{
			pq("DECLARE c CURSOR FOR " + sel),
			pq("DECLARE c CURSOR WITH HOLD FOR SELECT port FROM helios_proxy.backends ORDER BY port"),
			pq("FETCH ALL c"), pq("CLOSE c"), pq("CLOSE c"),
			pq("BEGIN"),
			pq("DECLARE d SCROLL CURSOR FOR SELECT port FROM helios_proxy.backends ORDER BY port"),
			pq("FETCH 1 FROM d"), pq("FETCH FORWARD 5 FROM d"), pq("FETCH NEXT FROM d"), pq("MOVE BACKWARD ALL IN d"),
			pq("FETCH ABSOLUTE 2 FROM d"), pq("FETCH RELATIVE 0 FROM d"), pq("MOVE ABSOLUTE 2 IN d"), pq("MOVE ABSOLUTE 10 IN d"),
			pq("MOVE RELATIVE -1 IN d"), pq("FETCH PRIOR FROM d"), pq("FETCH LAST FROM d"), pq("FETCH BACKWARD 10 FROM d"),
			pq("MOVE FORWARD ALL FROM d"), pq("FETCH FIRST d"), pq("FETCH d"), pq("FETCH ABSOLUTE -1 FROM d"),
			pq("FETCH ABSOLUTE -2 FROM d"), pq("FETCH RELATIVE 2 FROM d"), pq("FETCH RELATIVE -3 FROM d"), pq("FETCH FORWARD 0 FROM d"),
			pq("MOVE 0 IN d"), pq("FETCH BACKWARD 0 FROM d"), pq("FETCH -1 FROM d"), pq("FETCH BACKWARD -1 FROM d"), pq("FETCH ABSOLUTE 0 FROM d"),
			pq("DECLARE d CURSOR FOR SELECT 1"),
			pq("ROLLBACK"),
			pq("FETCH d"),
		}},
		{"psycopg2's named cursor", []pgproto3.FrontendMessage{
			pq("BEGIN"),
			pq(`DECLARE "c_1" CURSOR WITHOUT HOLD FOR ` + sel),
			pq(`FETCH FORWARD 2 FROM "c_1"`), pq(`FETCH FORWARD 2 FROM "c_1"`), pq(`FETCH FORWARD 2 FROM "c_1"`),
			pq(`CLOSE "c_1"`), pq("COMMIT"),
		}},
		{"cursor errors", []pgproto3.FrontendMessage{
			pq("BEGIN"),
			pq("DECLARE e NO SCROLL CURSOR FOR SELECT port FROM helios_proxy.backends ORDER BY port"),
			pq("FETCH 2 e"), pq("FETCH PRIOR e"), pq("ROLLBACK"),
			pq("BEGIN"),
			pq("DECLARE e NO SCROLL CURSOR FOR SELECT port FROM helios_proxy.backends ORDER BY port"),
			pq("FETCH 2 e"), pq("FETCH FIRST e"), pq("ROLLBACK"),
			pq("BEGIN"),
			pq("DECLARE e CURSOR FOR SELECT count(*) FROM helios_proxy.backends"),
			pq("FETCH 2 e"), pq("FETCH FIRST e"), pq("ROLLBACK"),
			pq("BEGIN"),
			pq("DECLARE e CURSOR FOR SELECT port FROM helios_proxy.backends ORDER BY port"),
			pq("FETCH 2 e"), pq("FETCH FIRST e"), pq("COMMIT"),
			pq("FETCH 1 FROM nope"), pq("CLOSE nope"), pq("CLOSE ALL"),
			pq("BEGIN"),
			pq("DECLARE g CURSOR FOR SELECT port / 0 FROM helios_proxy.backends"),
			pq("ROLLBACK"),
		}},
		{"cursor and transaction control in one Query string", []pgproto3.FrontendMessage{
			pq("BEGIN; DECLARE f CURSOR FOR SELECT port FROM helios_proxy.backends; CLOSE f; CLOSE ALL; COMMIT"),
		}},
		{"unknown portal after a status Parse", []pgproto3.FrontendMessage{
			pparse("", "SELECT 1 FROM helios_proxy.backends"), pexec("nope", 0), psync(),
		}},
		{"cursor in one Query string", []pgproto3.FrontendMessage{
			pq("DECLARE c CURSOR FOR " + sel + "; FETCH 2 c; FETCH ALL c"),
			pq("FETCH c"),
		}},
		{"binary cursor", []pgproto3.FrontendMessage{
			pq("BEGIN"),
			pq("DECLARE b BINARY CURSOR FOR " + sel),
			pq("FETCH 2 b"), pq("COMMIT"),
		}},
		{"cursor WITH HOLD outlives its transaction", []pgproto3.FrontendMessage{
			pq("BEGIN"),
			pq("DECLARE h CURSOR WITH HOLD FOR " + sel),
			pq("DECLARE w CURSOR WITHOUT HOLD FOR " + sel),
			pq("FETCH 1 h"), pq("COMMIT"), pq("FETCH 1 h"), pq("FETCH 1 w"), pq("CLOSE h"), pq("FETCH 1 h"),
		}},
		{"cursor through the extended protocol", []pgproto3.FrontendMessage{
			pq("BEGIN"),
			pparse("", "DECLARE x CURSOR FOR "+sel), pbind("", "", nil), pexec("", 0), psync(),
			pparse("f", "FETCH 2 FROM x"), pdesc('S', "f"), pbind("", "f", nil), pexec("", 0), psync(),
			pparse("", "CLOSE x"), pbind("", "", nil), pexec("", 0), psync(),
			pq("COMMIT"),
		}},

		{"COPY TO STDOUT", []pgproto3.FrontendMessage{
			pq("COPY (" + sel + ") TO STDOUT"),
			pq("COPY (" + sel + ") TO STDOUT WITH (FORMAT csv, HEADER)"),
			pq("COPY (" + sel + ") TO STDOUT WITH (FORMAT text, HEADER true)"),
			pq("COPY (SELECT backend_name || E'\\t\\\\x\\n' AS a, NULL::text AS b, '' AS c, 'q\"' AS d FROM helios_proxy.backends ORDER BY 1) TO STDOUT"),
			pq("COPY (SELECT backend_name || ',\"' AS a, NULL::text AS b, '' AS c FROM helios_proxy.backends ORDER BY 1) TO STDOUT (FORMAT csv)"),
			pq("COPY (SELECT backend_name, port FROM helios_proxy.backends ORDER BY 1) TO STDOUT (FORMAT csv, FORCE_QUOTE *, DELIMITER ';')"),
			pq("COPY (SELECT backend_name, NULL AS n FROM helios_proxy.backends ORDER BY 1) TO STDOUT (FORMAT csv, NULL 'x', QUOTE '''', FORCE_QUOTE (backend_name))"),
			pq("COPY (SELECT backend_name, NULL AS n FROM helios_proxy.backends ORDER BY 1) TO STDOUT (DELIMITER '|', NULL '')"),
			pq("COPY helios_proxy.backends TO STDOUT"),
			pq("COPY helios_proxy.backends (port, backend_name) TO STDOUT WITH CSV HEADER"),
			pq("COPY (SELECT port / 0 FROM helios_proxy.backends) TO STDOUT"),
			pq("COPY (SELECT nosuch FROM helios_proxy.backends) TO STDOUT"),
			pparse("", "COPY (SELECT backend_name FROM helios_proxy.backends ORDER BY 1) TO STDOUT"), pbind("", "", nil), pdesc('P', ""), pexec("", 0), psync(),
			pq("COPY (" + sel + ") TO STDOUT (FORMAT binary)"),
			pq("COPY (SELECT backend_name, port, weight, read_only, NULL::text AS n, weight::numeric(6,2) AS w FROM helios_proxy.backends ORDER BY 1) TO STDOUT (FORMAT binary)"),
			pq("COPY (SELECT backend_name FROM helios_proxy.backends WHERE false) TO STDOUT (FORMAT binary)"),
			pq("COPY helios_proxy.backends TO STDOUT WITH BINARY"),
			pq("COPY (" + sel + ") TO STDOUT (FORMAT binary, HEADER)"),
			pq("COPY (" + sel + ") TO STDOUT (FORMAT binary, DELIMITER ',')"),
			pq("COPY (" + sel + ") TO STDOUT (FORMAT binary, NULL 'x')"),
			pq("COPY (" + sel + ") TO STDOUT (ESCAPE 'x')"),
			pq("COPY (" + sel + ") TO STDOUT (FORCE_QUOTE *)"),
			pparse("", "COPY (SELECT backend_name, port FROM helios_proxy.backends ORDER BY 1) TO STDOUT (FORMAT binary)"), pbind("", "", nil), pdesc('P', ""), pexec("", 0), psync(),
		}},

		{"asyncpg's prepare: Parse, Describe, Flush", []pgproto3.FrontendMessage{
			pparse("a1", sel), pdesc('S', "a1"), pflush(), pbind("", "a1", []int16{1}), pexec("", 0), psync(),
			pparse("a2", "SELECT nosuch FROM helios_proxy.backends"), pdesc('S', "a2"), pflush(), psync(),
			pparse("a3", "SELECT port / 0 FROM helios_proxy.backends"), pdesc('S', "a3"), pflush(), psync(),
			pq("BEGIN"), pbind("", "a3", []int16{1}), pexec("", 0), psync(),
			pparse("a4", "SELECT backend_name FROM helios_proxy.backends"), pdesc('S', "a4"), pflush(), psync(),
			pparse("a5", "SELECT 1"), pdesc('S', "a5"), pflush(), psync(),
			pdesc('S', "a1"), pflush(), psync(),
			pq("COMMIT"),
		}},
		{"a Query after Parse, Describe, Flush", []pgproto3.FrontendMessage{
			pparse("q1", sel), pdesc('S', "q1"), pflush(),
			pq("SELECT count(*) FROM helios_proxy.backends"),
			pbind("", "q1", nil), pexec("", 0), psync(),
			pparse("q2", "SELECT port FROM helios_proxy.backends WHERE port = $1"), pdesc('S', "q2"), pflush(),
			pq("BEGIN"), pq("SELECT backend_name FROM helios_proxy.backends ORDER BY 1"), pq("ROLLBACK"),
			pbind("", "q2", nil, "1"), pexec("", 0), psync(),
		}},
		{"asyncpg's prepare() of a status statement, then a backend query", []pgproto3.FrontendMessage{
			pparse("s1", "SELECT backend_name FROM helios_proxy.backends WHERE port > $1 ORDER BY 1"), pdesc('S', "s1"), pflush(),
			pparse("", "SELECT 41 + 1"), pdesc('S', ""), pflush(), pbind("", "", nil), pexec("", 0), psync(),
			pbind("", "s1", nil, "0"), pexec("", 0), psync(),
			pq("BEGIN"),
			pparse("s2", "SELECT count(*) FROM helios_proxy.backends"), pdesc('S', "s2"), pflush(),
			pparse("b", "SELECT 41 + 1"), pbind("", "b", nil), pexec("", 0), psync(),
			pbind("", "s2", nil), pexec("", 0), psync(),
			pparse("s3", "SELECT port FROM helios_proxy.backends ORDER BY 1 LIMIT 1"), pdesc('S', "s3"), pflush(),
			pbind("", "b", nil), pexec("", 0), psync(),
			pparse("s4", "SELECT 1 FROM helios_proxy.backends LIMIT 1"), pdesc('S', "s4"), pflush(),
			pdesc('S', "b"), pflush(), psync(),
			pq("COMMIT"),
			// asyncpg closes the statements it dropped from its cache in
			// the next batch, whatever that batch runs.
			pparse("b2", "SELECT 43"), pdesc('S', "b2"), pflush(),
			&pgproto3.Close{ObjectType: 'S', Name: "s1"}, psync(),
			pbind("", "s1", nil, "0"), pexec("", 0), psync(),
		}},
		{"SQLSTATEs", []pgproto3.FrontendMessage{
			pq("SELECT nosuchfn(port) FROM helios_proxy.backends"),
			pq("SELECT backend_name ~ '(' FROM helios_proxy.backends"),
			pq("SELECT $1 FROM helios_proxy.backends"),
			pparse("", "SELECT backend_name FROM helios_proxy.backends WHERE backend_name = $1"), pbind("", "", nil, "\xff"), pexec("", 0), psync(),
			pq("DECLARE c CURSOR FOR SELECT port FROM helios_proxy.backends"),
			pq("FETCH c"), pq("CLOSE c"), pdesc('P', "nope"), psync(),
		}},
	}
}

// TestProtocolAgainstPostgreSQL runs the protocol scripts on PostgreSQL,
// on a backend database through the proxy and on the proxy's
// helios_proxy database, and asserts that every message the client gets
// is the same.
func TestProtocolAgainstPostgreSQL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	targets, _, _ := protocolTargets(t, ctx)
	for _, s := range protocolScripts() {
		t.Run(s.name, func(t *testing.T) {
			want := rawRun(t, ctx, targets["postgres"], s)
			for _, target := range []string{"backend", "status"} {
				got := rawRun(t, ctx, targets[target], s)
				if d := diffLines(want, got); d != "" {
					t.Errorf("%s differs from PostgreSQL:\n%s", target, d)
				}
			}
		})
	}
}

// diffLines shows where two message lists first differ.
func diffLines(want, got []string) string {
	for i := 0; i < max(len(want), len(got)); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			lo := max(0, i-3)
			return fmt.Sprintf("message %d:\n  want %s\n  got  %s\ncontext (PostgreSQL):\n  %s", i, w, g, strings.Join(want[lo:min(len(want), i+3)], "\n  "))
		}
	}
	return ""
}

// TestProtocolClients: real clients that use these parts of the protocol
// get from the proxy, on both kinds of database, what they get from
// PostgreSQL holding the same rows: psycopg2's named cursors (DECLARE,
// FETCH FORWARD itersize, CLOSE), psql's \copy (COPY ... TO STDOUT), and
// pgx reading EXPLAIN.
func TestProtocolClients(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	targets, c, _ := protocolTargets(t, ctx)

	t.Run("psycopg2 named cursor", func(t *testing.T) {
		script := `
import json, sys, psycopg2
conn = psycopg2.connect(sys.argv[1])
out = []
cur = conn.cursor(name="status_cur")
cur.itersize = 2
cur.execute("SELECT backend_name, port, weight, read_only FROM helios_proxy.backends WHERE port > %s ORDER BY port, backend_name", (0,))
out.append([list(r) for r in cur])
cur.close()
cur = conn.cursor(name="scroller", scrollable=True)
cur.execute("SELECT backend_name FROM helios_proxy.backends ORDER BY backend_name")
out.append(cur.fetchmany(2))
cur.scroll(0, mode="absolute")
out.append(cur.fetchone())
out.append(cur.fetchall())
conn.commit()
held = conn.cursor(name="held", withhold=True)
held.execute("SELECT backend_name FROM helios_proxy.backends ORDER BY backend_name DESC")
conn.commit()
out.append(held.fetchall())
held.close()
try:
    cur = conn.cursor(name="bad")
    cur.execute("SELECT nosuch FROM helios_proxy.backends")
except psycopg2.Error as e:
    out.append(e.pgcode)
    conn.rollback()
print(json.dumps(out))
`
		run := func(dsn string) string {
			out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", script, dsn).CombinedOutput()
			if err != nil {
				t.Fatalf("psycopg2: %v\n%s", err, out)
			}
			return string(out)
		}
		want := run(targets["postgres"])
		if !strings.Contains(want, `"pg-c"`) || !strings.Contains(want, `"42703"`) {
			t.Fatalf("psycopg2 on PostgreSQL: %s", want)
		}
		for _, target := range []string{"backend", "status"} {
			if got := run(targets[target]); got != want {
				t.Errorf("psycopg2 on %s: %s\nwant (PostgreSQL) %s", target, got, want)
			}
		}
	})

	t.Run("psql copy", func(t *testing.T) {
		dir := t.TempDir()
		for i, cmd := range []string{
			`\copy (SELECT backend_name, port, weight, read_only FROM helios_proxy.backends ORDER BY 1) to '%s' with (format csv, header)`,
			`\copy helios_proxy.backends to '%s'`,
			`\copy (SELECT backend_name || E'\t' || host AS x, NULL AS y FROM helios_proxy.backends ORDER BY 1) to '%s'`,
		} {
			files := map[string]string{}
			for _, target := range []string{"postgres", "backend", "status"} {
				file := filepath.Join(dir, fmt.Sprintf("%d-%s", i, target))
				out, err := exec.CommandContext(ctx, psqlPath(t, c), "-X", "-v", "ON_ERROR_STOP=1", "-d", targets[target], "-c", fmt.Sprintf(cmd, file)).CombinedOutput()
				if err != nil {
					t.Fatalf("psql %s on %s: %v\n%s", cmd, target, err, out)
				}
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				files[target] = string(out) + string(b)
			}
			if !strings.Contains(files["postgres"], "COPY 3") {
				t.Fatalf("psql %s on PostgreSQL: %q", cmd, files["postgres"])
			}
			for _, target := range []string{"backend", "status"} {
				if files[target] != files["postgres"] {
					t.Errorf("psql %s on %s:\n%s\nwant (PostgreSQL)\n%s", cmd, target, files[target], files["postgres"])
				}
			}
		}
	})

	t.Run("pgx EXPLAIN", func(t *testing.T) {
		for _, target := range []string{"backend", "status"} {
			conn, err := pgx.Connect(ctx, targets[target])
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			for _, tc := range []struct{ sql, want string }{
				{"EXPLAIN SELECT b.backend_name, e.event_type FROM helios_proxy.backends b LEFT JOIN helios_proxy.circuit_events e USING (backend_name)",
					"HeliosProxy in-memory evaluation (no PostgreSQL plan: the proxy answers this statement from its status snapshot, without a backend)\n" +
						"  Reads: helios_proxy.backends, helios_proxy.circuit_events"},
				{"EXPLAIN (ANALYZE, COSTS OFF) SELECT * FROM helios_proxy.backends WHERE port > $1",
					"HeliosProxy in-memory evaluation (no PostgreSQL plan: the proxy answers this statement from its status snapshot, without a backend)\n" +
						"  Reads: helios_proxy.backends\n  Rows returned: 3"},
			} {
				var args []any
				if strings.Contains(tc.sql, "$1") {
					args = append(args, 0)
				}
				rows, err := conn.Query(ctx, tc.sql, args...)
				if err != nil {
					t.Fatal(err)
				}
				lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					t.Fatalf("%s on %s: %v", tc.sql, target, err)
				}
				if f := rows.FieldDescriptions(); len(f) != 1 || f[0].Name != "QUERY PLAN" || f[0].DataTypeOID != 25 {
					t.Errorf("%s on %s: columns %v, want one text column QUERY PLAN", tc.sql, target, f)
				}
				if got := strings.Join(lines, "\n"); got != tc.want {
					t.Errorf("%s on %s:\n%s\nwant\n%s", tc.sql, target, got, tc.want)
				}
			}
		}
	})
}

// TestProtocolPooled runs the protocol scripts on pooled ([[users]])
// sessions in transaction and session mode, against PostgreSQL as the
// same role.
func TestProtocolPooled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			clusters, p := pooledSetup(t, 1, mode, nil)
			c := clusters[0]
			mixedCopy(t, ctx, c, p)
			if err := c.Exec(ctx, "GRANT USAGE ON SCHEMA helios_proxy TO app; GRANT SELECT ON helios_proxy.backends TO app"); err != nil {
				t.Fatal(err)
			}
			for _, s := range protocolScripts() {
				if mixingScripts[s.name] {
					continue
				}
				want := rawRun(t, ctx, c.DSN("app", "app-secret", "postgres"), s)
				got := rawRun(t, ctx, p.dsn("app", "app-secret"), s)
				if d := diffLines(want, got); d != "" {
					t.Errorf("%s: pooled session differs from PostgreSQL:\n%s", s.name, d)
				}
			}
		})
	}
}

// TestSearchPathBackend: on a backend database, once the session's
// search_path leads with helios_proxy, unqualified names of its tables
// are answered by the proxy while every other name still goes to the
// backend, following SET, SET LOCAL, RESET, set_config, DISCARD ALL and
// transactions as PostgreSQL does. The reference is PostgreSQL holding a
// copy of helios_proxy.backends; the proxy's backend is another cluster
// that has no such schema, so a statement relayed by mistake fails there.
func TestSearchPathBackend(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ref := pgtest.New(t, pgtest.Options{Name: "path-ref"})
	c := pgtest.New(t, pgtest.Options{Name: "path-backend"})
	p := startProxy(t, testConfig(t, c, c, c))
	mixedCopy(t, ctx, ref, p)
	for _, extended := range []bool{false, true} {
		want := runSteps(t, ctx, ref.DSN("postgres", ref.Password, "postgres"), searchPathSteps, extended)
		got := runSteps(t, ctx, p.dsn("postgres", ""), searchPathSteps, extended)
		if d := diffLines(want, got); d != "" {
			t.Errorf("extended=%v: the proxy differs from PostgreSQL:\n%s", extended, d)
		}
	}

	// A search_path given at startup counts too.
	conn, err := pgconn.Connect(ctx, p.dsn("postgres", "")+" search_path='helios_proxy,public'")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	res, err := conn.Exec(ctx, "SELECT count(*) FROM backends").ReadAll()
	if err != nil || string(res[0].Rows[0][0]) != "3" {
		t.Errorf("startup search_path: SELECT count(*) FROM backends = %v, %v; want 3", res, err)
	}
}

var searchPathSteps = []string{
	"CREATE TEMP TABLE t (x int)",
	"SELECT count(*) FROM backends",
	"SET search_path TO helios_proxy, public",
	"SELECT count(*) FROM backends",
	"SELECT backend_name, port FROM backends ORDER BY 1",
	"SELECT b.backend_name FROM backends b JOIN helios_proxy.backends USING (backend_name) ORDER BY 1",
	"INSERT INTO t VALUES (1)",
	"SELECT count(*) FROM t",
	"SHOW search_path",
	"RESET search_path",
	"SELECT count(*) FROM backends",
	"BEGIN", "SET search_path TO helios_proxy", "SELECT count(*) FROM backends", "ROLLBACK",
	"SELECT count(*) FROM backends",
	"BEGIN", "SET LOCAL search_path TO helios_proxy", "SELECT count(*) FROM backends", "COMMIT",
	"SELECT count(*) FROM backends",
	"BEGIN", "SET search_path TO helios_proxy", "COMMIT",
	"SELECT count(*) FROM backends",
	"SET search_path TO DEFAULT",
	"SELECT count(*) FROM backends",
	"SELECT set_config('search_path', 'helios_proxy, public', false)",
	"SELECT count(*) FROM backends",
	"SET search_path = public",
	"SELECT count(*) FROM backends",
	"BEGIN", "SET search_path TO helios_proxy", "SELECT 1/0", "ROLLBACK",
	"SELECT count(*) FROM backends",
	"SET search_path TO helios_proxy, public; SELECT count(*) FROM backends",
	"SELECT count(*) FROM backends; RESET search_path",
	"SELECT count(*) FROM backends",
	"SET search_path TO helios_proxy; SELECT 1/0",
	"SELECT count(*) FROM backends",
	"SET search_path TO helios_proxy",
	"DISCARD ALL",
	"SELECT count(*) FROM backends",
	"BEGIN", "SELECT set_config('search_path', 'helios_proxy', true)", "SELECT count(*) FROM backends", "ROLLBACK",
	"SELECT count(*) FROM backends",
}

// runSteps runs statements one Query (or, extended, one Parse/Bind/
// Execute/Sync) at a time and returns what the client saw of each.
func runSteps(t *testing.T, ctx context.Context, dsn string, steps []string, extended bool) []string {
	t.Helper()
	conn, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var out []string
	for _, sql := range steps {
		var a mixedAnswer
		if extended && !strings.Contains(sql, ";") {
			r := conn.ExecParams(ctx, sql, nil, nil, nil, nil).Read()
			a = mixedAnswerOf(r.FieldDescriptions, r.Rows, r.CommandTag, r.Err)
		} else {
			rs, err := conn.Exec(ctx, sql).ReadAll()
			for _, r := range rs {
				out = append(out, mixedAnswerOf(r.FieldDescriptions, r.Rows, r.CommandTag, r.Err).String())
			}
			a = mixedAnswerOf(nil, nil, pgconn.CommandTag{}, err)
		}
		out = append(out, fmt.Sprintf("%s -> %s [%c]", sql, a, conn.TxStatus()))
	}
	return out
}

// TestSearchPathPooled: pooled sessions follow the search_path as their
// backend connection sees it. In session mode, as a pass-through session
// (statements one at a time: pooled sessions refuse a Query that mixes
// status and backend statements). In transaction mode, a connection
// serves one transaction, so a SET outside a block (or committed in one)
// is not carried to the next (design notes, Pooling), and the proxy does
// not follow it either; SET LOCAL and SET inside a block last until it
// ends, and a startup search_path, carried to every connection, always.
func TestSearchPathPooled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ref := pgtest.New(t, pgtest.Options{Name: "path-ref"})
	t.Run("session", func(t *testing.T) {
		_, p := pooledSetup(t, 1, "session", nil)
		mixedCopy(t, ctx, ref, p)
		var steps []string
		for _, s := range searchPathSteps {
			if !strings.Contains(s, ";") && !strings.Contains(s, "TEMP") && !strings.Contains(s, " t") {
				steps = append(steps, s)
			}
		}
		for _, extended := range []bool{false, true} {
			want := runSteps(t, ctx, ref.DSN("postgres", ref.Password, "postgres"), steps, extended)
			got := runSteps(t, ctx, p.dsn("app", "app-secret"), steps, extended)
			if d := diffLines(want, got); d != "" {
				t.Errorf("extended=%v: the proxy differs from PostgreSQL:\n%s", extended, d)
			}
		}
	})
	t.Run("transaction", func(t *testing.T) {
		_, p := pooledSetup(t, 1, "transaction", nil)
		steps := []string{
			"SET search_path TO helios_proxy, public",
			"SELECT count(*) FROM backends",
			"BEGIN", "SET LOCAL search_path TO helios_proxy", "SELECT count(*) FROM backends", "COMMIT",
			"BEGIN", "SET search_path TO helios_proxy", "SELECT count(*) FROM backends", "COMMIT",
			"SELECT count(*) FROM backends",
		}
		want := []string{
			`SET search_path TO helios_proxy, public -> cols=[] rows=[] tag="SET" code="" [I]`,
			`SELECT count(*) FROM backends -> cols=[] rows=[] tag="" code="42P01" [I]`,
			`BEGIN -> cols=[] rows=[] tag="BEGIN" code="" [T]`,
			`SET LOCAL search_path TO helios_proxy -> cols=[] rows=[] tag="SET" code="" [T]`,
			`SELECT count(*) FROM backends -> cols=[count:20] rows=[1] tag="SELECT 1" code="" [T]`,
			`COMMIT -> cols=[] rows=[] tag="COMMIT" code="" [I]`,
			`BEGIN -> cols=[] rows=[] tag="BEGIN" code="" [T]`,
			`SET search_path TO helios_proxy -> cols=[] rows=[] tag="SET" code="" [T]`,
			`SELECT count(*) FROM backends -> cols=[count:20] rows=[1] tag="SELECT 1" code="" [T]`,
			`COMMIT -> cols=[] rows=[] tag="COMMIT" code="" [I]`,
			`SELECT count(*) FROM backends -> cols=[] rows=[] tag="" code="42P01" [I]`,
		}
		if d := diffLines(want, runSteps(t, ctx, p.dsn("app", "app-secret"), steps, true)); d != "" {
			t.Errorf("transaction mode:\n%s", d)
		}
		// A startup search_path reaches every connection as the list it
		// is, and resolves the proxy's tables.
		got := runSteps(t, ctx, p.dsn("app", "app-secret")+" search_path='helios_proxy, public'", []string{
			"SHOW search_path", "SELECT count(*) FROM backends", "BEGIN", "SHOW search_path", "COMMIT"}, true)
		want = []string{
			`SHOW search_path -> cols=[search_path:25] rows=[helios_proxy, public] tag="SHOW" code="" [I]`,
			`SELECT count(*) FROM backends -> cols=[count:20] rows=[1] tag="SELECT 1" code="" [I]`,
			`BEGIN -> cols=[] rows=[] tag="BEGIN" code="" [T]`,
			`SHOW search_path -> cols=[search_path:25] rows=[helios_proxy, public] tag="SHOW" code="" [T]`,
			`COMMIT -> cols=[] rows=[] tag="COMMIT" code="" [I]`,
		}
		if d := diffLines(want, got); d != "" {
			t.Errorf("startup search_path in transaction mode:\n%s", d)
		}
	})
}
