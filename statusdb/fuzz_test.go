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
	for _, cc := range crossChecks() {
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
