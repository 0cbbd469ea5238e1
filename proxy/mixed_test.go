package proxy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heliosdb/heliosproxy/internal/pgtest"
	"github.com/heliosdb/heliosproxy/proxy/session"
)

// mixedAnswer is one statement's mixedAnswer as a client sees it: columns with
// their type OIDs, rows in text, command tag or SQLSTATE.
type mixedAnswer struct {
	cols []string
	rows []string
	tag  string
	code string
}

func (a mixedAnswer) String() string {
	return fmt.Sprintf("cols=%v rows=%v tag=%q code=%q", a.cols, a.rows, a.tag, a.code)
}

func mixedAnswerOf(fields []pgconn.FieldDescription, rows [][][]byte, tag pgconn.CommandTag, err error) mixedAnswer {
	var a mixedAnswer
	for _, f := range fields {
		a.cols = append(a.cols, fmt.Sprintf("%s:%d", f.Name, f.DataTypeOID))
	}
	for _, r := range rows {
		var vals []string
		for _, v := range r {
			if v == nil {
				vals = append(vals, "NULL")
			} else {
				vals = append(vals, string(v))
			}
		}
		a.rows = append(a.rows, strings.Join(vals, "|"))
	}
	a.tag, a.code = tag.String(), pgCode(err)
	if err != nil {
		a.tag = ""
		if a.code == "" {
			a.code = err.Error()
		}
	}
	return a
}

