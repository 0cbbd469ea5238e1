package statusdb

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// bombs are statement shapes that nest n levels deep, each on
// helios_proxy.backends so that the guard answers for them. Left-deep
// chains (+, ||, ::, IS, COLLATE, AT TIME ZONE, UNION, JOIN) cost bison
// nothing and reach any depth; the others stop at bison's 10,000 states.
var bombs = []struct {
	name string
	sql  func(n int) string
}{
	{"plus", func(n int) string { return "SELECT 1" + strings.Repeat("+1", n) + " FROM helios_proxy.backends" }},
	{"concat", func(n int) string { return "SELECT 'a'" + strings.Repeat(" || 'a'", n) + " FROM helios_proxy.backends" }},
	{"cast", func(n int) string { return "SELECT 1" + strings.Repeat("::int", n) + " FROM helios_proxy.backends" }},
	{"is true", func(n int) string {
		return "SELECT true" + strings.Repeat(" IS TRUE", n) + " FROM helios_proxy.backends"
	}},
	{"collate", func(n int) string {
		return "SELECT 'a'" + strings.Repeat(` COLLATE "C"`, n) + " FROM helios_proxy.backends"
	}},
	{"at time zone", func(n int) string {
		return "SELECT now()" + strings.Repeat(" AT TIME ZONE 'UTC'", n) + " FROM helios_proxy.backends"
	}},
	{"operator", func(n int) string {
		return "SELECT 1" + strings.Repeat(" OPERATOR(pg_catalog.+) 1", n) + " FROM helios_proxy.backends"
	}},
	{"json arrow", func(n int) string {
		return "SELECT '{}'::jsonb" + strings.Repeat("->'a'", n) + " FROM helios_proxy.backends"
	}},
	{"union", func(n int) string {
		return "SELECT 1 FROM helios_proxy.backends" + strings.Repeat(" UNION SELECT 1", n)
	}},
	{"join", func(n int) string {
		return "SELECT 1 FROM helios_proxy.backends" + strings.Repeat(" JOIN t ON true", n)
	}},
	{"parens", func(n int) string {
		return "SELECT " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n) + " FROM helios_proxy.backends"
	}},
	{"not", func(n int) string { return "SELECT " + strings.Repeat("NOT ", n) + "true FROM helios_proxy.backends" }},
	{"minus", func(n int) string { return "SELECT " + strings.Repeat("- ", n) + "port FROM helios_proxy.backends" }},
	{"case", func(n int) string {
		return "SELECT " + strings.Repeat("CASE WHEN true THEN ", n) + "1" + strings.Repeat(" END", n) + " FROM helios_proxy.backends"
	}},
	{"case else", func(n int) string {
		return "SELECT " + strings.Repeat("CASE WHEN true THEN 1 ELSE ", n) + "1" + strings.Repeat(" END", n) + " FROM helios_proxy.backends"
	}},
	{"function", func(n int) string {
		return "SELECT " + strings.Repeat("abs(", n) + "1" + strings.Repeat(")", n) + " FROM helios_proxy.backends"
	}},
	{"subquery", func(n int) string {
		return "SELECT " + strings.Repeat("(SELECT ", n) + "1" + strings.Repeat(")", n) + " FROM helios_proxy.backends"
	}},
	{"exists", func(n int) string {
		return "SELECT " + strings.Repeat("EXISTS (SELECT ", n) + "1" + strings.Repeat(")", n) + " FROM helios_proxy.backends"
	}},
	{"array", func(n int) string {
		return "SELECT " + strings.Repeat("ARRAY[", n) + "1" + strings.Repeat("]", n) + " FROM helios_proxy.backends"
	}},
	{"row", func(n int) string {
		return "SELECT " + strings.Repeat("ROW(", n) + "1" + strings.Repeat(")", n) + " FROM helios_proxy.backends"
	}},
	{"plus parens", func(n int) string {
		return "SELECT " + strings.Repeat("(1+", n) + "1" + strings.Repeat(")", n) + " FROM helios_proxy.backends"
	}},
	{"between", func(n int) string {
		return "SELECT 1 FROM helios_proxy.backends WHERE " + strings.Repeat("port BETWEEN 1 AND (", n) + "2" + strings.Repeat(")", n)
	}},
	{"and or", func(n int) string {
		return "SELECT 1 FROM helios_proxy.backends WHERE " + strings.Repeat("(port = 1 AND ", n) + "true" + strings.Repeat(" OR false)", n)
	}},
	{"in subquery", func(n int) string {
		return "SELECT 1 FROM helios_proxy.backends WHERE port IN " + strings.Repeat("(SELECT 1 WHERE 1 IN ", n) + "(1)" + strings.Repeat(")", n)
	}},
}

