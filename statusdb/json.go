package statusdb

import (
	"sort"
	"strconv"
	"strings"
	"time"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// JSON: the types json (held as its text) and jsonb (held as its
// normalized text: keys sorted by length then bytes, duplicates dropped,
// ", " and ": " between items), the constructors json[b]_build_object,
// json[b]_build_array, row_to_json, to_json[b], the aggregates
// json[b]_agg and json[b]_object_agg, jsonb_pretty and the operators
// -> ->> #> #>> and ? (jsonb).

const (
	jsonOID  = 114
	jsonbOID = 3802
)

var jsonFuncs = map[string]bool{
	"json_build_object": true, "jsonb_build_object": true, "json_build_array": true, "jsonb_build_array": true,
	"row_to_json": true, "to_json": true, "to_jsonb": true, "jsonb_pretty": true,
	"json_typeof": true, "jsonb_typeof": true,
}

var jsonAggs = map[string]bool{"json_agg": true, "jsonb_agg": true, "json_object_agg": true, "jsonb_object_agg": true}

func init() {
	for n := range jsonAggs {
		aggregates[n] = true
	}
}

// jsonArgs analyzes a JSON function's or aggregate's arguments: a bare
// name of a FROM item that no column has is the whole row.
func (a *analyzer) jsonArgs(nodes []*pg.Node) ([]*expr, *Error) {
	var out []*expr
	for _, n := range nodes {
		if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) == 1 {
			if s := cr.Fields[0].GetString_(); s != nil {
				if c, _ := a.unqualified(s.Sval, cr.Location); c == nil && a.qualified([]string{s.Sval}) != nil {
					cols, names, err := a.star([]string{s.Sval}, cr.Location)
					if err != nil {
						return nil, err
					}
					ns := make([]string, len(names))
					for i, c := range names {
						ns[i] = c.Name
					}
					out = append(out, &expr{kind: eFunc, op: "json_row", typ: tText, pgt: jsonOID, args: cols, lit: strings.Join(ns, "\x00"), loc: cr.Location})
					continue
				}
			}
		}
		e, err := a.expr(n)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// isRow reports whether e is a whole-row reference.
func isRow(e *expr) bool { return e.kind == eFunc && e.op == "json_row" }

// jsonFunc types a JSON function call whose arguments are analyzed.
func (a *analyzer) jsonFunc(name string, out *expr) *Error {
	args := out.args
	for i, e := range args {
		args[i] = a.unknownToText(e)
	}
	nofn := func() *Error { return a.errAt(noFunction(name, args), out.loc) }
	out.typ, out.pgt = tText, jsonOID
	if strings.HasPrefix(name, "jsonb") || name == "to_jsonb" {
		out.pgt = jsonbOID
	}
	switch name {
	case "json_build_object", "jsonb_build_object":
		if len(args)%2 != 0 {
			e := errorf(codeInvalidParamValue, "argument list must have even number of elements")
			e.Hint = "The arguments of " + name + "() must consist of alternating keys and values."
			return e
		}
	case "row_to_json", "to_json", "to_jsonb":
		if len(args) != 1 || name == "row_to_json" && !isRow(args[0]) {
			return nofn()
		}
	case "jsonb_pretty", "json_typeof", "jsonb_typeof":
		want := uint32(jsonbOID)
		if name == "json_typeof" {
			want = jsonOID
		}
		if len(args) != 1 || args[0].pgt != want && args[0].kind != eConst {
			return nofn()
		}
		out.pgt = 0
	}
	return nil
}

// jsonAgg types json[b]_agg and json[b]_object_agg.
func (a *analyzer) jsonAgg(name string, out *expr, loc int32) *Error {
	n := 1
	if strings.Contains(name, "object") {
		n = 2
	}
	if out.ord.nargs != n {
		return a.errAt(noFunction(name, out.args[:out.ord.nargs]), loc)
	}
	for i := range n {
		out.args[i] = a.unknownToText(out.args[i])
	}
	out.typ, out.pgt = tText, jsonOID
	if strings.HasPrefix(name, "jsonb") {
		out.pgt = jsonbOID
	}
	return nil
}

// jsonOp types the JSON operators; ok is false for other operands.
func (a *analyzer) jsonOp(op string, l, r *expr, pos int32) (*expr, *Error, bool) {
	if l.pgt != jsonOID && l.pgt != jsonbOID {
		return nil, nil, false
	}
	switch op {
	case "->", "->>":
		if r.typ == tUnknown {
			r = a.unknownToText(r)
		}
		if r.typ != tText && r.typ != tInt4 {
			return nil, nil, false
		}
		e := &expr{kind: eFunc, op: "json" + op, typ: tText, args: []*expr{l, r}, loc: pos}
		if op == "->" {
			e.pgt = l.pgt
		}
		return e, nil, true
	case "?":
		if l.pgt != jsonbOID {
			return nil, nil, false
		}
		r = a.unknownToText(r)
		if r.typ != tText {
			return nil, nil, false
		}
		return &expr{kind: eFunc, op: "json?", typ: tBool, args: []*expr{l, r}, loc: pos}, nil, true
	}
	return nil, nil, false
}

// extOperator types the operators of timefunc.go and json.go.
func (a *analyzer) extOperator(op string, l, r *expr, pos int32) (*expr, *Error, bool) {
	if e, err, ok := a.jsonOp(op, l, r, pos); ok {
		return e, err, true
	}
	return a.timeArith(op, l, r, pos)
}

// jnode is a parsed JSON value.
type jnode struct {
	kind byte   // 'o' object, 'a' array, 's' string, 'n' number, 't' true, 'f' false, 'z' null
	s    string // a string's value, a number's text
	keys []string
	kids []*jnode
	raw  string // the value's text as written
}

type jparser struct {
	s      string
	i      int
	err    bool
	detail string // json_errdetail's text for the first error
}

// token is the lexer's token at p.i, as json_errdetail quotes it.
func (p *jparser) token() string {
	if p.i >= len(p.s) {
		return ""
	}
	c := p.s[p.i]
	switch {
	case strings.IndexByte("{}[],:", c) >= 0:
		return p.s[p.i : p.i+1]
	case c == '"':
		j := p.i + 1
		for j < len(p.s) && p.s[j] != '"' {
			if p.s[j] == '\\' {
				j++
			}
			j++
		}
		return p.s[p.i:min(j+1, len(p.s))]
	}
	j := p.i
	for j < len(p.s) && (p.s[j] == '_' || (p.s[j] == '-' || p.s[j] == '+') && (j == p.i || p.s[j-1]|0x20 == 'e') || p.s[j] == '.' || p.s[j] >= 0x80 ||
		p.s[j] >= '0' && p.s[j] <= '9' || p.s[j]|0x20 >= 'a' && p.s[j]|0x20 <= 'z') {
		j++
	}
	if j == p.i {
		j++
	}
	return p.s[p.i:j]
}

// fail records the first error: the lexer's found token against what was
// expected ("" for a token that is no token at all).
func (p *jparser) fail(expected string) {
	if p.err {
		return
	}
	p.err = true
	switch tok := p.token(); {
	case tok == "":
		p.detail = "The input string ended unexpectedly."
	case expected == "" || !validToken(tok):
		p.detail = "Token \"" + tok + "\" is invalid."
	default:
		p.detail = "Expected " + expected + ", but found \"" + tok + "\"."
	}
}

// validToken reports whether tok is a JSON token.
func validToken(tok string) bool {
	switch {
	case tok == "true" || tok == "false" || tok == "null" || len(tok) == 1 && strings.Contains("{}[],:", tok):
		return true
	case tok[0] == '"':
		return len(tok) > 1 && tok[len(tok)-1] == '"'
	}
	_, err := strconv.ParseFloat(tok, 64)
	return err == nil || strings.Contains(err.Error(), "range")
}

func (p *jparser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

// expect consumes c or fails expecting what.
func (p *jparser) expect(c byte, what string) bool {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	p.fail(what)
	return false
}

// more reads the separator after an item of an object or array: true
// for ',', false at the closing byte.
func (p *jparser) more(close byte) bool {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ',' {
		p.i++
		return true
	}
	if p.i < len(p.s) && p.s[p.i] == close {
		p.i++
		return false
	}
	p.fail("\",\" or \"" + string(close) + "\"")
	return false
}

func (p *jparser) value(expected string) *jnode {
	p.space()
	start := p.i
	n := &jnode{}
	tok := p.token()
	switch {
	case tok == "":
		p.fail(expected)
		return nil
	case tok == "{":
		n.kind = 'o'
		p.i++
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			break
		}
		for first := true; ; first = false {
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != '"' {
				if first {
					p.fail("string or \"}\"")
				} else {
					p.fail("string")
				}
				return nil
			}
			k := p.str()
			if p.err || !p.expect(':', "\":\"") {
				return nil
			}
			v := p.value("JSON value")
			if p.err {
				return nil
			}
			n.keys, n.kids = append(n.keys, k), append(n.kids, v)
			if !p.more('}') {
				break
			}
		}
	case tok == "[":
		n.kind = 'a'
		p.i++
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ']' {
			p.i++
			break
		}
		for first := true; ; first = false {
			what := "JSON value"
			if first {
				what = "array element or \"]\""
			}
			v := p.value(what)
			if p.err {
				return nil
			}
			n.kids = append(n.kids, v)
			if !p.more(']') {
				break
			}
		}
	case tok[0] == '"':
		n.kind = 's'
		n.s = p.str()
	case tok == "true" || tok == "false" || tok == "null":
		n.kind = map[string]byte{"true": 't', "false": 'f', "null": 'z'}[tok]
		p.i += len(tok)
	case validToken(tok) && (tok[0] == '-' || tok[0] >= '0' && tok[0] <= '9'):
		n.kind, n.s = 'n', tok
		p.i += len(tok)
	case validToken(tok):
		p.fail(expected)
		return nil
	default:
		p.fail("")
		return nil
	}
	if p.err {
		return nil
	}
	n.raw = p.s[start:p.i]
	return n
}

// str reads a string literal at p.i.
func (p *jparser) str() string {
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String()
		case c == '\\' && p.i+1 < len(p.s):
			p.i++
			switch e := p.s[p.i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'u':
				if p.i+4 < len(p.s) {
					if r, err := strconv.ParseUint(p.s[p.i+1:p.i+5], 16, 32); err == nil {
						b.WriteRune(rune(r))
						p.i += 4
						break
					}
				}
				p.err, p.detail = true, "\"\\u\" must be followed by four hexadecimal digits."
				return ""
			default:
				p.err, p.detail = true, "Escape sequence \"\\"+string(e)+"\" is invalid."
				return ""
			}
			p.i++
		case c < 0x20:
			p.err, p.detail = true, "Character with value 0x"+string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])+" must be escaped."
			return ""
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	p.err, p.detail = true, "The input string ended unexpectedly."
	return ""
}