// mixedCopy makes the backend's database hold helios_proxy.backends with
// the rows the proxy answers, so that PostgreSQL itself answers the same
// statements sent to it directly.
func mixedCopy(t *testing.T, ctx context.Context, c *pgtest.Cluster, p *runningProxy) {
	t.Helper()
	direct, err := pgx.Connect(ctx, c.DSN("postgres", c.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	// The rows as the proxy's status database answers them: no backend
	// login needed.
	viaProxy, err := pgx.Connect(ctx, strings.Replace(p.dsn("postgres", ""), "dbname=postgres", "dbname="+session.StatusDatabase, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer viaProxy.Close(ctx)
	rows, err := viaProxy.Query(ctx, "SELECT backend_name, host, port, priority, weight, read_only FROM helios_proxy.backends")
	if err != nil {
		t.Fatal(err)
	}
	vals, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Exec(ctx, "CREATE SCHEMA helios_proxy; CREATE TABLE helios_proxy.backends (backend_name text, host text, port int4, priority int4, weight float8, read_only bool)"); err != nil {
		t.Fatal(err)
	}
	for _, v := range vals {
		if _, err := direct.Exec(ctx, "INSERT INTO helios_proxy.backends VALUES ($1, $2, $3, $4, $5, $6)", v...); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMixedRequests: a simple Query and a pipeline holding both
// helios_proxy and backend statements are answered in order, in one
// implicit transaction, as PostgreSQL answers them (the same statements
// sent to PostgreSQL holding a copy of helios_proxy.backends), and the
// session goes on.
func TestMixedRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := pgtest.New(t, pgtest.Options{Name: "mixed"})
	p := startProxy(t, testConfig(t, c))
	mixedCopy(t, ctx, c, p)
	targets := map[string]string{"proxy": p.dsn("postgres", ""), "postgres": c.DSN("postgres", c.Password, "postgres")}
	const setup = "CREATE TEMP TABLE t (x int)"

	// Each step: a Query string, or a pipeline (statements separated by
	// "\n;\n", sent with pgx's SendBatch and with pgconn's pipeline).
	steps := []string{
		"SELECT 1; SELECT count(*) FROM helios_proxy.backends",
		"SELECT count(*) FROM helios_proxy.backends; SELECT 2 AS two",
		"SELECT 1; SELECT backend_name, port FROM helios_proxy.backends ORDER BY 1; SELECT 'a' AS x",
		"INSERT INTO t VALUES (1); SELECT port / 0 FROM helios_proxy.backends",
		"SELECT count(*) FROM t",
		"SELECT 1 / 0; SELECT * FROM helios_proxy.backends",
		"BEGIN; INSERT INTO t VALUES (2); SELECT port / 0 FROM helios_proxy.backends",
		"SELECT count(*) FROM helios_proxy.backends",
		"INSERT INTO t VALUES (3)",
		"COMMIT",
		"INSERT INTO t VALUES (4); SELECT count(*) FROM helios_proxy.backends; INSERT INTO t VALUES (5)",
		"SELECT x FROM t ORDER BY x",
		"BEGIN; SELECT count(*) FROM helios_proxy.backends; INSERT INTO t VALUES (6); COMMIT",
		"SELECT x FROM t ORDER BY x",
	}
	type run struct {
		answers []mixedAnswer
		status  []byte
	}
	connect := func(dsn string) *pgconn.PgConn {
		conn, err := pgconn.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, setup).ReadAll(); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	simple := func(dsn string) run {
		conn := connect(dsn)
		defer conn.Close(ctx)
		var r run
		for _, sql := range steps {
			mrr := conn.Exec(ctx, sql)
			for mrr.NextResult() {
				res := mrr.ResultReader().Read()
				r.answers = append(r.answers, mixedAnswerOf(res.FieldDescriptions, res.Rows, res.CommandTag, res.Err))
			}
			if err := mrr.Close(); err != nil {
				r.answers = append(r.answers, mixedAnswerOf(nil, nil, pgconn.CommandTag{}, err))
			}
			r.status = append(r.status, conn.TxStatus())
		}
		return r
	}
	pipeline := func(dsn string) run {
		conn := connect(dsn)
		defer conn.Close(ctx)
		var r run
		for _, sql := range steps {
			pl := conn.StartPipeline(ctx)
			for _, s := range strings.Split(sql, "; ") {
				pl.SendQueryParams(s, nil, nil, nil, nil)
			}
			pl.SendPipelineSync()
			if err := pl.Flush(); err != nil {
				t.Fatal(err)
			}
			for {
				res, err := pl.GetResults()
				if pgCode(err) != "" {
					r.answers = append(r.answers, mixedAnswerOf(nil, nil, pgconn.CommandTag{}, err))
					continue
				}
				if err != nil {
					t.Fatalf("pipeline %q: %v", sql, err)
				}
				if _, ok := res.(*pgconn.PipelineSync); ok {
					break
				}
				if rr, ok := res.(*pgconn.ResultReader); ok {
					res := rr.Read()
					r.answers = append(r.answers, mixedAnswerOf(res.FieldDescriptions, res.Rows, res.CommandTag, res.Err))
				}
			}
			if err := pl.Close(); err != nil {
				t.Fatalf("pipeline %q: %v", sql, err)
			}
			r.status = append(r.status, conn.TxStatus())
		}
		return r
	}
	batch := func(dsn string) run {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, setup); err != nil {
			t.Fatal(err)
		}
		var r run
		for _, sql := range steps {
			b := &pgx.Batch{}
			for _, s := range strings.Split(sql, "; ") {
				b.Queue(s)
			}
			br := conn.SendBatch(ctx, b)
			for range b.Len() {
				rows, err := br.Query()
				if err != nil {
					r.answers = append(r.answers, mixedAnswerOf(nil, nil, pgconn.CommandTag{}, err))
					continue
				}
				var vals [][][]byte
				for rows.Next() {
					var row [][]byte
					for _, v := range rows.RawValues() {
						row = append(row, slices.Clone(v))
					}
					vals = append(vals, row)
				}
				rows.Close()
				r.answers = append(r.answers, mixedAnswerOf(rows.FieldDescriptions(), vals, rows.CommandTag(), rows.Err()))
			}
			if err := br.Close(); err != nil {
				r.answers = append(r.answers, mixedAnswerOf(nil, nil, pgconn.CommandTag{}, err))
			}
			r.status = append(r.status, conn.PgConn().TxStatus())
		}
		return r
	}
	for _, client := range []struct {
		name string
		run  func(string) run
	}{{"simple", simple}, {"pipeline", pipeline}, {"pgx batch", batch}} {
		t.Run(client.name, func(t *testing.T) {
			want, got := client.run(targets["postgres"]), client.run(targets["proxy"])
			if len(got.answers) != len(want.answers) {
				t.Errorf("%d answers through the proxy, %d from PostgreSQL", len(got.answers), len(want.answers))
			}
			for i := range min(len(got.answers), len(want.answers)) {
				if got.answers[i].String() != want.answers[i].String() {
					t.Errorf("mixedAnswer %d through the proxy:\n  %v\nPostgreSQL:\n  %v", i, got.answers[i], want.answers[i])
				}
			}
			if string(got.status) != string(want.status) {
				t.Errorf("transaction status after each step through the proxy %q, PostgreSQL %q", got.status, want.status)
			}
		})
	}
}

// TestMixedRequestsPooled: on a pooled session, a pipeline that mixes
// helios_proxy and backend statements gets a clean ERROR 0A000 in order
// (not a closed connection), its backend part is rolled back, and the
// session goes on.
func TestMixedRequestsPooled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			_, p := pooledSetup(t, 1, mode, nil)
			conn, err := pgconn.Connect(ctx, p.dsn("app", "app-secret"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, "CREATE TEMP TABLE t (x int)").ReadAll(); err != nil {
				t.Fatal(err)
			}
			// A status statement that follows backend statements fails;
			// the rest is skipped, as after any error. Backend statements
			// after status statements that succeeded run, in order, as
			// on PostgreSQL (asyncpg's prepare() leaves its batch open);
			// after one that failed they are skipped.
			for _, tc := range []struct {
				stmts []string
				want  string
			}{
				{[]string{"INSERT INTO t VALUES (1)", "SELECT count(*) FROM helios_proxy.backends", "INSERT INTO t VALUES (2)"}, `["" "0A000"]`},
				{[]string{"SELECT count(*) FROM helios_proxy.backends", "INSERT INTO t VALUES (3)"}, `["" ""]`},
				{[]string{"SELECT nosuch FROM helios_proxy.backends", "INSERT INTO t VALUES (4)"}, `["42703"]`},
			} {
				stmts := tc.stmts
				pl := conn.StartPipeline(ctx)
				for _, s := range stmts {
					pl.SendQueryParams(s, nil, nil, nil, nil)
				}
				pl.SendPipelineSync()
				if err := pl.Flush(); err != nil {
					t.Fatal(err)
				}
				var codes []string
				for {
					res, err := pl.GetResults()
					if err != nil && pgCode(err) == "" {
						t.Fatalf("%v: %v", stmts, err)
					}
					if _, ok := res.(*pgconn.PipelineSync); ok {
						break
					}
					if rr, ok := res.(*pgconn.ResultReader); ok {
						err = rr.Read().Err
					}
					codes = append(codes, pgCode(err))
				}
				if err := pl.Close(); err != nil {
					t.Fatal(err)
				}
				if got := fmt.Sprintf("%q", codes); got != tc.want {
					t.Errorf("%v: SQLSTATEs %s, want %s", stmts, got, tc.want)
				}
			}
			res, err := conn.Exec(ctx, "SELECT count(*) FROM t; SELECT count(*) FROM helios_proxy.backends").ReadAll()
			if err == nil {
				t.Errorf("mixed Query on a pooled session succeeded, want ERROR 0A000")
			} else if pgCode(err) != "0A000" {
				t.Errorf("mixed Query: %v, want ERROR 0A000", err)
			}
			_ = res
			res, err = conn.Exec(ctx, "SELECT array_agg(x) FROM t").ReadAll()
			if err != nil || string(res[0].Rows[0][0]) != "{3}" {
				t.Errorf("rows in t after the mixed pipelines: %v, %v; want {3} (the others rolled back or skipped)", res, err)
			}
		})
	}
}
