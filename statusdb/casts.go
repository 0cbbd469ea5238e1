package statusdb

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// Casts to real (float4), varchar(n) and char(n) (bpchar), and
// pg_typeof. A real is held as a float8 rounded to float32 precision, a
// varchar or char as text, with the PostgreSQL type beside them
// (expr.pgt) naming the output column and picking the wire form.
// Arithmetic on them is float8's (PostgreSQL's real * real is real);
// char(n) drops its trailing spaces where it becomes text (bpcharAsText,
// bpcharOperands).

// typeFuncs are the type functions callable by name.
var typeFuncs = map[string][]fnSig{
	"pg_typeof": {{args: []typ{anyArg}, res: tInt8, pgt: 2206, lax: true, rawArgs: true, impl: func(e *expr) func(*evalCtx, []value) value {
		oid := int64(exprTypeOID(e.args[0]))
		return func(*evalCtx, []value) value { return value{n: oid} }
	}}},
}

// castFuncs are the casts, called only through :: and CAST; the length
// of varchar(n) and char(n) is the call's prec (-1: none).
var castFuncs = map[string][]fnSig{
	"::float4":  {{args: []typ{anyArg}, res: tFloat8, pgt: pgtype.Float4OID, impl: float4Cast}},
	"::varchar": {{args: []typ{anyArg}, res: tText, pgt: pgtype.VarcharOID, impl: charCast(false)}},
	"::bpchar":  {{args: []typ{anyArg}, res: tText, pgt: pgtype.BPCharOID, impl: charCast(true)}},
	"::text":    {{args: []typ{anyArg}, res: tText, impl: charCast(false)}},
	"::int2":    {{args: []typ{anyArg}, res: tInt4, pgt: pgtype.Int2OID, impl: int2Cast}},
}

// bpcharAsText is a char(n) value passed where text is wanted: without
// its trailing spaces, as PostgreSQL's cast from bpchar to text; any
// other expression as it is.
func bpcharAsText(e *expr) *expr {
	if e.pgt != pgtype.BPCharOID {
		return e
	}
	return &expr{kind: eFunc, op: builtinPrefix + "::text", typ: tText, args: []*expr{e}, prec: -1, scale: -1, loc: e.loc}
}

// bpcharOperands are the operands of a comparison or || with a char(n)
// one: compared and concatenated without trailing spaces, as
// PostgreSQL's bpchar operators and its cast to text do (a literal
// compared with char(n) is a char too, so its trailing spaces go).
func bpcharOperands(op string, l, r *expr) (*expr, *expr) {
	if l.pgt != pgtype.BPCharOID && r.pgt != pgtype.BPCharOID {
		return l, r
	}
	switch op {
	case "=", "<>", "<", ">", "<=", ">=", "||":
	default:
		return l, r
	}
	side := func(e, other *expr) *expr {
		switch {
		case e.typ == tText:
			return bpcharAsText(e)
		case e.kind == eConst && e.typ == tUnknown && !e.val.null && other.pgt == pgtype.BPCharOID && op != "||":
			t := *e
			t.lit = strings.TrimRight(e.lit, " ")
			t.val.s = t.lit
			return &t
		}
		return e
	}
	return side(l, r), side(r, l)
}

// exprTypeOID is the PostgreSQL type of an expression's values.
func exprTypeOID(e *expr) uint32 {
	switch {
	case e.pgt != 0:
		return e.pgt
	case e.name:
		return pgtype.NameOID
	case e.typ == tUnknown:
		return pgtype.UnknownOID
	}
	return e.typ.oid()
}

// charTypeName is format_type for the character types format_type's
// table does not name.
func charTypeName(oid uint32, typmod int64) (string, bool) {
	switch oid {
	case pgtype.BPCharOID:
		if typmod >= 4 {
			return "character(" + strconv.FormatInt(typmod-4, 10) + ")", true
		}
		return "character", true
	case pgtype.UnknownOID:
		return "unknown", true
	}
	return "", false
}

// typedCast analyzes a cast to real, varchar, char(n) or bpchar, and a
// cast of a real or char(n) to text; ok is false for any other.
func (a *analyzer) typedCast(arg *expr, tn *pg.TypeName, loc int32) (*expr, *Error, bool) {
	if tn == nil || len(tn.ArrayBounds) > 0 || len(tn.Names) == 0 || len(tn.Names) > 2 {
		return nil, nil, false
	}
	if len(tn.Names) == 2 && tn.Names[0].GetString_().GetSval() != "pg_catalog" {
		return nil, nil, false
	}
	name := tn.Names[len(tn.Names)-1].GetString_().GetSval()
	op := "::" + name
	switch name {
	case "float4", "varchar", "bpchar", "int2":
	case "text":
		if arg.pgt != pgtype.Float4OID && arg.pgt != pgtype.BPCharOID {
			return nil, nil, false
		}
	default:
		return nil, nil, false
	}
	length := -1
	for _, m := range tn.Typmods {
		c := m.GetAConst()
		if c == nil || c.GetIval() == nil || len(tn.Typmods) > 1 || name == "float4" || name == "int2" {
			return nil, a.errAt(errorf(codeSyntax, "invalid type modifier"), tn.Location), true
		}
		if length = int(c.GetIval().Ival); length < 1 {
			t := "varchar"
			if name == "bpchar" {
				t = "char"
			}
			return nil, a.errAt(errorf(codeInvalidParamValue, "length for type %s must be at least 1", t), tn.Location), true
		}
	}
	if (name == "float4" || name == "int2") && arg.typ != tUnknown && arg.typ != tText && !arg.typ.numeric() {
		return nil, a.errAt(errorf(codeCannotCoerce, "cannot cast type %s to %s", argTypeNames([]*expr{arg}), formatType(castFuncs[op][0].pgt, -1)), loc), true
	}
	loc = leftmost(arg.loc, loc)
	src := arg
	if arg.typ == tUnknown {
		src = a.unknownToText(arg)
	}
	sigs := castFuncs[op]
	out := &expr{kind: eFunc, op: builtinPrefix + op, typ: sigs[0].res, pgt: sigs[0].pgt, args: []*expr{src}, prec: length, scale: -1, loc: loc}
	if arg.kind == eConst && (arg.typ == tUnknown || arg.val.null) {
		// PostgreSQL converts a literal while parsing: a bad one is an
		// error at Prepare, at the literal.
		v, err := evalConst(out)
		if err != nil {
			return nil, a.errAt(err, arg.loc), true
		}
		return &expr{kind: eConst, typ: out.typ, pgt: out.pgt, val: v, loc: loc, mod: typmodOf(out) + 1}, nil, true
	}
	return out, nil, true
}