// parseJSONErr parses text as json; the error is PostgreSQL's.
func parseJSONErr(s string) (*jnode, *Error) {
	p := &jparser{s: s}
	n := p.value("JSON value")
	if !p.err {
		p.space()
		if p.i != len(p.s) {
			p.fail("end of input")
		}
	}
	if p.err {
		return nil, &Error{Code: codeInvalidText, Message: "invalid input syntax for type json", Detail: p.detail}
	}
	return n, nil
}

// parseJSON parses text as json, failing the statement on an error.
func parseJSON(s string) *jnode {
	n, err := parseJSONErr(s)
	if err != nil {
		failErr(err)
	}
	return n
}

// appendJSONString appends s as a JSON string literal, as escape_json.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			dst = append(dst, `\"`...)
		case '\\':
			dst = append(dst, `\\`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\t':
			dst = append(dst, `\t`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\b':
			dst = append(dst, `\b`...)
		case '\f':
			dst = append(dst, `\f`...)
		default:
			if c < 0x20 {
				dst = append(dst, `\u00`...)
				dst = append(dst, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
				continue
			}
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// normalize makes n a jsonb value: object keys sorted by length then
// bytes, the last of duplicates kept, numbers as numeric_out prints them.
func (n *jnode) normalize() {
	switch n.kind {
	case 'n':
		if v, err := numericIn(n.s); err == nil {
			n.s = v.s
		}
	case 'a':
		for _, k := range n.kids {
			k.normalize()
		}
	case 'o':
		idx := map[string]int{}
		var keys []string
		var kids []*jnode
		for i, k := range n.keys {
			n.kids[i].normalize()
			if j, ok := idx[k]; ok {
				kids[j] = n.kids[i]
				continue
			}
			idx[k] = len(keys)
			keys, kids = append(keys, k), append(kids, n.kids[i])
		}
		order := make([]int, len(keys))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool {
			ka, kb := keys[order[a]], keys[order[b]]
			if len(ka) != len(kb) {
				return len(ka) < len(kb)
			}
			return ka < kb
		})
		n.keys, n.kids = make([]string, len(order)), make([]*jnode, len(order))
		for i, o := range order {
			n.keys[i], n.kids[i] = keys[o], kids[o]
		}
	}
}

// appendJSONB prints a normalized value as jsonb_out does; indent >= 0
// pretty-prints it as jsonb_pretty.
func (n *jnode) appendJSONB(dst []byte, indent int) []byte {
	nl := func(dst []byte, level int) []byte {
		dst = append(dst, '\n')
		for range level * 4 {
			dst = append(dst, ' ')
		}
		return dst
	}
	switch n.kind {
	case 'o', 'a':
		open, close := byte('{'), byte('}')
		if n.kind == 'a' {
			open, close = '[', ']'
		}
		dst = append(dst, open)
		for i, k := range n.kids {
			if i > 0 {
				dst = append(dst, ',')
				if indent < 0 {
					dst = append(dst, ' ')
				}
			}
			if indent >= 0 {
				dst = nl(dst, indent+1)
			}
			if n.kind == 'o' {
				dst = appendJSONString(dst, n.keys[i])
				dst = append(dst, ": "...)
			}
			next := indent
			if indent >= 0 {
				next = indent + 1
			}
			dst = k.appendJSONB(dst, next)
		}
		if indent >= 0 {
			dst = nl(dst, indent)
		}
		return append(dst, close)
	case 's':
		return appendJSONString(dst, n.s)
	case 'n':
		return append(dst, n.s...)
	case 't':
		return append(dst, "true"...)
	case 'f':
		return append(dst, "false"...)
	}
	return append(dst, "null"...)
}

// jsonbText normalizes json text as jsonb.
func jsonbText(s string) string {
	n := parseJSON(s)
	n.normalize()
	return string(n.appendJSONB(nil, -1))
}

// jsonCast converts text, json or jsonb to json or jsonb.
func jsonCast(from, target uint32, s string) value {
	if target == jsonbOID {
		return value{s: jsonbText(s)}
	}
	if from == 25 {
		parseJSON(s)
	}
	return value{s: s}
}

// jsonValue appends the JSON form of v of e's type (datum_to_json).
func appendJSONValue(dst []byte, t typ, pgt uint32, v value, x *evalCtx, loc *time.Location) []byte {
	if v.null {
		return append(dst, "null"...)
	}
	switch pgt {
	case jsonOID, jsonbOID:
		return append(dst, v.s...)
	case oidDate:
		return appendJSONString(dst, string(appendDateTime(nil, fieldsOf(v.n, nil), outStyle{date: "ISO"}, false, true)))
	case oidTimestamp:
		b := appendDateTime(nil, fieldsOf(v.n, nil), outStyle{date: "ISO"}, false, false)
		b[10] = 'T'
		return appendJSONString(dst, string(b))
	}
	if heldElem[pgt] != 0 {
		et := heldElem[pgt]
		vals, err := parseArray(v.s, func(s string) (value, *Error) { return decodeText(et, []byte(s), x) })
		if err != nil {
			return appendJSONString(dst, v.s)
		}
		dst = append(dst, '[')
		for i, e := range vals {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONValue(dst, et, 0, e, x, loc)
		}
		return append(dst, ']')
	}
	switch t {
	case tBool:
		if v.n != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case tInt4, tInt8:
		return strconv.AppendInt(dst, v.n, 10)
	case tFloat8:
		b := appendFloat8(nil, v.f)
		if b[len(b)-1] == 'N' || b[len(b)-1] == 'y' {
			return appendJSONString(dst, string(b))
		}
		return append(dst, b...)
	case tNumeric:
		if numSpecial(v.s) {
			return appendJSONString(dst, v.s)
		}
		return append(dst, v.s...)
	case tTimestamptz:
		tm := fieldsOf(v.n, loc)
		b := appendDateTime(nil, tm, outStyle{date: "ISO"}, false, false)
		b[10] = 'T'
		return appendJSONString(dst, string(appendOffset(b, tm.off, true)))
	case tInterval:
		st := outStyle{interval: "postgres"}
		if x != nil {
			st = styleOf(x)
		}
		return appendJSONString(dst, string(appendIntervalStyle(nil, v, st.interval)))
	}
	return appendJSONString(dst, v.s)
}

// jsonFn compiles the JSON functions and operators; nil for others.
func jsonFn(e *expr, args []evalFn) evalFn {
	types := make([]typ, len(e.args))
	pgts := make([]uint32, len(e.args))
	for i, a := range e.args {
		types[i], pgts[i] = a.typ, a.pgt
	}
	b := e.pgt == jsonbOID
	finish := func(s []byte) value {
		if b {
			return value{s: jsonbText(string(s))}
		}
		return value{s: string(s)}
	}
	switch e.op {
	case "json_row":
		names := strings.Split(e.lit, "\x00")
		return func(x *evalCtx) value {
			dst := []byte{'{'}
			for i, f := range args {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = appendJSONString(dst, names[i])
				dst = append(dst, ':')
				dst = appendJSONValue(dst, types[i], pgts[i], f(x), x, x.loc)
			}
			return value{s: string(append(dst, '}'))}
		}
	case "json_build_object", "jsonb_build_object":
		return func(x *evalCtx) value {
			dst := []byte{'{'}
			for i := 0; i < len(args); i += 2 {
				k := args[i](x)
				if k.null {
					err := errorf(codeInvalidParamValue, "argument %d cannot be null", i+1)
					err.Hint = "Object keys should be text."
					failErr(err)
				}
				if i > 0 {
					dst = append(dst, ", "...)
				}
				dst = appendJSONString(dst, textOf(types[i], k, x.loc))
				dst = append(dst, " : "...)
				dst = appendJSONValue(dst, types[i+1], pgts[i+1], args[i+1](x), x, x.loc)
			}
			return finish(append(dst, '}'))
		}
	case "json_build_array", "jsonb_build_array":
		return func(x *evalCtx) value {
			dst := []byte{'['}
			for i, f := range args {
				if i > 0 {
					dst = append(dst, ", "...)
				}
				dst = appendJSONValue(dst, types[i], pgts[i], f(x), x, x.loc)
			}
			return finish(append(dst, ']'))
		}
	case "row_to_json", "to_json", "to_jsonb":
		return func(x *evalCtx) value {
			v := args[0](x)
			if v.null {
				return null
			}
			return finish(appendJSONValue(nil, types[0], pgts[0], v, x, x.loc))
		}
	case "jsonb_pretty":
		return strict1(args[0], func(v value) value {
			n := parseJSON(v.s)
			n.normalize()
			return value{s: string(n.appendJSONB(nil, 0))}
		})
	case "json_typeof", "jsonb_typeof":
		return strict1(args[0], func(v value) value {
			n := parseJSON(v.s)
			return value{s: map[byte]string{'o': "object", 'a': "array", 's': "string", 'n': "number", 't': "boolean", 'f': "boolean", 'z': "null"}[n.kind]}
		})
	case "json->", "json->>", "json?":
		op, kt := e.op, types[1]
		l, r := args[0], args[1]
		return func(x *evalCtx) value {
			a, k := l(x), r(x)
			if a.null || k.null {
				return null
			}
			n := parseJSON(a.s)
			var found *jnode
			switch {
			case n.kind == 'o' && kt == tText:
				for i, key := range n.keys {
					if key == k.s {
						found = n.kids[i] // the last of duplicates, as PostgreSQL's json
					}
				}
			case n.kind == 'a' && kt == tInt4:
				i := int(k.n)
				if i < 0 {
					i += len(n.kids)
				}
				if i >= 0 && i < len(n.kids) {
					found = n.kids[i]
				}
			case n.kind == 'a' && op == "json?":
				for _, kid := range n.kids {
					if kid.kind == 's' && kid.s == k.s {
						return boolValue(true)
					}
				}
			}
			switch {
			case op == "json?":
				return boolValue(found != nil)
			case found == nil:
				return null
			case op == "json->>" && found.kind == 's':
				return value{s: found.s}
			case op == "json->>" && found.kind == 'z':
				return null
			}
			return value{s: found.raw}
		}
	}
	return nil
}

// strict1 calls f on non-NULL values of arg.
func strict1(arg evalFn, f func(value) value) evalFn {
	return func(x *evalCtx) value {
		v := arg(x)
		if v.null {
			return v
		}
		return f(v)
	}
}

// jsonAggFinal reduces the collected rows of a JSON aggregate.
func jsonAggFinal(op string, cp *collectPlan, rows [][]value, loc *time.Location) value {
	if len(rows) == 0 {
		return null
	}
	b := strings.HasPrefix(op, "jsonb")
	var dst []byte
	if strings.Contains(op, "object") {
		dst = append(dst, "{ "...)
		for i, r := range rows {
			if r[0].null {
				fail(codeInvalidParamValue, "field name must not be null")
			}
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = appendJSONString(dst, textOf(cp.argTypes[0], r[0], loc))
			dst = append(dst, " : "...)
			dst = appendJSONValue(dst, cp.argTypes[1], cp.argPgts[1], r[1], nil, loc)
		}
		dst = append(dst, " }"...)
	} else {
		dst = append(dst, '[')
		for i, r := range rows {
			if i > 0 {
				dst = append(dst, ", "...)
				if !r[0].null && (cp.rowArg || heldElem[cp.argPgts[0]] != 0) {
					dst = append(dst, "\n "...)
				}
			}
			dst = appendJSONValue(dst, cp.argTypes[0], cp.argPgts[0], r[0], nil, loc)
		}
		dst = append(dst, ']')
	}
	if b {
		return value{s: jsonbText(string(dst))}
	}
	return value{s: string(dst)}
}

// orderable refuses to sort (what "ordering") or group (what "equality")
// by json, which has neither operator; n is the clause's item, loc its
// location when known.
func (a *analyzer) orderable(e *expr, n *pg.Node, loc int32, what string) *Error {
	if e.pgt != jsonOID {
		return nil
	}
	if loc < 0 {
		loc = e.loc
		if c := n.GetAConst(); c != nil {
			loc = c.Location
		}
	}
	err := &Error{Code: codeUndefinedFunction, Message: "could not identify an " + what + " operator for type json"}
	if what == "ordering" {
		err.Hint = "Use an explicit ordering operator or modify the query."
	}
	return a.errAt(err, loc)
}
