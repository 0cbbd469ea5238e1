package statusdb

import (
	"crypto/md5"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
)

// String functions, as PostgreSQL 15 defines them under the C collation
// the schema's text columns use: case mapping (initcap) changes ASCII
// letters only, positions and lengths count characters.

// maxStringResult bounds the text repeat, lpad, rpad and format's widths
// make. PostgreSQL allows 1 GB ("requested length too large"); the proxy
// answers status queries in its own memory, beside every session it
// relays, so it refuses much earlier, with the same error.
const maxStringResult = 16 << 20

func checkLength(n int) {
	if n > maxStringResult {
		fail("54000", "requested length too large")
	}
}

// textFn makes a strict function of text arguments.
func textFn(f func(v []value) value) func(*expr) func(*evalCtx, []value) value {
	return func(*expr) func(*evalCtx, []value) value {
		return func(_ *evalCtx, v []value) value { return f(v) }
	}
}

var (
	tt   = []typ{tText}
	tt2  = []typ{tText, tText}
	tti  = []typ{tText, tInt4}
	ttii = []typ{tText, tInt4, tInt4}
)

func sigs(res typ, impl func(*expr) func(*evalCtx, []value) value, argLists ...[]typ) []fnSig {
	out := make([]fnSig, len(argLists))
	for i, a := range argLists {
		out[i] = fnSig{args: a, res: res, impl: impl}
	}
	return out
}

var stringFuncs = map[string][]fnSig{
	"concat":         {{args: []typ{anyArg}, variadic: true, res: tText, lax: true, impl: concatFn(false)}},
	"concat_ws":      {{args: []typ{tText, anyArg}, variadic: true, res: tText, lax: true, impl: concatFn(true)}},
	"format":         {{args: []typ{tText}, res: tText, lax: true, impl: formatFn}, {args: []typ{tText, anyArg}, variadic: true, res: tText, lax: true, impl: formatFn}},
	"substr":         sigs(tText, textFn(substrFn), tti, ttii),
	"substring":      append(sigs(tText, textFn(substrFn), tti, ttii), regexSubstring...),
	"left":           sigs(tText, textFn(func(v []value) value { return value{s: leftRight(v[0].s, v[1].n, true)} }), tti),
	"right":          sigs(tText, textFn(func(v []value) value { return value{s: leftRight(v[0].s, v[1].n, false)} }), tti),
	"position":       sigs(tInt4, textFn(strpos), tt2),
	"strpos":         sigs(tInt4, textFn(strpos), tt2),
	"octet_length":   sigs(tInt4, textFn(func(v []value) value { return value{n: int64(len(v[0].s))} }), tt),
	"initcap":        sigs(tText, textFn(func(v []value) value { return value{s: initcap(v[0].s)} }), tt),
	"replace":        sigs(tText, textFn(replaceFn), []typ{tText, tText, tText}),
	"translate":      sigs(tText, textFn(translateFn), []typ{tText, tText, tText}),
	"reverse":        sigs(tText, textFn(reverseFn), tt),
	"repeat":         sigs(tText, textFn(repeatFn), tti),
	"lpad":           sigs(tText, textFn(padFn(true)), tti, []typ{tText, tInt4, tText}),
	"rpad":           sigs(tText, textFn(padFn(false)), tti, []typ{tText, tInt4, tText}),
	"split_part":     sigs(tText, textFn(splitPart), []typ{tText, tText, tInt4}),
	"md5":            sigs(tText, textFn(func(v []value) value { h := md5.Sum([]byte(v[0].s)); return value{s: hex.EncodeToString(h[:])} }), tt),
	"starts_with":    sigs(tBool, textFn(func(v []value) value { return boolValue(strings.HasPrefix(v[0].s, v[1].s)) }), tt2),
	"quote_literal":  {{args: tt, res: tText, impl: quoteLiteralFn(false)}, {args: []typ{anyArg}, res: tText, impl: quoteLiteralFn(false)}},
	"quote_nullable": {{args: tt, res: tText, lax: true, impl: quoteLiteralFn(true)}, {args: []typ{anyArg}, res: tText, lax: true, impl: quoteLiteralFn(true)}},
	"ascii":          sigs(tInt4, textFn(asciiFn), tt),
	"chr":            sigs(tText, textFn(chrFn), []typ{tInt4}),
	"to_hex": {
		{args: []typ{tInt4}, res: tText, impl: textFn(func(v []value) value { return value{s: strconv.FormatUint(uint64(uint32(v[0].n)), 16)} })},
		{args: []typ{tInt8}, res: tText, impl: textFn(func(v []value) value { return value{s: strconv.FormatUint(uint64(v[0].n), 16)} })},
	},
}