// evalConst computes an expression of constants.
func evalConst(e *expr) (v value, err *Error) {
	defer func() {
		if r := recover(); r != nil {
			ee, ok := r.(evalError)
			if !ok {
				panic(r)
			}
			err = ee.err
		}
	}()
	f, cerr := (&compiler{}).compile(e)
	if cerr != nil {
		return null, cerr
	}
	return f(&evalCtx{in: &Input{}}), nil
}

// castText is the text a value becomes in a cast to a character type.
func castText(x *evalCtx, e *expr, v value) string {
	switch {
	case e.pgt == pgtype.BPCharOID:
		return strings.TrimRight(v.s, " ")
	case e.typ == tBool || e.typ == tText:
		return textOf(e.typ, v, x.loc)
	}
	return argText(x, e, v)
}

// charCast is the cast to varchar(n) or char(n): the text cut to n
// characters (an explicit cast does not fail), char(n) padded with
// spaces to n.
func charCast(pad bool) func(e *expr) func(*evalCtx, []value) value {
	return func(e *expr) func(*evalCtx, []value) value {
		arg, n := e.args[0], e.prec
		return func(x *evalCtx, v []value) value {
			s := castText(x, arg, v[0])
			if n < 0 {
				return value{s: s}
			}
			if have := utf8.RuneCountInString(s); have > n {
				s = leftRight(s, int64(n), true)
			} else if pad && have < n {
				s += strings.Repeat(" ", n-have)
			}
			return value{s: s}
		}
	}
}

// float4Cast rounds a number to float32, or reads a text as real.
func float4Cast(e *expr) func(*evalCtx, []value) value {
	from := e.args[0].typ
	return func(x *evalCtx, v []value) value {
		switch from {
		case tText:
			return float4In(v[0].s)
		case tNumeric:
			return float4In(v[0].s)
		case tInt4, tInt8:
			return value{f: float64(float32(v[0].n))}
		}
		f := v[0].f
		r := float32(f)
		switch {
		case math.IsInf(float64(r), 0) && !math.IsInf(f, 0):
			fail(codeOutOfRange, "value out of range: overflow")
		case r == 0 && f != 0:
			fail(codeOutOfRange, "value out of range: underflow")
		}
		return value{f: float64(r)}
	}
}

// float4In is float4in: a real's text input.
func float4In(s string) value {
	v, err := parseFloat8(s)
	if err != nil {
		if err.Code == codeOutOfRange {
			fail(codeOutOfRange, strconv.Quote(s)+" is out of range for type real")
		}
		fail(codeInvalidText, "invalid input syntax for type real: "+strconv.Quote(s))
	}
	r := float32(v.f)
	if math.IsInf(float64(r), 0) && !math.IsInf(v.f, 0) || r == 0 && v.f != 0 {
		fail(codeOutOfRange, strconv.Quote(s)+" is out of range for type real")
	}
	return value{f: float64(r)}
}

// float4Text is float4out: the shortest decimal that reads back as the
// same real.
func float4Text(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return string(appendShortest(nil, f, 32, 6))
}

// int2Cast is the cast to smallint: text read as int2in reads it,
// numbers rounded (floats to even, numerics half away from zero) and
// checked against its range.
func int2Cast(e *expr) func(*evalCtx, []value) value {
	from := e.args[0].typ
	return func(_ *evalCtx, v []value) value {
		var n int64
		switch from {
		case tText:
			r, err := parseInt(tInt8, v[0].s)
			switch {
			case err != nil && err.Code != codeOutOfRange:
				fail(codeInvalidText, "invalid input syntax for type smallint: "+strconv.Quote(v[0].s))
			case err != nil || r.n < math.MinInt16 || r.n > math.MaxInt16:
				fail(codeOutOfRange, "value "+strconv.Quote(v[0].s)+" is out of range for type smallint")
			}
			return r
		case tFloat8:
			f := math.RoundToEven(v[0].f)
			if math.IsNaN(f) || f < math.MinInt16 || f > math.MaxInt16 {
				fail(codeOutOfRange, "smallint out of range")
			}
			n = int64(f)
		case tNumeric:
			switch v[0].s {
			case numNaN:
				fail(codeFeature, "cannot convert NaN to smallint")
			case numPosInf, numNegInf:
				fail(codeFeature, "cannot convert infinity to smallint")
			}
			u, scale := decParse(v[0].s)
			u, _ = decRound(u, scale, 0, false)
			if !u.IsInt64() {
				fail(codeOutOfRange, "smallint out of range")
			}
			n = u.Int64()
		default:
			n = v[0].n
		}
		if n < math.MinInt16 || n > math.MaxInt16 {
			fail(codeOutOfRange, "smallint out of range")
		}
		return value{n: n}
	}
}