// protoDepth is how deeply m's messages nest, m included.
func protoDepth(m protoreflect.Message) int {
	deepest := 0
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil || fd.IsMap():
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				deepest = max(deepest, protoDepth(l.Get(i).Message()))
			}
		default:
			deepest = max(deepest, protoDepth(v.Message()))
		}
		return true
	})
	return 1 + deepest
}

// protoSlack is the constant part of the allowance in checkEstimate: the
// wrappers around a statement (ParseResult, RawStmt, Node, the statement,
// a target, a constant) vary with the kind of statement. What matters is
// that the estimate grows as fast as the tree, which a constant cannot
// hide from a fuzzer that repeats constructs.
const protoSlack = 8

// checkEstimate fails if sql parses into a tree deeper than scanDepth's
// estimate allows: two protobuf levels per unit, plus protoSlack.
func checkEstimate(t *testing.T, sql string) {
	t.Helper()
	est, _ := scanDepth(sql)
	if est > maxDepth {
		return // the guard refuses it: nothing to check
	}
	tree, err := pg.Parse(sql)
	if err != nil {
		return
	}
	if d := protoDepth(tree.ProtoReflect()); d > 2*est+protoSlack {
		t.Errorf("scanDepth(%q) = %d, but the tree nests %d protobuf levels (> 2×%d + %d)", sql, est, d, est, protoSlack)
	}
}

func TestDepthEstimate(t *testing.T) {
	for _, b := range bombs {
		for _, n := range []int{0, 1, 2, 3, 10, 50} {
			checkEstimate(t, b.sql(n))
		}
	}
	for _, sql := range estimateSeeds {
		checkEstimate(t, sql)
	}
}

// estimateSeeds are statements of many kinds for TestDepthEstimate and
// the fuzz targets' corpora.
var estimateSeeds = []string{
	"SELECT 1",
	"",
	";;",
	"SELECT * FROM helios_proxy.circuit_breaker_status",
	"SELECT x FROM t WHERE a = 1 OR b = 2 AND c = 3 OR (d = 4 AND (e = 5 OR f = 6))",
	"WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b",
	"SELECT CASE x WHEN 1 THEN 'a' WHEN 2 THEN 'b' ELSE CASE WHEN y THEN 1 END END FROM t",
	"SELECT x[1][2:3], (t).a.b, ARRAY[[1,2],[3,4]] FROM t",
	"SELECT a FROM t WHERE a BETWEEN SYMMETRIC 1 AND 2 AND b NOT BETWEEN 3 AND 4",
	"SELECT count(*) FILTER (WHERE x > 1) OVER (PARTITION BY y ORDER BY z) FROM t",
	"SELECT 1 FROM t1 JOIN t2 USING (a) LEFT JOIN t3 ON t3.a = t2.a CROSS JOIN t4 NATURAL JOIN t5",
	"SELECT E'\\'' || 'it''s' || $$a$$ || $q$b$q$ || U&'\\0041' || B'01' || X'1F' FROM t",
	"SELECT -x::int[], +-+-1, 1 <> 2, a->>'b'->'c' #> '{d}', 3 !~~* 'x' FROM t",
	"INSERT INTO t VALUES (1, 2), (3, (SELECT 4)) ON CONFLICT (a) DO UPDATE SET b = excluded.b + 1 RETURNING *",
	"UPDATE t SET a = a + 1 WHERE b IN (SELECT c FROM u WHERE d = ANY(ARRAY[1,2]))",
	"SELECT substring('abc' FROM 1 FOR 2), extract(year FROM now()), position('a' IN 'abc'), trim(both 'x' FROM 'xax')",
	"SELECT 1 UNION ALL (SELECT 2 INTERSECT SELECT 3) EXCEPT SELECT 4 ORDER BY 1 LIMIT 1",
	"SELECT x IS NOT DISTINCT FROM y IS NOT NULL, x ISNULL, y NOTNULL, 'a' SIMILAR TO 'b' ESCAPE 'c' FROM t",
	"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 1 + (2 * 3); END",
	"SELECT json_object('a' VALUE 1), xmlelement(name a, 'b'), (SELECT 1)::text COLLATE \"C\"",
	"SELECT json_object('a' : json_object('b' : json_array(json_array(1)))), x[1:x[2:3]] FROM t",
	"SELECT string_agg(x, ',' ORDER BY y) WITHIN GROUP (ORDER BY z), 1::numeric(10, 2) FROM t",
}