// argText is the text output of an argument of a call, as concat and
// format print it (booleans as t and f, unlike a cast to text).
func argText(x *evalCtx, e *expr, v value) string {
	switch {
	case e.pgt == pgtype.Float4OID:
		return float4Text(v.f)
	case e.pgt != 0 && specialWire(e.pgt) && e.pgt != 18 && e.pgt != 1034 && heldElem[e.pgt] == 0:
		return regOut(e.pgt, v.n, x)
	}
	return string(appendText(nil, e.typ, v, x.loc))
}

func concatFn(ws bool) func(e *expr) func(*evalCtx, []value) value {
	return func(e *expr) func(*evalCtx, []value) value {
		args := e.args
		return func(x *evalCtx, v []value) value {
			var b strings.Builder
			sep, first := "", 0
			if ws {
				if v[0].null {
					return null
				}
				sep, first = v[0].s, 1
			}
			wrote := false
			for i := first; i < len(v); i++ {
				if v[i].null {
					continue
				}
				if wrote {
					b.WriteString(sep)
				}
				b.WriteString(argText(x, args[i], v[i]))
				wrote = true
			}
			return value{s: b.String()}
		}
	}
}

// formatFn is format(fmt, args...): %[n$][-][width]{s,I,L} and %%, width
// a number, * or *n$, as PostgreSQL's text_format.
func formatFn(e *expr) func(*evalCtx, []value) value {
	args := e.args
	return func(x *evalCtx, v []value) value {
		if v[0].null {
			return null
		}
		f := v[0].s
		var b strings.Builder
		next := 1 // the next argument
		unterminated := func() {
			failErr(&Error{Code: codeInvalidParamValue, Message: "unterminated format() type specifier", Hint: `For a single "%" use "%%".`})
		}
		// number reads digits at f[i:], returning the value and the index after them.
		number := func(i int) (int, int) {
			n := 0
			for i < len(f) && f[i] >= '0' && f[i] <= '9' {
				if n > (1<<31-1)/10 {
					fail(codeInvalidParamValue, "number is out of range")
				}
				n = n*10 + int(f[i]-'0')
				i++
			}
			return n, i
		}
		arg := func(pos int) (value, *expr) {
			if pos >= len(v) {
				fail(codeInvalidParamValue, "too few arguments for format()")
			}
			return v[pos], args[pos]
		}
		for i := 0; i < len(f); i++ {
			if f[i] != '%' {
				b.WriteByte(f[i])
				continue
			}
			i++
			if i >= len(f) {
				unterminated()
			}
			if f[i] == '%' {
				b.WriteByte('%')
				continue
			}
			// [argpos$][flags][width]type
			argPos, minus, width, widthArg := 0, false, 0, -1
			if f[i] >= '0' && f[i] <= '9' {
				n, j := number(i)
				if j < len(f) && f[j] == '$' {
					if n == 0 {
						fail(codeInvalidParamValue, "format specifies argument 0, but arguments are numbered from 1")
					}
					argPos, i = n, j+1
				} else {
					width, i = n, j
					goto conversion
				}
			}
			if i < len(f) && f[i] == '-' {
				minus = true
				i++
			}
			if i < len(f) && f[i] >= '0' && f[i] <= '9' {
				width, i = number(i)
			} else if i < len(f) && f[i] == '*' {
				i++
				if i < len(f) && f[i] >= '0' && f[i] <= '9' {
					n, j := number(i)
					if j >= len(f) || f[j] != '$' {
						unterminated()
					}
					if n == 0 {
						fail(codeInvalidParamValue, "format specifies argument 0, but arguments are numbered from 1")
					}
					widthArg, i = n, j+1
				} else {
					widthArg = next
					next++
				}
			}
		conversion:
			if i >= len(f) {
				unterminated()
			}
			if widthArg >= 0 {
				wv, we := arg(widthArg)
				if !wv.null {
					if we.typ != tInt4 {
						n, err := parseInt(tInt4, argText(x, we, wv))
						if err != nil {
							failErr(err)
						}
						wv = n
					}
					width = int(wv.n)
					if width < 0 {
						minus, width = true, -width
					}
				}
			}
			c := f[i]
			if c != 's' && c != 'I' && c != 'L' {
				r, _ := utf8.DecodeRuneInString(f[i:])
				failErr(&Error{Code: codeInvalidParamValue, Message: `unrecognized format() type specifier "` + string(r) + `"`, Hint: `For a single "%" use "%%".`})
			}
			if argPos == 0 {
				argPos = next
			}
			next = argPos + 1
			av, ae := arg(argPos)
			var s string
			switch {
			case av.null && c == 'I':
				fail("22004", "null values cannot be formatted as an SQL identifier")
			case av.null && c == 'L':
				s = "NULL"
			case av.null:
			case c == 's':
				s = argText(x, ae, av)
			case c == 'I':
				s = quoteIdent(argText(x, ae, av))
			default:
				s = quoteLiteral(argText(x, ae, av))
			}
			checkLength(width)
			pad := width - utf8.RuneCountInString(s)
			if pad > 0 && !minus {
				b.WriteString(strings.Repeat(" ", pad))
			}
			b.WriteString(s)
			if pad > 0 && minus {
				b.WriteString(strings.Repeat(" ", pad))
			}
			checkLength(b.Len())
		}
		return value{s: b.String()}
	}
}

