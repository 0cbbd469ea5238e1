package statusdb

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// Arrays exist only as the right side of op ANY (array) and op ALL
// (array): an ARRAY[...] constructor, ARRAY(SELECT ...), an array literal
// ('{a,b}', '{1,2}'::int8[]) or an array parameter, which pgx, psycopg
// and JDBC send for `= ANY($1)` in text or binary form. Their elements
// are compared one by one, never stored in a value.

// arrayArg is the array of an eArrayOp, its elements of type cmp.
type arrayArg struct {
	id     int
	elems  []*expr  // ARRAY[...]: the elements
	consts []value  // a literal, parsed while planning
	null   bool     // a NULL array
	param  int      // an array parameter's index, or -1
	from   typ      // the parameter's element type, widened to cmp
	sub    *subPlan // ARRAY(SELECT ...)
	held   *expr    // an array value held as its text form (a catalog column, ARRAY(SELECT ...) in an expression)
}

// arrayElemOIDs maps the array types a client may declare or send to
// their element types.
var arrayElemOIDs = map[uint32]uint32{
	pgtype.BoolArrayOID: pgtype.BoolOID, pgtype.Int2ArrayOID: pgtype.Int2OID, pgtype.Int4ArrayOID: pgtype.Int4OID,
	pgtype.Int8ArrayOID: pgtype.Int8OID, pgtype.Float4ArrayOID: pgtype.Float4OID, pgtype.Float8ArrayOID: pgtype.Float8OID,
	pgtype.NumericArrayOID: pgtype.NumericOID, pgtype.TextArrayOID: pgtype.TextOID, pgtype.VarcharArrayOID: pgtype.VarcharOID,
	pgtype.BPCharArrayOID: pgtype.BPCharOID, pgtype.NameArrayOID: pgtype.NameOID, pgtype.TimestamptzArrayOID: pgtype.TimestamptzOID,
	pgtype.TimestampArrayOID: pgtype.TimestampOID, pgtype.IntervalArrayOID: pgtype.IntervalOID,
}

// elemOIDs are the OIDs of our element types, for binary arrays.
var elemOIDs = map[typ]uint32{
	tText: pgtype.TextOID, tBool: pgtype.BoolOID, tInt4: pgtype.Int4OID, tInt8: pgtype.Int8OID,
	tFloat8: pgtype.Float8OID, tNumeric: pgtype.NumericOID, tTimestamptz: pgtype.TimestamptzOID, tInterval: pgtype.IntervalOID,
}