// TestDepthEstimateIsCheap checks that ordinary big statements are far
// below the limit: what the limit must never refuse.
func TestDepthEstimateOfBigQueries(t *testing.T) {
	var in, or strings.Builder
	for i := range 5000 {
		if i > 0 {
			in.WriteString(", ")
			or.WriteString(" OR ")
		}
		fmt.Fprintf(&in, "'backend-%04d'", i)
		fmt.Fprintf(&or, "backend_name = 'backend-%04d'", i)
	}
	for _, sql := range []string{
		"SELECT * FROM helios_proxy.circuit_breaker_status WHERE backend_name IN (" + in.String() + ")",
		"SELECT * FROM helios_proxy.circuit_breaker_status WHERE " + or.String(),
		"SELECT CASE " + strings.Repeat("WHEN port = 1 THEN 'a' ", 5000) + "END FROM helios_proxy.backends",
		"SELECT " + strings.Repeat("port + 1, ", 5000) + "1 FROM helios_proxy.backends",
		"SELECT 1 FROM helios_proxy.backends WHERE " + strings.Repeat("port BETWEEN 1 AND 2 AND ", 5000) + "true",
	} {
		d, named := scanDepth(sql)
		if d > 20 || !named {
			t.Errorf("scanDepth(%.80q...) = %d, %v; want at most 20, true", sql, d, named)
		}
		if _, err := New().Prepare(sql); err != nil && len(sql) <= maxSQLBytes {
			var e *Error
			if errors.As(err, &e) && (e.Code == "54001" || e.Code == "54000") {
				t.Errorf("Prepare(%.80q...): %v", sql, err)
			}
		}
	}
}

func TestGuard(t *testing.T) {
	db := New()
	deep := "SELECT 1" + strings.Repeat("+1", 25000) + " FROM helios_proxy.backends"
	huge := "SELECT 1 FROM helios_proxy.backends WHERE port IN (" + strings.Repeat("1, ", maxSQLBytes/3) + "1)"
	tests := []struct {
		name, sql string
		code      string // "" for ErrNotStatusQuery
	}{
		{"deep", deep, "54001"},
		{"deep, name quoted", strings.Replace(deep, "helios_proxy", `"helios_proxy"`, 1), "54001"},
		{"deep, name in a comment only", "/* helios_proxy */ SELECT 1" + strings.Repeat("+1", 25000), ""},
		{"deep, name in a string only", "SELECT 'helios_proxy' || 1" + strings.Repeat("+1", 25000), ""},
		{"deep parentheses", "SELECT " + strings.Repeat("(", 1e6) + "1 FROM helios_proxy.backends", "54001"},
		{"huge", huge, "54000"},
		{"huge, name in a comment only", "-- helios_proxy\n" + strings.Repeat("SELECT 1;", maxSQLBytes/9+1), ""},
	}
	for _, tt := range tests {
		_, err := db.Prepare(tt.sql)
		var e *Error
		switch {
		case tt.code == "" && !errors.Is(err, ErrNotStatusQuery):
			t.Errorf("%s: Prepare = %v, want ErrNotStatusQuery", tt.name, err)
		case tt.code != "" && (!errors.As(err, &e) || e.Code != tt.code || e.Hint == ""):
			t.Errorf("%s: Prepare = %#v, want %s with a hint", tt.name, err, tt.code)
		}
		stmts, err := db.Split(tt.sql)
		switch {
		case tt.code != "" && (!errors.As(err, &e) || e.Code != tt.code):
			t.Errorf("%s: Split = %v, want %s", tt.name, err, tt.code)
		case tt.code == "" && err != nil:
			t.Errorf("%s: Split: %v", tt.name, err)
		case tt.code == "" && len(stmts) == 0:
			t.Errorf("%s: Split returned no statement", tt.name)
		}
	}
	// A deep statement that is not ours is split as usual (the raw
	// parser does not recurse), so that the proxy relays it.
	stmts, err := db.Split("/* helios_proxy */ SELECT 1" + strings.Repeat("+1", 25000) + "; SELECT 2")
	if err != nil || len(stmts) != 2 {
		t.Errorf("Split(deep, not ours) = %d statements, %v; want 2", len(stmts), err)
	}
}

