package statusdb

import (
	"regexp/syntax"
	"strconv"
	"testing"
)

// compileErr compiles p and returns the error it panics with, or nil.
func compileErr(p string, fl reFlags) (err *Error) {
	defer func() {
		if r := recover(); r != nil {
			err = r.(evalError).err
		}
	}()
	compileARE(p, fl)
	return nil
}

// TestAREErrors: invalid patterns give PostgreSQL 15's messages (as
// psql shows them for SELECT 'x' ~ pattern), and what RE2 cannot do is
// 0A000 rather than a wrong answer.
func TestAREErrors(t *testing.T) {
	tests := []struct{ pattern, code, msg string }{
		{"(", "2201B", "invalid regular expression: parentheses () not balanced"},
		{"a)", "2201B", "invalid regular expression: parentheses () not balanced"},
		{"[", "2201B", "invalid regular expression: brackets [] not balanced"},
		{"*a", "2201B", "invalid regular expression: quantifier operand invalid"},
		{"a**", "2201B", "invalid regular expression: quantifier operand invalid"},
		{"a{3,2}", "2201B", "invalid regular expression: invalid repetition count(s)"},
		{"a{256}", "2201B", "invalid regular expression: invalid repetition count(s)"},
		{`a\`, "2201B", `invalid regular expression: invalid escape \ sequence`},
		{`\q`, "2201B", `invalid regular expression: invalid escape \ sequence`},
		{"[z-a]", "2201B", "invalid regular expression: invalid character range"},
		{"[[:foo:]]", "2201B", "invalid regular expression: invalid character class"},
		{`(a)\1`, "0A000", "a back reference in a regular expression is not supported on helios_proxy tables"},
		{"a(?=b)", "0A000", "a lookahead or lookbehind constraint in a regular expression is not supported on helios_proxy tables"},
		{"[[.a.]]", "0A000", "a collating element or equivalence class in a regular expression is not supported on helios_proxy tables"},
	}
	for _, tt := range tests {
		err := compileErr(tt.pattern, reFlags{})
		if err == nil || err.Code != tt.code || err.Message != tt.msg {
			t.Errorf("compileARE(%q) = %v, want %s %q", tt.pattern, err, tt.code, tt.msg)
		}
	}
}

// TestAREMatches: the translation keeps PostgreSQL's meaning of the
// constructs RE2 spells differently (results as PostgreSQL 15 gives them).
func TestAREMatches(t *testing.T) {
	tests := []struct {
		pattern string
		fl      reFlags
		s, want string // the leftmost match; "-" for none
	}{
		{"a|ab", reFlags{}, "abab", "ab"}, // leftmost-longest
		{"p(.*?)a", reFlags{}, "pg-replica-a", "pg-replica"},
		{"(.*)-(.*?)", reFlags{}, "pg-replica-a", "pg-replica-a"}, // greedy: its first quantifier is
		{"a.b", reFlags{}, "a\nb", "a\nb"},                        // . matches a newline
		{"a.b", reFlags{newline: true}, "a\nb", "-"},              // not with flag n
		{"^b", reFlags{newline: true}, "a\nb", "b"},
		{"É", reFlags{ci: true}, "é", "-"}, // ASCII-only case folding
		{"[a-c]+", reFlags{ci: true}, "xAbC", "AbC"},
		{`\yr\w*`, reFlags{}, "pg-replica", "replica"},
		{`\d+\Z`, reFlags{}, "10.1.0.42", "42"},
		{`\x70\u0067`, reFlags{}, "pg", "pg"},
		{"***=a.b", reFlags{}, "axb a.b", "a.b"},
		{"(?i)PG", reFlags{}, "pg", "pg"},
		{"p g # comment", reFlags{expanded: true}, "pg", "pg"},
		{`[\d.]+`, reFlags{}, "ip 10.1.0.2", "10.1.0.2"},
	}
	for _, tt := range tests {
		got := "-"
		if m := compileARE(tt.pattern, tt.fl).FindString(tt.s); m != "" || compileARE(tt.pattern, tt.fl).MatchString(tt.s) {
			got = m
		}
		if got != tt.want {
			t.Errorf("compileARE(%q, %+v).FindString(%q) = %q, want %q", tt.pattern, tt.fl, tt.s, got, tt.want)
		}
	}
}

func TestPreference(t *testing.T) {
	tests := []struct {
		pattern string
		want    int
	}{
		{"abc", 0}, {"a*", 1}, {"a*?", -1}, {"(a*?)-(a*)", -1}, {"(a*)-(a*?)", 1},
		{"a|b*?", 1}, {"a{2}", 0}, {"(b*?){2}", -1}, {"a{2,3}?", -1},
	}
	for _, tt := range tests {
		re, err := syntax.Parse(tt.pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if got := preference(re); got != tt.want {
			t.Errorf("preference(%q) = %d, want %d", tt.pattern, got, tt.want)
		}
	}
}

// TestRegexCacheBounded: patterns taken from rows do not grow the cache
// without bound.
func TestRegexCacheBounded(t *testing.T) {
	for i := range areCacheMax + 100 {
		compileARE("cache-test-"+strconv.Itoa(i), reFlags{})
	}
	if n := areCacheSize.Load(); n > areCacheMax {
		t.Errorf("areCacheSize = %d after %d patterns, want at most %d", n, areCacheMax+100, areCacheMax)
	}
	if !compileARE("cache-test-"+strconv.Itoa(areCacheMax+50), reFlags{}).MatchString("cache-test-1074") {
		t.Error("a pattern compiled past the cache's bound does not match")
	}
}