// substrFn is substr(s, start [, count]) in characters, as PostgreSQL's
// text_substr: positions before the first character count towards count.
func substrFn(v []value) value {
	s, start := v[0].s, v[1].n
	if len(v) == 3 && v[2].n < 0 {
		fail("22011", "negative substring length not allowed")
	}
	end := int64(-1) // no end
	if len(v) == 3 {
		end = start + v[2].n
		if end < start { // overflow
			end = -1
		}
		if end != -1 && end <= 1 {
			return value{s: ""}
		}
	}
	if start < 1 {
		start = 1
	}
	i := 0
	for n := int64(1); n < start && i < len(s); n++ {
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	if end == -1 {
		return value{s: s[i:]}
	}
	j := i
	for n := start; n < end && j < len(s); n++ {
		_, w := utf8.DecodeRuneInString(s[j:])
		j += w
	}
	return value{s: s[i:j]}
}

// leftRight is left(s, n) or right(s, n): a negative n counts the
// characters to leave out.
func leftRight(s string, n int64, left bool) string {
	runes := int64(utf8.RuneCountInString(s))
	k := n
	if n < 0 {
		k = max(runes+n, 0)
	}
	k = min(k, runes)
	if !left {
		k = runes - k
	}
	i := 0
	for range k {
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	if left {
		return s[:i]
	}
	return s[i:]
}

func strpos(v []value) value {
	i := strings.Index(v[0].s, v[1].s)
	if i < 0 {
		return value{n: 0}
	}
	return value{n: int64(utf8.RuneCountInString(v[0].s[:i])) + 1}
}

// initcap upper-cases the first ASCII letter or digit of each run of
// them and lower-cases the rest, as PostgreSQL does under the C collation.
func initcap(s string) string {
	b := []byte(s)
	inWord := false
	for i, c := range b {
		switch {
		case inWord && c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case !inWord && c >= 'a' && c <= 'z':
			b[i] = c - ('a' - 'A')
		}
		inWord = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	return string(b)
}

func replaceFn(v []value) value {
	if v[1].s == "" {
		return v[0]
	}
	r := strings.ReplaceAll(v[0].s, v[1].s, v[2].s)
	checkLength(len(r))
	return value{s: r}
}

// translateFn replaces each character of v[1] with the character at the
// same position of v[2], or removes it when v[2] is shorter.
func translateFn(v []value) value {
	from, to := []rune(v[1].s), []rune(v[2].s)
	var b strings.Builder
	for _, c := range v[0].s {
		i := -1
		for j, f := range from {
			if f == c {
				i = j
				break
			}
		}
		switch {
		case i < 0:
			b.WriteRune(c)
		case i < len(to):
			b.WriteRune(to[i])
		}
	}
	return value{s: b.String()}
}

func reverseFn(v []value) value {
	r := []rune(v[0].s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return value{s: string(r)}
}

func repeatFn(v []value) value {
	if v[1].n <= 0 || v[0].s == "" {
		return value{s: ""}
	}
	if v[1].n > maxStringResult || int64(len(v[0].s))*v[1].n > maxStringResult {
		checkLength(maxStringResult + 1)
	}
	return value{s: strings.Repeat(v[0].s, int(v[1].n))}
}

// padFn is lpad or rpad: the string cut or filled (with a space by
// default) to n characters.
func padFn(left bool) func(v []value) value {
	return func(v []value) value {
		s, n, fill := v[0].s, v[1].n, " "
		if len(v) == 3 {
			fill = v[2].s
		}
		if n <= 0 {
			return value{s: ""}
		}
		checkLength(int(min(n, maxStringResult+1)) * utf8.UTFMax)
		have := int64(utf8.RuneCountInString(s))
		if have >= n || fill == "" {
			return value{s: leftRight(s, n, true)}
		}
		fr := []rune(fill)
		pad := make([]rune, n-have)
		for i := range pad {
			pad[i] = fr[i%len(fr)]
		}
		if left {
			return value{s: string(pad) + s}
		}
		return value{s: s + string(pad)}
	}
}

// splitPart is split_part(s, delim, n): field n, counting from the end
// when n is negative.
func splitPart(v []value) value {
	s, d, n := v[0].s, v[1].s, v[2].n
	if n == 0 {
		fail(codeInvalidParamValue, "field position must not be zero")
	}
	if s == "" {
		return value{s: ""}
	}
	var fields []string
	if d == "" {
		fields = []string{s}
	} else {
		fields = strings.Split(s, d)
	}
	if n < 0 {
		n += int64(len(fields)) + 1
	}
	if n < 1 || n > int64(len(fields)) {
		return value{s: ""}
	}
	return value{s: fields[n-1]}
}

// quoteLiteral is quote_literal(text): quotes doubled, and backslashes
// doubled in an E'...' string.
func quoteLiteral(s string) string {
	var b strings.Builder
	if strings.Contains(s, `\`) {
		b.WriteByte('E')
	}
	b.WriteByte('\'')
	for _, c := range []byte(s) {
		if c == '\'' || c == '\\' {
			b.WriteByte(c)
		}
		b.WriteByte(c)
	}
	b.WriteByte('\'')
	return b.String()
}

func quoteLiteralFn(nullable bool) func(e *expr) func(*evalCtx, []value) value {
	return func(e *expr) func(*evalCtx, []value) value {
		arg := e.args[0]
		return func(x *evalCtx, v []value) value {
			if v[0].null {
				if nullable {
					return value{s: "NULL"}
				}
				return null
			}
			return value{s: quoteLiteral(argText(x, arg, v[0]))}
		}
	}
}

func asciiFn(v []value) value {
	if v[0].s == "" {
		return value{n: 0}
	}
	r, _ := utf8.DecodeRuneInString(v[0].s)
	return value{n: int64(r)}
}

func chrFn(v []value) value {
	n := v[0].n
	switch {
	case n < 0:
		fail(codeInvalidParamValue, "character number must be positive")
	case n == 0:
		fail("54000", "null character not permitted")
	case n > utf8.MaxRune:
		fail("54000", "requested character too large for encoding: "+strconv.FormatInt(n, 10))
	case n >= 0xD800 && n <= 0xDFFF:
		fail("54000", "requested character not valid for encoding: "+strconv.FormatInt(n, 10))
	}
	return value{s: string(rune(n))}
}

// quotedKeyword reports whether quote_ident quotes s as a keyword.
func quotedKeyword(s string) bool {
	i := sort.SearchStrings(quotedKeywords, s)
	return i < len(quotedKeywords) && quotedKeywords[i] == s
}