// arrayOp analyzes l op ANY/ALL (array) as PostgreSQL's
// make_scalar_array_op: an untyped array (a literal or parameter) is an
// array of the operator's right input type, which the left side decides.
func (a *analyzer) arrayOp(x *pg.A_Expr, all bool) (*expr, *Error) {
	op := opName(x.Name)
	l, err := a.expr(x.Lexpr)
	if err != nil {
		return nil, err
	}
	arr := &arrayArg{id: a.nsub, param: -1}
	a.nsub++
	et := tUnknown // the element type; unknown for an untyped literal or parameter
	var lit *expr  // an untyped literal, parsed once its type is known
	var cast *pg.TypeCast
	r := x.Rexpr
	if tc := r.GetTypeCast(); tc != nil && tc.TypeName != nil && len(tc.TypeName.ArrayBounds) > 0 {
		cast, r = tc, tc.Arg
		t, _, name, ok := typeFor(&pg.TypeName{Names: tc.TypeName.Names})
		if !ok {
			return nil, a.errAt(unsupported("type "+strconv.Quote(name+"[]")), tc.TypeName.Location)
		}
		et = t
	}
	switch v := r.Node.(type) {
	case *pg.Node_AArrayExpr:
		if arr.elems, err = a.exprs(v.AArrayExpr.Elements); err != nil {
			return nil, err
		}
		if cast == nil {
			if len(arr.elems) == 0 {
				return nil, a.errAt(&Error{Code: "42P18", Message: "cannot determine type of empty array",
					Hint: "Explicitly cast to the desired type, for example ARRAY[]::integer[]."}, v.AArrayExpr.Location)
			}
			if et, err = a.commonTypeOf("ARRAY", arr.elems); err != nil {
				return nil, err
			}
		}
		for i, e := range arr.elems {
			if arr.elems[i], err = a.castTo(e, et, v.AArrayExpr.Location); err != nil {
				return nil, err
			}
		}
	case *pg.Node_SubLink:
		if v.SubLink.SubLinkType != pg.SubLinkType_ARRAY_SUBLINK || cast != nil {
			return nil, a.errAt(unsupported("this array"), v.SubLink.Location)
		}
		if arr.sub, err = a.subPlan(v.SubLink); err != nil {
			return nil, err
		}
		et = arr.sub.plan.outs[0].typ
	default:
		e, err := a.expr(r)
		if err != nil {
			return nil, err
		}
		switch {
		case e.kind == eConst && e.val.null:
			arr.null = true
		case e.kind == eConst && e.typ == tUnknown:
			lit = e
		case e.kind == eParam && (e.typ == tUnknown || e.typ.isArray()):
			arr.param = e.idx
			if e.typ.isArray() {
				if cast != nil && e.typ.elem() != et {
					return nil, a.errAt(errorf(codeCannotCoerce, "cannot cast type %s to %s[]", e.typ, et), cast.Location)
				}
				et = e.typ.elem()
			}
		case e.typ == tText && heldElem[e.pgt] != 0 && cast == nil:
			arr.held, et = e, heldElem[e.pgt]
		default:
			if cast != nil {
				return nil, a.errAt(errorf(codeCannotCoerce, "cannot cast type %s to %s[]", e.typ, et), cast.Location)
			}
			return nil, a.errAt(errorf(codeWrongObjectType, "op ANY/ALL (array) requires array on right side"), x.Location)
		}
	}

	// The comparison: as l op element.
	like := op == "~~" || op == "!~~" || op == "~~*" || op == "!~~*"
	if !like && !isComparison(op) {
		return nil, a.errAt(unsupported("operator "+op+" with ANY/ALL"), x.Location)
	}
	probe := &expr{kind: eConst, typ: et, val: null, loc: x.Location}
	var cmp typ
	if like {
		e, err := a.like(op, l, probe, nil, x.Location)
		if err != nil {
			return nil, err
		}
		l, cmp = e.args[0], tText
	} else {
		t, l2, _, err := a.unify(op, l, probe, x.Location)
		if err != nil {
			return nil, err
		}
		l, cmp = l2, t
	}
	if et == tUnknown {
		et = cmp
	}
	switch {
	case arr.param >= 0:
		if _, err := a.resolveUnknown(&expr{kind: eParam, idx: arr.param, loc: x.Rexpr.GetParamRef().GetLocation()}, et|tArray); err != nil {
			return nil, err
		}
		arr.from = et
	case lit != nil:
		if arr.consts, err = a.arrayLiteral(lit, et); err != nil {
			return nil, err
		}
		arr.from = et
	case arr.sub != nil:
		if err := a.coerceOut(arr.sub.plan, 0, cmp); err != nil {
			return nil, err
		}
	case arr.held != nil:
		arr.from = et
	}
	for i, e := range arr.elems {
		if arr.elems[i], err = a.castTo(e, cmp, x.Location); err != nil {
			return nil, err
		}
	}
	return &expr{kind: eArrayOp, typ: tBool, op: op, cmp: cmp, all: all, args: []*expr{l}, arr: arr, loc: leftmost(l.loc, x.Location)}, nil
}

func isComparison(op string) bool {
	switch op {
	case "=", "<>", "<", ">", "<=", ">=":
		return true
	}
	return false
}

// castTo converts e to t implicitly, or reports that PostgreSQL cannot.
func (a *analyzer) castTo(e *expr, t typ, loc int32) (*expr, *Error) {
	c, err := a.coerce(e, t)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, a.errAt(errorf(codeDatatypeMismatch, "ARRAY types %s and %s cannot be matched", t, e.typ), loc)
	}
	return c, nil
}

// arrayLiteral parses an untyped array literal as an array of t, while
// planning, as PostgreSQL does.
func (a *analyzer) arrayLiteral(lit *expr, t typ) ([]value, *Error) {
	vals, err := parseArray(lit.lit, func(s string) (value, *Error) {
		r, err := a.resolveUnknown(&expr{kind: eConst, typ: tUnknown, lit: s, val: value{s: s}, loc: lit.loc}, t)
		if err != nil {
			return value{}, err
		}
		if r.kind == eTSConst {
			return value{}, a.errAt(unsupported("a timestamptz array literal"), lit.loc)
		}
		return r.val, nil
	})
	if err != nil && err.Position == 0 {
		err = a.errAt(err, lit.loc)
	}
	return vals, err
}

