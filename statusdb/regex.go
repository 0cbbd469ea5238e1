package statusdb

import (
	"errors"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// Regular expressions: PostgreSQL's advanced regular expressions (ARE)
// translated to Go's RE2 syntax (translateARE), for the operators ~ ~*
// !~ !~*, SIMILAR TO, substring(... FROM pattern) and the regexp_*
// functions. The translation keeps PostgreSQL's meaning where RE2 can
// express it:
//   - . and bracket expressions match a newline (flag s, the default);
//     flag n (or m) makes . not match it and ^ and $ match at lines;
//   - a pattern PostgreSQL deems greedy (preference: its first
//     quantifier is greedy, or it has alternatives) finds the
//     leftmost-longest match (a|ab matches "ab"), as PostgreSQL's; one
//     it deems non-greedy finds Perl's leftmost-first match, the
//     shortest for simple patterns (p(.*?)a);
//   - case-insensitive matching (~*, flag i) folds ASCII letters only,
//     as PostgreSQL does under the C collation;
//   - \y \Y (word boundaries), \Z, \b (backspace), \e, \x.., \u...., \U........,
//     \cX, \0, the directors ***= and ***:, embedded options (?inx...),
//     expanded syntax (flag x);
//   - RE2's errors become PostgreSQL's messages ("parentheses () not
//     balanced", "quantifier operand invalid", ...).
//
// What RE2 cannot do is 0A000: back-references (\1 in a pattern),
// lookahead and lookbehind constraints, collating elements and
// equivalence classes ([[.a.]], [[=a=]]), basic and extended REs
// (flags b and e). \m and \M (start and end of a word) match at any word
// boundary.

// similar analyzes x SIMILAR TO pattern [ESCAPE e], which PostgreSQL's
// grammar makes x ~ similar_to_escape(pattern [, e]) (op !~ for NOT).
func (a *analyzer) similar(op string, x *pg.A_Expr) (*expr, *Error) {
	l, r, err := a.operands(x)
	if err != nil {
		return nil, err
	}
	return a.regexOp(op, l, r, x.Location)
}

// operands analyzes the two sides of an operator.
func (a *analyzer) operands(x *pg.A_Expr) (l, r *expr, err *Error) {
	if l, err = a.expr(x.Lexpr); err != nil {
		return nil, nil, err
	}
	if r, err = a.expr(x.Rexpr); err != nil {
		return nil, nil, err
	}
	return l, r, nil
}

// reFlags are the options of a regular expression.
type reFlags struct {
	ci, newline, expanded, literal bool
}

type reKey struct {
	p  string
	fl reFlags
}

// areCache holds compiled expressions, up to areCacheMax of them: a
// pattern can come from the rows (backend_name ~ host), and the cache
// must not grow with them.
var (
	areCache     sync.Map // reKey → *regexp.Regexp
	areCacheSize atomic.Int64
)

const areCacheMax = 1024

// compileARE compiles a PostgreSQL regular expression, panicking with
// PostgreSQL's error (evalError) when it is invalid.
func compileARE(p string, fl reFlags) *regexp.Regexp {
	key := reKey{p, fl}
	if re, ok := areCache.Load(key); ok {
		return re.(*regexp.Regexp)
	}
	src, err := translateARE(p, fl)
	if err != nil {
		failErr(err)
	}
	re, cerr := regexp.Compile(src)
	if cerr != nil {
		failErr(regexError(cerr))
	}
	if tree, err := syntax.Parse(src, syntax.Perl); err == nil && preference(tree) >= 0 {
		re.Longest()
	}
	if areCacheSize.Load() < areCacheMax {
		if _, loaded := areCache.LoadOrStore(key, re); !loaded {
			areCacheSize.Add(1)
		}
	}
	return re
}

// regexError maps an RE2 syntax error to PostgreSQL's message.
func regexError(err error) *Error {
	msg := err.Error()
	var se *syntax.Error
	if errors.As(err, &se) {
		switch se.Code {
		case syntax.ErrMissingParen, syntax.ErrUnexpectedParen:
			msg = "parentheses () not balanced"
		case syntax.ErrMissingBracket:
			msg = "brackets [] not balanced"
		case syntax.ErrMissingRepeatArgument, syntax.ErrInvalidRepeatOp:
			msg = "quantifier operand invalid"
		case syntax.ErrInvalidRepeatSize:
			msg = "invalid repetition count(s)"
		case syntax.ErrInvalidEscape, syntax.ErrTrailingBackslash:
			msg = `invalid escape \ sequence`
		case syntax.ErrInvalidCharRange:
			msg = "invalid character range"
			if strings.HasPrefix(se.Expr, "[:") {
				msg = "invalid character class"
			}
		case syntax.ErrInvalidCharClass:
			msg = "invalid character class"
		case syntax.ErrLarge, syntax.ErrNestingDepth:
			msg = "regular expression is too complex"
		}
	}
	return errorf("2201B", "invalid regular expression: %s", msg)
}

func invalidRegex(msg string) *Error { return errorf("2201B", "invalid regular expression: %s", msg) }

// preference is PostgreSQL's greediness of a regular expression: 1 when
// it prefers the longest match, -1 the shortest, 0 when it has no
// quantifier. A branch takes the preference of its first part that has
// one, alternatives are greedy, and a quantifier is greedy unless it is
// non-greedy (a fixed count {m} takes its operand's).
func preference(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpAlternate:
		return 1
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		if re.Op == syntax.OpRepeat && re.Min == re.Max {
			return preference(re.Sub[0])
		}
		if re.Flags&syntax.NonGreedy != 0 {
			return -1
		}
		return 1
	case syntax.OpCapture, syntax.OpConcat:
		for _, sub := range re.Sub {
			if p := preference(sub); p != 0 {
				return p
			}
		}
	}
	return 0
}