// largestAccepted returns the largest n for which the guard lets b's
// statement through (the depth estimate grows with n).
func largestAccepted(sql func(int) string) int {
	lo, hi := 0, 1
	for d, _ := scanDepth(sql(hi)); d <= maxDepth; d, _ = scanDepth(sql(hi)) {
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if d, _ := scanDepth(sql(mid)); d <= maxDepth {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// parseInChild parses bomb name at size n with pg.Parse directly (no
// guard) in a child process whose threads have stackKB of stack, and
// reports whether the child crashed.
func parseInChild(t *testing.T, name string, n, stackKB int) (crashed bool, out string) {
	t.Helper()
	// The shell's ulimit sets RLIMIT_STACK, which glibc reads at start-up
	// for the default size of every thread runtime/cgo creates.
	cmd := exec.Command("/bin/sh", "-c", `ulimit -s "$1" && exec "$2" -test.run='^TestParseChild$' -test.count=1 -test.v=true`,
		"sh", strconv.Itoa(stackKB), os.Args[0])
	cmd.Env = append(os.Environ(), "HELIOS_PARSE_CHILD="+name+":"+strconv.Itoa(n))
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && (ws.Signaled() || ws.ExitStatus() == 2) {
			return true, string(b) // a Go fatal signal exits with status 2
		}
	}
	if err != nil {
		t.Fatalf("child %s(%d): %v\n%s", name, n, err, b)
	}
	return false, string(b)
}

// TestParseChild is the child of parseInChild.
func TestParseChild(t *testing.T) {
	name, n, ok := strings.Cut(os.Getenv("HELIOS_PARSE_CHILD"), ":")
	if !ok {
		t.Skip("only runs as the child of TestParserStackMargin")
	}
	size, _ := strconv.Atoi(n)
	for _, b := range bombs {
		if b.name == name {
			// Off the main thread: on the threads runtime/cgo creates.
			done := make(chan error)
			go func() {
				_, err := pg.Parse(b.sql(size))
				done <- err
			}()
			t.Logf("pg.Parse: %v", <-done)
			return
		}
	}
	t.Fatalf("no bomb %q", name)
}

// TestParserStackMargin is the measurement behind maxDepth: every shape at
// the largest size the guard lets through parses, without the guard, in a
// process whose threads have 512 KB of stack (a sixteenth of the usual
// 8 MB), while the 25,000-term sum still crashes with 8 MB. With
// HELIOS_MEASURE_STACK=8192,1024 (stack sizes in KB) it also finds the
// smallest crashing size of each shape with those stacks (slow: minutes
// per size).
func TestParserStackMargin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	if crashed, out := parseInChild(t, "plus", 25000, 8192); !crashed {
		t.Fatalf("the 25,000-term sum did not crash pg.Parse with 8 MB stacks; the test cannot see crashes:\n%s", out)
	}
	for _, b := range bombs {
		n := largestAccepted(b.sql)
		crashed, out := parseInChild(t, b.name, n, 512)
		if testing.Verbose() {
			t.Logf("%-12s guard accepts %5d levels (%d bytes); with 512 KB stacks: %s", b.name, n, len(b.sql(n)), childResult(out))
		}
		if crashed {
			t.Errorf("%s: pg.Parse at %d levels (the largest the guard accepts) crashed with 512 KB stacks:\n%.2000s", b.name, n, out)
		}
		for _, field := range strings.FieldsFunc(os.Getenv("HELIOS_MEASURE_STACK"), func(r rune) bool { return r == ',' }) {
			kb, err := strconv.Atoi(field)
			if err != nil {
				t.Fatalf("HELIOS_MEASURE_STACK: %v", err)
			}
			// Right-recursive shapes crash only below bison's limit, so
			// step up to the first crash, then bisect.
			lo, hi := n, n
			for hi < 60000 {
				if crashed, _ := parseInChild(t, b.name, hi, kb); crashed {
					break
				}
				lo, hi = hi, hi+hi/4+1
			}
			if hi >= 60000 {
				t.Logf("%-12s guard accepts %5d; %4d KB stacks: no crash up to 60000", b.name, n, kb)
				continue
			}
			for hi-lo > 1 {
				mid := (lo + hi) / 2
				if crashed, _ := parseInChild(t, b.name, mid, kb); crashed {
					hi = mid
				} else {
					lo = mid
				}
			}
			t.Logf("%-12s guard accepts %5d; %4d KB stacks: crashes from %d (%.1f times)", b.name, n, kb, hi, float64(hi)/float64(n))
		}
	}
}

// childResult picks TestParseChild's log line out of its output.
func childResult(out string) string {
	_, after, ok := strings.Cut(out, "pg.Parse: ")
	if !ok {
		return "no result"
	}
	line, _, _ := strings.Cut(after, "\n")
	return line
}