// parseArray reads PostgreSQL's text form of an array ('{1,2,NULL}',
// '{"a b",c}', nested braces for more dimensions, whose elements it
// flattens), converting each element with elem.
func parseArray(s string, elem func(string) (value, *Error)) ([]value, *Error) {
	malformed := func(detail string) *Error {
		return &Error{Code: codeInvalidText, Message: "malformed array literal: " + strconv.Quote(s), Detail: detail}
	}
	i := 0
	skipSpace := func() {
		for i < len(s) && isArraySpace(s[i]) {
			i++
		}
	}
	skipSpace()
	if i == len(s) || s[i] != '{' {
		return nil, malformed(`Array value must start with "{" or dimension information.`)
	}
	var out []value
	depth := 0
	expectElem := true
	for i < len(s) {
		c := s[i]
		switch {
		case c == '{':
			if !expectElem {
				return nil, malformed(`Unexpected "{" character.`)
			}
			depth++
			i++
			skipSpace()
			continue
		case c == '}':
			if depth == 0 {
				return nil, malformed(`Unexpected "}" character.`)
			}
			depth--
			i++
			expectElem = false
			skipSpace()
			if depth == 0 {
				if i != len(s) {
					return nil, malformed("Junk after closing right brace.")
				}
				return out, nil
			}
			continue
		case c == ',':
			if expectElem {
				return nil, malformed(`Unexpected "," character.`)
			}
			expectElem = true
			i++
			skipSpace()
			continue
		case !expectElem:
			return nil, malformed(`Unexpected array element.`)
		}
		// An element, quoted or not.
		var b strings.Builder
		quoted, escaped := false, false
		if c == '"' {
			quoted = true
			i++
			for {
				if i == len(s) {
					return nil, malformed("Unexpected end of input.")
				}
				if s[i] == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '"' {
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
		} else {
			end := 0 // length of b up to its last non-space or escaped character
			for i < len(s) && s[i] != ',' && s[i] != '}' && s[i] != '{' && s[i] != '"' {
				if s[i] == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					escaped = true
					end = b.Len()
					continue
				}
				b.WriteByte(s[i])
				if !isArraySpace(s[i]) {
					end = b.Len()
				}
				i++
			}
			if i < len(s) && (s[i] == '{' || s[i] == '"') {
				return nil, malformed("Unexpected " + strconv.Quote(string(s[i])) + " character.")
			}
			str := b.String()[:end]
			b.Reset()
			b.WriteString(str)
		}
		text := b.String()
		if !quoted && !escaped && strings.EqualFold(text, "NULL") {
			out = append(out, null)
		} else {
			if !quoted && text == "" {
				return nil, malformed(`Unexpected "` + string(c) + `" character.`)
			}
			v, err := elem(text)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		expectElem = false
		skipSpace()
	}
	return nil, malformed("Unexpected end of input.")
}

func isArraySpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// decodeArray decodes an array parameter of element type t sent in the
// given format; oid is the parameter's (array) type OID.
func decodeArray(t typ, oid uint32, b []byte, format int16, x *evalCtx) ([]value, *Error) {
	if format == 0 {
		if err := checkUTF8(b); err != nil {
			return nil, err
		}
		return parseArray(string(b), func(s string) (value, *Error) { return decodeText(t, []byte(s), x) })
	}
	want := arrayElemOIDs[oid]
	if want == 0 {
		want = elemOIDs[t]
	}
	bad := errorf(codeInvalidBinary, "incorrect binary data format")
	if len(b) < 12 {
		return nil, bad
	}
	ndim := int32(binary.BigEndian.Uint32(b))
	flags := int32(binary.BigEndian.Uint32(b[4:]))
	got := binary.BigEndian.Uint32(b[8:])
	switch {
	case ndim < 0:
		return nil, errorf(codeInvalidBinary, "invalid number of dimensions: %d", ndim)
	case ndim > 6:
		return nil, errorf("54000", "number of array dimensions (%d) exceeds the maximum allowed (6)", ndim)
	case flags != 0 && flags != 1:
		return nil, errorf(codeInvalidBinary, "invalid array flags")
	case got != want:
		return nil, errorf(codeDatatypeMismatch, "binary data has array element type %d instead of expected %d", got, want)
	}
	b = b[12:]
	n := 1
	for range ndim {
		if len(b) < 8 {
			return nil, bad
		}
		d := int32(binary.BigEndian.Uint32(b))
		if d < 0 || d > 1<<20 {
			return nil, bad
		}
		n *= int(d)
		if n > 1<<20 {
			return nil, errorf("54000", "array size exceeds the maximum allowed (%d)", 1<<20)
		}
		b = b[8:]
	}
	if ndim == 0 {
		n = 0
	}
	out := make([]value, n)
	for i := range out {
		if len(b) < 4 {
			return nil, bad
		}
		size := int32(binary.BigEndian.Uint32(b))
		b = b[4:]
		if size == -1 {
			out[i] = null
			continue
		}
		if size < 0 || int(size) > len(b) {
			return nil, bad
		}
		v, err := decodeBinary(want, b[:size], x)
		if err != nil {
			return nil, err
		}
		out[i] = v
		b = b[size:]
	}
	if len(b) != 0 {
		return nil, bad
	}
	return out, nil
}

// widen converts a value of type from to the wider numeric type to.
func widen(from, to typ) func(value) value {
	var conv func(value) value
	switch {
	case to == tFloat8 && (from == tInt4 || from == tInt8):
		conv = func(v value) value { return value{f: float64(v.n)} }
	case to == tFloat8 && from == tNumeric:
		conv = func(v value) value { return value{f: numericToFloat(v.s)} }
	case to == tNumeric && (from == tInt4 || from == tInt8):
		conv = func(v value) value { return numericFromInt(v.n) }
	default:
		return nil
	}
	return func(v value) value {
		if v.null {
			return v
		}
		return conv(v)
	}
}

func (c *compiler) arrayOp(e *expr, args []evalFn) (evalFn, *Error) {
	arr := e.arr
	match := comparer(e.op, e.cmp)
	var elems func(x *evalCtx) ([]value, bool)
	switch {
	case arr.null:
		elems = func(*evalCtx) ([]value, bool) { return nil, true }
	case arr.param >= 0:
		i, conv := arr.param, widen(arr.from, e.cmp)
		elems = func(x *evalCtx) ([]value, bool) {
			if x.params[i].null {
				return nil, true
			}
			vals := x.run.arrays[i]
			if conv != nil {
				vals = append([]value(nil), vals...)
				for j := range vals {
					vals[j] = conv(vals[j])
				}
			}
			return vals, false
		}
	case arr.sub != nil:
		rows, err := c.subRows(arr.sub)
		if err != nil {
			return nil, err
		}
		elems = func(x *evalCtx) ([]value, bool) {
			rs := rows(x)
			vals := make([]value, len(rs))
			for j, r := range rs {
				vals[j] = r[0]
			}
			return vals, false
		}
	case arr.held != nil:
		held, err := c.compile(arr.held)
		if err != nil {
			return nil, err
		}
		et, conv := arr.from, widen(arr.from, e.cmp)
		elems = func(x *evalCtx) ([]value, bool) {
			v := held(x)
			if v.null {
				return nil, true
			}
			vals, perr := parseArray(v.s, func(s string) (value, *Error) { return decodeText(et, []byte(s), x) })
			if perr != nil {
				failErr(perr)
			}
			for j := range vals {
				if conv != nil {
					vals[j] = conv(vals[j])
				}
			}
			return vals, false
		}
	case arr.elems != nil:
		fns, _, err := c.compileAll(arr.elems)
		if err != nil {
			return nil, err
		}
		elems = func(x *evalCtx) ([]value, bool) {
			vals := make([]value, len(fns))
			for j, f := range fns {
				vals[j] = f(x)
			}
			return vals, false
		}
	default:
		vals := arr.consts
		if conv := widen(arr.from, e.cmp); conv != nil {
			vals = append([]value(nil), vals...)
			for j := range vals {
				vals[j] = conv(vals[j])
			}
		}
		elems = func(*evalCtx) ([]value, bool) { return vals, false }
	}
	test, all := args[0], e.all
	return func(x *evalCtx) value {
		v := test(x)
		vals, isNull := elems(x)
		if isNull {
			return null
		}
		return quantified(v, len(vals), func(i int) value { return vals[i] }, match, all)
	}, nil
}

// quantified is v op ANY/ALL over n elements, with SQL's rules: an empty
// set gives false (ANY) or true (ALL) even for a NULL v; a NULL compared
// makes the result NULL unless another element decides it.
func quantified(v value, n int, elem func(int) value, match func(a, b value) bool, all bool) value {
	if n == 0 {
		return boolValue(all)
	}
	if v.null {
		return null
	}
	sawNull := false
	for i := range n {
		el := elem(i)
		if el.null {
			sawNull = true
			continue
		}
		if match(v, el) != all {
			return boolValue(!all)
		}
	}
	if sawNull {
		return null
	}
	return boolValue(all)
}

// comparer returns the test of a op b for a comparison or LIKE operator,
// on non-NULL values of type t.
func comparer(op string, t typ) func(a, b value) bool {
	switch op {
	case "~~", "!~~", "~~*", "!~~*":
		neg, ci := strings.HasPrefix(op, "!"), strings.HasSuffix(op, "*")
		return func(a, b value) bool {
			text, pat := a.s, b.s
			if ci {
				text, pat = asciiLower(text), asciiLower(pat)
			}
			return (matchLike(text, pat, '\\') == likeTrue) != neg
		}
	}
	test := cmpTest(op)
	return func(a, b value) bool { return test(compareValues(t, a, b)) }
}

// heldElem maps the array types held as their text form (catalog array
// columns, ARRAY(SELECT ...) values) to the evaluator type of an element.
var heldElem = map[uint32]typ{
	pgtype.TextArrayOID: tText, pgtype.NameArrayOID: tText, pgtype.QCharArrayOID: tText, pgtype.VarcharArrayOID: tText,
	pgtype.OIDArrayOID: tInt8, pgtype.Int2ArrayOID: tInt4, pgtype.Int4ArrayOID: tInt4,
	pgtype.Int8ArrayOID: tInt8, pgtype.Float8ArrayOID: tFloat8, pgtype.BoolArrayOID: tBool, pgtype.NumericArrayOID: tNumeric,
	22 /* int2vector */ : tInt4, 30 /* oidvector */ : tInt8,
}

// arrayValueOID is the array type of ARRAY(SELECT e).
func arrayValueOID(e *expr) (uint32, bool) {
	switch {
	case e.name || e.pgt == pgtype.NameOID:
		return pgtype.NameArrayOID, true
	case e.pgt == pgtype.OIDOID:
		return pgtype.OIDArrayOID, true
	case e.pgt == pgtype.QCharOID:
		return pgtype.QCharArrayOID, true
	case e.pgt == pgtype.Int2OID:
		return pgtype.Int2ArrayOID, true
	case e.pgt != 0:
		return 0, false
	}
	switch e.typ {
	case tText, tInt4, tInt8, tFloat8, tBool, tNumeric:
		return arrayOIDs[e.typ], true
	}
	return 0, false
}

// arrayOut is array_out of a one-dimensional array of t: {a,b,NULL},
// with an element quoted when it is empty, NULL or holds a brace, comma,
// quote, backslash or blank.
func arrayOut(t typ, vals []value, loc *time.Location) string {
	b := []byte{'{'}
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		if v.null {
			b = append(b, "NULL"...)
			continue
		}
		el := string(appendText(nil, t, v, loc))
		if el == "" || strings.EqualFold(el, "NULL") || strings.ContainsAny(el, "{},\"\\ \t\n\r\v\f") {
			b = append(b, '"')
			for j := 0; j < len(el); j++ {
				if el[j] == '"' || el[j] == '\\' {
					b = append(b, '\\')
				}
				b = append(b, el[j])
			}
			b = append(b, '"')
			continue
		}
		b = append(b, el...)
	}
	return string(append(b, '}'))
}

// arraySend is array_send of a one-dimensional array of type oid held as
// its text form: dimensions, a has-NULL flag, the element type, the size
// and lower bound (1), then each element's length and binary form.
func arraySend(dst []byte, oid uint32, text string, loc *time.Location) ([]byte, bool, error) {
	et := heldElem[oid]
	eoid := heldElemOID[oid]
	if eoid == 0 {
		eoid = elemOIDs[et]
	}
	x := &evalCtx{loc: loc}
	vals, err := parseArray(text, func(s string) (value, *Error) { return decodeText(et, []byte(s), x) })
	if err != nil {
		return dst, false, err
	}
	hasNull := 0
	for _, v := range vals {
		if v.null {
			hasNull = 1
		}
	}
	if len(vals) == 0 {
		dst = binary.BigEndian.AppendUint32(dst, 0)
		dst = binary.BigEndian.AppendUint32(dst, 0)
		return binary.BigEndian.AppendUint32(dst, eoid), true, nil
	}
	for _, n := range []uint32{1, uint32(hasNull), eoid, uint32(len(vals)), 1} {
		dst = binary.BigEndian.AppendUint32(dst, n)
	}
	for i := range vals {
		if vals[i].null {
			dst = binary.BigEndian.AppendUint32(dst, math.MaxUint32)
			continue
		}
		at := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		switch eoid {
		case pgtype.Int2OID:
			dst = binary.BigEndian.AppendUint16(dst, uint16(int16(vals[i].n)))
		case pgtype.OIDOID:
			dst = binary.BigEndian.AppendUint32(dst, uint32(vals[i].n))
		default:
			var e error
			if dst, _, e = appendWire(dst, et, &vals[i], loc, 1); e != nil {
				return dst, false, e
			}
		}
		binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
	}
	return dst, true, nil
}