// translateARE rewrites an ARE as RE2 syntax.
func translateARE(p string, fl reFlags) (string, *Error) {
	switch {
	case strings.HasPrefix(p, "***="):
		p, fl.literal = p[4:], true
	case strings.HasPrefix(p, "***:"):
		p = p[4:]
	}
	if !fl.literal && strings.HasPrefix(p, "(?") {
		if end := strings.IndexByte(p, ')'); end > 2 && strings.Trim(p[2:end], "bceimnpqstwx") == "" {
			for _, c := range p[2:end] {
				switch c {
				case 'b', 'e':
					return "", unsupported("a basic or extended regular expression")
				case 'c':
					fl.ci = false
				case 'i':
					fl.ci = true
				case 'm', 'n':
					fl.newline = true
				case 's':
					fl.newline = false
				case 'q':
					fl.literal = true
				case 't':
					fl.expanded = false
				case 'x':
					fl.expanded = true
				}
			}
			p = p[end+1:]
		}
	}
	var b strings.Builder
	if fl.newline {
		b.WriteString("(?m)")
	} else {
		b.WriteString("(?s)")
	}
	if fl.literal {
		for _, c := range p {
			writeLiteral(&b, c, fl.ci)
		}
		return b.String(), nil
	}
	for i := 0; i < len(p); {
		c, w := utf8.DecodeRuneInString(p[i:])
		switch {
		case fl.expanded && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'):
			i += w
			continue
		case fl.expanded && c == '#':
			for i < len(p) && p[i] != '\n' {
				i++
			}
			continue
		case c == '\\':
			n, err := translateEscape(&b, p[i:], fl.ci, false)
			if err != nil {
				return "", err
			}
			i += n
			continue
		case c == '[':
			n, err := translateBracket(&b, p[i:], fl.ci)
			if err != nil {
				return "", err
			}
			i += n
			continue
		case c == '(' && strings.HasPrefix(p[i:], "(?"):
			if !strings.HasPrefix(p[i:], "(?:") {
				return "", unsupported("a lookahead or lookbehind constraint in a regular expression")
			}
			b.WriteString("(?:")
			i += 3
			continue
		case c == '*' || c == '+' || c == '?' || c == '}':
			b.WriteRune(c)
			i += w
			if i < len(p) && p[i] == '?' { // non-greedy
				b.WriteByte('?')
				i++
			}
			continue
		case c == '{':
			if end := strings.IndexByte(p[i:], '}'); end > 0 {
				for _, part := range strings.SplitN(p[i+1:i+end], ",", 2) {
					if n, err := strconv.Atoi(part); err == nil && n > 255 {
						return "", invalidRegex("invalid repetition count(s)")
					}
				}
			}
			b.WriteByte('{')
			i++
			continue
		case strings.ContainsRune(".^$|()", c):
			b.WriteRune(c)
			i += w
			continue
		}
		writeLiteral(&b, c, fl.ci)
		i += w
	}
	return b.String(), nil
}

