package statusdb

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzStatement feeds arbitrary statement text and one parameter value
// through Prepare, Execute and AppendValue. Whatever the input, nothing may
// panic, every error is an *Error with a five-character SQLSTATE and a
// position inside the text, and every statement we answer is one that
// Mentions lets through.
func FuzzStatement(f *testing.F) {
	for _, cc := range append(crossChecks(), relationalChecks()...) {
		f.Add(cc.sql, "1", false)
	}
	for _, s := range []string{
		"SELECT * FROM helios_proxy.circuit_breaker_status WHERE backend_name = $1",
		"SELECT backend_name FROM helios_proxy.circuit_breaker_status WHERE backend_name LIKE $1 ESCAPE $1",
		"SELECT * FROM helios_proxy.circuit_events WHERE event_time > now() - $1::interval ORDER BY id DESC LIMIT 2",
		"SELECT count(*), circuit_state FROM helios_proxy.circuit_breaker_status GROUP BY 2 HAVING count(*) > $1",
		"SELECT DISTINCT lower(circuit_state) FROM helios_proxy.circuit_breaker_status ORDER BY 1 DESC NULLS FIRST",
		"SELECT $1::timestamptz + interval '1 month' FROM helios_proxy.backends",
		"SELECT round(error_rate::numeric, $1) FROM helios_proxy.circuit_breaker_status",
		// Patterns and format strings from the fuzzer (regex.go, strfunc.go).
		"SELECT regexp_replace(backend_name, $1, '<\\1\\&>', 'g'), regexp_match(host, $1, 'i') FROM helios_proxy.backends",
		"SELECT regexp_split_to_array(backend_name, $1), substring(host FROM $1), backend_name ~* $1 FROM helios_proxy.backends",
		"SELECT backend_name SIMILAR TO $1, substring(backend_name SIMILAR $1 ESCAPE '#') FROM helios_proxy.backends",
		"SELECT format($1, backend_name, port, weight), to_char(port, $1) FROM helios_proxy.backends",
		"SELECT lpad(backend_name, port % 40, $1), split_part(host, $1, -2), translate(backend_name, $1, 'xy') FROM helios_proxy.backends",
	} {
		f.Add(s, "%a_", false)
		f.Add(s, "\x00\x00\x00\x00\x00\x00\x00\x01", true)
	}
	db := New()
	in := testInput()
	f.Fuzz(func(t *testing.T, sql, param string, binaryParam bool) {
		st, err := db.Prepare(sql)
		if err != nil {
			checkError(t, sql, err)
			return
		}
		if !Mentions([]byte(sql)) && !strings.Contains(strings.ToUpper(sql), "U&") {
			t.Fatalf("Prepare(%q) succeeded but Mentions says no", sql)
		}
		var params [][]byte
		for range st.ParamOIDs() {
			params = append(params, []byte(param))
		}
		format := int16(0)
		if binaryParam {
			format = 1
		}
		res, err := st.Execute(in, params, []int16{format})
		if err != nil {
			checkError(t, "", err)
			return
		}
		for r, row := range res.Rows {
			if len(row) != len(res.Columns) {
				t.Fatalf("row %d has %d values for %d columns", r, len(row), len(res.Columns))
			}
			for c := range row {
				for _, f := range []int16{0, 1} {
					if _, _, err := res.AppendValue(nil, r, c, f); err != nil {
						t.Fatalf("AppendValue(%d, %d, %d): %v", r, c, f, err)
					}
				}
			}
		}
	})
}

// FuzzQuery is the proxy's path for a simple-protocol Query: Split, then
// Prepare and Execute each statement over the fixture snapshot. Nothing
// may crash or panic (the guard keeps deep and long statements from the C
// parser), and every error is an *Error with a SQLSTATE.
func FuzzQuery(f *testing.F) {
	for _, cc := range append(crossChecks(), relationalChecks()...) {
		f.Add(cc.sql + "; " + cc.sql)
	}
	for _, s := range estimateSeeds {
		f.Add(s)
	}
	for _, b := range bombs {
		f.Add(b.sql(3))
		f.Add(b.sql(600)) // beyond the limit for most shapes
	}
	db := New()
	in := testInput()
	f.Fuzz(func(t *testing.T, sql string) {
		stmts, err := db.Split(sql)
		if err != nil {
			checkError(t, sql, err)
			return
		}
		for _, s := range stmts {
			if !strings.Contains(sql, s) {
				t.Fatalf("Split(%q): %q is not a substring", sql, s)
			}
			st, err := db.Prepare(s)
			if err != nil {
				checkError(t, s, err)
				continue
			}
			res, err := st.Execute(in, make([][]byte, len(st.ParamOIDs())), nil)
			if err != nil {
				checkError(t, "", err)
				continue
			}
			for r := range res.Rows {
				for c := range res.Columns {
					if _, _, err := res.AppendValue(nil, r, c, 0); err != nil {
						t.Fatalf("AppendValue(%d, %d): %v", r, c, err)
					}
				}
			}
		}
	})
}

// FuzzDepthEstimate checks the guard's depth estimate against the real
// parse tree: a statement the guard lets through may nest at most two
// protobuf levels per unit of its estimate, or the limit measured in
// TestParserStackMargin does not hold. A crash here is a shape the
// estimate misses.
func FuzzDepthEstimate(f *testing.F) {
	for _, s := range estimateSeeds {
		f.Add(s)
	}
	for _, b := range bombs {
		f.Add(b.sql(2))
	}
	for _, cc := range append(crossChecks(), relationalChecks()...) {
		f.Add(cc.sql)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		checkEstimate(t, sql)
	})
}

func checkError(t *testing.T, sql string, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if len(e.Code) != 5 || e.Message == "" {
		t.Fatalf("bad error %#v", e)
	}
	if e.Position < 0 || (sql != "" && e.Position > utf8.RuneCountInString(sql)+1) {
		t.Fatalf("error position %d outside %q", e.Position, sql)
	}
}
