package statusdb

import (
	"testing"
	"time"
)

// The expected values below are PostgreSQL 15's answers (the differential
// in proxy/session checks the same against a real server).

func TestIntervalStyles(t *testing.T) {
	iv := func(m, d int32, us int64) value { return value{m: m, d: d, n: us} }
	tests := []struct {
		v                             value
		verbose, sqlStandard, iso8601 string
	}{
		{iv(0, -1, 7384_500_000), "@ 1 day -2 hours -3 mins -4.5 secs ago", "+0-0 -1 +2:03:04.5", "P-1DT2H3M4.5S"},
		{iv(14, 0, 0), "@ 1 year 2 mons", "1-2", "P1Y2M"},
		{iv(-14, 0, 0), "@ 1 year 2 mons ago", "-1-2", "P-1Y-2M"},
		{iv(0, 3, 4*3600_000_000), "@ 3 days 4 hours", "3 4:00:00", "P3DT4H"},
		{iv(0, 0, 0), "@ 0", "0", "PT0S"},
		{iv(0, 0, -1_000_000), "@ 1 sec ago", "-0:00:01", "PT-1S"},
	}
	for _, tt := range tests {
		for style, want := range map[string]string{"postgres_verbose": tt.verbose, "sql_standard": tt.sqlStandard, "iso_8601": tt.iso8601} {
			if got := string(appendIntervalStyle(nil, tt.v, style)); got != want {
				t.Errorf("%s of %+v = %q, want %q", style, tt.v, got, want)
			}
		}
	}
}

func TestDateStyles(t *testing.T) {
	us := time.Date(2026, 3, 14, 15, 8, 44, 535897000, time.UTC).UnixMicro()
	tm := fieldsOf(us, time.UTC)
	tests := []struct {
		st   outStyle
		want string
	}{
		{outStyle{date: "ISO"}, "2026-03-14 15:08:44.535897+00"},
		{outStyle{date: "SQL"}, "03/14/2026 15:08:44.535897 UTC"},
		{outStyle{date: "SQL", dmy: true}, "14/03/2026 15:08:44.535897 UTC"},
		{outStyle{date: "Postgres"}, "Sat Mar 14 15:08:44.535897 2026 UTC"},
		{outStyle{date: "Postgres", dmy: true}, "Sat 14 Mar 15:08:44.535897 2026 UTC"},
		{outStyle{date: "German", dmy: true}, "14.03.2026 15:08:44.535897 UTC"},
	}
	for _, tt := range tests {
		if got := string(appendDateTime(nil, tm, tt.st, true, false)); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.st, got, tt.want)
		}
	}
}

func TestOffsetZones(t *testing.T) {
	for v, want := range map[string]string{"INTERVAL '-08:00:00'": "<-08>+08", "5.5": "<+05:30>-05:30", "0": "<+00>-00"} {
		name, ok, err := offsetZone(v)
		if !ok || err != nil || name != want {
			t.Errorf("offsetZone(%q) = %q, %v, %v; want %q", v, name, ok, err, want)
		}
	}
	loc := LoadZone("<-08>+08")
	if name, off := time.Date(2026, 1, 1, 0, 0, 0, 0, loc).Zone(); name != "-08" || off != -8*3600 {
		t.Errorf("LoadZone(<-08>+08) = %s %d", name, off)
	}
	if _, _, err := offsetZone("INTERVAL '1 day'"); err == nil {
		t.Error("a day in a time zone interval was accepted")
	}
}

func TestJSONB(t *testing.T) {
	for in, want := range map[string]string{
		`{"b":1, "a":[1, 2.50,"x"], "aa": {}, "a": null}`: `{"a": null, "b": 1, "aa": {}}`,
		` [1, 2.0e1, -0.5, true] `:                        `[1, 20, -0.5, true]`,
		`"\u00e9\n"`:                                      `"é\n"`,
	} {
		if got := jsonbText(in); got != want {
			t.Errorf("jsonb %s = %s, want %s", in, got, want)
		}
	}
	for in, detail := range map[string]string{
		`{bad`:       `Token "bad" is invalid.`,
		`[1,`:        `The input string ended unexpectedly.`,
		`{"a" 1}`:    `Expected ":", but found "1".`,
		`[1 2]`:      `Expected "," or "]", but found "2".`,
		`{"a": tru}`: `Token "tru" is invalid.`,
	} {
		_, err := parseJSONErr(in)
		if err == nil || err.Code != codeInvalidText || err.Detail != detail {
			t.Errorf("json %s: %v (%q), want detail %q", in, err, err.Detail, detail)
		}
	}
}

func TestVariances(t *testing.T) {
	// The ports and weights of the differential's backends.
	ints := []value{{n: 5432}, {n: 5432}, {n: 6543}, {n: 5433}}
	for op, want := range map[string]string{
		"stddev":   "555.333533413329", // numeric for int4, at select_div_scale's scale
		"variance": "308395.333333333333",
	} {
		if got := numericVariance(op, tInt4, ints).s; got != want {
			t.Errorf("%s = %s, want %s", op, got, want)
		}
	}
	if got := floatVariance("stddev_pop", []value{{f: 1}, {f: 0.75}, {f: 0.25}, {f: 2.5}}); got.f != 0.8385254915624212 {
		t.Errorf("stddev_pop = %v", got.f)
	}
}