// writeLiteral writes the character c to match itself, in both ASCII
// cases when ci.
func writeLiteral(b *strings.Builder, c rune, ci bool) {
	if ci && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		b.WriteByte('[')
		b.WriteRune(c | 0x20)
		b.WriteRune(c &^ 0x20)
		b.WriteByte(']')
		return
	}
	b.WriteString(regexp.QuoteMeta(string(c)))
}

// translateEscape translates the escape at the start of s (a backslash
// and what follows) and returns its length in s. In a bracket
// expression, only character escapes and class shorthands are valid.
func translateEscape(b *strings.Builder, s string, ci, inBracket bool) (int, *Error) {
	if len(s) < 2 {
		return 0, invalidRegex(`invalid escape \ sequence`)
	}
	c, w := utf8.DecodeRuneInString(s[1:])
	n := 1 + w
	char := func(r rune) (int, *Error) {
		if inBracket {
			b.WriteString(`\x{` + strconv.FormatInt(int64(r), 16) + `}`)
		} else {
			writeLiteral(b, r, ci)
		}
		return n, nil
	}
	hexDigits := func(max int) (rune, int) {
		v, k := rune(0), 0
		for k < max && n+k < len(s) {
			d, err := strconv.ParseUint(s[n+k:n+k+1], 16, 8)
			if err != nil {
				break
			}
			v = v*16 + rune(d)
			k++
		}
		return v, k
	}
	switch c {
	case 'd', 'D', 's', 'S', 'w', 'W':
		b.WriteString(s[:2])
		return n, nil
	case 'a':
		return char('\a')
	case 'b':
		return char('\b')
	case 'B':
		return char('\\')
	case 'e':
		return char('\x1b')
	case 'f':
		return char('\f')
	case 'n':
		return char('\n')
	case 'r':
		return char('\r')
	case 't':
		return char('\t')
	case 'v':
		return char('\v')
	case '0':
		return char(0)
	case 'c':
		if n >= len(s) {
			return 0, invalidRegex(`invalid escape \ sequence`)
		}
		n++
		return char(rune(s[n-1]) & 0x1f)
	case 'x':
		v, k := hexDigits(8)
		if k == 0 {
			return 0, invalidRegex(`invalid escape \ sequence`)
		}
		n += k
		return char(v)
	case 'u', 'U':
		want := 4
		if c == 'U' {
			want = 8
		}
		v, k := hexDigits(want)
		if k != want {
			return 0, invalidRegex(`invalid escape \ sequence`)
		}
		n += k
		return char(v)
	}
	if !inBracket {
		switch c {
		case 'y', 'm', 'M':
			b.WriteString(`\b`)
			return n, nil
		case 'Y':
			b.WriteString(`\B`)
			return n, nil
		case 'A':
			b.WriteString(`\A`)
			return n, nil
		case 'Z':
			b.WriteString(`\z`)
			return n, nil
		}
		if c >= '1' && c <= '9' {
			return 0, unsupported("a back reference in a regular expression")
		}
	}
	if c < utf8.RuneSelf && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
		return 0, invalidRegex(`invalid escape \ sequence`)
	}
	return char(c)
}

// translateBracket translates the bracket expression at the start of s
// and returns its length in s.
func translateBracket(b *strings.Builder, s string, ci bool) (int, *Error) {
	var out strings.Builder
	out.WriteByte('[')
	i := 1
	if i < len(s) && s[i] == '^' {
		out.WriteByte('^')
		i++
	}
	first := true
	var letters []rune // ASCII letters and ranges' ends, for ci
	for {
		if i >= len(s) {
			return 0, invalidRegex("brackets [] not balanced")
		}
		c, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == ']' && !first:
			if ci {
				for j := 0; j+1 < len(letters); j += 2 {
					lo, hi := letters[j], letters[j+1]
					out.WriteRune(lo ^ 0x20)
					if hi != lo {
						out.WriteByte('-')
						out.WriteRune(hi ^ 0x20)
					}
				}
			}
			out.WriteByte(']')
			b.WriteString(out.String())
			return i + 1, nil
		case c == '[' && i+1 < len(s) && (s[i+1] == '.' || s[i+1] == '='):
			return 0, unsupported("a collating element or equivalence class in a regular expression")
		case c == '[' && i+1 < len(s) && s[i+1] == ':':
			end := strings.Index(s[i:], ":]")
			if end < 0 {
				return 0, invalidRegex("brackets [] not balanced")
			}
			out.WriteString(s[i : i+end+2])
			i += end + 2
		case c == '\\':
			n, err := translateEscape(&out, s[i:], false, true)
			if err != nil {
				return 0, err
			}
			i += n
		default:
			lo, hi := c, c
			i += w
			if i+1 < len(s) && s[i] == '-' && s[i+1] != ']' {
				hi, w = utf8.DecodeRuneInString(s[i+1:])
				i += 1 + w
				if hi < lo {
					return 0, invalidRegex("invalid character range")
				}
			}
			for _, r := range []rune{lo, hi} {
				if r == '\\' || r == ']' || r == '[' || r == '-' || r == '^' {
					out.WriteByte('\\')
				}
				out.WriteRune(r)
				if lo == hi {
					break
				}
				if r == lo {
					out.WriteByte('-')
				}
			}
			if isASCIILetter(lo) && isASCIILetter(hi) && (lo >= 'a') == (hi >= 'a') {
				letters = append(letters, lo, hi)
			}
		}
		first = false
	}
}

func isASCIILetter(c rune) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// parseREFlags reads the flags argument of a regexp_* function; global
// reports g, which only fn's that take it accept.
func parseREFlags(s, fn string, globalOK bool) (fl reFlags, global bool) {
	for _, c := range s {
		switch c {
		case 'g':
			if !globalOK {
				err := errorf(codeInvalidParamValue, `%s() does not support the "global" option`, fn)
				if fn == "regexp_match" {
					err.Hint = "Use the regexp_matches function instead."
				}
				failErr(err)
			}
			global = true
		case 'i':
			fl.ci = true
		case 'c':
			fl.ci = false
		case 'n', 'm':
			fl.newline = true
		case 's', 'p', 'w':
			fl.newline = c != 's'
		case 'x':
			fl.expanded = true
		case 't':
			fl.expanded = false
		case 'q':
			fl.literal = true
		case 'b', 'e':
			failErr(unsupported("a basic or extended regular expression"))
		default:
			fail(codeInvalidParamValue, `invalid regular expression option: "`+string(c)+`"`)
		}
	}
	return fl, global
}

var (
	ttt  = []typ{tText, tText, tText}
	tttt = []typ{tText, tText, tText, tText}
)

var regexSubstring = []fnSig{
	{args: tt2, res: tText, impl: textFn(func(v []value) value { return regexSubstr(v[0].s, compileARE(v[1].s, reFlags{})) })},
	{args: ttt, res: tText, impl: textFn(func(v []value) value {
		return regexSubstr(v[0].s, compileARE(similarEscape(v[1].s, v[2].s), reFlags{}))
	})},
}

var regexFuncs = map[string][]fnSig{
	"regexp_replace": {
		{args: ttt, res: tText, impl: regexpReplace},
		{args: tttt, res: tText, impl: regexpReplace},
		{args: []typ{tText, tText, tText, tInt4}, res: tText, impl: regexpReplace},
		{args: []typ{tText, tText, tText, tInt4, tInt4}, res: tText, impl: regexpReplace},
		{args: []typ{tText, tText, tText, tInt4, tInt4, tText}, res: tText, impl: regexpReplace},
	},
	"regexp_match": {
		{args: tt2, res: tText, pgt: pgtype.TextArrayOID, impl: regexpMatch},
		{args: ttt, res: tText, pgt: pgtype.TextArrayOID, impl: regexpMatch},
	},
	"regexp_split_to_array": {
		{args: tt2, res: tText, pgt: pgtype.TextArrayOID, impl: regexpSplit},
		{args: ttt, res: tText, pgt: pgtype.TextArrayOID, impl: regexpSplit},
	},
	"regexp_like": sigs(tBool, textFn(func(v []value) value {
		return boolValue(compileARE(v[1].s, flagsArg(v, 2, "regexp_like", false)).MatchString(v[0].s))
	}), tt2, ttt),
	"regexp_count": sigs(tInt4, textFn(regexpCount), tt2, []typ{tText, tText, tInt4}, []typ{tText, tText, tInt4, tText}),
	"similar_to_escape": sigs(tText, textFn(func(v []value) value {
		esc := `\`
		if len(v) == 2 {
			esc = v[1].s
		}
		return value{s: similarEscape(v[0].s, esc)}
	}), tt, tt2),
}

// groups are the subexpressions of a match, or the whole match when the
// pattern has none, as regexp_match and regexp_matches return them.
func groups(s string, m []int) []value {
	if len(m) == 2 {
		return []value{{s: s[m[0]:m[1]]}}
	}
	var parts []value
	for k := 2; k+1 < len(m); k += 2 {
		if m[k] < 0 {
			parts = append(parts, null)
		} else {
			parts = append(parts, value{s: s[m[k]:m[k+1]]})
		}
	}
	return parts
}

// flagsArg reads the flags argument at index i, if present.
func flagsArg(v []value, i int, fn string, globalOK bool) reFlags {
	if len(v) <= i {
		return reFlags{}
	}
	fl, _ := parseREFlags(v[i].s, fn, globalOK)
	return fl
}

// regexSubstr is substring(s FROM pattern): the part matching the first
// parenthesized subexpression, or else the whole match; NULL without one.
func regexSubstr(s string, re *regexp.Regexp) value {
	m := re.FindStringSubmatchIndex(s)
	if m == nil {
		return null
	}
	if len(m) > 2 {
		if m[2] < 0 {
			return null
		}
		return value{s: s[m[2]:m[3]]}
	}
	return value{s: s[m[0]:m[1]]}
}

// regexpReplace is regexp_replace(source, pattern, replacement [, start
// [, n [, flags]]]) or regexp_replace(source, pattern, replacement, flags).
func regexpReplace(e *expr) func(*evalCtx, []value) value {
	flagsAt, startAt := -1, -1
	switch {
	case len(e.args) == 4 && e.args[3].typ == tText:
		flagsAt = 3
	case len(e.args) >= 4:
		startAt = 3
		if len(e.args) == 6 {
			flagsAt = 5
		}
	}
	return func(_ *evalCtx, v []value) value {
		s, repl := v[0].s, v[2].s
		start, nth, flags := int64(1), int64(1), ""
		global := false
		if flagsAt > 0 {
			flags = v[flagsAt].s
		}
		if startAt > 0 {
			if start = v[startAt].n; start <= 0 {
				fail(codeInvalidParamValue, `invalid value for parameter "start": `+strconv.FormatInt(start, 10))
			}
			if len(v) > 4 {
				if nth = v[4].n; nth < 0 {
					fail(codeInvalidParamValue, `invalid value for parameter "n": `+strconv.FormatInt(nth, 10))
				}
			}
		}
		fl, g := parseREFlags(flags, "regexp_replace", true)
		if len(v) > 4 { // n given: 0 is every match, and g does not count
			global = nth == 0
		} else {
			global = g
		}
		re := compileARE(v[1].s, fl)
		from := 0
		for k := int64(1); k < start && from < len(s); k++ {
			_, w := utf8.DecodeRuneInString(s[from:])
			from += w
		}
		var b strings.Builder
		b.WriteString(s[:from])
		last, count := from, int64(0)
		for _, m := range re.FindAllStringSubmatchIndex(s[from:], -1) {
			count++
			if !global && count < nth {
				continue
			}
			b.WriteString(s[last : from+m[0]])
			expandReplacement(&b, repl, s, from, m)
			last = from + m[1]
			checkLength(b.Len())
			if !global {
				break
			}
		}
		b.WriteString(s[last:])
		return value{s: b.String()}
	}
}

// expandReplacement writes repl with \1..\9 replaced by the submatches
// of m (offsets relative to s[from:]), \& by the whole match and \\ by a
// backslash.
func expandReplacement(b *strings.Builder, repl, s string, from int, m []int) {
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '\\' || i+1 >= len(repl) {
			b.WriteByte(c)
			continue
		}
		d := repl[i+1]
		switch {
		case d >= '1' && d <= '9':
			k := int(d - '0')
			if 2*k+1 < len(m) && m[2*k] >= 0 {
				b.WriteString(s[from+m[2*k] : from+m[2*k+1]])
			}
			i++
		case d == '&':
			b.WriteString(s[from+m[0] : from+m[1]])
			i++
		case d == '\\':
			b.WriteByte('\\')
			i++
		default:
			b.WriteByte('\\')
		}
	}
}

func regexpMatch(*expr) func(*evalCtx, []value) value {
	return func(x *evalCtx, v []value) value {
		re := compileARE(v[1].s, flagsArg(v, 2, "regexp_match", false))
		m := re.FindStringSubmatchIndex(v[0].s)
		if m == nil {
			return null
		}
		return value{s: arrayOut(tText, groups(v[0].s, m), x.loc)}
	}
}

// splitParts is the text between matches of a regexp_split_to_array or
// regexp_split_to_table call, ignoring empty matches at the start, at the
// end and right after a match.
func splitParts(v []value, fn string) []value {
	s := v[0].s
	re := compileARE(v[1].s, flagsArg(v, 2, fn, false))
	var parts []value
	last := 0
	for _, m := range re.FindAllStringIndex(s, -1) {
		if m[0] == m[1] && (m[0] == 0 || m[0] == len(s) || m[0] == last) {
			continue
		}
		parts = append(parts, value{s: s[last:m[0]]})
		last = m[1]
	}
	return append(parts, value{s: s[last:]})
}

func regexpSplit(*expr) func(*evalCtx, []value) value {
	return func(x *evalCtx, v []value) value {
		return value{s: arrayOut(tText, splitParts(v, "regexp_split_to_array"), x.loc)}
	}
}

func regexpCount(v []value) value {
	s, from := v[0].s, 0
	if len(v) >= 3 {
		if v[2].n <= 0 {
			fail(codeInvalidParamValue, `invalid value for parameter "start": `+strconv.FormatInt(v[2].n, 10))
		}
		for k := int64(1); k < v[2].n && from < len(s); k++ {
			_, w := utf8.DecodeRuneInString(s[from:])
			from += w
		}
	}
	re := compileARE(v[1].s, flagsArg(v, 3, "regexp_count", false))
	return value{n: int64(len(re.FindAllStringIndex(s[from:], -1)))}
}

// similarEscape converts a SIMILAR TO pattern to an ARE, as PostgreSQL's
// similar_to_escape: % and _ become .* and ., the escape character
// (explicit when escGiven) quotes the next one, and escape-double-quote
// pairs mark the part substring(... SIMILAR ...) returns.
func similarEscape(p, esc string) string {
	var e rune = -1
	switch n := utf8.RuneCountInString(esc); {
	case n == 1:
		e, _ = utf8.DecodeRuneInString(esc)
	case n > 1:
		failErr(&Error{Code: codeInvalidEscape, Message: "invalid escape string", Hint: "Escape string must be empty or one character."})
	}
	var b strings.Builder
	b.WriteString("^(?:")
	afterEscape, inClass, quotes := false, false, 0
	for _, c := range p {
		switch {
		case afterEscape:
			if c == '"' && !inClass {
				switch quotes {
				case 0:
					b.WriteString("){1,1}?(")
				case 1:
					b.WriteString("){1,1}(?:")
				default:
					fail("2200B", "SQL regular expression may not contain more than two escape-double-quote separators")
				}
				quotes++
			} else {
				b.WriteByte('\\')
				b.WriteRune(c)
			}
			afterEscape = false
		case c == e:
			afterEscape = true
		case inClass:
			if c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(c)
			if c == ']' {
				inClass = false
			}
		case c == '[':
			b.WriteRune(c)
			inClass = true
		case c == '%':
			b.WriteString(".*")
		case c == '_':
			b.WriteByte('.')
		case c == '(':
			b.WriteString("(?:")
		case c == '\\' || c == '.' || c == '^' || c == '$':
			b.WriteByte('\\')
			b.WriteRune(c)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteString(")$")
	return b.String()
}
